//! The gradual part of a deploy: what is read before anything is written (the
//! aliases, the alarms, whether a release can start), and the release walked once
//! every function is updated.

use super::release::Release;
use super::{Target, wait};
use crate::alarms::Alarm;
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::ops::release::{self as gradual_release, Shift};
use crate::ops::{Analysis, Clients, DeployRequest, Gradual, Outcome};
use crate::output::{AliasStatus, DeploymentReport, ReleaseOutcome, ReleaseReport};

/// Before anything is written: the alarms (an unknown one is an error), and why the
/// release cannot start, if it cannot: the refusal, as the release's report.
pub(super) async fn preflight(
    clients: &Clients,
    req: &DeployRequest,
    gradual: &Gradual,
    analyses: &[Analysis],
    releases: &[Option<Release>],
) -> Result<Result<Vec<Alarm>, ReleaseReport>, Error> {
    let alarms = gradual_release::read_alarms(clients, &req.functions, &gradual.alarms).await?;
    let mut reasons: Vec<String> = analyses
        .iter()
        .zip(&req.functions)
        .zip(releases)
        .filter_map(|((analysis, function), release)| {
            let release = release.as_ref().filter(|r| !r.runs_target)?;
            gradual_release::refusal(
                function,
                &release.name,
                release.before.as_ref(),
                release.current.as_ref(),
                analysis.function.as_ref()?,
            )
        })
        .collect();
    if let Some(alarm) = alarms
        .iter()
        .find(|a| a.state == crate::alarms::State::Alarm)
    {
        reasons.push(gradual_release::in_alarm(alarm, true));
    }
    if reasons.is_empty() {
        return Ok(Ok(alarms));
    }
    let mut refused = gradual_release::plan(gradual, &[], alarms);
    refused.outcome = ReleaseOutcome::Refused;
    refused.reason = Some(format!("{}; nothing was written", reasons.join("; ")));
    Ok(Err(refused))
}

/// GetAlias and GetFunction of the alias's version for every function, concurrently;
/// `None` for each without `--alias`.
pub(super) async fn read_releases(
    clients: &Clients,
    req: &DeployRequest,
    analyses: &[Analysis],
) -> Result<Vec<Option<Release>>, Error> {
    let Some(name) = &req.alias else {
        return Ok(vec![None; analyses.len()]);
    };
    let mut reads = tokio::task::JoinSet::new();
    for (i, (analysis, function)) in analyses.iter().zip(&req.functions).enumerate() {
        let target = Target::of(analysis).expect("a ready or fixable image has a target");
        let (clients, function, name) = (
            clients.for_function(function),
            function.clone(),
            name.clone(),
        );
        reads.spawn(async move { (i, Release::read(&clients, &function, &name, &target).await) });
    }
    let mut releases = vec![None; analyses.len()];
    while let Some(done) = reads.join_next().await {
        let (i, release) = done.expect("alias reads do not panic");
        releases[i] = Some(release?);
    }
    Ok(releases)
}

/// After every function's update: the shifts of the aliases that do not run the
/// target yet, walked together; each deployment's alias report says where the
/// release left it.
pub(super) async fn release_gradually(
    clients: &Clients,
    req: &DeployRequest,
    gradual: &crate::ops::Gradual,
    releases: &[Option<Release>],
    deployments: &mut [DeploymentReport],
    alarms: Vec<crate::alarms::Alarm>,
    updates_exit: ExitCode,
) -> Result<(ReleaseReport, ExitCode), Error> {
    let shifts = shifts_of(req, releases, deployments);
    let mut only: Vec<Shift> = shifts.iter().map(|(_, s)| s.clone()).collect();
    let stop = |outcome: ReleaseOutcome, reason: String, exit: ExitCode, alarms| {
        let mut report = gradual_release::plan(gradual, &[], alarms);
        report.outcome = outcome;
        report.reason = Some(reason);
        Outcome { report, exit }
    };
    let mut outcome = if crate::interrupt::heard() && !req.dry_run {
        stop(
            ReleaseOutcome::Interrupted,
            "interrupted during the updates: no traffic moved; run the deploy again to \
             release"
                .into(),
            ExitCode::Interrupted,
            alarms,
        )
    } else if updates_exit != ExitCode::Success {
        stop(
            ReleaseOutcome::Refused,
            "the update did not succeed everywhere; no traffic moved".into(),
            updates_exit,
            alarms,
        )
    } else if only.is_empty() {
        let mut unchanged = stop(
            ReleaseOutcome::Unchanged,
            "every alias already runs the image with all the traffic".into(),
            ExitCode::Success,
            alarms,
        );
        unchanged.report.steps.clear();
        unchanged
    } else if req.dry_run {
        Outcome {
            report: gradual_release::plan(gradual, &only, alarms),
            exit: ExitCode::Success,
        }
    } else {
        match published(clients, req, releases, &shifts, &mut only).await {
            Ok(None) => {
                gradual_release::run(clients, gradual, &mut only, alarms, req.progress).await?
            }
            Ok(Some((outcome, reason, exit))) => stop(outcome, reason, exit, alarms),
            Err(e) => {
                let mut refused = stop(
                    ReleaseOutcome::Refused,
                    format!("the release did not start: {e}; no traffic moved"),
                    e.exit_code(),
                    alarms,
                );
                refused.report.error = Some((&e).into());
                refused
            }
        }
    };
    leave_aliases(&shifts, &only, &outcome.report, deployments);
    // An alarm that fired is a gate that failed (exit 1); an AWS error that stopped
    // the release keeps its exit code (3).
    if outcome.report.outcome == ReleaseOutcome::RolledBack && outcome.report.error.is_none() {
        outcome.exit = ExitCode::NotUsable;
    }
    Ok((outcome.report, outcome.exit))
}

/// The shifts of the aliases that do not run the target yet, each with the index of
/// its function.
fn shifts_of(
    req: &DeployRequest,
    releases: &[Option<Release>],
    deployments: &[DeploymentReport],
) -> Vec<(usize, Shift)> {
    let mut shifts: Vec<(usize, Shift)> = Vec::new();
    for (i, (release, deployment)) in releases.iter().zip(deployments.iter()).enumerate() {
        let Some(release) = release.as_ref().filter(|r| !r.runs_target) else {
            continue;
        };
        let Some(alias) = release.before.clone() else {
            continue;
        };
        shifts.push((
            i,
            Shift {
                function: req.functions[i].clone(),
                previous: alias.version.clone(),
                alias,
                new: deployment.alias.as_ref().and_then(|a| a.version.clone()),
                // Lambda's default timeout, until the new version is read.
                runs_for: std::time::Duration::from_secs(3),
                moved: false,
                description: release.description.clone(),
            },
        ));
    }
    shifts
}

/// Each deployment's alias report: where the release left it.
fn leave_aliases(
    shifts: &[(usize, Shift)],
    only: &[Shift],
    release: &ReleaseReport,
    deployments: &mut [DeploymentReport],
) {
    for ((i, _), shift) in shifts.iter().zip(only) {
        let Some(alias) = deployments[*i].alias.as_mut() else {
            continue;
        };
        match release.outcome {
            ReleaseOutcome::Promoted => {
                alias.status = AliasStatus::Moved;
                alias.version = shift.new.clone();
                alias.weights = shift.alias.weights.clone();
            }
            ReleaseOutcome::Planned => alias.status = AliasStatus::Planned,
            ReleaseOutcome::Unchanged => alias.status = AliasStatus::Unchanged,
            // Traffic moved, and was moved back: the update succeeded, the release
            // did not.
            ReleaseOutcome::RolledBack if shift.moved && shift.alias.weights.is_empty() => {
                alias.status = AliasStatus::RolledBack;
                alias.version = Some(shift.alias.version.clone());
                alias.weights = shift.alias.weights.clone();
                alias.rolled_back_by = release.fired.as_ref().map(|f| f.alarm.clone());
            }
            ReleaseOutcome::Interrupted if !shift.alias.weights.is_empty() => {
                alias.status = AliasStatus::Shifting;
                alias.version = Some(shift.previous.clone());
                alias.weights = shift.alias.weights.clone();
            }
            _ => {
                alias.status = AliasStatus::NotMoved;
                alias.version = Some(shift.alias.version.clone());
                alias.weights = shift.alias.weights.clone();
            }
        }
    }
}

/// The version that holds the image is the alias's own for some function: the
/// release's end (nothing to shift anywhere, or a refusal), before any traffic moves.
fn own_version(only: &[Shift]) -> Option<(ReleaseOutcome, String, ExitCode)> {
    // The version that holds the image may be the alias's own (the same image by
    // digest, pushed to another repository): Lambda refuses an alias weighted to its
    // own version, and there is no traffic to shift.
    let own: Vec<&Shift> = only
        .iter()
        .filter(|s| s.new.as_deref() == Some(s.previous.as_str()))
        .collect();
    if own.is_empty() {
        return None;
    }
    let which: Vec<String> = own
        .iter()
        .map(|s| format!("{} (version {})", s.function, s.previous))
        .collect();
    Some(if own.len() == only.len() {
        (
            ReleaseOutcome::Unchanged,
            format!(
                "the version that holds the image is already the alias's own: {}; \
                 no traffic to shift",
                which.join(", ")
            ),
            ExitCode::Success,
        )
    } else {
        (
            ReleaseOutcome::Refused,
            format!(
                "the version that holds the image is already the alias's own for {}, \
                 and a weighted alias cannot route to its own version; release those \
                 functions apart; no traffic moved",
                which.join(", ")
            ),
            ExitCode::NotUsable,
        )
    })
}

/// Waits for each new version to leave Pending (the probe and the alias need it
/// Active), takes its timeout for the probe, and checks the weighted-alias rules
/// against the version actually chosen (an older one may be reused). `Some` stops
/// the release before any traffic moves: its outcome, reason and exit code.
async fn published(
    clients: &Clients,
    req: &DeployRequest,
    releases: &[Option<Release>],
    shifts: &[(usize, Shift)],
    only: &mut [Shift],
) -> Result<Option<(ReleaseOutcome, String, ExitCode)>, Error> {
    if let Some(stop) = own_version(only) {
        return Ok(Some(stop));
    }
    for ((i, _), shift) in shifts.iter().zip(only.iter_mut()) {
        let version = shift.new.clone().unwrap_or_default();
        let clients = clients.for_function(&shift.function);
        let waited = match wait(
            &clients,
            req.patience(),
            &shift.function,
            Some(&version),
            "publication",
        )
        .await
        {
            Ok(waited) => waited,
            Err(Error::Interrupted(message)) => {
                return Ok(Some((
                    ReleaseOutcome::Interrupted,
                    format!("{message}; no traffic moved"),
                    ExitCode::Interrupted,
                )));
            }
            Err(e) => return Err(e),
        };
        if !waited.state.settled() {
            return Err(AwsError::new(
                "GetFunction",
                AwsErrorKind::Conflict,
                format!(
                    "version {version} of {} was still {} after {} s",
                    shift.function,
                    waited.state.status_line(),
                    req.wait_timeout.as_secs()
                ),
            )
            .with_hint("run the deploy again once the version is Active")
            .into());
        }
        // Only an Active version runs what it is sent. A reused version may have
        // turned Inactive after weeks idle, or Failed (its image deleted): PublishVersion
        // of unchanged code answers that same version (FACTS, "AWS as recorded"), so
        // publishing anew cannot replace it, and the release is refused with its state.
        if let Some(state) = waited.state.not_invocable() {
            return Ok(Some((
                ReleaseOutcome::Refused,
                format!(
                    "version {version} of {} is {state}, and only an Active version takes an \
                     alias's traffic (an Inactive one turns Active again once invoked: \
                     `aws lambda invoke --function-name {} --qualifier {version} out.json`; a \
                     Failed one needs a new version); no traffic moved",
                    shift.function, shift.function
                ),
                ExitCode::NotUsable,
            )));
        }
        if let Some(t) = waited.state.timeout {
            shift.runs_for = t;
        }
        let current = releases[*i].as_ref().and_then(|r| r.current.as_ref());
        if let Some(reason) = gradual_release::refusal(
            &shift.function,
            &shift.alias.name,
            Some(&shift.alias),
            current,
            &waited.state,
        ) {
            return Ok(Some((
                ReleaseOutcome::Refused,
                format!("{reason}; no traffic moved"),
                ExitCode::NotUsable,
            )));
        }
    }
    Ok(None)
}
