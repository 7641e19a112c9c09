//! Keeping the provenance: a fixed tag must not strand what BuildKit attested.
//! Both layouts (classic, index-only; newer, already a referrer), against the emulator.

mod support;

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::proxy::Fault;
use support::*;

fn provenance(report: &Value) -> Vec<(String, Vec<String>, String)> {
    report["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["digest"].as_str().unwrap().to_owned(),
                p["predicate_types"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect(),
                p["linked"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The referrer as stored, checked against the attestation it was made from.
async fn assert_referrer(repo: &str, digest: &str, attestation: &Manifest, subject: &Manifest) {
    let bytes = manifest_bytes(repo, digest).await;
    assert_eq!(
        sha256(bytes.as_bytes()),
        digest,
        "the digest is sha256 of the bytes"
    );
    let written: Value = serde_json::from_str(&bytes).unwrap();
    let original: Value = serde_json::from_str(&attestation.bytes).unwrap();
    assert_eq!(written["subject"]["digest"], subject.digest.as_str());
    assert_eq!(written["subject"]["size"], subject.bytes.len());
    assert_eq!(written["subject"]["mediaType"], subject.media_type.as_str());
    assert_eq!(
        written["artifactType"],
        "application/vnd.docker.attestation.manifest.v1+json"
    );
    assert_eq!(written["layers"], original["layers"]);
    assert_eq!(written["config"], original["config"]);
    assert_eq!(
        written["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
}

#[tokio::test]
async fn classic_layout_attestation_is_reported_index_only_and_kept_as_a_referrer() {
    let (repo, function, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let target = case.child("image-amd64.json");
    let attestation = case.child("attestation-amd64.json");
    let image = uri(&repo, ":v1");

    let out = run(&["check", &image, "--output", "json"]);
    assert_eq!(
        provenance(&json(&out)),
        [(
            attestation.digest.clone(),
            vec!["https://slsa.dev/provenance/v0.2".to_owned()],
            "index-only".to_owned()
        )]
    );

    // Dry run: listed, not written.
    let out = run(&["fix", &image, "--dry-run", "--output", "json"]);
    let planned = json(&out)["provenance_written"].clone();
    assert_eq!(planned.as_array().unwrap().len(), 1);
    let referrer = planned[0].as_str().unwrap().to_owned();
    assert_tag(&repo, "v1", &case.root.digest).await;

    let out = deploy(&image, &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["provenance_written"], serde_json::json!([referrer]));
    assert_referrer(&repo, &referrer, attestation, target).await;
    // The tag is a single manifest now: check finds the attestation through
    // ListImageReferrers, as a referrer of what it names.
    let out = run(&["check", &image, "--output", "json"]);
    let checked = json(&out);
    assert_eq!(
        provenance(&checked),
        [(
            referrer.clone(),
            vec!["https://slsa.dev/provenance/v0.2".to_owned()],
            "referrer".to_owned()
        )]
    );
    // No warning: the statement blob was pushed with the attestation (as buildx
    // pushes it, and as ECR requires), so check reads what it says through the
    // referrer: the image it names, and where it was built from.
    let warnings: Vec<&str> = checked["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert!(warnings.is_empty(), "{checked}");
    let statement = &checked["provenance"][0]["statement"];
    assert_eq!(statement["subject_matches"], true, "{checked}");
    assert_eq!(
        statement["source"], "https://github.com/example/lambda-fn",
        "{checked}"
    );
    // The deployed digest is the referrer's subject: reachable from it.
    assert!(
        report["image_uri"]
            .as_str()
            .unwrap()
            .ends_with(&target.digest)
    );

    // Fixing again writes nothing more (the index is now untagged; fix by its digest).
    let out = run(&[
        "fix",
        &uri(&repo, &format!("@{}", case.root.digest)),
        "--tag",
        "v1",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // A second untagged put of the same manifest: ECR may answer
    // ImageAlreadyExistsException (nothing written) or accept it again, as the
    // emulator does (not verified against a live account). Either way it is the same
    // manifest, byte for byte: nothing new appears in the repository.
    let again = json(&out)["provenance_written"].clone();
    assert!(
        again == serde_json::json!([]) || again == serde_json::json!([referrer]),
        "{again}"
    );
    let listed = ecr()
        .await
        .list_images()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
    let digests: std::collections::BTreeSet<&str> = listed
        .image_ids()
        .iter()
        .filter_map(|id| id.image_digest())
        .collect();
    // base, index, image, attestation, referrer
    assert_eq!(digests.len(), 5, "{digests:?}");
}

#[tokio::test]
async fn newer_layout_attestation_is_already_a_referrer_and_nothing_is_written() {
    let (repo, function, case) = buildx_setup("buildx-referrer", "v1", Architecture::Arm64).await;
    let target = case.child("image-arm64.json");
    let attestation = case.child("attestation-arm64.json");
    let image = uri(&repo, ":v1");

    let proxy = proxy();
    let out = deploy_at(&proxy.endpoint(), &image, &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        provenance(&report),
        [(
            attestation.digest.clone(),
            vec!["https://slsa.dev/provenance/v1".to_owned()],
            "referrer".to_owned()
        )]
    );
    assert_eq!(report["provenance_written"], serde_json::json!([]));
    // Only the tag was written.
    assert_eq!(proxy.counts()["PutImage"], 1);
    // The attestation BuildKit wrote names the deployed image as its subject.
    let stored: Value =
        serde_json::from_str(&manifest_bytes(&repo, &attestation.digest).await).unwrap();
    assert_eq!(stored["subject"]["digest"], target.digest.as_str());
    assert!(
        report["image_uri"]
            .as_str()
            .unwrap()
            .ends_with(&target.digest)
    );
}

#[tokio::test]
async fn only_the_targets_attestations_are_rewritten() {
    let (repo, function, case) = buildx_setup("buildx-multi", "v7", Architecture::Arm64).await;
    let out = deploy(&uri(&repo, ":v7"), &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let found = provenance(&report);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, case.child("attestation-arm64.json").digest);
    let written = report["provenance_written"].as_array().unwrap();
    assert_eq!(written.len(), 1);
    assert_referrer(
        &repo,
        written[0].as_str().unwrap(),
        case.child("attestation-arm64.json"),
        case.child("image-arm64.json"),
    )
    .await;
    // The amd64 attestation is untouched, still linked by the v7 index, which keeps its tag.
    assert_tag(&repo, "v7", &case.root.digest).await;

    // SBOM and provenance predicates are both reported for amd64.
    let out = run(&[
        "check",
        &uri(&repo, ":v7"),
        "--platform",
        "linux/amd64",
        "--output",
        "json",
    ]);
    let found = provenance(&json(&out));
    assert_eq!(
        found[0].1,
        [
            "https://slsa.dev/provenance/v1",
            "https://spdx.dev/Document"
        ]
    );
}

#[tokio::test]
async fn no_keep_provenance_writes_only_the_tag() {
    let (repo, _, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let proxy = proxy();
    let out = run_at(
        &proxy.endpoint(),
        &[
            "fix",
            &uri(&repo, ":v1"),
            "--no-keep-provenance",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["provenance_written"], serde_json::json!([]));
    assert_eq!(proxy.counts()["PutImage"], 1);
}

#[tokio::test]
async fn a_referrer_that_cannot_be_written_leaves_the_tag_and_a_rerun_writes_what_is_missing() {
    let (repo, _, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let image = uri(&repo, ":v1");
    let attestation = case.child("attestation-amd64.json");
    let proxy = proxy();
    // The referrer is the first PutImage; it fails every time.
    proxy.on("PutImage", Some(1), Fault::Status(500));
    proxy.on("PutImage", Some(2), Fault::Status(500));
    let out = run_at(
        &proxy.endpoint(),
        &["fix", &image, "--max-attempts", "2", "--output", "json"],
    );
    // AWS failed (exit 3), and the report still says what was not kept.
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let report = json(&out);
    let problem = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "provenance-not-kept")
        .expect("provenance-not-kept");
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .contains(&attestation.digest)
    );
    assert_eq!(report["action"], Value::Null);
    assert_tag(&repo, "v1", &case.root.digest).await;

    // The same command again: the referrer and the tag.
    proxy.clear_faults();
    let out = run_at(&proxy.endpoint(), &["fix", &image, "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["action"], "retagged");
    assert_eq!(report["provenance_written"].as_array().unwrap().len(), 1);
    assert_tag(&repo, "v1", &case.child("image-amd64.json").digest).await;
}

#[tokio::test]
async fn a_referrer_that_fails_beside_another_tag_keeps_the_fix_and_a_rerun_completes_it() {
    let (repo, _, case) = buildx_setup("buildx-multi", "v7", Architecture::X8664).await;
    let image = uri(&repo, ":v7");
    let proxy = proxy();
    // Only the referrer (the manifest with a subject) is refused.
    proxy.on(
        "PutImage",
        None,
        Fault::StatusIfBodyHas("subject".into(), 500),
    );
    let out = run_at(
        &proxy.endpoint(),
        &[
            "fix",
            &image,
            "--platform",
            "linux/arm64",
            "--max-attempts",
            "1",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["action"], "retagged");
    assert_eq!(report["written_tag"], "v7-arm64");
    let problem = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "provenance-not-kept")
        .expect("provenance-not-kept");
    let message = problem["message"].as_str().unwrap();
    assert!(
        message.contains(&case.child("attestation-arm64.json").digest),
        "{message}"
    );
    assert!(message.contains("the tag was written"), "{message}");
    let arm = case.child("image-arm64.json");
    assert_tag(&repo, "v7-arm64", &arm.digest).await;

    // v7 still names the index: the same command finds the attestation and keeps it.
    proxy.clear_faults();
    let out = run_at(
        &proxy.endpoint(),
        &[
            "fix",
            &image,
            "--platform",
            "linux/arm64",
            "--output",
            "json",
        ],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let written = json(&out)["provenance_written"].clone();
    assert_eq!(written.as_array().unwrap().len(), 1);
    assert_referrer(
        &repo,
        written[0].as_str().unwrap(),
        case.child("attestation-arm64.json"),
        arm,
    )
    .await;
}
