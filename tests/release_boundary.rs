//! Gradual releases at the SDK boundary, on a test clock (no real time passes): the
//! order and content of the alias writes, the cadence of the alarm reads over a bake,
//! an alarm firing mid-bake, a concurrent change (412), throttled and denied alarm
//! reads, and a failing probe. The emulator shows the same paths end to end
//! (tests/gradual.rs); these add what no emulator can: typed errors and sequences.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::config::{ConfigBag, Region, RuntimeComponents};
use aws_sdk_cloudwatch::operation::describe_alarms::{DescribeAlarmsError, DescribeAlarmsOutput};
use aws_sdk_cloudwatch::types::{AlarmType, CompositeAlarm};
use aws_sdk_cloudwatch::types::{MetricAlarm, StateValue};
use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
use aws_sdk_ecr::types::{Image, ImageIdentifier};
use aws_sdk_lambda::operation::get_alias::GetAliasOutput;
use aws_sdk_lambda::operation::get_function::GetFunctionOutput;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::operation::list_versions_by_function::ListVersionsByFunctionOutput;
use aws_sdk_lambda::operation::update_alias::{UpdateAliasError, UpdateAliasOutput};
use aws_sdk_lambda::types::error::{PreconditionFailedException, ResourceConflictException};
use aws_sdk_lambda::types::{
    AliasRoutingConfiguration, Architecture, FunctionCodeLocation, FunctionConfiguration,
    LastUpdateStatus, PackageType, State, StateReasonCode,
};
use aws_smithy_async::rt::sleep::{AsyncSleep, SharedAsyncSleep, Sleep};
use aws_smithy_async::test_util::{ManualTimeSource, instant_time_and_sleep};
use aws_smithy_async::time::{SharedTimeSource, TimeSource};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
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
    /// The requests of the CloudWatch client, by URI.
    hosts: Hosts,
    rules: Vec<Rule>,
}

impl Fake {
    fn rule(&self, i: usize) -> &Rule {
        &self.rules[i]
    }
}

fn state(running: &str, version: &str) -> GetFunctionOutput {
    state_as(running, version, State::Active, None)
}

/// A version in `state`, with a `StateReasonCode` and its reason when given.
fn state_as(
    running: &str,
    version: &str,
    state: State,
    code: Option<(StateReasonCode, &str)>,
) -> GetFunctionOutput {
    let uri = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/app@{running}");
    GetFunctionOutput::builder()
        .configuration(
            FunctionConfiguration::builder()
                .function_name("fn")
                .function_arn(FUNCTION_ARN)
                .package_type(PackageType::Image)
                .architectures(Architecture::X8664)
                .state(state)
                .set_state_reason_code(code.as_ref().map(|(c, _)| c.clone()))
                .set_state_reason(code.as_ref().map(|(_, r)| (*r).to_owned()))
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
    fake_with(
        alarms,
        Options {
            update_alias,
            invoke,
            ..Options::default()
        },
    )
}

/// What a test changes in [`fake`].
#[derive(Default)]
struct Options {
    update_alias: Option<Rule>,
    invoke: Option<Rule>,
    /// What GetFunction of version 2 (the new one) answers, else Active.
    version_2: Option<GetFunctionOutput>,
    /// The clock and sleeper of every client, else a test clock that moves with
    /// each sleep.
    clock: Option<(SharedTimeSource, SharedAsyncSleep)>,
    /// The region the clients are configured with (where the function is not).
    default_region: Option<&'static str>,
    /// Version 1 (the alias's) holds the image too, pulled from another repository,
    /// and is the only version that does.
    image_elsewhere: bool,
    /// The alias routes 10 % to version 2 (a release under way).
    weighted: bool,
}

/// Records the host of every request a client sends (the region is in it).
#[derive(Clone, Debug, Default)]
struct Hosts(Arc<Mutex<Vec<String>>>);

impl Intercept for Hosts {
    fn name(&self) -> &'static str {
        "hosts"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri().to_owned();
        self.0.lock().unwrap().push(uri);
        Ok(())
    }
}

fn fake_with(alarms: Rule, options: Options) -> Fake {
    let Options {
        update_alias,
        invoke,
        version_2,
        clock,
        default_region,
        image_elsewhere,
        weighted,
    } = options;
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
            Some("1") if image_elsewhere => {
                let mut out = state(&running, "1");
                let uri = format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/other@{running}");
                out.code = Some(
                    FunctionCodeLocation::builder()
                        .image_uri(&uri)
                        .resolved_image_uri(&uri)
                        .build(),
                );
                out
            }
            Some("1") => state(OLD, "1"),
            Some("2") if version_2.is_some() => version_2.clone().unwrap(),
            Some(v) => state(&running, v),
            None => state(&running, "$LATEST"),
        }
    });
    let get_alias = mock!(aws_sdk_lambda::Client::get_alias).then_output(move || {
        GetAliasOutput::builder()
            .name("live")
            .function_version("1")
            .revision_id("alias-rev-0")
            .set_routing_config(weighted.then(|| {
                AliasRoutingConfiguration::builder()
                    .additional_version_weights("2", 0.1)
                    .build()
            }))
            .build()
    });
    let hex = target.trim_start_matches("sha256:").to_owned();
    let versions =
        mock!(aws_sdk_lambda::Client::list_versions_by_function).then_output(move || {
            let one = FunctionConfiguration::builder()
                .version("1")
                .code_sha256(if image_elsewhere {
                    hex.as_str()
                } else {
                    OLD.trim_start_matches("sha256:")
                })
                .build();
            let two = FunctionConfiguration::builder()
                .version("2")
                .code_sha256(&hex)
                .build();
            ListVersionsByFunctionOutput::builder()
                .set_versions(Some(if image_elsewhere {
                    vec![one]
                } else {
                    vec![one, two]
                }))
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
    let (manual, instant) = instant_time_and_sleep(UNIX_EPOCH);
    let time = manual.clone();
    let (manual, instant): (SharedTimeSource, SharedAsyncSleep) = match clock {
        Some(clock) => clock,
        None => (
            SharedTimeSource::new(manual),
            SharedAsyncSleep::new(instant),
        ),
    };
    let sleep = instant;
    let region = Region::new(default_region.unwrap_or("us-east-1"));
    let hosts = Hosts::default();
    let seen_hosts = hosts.clone();
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1));
    let (t1, s1, t2, s2, t3, s3) = (
        manual.clone(),
        sleep.clone(),
        manual.clone(),
        sleep.clone(),
        manual.clone(),
        sleep.clone(),
    );
    let (g2, g3) = (region.clone(), region.clone());
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
    // The way back (version 1's image): in ECR, tagged, ACTIVE.
    let way_back = mock!(aws_sdk_ecr::Client::describe_images).then_output(|| {
        aws_sdk_ecr::operation::describe_images::DescribeImagesOutput::builder()
            .image_details(
                aws_sdk_ecr::types::ImageDetail::builder()
                    .image_digest(OLD)
                    .image_tags("v1")
                    .image_status(aws_sdk_ecr::types::ImageStatus::Active)
                    .build(),
            )
            .build()
    });
    let ecr = mock_client!(
        aws_sdk_ecr,
        RuleMode::MatchAny,
        [&read, &config, &way_back],
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
            .region(g2.clone())
    );
    let cloudwatch = mock_client!(
        aws_sdk_cloudwatch,
        RuleMode::MatchAny,
        [&alarms],
        move |c| c
            .retry_config(r3.clone())
            .sleep_impl(s3.clone())
            .time_source(t3.clone())
            .region(g3.clone())
            .interceptor(seen_hosts.clone())
    );
    Fake {
        clients: Clients {
            ecr,
            lambda,
            cloudwatch,
            ecr_region: "us-east-1".into(),
            lambda_region: default_region.unwrap_or("us-east-1").into(),
            calls: Default::default(),
        },
        time,
        writes,
        hosts,
        // alarms, UpdateAlias, Invoke, GetFunction, GetAlias, DescribeImages
        rules: vec![alarms, update_alias, invoke, get, get_alias, way_back],
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
        .match_requests(asks_for_errors)
        .then_output(move || alarms_answer(state.clone()))
}

/// DescribeAlarms as the tool must send it: the alarm given, metric and composite
/// alarms both (CloudWatch answers only metric alarms when no type is given).
fn asks_for_errors(
    r: &aws_sdk_cloudwatch::operation::describe_alarms::DescribeAlarmsInput,
) -> bool {
    r.alarm_names() == ["errors"]
        && r.alarm_types().contains(&AlarmType::CompositeAlarm)
        && r.alarm_types().contains(&AlarmType::MetricAlarm)
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
    // The way back was read once, and is safe: no warning.
    assert_eq!(f.rule(5).num_calls(), 1);
    assert!(
        outcome.report.fix.check.warnings.is_empty(),
        "{:?}",
        outcome.report.fix.check.warnings
    );
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
    // The update succeeded and the release was rolled back: the alias says so, and
    // by which alarm.
    let alias = outcome.report.alias.unwrap();
    assert_eq!(alias.status, AliasStatus::RolledBack);
    assert_eq!(alias.rolled_back_by.as_deref(), Some("errors"));
    assert_eq!(alias.version.as_deref(), Some("1"));
    let text = alias.to_string();
    assert!(text.contains("rolled back to version 1"), "{text}");
    assert!(text.contains("alarm errors"), "{text}");
    assert!(!text.contains("did not succeed"), "{text}");
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
    // Nothing needed updating; the release left the alias where it was, and the text
    // says no more than that.
    let text = outcome.report.to_string();
    assert!(text.contains("update:    unchanged"), "{text}");
    assert!(text.contains("live not moved from version 1"), "{text}");
    assert!(!text.contains("did not succeed"), "{text}");
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

/// A wall clock that jumps a day ahead at every reading (a stepped clock, a laptop
/// waking up).
#[derive(Clone, Debug, Default)]
struct Jumping(Arc<Mutex<u64>>);

impl TimeSource for Jumping {
    fn now(&self) -> SystemTime {
        let mut n = self.0.lock().unwrap();
        *n += 1;
        UNIX_EPOCH + Duration::from_secs(86_400 * *n)
    }
}

/// A sleeper that returns at once and records what it was asked to sleep.
#[derive(Clone, Debug, Default)]
struct Counted(Arc<Mutex<Vec<Duration>>>);

impl AsyncSleep for Counted {
    fn sleep(&self, duration: Duration) -> Sleep {
        self.0.lock().unwrap().push(duration);
        Sleep::new(async {})
    }
}

#[tokio::test]
async fn a_wall_clock_that_jumps_does_not_end_the_bake() {
    let slept = Counted::default();
    let f = fake_with(
        always(StateValue::Ok),
        Options {
            clock: Some((
                SharedTimeSource::new(Jumping::default()),
                SharedAsyncSleep::new(slept.clone()),
            )),
            ..Options::default()
        },
    );
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 300), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert_eq!(
        outcome.report.release.unwrap().outcome,
        ReleaseOutcome::Promoted
    );
    // The whole bake was slept, in the 5 s slices between two alarm reads, although
    // every reading of the wall clock was a day past the last (a wall-clock hold ends
    // at once: no slice at all). (The SDK's own timers share the sleeper:
    // stalled-stream grace periods, 100 ms polls.) The holds are timed on the real
    // monotonic clock too, so the real time the walk takes before its first hold
    // (more than half a second on a loaded machine) shortens the first slice or two:
    // at least 55 of the 60 are whole.
    let slices = slept
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|d| **d == Duration::from_secs(5))
        .count();
    assert!((55..=60).contains(&slices), "{slices} slices of 5 s");
    assert_eq!(f.rule(0).num_calls(), 62);
}

#[tokio::test]
async fn a_409_on_the_alias_is_an_update_in_progress_not_someone_elses_move() {
    let busy = mock!(aws_sdk_lambda::Client::update_alias).then_error(|| {
        UpdateAliasError::ResourceConflictException(
            ResourceConflictException::builder()
                .message(
                    "The operation cannot be performed at this time. An update is in \
                     progress for resource: arn:aws:lambda:us-east-1:123456789012:function:fn",
                )
                .meta(
                    aws_sdk_lambda::error::ErrorMetadata::builder()
                        .code("ResourceConflictException")
                        .build(),
                )
                .build(),
        )
    });
    let f = fake(always(StateValue::Ok), Some(busy), None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Aws);
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Refused);
    let hint = release.error.unwrap().hint.unwrap();
    assert!(hint.contains("update of fn is in progress"), "{hint}");
    assert!(!hint.contains("someone else"), "{hint}");
    // Not taken for a lost answer of our own: the alias is not read again.
    assert_eq!(f.rule(4).num_calls(), 1);
    assert_eq!(f.rule(1).num_calls(), 1);
}

async fn refused_with(version_2: GetFunctionOutput) -> (Fake, ecr_lambda::output::ReleaseReport) {
    let f = fake_with(
        always(StateValue::Ok),
        Options {
            version_2: Some(version_2),
            ..Options::default()
        },
    );
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    assert_eq!(
        outcome.exit,
        ExitCode::NotUsable,
        "{:?}",
        outcome.report.release
    );
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Refused);
    assert!(f.writes.lock().unwrap().is_empty());
    (f, release)
}

#[tokio::test]
async fn an_inactive_reused_version_takes_no_traffic() {
    let target = load_case("docker-v2").root.digest;
    let (_, release) = refused_with(state_as(
        &target,
        "2",
        State::Inactive,
        Some((StateReasonCode::Idle, "The function is idle.")),
    ))
    .await;
    let reason = release.reason.unwrap();
    assert!(
        reason.contains("version 2 of fn is Inactive: Idle"),
        "{reason}"
    );
    assert!(reason.contains("only an Active version"), "{reason}");
}

#[tokio::test]
async fn a_failure_code_ends_the_wait_for_the_new_version_at_once() {
    let target = load_case("docker-v2").root.digest;
    let (f, release) = refused_with(state_as(
        &target,
        "2",
        State::Pending,
        Some((
            StateReasonCode::InsufficientCapacity,
            "Not enough capacity to scale up.",
        )),
    ))
    .await;
    let reason = release.reason.unwrap();
    assert!(reason.contains("Pending: InsufficientCapacity"), "{reason}");
    // One read, not a minute of them until the timeout.
    assert!(
        elapsed(&f.time) < Duration::from_secs(5),
        "{:?}",
        elapsed(&f.time)
    );
}

#[tokio::test]
async fn a_state_the_tool_does_not_know_is_reported_not_waited_on() {
    let target = load_case("docker-v2").root.digest;
    let (f, release) = refused_with(state_as(&target, "2", State::from("Hibernating"), None)).await;
    let reason = release.reason.unwrap();
    assert!(
        reason.contains("version 2 of fn is Hibernating"),
        "{reason}"
    );
    assert!(
        elapsed(&f.time) < Duration::from_secs(5),
        "{:?}",
        elapsed(&f.time)
    );
}

#[tokio::test]
async fn a_composite_alarm_in_alarm_rolls_the_release_back() {
    let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(asks_for_errors)
        .sequence()
        .output(|| alarms_answer(StateValue::Ok))
        .times(2)
        .output(|| {
            DescribeAlarmsOutput::builder()
                .composite_alarms(
                    CompositeAlarm::builder()
                        .alarm_name("errors")
                        .state_value(StateValue::Alarm)
                        .state_reason("arn:...:alarm:5xx transitioned to ALARM")
                        .build(),
                )
                .build()
        })
        .repeatedly()
        .build();
    let f = fake(alarms, None, None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::NotUsable);
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::RolledBack);
    assert_eq!(release.fired.unwrap().alarm, "errors");
}

#[tokio::test]
async fn an_alarm_insufficient_data_all_along_is_a_warning() {
    let f = fake(always(StateValue::InsufficientData), None, None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 10), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Promoted);
    assert_eq!(release.warnings.len(), 1, "{:?}", release.warnings);
    assert!(release.warnings[0].contains("alarm errors was INSUFFICIENT_DATA at every read"));
    assert!(release.to_string().contains("warning:   alarm errors"));
    // A warning names an alarm, whose name CloudWatch takes as any text: shown
    // escaped, as every other line is.
    let mut release = release;
    release.warnings[0] = "alarm x\u{1b}]0;pwned\u{7}\u{1b}[2J was INSUFFICIENT_DATA".into();
    let text = release.to_string();
    assert!(!text.contains('\u{1b}'), "{text:?}");
}

#[tokio::test]
async fn an_alarm_that_judged_once_is_no_warning() {
    let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .match_requests(asks_for_errors)
        .sequence()
        .output(|| alarms_answer(StateValue::InsufficientData))
        .times(3)
        .output(|| alarms_answer(StateValue::Ok))
        .repeatedly()
        .build();
    let f = fake(alarms, None, None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 10), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    assert!(outcome.report.release.unwrap().warnings.is_empty());
}

#[tokio::test]
async fn alarms_are_read_in_the_functions_region() {
    // Clients configured for us-west-2; the function given by its us-east-1 ARN.
    let f = fake_with(
        always(StateValue::Ok),
        Options {
            default_region: Some("us-west-2"),
            ..Options::default()
        },
    );
    let mut req = request(canary("10", 5), false);
    req.functions = vec![FUNCTION_ARN.parse().unwrap()];
    let outcome = ecr_lambda::deploy(&f.clients, &req).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success, "{:?}", outcome.report);
    let hosts = f.hosts.0.lock().unwrap().clone();
    assert_eq!(hosts.len(), 3, "{hosts:?}");
    assert!(
        hosts.iter().all(|h| h.contains("monitoring.us-east-1.")),
        "{hosts:?}"
    );
}

#[tokio::test]
async fn the_aliass_own_version_is_never_its_weighted_version() {
    // The alias's version 1 holds the same image, pulled from another repository:
    // the version that holds the image is the alias's own. Lambda refuses a weight
    // on it (400), and there is no traffic to shift.
    let f = fake_with(
        always(StateValue::Ok),
        Options {
            image_elsewhere: true,
            ..Options::default()
        },
    );
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    assert_eq!(
        outcome.exit,
        ExitCode::Success,
        "{:?}",
        outcome.report.release
    );
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Unchanged);
    assert!(release.reason.unwrap().contains("already the alias's own"),);
    assert!(f.writes.lock().unwrap().is_empty());
    assert_eq!(outcome.report.alias.unwrap().status, AliasStatus::Unchanged);
}

#[tokio::test]
async fn a_plain_alias_move_never_goes_to_an_inactive_reused_version() {
    let target = load_case("docker-v2").root.digest;
    let f = fake_with(
        always(StateValue::Ok),
        Options {
            version_2: Some(state_as(
                &target,
                "2",
                State::Inactive,
                Some((StateReasonCode::Idle, "The function is idle.")),
            )),
            ..Options::default()
        },
    );
    let mut req = request(canary("10", 60), false);
    req.gradual = None;
    let (exit, message) = match ecr_lambda::deploy(&f.clients, &req).await {
        Ok(outcome) => (outcome.exit, format!("{:?}", outcome.report)),
        Err(e) => (e.exit_code(), e.to_string()),
    };
    assert_eq!(exit, ExitCode::Aws, "{message}");
    assert!(
        message.contains("version 2 of fn holds the image but is Inactive: Idle"),
        "{message}"
    );
    assert!(f.writes.lock().unwrap().is_empty());
}

/// `release promote` gives the weighted version all the traffic only when it is
/// Active: a Failed one (its image deleted) is refused with its state, and the alias
/// is not written; `release abort` (back to the alias's own version) still goes.
#[tokio::test]
async fn release_promote_never_moves_the_traffic_to_a_version_that_is_not_active() {
    use ecr_lambda::ops::{ReleaseAction, ReleaseRequest, release};
    let target = load_case("docker-v2").root.digest;
    let f = fake_with(
        always(StateValue::Ok),
        Options {
            weighted: true,
            version_2: Some(state_as(
                &target,
                "2",
                State::Failed,
                Some((
                    StateReasonCode::ImageDeleted,
                    "The function's image has been deleted.",
                )),
            )),
            ..Options::default()
        },
    );
    let mut req = ReleaseRequest {
        action: ReleaseAction::Promote,
        functions: vec!["fn".parse().unwrap()],
        alias: "live".into(),
        dry_run: false,
    };
    let (exit, message) = match release(&f.clients, &req).await {
        Ok(outcome) => (outcome.exit, format!("{:?}", outcome.report)),
        Err(e) => (e.exit_code(), format!("{e}: {:?}", e.hint())),
    };
    assert_eq!(exit, ExitCode::Aws, "{message}");
    assert!(
        message.contains("version 2 of fn") && message.contains("Failed: ImageDeleted"),
        "{message}"
    );
    assert!(f.writes.lock().unwrap().is_empty());
    req.action = ReleaseAction::Abort;
    let outcome = release(&f.clients, &req).await.unwrap();
    assert_eq!(outcome.exit, ExitCode::Success);
    let writes = f.writes.lock().unwrap().clone();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!((writes[0].0.as_str(), writes[0].1.len()), ("1", 0));
}

/// An alarm fires mid-bake and the write that moves the traffic back is refused:
/// the report still names the alarm that fired, and at which weight, beside the
/// error that left the alias weighted.
#[tokio::test]
async fn an_alarm_whose_rollback_write_fails_is_still_reported() {
    let alarms = mock!(aws_sdk_cloudwatch::Client::describe_alarms)
        .sequence()
        .output(|| alarms_answer(StateValue::Ok))
        .times(3)
        .output(|| alarms_answer(StateValue::Alarm))
        .repeatedly()
        .build();
    let update_alias = mock!(aws_sdk_lambda::Client::update_alias)
        .sequence()
        .output(|| {
            UpdateAliasOutput::builder()
                .name("live")
                .function_version("1")
                .routing_config(
                    AliasRoutingConfiguration::builder()
                        .additional_version_weights("2", 0.1)
                        .build(),
                )
                .revision_id("alias-rev-1")
                .build()
        })
        .times(1)
        .error(|| {
            UpdateAliasError::generic(
                aws_sdk_lambda::error::ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("not authorized to perform: lambda:UpdateAlias")
                    .build(),
            )
        })
        .repeatedly()
        .build();
    let f = fake(alarms, Some(update_alias), None);
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    assert_eq!(outcome.exit, ExitCode::Aws);
    let release = outcome.report.release.unwrap();
    assert_eq!(release.outcome, ReleaseOutcome::Stopped, "{release:?}");
    let fired = release.fired.as_ref().expect("the alarm that fired");
    assert_eq!((fired.alarm.as_str(), fired.weight), ("errors", 0.1));
    let reason = release.reason.clone().unwrap();
    assert!(reason.contains("alarm errors entered ALARM"), "{reason}");
    assert!(reason.contains("NOT moved back"), "{reason}");
}

/// The wait for a new version is timed on a monotonic clock, as the holds are: a
/// wall clock that jumps a day at every reading neither ends it at the first read
/// nor stretches it; it reads about once a second until `--wait-timeout` (60 s).
#[tokio::test]
async fn a_wall_clock_that_jumps_does_not_end_a_wait() {
    let target = load_case("docker-v2").root.digest;
    let slept = Counted::default();
    let f = fake_with(
        always(StateValue::Ok),
        Options {
            version_2: Some(state_as(&target, "2", State::Pending, None)),
            clock: Some((
                SharedTimeSource::new(Jumping::default()),
                SharedAsyncSleep::new(slept.clone()),
            )),
            ..Options::default()
        },
    );
    let outcome = ecr_lambda::deploy(&f.clients, &request(canary("10", 60), false))
        .await
        .unwrap();
    let release = outcome.report.release.unwrap();
    assert_eq!(outcome.exit, ExitCode::Aws, "{release:?}");
    let reason = release.reason.unwrap();
    assert!(reason.contains("still Pending after 60 s"), "{reason}");
    // Every read of version 2 but the alias's own: once a second for the minute.
    let polls = f.rule(3).num_calls();
    assert!((55..=65).contains(&polls), "{polls} reads");
    assert!(f.writes.lock().unwrap().is_empty());
}
