//! `ecr-lambda manpage`: one roff page covering every subcommand and every option, as
//! the clap definitions declare them (so the test keeps up when options are added).

use std::process::{Command, Stdio};

use clap::CommandFactory;
use ecr_lambda::cli::Cli;

fn manpage() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ecr-lambda"))
        .arg("manpage")
        .env_remove("RUST_LOG")
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// The page as a reader sees the words: roff's escaped hyphens unescaped.
fn plain(page: &str) -> String {
    page.replace("\\-", "-")
}

#[test]
fn manpage_is_one_roff_page_with_a_title_header() {
    let page = manpage();
    // Before the header only roff's preamble (string definitions), no text.
    let first = page
        .lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .expect("not empty");
    assert!(
        first.starts_with(".TH ecr-lambda 1 "),
        "first line: {first}"
    );
    assert_eq!(
        page.lines().filter(|l| l.starts_with(".TH ")).count(),
        1,
        "one page, one .TH"
    );
    assert!(page.contains("\n.SH NAME\n"));
    assert!(page.contains("\n.SH SYNOPSIS\n"));
    assert!(page.contains("\n.SH SUBCOMMANDS\n"));
}

#[test]
fn manpage_covers_every_subcommand_and_every_long_option() {
    let page = plain(&manpage());
    let cli = Cli::command();
    let mut checked = 0;
    for arg in cli.get_arguments() {
        if let Some(long) = arg.get_long() {
            assert!(
                page.contains(&format!("--{long}")),
                "top-level --{long} missing"
            );
            checked += 1;
        }
    }
    // Every subcommand, nested ones too (`release status`), with its full name.
    fn walk(cmd: &clap::Command, path: &str, all: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let name = format!("{path} {}", sub.get_name()).trim().to_owned();
            all.push((name.clone(), sub.clone()));
            walk(sub, &name, all);
        }
    }
    let mut subcommands = Vec::new();
    walk(&cli, "", &mut subcommands);
    assert!(
        subcommands.len() >= 9,
        "check fix deploy rollback release (status promote abort) scan completions manpage"
    );
    for name in ["release status", "release promote", "release abort"] {
        assert!(
            subcommands.iter().any(|(n, _)| n == name),
            "{name} is walked"
        );
    }
    for (name, sub) in &subcommands {
        let header = format!("\n.SH \"ECR-LAMBDA {}\"\n", name.to_uppercase());
        let start = page
            .find(&header)
            .unwrap_or_else(|| panic!("no section for subcommand {name}"));
        // The subcommand's own options are in its own section.
        let section = &page[start + header.len()..];
        let section = &section[..section.find("\n.SH ").unwrap_or(section.len())];
        assert!(
            section.contains(&format!("ecr-lambda {name}")),
            "{name}: no synopsis"
        );
        for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long() {
                let text = format!("--{long}");
                assert!(
                    section.contains(&text),
                    "ecr-lambda {name}: {text} missing from its section"
                );
                checked += 1;
            }
            if arg.get_long().is_none() && arg.get_short().is_none() {
                let value = arg.get_id().as_str().to_uppercase();
                assert!(
                    section.contains(&value),
                    "ecr-lambda {name}: argument {value} missing"
                );
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} options checked: is the definition read?"
    );
}

/// groff, where installed, reads the page without a warning.
#[test]
fn manpage_renders_without_groff_warnings() {
    let page = manpage();
    let Ok(mut child) = Command::new("groff")
        .args(["-man", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        // Past the harness's capture (it takes only print!/eprint!): the skip shows.
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "skipped manpage_renders_without_groff_warnings: groff is not installed"
        );
        return;
    };
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(page.as_bytes())
        .expect("writes");
    let out = child.wait_with_output().expect("groff runs");
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "groff: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--help` shows the options every command shares under a heading of their own,
/// after the command's own: `--profile` is not found between `--function` and
/// `--concurrency`.
#[test]
fn help_groups_the_global_options_under_their_own_heading() {
    let cli = Cli::command();
    let globals: Vec<String> = cli
        .get_arguments()
        .filter(|a| a.is_global_set())
        .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
        .collect();
    assert!(globals.len() >= 8, "globals: {globals:?}");
    for args in [
        &["deploy", "--help"][..],
        &["--help"],
        &["release", "status", "--help"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ecr-lambda"))
            .args(args)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let help = String::from_utf8(out.stdout).expect("utf-8");
        let (own, shared) = help
            .split_once("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("no 'Global options:' heading in {args:?}:\n{help}"));
        // The shared section ends at the next heading (an unindented line), if any.
        let shared: String = shared
            .lines()
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .collect::<Vec<_>>()
            .join("\n");
        for global in &globals {
            let listed = |text: &str| {
                text.lines().any(|l| {
                    l.trim_start()
                        .split([' ', ',', '='])
                        .any(|w| w.trim_end_matches('.') == global)
                })
            };
            assert!(
                listed(&shared),
                "{global} not under the heading in {args:?}:\n{help}"
            );
            assert!(
                !listed(own),
                "{global} among the command's own options in {args:?}:\n{help}"
            );
        }
    }
}
