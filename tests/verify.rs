//! Verifying provenance before Lambda runs the image, against the emulator: the
//! statement in both layouts, requirements met and unmet (nothing written), ECR's
//! signing status, and what the alias records.

mod support;

use aws_sdk_lambda::types::Architecture;
use serde_json::{Value, json};
use support::*;

const SOURCE: &str = "https://github.com/example/lambda-fn";
const REVISION: &str = "3f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e";
const BUILDER: &str = "https://github.com/example/lambda-fn/actions/runs/";
const PROFILE: &str = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ci";

fn problem_codes(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap().to_owned())
        .collect()
}

fn signing(repo: &str, digest: &str, answers: Value) {
    emulator(
        "POST",
        "/_emulator/ecr/signing",
        json!({"repository": repo, "digest": digest, "answers": answers}),
    );
}

#[tokio::test]
async fn deploy_pinned_to_source_and_revision_passes_and_the_alias_records_it() {
    let (repo, function, case) = buildx_setup("provenance-index", "v1", Architecture::X8664).await;
    let target = case.child("image-amd64.json");
    let out = deploy(
        &uri(&repo, ":v1"),
        &function,
        &[
            "--provenance-source",
            &format!("{SOURCE}.git"),
            "--provenance-revision",
            REVISION,
            "--provenance-builder",
            BUILDER,
            "--alias",
            "live",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let statement = &report["provenance"][0]["statement"];
    assert_eq!(statement["subject_matches"], true);
    assert_eq!(statement["source"], SOURCE);
    assert_eq!(statement["revision"], REVISION);
    assert_eq!(
        statement["predicate_type"],
        "https://slsa.dev/provenance/v0.2"
    );
    assert!(
        statement["builder_id"]
            .as_str()
            .unwrap()
            .starts_with(BUILDER)
    );
    assert_eq!(report["verification"]["passed"], true);
    assert_runs(&function, &target.digest).await;
    // The alias says what runs, and where it was built from.
    let alias = lambda()
        .await
        .get_alias()
        .function_name(&function)
        .name("live")
        .send()
        .await
        .unwrap();
    let expected = format!(
        "{} from github.com/example/lambda-fn@{} (ecr-lambda)",
        &target.digest[..19],
        &REVISION[..12]
    );
    assert_eq!(alias.description(), Some(expected.as_str()));
    // release status shows it.
    let out = run(&[
        "release",
        "status",
        "--function",
        &function,
        "--alias",
        "live",
        "--output",
        "json",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&expected),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn a_wrong_revision_writes_nothing_and_exits_1() {
    let (repo, function, case) = buildx_setup("provenance-index", "v1", Architecture::X8664).await;
    let proxy = proxy();
    let out = deploy_at(
        &proxy.endpoint(),
        &uri(&repo, ":v1"),
        &function,
        &[
            "--provenance-source",
            SOURCE,
            "--provenance-revision",
            "0123456789ab",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert!(problem_codes(&report).contains(&"provenance-mismatch".to_owned()));
    let fields = report["verification"]["fields"].as_array().unwrap();
    let revision = fields.iter().find(|f| f["field"] == "revision").unwrap();
    assert_eq!(
        (&revision["expected"], &revision["found"], &revision["ok"]),
        (&json!("0123456789ab"), &json!(REVISION), &json!(false))
    );
    let counts = proxy.counts();
    assert_eq!(counts.get("PutImage"), None, "{counts:?}");
    assert_eq!(counts.get("UpdateFunctionCode"), None, "{counts:?}");
    assert_tag(&repo, "v1", &case.root.digest).await;
    assert_eq!(lambda_reads(&function)["update_function_code"], 0);
}

#[tokio::test]
async fn no_attestation_with_require_provenance_exits_1() {
    let repo = unique("app");
    create_repository(&repo, false).await;
    seed_manifest(&repo, Some("v1"), &load_case("docker-v2"), "root.json").await;
    let out = run(&[
        "check",
        &uri(&repo, ":v1"),
        "--require-provenance",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(problem_codes(&json(&out)), ["provenance-missing"]);
    // Without the requirement the same image is ready.
    let out = run(&["check", &uri(&repo, ":v1"), "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[tokio::test]
async fn after_fix_the_referrer_layout_still_verifies() {
    let (repo, _, case) = buildx_setup("provenance-index", "v1", Architecture::X8664).await;
    let out = run(&["fix", &uri(&repo, ":v1"), "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_tag(&repo, "v1", &case.child("image-amd64.json").digest).await;
    // The tag names the image itself now; its attestation is a referrer.
    let out = run(&[
        "check",
        &uri(&repo, ":v1"),
        "--provenance-source",
        SOURCE,
        "--provenance-revision",
        &REVISION[..12],
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("built from {SOURCE}@{}", &REVISION[..12])),
        "{text}"
    );
    assert!(text.contains("referrer of the target"), "{text}");
    assert!(
        text.contains(
            "required:  met: the registry holds a statement about the target whose source \
             and revision are as required (who wrote it is not checked)"
        ),
        "{text}"
    );
    assert!(!text.contains("verified"), "{text}");
}

#[tokio::test]
async fn the_newer_layout_verifies_its_slsa_v1_statement() {
    let (repo, function, _) = buildx_setup("provenance-referrer", "v1", Architecture::Arm64).await;
    let out = deploy(
        &uri(&repo, ":v1"),
        &function,
        &[
            "--provenance-builder",
            BUILDER,
            "--provenance-revision",
            REVISION,
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let statements: Vec<&Value> = report["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["statement"])
        .collect();
    assert_eq!(
        statements.len(),
        1,
        "one attestation, found in both layouts"
    );
    assert_eq!(
        statements[0]["predicate_type"],
        "https://slsa.dev/provenance/v1"
    );
}

#[tokio::test]
async fn a_statement_about_another_image_does_not_count() {
    let (repo, _, _) = buildx_setup("provenance-other-subject", "v1", Architecture::X8664).await;
    let out = run(&[
        "check",
        &uri(&repo, ":v1"),
        "--require-provenance",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert!(problem_codes(&report).contains(&"provenance-missing".to_owned()));
    assert_eq!(
        report["provenance"][0]["statement"]["subject_matches"],
        false
    );
}

#[tokio::test]
async fn an_oversize_statement_is_never_asked_for() {
    let (repo, _, _) = buildx_setup("provenance-oversize", "v1", Architecture::X8664).await;
    let proxy = proxy();
    let out = run_at(
        &proxy.endpoint(),
        &[
            "check",
            &uri(&repo, ":v1"),
            "--require-provenance",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert!(problem_codes(&report).contains(&"provenance-unreadable".to_owned()));
    assert!(
        report["provenance"][0]["error"]
            .as_str()
            .unwrap()
            .contains("more than the 8388608 ecr-lambda reads")
    );
    // One GetDownloadUrlForLayer: the config's. None for the statement.
    assert_eq!(proxy.counts().get("GetDownloadUrlForLayer"), Some(&1));
}

#[tokio::test]
async fn a_statement_whose_bytes_are_not_what_its_descriptor_names_is_unreadable() {
    let (repo, function, _) =
        buildx_setup("provenance-wrong-size", "v1", Architecture::X8664).await;
    let out = deploy(&uri(&repo, ":v1"), &function, &["--require-provenance"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert!(problem_codes(&report).contains(&"provenance-unreadable".to_owned()));
    let error = report["provenance"][0]["error"].as_str().unwrap();
    assert!(error.contains("not what the descriptor names"), "{error}");
    assert_eq!(lambda_reads(&function)["update_function_code"], 0);
}

#[tokio::test]
async fn require_signed_complete_passes() {
    let (repo, function, case) = buildx_setup("provenance-index", "v1", Architecture::X8664).await;
    let target = &case.child("image-amd64.json").digest;
    signing(
        &repo,
        target,
        json!([[{"signingProfileArn": PROFILE, "status": "COMPLETE"}]]),
    );
    let out = deploy(&uri(&repo, ":v1"), &function, &["--require-signed"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let signing = &json(&out)["verification"]["signing"];
    assert_eq!(signing["complete"], true);
    assert_eq!(signing["statuses"][0]["status"], "COMPLETE");
    assert_eq!(signing["polls"], 1);
    assert_runs(&function, target).await;
}

#[tokio::test]
async fn require_signed_waits_for_in_progress_then_complete() {
    let (repo, function, case) = buildx_setup("provenance-index", "v1", Architecture::X8664).await;
    let target = &case.child("image-amd64.json").digest;
    signing(
        &repo,
        target,
        json!([
            [{"signingProfileArn": PROFILE, "status": "IN_PROGRESS"}],
            [{"signingProfileArn": PROFILE, "status": "COMPLETE"}]
        ]),
    );
    let out = deploy(&uri(&repo, ":v1"), &function, &["--require-signed"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let signing = &json(&out)["verification"]["signing"];
    assert_eq!(
        (&signing["complete"], &signing["polls"]),
        (&json!(true), &json!(2))
    );
    assert_runs(&function, target).await;
}

#[tokio::test]
async fn require_signed_failed_writes_nothing_and_gives_ecrs_reason() {
    let (repo, function, case) = buildx_setup("provenance-index", "v1", Architecture::X8664).await;
    let target = &case.child("image-amd64.json").digest;
    signing(
        &repo,
        target,
        json!([[{"signingProfileArn": PROFILE, "status": "FAILED",
                 "failureCode": "SigningFailed", "failureReason": "The signing profile is revoked"}]]),
    );
    let proxy = proxy();
    let out = deploy_at(
        &proxy.endpoint(),
        &uri(&repo, ":v1"),
        &function,
        &["--require-signed"],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let problem = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "not-signed")
        .expect("not-signed");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains("FAILED (SigningFailed: The signing profile is revoked)"),
        "{message}"
    );
    assert_eq!(proxy.counts().get("PutImage"), None);
    assert_tag(&repo, "v1", &case.root.digest).await;
    assert_eq!(lambda_reads(&function)["update_function_code"], 0);
}

#[tokio::test]
async fn an_unsigned_image_is_not_signed() {
    let (repo, _, _) = buildx_setup("provenance-index", "v1", Architecture::X8664).await;
    let out = run(&[
        "check",
        &uri(&repo, ":v1"),
        "--require-signed",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert!(problem_codes(&report).contains(&"not-signed".to_owned()));
}
