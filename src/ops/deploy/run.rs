//! The update phase: every function's update, `concurrency` at a time, each
//! reported whatever the others did.

use aws_sdk_lambda::types::{LastUpdateStatus, State};

use super::release::Release;
use super::report::{function_report, stopped};
use super::{Target, Updated, Written, target_digest, update_and_wait};
use crate::error::{Error, ExitCode};
use crate::lambda::{FunctionRef, FunctionState};
use crate::ops::{Analysis, Clients, DeployRequest};
use crate::output::{AliasStatus, DeploymentReport, UpdateReport, UpdateStatus};

/// One function's part of the plan, handed to its task.
struct Job {
    index: usize,
    analysis: Analysis,
    function: FunctionRef,
    release: Option<Release>,
    state: FunctionState,
    written_tag: Option<String>,
}

type Running = tokio::task::JoinSet<(usize, Result<DeploymentReport, Error>)>;

/// The updates, concurrently. Ctrl-C ends the waits, not the updates (they go on at
/// AWS): no further write starts after it, and what was written is reported. A
/// single function's error is the command's, unless a tag was written before it
/// (kept in the report).
pub(super) async fn update_all(
    clients: &Clients,
    req: &DeployRequest,
    written: &Written,
) -> Result<Updated, Error> {
    let plan = &written.plan;
    let mut pending = plan
        .analyses
        .iter()
        .zip(&req.functions)
        .zip(&plan.releases)
        .zip(&plan.settled)
        .enumerate()
        .map(|(index, (((analysis, function), release), state))| Job {
            index,
            analysis: analysis.clone(),
            function: function.clone(),
            release: release.clone(),
            state: state.clone(),
            written_tag: written.fixes.written_tag(&target_digest(analysis)),
        });
    let start = |job: Job, running: &mut Running| {
        // Every call about this function in its own region.
        let (clients, req) = (clients.for_function(&job.function), req.clone());
        running.spawn(async move {
            let index = job.index;
            (index, deploy_function(&clients, &req, job).await)
        });
    };
    let mut running = Running::new();
    for job in pending.by_ref().take(req.concurrency.max(1)) {
        start(job, &mut running);
    }
    let mut results: Vec<Option<Result<DeploymentReport, Error>>> =
        (0..plan.analyses.len()).map(|_| None).collect();
    while let Some(done) = running.join_next().await {
        let (i, result) = done.expect("deploy tasks do not panic");
        results[i] = Some(result);
        if !crate::interrupt::heard()
            && let Some(job) = pending.next()
        {
            start(job, &mut running);
        }
    }

    let interrupted = crate::interrupt::heard();
    let single = req.functions.len() == 1;
    let mut deployments: Vec<DeploymentReport> = Vec::new();
    let mut aws_failed = false;
    for ((result, analysis), function) in
        results.into_iter().zip(&plan.analyses).zip(&req.functions)
    {
        let written_tag = written.fixes.written_tag(&target_digest(analysis));
        let result = result.unwrap_or_else(|| {
            Err(Error::Interrupted(format!(
                "interrupted before the update of {function} started; it was not updated"
            )))
        });
        match result {
            Ok(deployment) => deployments.push(deployment),
            Err(e) if single && !interrupted && written_tag.is_none() => return Err(e),
            Err(e) => {
                aws_failed |= e.exit_code() == ExitCode::Aws;
                deployments.push(DeploymentReport {
                    written_tag,
                    ..stopped(analysis, Some((&e).into()))
                });
            }
        }
    }
    let exit = if interrupted {
        ExitCode::Interrupted
    } else if aws_failed {
        ExitCode::Aws
    } else if deployments.iter().all(|d| d.ok(req.wait)) {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    Ok(Updated { deployments, exit })
}

/// Waits for the function to take an update, then updates it to the analysed target
/// and waits for that, and moves the alias (a gradual release only publishes: the
/// aliases move together once every function is updated).
async fn deploy_function(
    clients: &Clients,
    req: &DeployRequest,
    job: Job,
) -> Result<DeploymentReport, Error> {
    let (fref, function, release) = (&job.function, &job.state, job.release);
    let target = Target::of(&job.analysis).expect("a ready or fixable image has a target");
    // The same image from the same repository: a function running the same digest
    // from another repository still pulls from there, so it is updated; so is one
    // whose last update to this image failed, or that is Failed or Inactive. With
    // --alias, an alias that already runs the target needs nothing either.
    let unchanged = release.as_ref().is_some_and(|release| release.runs_target)
        || (function.runs(&target.repository, &target.digest)
            && function.last_update != Some(LastUpdateStatus::Failed)
            && !matches!(function.state, Some(State::Failed | State::Inactive)));
    let latest_runs_target = function.runs(&target.repository, &target.digest);
    let update = if unchanged {
        let mut update = UpdateReport::new(UpdateStatus::Unchanged);
        if !latest_runs_target && let Some(release) = &release {
            // Only the alias runs it: $LATEST is left as it is.
            update.reason = Some(format!(
                "alias {} already runs this image; $LATEST runs {} and is left as it is",
                release.name,
                function.running()
            ));
        }
        update
    } else if req.dry_run {
        UpdateReport::new(UpdateStatus::Planned)
    } else {
        update_and_wait(clients, req, fref, function, &target).await?
    };
    let alias = match release {
        Some(release) if req.gradual.is_some() => {
            let moves = matches!(
                update.status,
                UpdateStatus::Successful | UpdateStatus::Unchanged | UpdateStatus::Planned
            );
            // After Ctrl-C no version is published.
            let moves = moves && (req.dry_run || !crate::interrupt::heard());
            let version = if release.runs_target || !moves {
                release.before.as_ref().map(|a| a.version.clone())
            } else {
                release
                    .version(clients, req, fref, function, &target, &update)
                    .await?
            };
            let status = if release.runs_target {
                AliasStatus::Unchanged
            } else if moves {
                AliasStatus::Planned
            } else {
                AliasStatus::NotMoved
            };
            Some(release.report(version, status))
        }
        Some(release) => Some(
            release
                .point(clients, req, fref, function, &target, &update)
                .await?,
        ),
        None => None,
    };
    Ok(DeploymentReport {
        function: function_report(&job.analysis),
        image_uri: Some(target.uri),
        written_tag: job.written_tag,
        update: Some(update),
        alias,
        problems: Vec::new(),
        error: None,
    })
}
