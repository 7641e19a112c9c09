//! Gradual releases end to end: the built binary against the emulator, where updates
//! take time, aliases keep RevisionIds and RoutingConfig, alarms are CloudWatch's
//! (through the SDK's CBOR protocol) and Invoke answers as a test sets it. Each test
//! reads the alias itself (GetAlias, the alias's write history) rather than trusting
//! the report.

mod support;

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::*;

/// A function released once: alias `live` at version 1 (the base image), and the
/// buildx image `:v1` ready to release as version 2.
struct World {
    repo: String,
    function: String,
    /// The digest `:v1` deploys (its amd64 manifest).
    target: String,
    /// The digest version 1 runs.
    base: String,
}

impl World {
    async fn new() -> World {
        let (repo, function, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
        let out = deploy(&uri(&repo, ":base"), &function, &["--alias", "live"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(
            alias_state(&function, "live").await,
            ("1".to_owned(), vec![])
        );
        World {
            repo,
            function,
            target: case.child("image-amd64.json").digest.clone(),
            base: load_case("docker-v2").root.digest,
        }
    }

    fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "deploy",
            &uri(&self.repo, ":v1"),
            "--function",
            &self.function,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(["--alias", "live"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(["--output", "json"].map(String::from));
        args
    }

    fn release(&self, extra: &[&str]) -> Output {
        let args = self.args(extra);
        run(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn spawn(&self, extra: &[&str]) -> Child {
        let args = self.args(extra);
        spawn(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn history(&self) -> Vec<(String, Value)> {
        alias_history(&self.function, "live")
            .into_iter()
            .map(|h| {
                (
                    h["function_version"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    h["weights"].clone(),
                )
            })
            .collect()
    }
}

/// Reads the alias (GetAlias) until it carries a weight, as any other client would.
async fn until_weighted(function: &str, limit: Duration) -> Option<(String, Vec<(String, f64)>)> {
    let start = Instant::now();
    while start.elapsed() < limit {
        let state = alias_state(function, "live").await;
        if !state.1.is_empty() {
            return Some(state);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// The binary against the emulator, as a child to interrupt or to finish.
fn spawn(args: &[&str]) -> Child {
    command_at(&moto().endpoint(), args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    let mut child = child;
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    panic!("ecr-lambda did not end within {limit:?}");
}

fn interrupt(child: &Child) {
    let status = std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

fn weights(pairs: &[(&str, f64)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(v, w)| ((*v).to_owned(), Value::from(*w)))
            .collect(),
    )
}

fn release_command(action: &str, function: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "release",
        action,
        "--function",
        function,
        "--alias",
        "live",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

#[tokio::test]
async fn a_canary_holds_10_percent_for_the_bake_then_promotes() {
    let world = World::new().await;
    let alarm_name = unique("errors");
    alarm(&alarm_name, "OK", "fine").await;
    // Updates take 2 s here, the bake 4 s.
    lambda_behaviour(&world.function, serde_json::json!({"update_seconds": 2}));
    let child = world.spawn(&["--canary", "10", "--bake", "4s", "--alarm", &alarm_name]);

    // An independent reader sees 10 % on version 2, version 1 keeping the rest.
    let seen = until_weighted(&world.function, Duration::from_secs(20)).await;
    let out = finish(child, Duration::from_secs(30));
    assert_eq!(seen, Some(("1".to_owned(), vec![("2".to_owned(), 0.1)])));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let release = &report["release"];
    assert_eq!(release["outcome"], "promoted");
    assert_eq!(release["strategy"], "canary 10% for 4s");
    assert_eq!(release["steps"][0]["weight"], 0.1);
    assert!(release["steps"][0]["ended_at"].is_string());
    assert_eq!(report["alias"]["status"], "moved");
    assert_eq!(report["alias"]["version"], "2");
    assert_eq!(report["alias"]["previous_version"], "1");
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("2".to_owned(), vec![])
    );
    // The writes, in order: created at 1, the canary, the promotion.
    assert_eq!(
        world.history(),
        vec![
            ("1".to_owned(), weights(&[])),
            ("1".to_owned(), weights(&[("2", 0.1)])),
            ("2".to_owned(), weights(&[])),
        ]
    );
    // The weight was held for the whole bake: its write and the promotion's, as the
    // alias's own history timed them, are at least 4 s apart (and not a bake late).
    let history = alias_history(&world.function, "live");
    let held = history[2]["at"].as_f64().unwrap() - history[1]["at"].as_f64().unwrap();
    assert!((4.0..14.0).contains(&held), "held {held} s");
    // Read before anything was written, before the weight, then at least once in
    // the bake (4 s: one slice); the design reads at most every 5 s and at least
    // every half second, so a 4 s bake has exactly one read.
    assert_eq!(release["alarm_reads"], 3);
    assert_eq!(alarm_reads(&alarm_name), 3);
    let (_, v2) = version_image(&world.function, Some("2")).await;
    assert!(v2.unwrap().ends_with(&world.target));
    // The promotion recorded what now runs in the alias's description.
    let described = lambda()
        .await
        .get_alias()
        .function_name(&world.function)
        .name("live")
        .send()
        .await
        .unwrap();
    let description = described.description().unwrap_or_default();
    assert!(
        description.starts_with(&world.target[..19]) && description.ends_with("(ecr-lambda)"),
        "{description}"
    );
}

#[tokio::test]
async fn linear_moves_the_traffic_in_steps() {
    let world = World::new().await;
    let out = world.release(&["--linear", "34", "--every", "1s"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let release = json(&out)["release"].clone();
    assert_eq!(release["outcome"], "promoted");
    assert_eq!(release["steps"].as_array().unwrap().len(), 2);
    assert_eq!(
        world.history()[1..],
        [
            ("1".to_owned(), weights(&[("2", 0.34)])),
            ("1".to_owned(), weights(&[("2", 0.68)])),
            ("2".to_owned(), weights(&[])),
        ]
    );
    // Each step held for its second, by the alias's own clock.
    let at: Vec<f64> = alias_history(&world.function, "live")
        .iter()
        .map(|h| h["at"].as_f64().unwrap())
        .collect();
    for pair in at[1..].windows(2) {
        let held = pair[1] - pair[0];
        assert!((1.0..11.0).contains(&held), "held {held} s: {at:?}");
    }
}

#[tokio::test]
async fn an_alarm_mid_bake_clears_the_weights_and_exits_1() {
    let world = World::new().await;
    let alarm_name = unique("errors");
    alarm(&alarm_name, "OK", "fine").await;
    let child = world.spawn(&["--canary", "20", "--bake", "1m", "--alarm", &alarm_name]);
    let seen = until_weighted(&world.function, Duration::from_secs(20)).await;
    set_alarm(&alarm_name, "ALARM", "Threshold Crossed: 3 errors").await;
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(seen, Some(("1".to_owned(), vec![("2".to_owned(), 0.2)])));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let release = json(&out)["release"].clone();
    assert_eq!(release["outcome"], "rolled-back");
    assert_eq!(release["fired"]["alarm"], Value::from(alarm_name.clone()));
    assert_eq!(release["fired"]["weight"], 0.2);
    assert_eq!(release["fired"]["reason"], "Threshold Crossed: 3 errors");
    assert!(release["promoted_at"].is_null());
    // The update succeeded; the release was rolled back, by that alarm.
    let report = json(&out);
    assert_eq!(report["update"]["status"], "successful");
    assert_eq!(report["alias"]["status"], "rolled-back");
    assert_eq!(
        report["alias"]["rolled_back_by"],
        Value::from(alarm_name.clone())
    );
    assert_eq!(report["alias"]["version"], "1");
    // Back on version 1 alone; version 2 never took all the traffic.
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("1".to_owned(), vec![])
    );
    assert!(world.history().iter().all(|(v, _)| v == "1"));
}

#[tokio::test]
async fn an_alarm_already_in_alarm_refuses_before_anything_is_written() {
    let world = World::new().await;
    let alarm_name = unique("errors");
    alarm(&alarm_name, "ALARM", "Threshold Crossed").await;
    let updates_before = lambda_reads(&world.function)["update_function_code"].clone();
    let out = world.release(&["--canary", "10", "--bake", "5s", "--alarm", &alarm_name]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["release"]["outcome"], "refused");
    assert!(
        report["release"]["reason"]
            .as_str()
            .unwrap()
            .contains("already in ALARM")
    );
    // No tag, no update, no alias write.
    assert_eq!(report["written_tag"], Value::Null);
    assert_eq!(
        lambda_reads(&world.function)["update_function_code"],
        updates_before
    );
    assert_eq!(world.history().len(), 1);
    assert_eq!(
        tag_digest(&world.repo, "v1").await.as_deref(),
        Some(load_case("buildx-single").root.digest.as_str())
    );
}

#[tokio::test]
async fn no_alias_yet_is_refused_with_the_way_forward() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let out = deploy(
        &uri(&repo, ":v1"),
        &function,
        &["--alias", "live", "--canary", "10", "--bake", "5s"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let reason = json(&out)["release"]["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("has no alias live"), "{reason}");
    assert!(reason.contains("plain `ecr-lambda deploy"), "{reason}");
    assert_eq!(lambda_reads(&function)["update_function_code"], 0);
}

#[tokio::test]
async fn a_failing_probe_moves_no_traffic() {
    let world = World::new().await;
    invoke_answer(
        &world.function,
        "2",
        serde_json::json!({
            "function_error": "Unhandled",
            "payload": {"errorType": "KeyError", "errorMessage": "'orders'"},
            "log": "START RequestId: 7\n[ERROR] KeyError: 'orders'\nEND RequestId: 7\n",
        }),
    );
    let dir = scratch_path("probe");
    std::fs::write(&dir, br#"{"path": "/health"}"#).unwrap();
    let out = world.release(&[
        "--canary",
        "10",
        "--bake",
        "5s",
        "--probe",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let release = json(&out)["release"].clone();
    assert_eq!(release["outcome"], "refused");
    assert_eq!(release["probe"]["passed"], false);
    assert_eq!(release["probe"]["function_error"], "Unhandled");
    assert_eq!(release["probe"]["error_type"], "KeyError");
    assert_eq!(
        release["probe"]["log_tail"][1],
        "[ERROR] KeyError: 'orders'"
    );
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("1".to_owned(), vec![])
    );
    assert_eq!(world.history().len(), 1);
    // The new version itself was invoked, with the payload and the log tail asked.
    let calls = invocations(&world.function);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["qualifier"], "2");
    assert_eq!(calls[0]["log_type"], "Tail");
    assert_eq!(calls[0]["payload"], serde_json::json!({"path": "/health"}));
}

#[tokio::test]
async fn ctrl_c_mid_bake_leaves_the_alias_then_release_promote_and_abort_finish_it() {
    let world = World::new().await;
    let child = world.spawn(&["--canary", "10", "--bake", "1m"]);
    let seen = until_weighted(&world.function, Duration::from_secs(20)).await;
    assert_eq!(seen, Some(("1".to_owned(), vec![("2".to_owned(), 0.1)])));
    interrupt(&child);
    let out = finish(child, Duration::from_secs(10));
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["release"]["outcome"], "interrupted");
    assert!(
        report["release"]["reason"]
            .as_str()
            .unwrap()
            .contains("release promote")
    );
    assert_eq!(report["alias"]["status"], "shifting");
    // Left exactly as it was.
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("1".to_owned(), vec![("2".to_owned(), 0.1)])
    );

    // Another invocation reads the release from the alias...
    let out = release_command("status", &world.function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let status = json(&out)["aliases"][0].clone();
    assert_eq!(status["version"], "1");
    assert_eq!(status["weighted_version"], "2");
    assert_eq!(status["weight"], 0.1);
    assert_eq!(status["image_digest"], Value::from(world.base.clone()));
    assert_eq!(
        status["weighted_image_digest"],
        Value::from(world.target.clone())
    );
    // ...and finishes it.
    let out = release_command("promote", &world.function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["aliases"][0]["action"], "promoted");
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("2".to_owned(), vec![])
    );
    // The description names the image the alias now runs, not the one it left.
    let description = alias_description(&world.function).await;
    assert!(
        description.starts_with(&world.target[..19]) && description.ends_with("(ecr-lambda)"),
        "{description}"
    );
    assert_eq!(
        json(&out)["aliases"][0]["description"],
        description.as_str()
    );
    // Nothing left to promote or abort.
    let out = release_command("abort", &world.function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["aliases"][0]["action"], "unchanged");

    // A release of the base image again (published as version 3), interrupted, then
    // aborted: version 2 back with all the traffic.
    let args = [
        "deploy",
        &uri(&world.repo, ":base"),
        "--function",
        &world.function,
        "--alias",
        "live",
        "--canary",
        "50",
        "--bake",
        "1m",
        "--output",
        "json",
    ];
    let child = spawn(&args);
    let seen = until_weighted(&world.function, Duration::from_secs(20)).await;
    interrupt(&child);
    let out = finish(child, Duration::from_secs(10));
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    let (version, shares) = seen.unwrap();
    assert_eq!(version, "2");
    assert_eq!(shares[0].1, 0.5);
    let out = release_command("abort", &world.function, &["--dry-run"]);
    assert_eq!(json(&out)["aliases"][0]["action"], "planned");
    assert_eq!(alias_state(&world.function, "live").await.1.len(), 1);
    let out = release_command("abort", &world.function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["aliases"][0]["action"], "aborted");
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("2".to_owned(), vec![])
    );
}

/// Someone else moves the alias mid-bake: injected at the proxy just before the
/// promotion reaches the emulator, so the race is the same on any machine.
#[tokio::test]
async fn a_concurrent_alias_move_stops_the_release_with_exit_3_and_keeps_their_move() {
    let world = World::new().await;
    let proxy = proxy();
    // Their move (with no RevisionId: their tool may not send one), made after the
    // 10 % weight was written and before the promotion arrives.
    let function = world.function.clone();
    proxy.on(
        "UpdateAlias",
        Some(2),
        support::proxy::Fault::Before(std::sync::Arc::new(move || {
            let function = function.clone();
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(weigh_alias(&function, "live", "1", "2", 0.25));
            })
            .join()
            .unwrap();
        })),
    );
    let args = world.args(&["--canary", "10", "--bake", "1s"]);
    let out = run_at(
        &proxy.endpoint(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    // Our 10 % was written before their move: the injection came where it was meant.
    assert_eq!(
        world.history()[1..3],
        [
            ("1".to_owned(), weights(&[("2", 0.1)])),
            ("1".to_owned(), weights(&[("2", 0.25)])),
        ]
    );
    // The report says what stopped it, and where the alias was left.
    let release = json(&out)["release"].clone();
    assert_eq!(release["outcome"], "stopped", "{release}");
    assert_eq!(release["error"]["kind"], "conflict");
    assert!(
        release["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("nothing was overwritten")
    );
    assert!(
        release["reason"]
            .as_str()
            .unwrap()
            .contains("NOT moved back"),
        "{release}"
    );
    // Their 25 % stands; the promotion was refused, and so was the move back.
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("1".to_owned(), vec![("2".to_owned(), 0.25)])
    );
}

#[tokio::test]
async fn two_functions_move_step_by_step_together() {
    let world = World::new().await;
    let second = unique("fn");
    create_function(&second, &uri(&world.repo, ":base"), Architecture::X8664).await;
    let out = deploy(&uri(&world.repo, ":base"), &second, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let alarm_name = unique("errors");
    alarm(&alarm_name, "OK", "fine").await;
    // Every request takes 200 ms at the proxy, so two writes sent together overlap
    // there, and two sent one after the other cannot.
    let proxy = support::proxy::Proxy::start(moto().port, Duration::from_millis(200));
    let out = deploy_all_at(
        &proxy.endpoint(),
        &uri(&world.repo, ":v1"),
        &[&world.function, &second],
        &[
            "--alias",
            "live",
            "--linear",
            "50",
            "--every",
            "2s",
            "--alarm",
            &alarm_name,
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["release"]["outcome"], "promoted");
    for function in [&world.function, &second] {
        let history: Vec<(String, Value)> = alias_history(function, "live")
            .into_iter()
            .map(|h| {
                (
                    h["function_version"].as_str().unwrap().to_owned(),
                    h["weights"].clone(),
                )
            })
            .collect();
        assert_eq!(
            history[1..],
            [
                ("1".to_owned(), weights(&[("2", 0.5)])),
                ("2".to_owned(), weights(&[]))
            ]
        );
    }
    // Each step's two writes went out together: they overlap in time at the proxy
    // (each began before the other ended).
    let writes: Vec<_> = proxy
        .calls()
        .into_iter()
        .filter(|c| c.operation == "UpdateAlias")
        .collect();
    assert_eq!(writes.len(), 4, "{writes:?}");
    let mut writes = writes;
    writes.sort_by_key(|c| c.start);
    for step in writes.chunks(2) {
        let (a, b) = (&step[0], &step[1]);
        assert!(
            a.start < b.end && b.start < a.end,
            "one step's writes went out one after the other: {step:?}"
        );
    }
    // And the steps one after the other: the second function's weight was written
    // before the first's promotion.
    let at = |f: &str, i: usize| alias_history(f, "live")[i]["at"].as_f64().unwrap();
    assert!(at(&second, 1) < at(&world.function, 2));
    assert!(at(&world.function, 1) < at(&second, 2));

    // An alarm on the next release rolls both back.
    let child = spawn(&[
        "deploy",
        &uri(&world.repo, ":base"),
        "--function",
        &world.function,
        "--function",
        &second,
        "--alias",
        "live",
        "--canary",
        "10",
        "--bake",
        "1m",
        "--alarm",
        &alarm_name,
        "--output",
        "json",
    ]);
    assert!(
        until_weighted(&second, Duration::from_secs(20))
            .await
            .is_some()
    );
    set_alarm(&alarm_name, "ALARM", "Threshold Crossed").await;
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    for function in [&world.function, &second] {
        assert_eq!(
            alias_state(function, "live").await,
            ("2".to_owned(), vec![])
        );
    }
}

#[tokio::test]
async fn a_plain_deploy_alias_removes_the_weights_it_finds() {
    let world = World::new().await;
    let child = world.spawn(&["--canary", "10", "--bake", "1m"]);
    assert!(
        until_weighted(&world.function, Duration::from_secs(20))
            .await
            .is_some()
    );
    interrupt(&child);
    assert_eq!(code(&finish(child, Duration::from_secs(10))), 130);

    let out = world.release(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let alias = json(&out)["alias"].clone();
    assert_eq!(alias["status"], "moved");
    assert_eq!(alias["version"], "2");
    assert_eq!(alias["weights_removed"], weights(&[("2", 0.1)]));
    assert_eq!(alias["weights"], weights(&[]));
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("2".to_owned(), vec![])
    );
}

#[tokio::test]
async fn rollback_waits_for_an_update_left_running_by_deploy_no_wait() {
    // Whatever GetFunction shows mid-update (FIDELITY.md L1), "previous" is measured
    // once the update has ended.
    for image_while_updating in ["new", "old"] {
        rollback_after_no_wait(image_while_updating).await;
    }
}

async fn rollback_after_no_wait(image_while_updating: &str) {
    let world = World::new().await;
    // Version 1 is the base image; $LATEST moves to :v1 and is still updating.
    lambda_behaviour(
        &world.function,
        serde_json::json!({"update_seconds": 3, "image_while_updating": image_while_updating}),
    );
    let out = deploy(&uri(&world.repo, ":v1"), &world.function, &["--no-wait"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["update"]["status"], "in-progress");

    let out = run(&[
        "rollback",
        "--function",
        &world.function,
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["status"], "rolled-back");
    assert_eq!(report["to"]["version"], "1");
    assert_eq!(report["update"]["status"], "successful");
    assert_runs(&world.function, &world.base).await;
}

#[tokio::test]
async fn three_releases_rolled_back_twice_end_on_the_first() {
    let world = World::new().await;
    seed_manifest(
        &world.repo,
        Some("v3"),
        &load_case("oci-manifest"),
        "root.json",
    )
    .await;
    let third = load_case("oci-manifest").root.digest;
    for tag in [":v1", ":v3"] {
        let out = deploy(
            &uri(&world.repo, tag),
            &world.function,
            &["--alias", "live"],
        );
        assert_eq!(code(&out), 0, "{tag}: {}", stderr(&out));
    }
    assert_eq!(alias_state(&world.function, "live").await.0, "3");
    assert_runs(&world.function, &third).await;

    let rollback = |extra: &[&str]| {
        let mut args = vec![
            "rollback",
            "--function",
            world.function.as_str(),
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // The alias: 3 → 2 → 1, never forward again.
    for (from, to) in [("3", "2"), ("2", "1")] {
        let out = rollback(&["--alias", "live"]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let report = json(&out);
        assert_eq!(
            (
                report["from"]["version"].as_str(),
                report["to"]["version"].as_str()
            ),
            (Some(from), Some(to))
        );
        assert_eq!(report["status"], "rolled-back");
    }
    assert_eq!(alias_state(&world.function, "live").await.0, "1");

    // $LATEST the same way: from the third image, to the second, to the first.
    for expected in [&world.target, &world.base] {
        let out = rollback(&[]);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert_eq!(json(&out)["status"], "rolled-back");
        assert_runs(&world.function, expected).await;
    }
    // Nothing older: exit 1, nothing written.
    let out = rollback(&[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)["status"], "unchanged");
    assert_runs(&world.function, &world.base).await;
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let world = World::new().await;
    let alarm_name = unique("errors");
    alarm(&alarm_name, "OK", "fine").await;
    let out = world.release(&[
        "--linear",
        "25",
        "--every",
        "1m",
        "--alarm",
        &alarm_name,
        "--dry-run",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let release = json(&out)["release"].clone();
    assert_eq!(release["outcome"], "planned");
    let steps = release["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3);
    assert_eq!(
        steps
            .iter()
            .map(|s| (
                s["weight"].as_f64().unwrap(),
                s["offset_seconds"].as_u64().unwrap()
            ))
            .collect::<Vec<_>>(),
        [(0.25, 0), (0.5, 60), (0.75, 120)]
    );
    assert_eq!(release["alarms"][0]["state"], "OK");
    assert_eq!(world.history().len(), 1);
    assert_eq!(lambda_reads(&world.function)["update_function_code"], 0);
}

#[tokio::test]
async fn rollback_of_an_alias_mid_release_clears_its_weights_as_release_abort_does() {
    let world = World::new().await;
    let child = world.spawn(&["--canary", "10", "--bake", "1m"]);
    assert!(
        until_weighted(&world.function, Duration::from_secs(20))
            .await
            .is_some()
    );
    interrupt(&child);
    assert_eq!(code(&finish(child, Duration::from_secs(10))), 130);

    let out = run(&[
        "rollback",
        "--function",
        &world.function,
        "--alias",
        "live",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["status"], "rolled-back");
    assert_eq!(report["weights_removed"], weights(&[("2", 0.1)]));
    assert_eq!(report["to"]["version"], "1");
    // Version 1 keeps all the traffic; version 2 never had it.
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("1".to_owned(), vec![])
    );
}

/// The action releases gradually from its inputs, and says how in its outputs and
/// summary.
#[tokio::test]
async fn the_action_releases_gradually_and_reports_the_steps() {
    let world = World::new().await;
    let alarm_name = unique("errors");
    alarm(&alarm_name, "OK", "fine").await;
    let dir = scratch_path("action");
    std::fs::create_dir_all(&dir).unwrap();
    let (outputs, summary) = (dir.join("outputs"), dir.join("summary"));
    let mut cmd = std::process::Command::new("bash");
    cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/action.sh"));
    isolate(&mut cmd);
    let out = cmd
        .env("ECR_LAMBDA", env!("CARGO_BIN_EXE_ecr-lambda"))
        .env("AWS_ENDPOINT_URL", moto().endpoint())
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("INPUT_IMAGE", uri(&world.repo, ":v1"))
        .env("INPUT_FUNCTION", &world.function)
        .env("INPUT_ALIAS", "live")
        .env("INPUT_LINEAR", "50")
        .env("INPUT_EVERY", "1s")
        .env("INPUT_ALARMS", format!("{alarm_name}\n"))
        .output()
        .unwrap();
    assert_eq!(
        code(&out),
        0,
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let outputs = std::fs::read_to_string(&outputs).unwrap();
    assert!(
        outputs.contains("\nrelease-outcome=promoted\n"),
        "{outputs}"
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.contains("| Release | linear 50% every 1s: promoted |"),
        "{summary}"
    );
    assert!(
        summary.contains("| Step 1 | 50% of the traffic from "),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("| Alarm <code>{alarm_name}</code> | OK |")),
        "{summary}"
    );
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("2".to_owned(), vec![])
    );
}

/// Two functions: someone else aborts the second one's canary mid-bake. The
/// promotion of the second is refused (412); the first, which this run moved, is
/// moved back, so that no alias is left weighted or half-released with nothing
/// watching it; the report says so (exit 3).
#[tokio::test]
async fn a_write_refused_for_one_function_moves_the_others_back() {
    let world = World::new().await;
    let second = unique("fn");
    create_function(&second, &uri(&world.repo, ":base"), Architecture::X8664).await;
    let out = deploy(&uri(&world.repo, ":base"), &second, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let proxy = proxy();
    // `release abort` by another operator, on the second function only: after both
    // 10 % weights were written (UpdateAlias 1 and 2), before either promotion (3 and
    // 4, sent together) reaches the emulator: the first to arrive runs it, the other
    // waits for it to end.
    let (theirs, aborted) = (
        second.clone(),
        std::sync::Arc::new(std::sync::Mutex::new(None)),
    );
    let said = aborted.clone();
    let abort: std::sync::Arc<dyn Fn() + Send + Sync> = std::sync::Arc::new(move || {
        let mut said = said.lock().unwrap();
        if said.is_none() {
            *said = Some(release_command("abort", &theirs, &[]));
        }
    });
    for nth in [3, 4] {
        proxy.on(
            "UpdateAlias",
            Some(nth),
            support::proxy::Fault::Before(abort.clone()),
        );
    }
    let out = deploy_all_at(
        &proxy.endpoint(),
        &uri(&world.repo, ":v1"),
        &[&world.function, &second],
        &["--alias", "live", "--canary", "10", "--bake", "1s"],
    );
    let abort = aborted.lock().unwrap().take().expect("their abort ran");
    assert_eq!(code(&abort), 0, "their abort: {}", stderr(&abort));
    // Their abort came after our 10 %: the injection came where it was meant.
    assert_eq!(
        alias_history(&second, "live")[1..3]
            .iter()
            .map(|h| (h["function_version"].clone(), h["weights"].clone()))
            .collect::<Vec<_>>(),
        [
            (Value::from("1"), weights(&[("2", 0.1)])),
            (Value::from("1"), weights(&[]))
        ]
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let release = json(&out)["release"].clone();
    assert_eq!(release["outcome"], "rolled-back", "{release}");
    assert_eq!(release["error"]["kind"], "conflict", "{release}");
    assert!(
        release["reason"].as_str().unwrap().contains("moved back"),
        "{release}"
    );
    for function in [&world.function, &second] {
        assert_eq!(
            alias_state(function, "live").await,
            ("1".to_owned(), vec![]),
            "{function}"
        );
    }
}

/// The first weight's UpdateAlias goes through and its answer is lost: the SDK's
/// retry is refused (the RevisionId moved, by this very write), the alias is read,
/// and being exactly what was sent, the release goes on from there.
#[tokio::test]
async fn a_lost_update_alias_answer_is_recognised_as_this_releases_own_write() {
    let world = World::new().await;
    let proxy = proxy();
    proxy.on("UpdateAlias", Some(1), support::proxy::Fault::LoseAnswer);
    let args = world.args(&["--canary", "10", "--bake", "1s"]);
    let out = run_at(
        &proxy.endpoint(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["release"]["outcome"], "promoted");
    let counts = proxy.counts();
    // The lost write, its refused retry, the promotion; the alias read before any
    // write and after the refusal.
    assert_eq!(counts.get("UpdateAlias"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("GetAlias"), Some(&2), "{counts:?}");
    // Written once at 10 %, then promoted: the refused retry wrote nothing.
    assert_eq!(
        world.history()[1..],
        [
            ("1".to_owned(), weights(&[("2", 0.1)])),
            ("2".to_owned(), weights(&[])),
        ]
    );
}

/// The alias's description, as GetAlias answers it.
async fn alias_description(function: &str) -> String {
    lambda()
        .await
        .get_alias()
        .function_name(function)
        .name("live")
        .send()
        .await
        .unwrap()
        .description()
        .unwrap_or_default()
        .to_owned()
}

/// A composite alarm over `child` (its rule is not evaluated by the emulator: the
/// state is set), in `state`.
async fn composite_alarm(name: &str, child: &str, state: &str, reason: &str) {
    cloudwatch()
        .await
        .put_composite_alarm()
        .alarm_name(name)
        .alarm_rule(format!("ALARM(\"{child}\")"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put composite alarm {name}: {e:?}"));
    set_alarm(name, state, reason).await;
}

#[tokio::test]
async fn a_composite_alarm_in_alarm_rolls_the_release_back() {
    let world = World::new().await;
    let (child_alarm, name) = (unique("5xx"), unique("any-errors"));
    alarm(&child_alarm, "OK", "fine").await;
    composite_alarm(&name, &child_alarm, "OK", "fine").await;
    let child = world.spawn(&["--canary", "20", "--bake", "1m", "--alarm", &name]);
    let seen = until_weighted(&world.function, Duration::from_secs(20)).await;
    set_alarm(&name, "ALARM", "5xx transitioned to ALARM").await;
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(seen, Some(("1".to_owned(), vec![("2".to_owned(), 0.2)])));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["release"]["outcome"], "rolled-back");
    assert_eq!(
        report["release"]["fired"]["alarm"],
        Value::from(name.clone())
    );
    assert_eq!(report["alias"]["rolled_back_by"], Value::from(name.clone()));
    assert_eq!(
        alias_state(&world.function, "live").await,
        ("1".to_owned(), vec![])
    );
}

#[tokio::test]
async fn an_unknown_alarm_name_exits_3_and_writes_nothing() {
    let world = World::new().await;
    let updates_before = lambda_reads(&world.function)["update_function_code"].clone();
    let absent = unique("no-such-alarm");
    let out = world.release(&["--canary", "10", "--bake", "5s", "--alarm", &absent]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("no CloudWatch alarm named {absent}")));
    // No tag, no update, no alias write.
    assert_eq!(
        lambda_reads(&world.function)["update_function_code"],
        updates_before
    );
    assert_eq!(world.history().len(), 1);
    assert_eq!(
        tag_digest(&world.repo, "v1").await.as_deref(),
        Some(load_case("buildx-single").root.digest.as_str())
    );
}

#[tokio::test]
async fn an_alarm_insufficient_data_all_along_is_a_warning() {
    let world = World::new().await;
    let name = unique("quiet");
    alarm(&name, "INSUFFICIENT_DATA", "no data yet").await;
    let out = world.release(&["--canary", "10", "--bake", "1s", "--alarm", &name]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let release = json(&out)["release"].clone();
    assert_eq!(release["outcome"], "promoted");
    assert_eq!(
        world.history()[1..],
        [
            ("1".to_owned(), weights(&[("2", 0.1)])),
            ("2".to_owned(), weights(&[])),
        ]
    );
    let warnings = release["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{release}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains(&format!("alarm {name} was INSUFFICIENT_DATA at every read")),
        "{release}"
    );
    // The text says so too.
    lambda_behaviour(&world.function, serde_json::json!({"update_seconds": 0}));
    let out = run(&[
        "deploy",
        &uri(&world.repo, ":base"),
        "--function",
        &world.function,
        "--alias",
        "live",
        "--canary",
        "10",
        "--bake",
        "1s",
        "--alarm",
        &name,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!("warning:   alarm {name} was INSUFFICIENT_DATA")),
        "{text}"
    );
}

#[tokio::test]
async fn ctrl_c_during_the_probe_is_heard_at_once() {
    let world = World::new().await;
    let probe = scratch_path("probe");
    std::fs::write(&probe, b"{}").unwrap();
    // The Invoke answers only after 25 s (a function that runs long).
    let proxy = proxy();
    proxy.on(
        "Invoke",
        None,
        support::proxy::Fault::Delay(Duration::from_secs(25)),
    );
    let args = world.args(&[
        "--canary",
        "10",
        "--bake",
        "5s",
        "--probe",
        probe.to_str().unwrap(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = command_at(&proxy.endpoint(), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !proxy.log().iter().any(|op| op == "Invoke") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let signalled = Instant::now();
    interrupt(&child);
    let out = finish(child, Duration::from_secs(40));
    let took = signalled.elapsed();
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    assert!(took < Duration::from_secs(15), "heard after {took:?}");
    let report = json(&out);
    assert_eq!(report["release"]["outcome"], "interrupted");
    assert!(
        report["release"]["reason"]
            .as_str()
            .unwrap()
            .contains("before any traffic moved")
    );
    // No traffic moved.
    assert_eq!(world.history().len(), 1);
}

#[tokio::test]
async fn an_interrupted_release_promote_or_abort_exits_130_and_writes_nothing() {
    let world = World::new().await;
    let child = world.spawn(&["--canary", "10", "--bake", "1m"]);
    let seen = until_weighted(&world.function, Duration::from_secs(20)).await;
    assert!(seen.is_some());
    interrupt(&child);
    assert_eq!(code(&finish(child, Duration::from_secs(10))), 130);
    for action in ["promote", "abort"] {
        // The alias read answers late: Ctrl-C comes before anything is written.
        let proxy = proxy();
        proxy.on(
            "GetAlias",
            None,
            support::proxy::Fault::Delay(Duration::from_secs(3)),
        );
        let child = command_at(
            &proxy.endpoint(),
            &[
                "release",
                action,
                "--function",
                &world.function,
                "--alias",
                "live",
                "--output",
                "json",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let start = Instant::now();
        while !proxy.log().iter().any(|op| op == "GetAlias") {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{:?}",
                proxy.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        interrupt(&child);
        let out = finish(child, Duration::from_secs(20));
        assert_eq!(code(&out), 130, "{action}: {}", stderr(&out));
        assert!(
            !proxy.log().iter().any(|op| op == "UpdateAlias"),
            "{:?}",
            proxy.log()
        );
        assert_eq!(
            alias_state(&world.function, "live").await,
            ("1".to_owned(), vec![("2".to_owned(), 0.1)])
        );
    }
}

/// UpdateFunctionConfiguration of `$LATEST`: its role, or its dead-letter queue.
async fn configure(function: &str, role: Option<&str>, dlq: Option<&str>) {
    lambda()
        .await
        .update_function_configuration()
        .function_name(function)
        .set_role(role.map(str::to_owned))
        .set_dead_letter_config(dlq.map(|arn| {
            aws_sdk_lambda::types::DeadLetterConfig::builder()
                .target_arn(arn)
                .build()
        }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("configure {function}: {e:?}"));
}

const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/other-role";

/// Refused before anything is written: exit 1, the reason, and no alias write.
fn refused_for(world: &World, out: &Output, because: &str) {
    assert_eq!(code(out), 1, "{}", stderr(out));
    let release = json(out)["release"].clone();
    assert_eq!(release["outcome"], "refused", "{release}");
    let reason = release["reason"].as_str().unwrap();
    assert!(reason.contains(because), "{reason}");
    assert_eq!(world.history().len(), 1, "{:?}", world.history());
}

#[tokio::test]
async fn a_different_role_or_dead_letter_queue_is_refused_before_anything_is_written() {
    let world = World::new().await;
    configure(&world.function, Some(OTHER_ROLE), None).await;
    let out = world.release(&["--canary", "10", "--bake", "1s"]);
    refused_for(&world, &out, "different execution roles");
    assert_eq!(lambda_reads(&world.function)["update_function_code"], 0);

    let world = World::new().await;
    configure(
        &world.function,
        None,
        Some("arn:aws:sqs:us-east-1:123456789012:dlq"),
    )
    .await;
    let out = world.release(&["--canary", "10", "--bake", "1s"]);
    refused_for(&world, &out, "different dead-letter queues");
    assert_eq!(lambda_reads(&world.function)["update_function_code"], 0);
}

#[tokio::test]
async fn an_alias_on_latest_is_refused_before_anything_is_written() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    lambda()
        .await
        .create_alias()
        .function_name(&function)
        .name("live")
        .function_version("$LATEST")
        .send()
        .await
        .unwrap();
    let out = deploy(
        &uri(&repo, ":v1"),
        &function,
        &["--alias", "live", "--canary", "10", "--bake", "1s"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let reason = json(&out)["release"]["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("points at $LATEST"), "{reason}");
    assert_eq!(lambda_reads(&function)["update_function_code"], 0);
    assert_eq!(alias_history(&function, "live").len(), 1);
}

#[tokio::test]
async fn the_rules_are_checked_again_against_the_version_actually_chosen() {
    // Version 2 holds the image under another role; $LATEST runs the same image
    // under the alias's role again, so the check before anything is written passes,
    // and the release reuses version 2.
    let world = World::new().await;
    configure(&world.function, Some(OTHER_ROLE), None).await;
    let out = run(&[
        "deploy",
        &uri(&world.repo, ":v1"),
        "--function",
        &world.function,
        "--publish",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    configure(&world.function, Some(ROLE_ARN), None).await;
    let out = world.release(&["--canary", "10", "--bake", "1s"]);
    refused_for(&world, &out, "different execution roles");
    assert!(
        json(&out)["release"]["reason"]
            .as_str()
            .unwrap()
            .contains("no traffic moved")
    );
}

/// `--protect`'s tags in a deploy's report, as (tag, digest), sorted.
fn protected(report: &Value) -> Vec<(String, String)> {
    let mut tags: Vec<(String, String)> = report["protected"]
        .as_array()
        .unwrap_or_else(|| panic!("no protected in {report:#}"))
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_owned(),
                t["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    tags.sort();
    tags
}

/// `--protect` with a gradual release, once it is judged: the new image (`$LATEST`
/// and its version 2) and the way back (version 1, the base image) get their tags.
/// Promoted here (a linear release); rolled back in the next test.
#[tokio::test]
async fn a_linear_release_promoted_with_protect_tags_the_new_image_and_the_way_back() {
    use support::retention::protective_tags;
    let world = World::new().await;
    let out = world.release(&["--linear", "50", "--every", "1s", "--protect"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["release"]["outcome"], "promoted", "{report:#}");
    let f = &world.function;
    assert_eq!(
        protected(&report),
        vec![
            (format!("lambda.{f}.1"), world.base.clone()),
            (format!("lambda.{f}.2"), world.target.clone()),
            (format!("lambda.{f}.latest"), world.target.clone()),
        ]
    );
    assert_eq!(
        protective_tags(&world.repo, &world.base).await,
        vec![format!("lambda.{f}.1")]
    );
    assert_eq!(
        protective_tags(&world.repo, &world.target).await,
        vec![format!("lambda.{f}.2"), format!("lambda.{f}.latest")]
    );
}

/// A canary rolled back by its alarm, with `--protect`: the way back (version 1,
/// which the alias runs again) keeps its tag, and the rejected image is tagged for
/// what still runs it, `$LATEST` and its own version 2, never with version 1's tag
/// (the alias report says version 1 after the rollback).
#[tokio::test]
async fn a_canary_rolled_back_with_protect_keeps_the_way_back_protected() {
    use support::retention::protective_tags;
    let world = World::new().await;
    let alarm_name = unique("errors");
    alarm(&alarm_name, "OK", "fine").await;
    let child = world.spawn(&[
        "--canary",
        "20",
        "--bake",
        "1m",
        "--alarm",
        &alarm_name,
        "--protect",
    ]);
    let seen = until_weighted(&world.function, Duration::from_secs(20)).await;
    // Nothing is tagged while the release is being judged.
    assert_eq!(
        protective_tags(&world.repo, &world.base).await,
        Vec::<String>::new()
    );
    set_alarm(&alarm_name, "ALARM", "Threshold Crossed: 3 errors").await;
    let out = finish(child, Duration::from_secs(20));
    assert_eq!(seen, Some(("1".to_owned(), vec![("2".to_owned(), 0.2)])));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["alias"]["status"], "rolled-back", "{report:#}");
    let f = &world.function;
    assert_eq!(
        protected(&report),
        vec![
            (format!("lambda.{f}.1"), world.base.clone()),
            (format!("lambda.{f}.2"), world.target.clone()),
            (format!("lambda.{f}.latest"), world.target.clone()),
        ]
    );
    assert_eq!(
        protective_tags(&world.repo, &world.base).await,
        vec![format!("lambda.{f}.1")]
    );
    assert_eq!(
        protective_tags(&world.repo, &world.target).await,
        vec![format!("lambda.{f}.2"), format!("lambda.{f}.latest")]
    );
}

/// Ctrl-C mid-bake with `--protect`: no further write starts, tags included; the
/// report says what was not done and how to do it.
#[tokio::test]
async fn ctrl_c_mid_release_writes_no_protective_tag() {
    use support::retention::protective_tags;
    let world = World::new().await;
    let child = world.spawn(&["--canary", "10", "--bake", "1m", "--protect"]);
    let seen = until_weighted(&world.function, Duration::from_secs(20)).await;
    assert!(seen.is_some());
    interrupt(&child);
    let out = finish(child, Duration::from_secs(10));
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report.get("protected"), None, "{report:#}");
    assert!(
        report["warnings"]
            .to_string()
            .contains("--protect wrote no tag"),
        "{report:#}"
    );
    assert_eq!(
        protective_tags(&world.repo, &world.base).await,
        Vec::<String>::new()
    );
    assert_eq!(
        protective_tags(&world.repo, &world.target).await,
        Vec::<String>::new()
    );
}

/// `--protect` on a release that never moved the alias (its probe failed): the
/// deployed image gets the tag of `$LATEST`, which runs it, and never the tag of
/// the alias's version, which runs another image (that tag belongs to the way back).
#[tokio::test]
async fn protect_never_tags_the_image_with_a_version_that_does_not_run_it() {
    let world = World::new().await;
    invoke_answer(
        &world.function,
        "2",
        serde_json::json!({"function_error": "Unhandled", "payload": {"errorType": "KeyError"}}),
    );
    let probe = scratch_path("probe");
    std::fs::write(&probe, b"{}").unwrap();
    let out = world.release(&[
        "--canary",
        "10",
        "--bake",
        "1s",
        "--probe",
        probe.to_str().unwrap(),
        "--protect",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["release"]["outcome"], "refused", "{report:#}");
    assert_eq!(report["alias"]["version"], "1", "{report:#}");
    assert_eq!(world.history().len(), 1);
    let written: Vec<(String, String)> = report["protected"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_owned(),
                t["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let (latest, one) = (
        format!("lambda.{}.latest", world.function),
        format!("lambda.{}.1", world.function),
    );
    assert!(
        written.contains(&(latest, world.target.clone())),
        "{written:?}"
    );
    // Version 1's tag is written once, on version 1's image.
    let ones: Vec<&(String, String)> = written.iter().filter(|(t, _)| *t == one).collect();
    assert_eq!(ones, [&(one.clone(), world.base.clone())], "{written:?}");
    assert_tag(&world.repo, &one, &world.base).await;
}
