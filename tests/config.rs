//! What Lambda will run, read from the image's config blob (GetDownloadUrlForLayer,
//! then the GET of its pre-signed URL), end to end against the emulator, whose blobs
//! are real: pushed through ECR's layer-upload calls, as buildx pushes them.

mod support;

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::proxy::Fault;
use support::*;

/// A repository holding `case` under `v1` and a ready base image, and a function of
/// `arch` created from the base, optionally with its own command: (repo, function).
async fn setup(case: &Case, arch: Architecture, command: Option<&str>) -> (String, String) {
    let repo = unique("cfg");
    let function = unique("fn");
    create_repository(&repo, false).await;
    seed(&repo, "v1", case).await;
    seed_manifest(&repo, Some("base"), &load_case("docker-v2"), "root.json").await;
    create_function_with(&function, &uri(&repo, ":base"), arch, command).await;
    (repo, function)
}

fn codes(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

fn count(proxy: &proxy::Proxy, operation: &str) -> usize {
    proxy.log().iter().filter(|op| *op == operation).count()
}

#[tokio::test]
async fn an_arm64_single_manifest_is_refused_for_an_x86_64_function_and_nothing_is_written() {
    let case = load_case("arm64-single");
    let (repo, function) = setup(&case, Architecture::X8664, None).await;
    let proxy = proxy();
    let out = deploy_at(&proxy.endpoint(), &uri(&repo, ":v1"), &function, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(codes(&report["problems"]), ["architecture-mismatch"]);
    assert_eq!(report["config"]["architecture"], "arm64");
    assert_eq!(report["config"]["variant"], "v8");
    assert_eq!(report["update"], Value::Null);
    assert_eq!(
        count(&proxy, "PutImage") + count(&proxy, "UpdateFunctionCode"),
        0
    );
    assert_eq!(count(&proxy, "GetBlob"), 1, "{:?}", proxy.log());
    let (_, running) = function_image(&function).await;
    assert!(
        running
            .unwrap()
            .ends_with(&load_case("docker-v2").root.digest)
    );

    // Without a function, check says what the image is, in one line of text.
    let out = run(&["check", &uri(&repo, ":v1")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(r#"config:    linux/arm64/v8, entrypoint ["/lambda-entrypoint.sh"], cmd ["app.handler"], workdir /var/task"#),
        "{text}"
    );
}

#[tokio::test]
async fn an_index_entry_lying_about_its_platform_is_not_fixed() {
    let case = load_case("lying-index");
    let (repo, function) = setup(&case, Architecture::X8664, None).await;
    let proxy = proxy();
    let out = deploy_at(&proxy.endpoint(), &uri(&repo, ":v1"), &function, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        codes(&report["problems"]),
        ["image-index", "platform-mismatch"]
    );
    assert_eq!(report["fixable"], false);
    assert_eq!(count(&proxy, "PutImage"), 0);
    assert_tag(&repo, "v1", &case.root.digest).await;
}

#[tokio::test]
async fn an_image_without_entry_point_needs_a_function_that_sets_one() {
    let case = load_case("no-entrypoint");
    // The function sets no command: refused, nothing written.
    let (repo, function) = setup(&case, Architecture::X8664, None).await;
    let out = deploy(&uri(&repo, ":v1"), &function, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(codes(&json(&out)["problems"]), ["no-entrypoint"]);
    assert_eq!(lambda_reads(&function)["update_function_code"], 0);

    // The function sets its own command: deployed, and its command left as it is.
    let (repo, function) = setup(&case, Architecture::X8664, Some("app.other")).await;
    let out = deploy(&uri(&repo, ":v1"), &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "successful");
    assert_eq!(report["config"]["cmd"], Value::Null);
    let config = lambda()
        .await
        .get_function()
        .function_name(&function)
        .send()
        .await
        .unwrap();
    let command = config
        .configuration()
        .and_then(|c| c.image_config_response())
        .and_then(|r| r.image_config())
        .map(|i| i.command().to_vec());
    assert_eq!(command, Some(vec!["app.other".to_owned()]));
}

#[tokio::test]
async fn a_config_blob_whose_bytes_do_not_match_its_digest_stops_the_deploy() {
    let case = load_case("buildx-single");
    let (repo, function) = setup(&case, Architecture::X8664, None).await;
    let proxy = proxy();
    // Same length, other bytes: the size passes, the digest does not.
    proxy.on(
        "GetBlob",
        None,
        Fault::Rewrite {
            from: "app.handler".into(),
            to: "app.handlex".into(),
        },
    );
    let out = deploy_at(&proxy.endpoint(), &uri(&repo, ":v1"), &function, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        codes(&report["problems"]),
        ["image-index", "digest-mismatch"]
    );
    assert_eq!(count(&proxy, "PutImage"), 0);
    assert_tag(&repo, "v1", &case.root.digest).await;
}

#[tokio::test]
async fn get_download_url_denied_is_a_warning_that_names_the_permission() {
    let case = load_case("docker-v2");
    let (repo, function) = setup(&case, Architecture::X8664, None).await;
    let proxy = proxy();
    proxy.on(
        "GetDownloadUrlForLayer",
        None,
        Fault::Respond {
            status: 400,
            body: r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecr:GetDownloadUrlForLayer"}"#.into(),
        },
    );
    let out = run_at(
        &proxy.endpoint(),
        &[
            "check",
            &uri(&repo, ":v1"),
            "--function",
            &function,
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        codes(&report["warnings"]),
        ["architecture-unverified", "config-unreadable"]
    );
    assert!(
        report["warnings"][1]["message"]
            .as_str()
            .unwrap()
            .contains("ecr:GetDownloadUrlForLayer")
    );
    assert_eq!(report["config"], Value::Null);
}

#[tokio::test]
async fn the_pre_signed_url_appears_in_no_output_at_the_highest_verbosity() {
    let case = load_case("buildx-single");
    let (repo, function) = setup(&case, Architecture::X8664, None).await;
    let proxy = proxy();
    let out = run_at(
        &proxy.endpoint(),
        &["deploy", &uri(&repo, ":v1"), "--function", &function, "-vv"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(count(&proxy, "GetBlob"), 1, "the blob was read");
    let everything = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        everything.contains("GetDownloadUrlForLayer"),
        "the call itself is logged"
    );
    assert!(
        !everything.contains("/_emulator/blobs/"),
        "a download URL was printed"
    );
    // RUST_LOG=trace asks for every event of every crate: still no URL.
    let out = command_at(
        &proxy.endpoint(),
        &["check", &uri(&repo, ":v1"), "--function", &function],
    )
    .env("RUST_LOG", "trace")
    .output()
    .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // check reads the config and the attestation's statement.
    assert_eq!(count(&proxy, "GetBlob"), 3);
    let everything = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(everything.contains("GetDownloadUrlForLayer"));
    assert!(
        !everything.contains("/_emulator/blobs/"),
        "a download URL was printed at RUST_LOG=trace"
    );
}

#[tokio::test]
async fn scan_fix_reads_the_config_before_writing_and_leaves_a_lying_index_alone() {
    let case = load_case("lying-index");
    let (repo, _) = setup(&case, Architecture::X8664, None).await;
    let out = run(&[
        "scan",
        "--repository",
        &repo,
        "--fix",
        "--yes",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let fixed = report["fixed"].as_array().unwrap();
    assert_eq!(fixed.len(), 1, "{report}");
    assert_eq!(fixed[0]["action"], Value::Null);
    let refused = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["problems"] == serde_json::json!(["platform-mismatch"]))
        .expect("the refusal is a finding");
    assert_eq!(refused["fixable"], false);
    assert_tag(&repo, "v1", &case.root.digest).await;
}
