//! Gradual releases: traffic moved to a new version through a weighted alias, step by
//! step, gated by CloudWatch alarms and a probe, rolled back when an alarm fires.
//!
//! The state of a release is the alias itself (`FunctionVersion` = the previous
//! version, `AdditionalVersionWeights` = the new one and its share), so a release
//! survives the process that started it: `release status|promote|abort` read and
//! finish it from anywhere. Every write carries the RevisionId it was read at.

use std::time::{Duration, SystemTime};

use aws_smithy_types::date_time::{DateTime, Format};

use crate::alarms::{self, Alarm};
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::lambda::releases::{self, Alias};
use crate::lambda::{self, FunctionRef, FunctionState};
use crate::ops::{Clients, Outcome};
use crate::output::{FiredReport, ProbeReport, ReleaseOutcome, ReleaseReport, StepReport};
use crate::strategy::{self, Strategy, Weight};

mod command;
mod walk;

use crate::timeline::Timeline;
use walk::{Slept, Walk};

pub use command::{ReleaseAction, ReleaseRequest, release};

/// `--canary` or `--linear`, with the alarms that gate it and the probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gradual {
    /// How the traffic moves.
    pub strategy: Strategy,
    /// `--alarm`: CloudWatch alarms read before and between the steps; one in ALARM
    /// stops the release and moves the traffic back.
    pub alarms: Vec<String>,
    /// `--probe`: a payload the new version is invoked with before any traffic moves.
    pub probe: Option<Probe>,
}

/// `--probe FILE`: read before any AWS call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The file it was read from (`-` for standard input), for reports.
    pub source: String,
    /// The JSON payload, as read.
    pub payload: Vec<u8>,
}

/// One function's alias in a release.
#[derive(Clone, Debug)]
pub(crate) struct Shift {
    pub function: FunctionRef,
    /// The alias as last read or written: its RevisionId goes with the next write.
    pub alias: Alias,
    /// The version the alias pointed at: it keeps the rest of the traffic until
    /// promotion, and all of it after a rollback.
    pub previous: String,
    /// The version the traffic moves to; `None` in a dry run when it is yet to be
    /// published.
    pub new: Option<String>,
    /// How long one invocation of the new version may run (its `Timeout`): the
    /// probe waits that long.
    pub runs_for: Duration,
    /// This run has written the alias (a weight, or the promotion): what it undoes
    /// when the release cannot go on.
    pub moved: bool,
    /// What the alias's description says once promoted (the image, and its verified
    /// provenance); `None` leaves the description as it is.
    pub description: Option<String>,
}

/// Why a release cannot start on this function's alias, read before anything is
/// written: no alias, an alias on `$LATEST` or already weighted, or versions that a
/// weighted alias cannot join (the Lambda developer guide, *traffic shifting using
/// aliases*: the same execution role, the same dead-letter queue or none).
pub(crate) fn refusal(
    function: &FunctionRef,
    name: &str,
    alias: Option<&Alias>,
    current: Option<&FunctionState>,
    latest: &FunctionState,
) -> Option<String> {
    let Some(alias) = alias else {
        return Some(format!(
            "{function} has no alias {name}, so there is no traffic to shift from: create it \
             with a plain `ecr-lambda deploy IMAGE --function {function} --alias {name}` first"
        ));
    };
    if let Some((version, weight)) = alias.weighted() {
        return Some(format!(
            "alias {name} of {function} already routes {} to version {version} (a release under \
             way): finish it with `ecr-lambda release promote --function {function} --alias {name}` \
             or undo it with `ecr-lambda release abort ...` first",
            Weight::from_fraction(weight)
        ));
    }
    if alias.version == "$LATEST" {
        return Some(format!(
            "alias {name} of {function} points at $LATEST, and a weighted alias cannot: point it \
             at a published version with a plain `deploy --alias {name}` first"
        ));
    }
    let current = current?;
    let differs = |what: &str, old: &Option<String>, new: &Option<String>| {
        (old != new).then(|| {
            format!(
                "version {} of {function} (alias {name}) and the new version would have \
                 different {what} ({} and {}), and the versions of a weighted alias must have \
                 the same",
                alias.version,
                old.as_deref().unwrap_or("none"),
                new.as_deref().unwrap_or("none")
            )
        })
    };
    differs("execution roles", &current.role, &latest.role).or_else(|| {
        differs(
            "dead-letter queues",
            &current.dead_letter_target,
            &latest.dead_letter_target,
        )
    })
}

/// The alarms as they stand, read in the region of each function they gate (an
/// alarm is regional: a function given by ARN in another region is watched by the
/// alarms of that region); an unknown name is an error.
pub(crate) async fn read_alarms(
    clients: &Clients,
    functions: &[FunctionRef],
    names: &[String],
) -> Result<Vec<Alarm>, Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut regions: Vec<String> = functions
        .iter()
        .map(|f| {
            f.region
                .clone()
                .unwrap_or_else(|| clients.lambda_region.clone())
        })
        .collect();
    if regions.is_empty() {
        regions.push(clients.lambda_region.clone());
    }
    regions.sort();
    regions.dedup();
    let mut read = Vec::new();
    for region in &regions {
        read.extend(alarms::read(&clients.cloudwatch_in(region), names).await?);
    }
    Ok(read)
}

/// `alarm NAME is [already ]in ALARM (its state reason)`, for reasons.
pub(crate) fn in_alarm(alarm: &Alarm, already: bool) -> String {
    format!(
        "alarm {} is {}in ALARM{}",
        alarm.name,
        if already { "already " } else { "" },
        alarm
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}

fn firing(alarms: &[Alarm]) -> Option<&Alarm> {
    alarms.iter().find(|a| a.state == alarms::State::Alarm)
}

/// The report of a release that has not started: every step with its offset and no
/// times, and the alarms as read before anything was written.
pub(crate) fn plan(gradual: &Gradual, shifts: &[Shift], alarms: Vec<Alarm>) -> ReleaseReport {
    let mut offset = Duration::ZERO;
    let steps = gradual
        .strategy
        .steps()
        .iter()
        .map(|s| {
            let step = StepReport {
                weight: s.weight.fraction(),
                offset_seconds: offset.as_secs(),
                hold_seconds: s.hold.as_secs(),
                started_at: None,
                ended_at: None,
            };
            offset += s.hold;
            step
        })
        .collect();
    let probes: Vec<ProbeReport> = gradual
        .probe
        .iter()
        .flat_map(|p| {
            shifts.iter().map(|s| ProbeReport {
                function: s.function.to_string(),
                version: s.new.clone(),
                source: p.source.clone(),
                bytes: p.payload.len(),
                status: None,
                function_error: None,
                error_type: None,
                error_message: None,
                log_tail: Vec::new(),
                passed: None,
            })
        })
        .collect();
    ReleaseReport {
        strategy: gradual.strategy.to_string(),
        outcome: ReleaseOutcome::Planned,
        reason: None,
        steps,
        // The alarms were read once before anything was written.
        alarm_reads: u32::from(!alarms.is_empty()),
        alarms,
        fired: None,
        probe: (shifts.len() == 1)
            .then(|| probes.first().cloned())
            .flatten(),
        probes,
        promoted_at: None,
        error: None,
        warnings: Vec::new(),
    }
}

fn timestamp(at: SystemTime) -> String {
    DateTime::from(at)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Every alias of the release, as one command line names them.
fn functions_flags(shifts: &[Shift]) -> String {
    let mut flags: Vec<String> = shifts
        .iter()
        .map(|s| format!("--function {}", s.function))
        .collect();
    if let Some(s) = shifts.first() {
        flags.push(format!("--alias {}", s.alias.name));
    }
    flags.join(" ")
}

/// UpdateAlias of every function at once (each in its own region): the new version
/// when promoting, else the previous one with `weight` for the new version, or no
/// weights. Each alias's new RevisionId is kept for its next write. The first error,
/// once every write has ended; [`run`] then moves back what this run moved.
async fn write_all(
    clients: &Clients,
    shifts: &mut [Shift],
    promote: bool,
    weight: Option<Weight>,
) -> Result<(), Error> {
    let mut writes = tokio::task::JoinSet::new();
    for (i, shift) in shifts.iter().enumerate() {
        let (client, shift) = (clients.lambda_for(&shift.function).0, shift.clone());
        writes.spawn(async move {
            let new = shift.new.clone().unwrap_or_default();
            let (version, weighted) = if promote {
                (new.as_str(), None)
            } else {
                (
                    shift.previous.as_str(),
                    weight.map(|w| (new.as_str(), w.fraction())),
                )
            };
            // The promotion records what now runs in the alias's description.
            let description = shift.description.as_deref().filter(|_| promote);
            let written = releases::update_alias_described(
                &client,
                &shift.function,
                &shift.alias,
                version,
                weighted,
                description,
            )
            .await;
            (i, written)
        });
    }
    let mut first_error = None;
    while let Some(done) = writes.join_next().await {
        let (i, written) = done.expect("alias writes do not panic");
        match written {
            Ok(alias) => {
                shifts[i].alias = alias;
                shifts[i].moved = true;
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Runs a release whose new versions are published: the probes, the alarms before
/// the first weight, each step and its bake, then promotion; an alarm in ALARM moves
/// every alias back to its previous version. Ctrl-C leaves the aliases as they are.
pub(crate) async fn run(
    clients: &Clients,
    gradual: &Gradual,
    shifts: &mut [Shift],
    alarms: Vec<Alarm>,
    progress: bool,
) -> Result<Outcome<ReleaseReport>, Error> {
    let config = clients.lambda.config();
    let (Some(clock), Some(sleep)) = (config.time_source(), config.sleep_impl()) else {
        return Err(AwsError::new(
            "UpdateAlias",
            AwsErrorKind::Service,
            "the Lambda client has no clock to walk a release with",
        )
        .into());
    };
    // Holds are measured on the monotonic timeline; the wall clock only stamps the
    // report.
    let timeline = Timeline::start(sleep);
    let mut walk = Walk {
        clients,
        functions: shifts.iter().map(|s| s.function.clone()).collect(),
        clock: Box::new(move || clock.now()),
        // The alarms were read (before anything was written) just before this.
        last_read: (!alarms.is_empty()).then_some(Duration::ZERO),
        judged: alarms
            .iter()
            .filter(|a| a.state != alarms::State::InsufficientData)
            .map(|a| a.name.clone())
            .collect(),
        timeline,
        progress: progress.then(|| crate::ops::spinner(gradual.strategy.to_string())),
        report: plan(gradual, shifts, alarms),
    };
    let result = walk_release(&mut walk, gradual, shifts).await;
    if let Some(bar) = &walk.progress {
        bar.finish_and_clear();
    }
    if walk.report.steps.iter().any(|s| s.started_at.is_some()) {
        walk.warn_unjudged(&gradual.alarms);
    }
    let exit = match result {
        Ok(exit) => exit,
        // Whatever stopped the release (a write refused or failed, an alarm that could
        // not be read, a probe AWS refused), what this run moved goes back, so that no
        // alias is left weighted with nothing watching it; the report says so.
        Err(e) => {
            walk.report.error = Some((&e).into());
            stopped(clients, shifts, &mut walk.report, &e).await;
            e.exit_code()
        }
    };
    Ok(Outcome {
        report: walk.report,
        exit,
    })
}

/// After an error: every alias this run moved back on its previous version alone,
/// with the RevisionIds it chained (anyone else's later change is refused, not
/// overwritten); the outcome and reason say where each alias was left.
async fn stopped(clients: &Clients, shifts: &mut [Shift], report: &mut ReleaseReport, e: &Error) {
    let flags = functions_flags(shifts);
    let mut back = Vec::new();
    let mut left = Vec::new();
    for shift in shifts.iter_mut().filter(|s| s.moved) {
        let client = clients.lambda_for(&shift.function).0;
        match releases::update_alias(
            &client,
            &shift.function,
            &shift.alias,
            &shift.previous,
            None,
        )
        .await
        {
            Ok(alias) => {
                shift.alias = alias;
                back.push(shift.function.to_string());
            }
            Err(undo) => left.push(format!("{} ({undo})", shift.function)),
        }
    }
    report.outcome = if !back.is_empty() && left.is_empty() {
        ReleaseOutcome::RolledBack
    } else if back.is_empty() && left.is_empty() {
        ReleaseOutcome::Refused
    } else {
        ReleaseOutcome::Stopped
    };
    let mut reason = match &report.fired {
        Some(fired) => format!(
            "alarm {} entered ALARM at {} of the traffic, and moving it back stopped: {e}",
            fired.alarm,
            Weight::from_fraction(fired.weight)
        ),
        None => format!("the release stopped: {e}"),
    };
    if !back.is_empty() {
        reason.push_str(&format!(
            "; moved back to the previous version alone: {}",
            back.join(", ")
        ));
    }
    if !left.is_empty() {
        reason.push_str(&format!(
            "; NOT moved back (see `ecr-lambda release status {flags}`): {}",
            left.join(", ")
        ));
    }
    if back.is_empty() && left.is_empty() {
        reason.push_str("; no traffic had moved");
    }
    report.reason = Some(reason);
}

async fn walk_release(
    walk: &mut Walk<'_>,
    gradual: &Gradual,
    shifts: &mut [Shift],
) -> Result<ExitCode, Error> {
    let flags = functions_flags(shifts);
    let refused = |walk: &mut Walk<'_>, reason: String| {
        walk.report.outcome = ReleaseOutcome::Refused;
        walk.report.reason = Some(reason);
        Ok(ExitCode::NotUsable)
    };

    if let Some(probe) = &gradual.probe
        && let Some(exit) = probe_all(walk, probe, shifts, &flags).await?
    {
        return Ok(exit);
    }
    if walk.interrupted() {
        return Ok(interrupted(walk, shifts, 0, &flags));
    }
    // The gate before the first weight: the update may have taken minutes.
    if let Some(alarm) = walk.read_alarms(&gradual.alarms).await? {
        return refused(
            walk,
            format!("{}; no traffic moved", in_alarm(&alarm, false)),
        );
    }

    let steps = gradual.strategy.steps();
    for (i, step) in steps.iter().enumerate() {
        if walk.interrupted() {
            return Ok(interrupted(walk, shifts, i, &flags));
        }
        write_all(walk.clients, shifts, false, Some(step.weight)).await?;
        let started = walk.timeline.elapsed();
        walk.report.steps[i].started_at = Some(timestamp(walk.now()));
        tracing::info!(
            "step {}: {} of the traffic to the new version for {}",
            i + 1,
            step.weight,
            strategy::format_duration(step.hold)
        );
        let label = format!("{} of the traffic on the new version", step.weight);
        for at in strategy::alarm_reads(step.hold) {
            if let Slept::Interrupted = walk.sleep_until(started + at, &label).await {
                return Ok(interrupted(walk, shifts, i + 1, &flags));
            }
            // An alarm that cannot be read cannot gate: the error stops the release,
            // and run() moves the traffic back.
            let fired = walk.read_alarms(&gradual.alarms).await?;
            if let Some(alarm) = fired {
                return roll_back(walk, shifts, i, step.weight, &alarm).await;
            }
        }
        walk.report.steps[i].ended_at = Some(timestamp(walk.now()));
    }
    if walk.interrupted() {
        return Ok(interrupted(walk, shifts, steps.len(), &flags));
    }
    write_all(walk.clients, shifts, true, None).await?;
    walk.report.promoted_at = Some(timestamp(walk.now()));
    walk.report.outcome = ReleaseOutcome::Promoted;
    Ok(ExitCode::Success)
}

/// The probes: each new version invoked once, before any traffic reaches it. `Some`
/// ends the release with no traffic moved: Ctrl-C, or a probe that failed (refused).
async fn probe_all(
    walk: &mut Walk<'_>,
    probe: &Probe,
    shifts: &[Shift],
    flags: &str,
) -> Result<Option<ExitCode>, Error> {
    for (i, shift) in shifts.iter().enumerate() {
        let version = shift.new.clone().unwrap_or_default();
        if let Some(bar) = &walk.progress {
            bar.set_message(format!("probing {} version {version}", shift.function));
        }
        // An Invoke may take the function's whole timeout: Ctrl-C is heard during
        // it, and nothing has moved yet.
        let client = walk.clients.lambda_for(&shift.function).0;
        let invoked = tokio::select! {
            invoked = lambda::invoke(
                &client,
                &shift.function,
                &version,
                &probe.payload,
                shift.runs_for,
            ) => invoked?,
            _ = crate::interrupt::ctrl_c() => {
                return Ok(Some(interrupted(walk, shifts, 0, flags)));
            }
        };
        let report = &mut walk.report.probes[i];
        report.status = Some(invoked.status);
        report.passed = Some(invoked.passed());
        report.function_error = invoked.function_error.clone();
        report.error_type = invoked.error_type.clone();
        report.error_message = invoked.error_message.clone();
        report.log_tail = invoked.log_tail.clone();
    }
    if walk.report.probes.len() == 1 {
        walk.report.probe = walk.report.probes.first().cloned();
    }
    let Some(failed) = walk.report.probes.iter().find(|p| p.passed == Some(false)) else {
        return Ok(None);
    };
    let reason = format!(
        "the probe of {} version {} failed{}; no traffic moved",
        failed.function,
        failed.version.as_deref().unwrap_or("?"),
        failed
            .error_type
            .as_deref()
            .or(failed.function_error.as_deref())
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    walk.report.outcome = ReleaseOutcome::Refused;
    walk.report.reason = Some(reason);
    Ok(Some(ExitCode::NotUsable))
}

/// An alarm in ALARM during step `i`: every alias back on its previous version alone.
async fn roll_back(
    walk: &mut Walk<'_>,
    shifts: &mut [Shift],
    i: usize,
    weight: Weight,
    alarm: &Alarm,
) -> Result<ExitCode, Error> {
    // Recorded before the write back, which may fail: the report names the alarm
    // whatever becomes of it.
    walk.report.fired = Some(FiredReport {
        alarm: alarm.name.clone(),
        reason: alarm.reason.clone(),
        weight: weight.fraction(),
    });
    write_all(walk.clients, shifts, false, None).await?;
    walk.report.steps[i].ended_at = Some(timestamp(walk.now()));
    walk.report.outcome = ReleaseOutcome::RolledBack;
    walk.report.reason = Some(format!(
        "alarm {} entered ALARM at {weight} of the traffic{}: the weights were cleared, \
         every alias is back on its previous version alone",
        alarm.name,
        alarm
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    ));
    Ok(ExitCode::NotUsable)
}

/// Ctrl-C: the aliases are left as they are, and the report says how to go on.
fn interrupted(walk: &mut Walk<'_>, shifts: &[Shift], written: usize, flags: &str) -> ExitCode {
    walk.report.outcome = ReleaseOutcome::Interrupted;
    walk.report.reason = Some(if written == 0 {
        format!(
            "interrupted before any traffic moved; the new versions are published: run the \
             deploy again to release them ({flags})"
        )
    } else {
        let shares: Vec<String> = shifts
            .iter()
            .filter_map(|s| {
                s.alias.weighted().map(|(v, w)| {
                    format!(
                        "{} routes {} to version {v}",
                        s.function,
                        Weight::from_fraction(w)
                    )
                })
            })
            .collect();
        format!(
            "interrupted; the aliases are left as they are ({}): finish with `ecr-lambda release \
             promote {flags}`, or move the traffic back with `ecr-lambda release abort {flags}`",
            shares.join("; ")
        )
    });
    ExitCode::Interrupted
}

#[cfg(test)]
mod tests;
