//! Releases end to end against the emulator (updates take time there): a version
//! published and an alias moved by `deploy --alias`, and moved back by `rollback`.

mod support;

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::*;

fn alias_of(report: &Value) -> (Value, Value, Value) {
    let alias = &report["alias"];
    (
        alias["version"].clone(),
        alias["previous_version"].clone(),
        alias["created"].clone(),
    )
}

async fn alias_version(function: &str, name: &str) -> String {
    lambda()
        .await
        .get_alias()
        .function_name(function)
        .name(name)
        .send()
        .await
        .unwrap()
        .function_version()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn deploy_alias_creates_then_keeps_then_moves_the_alias() {
    let (repo, function, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let target = case.child("image-amd64.json").digest.clone();

    // A dry run says what would be published and created, and writes nothing.
    let out = deploy(
        &uri(&repo, ":v1"),
        &function,
        &["--alias", "live", "--dry-run"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "planned");
    assert_eq!(
        alias_of(&report),
        (Value::Null, Value::Null, Value::from(true))
    );
    assert_eq!(lambda_reads(&function)["update_function_code"], 0);

    // Created, pointing at the version the update published.
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "successful");
    assert_eq!(report["update"]["version"], "1");
    assert_eq!(
        alias_of(&report),
        (Value::from("1"), Value::Null, Value::from(true))
    );
    assert_eq!(alias_version(&function, "live").await, "1");

    // Again: the alias already runs the target; nothing is written.
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "unchanged");
    assert_eq!(
        alias_of(&report),
        (Value::from("1"), Value::from("1"), Value::from(false))
    );
    assert_eq!(lambda_reads(&function)["update_function_code"], 1);

    // Another alias for the code $LATEST already runs: version 1 is reused, no update.
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "canary"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "unchanged");
    assert_eq!(
        alias_of(&report),
        (Value::from("1"), Value::Null, Value::from(true))
    );

    // A new image: published as version 2, the alias moved there.
    let base = load_case("docker-v2").root.digest;
    let out = deploy(&uri(&repo, ":base"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        alias_of(&report),
        (Value::from("2"), Value::from("1"), Value::from(false))
    );
    assert_eq!(alias_version(&function, "live").await, "2");
    assert_runs(&function, &base).await;
    // Version 1 keeps the first image.
    let (_, v1) = version_image(&function, Some("1")).await;
    assert!(v1.unwrap().ends_with(&target));

    // Rolled back: the newest earlier version with another image.
    let rollback = |extra: &[&str]| {
        let mut args = vec![
            "rollback",
            "--function",
            function.as_str(),
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let out = rollback(&["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["from"]["version"], "2");
    assert!(
        report["from"]["image_uri"]
            .as_str()
            .unwrap()
            .ends_with(&base)
    );
    assert_eq!(report["to"]["version"], "1");
    assert!(
        report["to"]["image_uri"]
            .as_str()
            .unwrap()
            .ends_with(&target)
    );
    assert_eq!(report["update"], Value::Null);
    assert_eq!(alias_version(&function, "live").await, "1");

    // And forward again, to an explicit version; a dry run first moves nothing.
    let out = rollback(&["--alias", "live", "--to", "2", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(alias_version(&function, "live").await, "1");
    let out = rollback(&["--alias", "live", "--to", "2"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(alias_version(&function, "live").await, "2");

    // Without an alias: $LATEST (the base image) back to version 1's image, by digest,
    // waited for.
    let out = rollback(&[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["to"]["version"], "1");
    assert_eq!(report["update"]["status"], "successful");
    assert!(report["update"]["polls"].as_u64().unwrap() >= 1);
    assert_runs(&function, &target).await;

    // Version 1's image deleted from ECR: it cannot run, so nothing is moved.
    ecr()
        .await
        .batch_delete_image()
        .repository_name(&repo)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&target)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = rollback(&["--alias", "live", "--to", "1"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let reason = json(&out)["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("ImageDeleted"), "{reason}");
    assert_eq!(alias_version(&function, "live").await, "2");

    // Nothing older with another image: exit 1, with the reason.
    let out = rollback(&["--alias", "canary"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        json(&out)["reason"]
            .as_str()
            .unwrap()
            .contains("nothing to roll back to")
    );
}

async fn function_with_command(repo: &str, arch: Architecture, command: Option<&str>) -> String {
    let name = unique("fn");
    create_function_with(&name, &uri(repo, ":base"), arch, command).await;
    name
}

async fn command_of(function: &str) -> Option<Vec<String>> {
    lambda()
        .await
        .get_function()
        .function_name(function)
        .send()
        .await
        .unwrap()
        .configuration()
        .and_then(|c| c.image_config_response())
        .and_then(|r| r.image_config())
        .map(|i| i.command().to_vec())
}

#[tokio::test]
async fn one_multi_platform_index_serves_functions_of_both_architectures() {
    let repo = unique("multi");
    let case = load_case("buildx-multi");
    create_repository(&repo, false).await;
    seed(&repo, "v7", &case).await;
    seed_manifest(&repo, Some("base"), &load_case("docker-v2"), "root.json").await;
    let x86 = function_with_command(&repo, Architecture::X8664, Some("app.web")).await;
    let arm = function_with_command(&repo, Architecture::Arm64, Some("app.worker")).await;
    let proxy = proxy();
    let out = deploy_all_at(&proxy.endpoint(), &uri(&repo, ":v7"), &[&x86, &arm], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    let deployments = report["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 2);
    assert_eq!(
        report["function"],
        Value::Null,
        "several functions: see deployments"
    );
    assert_eq!(report["update"], Value::Null);
    let (amd64, arm64) = (
        case.child("image-amd64.json").digest.clone(),
        case.child("image-arm64.json").digest.clone(),
    );
    for (d, name, tag, digest) in [
        (&deployments[0], &x86, "v7-amd64", &amd64),
        (&deployments[1], &arm, "v7-arm64", &arm64),
    ] {
        assert_eq!(d["function"]["name"], name.as_str());
        assert_eq!(d["update"]["status"], "successful", "{d}");
        assert_eq!(d["written_tag"], tag);
        assert!(d["image_uri"].as_str().unwrap().ends_with(digest.as_str()));
        assert_tag(&repo, tag, digest).await;
        assert_runs(name, digest).await;
    }
    // The image was read once: the index, then both platforms' manifests together
    // (new tags are written, so there is no tag to guard). Then two tags and two
    // referrers.
    let count = |op: &str| proxy.log().iter().filter(|o| *o == op).count();
    assert_eq!(count("BatchGetImage"), 2, "{:?}", proxy.log());
    assert_eq!(count("PutImage"), 4, "{:?}", proxy.log());
    assert_eq!(count("UpdateFunctionCode"), 2, "{:?}", proxy.log());
    // Each function keeps its own command.
    assert_eq!(command_of(&x86).await, Some(vec!["app.web".to_owned()]));
    assert_eq!(command_of(&arm).await, Some(vec!["app.worker".to_owned()]));
    // The multi-platform tag still serves its other consumers.
    assert_tag(&repo, "v7", &case.root.digest).await;
}

#[tokio::test]
async fn one_function_of_three_unable_to_run_the_image_stops_every_write() {
    let (repo, first, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let second = function_with_command(&repo, Architecture::X8664, Some("app.other")).await;
    // The index has no arm64 image.
    let third = function_with_command(&repo, Architecture::Arm64, None).await;
    let proxy = proxy();
    let out = deploy_all_at(
        &proxy.endpoint(),
        &uri(&repo, ":v1"),
        &[&first, &second, &third],
        &[],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let deployments = report["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 3);
    for d in &deployments[..2] {
        assert_eq!(d["problems"], serde_json::json!([]), "{d}");
        assert_eq!(d["update"], Value::Null);
    }
    let problems: Vec<&str> = deployments[2]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert!(problems.contains(&"architecture-mismatch"), "{problems:?}");
    let log = proxy.log();
    assert!(
        !log.iter()
            .any(|op| op == "PutImage" || op == "UpdateFunctionCode"),
        "nothing written: {log:?}"
    );
    assert_tag(&repo, "v1", &case.root.digest).await;
}

#[tokio::test]
async fn a_failed_update_moves_no_alias() {
    let (repo, function, _) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    lambda_behaviour(
        &function,
        serde_json::json!({"update_seconds": 1.0, "outcome": "Failed", "reason_code": "InvalidImage"}),
    );
    let out = deploy(&uri(&repo, ":v1"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "failed");
    assert_eq!(report["alias"]["status"], "not-moved");
    assert_eq!(report["alias"]["version"], Value::Null);
    let alias = lambda()
        .await
        .get_alias()
        .function_name(&function)
        .name("live")
        .send()
        .await;
    assert!(
        alias
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "the alias was not created: {alias:?}"
    );
    // The text says why: the update, not the release.
    let out = run(&[
        "deploy",
        &uri(&repo, ":v1"),
        "--function",
        &function,
        "--alias",
        "live",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains("alias:     live not created: the update did not succeed"),
        "{text}"
    );
}
