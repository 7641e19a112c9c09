//! Gradual releases at the SDK boundary, on a test clock (no real time passes): the
//! order and content of the alias writes, the cadence of the alarm reads over a bake,
//! an alarm firing mid-bake, a concurrent change (412), throttled and denied alarm
//! reads, and a failing probe. The emulator shows the same paths end to end
//! (tests/gradual.rs); these add what no emulator can: typed errors and sequences.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
use aws_sdk_ecr::types::{Image, ImageIdentifier};
use aws_sdk_lambda::operation::get_alias::GetAliasOutput;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::operation::list_versions_by_function::ListVersionsByFunctionOutput;
use aws_sdk_lambda::operation::update_alias::{UpdateAliasError, UpdateAliasOutput};
use aws_sdk_lambda::types::error::PreconditionFailedException;
use aws_sdk_lambda::types::{
    AliasRoutingConfiguration, Architecture, FunctionCodeLocation, FunctionConfiguration,
    LastUpdateStatus, PackageType, State,
};
use aws_smithy_async::test_util::{ManualTimeSource, instant_time_and_sleep};
use aws_smithy_async::time::TimeSource;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::Blob;
use aws_smithy_types::retry::RetryConfig;

use ecr_lambda::output::{AliasStatus, ReleaseOutcome};
use ecr_lambda::strategy::{Strategy, Weight};
use ecr_lambda::{Clients, DeployRequest, ExitCode, Gradual, Probe};
use support::{ACCOUNT, load_case};

const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:fn";
const OLD: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// What the fake Lambda was asked to write to the alias: (FunctionVersion, weights,
/// RevisionId sent).
type Writes = Arc<Mutex<Vec<(String, Vec<(String, f64)>, Option<String>)>>>;

struct Fake {
    clients: Clients,
    time: ManualTimeSource,
    writes: Writes,
    rules: Vec<Rule>,
}

impl Fake {
    fn rule(&self, i: usize) -> &Rule {
        &self.rules[i]
    }
}

fn state(running: &str, version: &str) -> GetFunctionOutput {
    let uri = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app@{running}");
    GetFunctionOutput::builder()
        .configuration(
            FunctionConfiguration::builder()
                .function_name("fn")
                .function_arn(FUNCTION_ARN)
                .package_type(PackageType::Image)
                .architectures(Architecture::X8664)
                .state(State::Active)
                .last_update_status(LastUpdateStatus::Successful)
                .revision_id("rev-1")
                .role("arn:aws:iam::123456789012:role/app")
                .version(version)
                .build(),
        )
        .code(
            FunctionCodeLocation::builder()
                .image_uri(&uri)
                .resolved_image_uri(&uri)
                .build(),
        )
        .build()
}

fn alarms_answer(state: StateValue) -> DescribeAlarmsOutput {
    DescribeAlarmsOutput::builder()
        .metric_alarms(
            MetricAlarm::builder()
                .alarm_name("errors")
                .state_value(state.clone())
                .state_reason(format!("Threshold Crossed: {}", state.as_str()))
                .build(),
        )
        .build()
}

/// A function whose `$LATEST` already runs the image (version 2 holds it), an alias
/// `live` at version 1, and an UpdateAlias that answers a new RevisionId each time
/// unless `update_alias` is given.
fn fake(alarms: Rule, update_alias: Option<Rule>, invoke: Option<Rule>) -> Fake {
    let root = load_case("docker-v2").root;
    let target = root.digest.clone();
    let read = mock!(aws_sdk_ecr::Client::batch_get_image).then_output(move || {
        BatchGetImageOutput::builder()
            .images(
                Image::builder()
                    .registry_id(ACCOUNT)
                    .repository_name("app")
                    .image_id(
                        ImageIdentifier::builder()
                            .image_digest(&root.digest)
                            .build(),
                    )
                    .image_manifest(&root.bytes)
                    .image_manifest_media_type(&root.media_type)
                    .build(),
            )
            .build()
    });
    let running = target.clone();
    let get = mock!(aws_sdk_lambda::Client::get_function).then_compute_output(move |r| {
        match r.qualifier() {
            Some("1") => state(OLD, "1"),
            Some(v) => state(&running, v),
            None => state(&running, "$LATEST"),
        }
    });
    let get_alias = mock!(aws_sdk_lambda::Client::get_alias).then_output(|| {
        GetAliasOutput::builder()
            .name("live")
            .function_version("1")
            .revision_id("alias-rev-0")
            .build()
    });
    let hex = target.trim_start_matches("sha256:").to_owned();
    let versions =
        mock!(aws_sdk_lambda::Client::list_versions_by_function).then_output(move || {
            ListVersionsByFunctionOutput::builder()
                .versions(
                    FunctionConfiguration::builder()
                        .version("1")
                        .code_sha256(OLD.trim_start_matches("sha256:"))
                        .build(),
                )
                .versions(
                    FunctionConfiguration::builder()
                        .version("2")
                        .code_sha256(&hex)
                        .build(),
                )
                .build()
        });
    let writes: Writes = Arc::default();
    let seen = writes.clone();
    let update_alias = update_alias.unwrap_or_else(|| {
        mock!(aws_sdk_lambda::Client::update_alias).then_compute_output(move |r| {
            let weights: Vec<(String, f64)> = r
                .routing_config()
                .and_then(|c| c.additional_version_weights())
                .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default();
            let mut all = seen.lock().unwrap();
            all.push((
                r.function_version().unwrap_or_default().to_owned(),
                weights.clone(),
                r.revision_id().map(str::to_owned),
            ));
            UpdateAliasOutput::builder()
                .name("live")
                .function_version(r.function_version().unwrap_or_default())
                .routing_config(
                    AliasRoutingConfiguration::builder()
                        .set_additional_version_weights(Some(weights.into_iter().collect()))
                        .build(),
                )
                .revision_id(format!("alias-rev-{}", all.len()))
                .build()
        })
    });
    let invoke = invoke.unwrap_or_else(|| {
        mock!(aws_sdk_lambda::Client::invoke)
            .then_output(|| InvokeOutput::builder().status_code(200).build())
    });
    let (time, sleep) = instant_time_and_sleep(UNIX_EPOCH);
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1));
    let (t1, s1, t2, s2, t3, s3) = (
        time.clone(),
        sleep.clone(),
        time.clone(),
        sleep.clone(),
        time.clone(),
        sleep.clone(),
    );
    let (r1, r2, r3) = (retry.clone(), retry.clone(), retry);
    // The config blob is fetched for real, from a loopback server of the fixtures.
    let port = support::blob_server();
    let config = mock!(aws_sdk_ecr::Client::get_download_url_for_layer).then_compute_output(
        move |r| {
            let digest = r.layer_digest().unwrap_or_default();
            aws_sdk_ecr::operation::get_download_url_for_layer::GetDownloadUrlForLayerOutput::builder()
                .download_url(format!("http://127.0.0.1:{port}/{digest}"))
                .layer_digest(digest)
                .build()
        },
    );
    let ecr = mock_client!(
        aws_sdk_ecr,
        RuleMode::MatchAny,
        [&read, &config],
        move |c| c
            .retry_config(r1.clone())
            .sleep_impl(s1.clone())
            .time_source(t1.clone())
    );
    let lambda = mock_client!(
        aws_sdk_lambda,
        RuleMode::MatchAny,
        [&get, &get_alias, &versions, &update_alias, &invoke],
        move |c| c
            .retry_config(r2.clone())
            .sleep_impl(s2.clone())
            .time_source(t2.clone())
    );
    let cloudwatch = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&alarms],
        move |c| c
            .retry_config(r3.clone())
            .sleep_impl(s3.clone())
            .time_source(t3.clone())
    );
    Fake {
        clients: Clients {
            ecr,
            lambda,
            cloudwatch,
            ecr_region: "us-east-1".into(),
            lambda_region: "us-east-1".into(),
            calls: Default::default(),
        },
        time,
        writes,
        // alarms, UpdateAlias, Invoke, GetFunction
        rules: vec![alarms, update_alias, invoke, get],
    }
}

fn request(strategy: Strategy, probe: bool) -> DeployRequest {
    DeployRequest {
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v2"
            .parse()
            .unwrap(),
        functions: vec!["fn".parse().unwrap()],
        concurrency: 4,
        platform: None,
        tag: None,
        publish: false,
        alias: Some("live".into()),
        wait: true,
        wait_timeout: Duration::from_secs(60),
        dry_run: false,
        keep_provenance: true,
        progress: false,
        gradual: Some(Gradual {
            strategy,
            alarms: vec!["errors".into()],
            probe: probe.then(|| Probe {
                source: "probe.json".into(),
                payload: br#"{"ping": true}"#.to_vec(),
            }),
        }),
        provenance: Default::default(),
        protect: false,
    }
}

fn canary(percent: &str, seconds: u64) -> Strategy {
    Strategy::Canary {
        weight: percent.parse::<Weight>().unwrap(),
        bake: Duration::from_secs(seconds),
    }
}

fn always(state: StateValue) -> Rule {
    mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .then_output(move || alarms_answer(state.clone()))
}

fn cloudwatch_error(code: &str, message: &str) -> DescribeAlarmsError {
    DescribeAlarmsError::generic(
        aws_sdk_cloudwatch::error::ErrorMetadata::builder()
            .code(code)
            .message(message)
            .build(),
    )
}

fn elapsed(time: &ManualTimeSource) -> Duration {
    time.now().duration_since(UNIX_EPOCH).unwrap()
}

#[tokio::test]
async fn a_canary_writes_its_weight_then_promotes_reading_the_alarms_every_5_s() {
    let f = fake(always(StateValue::Ok), None, None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 300), false))
        .await
        .unwrap();
    assert_eq!(
        outcome.exit,
        ExitCode::Success,
        "{:?}",
        outcome.report.release
    );
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Promoted);
    // The previous version keeps 90 %, then the new one takes all: two writes, each
    // with the RevisionId the one before it answered.
    assert_eq!(
        *f.writes.lock().unwrap(),
        vec![
            (
                "1".to_owned(),
                vec![("2".to_owned(), 0.1)],
                Some("alias-rev-0".to_owned())
            ),
            ("2".to_owned(), vec![], Some("alias-rev-1".to_owned())),
        ]
    );
    // One read before anything is written, one before the weight, then one every
    // 5 s of the 300 s bake.
    assert_eq!(release.alarm_reads, 62);
    assert_eq!(f.rule(0).num_calls(), 62);
    assert_eq!(release.steps.len(), 1);
    assert!(release.steps[0].started_at.is_some() && release.steps[0].ended_at.is_some());
    assert!(release.promoted_at.is_some());
    // The bake was held on the client's clock (the test clock also moves with the
    // SDK's own timers, so only a floor is exact).
    assert!(
        elapsed(&f.time) >= Duration::from_secs(300),
        "{:?}",
        elapsed(&f.time)
    );
    let alias = outcome.report.alias.unwrap();
    assert_eq!(alias.status, AliasStatus::Moved);
    assert_eq!(alias.version.as_deref(), Some("2"));
    assert_eq!(alias.previous_version.as_deref(), Some("1"));
}

#[tokio::test]
async fn linear_steps_climb_to_all_the_traffic() {
    let f = fake(always(StateValue::Ok), None, None);
    let strategy = Strategy::Linear {
        step: "30".parse().unwrap(),
        every: Duration::from_secs(10),
    };
    let outcome = ecr_lambda::deploy(&f.clients, &request(strategy, false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    let weights: Vec<(String, Vec<(String, f64)>)> = f
        .writes
        .lock()
        .unwrap()
        .iter()
        .map(|(v, w, _)| (v.clone(), w.clone()))
        .collect();
    assert_eq!(
        weights,
        vec![
            ("1".to_owned(), vec![("2".to_owned(), 0.3)]),
            ("1".to_owned(), vec![("2".to_owned(), 0.6)]),
            ("1".to_owned(), vec![("2".to_owned(), 0.9)]),
            ("2".to_owned(), vec![]),
        ]
    );
    // 2 before the first weight, then 3 steps × 2 reads (10 s in 5 s slices).
    assert_eq!(f.rule(0).num_calls(), 8);
}

#[tokio::test]
async fn an_alarm_in_alarm_mid_bake_clears_the_weights_and_exits_1() {
    let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .output(|| alarms_answer(StateValue::Ok))
        .times(3)
        .output(|| alarms_answer(StateValue::Alarm))
        .repeatedly()
        .build();
    let f = fake(alarms, None, None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::RolledBack);
    let fired = release.fired.unwrap();
    assert_eq!(fired.alarm, "errors");
    assert_eq!(fired.weight, 0.1);
    assert_eq!(fired.reason.as_deref(), Some("Threshold Crossed: ALARM"));
    // The weight, then the weights cleared with the version kept: never promoted.
    let writes = f.writes.lock().unwrap().clone();
    assert_eq!(writes.len(), 2);
    assert_eq!((writes[1].0.as_str(), writes[1].1.len()), ("1", 0));
    // Before anything is written, before the weight, at 5 s, then in ALARM at 10 s:
    // the rest of the 60 s bake is not waited for.
    assert_eq!(f.rule(0).num_calls(), 4);
    assert_eq!(release.alarm_reads, 4);
    assert!(
        elapsed(&f.time) < Duration::from_secs(30),
        "{:?}",
        elapsed(&f.time)
    );
    let alias = outcome.report.alias.unwrap();
    assert_eq!(alias.status, AliasStatus::NotMoved);
    assert_eq!(alias.version.as_deref(), Some("1"));
}

#[tokio::test]
async fn an_alarm_already_in_alarm_refuses_before_anything_is_written() {
    let f = fake(always(StateValue::Alarm), None, None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), true))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Refused);
    assert!(
        release
            .reason
            .unwrap()
            .contains("errors is already in ALARM")
    );
    assert!(f.writes.lock().unwrap().is_empty());
    // Refused before the probe, too.
    assert_eq!(f.rule(2).num_calls(), 0);
}

#[tokio::test]
async fn a_concurrent_alias_change_stops_the_release_with_exit_3_and_writes_nothing_more() {
    let refused = mock!(aws_sdk_lambda::Client::update_alias).then_error(|| {
        UpdateAliasError::PreconditionFailedException(
            PreconditionFailedException::builder()
                .message("The Revision Id provided does not match the latest Revision Id.")
                .meta(
                    aws_sdk_lambda::error::ErrorMetadata::builder()
                        .code("PreconditionFailedException")
                        .build(),
                )
                .build(),
        )
    });
    let f = fake(always(StateValue::Ok), Some(refused), None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Aws);
    let release = outcome.report.release.unwrap();
    // Nothing of ours had moved: nothing to move back.
    assert_eq!(release.outcome, ReleaseOutcome::Refused);
    let error = release.error.unwrap();
    assert_eq!(error.kind, ecr_lambda::error::ErrorKind::Conflict);
    assert!(error.message.contains("UpdateAlias"), "{}", error.message);
    assert!(
        error
            .hint
            .as_deref()
            .unwrap()
            .contains("nothing was overwritten")
    );
    // One refused write, not retried, and no other.
    assert_eq!(f.rule(1).num_calls(), 1);
}

#[tokio::test]
async fn throttled_alarm_reads_are_retried() {
    let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .error(|| cloudwatch_error("Throttling", "Rate exceeded"))
        .times(2)
        .output(|| alarms_answer(StateValue::Ok))
        .repeatedly()
        .build();
    let f = fake(alarms, None, None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 5), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Promoted);
    // The first read (before anything is written) took three attempts; the gate
    // and the bake's one read, one each.
    assert_eq!(release.alarm_reads, 3);
    assert_eq!(f.rule(0).num_calls(), 5);
}

#[tokio::test]
async fn an_alarm_that_cannot_be_read_mid_bake_moves_the_traffic_back_and_exits_3() {
    let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .output(|| alarms_answer(StateValue::Ok))
        .times(2)
        .error(|| {
            cloudwatch_error(
                "AccessDenied",
                "not authorized to perform: cloudwatch:DescribeAlarms",
            )
        })
        .repeatedly()
        .build();
    let f = fake(alarms, None, None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Aws);
    let release = outcome.report.release.unwrap();
    // It cannot gate: the weight goes back, and the report says why.
    assert_eq!(release.outcome, ReleaseOutcome::RolledBack);
    let error = release.error.unwrap();
    assert_eq!(error.kind, ecr_lambda::error::ErrorKind::AccessDenied);
    assert!(
        error
            .hint
            .as_deref()
            .unwrap()
            .contains("cloudwatch:DescribeAlarms"),
        "{error:?}"
    );
    assert!(release.reason.unwrap().contains("moved back"));
    let writes = f.writes.lock().unwrap().clone();
    assert_eq!(writes.len(), 2);
    assert!(writes[1].1.is_empty());
    assert_eq!(writes[1].0, "1");
}

#[tokio::test]
async fn a_failing_probe_moves_no_traffic_and_reports_the_error_and_log_tail() {
    let log = "START RequestId: 1\nTraceback (most recent call last):\nKeyError: 'orders'\nEND RequestId: 1\n";
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let invoke = mock!(aws_sdk_lambda::Client::invoke)
        .match_requests(move |r| {
            seen.lock().unwrap().push((
                r.qualifier().map(str::to_owned),
                r.log_type().map(|l| l.as_str().to_owned()),
                r.payload().map(|p| p.as_ref().to_vec()),
            ));
            true
        })
        .then_output(move || {
            InvokeOutput::builder()
                .status_code(200)
                .function_error("Unhandled")
                .log_result(aws_smithy_types::base64::encode(log))
                .payload(Blob::new(
                    r#"{"errorType": "KeyError", "errorMessage": "'orders'", "stackTrace": []}"#,
                ))
                .build()
        });
    let f = fake(always(StateValue::Ok), None, Some(invoke));
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), true))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Refused);
    let probe = release.probe.unwrap();
    assert_eq!(probe.passed, Some(false));
    assert_eq!(probe.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(probe.error_type.as_deref(), Some("KeyError"));
    assert_eq!(probe.error_message.as_deref(), Some("'orders'"));
    assert_eq!(
        probe.log_tail.last().map(String::as_str),
        Some("END RequestId: 1")
    );
    assert!(f.writes.lock().unwrap().is_empty());
    assert_eq!(
        *asked.lock().unwrap(),
        vec![(
            Some("2".to_owned()),
            Some("Tail".to_owned()),
            Some(br#"{"ping": true}"#.to_vec())
        )]
    );
}
