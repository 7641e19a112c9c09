//! The paths every real deploy takes, end to end against the emulator, whose Lambda
//! takes time as real Lambda does: updates in progress for seconds, new functions
//! Pending, RevisionIds and in-progress conflicts enforced, answers that get lost.

mod support;

use std::sync::Arc;

use aws_sdk_lambda::types::Architecture;
use serde_json::json;
use support::proxy::Fault;
use support::*;

/// A buildx tag and a function created from a ready image, with the update
/// behaviour given: (repository, function, image URI, target digest).
async fn setup(behaviour: serde_json::Value) -> (String, String, String, String) {
    let (repo, function, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    lambda_behaviour(&function, behaviour);
    let target = case.child("image-amd64.json").digest.clone();
    (repo.clone(), function, uri(&repo, ":v1"), target)
}

fn count(calls: &[String], operation: &str) -> usize {
    calls.iter().filter(|op| *op == operation).count()
}

#[tokio::test]
async fn a_deploy_waits_through_a_multi_second_update_reading_once_a_second() {
    let (_, function, image, target) = setup(json!({"update_seconds": 2.5})).await;
    let out = deploy(&image, &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "successful");
    let polls = report["update"]["polls"].as_u64().unwrap();
    let waited = report["update"]["waited_ms"].as_u64().unwrap();
    // Reads at 1, 2 and 3 s after the update was accepted: the read at 1 s cannot see
    // the end of a 2.5 s update, the one at 3 s must; the one at 2 s may, if this
    // machine delays it by half a second. (How soon after the end it is noticed is
    // the SDK-boundary test's, on a test clock, and the benchmark's.)
    assert!((2..=3).contains(&polls), "{report}");
    assert!(waited >= 2000, "waited {waited} ms: less than two reads");
    let reads = lambda_reads(&function);
    assert_eq!(reads["get_function"], polls + 1, "the read, then the polls");
    assert_eq!(reads["update_function_code"], 1);
    assert_runs(&function, &target).await;

    // Text: the update line says how long it waited.
    let out = run(&["deploy", &image, "--function", &function]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unchanged"), "{text}");
}

#[tokio::test]
async fn an_update_that_ends_failed_exits_1_with_lambdas_reason() {
    let (_, function, image, _) = setup(json!({
        "update_seconds": 1.5,
        "outcome": "Failed",
        "reason_code": "ImageAccessDenied",
        "reason": "Lambda does not have permission to access the ECR image."
    }))
    .await;
    let out = deploy(&image, &function, &[]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "failed");
    let reason = report["update"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("ImageAccessDenied") && reason.contains("does not have permission"),
        "{reason}"
    );
    assert!(report["update"]["polls"].as_u64().unwrap() >= 1);

    // The image the failed update named is not taken for running: the next deploy
    // tries again, and says so in text too.
    let out = run(&["deploy", &image, "--function", &function]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAILED") && text.contains("ImageAccessDenied"),
        "{text}"
    );
    assert_eq!(lambda_reads(&function)["update_function_code"], 2);
}

#[tokio::test]
async fn a_deploy_straight_after_create_function_waits_for_the_function_to_be_active() {
    let repo = unique("app");
    let function = unique("fn");
    let case = load_case("buildx-single");
    create_repository(&repo, false).await;
    seed(&repo, "v1", &case).await;
    seed_manifest(&repo, Some("base"), &load_case("docker-v2"), "root.json").await;
    lambda_behaviour(
        &function,
        json!({"pending_seconds": 1.6, "update_seconds": 1.0}),
    );
    create_function(&function, &uri(&repo, ":base"), Architecture::X8664).await;

    let out = deploy(&uri(&repo, ":v1"), &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["function"]["state"], "Pending");
    assert_eq!(report["update"]["status"], "successful");
    // Sent once, when Lambda would take it: none refused.
    assert_eq!(lambda_reads(&function)["update_function_code"], 1);
    assert_runs(&function, &case.child("image-amd64.json").digest).await;
}

#[tokio::test]
async fn a_lost_update_function_code_answer_is_recognised_as_this_deploys_update() {
    // Whether GetFunction shows the new image while an update is in progress is not
    // documented (FIDELITY.md, L1): the update is recognised as ours either way,
    // judged once it has ended.
    for image_while_updating in ["new", "old"] {
        let (_, function, image, target) =
            setup(json!({"update_seconds": 1.5, "image_while_updating": image_while_updating}))
                .await;
        let proxy = proxy();
        proxy.on("UpdateFunctionCode", Some(1), Fault::LoseAnswer);
        let out = deploy_at(&proxy.endpoint(), &image, &function, &[]);
        assert_eq!(code(&out), 0, "{image_while_updating}: {}", stderr(&out));
        let report = json(&out);
        assert_eq!(report["update"]["status"], "successful");
        let calls = proxy.log();
        // The update went through, its answer was lost, the SDK's retry was refused
        // (an update in progress): the function was read, waited for, and the update
        // was ours.
        assert_eq!(count(&calls, "UpdateFunctionCode"), 2, "{calls:?}");
        assert_runs(&function, &target).await;
    }
}

#[tokio::test]
async fn a_lost_put_image_answer_is_success() {
    let (repo, function, image, target) = setup(json!({"update_seconds": 1.0})).await;
    let proxy = proxy();
    // Without the referrer, the first PutImage is the tag's.
    proxy.on("PutImage", Some(1), Fault::LoseAnswer);
    let out = deploy_at(
        &proxy.endpoint(),
        &image,
        &function,
        &["--no-keep-provenance"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(count(&proxy.log(), "PutImage"), 2, "{:?}", proxy.log());
    assert_tag(&repo, "v1", &target).await;
    assert_runs(&function, &target).await;
}

#[tokio::test]
async fn a_manifest_whose_digest_ecr_refuses_moves_nothing_and_exits_3() {
    let (repo, function, image, _) = setup(json!({})).await;
    let index = tag_digest(&repo, "v1").await.unwrap();
    let (_, before) = function_image(&function).await;
    let proxy = proxy();
    // The bytes change in flight: ECR's sha256 of what arrives is not the digest sent.
    proxy.on(
        "PutImage",
        None,
        Fault::RewriteRequest {
            from: "image.config.v1+json".into(),
            to: "image.config.v2+json".into(),
        },
    );
    let out = deploy_at(
        &proxy.endpoint(),
        &image,
        &function,
        &["--no-keep-provenance"],
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("ImageDigestDoesNotMatchException"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&out)["error"]["kind"], "invalid-request");
    assert_tag(&repo, "v1", &index).await;
    assert_eq!(function_image(&function).await.1, before);
    assert_eq!(count(&proxy.log(), "UpdateFunctionCode"), 0);
}

#[tokio::test]
async fn another_image_deployed_while_ours_is_waited_for_is_exit_3() {
    let (repo, function, image, target) = setup(json!({"update_seconds": 1.0})).await;
    let theirs = load_case("docker-v2").root.digest;
    let proxy = proxy();
    // Before our first poll is answered, and after our update has ended, someone
    // deploys another image.
    let (f, their_uri) = (function.clone(), uri(&repo, &format!("@{theirs}")));
    proxy.on(
        "GetFunction",
        Some(2),
        Fault::Before(Arc::new(move || {
            let (f, their_uri) = (f.clone(), their_uri.clone());
            std::thread::sleep(std::time::Duration::from_millis(1200));
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        lambda()
                            .await
                            .update_function_code()
                            .function_name(&f)
                            .image_uri(&their_uri)
                            .send()
                            .await
                            .expect("their update")
                    });
            })
            .join()
            .unwrap();
        })),
    );
    let out = deploy_at(&proxy.endpoint(), &image, &function, &[]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("someone else") && err.contains(&theirs),
        "{err}"
    );
    // The tag was written before: the report carries it, and the error.
    let report = json(&out);
    assert_eq!(
        report["deployments"][0]["error"]["kind"], "conflict",
        "{report}"
    );
    assert_eq!(report["written_tag"], "v1", "{report}");
    assert!(
        !function_image(&function)
            .await
            .1
            .unwrap()
            .ends_with(&target)
    );
}

/// A function on Lambda Managed Instances (FIDELITY.md, L14) whose instances take
/// `provision_seconds` to run a new version: (repository, function, image URI,
/// target digest).
async fn managed_instances_setup(provision_seconds: f64) -> (String, String, String, String) {
    let repo = unique("app");
    let function = unique("mi");
    let case = load_case("buildx-single");
    create_repository(&repo, false).await;
    seed(&repo, "v1", &case).await;
    seed_manifest(&repo, Some("base"), &load_case("docker-v2"), "root.json").await;
    lambda_behaviour(
        &function,
        json!({"update_seconds": 1.0, "provision_seconds": provision_seconds}),
    );
    create_managed_instances_function(&function, &uri(&repo, ":base")).await;
    let target = case.child("image-amd64.json").digest.clone();
    (repo.clone(), function, uri(&repo, ":v1"), target)
}

#[tokio::test]
async fn a_deploy_to_managed_instances_publishes_latest_published_and_waits_for_it() {
    // Its $LATEST is never invoked: what runs without a qualifier is
    // $LATEST.PUBLISHED, which runs the new image only once its instances do.
    let (_, function, image, target) = managed_instances_setup(2.5).await;
    let out = deploy(&image, &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["status"], "successful", "{report}");
    assert_eq!(report["update"]["version"], "$LATEST.PUBLISHED", "{report}");
    // The 1 s update of $LATEST, then the 2.5 s provisioning: read once a second,
    // the deploy cannot have seen it end before 3 s.
    let waited = report["update"]["waited_ms"].as_u64().unwrap();
    assert!(waited >= 2_500, "{report}");
    let (_, published) = version_image(&function, Some("$LATEST.PUBLISHED")).await;
    assert!(published.unwrap().ends_with(&target));
    // An invocation without a qualifier runs the new image's version.
    lambda()
        .await
        .invoke()
        .function_name(&function)
        .send()
        .await
        .unwrap();
    let invoked = invocations(&function);
    assert_eq!(
        invoked.last().unwrap()["executed_version"],
        "$LATEST.PUBLISHED"
    );
}

#[tokio::test]
async fn a_deploy_with_publish_to_managed_instances_waits_for_the_version_and_leaves_latest_published()
 {
    // --publish asks for a numbered version: $LATEST.PUBLISHED is not touched.
    let (_, function, image, target) = managed_instances_setup(0.0).await;
    let out = deploy(&image, &function, &["--publish"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["update"]["version"], "1", "{report}");
    let (_, version) = version_image(&function, Some("1")).await;
    assert!(version.unwrap().ends_with(&target));
    let missing = lambda()
        .await
        .get_function()
        .function_name(&function)
        .qualifier("$LATEST.PUBLISHED")
        .send()
        .await;
    assert!(missing.is_err(), "{missing:?}");
}

#[tokio::test]
async fn a_deploy_to_an_ordinary_function_publishes_nothing() {
    let (_, function, image, _) = setup(json!({"update_seconds": 0.5})).await;
    let out = deploy(&image, &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(json(&out)["update"]["version"].is_null());
    let versions = lambda()
        .await
        .list_versions_by_function()
        .function_name(&function)
        .send()
        .await
        .unwrap();
    // $LATEST only.
    assert_eq!(versions.versions().len(), 1, "{versions:?}");
}

/// CreateAlias goes through and its answer is lost: the SDK's retry is refused (the
/// alias exists, made by this very request); the alias is read, and being exactly
/// what was sent, the deploy succeeds.
#[tokio::test]
async fn a_lost_create_alias_answer_is_recognised_as_this_deploys_own_alias() {
    let (_, function, image, _) = setup(json!({"update_seconds": 0})).await;
    let proxy = proxy();
    proxy.on("CreateAlias", Some(1), Fault::LoseAnswer);
    let out = deploy_at(&proxy.endpoint(), &image, &function, &["--alias", "live"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["alias"]["status"], "moved", "{report:#}");
    assert_eq!(report["alias"]["created"], true, "{report:#}");
    assert_eq!(report["alias"]["version"], "1", "{report:#}");
    let calls = proxy.log();
    assert_eq!(count(&calls, "CreateAlias"), 2, "{calls:?}");
    assert_eq!(
        alias_state(&function, "live").await,
        ("1".to_owned(), vec![])
    );
}

/// `--tag` for functions that need different images from one index is a usage error
/// (exit 2) said before anything is waited for: a function still being created is
/// not waited on first (the wait could last up to --wait-timeout).
#[tokio::test]
async fn a_tag_that_cannot_name_both_images_is_refused_before_any_wait() {
    let repo = unique("app");
    create_repository(&repo, false).await;
    seed(&repo, "v1", &load_case("buildx-multi")).await;
    seed_manifest(&repo, Some("base"), &load_case("docker-v2"), "root.json").await;
    let (amd, arm) = (unique("fn-amd"), unique("fn-arm"));
    create_function(&amd, &uri(&repo, ":base"), Architecture::X8664).await;
    // Being created for the next 20 s.
    lambda_behaviour(&arm, json!({"pending_seconds": 20}));
    create_function(&arm, &uri(&repo, ":base"), Architecture::Arm64).await;
    let reads = lambda_reads(&arm)["get_function"].as_u64().unwrap();
    let out = deploy_all_at(
        &moto().endpoint(),
        &uri(&repo, ":v1"),
        &[&amd, &arm],
        &["--tag", "release"],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--tag names one tag"),
        "{}",
        stderr(&out)
    );
    // Read once (the analysis), never polled.
    assert_eq!(
        lambda_reads(&arm)["get_function"].as_u64().unwrap(),
        reads + 1
    );
}

#[tokio::test]
async fn a_rollback_on_managed_instances_puts_latest_published_back() {
    // Version 1 runs the target; a plain deploy then makes $LATEST.PUBLISHED run the
    // base image; `rollback` (no alias) goes back to version 1's image, and what
    // unqualified invocations run goes back with it.
    let (repo, function, image, target) = managed_instances_setup(0.0).await;
    let out = deploy(&image, &function, &["--publish"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["update"]["version"], "1");
    let out = deploy(&uri(&repo, ":base"), &function, &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["update"]["version"], "$LATEST.PUBLISHED");
    let (_, published) = version_image(&function, Some("$LATEST.PUBLISHED")).await;
    assert!(!published.unwrap().ends_with(&target));

    let out = run(&["rollback", "--function", &function, "--output", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let (_, published) = version_image(&function, Some("$LATEST.PUBLISHED")).await;
    assert!(
        published.unwrap().ends_with(&target),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
