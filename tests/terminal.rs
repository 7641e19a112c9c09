//! On a terminal: several functions waited for at once each keep a spinner line of
//! their own (one MultiProgress), instead of drawing over one line. The binary runs in
//! a tmux pane (a real terminal), and the screen is read while it waits.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::Architecture;
use support::*;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux (see .ci/run)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether tmux can be run. Without it the test is skipped with a line saying so, on
/// a newcomer's laptop; CI sets ECR_LAMBDA_REQUIRE_TMUX=1 (`.ci/run`), and there a
/// missing tmux fails the test rather than skipping it.
fn tmux_available() -> bool {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("ECR_LAMBDA_REQUIRE_TMUX").as_deref() != Ok("1"),
            "tmux is not installed, and ECR_LAMBDA_REQUIRE_TMUX=1 requires it (see .ci/run)"
        );
        // Written past the test harness's capture (which only takes print!/eprint!),
        // so the skip shows in a plain `cargo test`.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped tests/terminal.rs: tmux is not installed (the test reads a real \
             terminal's screen through it); install tmux to run it"
        );
    }
    found
}

#[tokio::test]
async fn two_functions_waited_for_at_once_each_have_their_own_line() {
    if !tmux_available() {
        return;
    }
    let (repo, first, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let second = unique("fn");
    create_function(&second, &uri(&repo, ":base"), Architecture::X8664).await;
    for f in [&first, &second] {
        lambda_behaviour(f, serde_json::json!({"update_seconds": 6}));
    }
    let session = unique("ecr-lambda-tty");
    let command = format!(
        "env -i PATH=\"$PATH\" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
         AWS_REGION={REGION} AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
         AWS_EC2_METADATA_DISABLED=true TERM=xterm {} --endpoint-url {} deploy {} \
         --function {first} --function {second}; sleep 30",
        env!("CARGO_BIN_EXE_ecr-lambda"),
        moto().endpoint(),
        uri(&repo, ":v1"),
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "220",
        "-y",
        "30",
        &command,
    ]);
    // A line of its own that is still being redrawn: the status of a read made
    // after the first second, not the first frame left behind.
    let waiting = |screen: &str, f: &str| {
        screen
            .lines()
            .any(|l| l.contains(&format!("waiting for the update of {f}: InProgress")))
    };
    // The elapsed time at the end of a function's line, `(3s)`, as drawn now.
    let elapsed = |screen: &str, f: &str| -> Option<String> {
        let line = screen
            .lines()
            .find(|l| l.contains(&format!("waiting for the update of {f}:")))?;
        let (_, last) = line.trim_end().rsplit_once('(')?;
        Some(last.trim_end_matches(')').to_owned())
    };
    let start = Instant::now();
    let mut both = None;
    let mut screens = Vec::new();
    // Every elapsed time each function's line showed: a line redrawn shows several.
    let mut times: [Vec<String>; 2] = Default::default();
    while start.elapsed() < Duration::from_secs(20) {
        let screen = tmux(&["capture-pane", "-p", "-t", &session]);
        for (seen, f) in times.iter_mut().zip([&first, &second]) {
            if let Some(t) = elapsed(&screen, f)
                && !seen.contains(&t)
            {
                seen.push(t);
            }
        }
        if both.is_none() && waiting(&screen, &first) && waiting(&screen, &second) {
            both = Some(screen.clone());
        }
        screens.push(screen);
        if both.is_some() && times.iter().all(|t| t.len() >= 2) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux(&["kill-session", "-t", &session]);
    let last = screens.last().map(String::as_str).unwrap_or("");
    let screen = both.unwrap_or_else(|| {
        panic!("the two waits never showed on two lines at once; last screen:\n{last}")
    });
    // One line each, not one line drawn over by both.
    let lines: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains("waiting for the update of"))
        .collect();
    assert_eq!(lines.len(), 2, "{screen}");
    for f in [&first, &second] {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(&format!("of {f}:")))
                .count(),
            1,
            "{f} has not exactly one line:\n{screen}"
        );
    }
    // Each line is redrawn while its wait lasts: its elapsed time moves on.
    for (seen, f) in times.iter().zip([&first, &second]) {
        assert!(
            seen.len() >= 2,
            "the line of {f} was not redrawn (elapsed times seen: {seen:?}); last screen:\n{last}"
        );
    }
}
