//! The smoke example (`examples/smoke.rs`) against the emulator, so that the run a
//! user points at a real account keeps working.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use aws_sdk_lambda::types::Architecture;

/// The example's binary, built first: `cargo test --test smoke` does not build
/// examples (plain `cargo test` does), and one left from an earlier build would run
/// old code. Examples go next to the test binaries: `target/PROFILE/deps/smoke-HASH`
/// → `target/PROFILE/examples/smoke`.
fn smoke_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("the test binary is in target/PROFILE/deps");
            let mut cargo = Command::new(env!("CARGO"));
            cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
                "build",
                "--locked",
                "--example",
                "smoke",
            ]);
            match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => {}
                Some("release") => drop(cargo.arg("--release")),
                Some(other) => drop(cargo.args(["--profile", other])),
                None => {}
            }
            // A no-op when it is up to date; cargo holds no lock while tests run.
            let status = cargo.status().expect("run cargo build --example smoke");
            assert!(status.success(), "cargo build --example smoke failed");
            let binary = profile_dir
                .join("examples")
                .join(format!("smoke{}", std::env::consts::EXE_SUFFIX));
            assert!(
                binary.is_file(),
                "the smoke example is not at {} after cargo build --example smoke \
                 (another --target or --target-dir?)",
                binary.display()
            );
            binary
        })
        .clone()
}

fn run_smoke(args: &[&str]) -> (Output, String) {
    let mut cmd = Command::new(smoke_binary());
    cmd.arg("--endpoint-url")
        .arg(support::moto().endpoint())
        .args(args);
    support::isolate(&mut cmd);
    let out = cmd.output().expect("run the smoke example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

/// Every check the run makes printed `ok`, none `FAIL`.
fn assert_passed(out: &Output, stdout: &str) {
    let stderr = support::stderr(out);
    assert_eq!(
        support::code(out),
        0,
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    for check in [
        "ok   check: the buildx index is not ready, and fixable",
        "ok   fix: v1 names the image manifest, one referrer written",
        "ok   check again: ready, config amd64 read, provenance a referrer",
        "ok   deploy: ",
        "ok   BatchGetImage: v1 names the image manifest",
        "ok   GetFunction: the function runs the image by digest",
        "ok   ListImageReferrers: the attestation is a referrer of the image",
        "ok   GetFunction: CodeSha256 is the image digest's hex",
        "ok   deleted repository ecr-lambda-smoke-",
        "smoke run passed",
    ] {
        assert!(stdout.contains(check), "no {check:?} in:\n{stdout}");
    }
}

/// The repository (or function) the run names in `line`'s prefix: `ecr-lambda-smoke-HEX`.
fn smoke_name(stdout: &str, prefix: &str) -> String {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{stdout}"));
    line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .next()
        .unwrap()
        .to_owned()
}

async fn repository_exists(name: &str) -> bool {
    let ecr = support::ecr().await;
    ecr.describe_repositories()
        .repository_names(name)
        .send()
        .await
        .is_ok()
}

#[tokio::test]
async fn smoke_run_with_a_temporary_function_passes_and_deletes_what_it_created() {
    let json_path = support::scratch_path("smoke-json");
    let (out, stdout) = run_smoke(&[
        "--role-arn",
        support::ROLE_ARN,
        "--json",
        json_path.to_str().unwrap(),
    ]);
    assert_passed(&out, &stdout);
    assert!(
        stdout.contains("created function ecr-lambda-smoke-"),
        "{stdout}"
    );
    for check in [
        "ok   deploy --alias twice: two versions, the alias on the second",
        "ok   rollback --alias: back to the first version",
        "ok   canary 10 % for 1 s: the weight seen on the alias, then promoted",
        "ok   canary: DescribeAlarms read the alarm",
        "ok   Invoke of the alias: Lambda answered",
        "ok   deleted alarm ecr-lambda-smoke-",
    ] {
        assert!(stdout.contains(check), "no {check:?} in:\n{stdout}");
    }
    // What the user would send back: every check, and the observations as the
    // emulator answers them (its rows in FIDELITY.md).
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(doc["passed"], true);
    assert!(
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{doc}"
    );
    let seen = &doc["observations"];
    // E7: the same manifest again without a tag returns the existing image.
    assert_eq!(
        seen["repeated_untagged_put_image"]["accepted"], true,
        "{doc}"
    );
    // L1: an update is InProgress at first, with the new image (the emulator's default).
    let reads = seen["image_while_updating"]["reads"].as_array().unwrap();
    assert_eq!(reads[0]["last_update_status"], "InProgress", "{doc}");
    assert_eq!(reads[0]["image"], "new", "{doc}");
    assert_eq!(
        reads.last().unwrap()["last_update_status"],
        "Successful",
        "{doc}"
    );
    // The open questions, as the emulator answers them (FIDELITY E13, L14): what a
    // user's run sends back is what settles them.
    let described = &seen["describe_images_ids_and_status_filter"];
    assert_eq!(described["accepted"], true, "{doc}");
    assert_eq!(
        described["statuses"],
        serde_json::json!(["ACTIVE"]),
        "{doc}"
    );
    assert_eq!(
        seen["publish_to_on_an_ordinary_function"]["accepted"], true,
        "{doc}"
    );
    let managed = &seen["managed_instances_image_function"];
    assert_eq!(
        (&managed["accepted"], &managed["deleted"]),
        (&serde_json::json!(true), &serde_json::json!(true)),
        "{doc}"
    );
    // E19: the emulator refuses it, as ECR's API reference says ECR does.
    assert_eq!(
        seen["put_image_without_blobs"]["code"], "LayersNotFoundException",
        "{doc}"
    );
    let release = &seen["alias_release"];
    assert_eq!(release["alias_now"], release["versions"][0], "{doc}");
    // The canary: from the first version, 10 % on the second while it baked (as
    // GetAlias showed it), then all of it; its alarm read through CBOR; the alias
    // invoked once (the emulator's default answer: 200, no function error).
    let canary = &seen["canary"];
    let (first, second) = (&release["versions"][0], &release["versions"][1]);
    let shown: Vec<&serde_json::Value> = canary["alias_seen"].as_array().unwrap().iter().collect();
    assert!(
        shown.iter().any(|a| a["version"] == *first
            && a["weights"][second.as_str().unwrap()].as_f64() == Some(0.1)),
        "{canary}"
    );
    assert_eq!(canary["release"]["outcome"], "promoted", "{canary}");
    assert_eq!(canary["exit"], "Success", "{canary}");
    assert!(
        canary["release"]["alarm_reads"].as_u64().unwrap() >= 1,
        "{canary}"
    );
    assert!(
        canary["release"]["alarms"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("ecr-lambda-smoke-"),
        "{canary}"
    );
    assert_eq!(canary["invoke"]["status"], 200, "{canary}");
    assert_eq!(
        canary["invoke"]["function_error"],
        serde_json::Value::Null,
        "{canary}"
    );
    let function = smoke_name(&stdout, "  Lambda function ");
    let invoked = support::invocations(&function);
    assert_eq!(invoked.len(), 1, "{invoked:?}");
    assert_eq!(invoked[0]["qualifier"], "smoke", "{invoked:?}");
    assert_eq!(invoked[0]["executed_version"], *second, "{invoked:?}");
    std::fs::remove_file(&json_path).ok();
    let repo = smoke_name(&stdout, "  ECR repository ");
    assert!(
        stdout.contains(&format!("ok   deleted function {function}")),
        "{stdout}"
    );
    assert!(!repository_exists(&repo).await, "{repo} is left");
    let lambda = support::lambda().await;
    let got = lambda.get_function().function_name(&function).send().await;
    assert!(got.is_err(), "{function} is left");
}

#[tokio::test]
async fn smoke_run_against_the_users_function_keeps_that_function() {
    // The user's function, created as the other tests create theirs: from a ready image.
    let repo = support::unique("smoke-user");
    let function = support::unique("smoke-user-fn");
    support::create_repository(&repo, false).await;
    let base = support::load_case("docker-v2");
    support::seed_manifest(&repo, Some("base"), &base, "root.json").await;
    support::create_function(
        &function,
        &support::uri(&repo, ":base"),
        Architecture::X8664,
    )
    .await;
    let (_, before) = support::function_image(&function).await;
    let before = before.expect("the function runs an image");

    let (out, stdout) = run_smoke(&["--function", &function]);
    assert_passed(&out, &stdout);
    assert!(!stdout.contains("created function"), "{stdout}");
    assert!(!stdout.contains("deleted function"), "{stdout}");
    assert!(
        stdout.contains(&format!("YOUR function {function}")),
        "{stdout}"
    );
    // What it ran before is said, so that the user can put it back.
    assert!(
        stdout.contains(&format!(
            "{function} now runs the smoke image; it ran {before}"
        )),
        "{stdout}"
    );
    let smoke_repo = smoke_name(&stdout, "  ECR repository ");
    assert!(
        !repository_exists(&smoke_repo).await,
        "{smoke_repo} is left"
    );
    // Still there, running the smoke image (from the deleted repository).
    let (_, now) = support::function_image(&function).await;
    let now = now.expect("the function still exists and runs an image");
    assert!(now.contains(&format!("/{smoke_repo}@sha256:")), "{now}");
}
