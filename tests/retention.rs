//! `retain` and `prune` end to end against the emulator (ECR's lifecycle preview,
//! image status, archive and restore: FIDELITY E13-E18).

mod support;

use aws_sdk_lambda::types::Architecture;
use serde_json::{Value, json};
use support::retention::{publish, push_image, tags_of};
use support::*;

/// A repository and a function whose updates end at once.
async fn setup() -> (String, String) {
    let repo = unique("keep");
    let function = unique("fn");
    create_repository(&repo, false).await;
    lambda_behaviour(&function, json!({"update_seconds": 0}));
    (repo, function)
}

async fn put_policy(repo: &str, rules: Value) -> String {
    let text = json!({ "rules": rules }).to_string();
    ecr()
        .await
        .put_lifecycle_policy()
        .repository_name(repo)
        .lifecycle_policy_text(&text)
        .send()
        .await
        .unwrap_or_else(|e| panic!("put the policy of {repo}: {e:?}"));
    text
}

async fn policy_of(repo: &str) -> Value {
    let out = ecr()
        .await
        .get_lifecycle_policy()
        .repository_name(repo)
        .send()
        .await
        .unwrap();
    serde_json::from_str(out.lifecycle_policy_text().unwrap()).unwrap()
}

fn days_ago(days: f64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    now - days * 86400.0
}

fn pushed(repo: &str, digest: &str, days: f64) {
    emulator(
        "POST",
        "/_emulator/ecr/images/times",
        json!({"repository": repo, "digest": digest, "pushed_at": days_ago(days)}),
    );
}

fn ecr_calls(repo: &str) -> Value {
    emulator("GET", "/_emulator/ecr/calls", Value::Null)["by_repository"][repo].clone()
}

fn image<'a>(report: &'a Value, digest: &str) -> &'a Value {
    report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["digest"] == digest)
        .unwrap_or_else(|| panic!("{digest} not in {report:#}"))
}

fn retain(args: &[&str]) -> std::process::Output {
    let mut all = vec!["retain"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--output", "json"]);
    run(&all)
}

/// The common trap: `latest` moves, the image version 1 runs is left untagged, and
/// the "expire untagged" rule would delete it. `--protect` tags it, and the preview
/// then leaves it alone.
#[tokio::test]
async fn an_untagged_rule_after_a_moved_tag_is_found_and_protect_makes_it_safe() {
    let (repo, function) = setup().await;
    let old = push_image(&repo, Some("latest"), "old").await;
    create_function(&function, &uri(&repo, ":latest"), Architecture::X8664).await;
    assert_eq!(publish(&function, &repo, &old).await, "1");
    let new = push_image(&repo, Some("latest"), "new").await;
    assert_eq!(publish(&function, &repo, &new).await, "2");
    pushed(&repo, &old, 10.0);
    put_policy(
        &repo,
        json!([{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}]),
    )
    .await;

    let out = retain(&["--function", &function]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let at_risk = image(&report, &old);
    assert_eq!(at_risk["status"], "at-risk");
    assert_eq!(at_risk["image_status"], "ACTIVE");
    assert_eq!(
        at_risk["risk"],
        json!({"rule_priority": 1, "action": "expire", "via": "image"})
    );
    assert_eq!(at_risk["used_by"], json!([format!("{function}:1")]));
    let safe = image(&report, &new);
    assert_eq!(safe["status"], "safe");
    assert_eq!(
        safe["used_by"],
        json!([format!("{function}:$LATEST"), format!("{function}:2")])
    );
    let pins = &report["functions"][0]["pins"];
    assert_eq!(pins.as_array().unwrap().len(), 3, "{pins:#}");
    assert_eq!(
        pins[1],
        json!({"qualifier": "1", "version": "1", "digest": old, "repository": repo})
    );
    assert_eq!(
        report["repositories"][0]["preview"],
        json!({"images": 1, "in_use": 1})
    );

    // A dry run says what it would tag, and writes nothing.
    let before = ecr_calls(&repo);
    let out = retain(&["--function", &function, "--protect", "--dry-run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let planned: Vec<(String, String)> = report["writes"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap().to_owned(),
                t["result"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(planned.len(), 3, "{planned:?}");
    assert!(planned.iter().all(|(_, r)| r == "planned"));
    let after = ecr_calls(&repo);
    for write in [
        "PutImage",
        "PutLifecyclePolicy",
        "UpdateImageStorageClass",
        "BatchDeleteImage",
    ] {
        assert_eq!(after[write], before[write], "{write} in a dry run");
    }

    let out = retain(&["--function", &function, "--protect"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(image(&report, &old)["status"], "safe");
    assert!(
        report["writes"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["result"] == "written")
    );
    assert_eq!(
        tags_of(&repo, &old).await,
        vec![format!("lambda.{function}.1")]
    );
    assert_eq!(
        tags_of(&repo, &new).await,
        vec![
            format!("lambda.{function}.2"),
            format!("lambda.{function}.latest"),
            "latest".to_owned()
        ]
    );
    // The bytes are the image's own: they still hash to its digest.
    assert_eq!(sha256(manifest_bytes(&repo, &old).await.as_bytes()), old);
    // Again: nothing left to write.
    let out = retain(&["--function", &function, "--protect"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["writes"]["tags"], json!([]));
}

/// A `tagStatus: any` rule selects protected images too: they stay at risk, the
/// report prints the keep rule, and `--protect-policy` puts it first; the rest of
/// the policy stays as it was.
#[tokio::test]
async fn a_count_rule_on_any_image_needs_the_keep_rule() {
    let (repo, function) = setup().await;
    let first = push_image(&repo, Some("v1"), "1").await;
    create_function(&function, &uri(&repo, ":v1"), Architecture::X8664).await;
    assert_eq!(publish(&function, &repo, &first).await, "1");
    let second = push_image(&repo, Some("v2"), "2").await;
    assert_eq!(publish(&function, &repo, &second).await, "2");
    pushed(&repo, &first, 3.0);
    pushed(&repo, &second, 2.0);
    let written = put_policy(
        &repo,
        json!([{"rulePriority": 1, "description": "keep one", "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 1}, "action": {"type": "expire"}}]),
    )
    .await;

    let out = retain(&["--function", &function, "--protect"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(image(&report, &first)["status"], "at-risk");
    assert_eq!(image(&report, &first)["risk"]["rule_priority"], 1);
    let keep = &report["repositories"][0]["keep_rule"];
    assert_eq!(keep["selection"]["tagPrefixList"], json!(["lambda."]));
    assert_eq!(keep["selection"]["countNumber"], 9999);
    // The policy was not touched without --protect-policy.
    assert_eq!(
        policy_of(&repo).await,
        serde_json::from_str::<Value>(&written).unwrap()
    );
    let text =
        String::from_utf8_lossy(&run(&["retain", "--function", &function]).stdout).into_owned();
    assert!(text.contains("--protect-policy adds it"), "{text}");

    let out = retain(&["--function", &function, "--protect-policy", "--dry-run"]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(json(&out)["writes"]["policies"][0]["result"], "planned");
    assert_eq!(
        policy_of(&repo).await,
        serde_json::from_str::<Value>(&written).unwrap()
    );

    let out = retain(&["--function", &function, "--protect-policy"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(image(&report, &first)["status"], "safe");
    let policy = policy_of(&repo).await;
    assert_eq!(
        policy["rules"][0]["selection"]["tagPrefixList"],
        json!(["lambda."])
    );
    assert_eq!(policy["rules"][0]["rulePriority"], 1);
    let mut rest = serde_json::from_str::<Value>(&written).unwrap()["rules"][0].clone();
    rest["rulePriority"] = json!(2);
    assert_eq!(policy["rules"][1], rest);
    assert_eq!(policy["rules"].as_array().unwrap().len(), 2);
}

/// Archived and deleted images in use are named; `--restore` waits through
/// ACTIVATING, `--no-wait` does not.
#[tokio::test]
async fn archived_images_are_restored_and_deleted_ones_named() {
    let (repo, function) = setup().await;
    let first = push_image(&repo, Some("v1"), "1").await;
    create_function(&function, &uri(&repo, ":v1"), Architecture::X8664).await;
    assert_eq!(publish(&function, &repo, &first).await, "1");
    let second = push_image(&repo, Some("v2"), "2").await;
    assert_eq!(publish(&function, &repo, &second).await, "2");
    let archive = |digest: String| {
        let repo = repo.clone();
        async move {
            ecr()
                .await
                .update_image_storage_class()
                .repository_name(&repo)
                .image_id(
                    aws_sdk_ecr::types::ImageIdentifier::builder()
                        .image_digest(digest)
                        .build(),
                )
                .target_storage_class(aws_sdk_ecr::types::TargetStorageClass::Archive)
                .send()
                .await
                .unwrap();
        }
    };
    archive(first.clone()).await;

    let out = retain(&["--function", &function]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(image(&report, &first)["status"], "archived");
    assert_eq!(image(&report, &first)["image_status"], "ARCHIVED");
    assert_eq!(report["repositories"][0]["policy"], Value::Null);

    // --protect cannot read an archived image's bytes: it says so and writes nothing for it.
    let out = retain(&[
        "--function",
        &function,
        "--protect",
        "--no-wait",
        "--restore",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(image(&report, &first)["status"], "activating");
    assert_eq!(report["writes"]["restores"][0]["result"], "written");
    let unreadable: Vec<&Value> = report["writes"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["digest"] == first)
        .collect();
    assert_eq!(unreadable[0]["result"], "not-readable");

    let out = retain(&["--function", &function, "--restore"]);
    assert_eq!(
        code(&out),
        0,
        "{}\n{}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(image(&json(&out), &first)["image_status"], "ACTIVE");

    // Deleted: named, exit 1.
    ecr()
        .await
        .batch_delete_image()
        .repository_name(&repo)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&first)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = retain(&["--function", &function]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(image(&report, &first)["status"], "deleted");
    assert_eq!(image(&report, &first)["image_status"], Value::Null);
    assert_eq!(image(&report, &second)["status"], "safe");
}

async fn alias(function: &str, name: &str, version: &str, weights: Option<(&str, f64)>) {
    lambda()
        .await
        .create_alias()
        .function_name(function)
        .name(name)
        .function_version(version)
        .set_routing_config(weights.map(|(v, w)| {
            aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                .additional_version_weights(v, w)
                .build()
        }))
        .send()
        .await
        .unwrap();
}

async fn versions(function: &str) -> Vec<String> {
    let out = lambda()
        .await
        .list_versions_by_function()
        .function_name(function)
        .send()
        .await
        .unwrap();
    out.versions()
        .iter()
        .filter_map(|v| v.version().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn prune_keeps_the_newest_and_what_aliases_route_to() {
    let (repo, function) = setup().await;
    let mut digests = Vec::new();
    for n in 1..=5 {
        digests.push(push_image(&repo, Some(&format!("v{n}")), &n.to_string()).await);
    }
    create_function(&function, &uri(&repo, ":v1"), Architecture::X8664).await;
    for d in &digests {
        publish(&function, &repo, d).await;
    }
    // Version 1's image is also what version 5 runs: its tag must stay.
    publish(&function, &repo, &digests[0]).await;
    alias(&function, "live", "2", Some(("3", 0.1))).await;
    let out = retain(&["--function", &function, "--protect"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let out = run(&[
        "prune",
        "--function",
        &function,
        "--keep",
        "1",
        "--dry-run",
        "--release-tags",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        report["kept"],
        json!([
            {"version": "6", "why": {"kind": "newest"}},
            {"version": "3", "why": {"kind": "alias", "alias": "live"}},
            {"version": "2", "why": {"kind": "alias", "alias": "live"}}
        ])
    );
    assert_eq!(report["deleted"], json!(["5", "4", "1"]));
    assert_eq!(
        versions(&function).await.len(),
        7,
        "a dry run deletes nothing"
    );

    let out = run(&[
        "prune",
        "--function",
        &function,
        "--keep",
        "1",
        "--release-tags",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["deleted"], json!(["5", "4", "1"]));
    assert_eq!(versions(&function).await, vec!["$LATEST", "2", "3", "6"]);
    let released = report["released_tags"].as_array().unwrap();
    assert!(
        released.contains(&json!(format!("lambda.{function}.5"))),
        "{report:#}"
    );
    assert!(
        released.contains(&json!(format!("lambda.{function}.4"))),
        "{report:#}"
    );
    // Version 1's image still runs as version 6 and $LATEST: its tag stays, with a warning.
    assert!(
        !released.contains(&json!(format!("lambda.{function}.1"))),
        "{report:#}"
    );
    assert!(
        report["warnings"]
            .to_string()
            .contains(&format!("lambda.{function}.1")),
        "{report:#}"
    );
    assert!(
        tags_of(&repo, &digests[0])
            .await
            .contains(&format!("lambda.{function}.1"))
    );
    assert!(
        !tags_of(&repo, &digests[4])
            .await
            .contains(&format!("lambda.{function}.5"))
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["retain"],
        vec!["retain", "--function", "f", "--all-functions"],
        vec!["retain", "--function", "f", "--tag-prefix", ".bad"],
        vec!["retain", "--function", "f", "--no-wait"],
        vec!["prune", "--function", "f"],
        vec!["prune", "--function", "f:3", "--keep", "2"],
    ] {
        assert_eq!(code(&run(&args)), 2, "{args:?}");
    }
}

/// The way back through an archived image is refused by `rollback` (nothing
/// written), and `scan --functions` names it.
#[tokio::test]
async fn rollback_refuses_an_archived_target_and_scan_names_it() {
    let (repo, function) = setup().await;
    let first = push_image(&repo, Some("v1"), "1").await;
    create_function(&function, &uri(&repo, ":v1"), Architecture::X8664).await;
    assert_eq!(publish(&function, &repo, &first).await, "1");
    let second = push_image(&repo, Some("v2"), "2").await;
    assert_eq!(publish(&function, &repo, &second).await, "2");
    alias(&function, "live", "2", None).await;
    ecr()
        .await
        .update_image_storage_class()
        .repository_name(&repo)
        .image_id(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&first)
                .build(),
        )
        .target_storage_class(aws_sdk_ecr::types::TargetStorageClass::Archive)
        .send()
        .await
        .unwrap();

    let before = lambda_reads(&function);
    let out = run(&[
        "rollback",
        "--function",
        &function,
        "--alias",
        "live",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("ARCHIVED"), "{text}");
    assert!(
        text.contains(&format!(
            "ecr-lambda retain --function {function} --restore"
        )),
        "{text}"
    );
    assert_eq!(
        lambda_reads(&function)["update_alias"],
        before["update_alias"]
    );
    let (version, _) = alias_state(&function, "live").await;
    assert_eq!(version, "2");
    // $LATEST too: no update.
    let out = run(&[
        "rollback",
        "--function",
        &function,
        "--to",
        "1",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(
        lambda_reads(&function)["update_function_code"],
        before["update_function_code"]
    );

    // A function running the archived image: image-archived, not deleted.
    lambda()
        .await
        .update_function_code()
        .function_name(&function)
        .image_uri(uri(&repo, &format!("@{second}")))
        .send()
        .await
        .unwrap();
    let other = unique("fn");
    let archived_too = push_image(&repo, Some("v3"), "3").await;
    create_function(
        &other,
        &uri(&repo, &format!("@{archived_too}")),
        Architecture::X8664,
    )
    .await;
    ecr()
        .await
        .update_image_storage_class()
        .repository_name(&repo)
        .image_id(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(&archived_too)
                .build(),
        )
        .target_storage_class(aws_sdk_ecr::types::TargetStorageClass::Archive)
        .send()
        .await
        .unwrap();
    let out = run(&[
        "scan",
        "--repository",
        &repo,
        "--functions",
        "--output",
        "json",
    ]);
    let report = json(&out);
    let mine: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["function"] == other)
        .collect();
    assert_eq!(mine.len(), 1, "{report:#}");
    assert_eq!(mine[0]["kind"], "image-archived");
}

/// `deploy --alias` warns when the way back runs an image the policy would expire;
/// `deploy --protect` tags the deployed image and the way back.
#[tokio::test]
async fn deploy_alias_checks_the_way_back_and_protect_tags_it() {
    let (repo, function) = setup().await;
    put_policy(
        &repo,
        json!([{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}]),
    )
    .await;
    let first = push_image(&repo, Some("latest"), "1").await;
    create_function(&function, &uri(&repo, ":latest"), Architecture::X8664).await;
    let out = deploy(&uri(&repo, ":latest"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let codes = |report: &Value| -> Vec<String> {
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!codes(&json(&out)).contains(&"rollback-target-at-risk".to_owned()));

    // `latest` moves: the way back (version 1) is left untagged.
    let second = push_image(&repo, Some("latest"), "2").await;
    let out = deploy(&uri(&repo, ":latest"), &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert!(
        codes(&report).contains(&"rollback-target-at-risk".to_owned()),
        "{report:#}"
    );
    assert!(
        report["warnings"].to_string().contains(&first),
        "{report:#}"
    );
    assert_eq!(report.get("protected"), None);

    let third = push_image(&repo, Some("latest"), "3").await;
    let out = deploy(
        &uri(&repo, ":latest"),
        &function,
        &["--alias", "live", "--protect"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["alias"]["version"], "3", "{report:#}");
    let mut written: Vec<String> = report["protected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap().to_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        vec![
            format!("lambda.{function}.2"),
            format!("lambda.{function}.3"),
            format!("lambda.{function}.latest")
        ]
    );
    assert!(
        tags_of(&repo, &second)
            .await
            .contains(&format!("lambda.{function}.2"))
    );
    assert!(
        tags_of(&repo, &third)
            .await
            .contains(&format!("lambda.{function}.3"))
    );
    // The text report names what was protected.
    let fourth = push_image(&repo, Some("latest"), "4").await;
    let out = run(&[
        "deploy",
        &uri(&repo, ":latest"),
        "--function",
        &function,
        "--alias",
        "live",
        "--protect",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = format!("protect:   {repo}:lambda.{function}.4 -> {}", &fourth[..19]);
    assert!(text.contains(&line), "{text}");
}

/// A function runs the platform image of an index by digest; the tag moves off the
/// index, and the untagged rule would expire the index: its child is at risk through
/// it (ECR expires an index's children only once the index is gone).
#[tokio::test]
async fn an_image_listed_by_an_expiring_index_is_at_risk_through_it() {
    let (repo, function) = setup().await;
    let case = load_case("buildx-single");
    seed(&repo, "v1", &case).await;
    let child = case.child("image-amd64.json").digest.clone();
    create_function(
        &function,
        &uri(&repo, &format!("@{child}")),
        Architecture::X8664,
    )
    .await;
    // v1 moves to another image: the index is left untagged.
    push_image(&repo, Some("v1"), "other").await;
    // The index is old; its child was pushed now, so the rule does not select the
    // child itself: only the index puts it at risk.
    pushed(&repo, &case.root.digest, 10.0);
    put_policy(
        &repo,
        json!([{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}]),
    )
    .await;
    let out = retain(&["--function", &function]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        image(&report, &child)["risk"],
        json!({"rule_priority": 1, "action": "expire", "via": "index"}),
        "{report:#}"
    );
}

/// `--all-functions` reads every image function of the region (a region of its own
/// here, so that other tests' functions are not read), and audits each.
#[tokio::test]
async fn all_functions_of_the_region_are_audited() {
    let region = "eu-south-2";
    let (repo, function) = (unique("keep-all"), unique("fn-all"));
    let digest = image_function_in(region, &repo, &function).await;
    let out = retain(&["--region", region, "--all-functions"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        report["functions"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
    assert_eq!(report["functions"][0]["function"], function);
    assert_eq!(report["functions"][0]["region"], region);
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 1, "{report:#}");
    assert_eq!(images[0]["digest"], digest);
    assert_eq!(images[0]["region"], region);
    assert_eq!(images[0]["status"], "safe");
    assert_eq!(report["repositories"][0]["policy"], Value::Null);
}

/// A durable function's versions stay: prune refuses it, exit 1, nothing deleted.
#[tokio::test]
async fn prune_refuses_a_durable_function() {
    let (repo, function) = setup().await;
    let first = push_image(&repo, Some("v1"), "1").await;
    lambda()
        .await
        .create_function()
        .function_name(&function)
        .role(ROLE_ARN)
        .package_type(aws_sdk_lambda::types::PackageType::Image)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .image_uri(uri(&repo, ":v1"))
                .build(),
        )
        .durable_config(
            aws_sdk_lambda::types::DurableConfig::builder()
                .retention_period_in_days(30)
                .execution_timeout(3600)
                .build(),
        )
        .send()
        .await
        .unwrap();
    publish(&function, &repo, &first).await;
    let second = push_image(&repo, Some("v2"), "2").await;
    publish(&function, &repo, &second).await;
    let out = run(&[
        "prune",
        "--function",
        &function,
        "--keep",
        "0",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert!(
        report["refused"]
            .as_str()
            .unwrap()
            .contains("DurableConfig"),
        "{report:#}"
    );
    assert_eq!(report["deleted"], json!([]));
    assert_eq!(versions(&function).await.len(), 3);
}

/// A function on Lambda Managed Instances runs `$LATEST.PUBLISHED` when invoked
/// without a qualifier (FIDELITY L14): once `$LATEST` has moved on, the image of
/// `$LATEST.PUBLISHED` is the one that runs, and `--protect` keeps it.
#[tokio::test]
async fn latest_published_of_managed_instances_is_pinned_and_protected() {
    let (repo, function) = setup().await;
    let old = push_image(&repo, Some("v1"), "old").await;
    let new = push_image(&repo, Some("v2"), "new").await;
    create_managed_instances_function(&function, &uri(&repo, ":v1")).await;
    let lambda = lambda().await;
    lambda
        .update_function_code()
        .function_name(&function)
        .image_uri(uri(&repo, &format!("@{old}")))
        .publish(true)
        .publish_to(aws_sdk_lambda::types::FunctionVersionLatestPublished::LatestPublished)
        .send()
        .await
        .unwrap();
    // $LATEST alone moves on; what runs stays `old`.
    lambda
        .update_function_code()
        .function_name(&function)
        .image_uri(uri(&repo, &format!("@{new}")))
        .send()
        .await
        .unwrap();

    let out = retain(&["--function", &function, "--protect"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(
        image(&report, &old)["used_by"],
        json!([format!("{function}:$LATEST.PUBLISHED")])
    );
    assert_eq!(
        image(&report, &new)["used_by"],
        json!([format!("{function}:$LATEST")])
    );
    assert_eq!(
        tags_of(&repo, &old).await,
        vec![
            format!("lambda.{function}.latest-published"),
            "v1".to_owned()
        ]
    );
}

async fn archive(repo: &str, digest: &str) {
    ecr()
        .await
        .update_image_storage_class()
        .repository_name(repo)
        .image_id(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(digest)
                .build(),
        )
        .target_storage_class(aws_sdk_ecr::types::TargetStorageClass::Archive)
        .send()
        .await
        .unwrap();
}

/// `release promote` leaves the alias's own version behind as the way back: it warns
/// when that version's image is at risk, as `deploy --alias` does. `release abort`
/// returns the alias to it: refused when its image is archived (exit 1, the way out
/// named), and nothing is written on any alias given (all or nothing).
#[tokio::test]
async fn release_promote_warns_and_abort_refuses_when_the_way_back_is_not_safe() {
    let (repo, function) = setup().await;
    put_policy(
        &repo,
        json!([{"rulePriority": 1, "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}, "action": {"type": "expire"}}]),
    )
    .await;
    let first = push_image(&repo, Some("latest"), "1").await;
    create_function(&function, &uri(&repo, ":latest"), Architecture::X8664).await;
    let v1 = publish(&function, &repo, &first).await;
    // `latest` moves: the image of version 1 is left untagged.
    let second = push_image(&repo, Some("latest"), "2").await;
    let v2 = publish(&function, &repo, &second).await;
    alias(&function, "live", &v1, Some((&v2, 0.1))).await;
    let release = |action: &str, functions: &[&str], output: &str| {
        let mut args = vec!["release", action];
        for f in functions {
            args.extend(["--function", f]);
        }
        args.extend(["--alias", "live", "--output", output]);
        run(&args)
    };

    let out = release("promote", &[&function], "json");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let state = json(&out)["aliases"][0].clone();
    assert_eq!(state["action"], "promoted", "{state:#}");
    let warnings = state["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{state:#}");
    assert_eq!(warnings[0]["code"], "rollback-target-at-risk");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&first) && message.contains("version 1"),
        "{message}"
    );
    assert_eq!(alias_state(&function, "live").await, (v2.clone(), vec![]));

    // Back to a release under way on version 1, whose image is then archived; a
    // second function's release is healthy.
    weigh_alias(&function, "live", &v1, &v2, 0.1).await;
    archive(&repo, &first).await;
    let other = unique("fn");
    lambda_behaviour(&other, json!({"update_seconds": 0}));
    let third = push_image(&repo, Some("v3"), "3").await;
    create_function(&other, &uri(&repo, ":v3"), Architecture::X8664).await;
    let w1 = publish(&other, &repo, &third).await;
    let w2 = publish(&other, &repo, &second).await;
    alias(&other, "live", &w1, Some((&w2, 0.1))).await;

    let out = release("abort", &[&function, &other], "json");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    let mine = &report["aliases"][0];
    assert_eq!(mine["action"], "refused", "{report:#}");
    let why = mine["refused"].as_str().unwrap();
    assert!(why.contains("ARCHIVED"), "{why}");
    assert!(
        why.contains(&format!(
            "ecr-lambda retain --function {function} --restore"
        )),
        "{why}"
    );
    assert_eq!(report["aliases"][1]["action"], "refused", "{report:#}");
    assert!(
        report["aliases"][1]["refused"]
            .as_str()
            .unwrap()
            .contains("not written"),
        "{report:#}"
    );
    // Nothing was written: both releases are still under way.
    assert_eq!(
        alias_state(&function, "live").await,
        (v1.clone(), vec![(v2.clone(), 0.1)])
    );
    assert_eq!(
        alias_state(&other, "live").await,
        (w1.clone(), vec![(w2.clone(), 0.1)])
    );
    // `rollback --alias` of an alias mid-release is an abort: refused alike.
    let out = run(&[
        "rollback",
        "--function",
        &function,
        "--alias",
        "live",
        "--output",
        "json",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        json(&out)["reason"].as_str().unwrap().contains("ARCHIVED"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        alias_state(&function, "live").await,
        (v1.clone(), vec![(v2.clone(), 0.1)])
    );
    // The text says why, and the dry run is refused alike.
    let out = release("abort", &[&function], "text");
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("refused:   version 1 runs"), "{text}");
    let out = run(&[
        "release",
        "abort",
        "--function",
        &function,
        "--alias",
        "live",
        "--dry-run",
    ]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}
