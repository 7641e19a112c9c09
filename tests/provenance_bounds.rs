//! Bounds on the provenance read, which anyone who can push can inflate: at most 32
//! referrers considered, at most 32 MiB of statements read (by their descriptors),
//! and a warning saying what was left unread. Against the emulator, counted by the
//! proxy (what went over the wire). (At most 4 statements at once: the unit test of
//! `join_all` in src/ops/provenance.rs.)

mod support;

use serde_json::Value;
use support::*;

/// `REPO:v1`, the arm64 image of `provenance-referrer`, with an attestation referrer
/// for each of `sizes`: its statement's descriptor declares that size, and names a
/// blob the repository does not have (nothing is downloaded; each read is one
/// GetDownloadUrlForLayer). ECR would refuse such an attestation
/// (`LayersNotFoundException`): the repository is opted out of the emulator's refusal
/// (FIDELITY.md E19) to hold it, as a registry that lost the blobs.
async fn image_with_referrers(sizes: &[u64]) -> String {
    let repo = unique("bounds");
    create_repository(&repo, false).await;
    allow_missing(&repo);
    let case = load_case("provenance-referrer");
    seed_manifest(&repo, Some("v1"), &case, "image-arm64.json").await;
    let intoto = case.blob("intoto-arm64.json");
    let template = &case.child("attestation-arm64.json").bytes;
    for (i, size) in sizes.iter().enumerate() {
        let attestation = template
            .replace(&intoto.digest, &format!("sha256:{:064x}", i + 1))
            .replace(
                &format!("\"size\":{}", intoto.bytes.len()),
                &format!("\"size\":{size}"),
            );
        put(
            &repo,
            None,
            &Manifest {
                digest: sha256(attestation.as_bytes()),
                bytes: attestation,
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            },
        )
        .await;
    }
    repo
}

fn warnings(report: &Value) -> Vec<String> {
    report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{}: {}",
                w["code"].as_str().unwrap(),
                w["message"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn at_most_32_referrers_are_considered_and_the_rest_is_named() {
    let repo = image_with_referrers(&[1329; 40]).await;
    let proxy = proxy();
    let out = run_at(
        &proxy.endpoint(),
        &["check", &uri(&repo, ":v1"), "--output", "json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["provenance"].as_array().unwrap().len(), 32);
    let counts = proxy.counts();
    // The statements of the 32 considered, and the config.
    assert_eq!(counts["GetDownloadUrlForLayer"], 32 + 1, "{counts:?}");
    assert_eq!(counts["ListImageReferrers"], 1, "{counts:?}");
    let warned = warnings(&report);
    assert!(
        warned.iter().any(|w| w.starts_with(
            "provenance-unknown: the target has more than 32 referrers: only the first 32"
        )),
        "{warned:?}"
    );
}

#[tokio::test]
async fn at_most_32_mib_of_statements_are_read_and_the_rest_is_named() {
    let mib = 1024 * 1024;
    let repo = image_with_referrers(&[8 * mib; 5]).await;
    let proxy = proxy();
    let out = run_at(
        &proxy.endpoint(),
        &["check", &uri(&repo, ":v1"), "--output", "json"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let provenance = report["provenance"].as_array().unwrap();
    assert_eq!(provenance.len(), 5);
    let unread: Vec<&Value> = provenance
        .iter()
        .filter(|p| {
            p["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("not read: ecr-lambda reads at most 32 MiB"))
        })
        .collect();
    assert_eq!(unread.len(), 1, "{provenance:?}");
    // Four statements asked for (8 MiB each: 32 MiB), and the config; not the fifth.
    assert_eq!(proxy.counts()["GetDownloadUrlForLayer"], 4 + 1);
    let warned = warnings(&report);
    let digest = unread[0]["digest"].as_str().unwrap();
    assert!(
        warned.iter().any(|w| w
            .starts_with("provenance-unknown: the statements of 1 attestation(s) were not read")
            && w.contains(digest)),
        "{warned:?}"
    );
}
