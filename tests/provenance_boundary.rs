//! Provenance at the SDK boundary: what the emulator cannot show. A statement whose
//! bytes are not what its digest names (a URL serving other bytes), and AWS refusing
//! a read a requirement needs (exit 3, not a verdict).

mod support;

use std::time::UNIX_EPOCH;

use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
use aws_sdk_ecr::operation::get_download_url_for_layer::GetDownloadUrlForLayerOutput;
use aws_sdk_ecr::operation::list_image_referrers::ListImageReferrersOutput;
use aws_sdk_ecr::types::{Image, ImageIdentifier};
use aws_smithy_async::test_util::instant_time_and_sleep;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::retry::RetryConfig;

use ecr_lambda::manifest::statement::ProvenanceRequirements;
use ecr_lambda::{CheckRequest, Clients, Error, ExitCode};
use support::{ACCOUNT, Case, Manifest, load_case};

fn clients(rules: &[&Rule]) -> Clients {
    let (time, sleep) = instant_time_and_sleep(UNIX_EPOCH);
    let ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, rules, move |c| c
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .sleep_impl(sleep.clone())
        .time_source(time.clone()));
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, &[]);
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

fn image(m: &Manifest) -> Image {
    Image::builder()
        .registry_id(ACCOUNT)
        .repository_name("app")
        .image_id(ImageIdentifier::builder().image_digest(&m.digest).build())
        .image_manifest(&m.bytes)
        .image_manifest_media_type(&m.media_type)
        .build()
}

/// BatchGetImage of provenance-index: the index by tag, its children by digest; no
/// referrers.
fn reads(case: &Case) -> Vec<Rule> {
    let root = case.root.clone();
    let by_tag = mock!(aws_sdk_ecr::Client::batch_get_image)
        .match_requests(|r| r.image_ids().iter().all(|id| id.image_tag().is_some()))
        .then_output(move || BatchGetImageOutput::builder().images(image(&root)).build());
    let children: Vec<Manifest> = case.children.iter().map(|(_, m)| m.clone()).collect();
    let by_digest = mock!(aws_sdk_ecr::Client::batch_get_image)
        .match_requests(|r| r.image_ids().iter().all(|id| id.image_digest().is_some()))
        .then_compute_output(move |r| {
            let asked: Vec<&str> = r
                .image_ids()
                .iter()
                .filter_map(|id| id.image_digest())
                .collect();
            let mut out = BatchGetImageOutput::builder();
            for child in children
                .iter()
                .filter(|c| asked.contains(&c.digest.as_str()))
            {
                out = out.images(image(child));
            }
            out.build()
        });
    let referrers = mock!(aws_sdk_ecr::Client::list_image_referrers)
        .then_output(|| ListImageReferrersOutput::builder().build());
    vec![by_tag, by_digest, referrers]
}

fn required() -> CheckRequest {
    CheckRequest {
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1"
            .parse()
            .unwrap(),
        function: None,
        platform: None,
        provenance: ProvenanceRequirements {
            require_provenance: true,
            ..ProvenanceRequirements::default()
        },
    }
}

fn denied(operation: &'static str) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
        aws_smithy_types::body::SdkBody::from(format!(
            r#"{{"__type":"AccessDeniedException","message":"User is not authorized to perform: ecr:{operation}"}}"#
        )),
    )
}

#[tokio::test]
async fn a_statement_served_with_other_bytes_is_unreadable_and_a_problem() {
    let case = load_case("provenance-index");
    let port = support::blob_server();
    // Every URL serves the config's bytes: right for the config, wrong for the statement.
    let config = case.config_of("image-amd64.json").digest.clone();
    let url = mock!(aws_sdk_ecr::Client::get_download_url_for_layer).then_output(move || {
        GetDownloadUrlForLayerOutput::builder()
            .download_url(format!("http://127.0.0.1:{port}/{config}"))
            .build()
    });
    let mut rules = reads(&case);
    rules.push(url);
    let c = clients(&rules.iter().collect::<Vec<_>>());
    let outcome = ecr_lambda::check(&c, &required()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    let codes: Vec<&str> = outcome
        .report
        .problems
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    assert!(codes.contains(&"provenance-unreadable"), "{codes:?}");
    let error = outcome.report.provenance[0].error.as_deref().unwrap();
    assert!(error.contains("not what the descriptor names"), "{error}");
    assert!(outcome.report.provenance[0].statement.is_none());
}

#[tokio::test]
async fn get_download_url_denied_with_a_requirement_is_exit_3() {
    let case = load_case("provenance-index");
    let url = mock!(aws_sdk_ecr::Client::get_download_url_for_layer)
        .then_http_response(|| denied("GetDownloadUrlForLayer"));
    let mut rules = reads(&case);
    rules.push(url);
    let c = clients(&rules.iter().collect::<Vec<_>>());
    let err = ecr_lambda::check(&c, &required()).await.unwrap_err();
    assert_eq!(err.exit_code(), ExitCode::Aws);
    assert!(err.hint().unwrap().contains("ecr:GetDownloadUrlForLayer"));

    // Without a requirement the same refusal is a warning, and the check goes on.
    let mut req = required();
    req.provenance = ProvenanceRequirements::none();
    let outcome = ecr_lambda::check(&c, &req).await.unwrap();
    let codes: Vec<&str> = outcome
        .report
        .warnings
        .iter()
        .map(|w| w.code.as_str())
        .collect();
    assert!(codes.contains(&"provenance-unreadable"), "{codes:?}");
}

#[tokio::test]
async fn describe_image_signing_status_denied_is_exit_3() {
    let case = load_case("provenance-index");
    let port = support::blob_server();
    let url =
        mock!(aws_sdk_ecr::Client::get_download_url_for_layer).then_compute_output(move |r| {
            GetDownloadUrlForLayerOutput::builder()
                .download_url(format!(
                    "http://127.0.0.1:{port}/{}",
                    r.layer_digest().unwrap_or_default()
                ))
                .build()
        });
    let signing = mock!(aws_sdk_ecr::Client::describe_image_signing_status)
        .then_http_response(|| denied("DescribeImageSigningStatus"));
    let mut rules = reads(&case);
    rules.extend([url, signing]);
    let c = clients(&rules.iter().collect::<Vec<_>>());
    let mut req = required();
    req.provenance.require_signed = true;
    match ecr_lambda::check(&c, &req).await.unwrap_err() {
        Error::Aws(e) => {
            assert_eq!(e.operation, "DescribeImageSigningStatus");
            assert!(e.hint.unwrap().contains("ecr:DescribeImageSigningStatus"));
        }
        other => panic!("{other:?}"),
    }
}
