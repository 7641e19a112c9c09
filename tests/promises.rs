//! What the README promises, held against the emulator as AWS behaves (issue 17): each
//! test's comment names the promise, and the test fails when the tool breaks it (AWS's
//! failures are injected by the test proxy or the emulator's own switches, never by
//! racing the binary).

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_lambda::types::{Architecture, FunctionCode, PackageType};
use serde_json::{Value, json};
use support::proxy::Fault;
use support::*;

/// A second function in another region is read there: region-mismatch (exit 1)
/// before any write, not "not found" (exit 3) from the first function's region.
#[tokio::test]
async fn a_function_in_another_region_is_read_there_and_refused_before_any_write() {
    let (repo, first, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let region = "eu-west-1";
    let eu_repo = unique("eu-app");
    let ecr = ecr_in(region).await;
    ecr.create_repository()
        .repository_name(&eu_repo)
        .send()
        .await
        .unwrap();
    let docker = load_case("docker-v2");
    for blob in docker.blobs_of("root.json") {
        upload_blob_with(&ecr, &eu_repo, &blob.bytes).await;
    }
    let base = docker.root;
    ecr.put_image()
        .repository_name(&eu_repo)
        .image_manifest(&base.bytes)
        .image_manifest_media_type(&base.media_type)
        .image_digest(&base.digest)
        .image_tag("base")
        .send()
        .await
        .unwrap();
    let eu_function = unique("fn-eu");
    lambda_in(region)
        .await
        .create_function()
        .function_name(&eu_function)
        .role(ROLE_ARN)
        .package_type(PackageType::Image)
        .code(
            FunctionCode::builder()
                .image_uri(format!(
                    "{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{eu_repo}:base"
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{eu_function}");
    let out = deploy_all_at(&moto().endpoint(), &uri(&repo, ":v1"), &[&first, &arn], &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let problems: Vec<&str> = report["deployments"][1]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert!(problems.contains(&"region-mismatch"), "{report}");
    // Nothing written: the tag still names the index, neither function was updated.
    assert_eq!(tag_digest(&repo, "v1").await.unwrap(), case.root.digest);
    assert_eq!(lambda_reads(&first)["update_function_code"], 0);
}

/// One failed GET of the config's pre-signed URL (S3 answers 5xx now and then) is
/// tried again: the architecture of a single manifest is still checked.
#[tokio::test]
async fn a_failed_config_get_is_tried_again() {
    let repo = unique("app");
    create_repository(&repo, false).await;
    let case = load_case("arm64-single");
    seed_manifest(&repo, Some("v1"), &case, "root.json").await;
    // Faults for this config blob only: other tests' GETs run alongside.
    let config = case.config_of("root.json").digest.clone();
    let before = emulator("GET", "/_emulator/blobs/reads", Value::Null)["gets"]
        .as_u64()
        .unwrap();
    emulator(
        "POST",
        "/_emulator/blobs/faults",
        json!({"fail_next": 1, "status": 503, "digest": config}),
    );
    let out = run(&[
        "check",
        &uri(&repo, ":v1"),
        "--platform",
        "linux/amd64",
        "--output",
        "json",
    ]);
    let report = json(&out);
    let codes: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["warnings"].as_array().unwrap())
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    // Read on the second GET: the arm64 config is seen, so amd64 is refused.
    assert!(codes.contains(&"architecture-mismatch"), "{report}");
    assert!(!codes.contains(&"config-unreadable"), "{report}");
    assert_eq!(report["config"]["architecture"], "arm64");
    let after = emulator("GET", "/_emulator/blobs/reads", Value::Null)["gets"]
        .as_u64()
        .unwrap();
    assert!(after - before >= 2, "{before} -> {after}");

    // Every attempt failing: unreadable, with the status, after three GETs.
    emulator(
        "POST",
        "/_emulator/blobs/faults",
        json!({"fail_next": 3, "status": 500, "digest": config}),
    );
    let out = run(&["check", &uri(&repo, ":v1"), "--output", "json"]);
    let report = json(&out);
    let warning = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "config-unreadable")
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert!(
        warning["message"].as_str().unwrap().contains("HTTP 500"),
        "{warning}"
    );
    assert_eq!(
        emulator("GET", "/_emulator/blobs/reads", Value::Null)["faults_left"],
        0
    );
}

/// GetAlias refused for one of two functions: nothing is written for either (the
/// aliases are read before the first write).
#[tokio::test]
async fn an_alias_that_cannot_be_read_stops_every_function_before_any_write() {
    let (repo, first, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let second = unique("fn");
    create_function(&second, &uri(&repo, ":base"), Architecture::X8664).await;
    let proxy = proxy();
    proxy.on(
        "GetAlias",
        Some(2),
        Fault::Respond {
            status: 403,
            body: r#"{"__type":"AccessDeniedException","message":"not authorized to perform: lambda:GetAlias"}"#.into(),
        },
    );
    let out = deploy_all_at(
        &proxy.endpoint(),
        &uri(&repo, ":v1"),
        &[&first, &second],
        &["--alias", "live", "--max-attempts", "1"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    // The hint names the IAM action, whatever the operation.
    assert!(
        stderr(&out).contains("lack lambda:GetAlias"),
        "{}",
        stderr(&out)
    );
    assert_eq!(tag_digest(&repo, "v1").await.unwrap(), case.root.digest);
    for function in [&first, &second] {
        assert_eq!(lambda_reads(function)["update_function_code"], 0);
    }
    let log = proxy.log();
    assert!(
        !log.iter()
            .any(|op| op == "PutImage" || op == "UpdateFunctionCode"),
        "{log:?}"
    );
}

/// Ctrl-C while the first of two functions is updating (one at a time): the update
/// goes on at AWS, the second is never started, and the report says so (exit 130).
#[tokio::test]
async fn ctrl_c_between_two_functions_starts_no_further_update_and_reports_what_was_written() {
    let (repo, first, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let second = unique("fn");
    create_function(&second, &uri(&repo, ":base"), Architecture::X8664).await;
    lambda_behaviour(&first, json!({"update_seconds": 30}));
    let image = uri(&repo, ":v1");
    let mut child = command_at(
        &moto().endpoint(),
        &[
            "deploy",
            &image,
            "--function",
            &first,
            "--function",
            &second,
            "--concurrency",
            "1",
            "--output",
            "json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let start = Instant::now();
    while lambda_reads(&first)["get_function"].as_u64().unwrap() < 3
        && start.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().unwrap().is_none() {
        child.kill().unwrap();
        panic!("not ended by Ctrl-C");
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 130, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["written_tag"], "v1");
    assert_eq!(report["deployments"][0]["update"]["status"], "in-progress");
    assert!(
        report["deployments"][0]["update"]["reason"]
            .as_str()
            .unwrap()
            .contains("goes on at AWS")
    );
    assert_eq!(report["deployments"][1]["update"], Value::Null);
    assert_eq!(report["deployments"][1]["error"]["kind"], "interrupted");
    assert_eq!(lambda_reads(&second)["update_function_code"], 0);
}

/// When only the alias runs the image, "unchanged" says so, and what $LATEST runs.
#[tokio::test]
async fn unchanged_because_of_the_alias_says_so() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // $LATEST moves to the base image; the alias stays on v1's version.
    let out = deploy(&uri(&repo, ":base"), &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let update = json(&out)["update"].clone();
    assert_eq!(update["status"], "unchanged");
    let reason = update["reason"].as_str().unwrap();
    assert!(
        reason.contains("alias live already runs this image"),
        "{reason}"
    );
    assert!(
        reason.contains(&load_case("docker-v2").root.digest),
        "{reason}"
    );
    let out = run(&[
        "deploy",
        &uri(&repo, ":v1"),
        "--function",
        &function,
        "--alias",
        "live",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains("the function already runs this image"),
        "{text}"
    );
}

/// Two architectures, two tags: the second tag's write refused; the first tag stays
/// reported as written, at the top and in its function's entry.
#[tokio::test]
async fn a_tag_written_before_a_failed_write_stays_reported() {
    let repo = unique("app");
    create_repository(&repo, false).await;
    let case = load_case("buildx-multi");
    seed(&repo, "v1", &case).await;
    seed_manifest(&repo, Some("base"), &load_case("docker-v2"), "root.json").await;
    let (amd, arm) = (unique("fn-amd"), unique("fn-arm"));
    create_function(&amd, &uri(&repo, ":base"), Architecture::X8664).await;
    create_function(&arm, &uri(&repo, ":base"), Architecture::Arm64).await;
    let proxy = proxy();
    // The arm64 tag's PutImage is refused.
    proxy.on(
        "PutImage",
        None,
        Fault::StatusIfBodyHas("v1-arm64".into(), 400),
    );
    let out = deploy_all_at(
        &proxy.endpoint(),
        &uri(&repo, ":v1"),
        &[&amd, &arm],
        &["--no-keep-provenance", "--max-attempts", "1"],
    );
    assert_ne!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Ok(report) = serde_json::from_str::<Value>(&text)
        && report.get("error").is_none()
    {
        assert_eq!(report["written_tag"], "v1-amd64", "{report}");
        assert_eq!(
            report["deployments"][0]["written_tag"], "v1-amd64",
            "{report}"
        );
    } else {
        panic!("no report: {text}\n{}", stderr(&out));
    }
    assert!(tag_digest(&repo, "v1-amd64").await.is_some());
}

/// A stalled endpoint is given up on within the read timeout per attempt and twice
/// that per call (retries included), and the error names the endpoint: with
/// `--read-timeout 2`, two attempts of 2 s, and no third (a call's own timeout of 4 s
/// ends it during the second), where without a per-call timeout the third attempt
/// would make it 6 s and more.
#[tokio::test]
async fn a_stalled_endpoint_is_given_up_on_and_named() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let proxy = proxy();
    proxy.on("BatchGetImage", None, Fault::Hang(Duration::from_secs(30)));
    let start = Instant::now();
    let out = run_at(
        &proxy.endpoint(),
        &[
            "deploy",
            &uri(&repo, ":v1"),
            "--function",
            &function,
            "--read-timeout",
            "2",
            "--output",
            "json",
        ],
    );
    let took = start.elapsed();
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let error = &json(&out)["error"];
    assert_eq!(error["kind"], "timeout", "{error}");
    assert!(
        error["hint"].as_str().unwrap().contains(&proxy.endpoint()),
        "{error}"
    );
    // Exactly two attempts (the default --max-attempts is 3): the call's timeout, not
    // the attempts, ended it.
    assert_eq!(
        proxy.counts().get("BatchGetImage").copied(),
        Some(2),
        "{:?}",
        proxy.log()
    );
    // 4 s for the call, and the binary's start and its other reads: well under the
    // 6 s three attempts take.
    assert!(took < Duration::from_millis(5500), "{took:?}");
}
