//! Faults, races and interruptions, injected by a proxy between the binary and the
//! emulator.
//!
//! The invariant under test: after any run of fix or deploy, whatever failed, the tag
//! names what it named before or the validated target, and the function runs its
//! previous image or the validated target; running the same command again converges.

mod support;

use std::process::{Child, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::Architecture;
use support::proxy::{Fault, Proxy};
use support::*;

/// Operations a deploy of a buildx tag sends, in order of first appearance.
const DEPLOY_OPERATIONS: [&str; 4] = [
    "BatchGetImage",
    "GetFunction",
    "PutImage",
    "UpdateFunctionCode",
];

struct World {
    repo: String,
    function: String,
    case: Case,
    proxy: Proxy,
}

impl World {
    async fn new(tag: &str) -> World {
        let (repo, function, case) = buildx_setup("buildx-single", tag, Architecture::X8664).await;
        World {
            repo,
            function,
            case,
            proxy: proxy(),
        }
    }

    fn image(&self) -> String {
        uri(&self.repo, ":v1")
    }

    fn deploy(&self, extra: &[&str]) -> Output {
        let image = self.image();
        let mut args = vec![
            "deploy",
            image.as_str(),
            "--function",
            self.function.as_str(),
        ];
        args.extend_from_slice(extra);
        run_at(&self.proxy.endpoint(), &args)
    }

    /// The same deploy, as a child process to interrupt.
    fn spawn_deploy(&self, output: Stdio) -> Child {
        let image = self.image();
        command_at(
            &self.proxy.endpoint(),
            &["deploy", &image, "--function", &self.function],
        )
        .stdout(output)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    }

    fn target(&self) -> &Manifest {
        self.case.child("image-amd64.json")
    }

    /// The invariant: the tag and the function are each either as before or at the target.
    async fn assert_invariant(&self) {
        let tag = tag_digest(&self.repo, "v1").await.unwrap();
        assert!(
            tag == self.case.root.digest || tag == self.target().digest,
            "the tag names {tag}"
        );
        let (_, resolved) = function_image(&self.function).await;
        let resolved = resolved.unwrap();
        let base = load_case("docker-v2").root.digest;
        assert!(
            resolved.ends_with(&base) || resolved.ends_with(&self.target().digest),
            "the function runs {resolved}"
        );
    }

    async fn assert_deployed(&self) {
        assert_tag(&self.repo, "v1", &self.target().digest).await;
        let (_, resolved) = function_image(&self.function).await;
        assert!(resolved.unwrap().ends_with(&self.target().digest));
    }
}

async fn transient(fault: Fault) {
    // Without the referrer write, the first PutImage is the tag's.
    for operation in DEPLOY_OPERATIONS {
        let world = World::new("v1").await;
        world.proxy.on(operation, Some(1), fault.clone());
        let out = world.deploy(&["--output", "json", "--no-keep-provenance"]);
        assert_eq!(code(&out), 0, "{operation}: {}", stderr(&out));
        assert_eq!(json(&out)["update"]["status"], "successful", "{operation}");
        world.assert_deployed().await;
        let log = world.proxy.log();
        assert!(
            log.iter().filter(|op| *op == operation).count() >= 2,
            "{operation} was retried: {log:?}"
        );
    }
}

#[tokio::test]
async fn a_500_on_any_deploy_operation_is_retried() {
    transient(Fault::Status(500)).await;
}

#[tokio::test]
async fn a_503_on_any_deploy_operation_is_retried() {
    transient(Fault::Status(503)).await;
}

#[tokio::test]
async fn throttling_on_any_deploy_operation_is_retried() {
    transient(Fault::Throttle).await;
}

#[tokio::test]
async fn a_dropped_connection_on_any_deploy_operation_is_retried() {
    transient(Fault::Drop).await;
}

#[tokio::test]
async fn a_fault_on_each_put_image_of_a_deploy_is_retried() {
    // With the provenance kept: the referrer's PutImage, then the tag's.
    for nth in 1..=2 {
        let world = World::new("v1").await;
        world.proxy.on("PutImage", Some(nth), Fault::Status(503));
        let out = world.deploy(&["--output", "json"]);
        assert_eq!(code(&out), 0, "PutImage #{nth}: {}", stderr(&out));
        assert_eq!(
            json(&out)["provenance_written"].as_array().unwrap().len(),
            1
        );
        world.assert_deployed().await;
    }
}

#[tokio::test]
async fn a_fault_on_each_batch_get_image_of_a_deploy_is_retried() {
    // The reference, the children by digest, and the guard read before PutImage.
    for nth in 1..=3 {
        let world = World::new("v1").await;
        world
            .proxy
            .on("BatchGetImage", Some(nth), Fault::Status(500));
        let out = world.deploy(&[]);
        assert_eq!(code(&out), 0, "BatchGetImage #{nth}: {}", stderr(&out));
        world.assert_deployed().await;
    }
}

#[tokio::test]
async fn persistent_faults_exit_3_name_the_operation_keep_the_invariant_and_a_rerun_converges() {
    for operation in DEPLOY_OPERATIONS {
        let world = World::new("v1").await;
        world.proxy.on(operation, None, Fault::Status(500));
        // A referrer that cannot be written is provenance-not-kept (exit 3, tests/provenance.rs).
        let out = world.deploy(&["--max-attempts", "2", "--no-keep-provenance"]);
        assert_eq!(code(&out), 3, "{operation}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("{operation} failed")),
            "{operation}: {err}"
        );
        assert!(err.starts_with("ecr-lambda: error: "), "{err}");
        world.assert_invariant().await;

        world.proxy.clear_faults();
        let out = world.deploy(&[]);
        assert_eq!(code(&out), 0, "rerun after {operation}: {}", stderr(&out));
        world.assert_deployed().await;
    }
}

fn wait_for(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn killed_between_put_image_and_update_then_rerun_converges_without_writing_again() {
    let world = World::new("v1").await;
    // UpdateFunctionCode never reaches Lambda: the process dies while it waits.
    world.proxy.on(
        "UpdateFunctionCode",
        Some(1),
        Fault::Hang(Duration::from_secs(20)),
    );
    let mut child = world.spawn_deploy(Stdio::null());
    let proxy = world.proxy.clone();
    let reached = wait_until(Duration::from_secs(20), || {
        proxy.log().iter().any(|op| op == "UpdateFunctionCode")
    });
    signal(&child, "KILL");
    child.wait().unwrap();
    assert!(
        reached,
        "deploy never reached UpdateFunctionCode: {:?}",
        world.proxy.log()
    );
    assert!(world.proxy.log().contains(&"PutImage".to_owned()));
    world.assert_invariant().await;
    assert_tag(&world.repo, "v1", &world.target().digest).await;

    world.proxy.clear_faults();
    world.proxy.clear_log();
    let out = world.deploy(&["--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["action"], "already-ready");
    assert_eq!(report["update"]["status"], "successful");
    assert!(
        !world.proxy.log().contains(&"PutImage".to_owned()),
        "{:?}",
        world.proxy.log()
    );
    world.assert_deployed().await;
}

#[tokio::test]
async fn a_hung_endpoint_is_given_up_on_with_exit_3() {
    let world = World::new("v1").await;
    world
        .proxy
        .on("BatchGetImage", None, Fault::Hang(Duration::from_secs(25)));
    let image = world.image();
    let mut child = command_at(
        &world.proxy.endpoint(),
        &[
            "check",
            &image,
            "--read-timeout",
            "1",
            "--max-attempts",
            "2",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // A bound for the test, not a timing assertion: without read timeouts this
    // would wait for the proxy's 25 s hold, twice.
    let status = wait_for(&mut child, Duration::from_secs(20));
    if status.is_none() {
        child.kill().unwrap();
        panic!("check did not give up on a hung endpoint");
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("BatchGetImage failed"), "{err}");
    assert!(err.contains("--read-timeout"), "{err}");
}

#[tokio::test]
async fn a_tag_moved_by_someone_else_is_not_overwritten() {
    let world = World::new("v1").await;
    let repo = world.repo.clone();
    let newer_case = load_case("oci-manifest");
    let newer = newer_case.root.clone();
    // Its blobs are there already (the other party's push uploaded them first).
    for blob in newer_case.blobs_of("root.json") {
        upload_blob(&repo, &blob.bytes).await;
    }
    // Someone pushes to the tag just before the guard read (the third BatchGetImage).
    let pushed = newer.clone();
    world.proxy.on(
        "BatchGetImage",
        Some(3),
        Fault::Before(Arc::new(move || {
            let (repo, pushed) = (repo.clone(), pushed.clone());
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(put(&repo, Some("v1"), &pushed));
            })
            .join()
            .unwrap();
        })),
    );
    let out = world.deploy(&[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("tag moved"), "{}", stderr(&out));
    // Only the attestation's referrer (written alongside the guard read) went out;
    // the tag was not written.
    let puts = world
        .proxy
        .log()
        .iter()
        .filter(|op| *op == "PutImage")
        .count();
    assert_eq!(puts, 1, "{:?}", world.proxy.log());
    assert_tag(&world.repo, "v1", &newer.digest).await;
    let (_, resolved) = function_image(&world.function).await;
    assert!(!resolved.unwrap().ends_with(&world.target().digest));
}

#[tokio::test]
async fn ctrl_c_while_waiting_says_the_update_goes_on_and_exits_130() {
    let world = World::new("v1").await;
    // An update long enough to be interrupted.
    lambda_behaviour(&world.function, serde_json::json!({"update_seconds": 30}));
    let mut child = world.spawn_deploy(Stdio::piped());
    let proxy = world.proxy.clone();
    let waiting = wait_until(Duration::from_secs(20), || {
        let log = proxy.log();
        let update = log.iter().position(|op| op == "UpdateFunctionCode");
        update.is_some_and(|i| log[i..].iter().any(|op| op == "GetFunction"))
    });
    signal(&child, "INT");
    let status = wait_for(&mut child, Duration::from_secs(20));
    if status.is_none() {
        child.kill().unwrap();
    }
    assert!(waiting, "deploy never polled: {:?}", world.proxy.log());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("goes on at AWS"), "{err}");
    assert!(
        err.contains(&format!("--function-name {}", world.function)),
        "{err}"
    );
}

#[tokio::test]
async fn no_credentials_appear_in_any_output_at_the_highest_verbosity() {
    let world = World::new("v1").await;
    let secret = "SECRETsecretSECRETsecret0123456789abcdef";
    let token = "TOKENtokenTOKENtoken0123456789SESSIONsession";
    let image = world.image();
    let out = command_at(
        &world.proxy.endpoint(),
        &[
            "deploy",
            &image,
            "--function",
            &world.function,
            "-vv",
            "--output",
            "json",
        ],
    )
    .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEYID0001")
    .env("AWS_SECRET_ACCESS_KEY", secret)
    .env("AWS_SESSION_TOKEN", token)
    .output()
    .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let everything = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(everything.len() > 2000, "-vv logged: {}", everything.len());
    for needle in [
        secret,
        token,
        "Signature=",
        "x-amz-security-token",
        "X-Amz-Security-Token",
    ] {
        assert!(
            !everything.contains(needle),
            "{needle} appears in the output"
        );
    }
    assert!(!everything.to_ascii_lowercase().contains("authorization:"));
}

#[tokio::test]
async fn check_only_reads() {
    let world = World::new("v1").await;
    let image = world.image();
    let out = run_at(
        &world.proxy.endpoint(),
        &["check", &image, "--function", &world.function],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    // And a single manifest, whose referrers are listed and read.
    let base = uri(&world.repo, ":base");
    let out = run_at(
        &world.proxy.endpoint(),
        &["check", &base, "--function", &world.function],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let log = world.proxy.log();
    assert!(log.contains(&"ListImageReferrers".to_owned()), "{log:?}");
    assert!(log.contains(&"GetBlob".to_owned()), "{log:?}");
    let reads = [
        "BatchGetImage",
        "DescribeRepositories",
        "DescribeImages",
        "GetFunction",
        "GetFunctionConfiguration",
        "ListImageReferrers",
        "GetDownloadUrlForLayer",
        "GetBlob",
    ];
    for op in &log {
        assert!(reads.contains(&op.as_str()), "check sent {op}");
    }
}
