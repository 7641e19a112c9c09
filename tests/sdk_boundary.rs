//! What no emulator can show, at the SDK boundary: typed ECR and Lambda errors,
//! throttling sequences, and the waiter's states. The library runs unchanged on SDK
//! clients whose HTTP answers come from aws-smithy-mocks rules; no real time passes.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
use aws_sdk_ecr::operation::get_download_url_for_layer::GetDownloadUrlForLayerOutput;
use aws_sdk_ecr::operation::put_image::{PutImageError, PutImageOutput};
use aws_sdk_ecr::types::error::{ImageDigestDoesNotMatchException, ImageTagAlreadyExistsException};
use aws_sdk_ecr::types::{Image, ImageIdentifier};
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::operation::update_function_code::{
    UpdateFunctionCodeError, UpdateFunctionCodeOutput,
};
use aws_sdk_lambda::types::error::{PreconditionFailedException, ResourceConflictException};
use aws_sdk_lambda::types::{
    Architecture, FunctionCodeLocation, FunctionConfiguration, LastUpdateStatus,
    LastUpdateStatusReasonCode, PackageType, State,
};
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_async::test_util::{ManualTimeSource, instant_time_and_sleep};
use aws_smithy_async::time::TimeSource;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::retry::RetryConfig;

use ecr_lambda::error::AwsErrorKind;
use ecr_lambda::output::UpdateStatus;
use ecr_lambda::{CheckRequest, Clients, DeployRequest, Error, ExitCode, FixRequest};
use support::{ACCOUNT, Manifest, load_case};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:fn";

fn clients(ecr_rules: &[&Rule], lambda_rules: &[&Rule]) -> Clients {
    clients_with_clock(ecr_rules, lambda_rules, instant_time_and_sleep(UNIX_EPOCH))
}

/// Clients on a test clock: every sleep advances it at once, so no real time passes.
fn clients_with_clock(
    ecr_rules: &[&Rule],
    lambda_rules: &[&Rule],
    clock: (ManualTimeSource, impl AsyncSleep + 'static),
) -> Clients {
    clients_with_alarms(ecr_rules, lambda_rules, &[], clock)
}

/// Clients on a test clock, CloudWatch's answers included.
fn clients_with_alarms(
    ecr_rules: &[&Rule],
    lambda_rules: &[&Rule],
    cloudwatch_rules: &[&Rule],
    (time, sleep): (ManualTimeSource, impl AsyncSleep + 'static),
) -> Clients {
    let sleep = SharedAsyncSleep::new(sleep);
    let (time2, sleep2) = (time.clone(), sleep.clone());
    let (time3, sleep3) = (time.clone(), sleep.clone());
    // Config blobs are fetched for real, from a loopback server of the fixtures.
    let config = config_url();
    let ecr_rules: Vec<&Rule> = ecr_rules.iter().copied().chain([&config]).collect();
    let ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, &ecr_rules, move |c| c
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .sleep_impl(sleep.clone())
        .time_source(time.clone()));
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, lambda_rules, move |c| c
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .sleep_impl(sleep2.clone())
        .time_source(time2.clone()));
    let cloudwatch = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        cloudwatch_rules,
        move |c| c
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .sleep_impl(sleep3.clone())
            .time_source(time3.clone())
    );
    Clients {
        ecr,
        lambda,
        cloudwatch,
        ecr_region: "us-east-1".into(),
        lambda_region: "us-east-1".into(),
        calls: Default::default(),
    }
}

/// GetDownloadUrlForLayer answering with the fixtures' blob server.
fn config_url() -> Rule {
    let port = support::blob_server();
    mock!(aws_sdk_ecr::Client::get_download_url_for_layer).then_compute_output(move |r| {
        let digest = r.layer_digest().unwrap_or_default();
        GetDownloadUrlForLayerOutput::builder()
            .download_url(format!("http://127.0.0.1:{port}/{digest}"))
            .layer_digest(digest)
            .build()
    })
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

/// BatchGetImage by tag answers with the index; by digest, with the asked-for children.
fn ecr_reads(tag_names: Manifest) -> (Rule, Rule) {
    let case = load_case("buildx-single");
    let by_tag = mock!(aws_sdk_ecr::Client::batch_get_image)
        .match_requests(|r| r.image_ids().iter().all(|id| id.image_tag().is_some()))
        .then_output(move || {
            BatchGetImageOutput::builder()
                .images(image(&tag_names))
                .build()
        });
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
    (by_tag, by_digest)
}

fn function(status: LastUpdateStatus, revision: &str, running: &str) -> GetFunctionOutput {
    function_with_reason(status, revision, running, None)
}

fn function_with_reason(
    status: LastUpdateStatus,
    revision: &str,
    running: &str,
    failure: Option<(LastUpdateStatusReasonCode, &str)>,
) -> GetFunctionOutput {
    function_in(State::Active, status, revision, running, failure)
}

fn function_in(
    state: State,
    status: LastUpdateStatus,
    revision: &str,
    running: &str,
    failure: Option<(LastUpdateStatusReasonCode, &str)>,
) -> GetFunctionOutput {
    let mut config = FunctionConfiguration::builder()
        .function_name("fn")
        .function_arn(FUNCTION_ARN)
        .package_type(PackageType::Image)
        .architectures(Architecture::X8664)
        .state(state)
        .last_update_status(status)
        .revision_id(revision);
    if let Some((code, reason)) = failure {
        config = config
            .last_update_status_reason_code(code)
            .last_update_status_reason(reason);
    }
    GetFunctionOutput::builder()
        .configuration(config.build())
        .code(
            FunctionCodeLocation::builder()
                .image_uri(format!(
                    "{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app@{running}"
                ))
                .resolved_image_uri(format!(
                    "{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app@{running}"
                ))
                .build(),
        )
        .build()
}

/// UpdateFunctionCode answering `status`; only for `revision` when given.
fn update_answering(revision: Option<&'static str>, status: LastUpdateStatus) -> Rule {
    mock!(aws_sdk_lambda::Client::update_function_code)
        .match_requests(move |r| revision.is_none_or(|rev| r.revision_id() == Some(rev)))
        .then_output(move || {
            UpdateFunctionCodeOutput::builder()
                .last_update_status(status.clone())
                .build()
        })
}

const OLD: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fn fix_request(tag: Option<&str>) -> FixRequest {
    FixRequest {
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1"
            .parse()
            .unwrap(),
        function: None,
        platform: None,
        tag: tag.map(str::to_owned),
        dry_run: false,
        // The tag alone: the referrer writes are tests/provenance.rs's.
        keep_provenance: false,
        provenance: Default::default(),
    }
}

fn deploy_request() -> DeployRequest {
    DeployRequest {
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1"
            .parse()
            .unwrap(),
        functions: vec!["fn".parse().unwrap()],
        concurrency: 4,
        platform: None,
        tag: None,
        publish: false,
        alias: None,
        wait: true,
        wait_timeout: Duration::from_secs(60),
        dry_run: false,
        keep_provenance: true,
        progress: false,
        gradual: None,
        provenance: Default::default(),
        protect: false,
    }
}

fn aws_error(result: Result<impl std::fmt::Debug, Error>) -> ecr_lambda::error::AwsError {
    match result {
        Err(Error::Aws(e)) => e,
        other => panic!("expected an AWS error, got {other:?}"),
    }
}

#[tokio::test]
async fn image_tag_already_exists_is_tag_immutable_and_nothing_else_is_tried() {
    let case = load_case("buildx-single");
    let (by_tag, by_digest) = ecr_reads(case.root.clone());
    let put = mock!(aws_sdk_ecr::Client::put_image).then_error(|| {
        PutImageError::ImageTagAlreadyExistsException(
            ImageTagAlreadyExistsException::builder().build(),
        )
    });
    let c = clients(&[&by_tag, &by_digest, &put], &[]);

    let outcome = ecr_lambda::fix(&c, &fix_request(Some("lambda")))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    let codes: Vec<&str> = outcome
        .report
        .check
        .problems
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    assert_eq!(codes, ["image-index", "tag-immutable"]);
    assert_eq!(outcome.report.action, None);
    assert_eq!(put.num_calls(), 1);
    // The tag it would write is a new one: no guard read.
    assert_eq!(by_tag.num_calls(), 1);
}

#[tokio::test]
async fn put_image_sends_exact_bytes_digest_and_media_type_and_reports_a_digest_refusal() {
    let case = load_case("buildx-single");
    let target = case.child("image-amd64.json").clone();
    let (by_tag, by_digest) = ecr_reads(case.root.clone());
    let sent = Arc::new(Mutex::new(None));
    let seen = sent.clone();
    let put = mock!(aws_sdk_ecr::Client::put_image)
        .match_requests(move |r| {
            *seen.lock().unwrap() = Some((
                r.image_manifest().map(str::to_owned),
                r.image_digest().map(str::to_owned),
                r.image_manifest_media_type().map(str::to_owned),
                r.image_tag().map(str::to_owned),
            ));
            true
        })
        .then_error(|| {
            PutImageError::ImageDigestDoesNotMatchException(
                ImageDigestDoesNotMatchException::builder()
                    .message("digest mismatch")
                    .meta(
                        aws_sdk_ecr::error::ErrorMetadata::builder()
                            .code("ImageDigestDoesNotMatchException")
                            .message("digest mismatch")
                            .build(),
                    )
                    .build(),
            )
        });
    let c = clients(&[&by_tag, &by_digest, &put], &[]);

    let err = aws_error(ecr_lambda::fix(&c, &fix_request(None)).await);
    assert_eq!(err.operation, "PutImage");
    assert_eq!(err.kind, AwsErrorKind::Invalid);
    assert_eq!(
        err.code.as_deref(),
        Some("ImageDigestDoesNotMatchException")
    );
    assert_eq!(Error::Aws(err).exit_code(), ExitCode::Aws);
    let (bytes, digest, media_type, tag) = sent.lock().unwrap().clone().unwrap();
    assert_eq!(bytes.as_deref(), Some(target.bytes.as_str()));
    assert_eq!(digest.as_deref(), Some(target.digest.as_str()));
    assert_eq!(media_type.as_deref(), Some(target.media_type.as_str()));
    assert_eq!(tag.as_deref(), Some("v1"));
    // The tag was read again just before writing (the guard).
    assert_eq!(by_tag.num_calls(), 2);
}

#[tokio::test]
async fn a_tag_moved_between_read_and_write_is_not_overwritten() {
    let case = load_case("buildx-single");
    let (_, by_digest) = ecr_reads(case.root.clone());
    let newer = load_case("docker-v2").root;
    let root = case.root.clone();
    let by_tag = mock!(aws_sdk_ecr::Client::batch_get_image)
        .match_requests(|r| r.image_ids().iter().all(|id| id.image_tag().is_some()))
        .sequence()
        .output(move || BatchGetImageOutput::builder().images(image(&root)).build())
        .output(move || BatchGetImageOutput::builder().images(image(&newer)).build())
        .build();
    let put =
        mock!(aws_sdk_ecr::Client::put_image).then_output(|| PutImageOutput::builder().build());
    let c = clients(&[&by_tag, &by_digest, &put], &[]);

    let err = aws_error(ecr_lambda::fix(&c, &fix_request(None)).await);
    assert_eq!(err.kind, AwsErrorKind::Conflict);
    assert!(err.message.contains("tag moved"), "{}", err.message);
    assert_eq!(put.num_calls(), 0);
}

fn throttling() -> (u16, Option<String>) {
    (
        400,
        Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned()),
    )
}

#[tokio::test]
async fn throttling_is_retried_until_success() {
    let case = load_case("docker-v2");
    let root = case.root.clone();
    let (status, body) = throttling();
    let by_tag = mock!(aws_sdk_ecr::Client::batch_get_image)
        .sequence()
        .http_status(status, body)
        .times(2)
        .output(move || BatchGetImageOutput::builder().images(image(&root)).build())
        .build();
    let referrers = mock!(aws_sdk_ecr::Client::list_image_referrers).then_output(|| {
        aws_sdk_ecr::operation::list_image_referrers::ListImageReferrersOutput::builder().build()
    });
    let c = clients(&[&by_tag, &referrers], &[]);
    let req = CheckRequest {
        image: "app:v1".parse().unwrap(),
        function: None,
        platform: None,
        provenance: Default::default(),
    };
    let outcome = ecr_lambda::check(&c, &req).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert!(
        outcome.report.warnings.is_empty(),
        "{:?}",
        outcome.report.warnings
    );
    assert_eq!(by_tag.num_calls(), 3);
}

#[tokio::test]
async fn throttling_past_the_retries_is_an_aws_error() {
    let (status, body) = throttling();
    let by_tag = mock!(aws_sdk_ecr::Client::batch_get_image)
        .sequence()
        .http_status(status, body)
        .repeatedly()
        .build();
    let c = clients(&[&by_tag], &[]);
    let req = CheckRequest {
        image: "app:v1".parse().unwrap(),
        function: None,
        platform: None,
        provenance: Default::default(),
    };
    let err = aws_error(ecr_lambda::check(&c, &req).await);
    assert_eq!(err.kind, AwsErrorKind::Throttled);
    assert_eq!(err.operation, "BatchGetImage");
    assert!(err.hint.unwrap().contains("--max-attempts"));
    assert_eq!(by_tag.num_calls(), 3);
}

/// A ready image (docker-v2) so deploy goes straight to UpdateFunctionCode.
fn ready_image() -> (Rule, String) {
    let root = load_case("docker-v2").root;
    let digest = root.digest.clone();
    let rule = mock!(aws_sdk_ecr::Client::batch_get_image)
        .then_output(move || BatchGetImageOutput::builder().images(image(&root)).build());
    (rule, digest)
}

const OTHER: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn conflict() -> UpdateFunctionCodeError {
    UpdateFunctionCodeError::ResourceConflictException(
        ResourceConflictException::builder()
            .message("The operation cannot be performed at this time. An update is in progress")
            .build(),
    )
}

#[tokio::test]
async fn someone_elses_update_in_progress_is_a_conflict_naming_what_it_deploys() {
    let (read, _) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function(LastUpdateStatus::Successful, "rev-1", OLD))
        // Read again after the refusal: the RevisionId moved, an update is in progress.
        // Whose it is is judged once it ends: another image, so someone else's.
        .output(|| function(LastUpdateStatus::InProgress, "rev-2", OTHER))
        .output(|| function(LastUpdateStatus::Successful, "rev-3", OTHER))
        .build();
    let update = mock!(aws_sdk_lambda::Client::update_function_code).then_error(conflict);
    let c = clients(&[&read], &[&get, &update]);
    let err = aws_error(ecr_lambda::deploy(&c, &deploy_request()).await);
    assert_eq!(err.kind, AwsErrorKind::Conflict);
    assert!(
        err.message.contains("updated by someone else") && err.message.contains(OTHER),
        "{}",
        err.message
    );
    assert_eq!(update.num_calls(), 1, "no second update over theirs");
    assert_eq!(
        get.num_calls(),
        3,
        "the read, the one after the refusal, and the wait's until it ended"
    );
}

#[tokio::test]
async fn a_lost_update_answer_whose_retry_is_refused_is_this_deploys_own_update() {
    let (read, digest) = ready_image();
    let (d1, d2, d3) = (digest.clone(), digest.clone(), digest.clone());
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function(LastUpdateStatus::Successful, "rev-1", OLD))
        // After the refusal: the function is being updated to the target.
        .output(move || function(LastUpdateStatus::InProgress, "rev-2", &d1))
        .output(move || function(LastUpdateStatus::InProgress, "rev-2", &d2))
        .output(move || function(LastUpdateStatus::Successful, "rev-2", &d3))
        .build();
    // The SDK retries a 5xx, and the retry meets an update in progress with a moved
    // RevisionId: the state the function settles in decides whose it was. (On AWS a
    // 503 means the first attempt was not applied; here the state says it was, as
    // after an answer lost on the way back. The real lost answer, applied then the
    // connection dropped, is lifecycle.rs's, through the proxy.)
    let update = mock!(aws_sdk_lambda::Client::update_function_code)
        .sequence()
        .http_status(503, None)
        .error(conflict)
        .build();
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    let report = outcome.report.update.unwrap();
    assert_eq!(report.status, UpdateStatus::Successful);
    assert_eq!(
        update.num_calls(),
        2,
        "the lost attempt and its refused retry"
    );
    assert_eq!(report.polls, 2, "waited for its own update");
    assert_eq!(get.num_calls(), 4);
}

#[tokio::test]
async fn a_revision_refusal_after_a_lost_answer_is_success_when_the_target_runs() {
    let (read, digest) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function(LastUpdateStatus::Successful, "rev-1", OLD))
        .output(move || function(LastUpdateStatus::Successful, "rev-2", &digest))
        .build();
    let update = mock!(aws_sdk_lambda::Client::update_function_code)
        .sequence()
        .http_status(500, None)
        .error(|| {
            UpdateFunctionCodeError::PreconditionFailedException(
                PreconditionFailedException::builder()
                    .message("The Revision Id provided does not match the latest Revision Id.")
                    .build(),
            )
        })
        .build();
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    let report = outcome.report.update.unwrap();
    assert_eq!(report.status, UpdateStatus::Successful);
    assert_eq!(report.polls, 0, "already finished: nothing to wait for");
}

#[tokio::test]
async fn another_image_deployed_while_waiting_is_a_conflict() {
    let (read, digest) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function(LastUpdateStatus::Successful, "rev-1", OLD))
        .output(move || function(LastUpdateStatus::InProgress, "rev-2", &digest))
        .output(|| function(LastUpdateStatus::Successful, "rev-3", OTHER))
        .build();
    let update = update_answering(Some("rev-1"), LastUpdateStatus::InProgress);
    let c = clients(&[&read], &[&get, &update]);
    let err = aws_error(ecr_lambda::deploy(&c, &deploy_request()).await);
    assert_eq!(err.kind, AwsErrorKind::Conflict);
    assert!(
        err.message.contains(OTHER) && err.message.contains("someone else"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_pending_function_is_waited_for_then_updated_with_its_new_revision() {
    let (read, _) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| {
            function_in(
                State::Pending,
                LastUpdateStatus::InProgress,
                "rev-1",
                OLD,
                None,
            )
        })
        .times(3)
        .output(|| function(LastUpdateStatus::Successful, "rev-2", OLD))
        .build();
    let update = update_answering(Some("rev-2"), LastUpdateStatus::Successful);
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert_eq!(
        update.num_calls(),
        1,
        "sent once, after the function was Active"
    );
    assert_eq!(get.num_calls(), 4, "the read, then three polls");
    assert_eq!(
        outcome.report.function.unwrap().state.as_deref(),
        Some("Pending")
    );
}

#[tokio::test]
async fn a_failed_function_is_named_and_still_updated() {
    // It even runs the target already (pushed again after it was deleted): the
    // update is what brings it back.
    let (read, digest) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function).then_output(move || {
        function_in(
            State::Failed,
            LastUpdateStatus::Successful,
            "rev-1",
            &digest,
            Some((
                LastUpdateStatusReasonCode::ImageDeleted,
                "The image was deleted",
            )),
        )
    });
    let update = update_answering(Some("rev-1"), LastUpdateStatus::Successful);
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert_eq!(update.num_calls(), 1);
    let warning = outcome
        .report
        .fix
        .check
        .warnings
        .iter()
        .find(|w| w.code.as_str() == "function-not-active")
        .expect("a function-not-active warning");
    assert!(warning.message.contains("Failed"), "{}", warning.message);
}

/// A sleeper that returns at once and moves the test clock by the waits between
/// two status reads only (at most a second each, on the wait's schedule). The
/// SDK's own timers share the sleeper (100 ms beside each call, 21.6 s beside
/// others): they run alongside a request, not before it, so on a real clock they
/// take no time of their own, and here they do not move the clock either.
#[derive(Clone, Debug)]
struct Sequential(ManualTimeSource);

impl AsyncSleep for Sequential {
    fn sleep(&self, duration: Duration) -> Sleep {
        if (Duration::from_millis(500)..=Duration::from_millis(1_010)).contains(&duration) {
            self.0.advance(duration);
        }
        Sleep::new(async {})
    }
}

/// An update that Lambda finishes `seconds` after UpdateFunctionCode, on the test
/// clock: (how long after its end, on that clock, the read that saw it ended came;
/// status reads).
async fn wait_for_update_lasting(seconds: f64) -> (f64, u32) {
    let (read, digest) = ready_image();
    let time = ManualTimeSource::new(UNIX_EPOCH);
    let clock = (time.clone(), Sequential(time.clone()));
    let started = Arc::new(Mutex::new(None));
    let noticed = Arc::new(Mutex::new(None));
    let (started_get, started_update, noticed_get) =
        (started.clone(), started.clone(), noticed.clone());
    let time_update = time.clone();
    let get = mock!(aws_sdk_lambda::Client::get_function).then_compute_output(move |_| {
        let Some(start) = *started_get.lock().unwrap() else {
            return function(LastUpdateStatus::Successful, "rev-1", OLD);
        };
        let since = time.now().duration_since(start).unwrap().as_secs_f64();
        let status = if since < seconds {
            LastUpdateStatus::InProgress
        } else {
            noticed_get.lock().unwrap().get_or_insert(since - seconds);
            LastUpdateStatus::Successful
        };
        function(status, "rev-2", &digest)
    });
    let update =
        mock!(aws_sdk_lambda::Client::update_function_code).then_compute_output(move |_| {
            *started_update.lock().unwrap() = Some(time_update.now());
            UpdateFunctionCodeOutput::builder()
                .last_update_status(LastUpdateStatus::InProgress)
                .build()
        });
    let c = clients_with_clock(&[&read], &[&get, &update], clock);
    let mut req = deploy_request();
    req.wait_timeout = Duration::from_secs(600);
    let outcome = ecr_lambda::deploy(&c, &req).await.unwrap();
    let report = outcome.report.update.unwrap();
    assert_eq!(report.status, UpdateStatus::Successful);
    let lag = noticed
        .lock()
        .unwrap()
        .expect("a read saw the update ended");
    (lag, report.polls)
}

#[tokio::test]
async fn the_end_of_an_update_is_noticed_within_a_second_at_one_read_a_second() {
    // The SDK waiter's backoff noticed these 3.5-17 s late; the AWS CLI within 1 s.
    // (The lag is measured on the fake Lambda's own clock, which the SDK's internal
    // timers move too; the wait measures itself on a monotonic timeline.)
    for seconds in [0.4, 3.5, 12.5, 30.5, 299.5] {
        let (lag, polls) = wait_for_update_lasting(seconds).await;
        assert!(
            (0.0..=1.0).contains(&lag),
            "a {seconds} s update noticed {lag:.2} s after it ended"
        );
        assert_eq!(
            polls,
            (seconds.ceil() as u32).max(1),
            "one read a second for a {seconds} s update"
        );
    }
}

#[tokio::test]
async fn ecr_quota_exceeded_says_it_is_a_quota() {
    let case = load_case("buildx-single");
    let (by_tag, by_digest) = ecr_reads(case.root.clone());
    let put = mock!(aws_sdk_ecr::Client::put_image).then_error(|| {
        PutImageError::LimitExceededException(
            aws_sdk_ecr::types::error::LimitExceededException::builder()
                .message(
                    "The operation did not succeed because it would have exceeded a service limit",
                )
                .build(),
        )
    });
    let c = clients(&[&by_tag, &by_digest, &put], &[]);
    let err = aws_error(ecr_lambda::fix(&c, &fix_request(None)).await);
    assert_eq!(err.kind, AwsErrorKind::Quota);
    let hint = err.hint.unwrap();
    assert!(
        hint.contains("not throttling") && !hint.contains("--max-attempts"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_revision_changed_by_someone_else_is_a_conflict() {
    let (read, digest) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .then_output(|| function(LastUpdateStatus::Successful, "rev-1", OLD));
    let update = mock!(aws_sdk_lambda::Client::update_function_code)
        .match_requests(move |r| {
            r.revision_id() == Some("rev-1")
                && r.image_uri()
                    .is_some_and(|u| u.ends_with(&format!("/app@{digest}")))
        })
        .then_error(|| {
            UpdateFunctionCodeError::PreconditionFailedException(
                PreconditionFailedException::builder()
                    .message("revision id mismatch")
                    .build(),
            )
        });
    let c = clients(&[&read], &[&get, &update]);
    let err = aws_error(ecr_lambda::deploy(&c, &deploy_request()).await);
    assert_eq!(err.kind, AwsErrorKind::Conflict);
    assert_eq!(
        update.num_calls(),
        1,
        "the request carried the revision and the digest URI"
    );
    assert_eq!(Error::Aws(err).exit_code(), ExitCode::Aws);
}

#[tokio::test]
async fn an_update_that_goes_in_progress_then_failed_exits_1_with_the_reason() {
    let (read, _) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function(LastUpdateStatus::Successful, "rev-1", OLD))
        .output(|| function(LastUpdateStatus::InProgress, "rev-2", OLD))
        .times(2)
        .output(|| {
            function_with_reason(
                LastUpdateStatus::Failed,
                "rev-3",
                OLD,
                Some((
                    LastUpdateStatusReasonCode::InvalidImage,
                    "The image manifest is not supported",
                )),
            )
        })
        .build();
    let update = update_answering(None, LastUpdateStatus::InProgress);
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    let update_report = outcome.report.update.unwrap();
    assert_eq!(update_report.status, UpdateStatus::Failed);
    let reason = update_report.reason.unwrap();
    assert!(
        reason.contains("InvalidImage") && reason.contains("not supported"),
        "{reason}"
    );
    assert_eq!(get.num_calls(), 4, "one read, then three waiter polls");
}

#[tokio::test]
async fn an_earlier_update_is_waited_for_and_its_new_revision_used() {
    let (read, _) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function(LastUpdateStatus::InProgress, "rev-1", OLD))
        .output(|| function(LastUpdateStatus::Successful, "rev-2", OLD))
        .build();
    let update = update_answering(Some("rev-2"), LastUpdateStatus::Successful);
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert_eq!(
        outcome.report.update.unwrap().status,
        UpdateStatus::Successful
    );
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn an_update_still_in_progress_at_the_timeout_exits_1() {
    let (read, _) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function(LastUpdateStatus::Successful, "rev-1", OLD))
        .output(|| function(LastUpdateStatus::InProgress, "rev-2", OLD))
        .repeatedly()
        .build();
    let update = update_answering(None, LastUpdateStatus::InProgress);
    let c = clients(&[&read], &[&get, &update]);
    let mut req = deploy_request();
    req.wait_timeout = Duration::from_secs(30);
    let outcome = ecr_lambda::deploy(&c, &req).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    let update_report = outcome.report.update.unwrap();
    assert_eq!(update_report.status, UpdateStatus::InProgress);
    assert!(update_report.reason.unwrap().contains("30 s"));

    // --no-wait: in progress is the expected answer.
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .then_output(|| function(LastUpdateStatus::Successful, "rev-1", OLD));
    let (read, _) = ready_image();
    let c = clients(&[&read], &[&get, &update]);
    let mut req = deploy_request();
    req.wait = false;
    let outcome = ecr_lambda::deploy(&c, &req).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert_eq!(
        outcome.report.update.unwrap().status,
        UpdateStatus::InProgress
    );
}

#[tokio::test]
async fn the_function_already_running_the_target_is_not_updated() {
    let (read, digest) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .then_output(move || function(LastUpdateStatus::Successful, "rev-1", &digest));
    let update = mock!(aws_sdk_lambda::Client::update_function_code)
        .then_output(|| UpdateFunctionCodeOutput::builder().build());
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert_eq!(
        outcome.report.update.unwrap().status,
        UpdateStatus::Unchanged
    );
    assert_eq!(update.num_calls(), 0);
}

#[tokio::test]
async fn an_earlier_update_that_failed_does_not_block_and_costs_no_extra_read() {
    let (read, _) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .sequence()
        .output(|| function(LastUpdateStatus::InProgress, "rev-1", OLD))
        .output(|| {
            function_with_reason(
                LastUpdateStatus::Failed,
                "rev-2",
                OLD,
                Some((
                    LastUpdateStatusReasonCode::ImageDeleted,
                    "The image was deleted",
                )),
            )
        })
        .build();
    let update = update_answering(Some("rev-2"), LastUpdateStatus::Successful);
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert_eq!(update.num_calls(), 1);
    assert_eq!(
        get.num_calls(),
        2,
        "the read, and the one poll that saw Failed"
    );
}

fn check_request() -> CheckRequest {
    CheckRequest {
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1"
            .parse()
            .unwrap(),
        function: None,
        platform: None,
        provenance: Default::default(),
    }
}

#[tokio::test]
async fn a_fixed_image_lists_its_attestations_as_referrers() {
    // What fix wrote for buildx-single's attestation, had docker-v2 been its image.
    let root = load_case("docker-v2").root;
    let attestation = load_case("buildx-single")
        .child("attestation-amd64.json")
        .clone();
    let as_raw = |m: &Manifest| {
        ecr_lambda::manifest::RawManifest::new(
            m.bytes.clone(),
            m.digest.parse().unwrap(),
            m.media_type.clone(),
        )
    };
    let referrer =
        ecr_lambda::manifest::provenance::as_referrer(&as_raw(&attestation), &as_raw(&root))
            .unwrap();
    let referrer = Manifest {
        bytes: referrer.bytes().to_owned(),
        digest: referrer.digest().to_string(),
        media_type: referrer.media_type().to_owned(),
    };
    let (root_for_tag, root_digest, referrer_for_read) =
        (root.clone(), root.digest.clone(), referrer.clone());
    let by_tag = mock!(aws_sdk_ecr::Client::batch_get_image)
        .match_requests(|r| r.image_ids().iter().all(|id| id.image_tag().is_some()))
        .then_output(move || {
            BatchGetImageOutput::builder()
                .images(image(&root_for_tag))
                .build()
        });
    let by_digest = mock!(aws_sdk_ecr::Client::batch_get_image)
        .match_requests(|r| r.image_ids().iter().all(|id| id.image_digest().is_some()))
        .then_output(move || {
            BatchGetImageOutput::builder()
                .images(image(&referrer_for_read))
                .build()
        });
    let listed_digest = referrer.digest.clone();
    let referrers = mock!(aws_sdk_ecr::Client::list_image_referrers)
        .match_requests(move |r| {
            r.subject_id().map(|s| s.image_digest()) == Some(root_digest.as_str())
        })
        .then_output(move || {
            aws_sdk_ecr::operation::list_image_referrers::ListImageReferrersOutput::builder()
                .referrers(
                    aws_sdk_ecr::types::ImageReferrer::builder()
                        .digest(&listed_digest)
                        .media_type("application/vnd.oci.image.manifest.v1+json")
                        .artifact_type("application/vnd.docker.attestation.manifest.v1+json")
                        .size(600)
                        .build()
                        .unwrap(),
                )
                .referrers(
                    // A signature, say: not provenance, and never read.
                    aws_sdk_ecr::types::ImageReferrer::builder()
                        .digest(format!("sha256:{}", "2".repeat(64)))
                        .media_type("application/vnd.oci.image.manifest.v1+json")
                        .artifact_type("application/vnd.dev.cosign.artifact.sig.v1+json")
                        .size(300)
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let c = clients(&[&by_tag, &by_digest, &referrers], &[]);
    let outcome = ecr_lambda::check(&c, &check_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    let provenance = &outcome.report.provenance;
    assert_eq!(provenance.len(), 1, "{provenance:?}");
    assert_eq!(provenance[0].digest, referrer.digest);
    // Read from the referrer's layers, as BuildKit annotates them.
    assert_eq!(
        provenance[0].predicate_types,
        ["https://slsa.dev/provenance/v0.2"]
    );
    assert_eq!(
        provenance[0].linked,
        ecr_lambda::manifest::provenance::Link::Referrer
    );
    assert_eq!((referrers.num_calls(), by_digest.num_calls()), (1, 1));
}

#[tokio::test]
async fn referrers_that_cannot_be_listed_are_a_warning() {
    let (read, _) = ready_image();
    let referrers = mock!(aws_sdk_ecr::Client::list_image_referrers)
        .sequence()
        .http_status(500, None)
        .repeatedly()
        .build();
    let c = clients(&[&read, &referrers], &[]);
    let outcome = ecr_lambda::check(&c, &check_request()).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    let codes: Vec<&str> = outcome
        .report
        .warnings
        .iter()
        .map(|w| w.code.as_str())
        .collect();
    assert_eq!(codes, ["provenance-unknown"]);
    assert!(outcome.report.provenance.is_empty());
    assert_eq!(referrers.num_calls(), 3, "retried like any other call");
}

#[tokio::test]
async fn the_same_digest_from_another_repository_is_still_updated() {
    let (read, digest) = ready_image();
    let get = mock!(aws_sdk_lambda::Client::get_function).then_output(move || {
        let mut out = function(LastUpdateStatus::Successful, "rev-1", &digest);
        // Running the same manifest, pulled from a staging repository.
        let code = out.code.take().unwrap();
        out.code = Some(
            FunctionCodeLocation::builder()
                .image_uri(code.image_uri().unwrap().replace("/app@", "/staging@"))
                .resolved_image_uri(
                    code.resolved_image_uri()
                        .unwrap()
                        .replace("/app@", "/staging@"),
                )
                .build(),
        );
        out
    });
    let update = update_answering(Some("rev-1"), LastUpdateStatus::Successful);
    let c = clients(&[&read], &[&get, &update]);
    let outcome = ecr_lambda::deploy(&c, &deploy_request()).await.unwrap();
    assert_eq!(
        outcome.report.update.unwrap().status,
        UpdateStatus::Successful
    );
    assert_eq!(update.num_calls(), 1);
}

/// A ready image (docker-v2) checked against an x86_64 function, with the config
/// read answered by `url`: the report's warnings and problems by code.
async fn check_with_config_url(url: Rule) -> ecr_lambda::output::CheckReport {
    let (read, _) = ready_image();
    let referrers = mock!(aws_sdk_ecr::Client::list_image_referrers).then_output(|| {
        aws_sdk_ecr::operation::list_image_referrers::ListImageReferrersOutput::builder().build()
    });
    let get = mock!(aws_sdk_lambda::Client::get_function)
        .then_output(|| function(LastUpdateStatus::Successful, "rev-1", OLD));
    let c = clients(&[&url, &read, &referrers], &[&get]);
    let mut req = check_request();
    req.function = Some("fn".parse().unwrap());
    ecr_lambda::check(&c, &req).await.unwrap().report
}

fn codes(findings: &[ecr_lambda::manifest::Finding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.code.as_str()).collect()
}

#[tokio::test]
async fn the_config_read_reports_what_the_image_was_built_for() {
    let report = check_with_config_url(config_url()).await;
    let config = report.config.expect("the config was read");
    assert_eq!(config.architecture, "amd64");
    assert_eq!(config.os, "linux");
    assert_eq!(
        config.entrypoint.as_deref(),
        Some(&["/lambda-entrypoint.sh".to_owned()][..])
    );
    assert!(codes(&report.warnings).is_empty(), "{:?}", report.warnings);
}

#[tokio::test]
async fn get_download_url_denied_is_a_warning_naming_the_permission() {
    let denied = mock!(aws_sdk_ecr::Client::get_download_url_for_layer).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
            aws_smithy_types::body::SdkBody::from(
                r#"{"__type":"AccessDeniedException","message":"User is not authorized to perform: ecr:GetDownloadUrlForLayer"}"#,
            ),
        )
    });
    let report = check_with_config_url(denied).await;
    assert!(report.config.is_none());
    assert_eq!(
        codes(&report.warnings),
        ["architecture-unverified", "config-unreadable"]
    );
    let message = &report.warnings[1].message;
    assert!(message.contains("ecr:GetDownloadUrlForLayer"), "{message}");
    assert!(
        report.lambda_ready,
        "a config that cannot be read is no verdict"
    );
}

#[tokio::test]
async fn a_download_url_never_appears_in_what_is_reported() {
    // Nothing listens on port 1: the GET fails, and its error must not carry the URL.
    let secret = mock!(aws_sdk_ecr::Client::get_download_url_for_layer).then_output(|| {
        GetDownloadUrlForLayerOutput::builder()
            .download_url("http://127.0.0.1:1/blob-secret-path?X-Amz-Security-Token=SESSIONTOKEN")
            .build()
    });
    let report = check_with_config_url(secret).await;
    let text = format!("{report}\n{}", serde_json::to_string(&report).unwrap());
    assert!(text.contains("config-unreadable"), "{text}");
    assert!(
        !text.contains("blob-secret-path") && !text.contains("SESSIONTOKEN"),
        "{text}"
    );
}

#[tokio::test]
async fn a_download_url_off_loopback_must_be_https() {
    let plain = mock!(aws_sdk_ecr::Client::get_download_url_for_layer).then_output(|| {
        GetDownloadUrlForLayerOutput::builder()
            .download_url("http://bucket.s3.amazonaws.com/blob?X-Amz-Signature=abc")
            .build()
    });
    let report = check_with_config_url(plain).await;
    let warning = report
        .warnings
        .iter()
        .find(|w| w.code.as_str() == "config-unreadable")
        .expect("config-unreadable");
    assert!(warning.message.contains("not https"), "{}", warning.message);
    assert!(!warning.message.contains("X-Amz-Signature"));
}

#[tokio::test]
async fn a_wall_clock_that_jumps_does_not_end_the_wait_for_an_update() {
    // Every status read finds the wall clock a day further on (NTP stepping it, a
    // laptop waking up). The wait is measured on a monotonic clock, so it still
    // reads once a second until Lambda says the update has ended.
    let (read, digest) = ready_image();
    let clock = instant_time_and_sleep(UNIX_EPOCH);
    let time = clock.0.clone();
    let reads = Arc::new(Mutex::new(0u32));
    let updated = Arc::new(Mutex::new(false));
    let (reads_get, updated_get, updated_update) =
        (reads.clone(), updated.clone(), updated.clone());
    let get = mock!(aws_sdk_lambda::Client::get_function).then_compute_output(move |_| {
        if !*updated_get.lock().unwrap() {
            return function(LastUpdateStatus::Successful, "rev-1", OLD);
        }
        time.advance(Duration::from_secs(86_400));
        let mut n = reads_get.lock().unwrap();
        *n += 1;
        let status = if *n < 4 {
            LastUpdateStatus::InProgress
        } else {
            LastUpdateStatus::Successful
        };
        function(status, "rev-2", &digest)
    });
    let update =
        mock!(aws_sdk_lambda::Client::update_function_code).then_compute_output(move |_| {
            *updated_update.lock().unwrap() = true;
            UpdateFunctionCodeOutput::builder()
                .last_update_status(LastUpdateStatus::InProgress)
                .build()
        });
    let c = clients_with_clock(&[&read], &[&get, &update], clock);
    let mut req = deploy_request();
    req.wait_timeout = Duration::from_secs(600);
    let outcome = ecr_lambda::deploy(&c, &req).await.unwrap();
    let report = outcome.report.update.unwrap();
    assert_eq!(report.status, UpdateStatus::Successful, "{report:?}");
    assert_eq!(report.polls, 4);
    // Four one-second slots, not four days.
    assert!((4_000..5_000).contains(&report.waited_ms), "{report:?}");
}
