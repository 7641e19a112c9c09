//! Retention at the SDK boundary, for what the emulator cannot show: a lifecycle
//! preview that stays IN_PROGRESS past `--wait-timeout`, one that ends FAILED or
//! EXPIRED, and a durable function `prune` must refuse. No real time passes.

use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_ecr::operation::describe_images::DescribeImagesOutput;
use aws_sdk_ecr::operation::get_lifecycle_policy::GetLifecyclePolicyOutput;
use aws_sdk_ecr::operation::get_lifecycle_policy_preview::GetLifecyclePolicyPreviewOutput;
use aws_sdk_ecr::operation::start_lifecycle_policy_preview::StartLifecyclePolicyPreviewOutput;
use aws_sdk_ecr::types::{ImageDetail, ImageStatus, LifecyclePolicyPreviewStatus};
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::operation::list_aliases::ListAliasesOutput;
use aws_sdk_lambda::operation::list_versions_by_function::ListVersionsByFunctionOutput;
use aws_sdk_lambda::types::{
    DurableConfig, FunctionCodeLocation, FunctionConfiguration, PackageType,
};
use aws_smithy_async::test_util::instant_time_and_sleep;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

use ecr_lambda::error::AwsErrorKind;
use ecr_lambda::lambda::FunctionRef;
use ecr_lambda::ops::{PruneRequest, RetainRequest, Targets, prune, retain};
use ecr_lambda::{Clients, Error, ExitCode};

const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn clients(ecr_rules: &[&Rule], lambda_rules: &[&Rule]) -> Clients {
    let (time, sleep) = instant_time_and_sleep(UNIX_EPOCH);
    let (time2, sleep2) = (time.clone(), sleep.clone());
    let ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, ecr_rules, move |c| c
        .sleep_impl(sleep.clone())
        .time_source(time.clone()));
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, lambda_rules, move |c| c
        .sleep_impl(sleep2.clone())
        .time_source(time2.clone()));
    let cloudwatch = mock_client!(aws_sdk_cloudwatch, RuleMode::MatchAny, &[]);
    Clients {
        ecr,
        lambda,
        cloudwatch,
        ecr_region: "us-east-1".into(),
        lambda_region: "us-east-1".into(),
        calls: Default::default(),
    }
}

/// A function whose `$LATEST` runs `app@DIGEST`, with no versions or aliases.
fn function_rules(durable: bool) -> Vec<Rule> {
    vec![
        mock!(aws_sdk_lambda::Client::get_function).then_output(move || {
            let mut config = FunctionConfiguration::builder()
                .function_name("fn")
                .function_arn("arn:aws:lambda:us-east-1:123456789012:function:fn")
                .package_type(PackageType::Image)
                .version("$LATEST");
            if durable {
                config = config.durable_config(
                    DurableConfig::builder()
                        .retention_period_in_days(30)
                        .build(),
                );
            }
            GetFunctionOutput::builder()
                .configuration(config.build())
                .code(
                    FunctionCodeLocation::builder()
                        .image_uri(format!(
                            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@{DIGEST}"
                        ))
                        .resolved_image_uri(format!(
                            "123456789012.dkr.ecr.us-east-1.amazonaws.com/app@{DIGEST}"
                        ))
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_lambda::Client::list_versions_by_function)
            .then_output(|| ListVersionsByFunctionOutput::builder().build()),
        mock!(aws_sdk_lambda::Client::list_aliases)
            .then_output(|| ListAliasesOutput::builder().build()),
    ]
}

fn ecr_rules(preview: LifecyclePolicyPreviewStatus) -> Vec<Rule> {
    vec![
        mock!(aws_sdk_ecr::Client::describe_images).then_output(|| {
            DescribeImagesOutput::builder()
                .image_details(
                    ImageDetail::builder()
                        .image_digest(DIGEST)
                        .image_status(ImageStatus::Active)
                        .build(),
                )
                .build()
        }),
        mock!(aws_sdk_ecr::Client::get_lifecycle_policy).then_output(|| {
            GetLifecyclePolicyOutput::builder()
                .lifecycle_policy_text(r#"{"rules":[]}"#)
                .build()
        }),
        mock!(aws_sdk_ecr::Client::start_lifecycle_policy_preview)
            .then_output(|| StartLifecyclePolicyPreviewOutput::builder().build()),
        mock!(aws_sdk_ecr::Client::get_lifecycle_policy_preview).then_output(move || {
            GetLifecyclePolicyPreviewOutput::builder()
                .status(preview.clone())
                .build()
        }),
    ]
}

fn request(wait_timeout: Duration) -> RetainRequest {
    RetainRequest {
        targets: Targets::Functions(vec!["fn".parse::<FunctionRef>().unwrap()]),
        protect: true,
        protect_policy: true,
        restore: false,
        wait: true,
        wait_timeout,
        tag_prefix: "lambda.".into(),
        dry_run: false,
        concurrency: 1,
    }
}

#[tokio::test]
async fn a_preview_still_in_progress_at_the_timeout_is_an_aws_timeout_and_nothing_is_written() {
    let ecr = ecr_rules(LifecyclePolicyPreviewStatus::InProgress);
    let lambda = function_rules(false);
    let put = mock!(aws_sdk_ecr::Client::put_image)
        .then_output(|| aws_sdk_ecr::operation::put_image::PutImageOutput::builder().build());
    let put_policy = mock!(aws_sdk_ecr::Client::put_lifecycle_policy).then_output(|| {
        aws_sdk_ecr::operation::put_lifecycle_policy::PutLifecyclePolicyOutput::builder().build()
    });
    let mut all: Vec<&Rule> = ecr.iter().collect();
    all.extend([&put, &put_policy]);
    let clients = clients(&all, &lambda.iter().collect::<Vec<_>>());
    let err = retain(&clients, &request(Duration::from_secs(30)))
        .await
        .unwrap_err();
    match &err {
        Error::Aws(e) => {
            assert_eq!(e.kind, AwsErrorKind::Timeout, "{e}");
            assert!(e.message.contains("IN_PROGRESS after 30 s"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.exit_code(), ExitCode::Aws);
    // Read about once a second for the 30 s (the test clock is shared with the
    // clients' own sleeps), then given up: neither a busy loop nor a single read.
    let reads = ecr[3].num_calls();
    assert!((25..=31).contains(&reads), "{reads} reads");
    assert_eq!(put.num_calls() + put_policy.num_calls(), 0);
}

#[tokio::test]
async fn a_failed_or_expired_preview_is_an_aws_error() {
    for status in [
        LifecyclePolicyPreviewStatus::Failed,
        LifecyclePolicyPreviewStatus::Expired,
    ] {
        let ecr = ecr_rules(status.clone());
        let lambda = function_rules(false);
        let clients = clients(
            &ecr.iter().collect::<Vec<_>>(),
            &lambda.iter().collect::<Vec<_>>(),
        );
        let err = retain(&clients, &request(Duration::from_secs(30)))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), ExitCode::Aws);
        assert!(err.to_string().contains(status.as_str()), "{err}");
        assert_eq!(
            ecr[3].num_calls(),
            1,
            "{status:?}: no waiting for a preview that ended"
        );
    }
}

#[tokio::test]
async fn prune_refuses_a_durable_function_and_deletes_nothing() {
    let lambda = function_rules(true);
    let delete = mock!(aws_sdk_lambda::Client::delete_function).then_output(|| {
        aws_sdk_lambda::operation::delete_function::DeleteFunctionOutput::builder().build()
    });
    let mut all: Vec<&Rule> = lambda.iter().collect();
    all.push(&delete);
    let clients = clients(&[], &all);
    let outcome = prune(
        &clients,
        &PruneRequest {
            function: "fn".parse().unwrap(),
            keep: 0,
            dry_run: false,
            release_tags: false,
            tag_prefix: "lambda.".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    assert!(
        outcome
            .report
            .refused
            .as_deref()
            .unwrap()
            .contains("DurableConfig")
    );
    assert_eq!(delete.num_calls(), 0);
}

/// A lifecycle policy someone changes between the read and `--protect-policy`'s
/// write is left as they wrote it: AWS conflict (exit 3), no PutLifecyclePolicy.
#[tokio::test]
async fn a_policy_changed_since_it_was_read_is_not_overwritten() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let reads = Arc::new(AtomicUsize::new(0));
    let seen = reads.clone();
    let policy = mock!(aws_sdk_ecr::Client::get_lifecycle_policy).then_compute_output(move |_| {
        // The first read is the audit's; the next is the one just before the write.
        let text = if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            r#"{"rules":[]}"#
        } else {
            r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":5},"action":{"type":"expire"}}]}"#
        };
        GetLifecyclePolicyOutput::builder().lifecycle_policy_text(text).build()
    });
    let described = mock!(aws_sdk_ecr::Client::describe_images).then_output(|| {
        DescribeImagesOutput::builder()
            .image_details(
                ImageDetail::builder()
                    .image_digest(DIGEST)
                    .image_tags("lambda.fn.latest")
                    .image_status(ImageStatus::Active)
                    .build(),
            )
            .build()
    });
    let start = mock!(aws_sdk_ecr::Client::start_lifecycle_policy_preview)
        .then_output(|| StartLifecyclePolicyPreviewOutput::builder().build());
    let preview = mock!(aws_sdk_ecr::Client::get_lifecycle_policy_preview).then_output(|| {
        GetLifecyclePolicyPreviewOutput::builder()
            .status(LifecyclePolicyPreviewStatus::Complete)
            .build()
    });
    let put_policy = mock!(aws_sdk_ecr::Client::put_lifecycle_policy).then_output(|| {
        aws_sdk_ecr::operation::put_lifecycle_policy::PutLifecyclePolicyOutput::builder().build()
    });
    let lambda = function_rules(false);
    let clients = clients(
        &[&policy, &described, &start, &preview, &put_policy],
        &lambda.iter().collect::<Vec<_>>(),
    );
    let err = retain(&clients, &request(Duration::from_secs(30)))
        .await
        .unwrap_err();
    match &err {
        Error::Aws(e) => assert_eq!(e.kind, AwsErrorKind::Conflict, "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.exit_code(), ExitCode::Aws);
    assert_eq!(reads.load(Ordering::SeqCst), 2);
    assert_eq!(put_policy.num_calls(), 0);
}
