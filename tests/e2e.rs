//! End to end: the built binary against a real local AWS emulator (moto server).

mod support;

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::*;

fn codes(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_owned())
        .collect()
}

/// A repository with a buildx case under `tag` and a ready image under `base`, and
/// a function created from `base`.
async fn buildx_setup(case: &str, tag: &str, arch: Architecture) -> (String, String, Case) {
    let repo = unique("app");
    let function = unique("fn");
    let fixture = load_case(case);
    create_repository(&repo, false).await;
    seed(&repo, tag, &fixture).await;
    put(&repo, Some("base"), &load_case("docker-v2").root).await;
    create_function(&function, &uri(&repo, ":base"), arch).await;
    (repo, function, fixture)
}

#[tokio::test]
async fn buildx_tag_check_fix_check_deploy_and_deploy_again() {
    let (repo, function, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let image = uri(&repo, ":v1");
    let target = case.child("image-amd64.json");

    // check: an index is not accepted, but fix can make it so.
    let out = run(&["check", &image, "--output", "json"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["lambda_ready"], false);
    assert_eq!(report["fixable"], true);
    assert_eq!(codes(&report["problems"]), ["image-index"]);
    assert_eq!(report["digest"], case.root.digest.as_str());
    assert_eq!(
        report["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert_eq!(report["registry_id"], ACCOUNT);
    assert_eq!(report["region"], REGION);
    assert_eq!(report["repository"], repo.as_str());
    assert_eq!(report["tag"], "v1");
    assert_eq!(report["image"], image.as_str());
    assert_eq!(report["target"]["digest"], target.digest.as_str());
    assert_eq!(report["target"]["platform"], "linux/amd64");
    let roles: Vec<&str> = report["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["image", "attestation"]);

    // fix: the tag now names the platform manifest, byte for byte.
    let out = run(&["fix", &image, "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["action"], "retagged");
    assert_eq!(report["written_tag"], "v1");
    assert_eq!(
        tag_digest(&repo, "v1").await.as_deref(),
        Some(target.digest.as_str())
    );
    assert_eq!(manifest_bytes(&repo, &target.digest).await, target.bytes);

    // check again: ready as it is.
    let out = run(&["check", &image, "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["lambda_ready"], true);
    assert_eq!(report["manifests"], Value::Array(vec![]));

    // deploy: by digest, successful.
    let out = run(&[
        "deploy",
        &image,
        "--function",
        &function,
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["action"], "already-ready");
    assert_eq!(
        report["image_uri"],
        uri(&repo, &format!("@{}", target.digest)).as_str()
    );
    assert_eq!(report["update"]["status"], "successful");
    assert_eq!(report["function"]["name"], function.as_str());
    assert_eq!(
        report["function"]["architectures"],
        serde_json::json!(["x86_64"])
    );
    let (_, resolved) = function_image(&function).await;
    assert!(resolved.unwrap().ends_with(&target.digest));

    // deploy again: nothing to do.
    let out = run(&[
        "deploy",
        &image,
        "--function",
        &function,
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["update"]["status"], "unchanged");
}

#[tokio::test]
async fn deploy_fixes_and_deploys_in_one_run() {
    let (repo, function, case) = buildx_setup("buildx-single", "v2", Architecture::X8664).await;
    let target = case.child("image-amd64.json");
    let out = run(&[
        "deploy",
        &uri(&repo, ":v2"),
        "--function",
        &function,
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["action"], "retagged");
    assert_eq!(report["written_tag"], "v2");
    assert_eq!(report["update"]["status"], "successful");
    assert_eq!(
        tag_digest(&repo, "v2").await.as_deref(),
        Some(target.digest.as_str())
    );
    let (_, resolved) = function_image(&function).await;
    assert!(resolved.unwrap().ends_with(&target.digest));
}
