use std::time::Duration;

use aws_sdk_lambda::types::LastUpdateStatus;

use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::lambda::{self, FunctionRef, FunctionState, WaitOutcome};
use crate::manifest::rules::{Code, Finding};
use crate::ops::fix::{Fixed, fix_tag, tag_for};
use crate::ops::{Clients, DeployRequest, Outcome, analyse};
use crate::output::{Action, DeployReport, FixReport, FunctionReport, UpdateReport, UpdateStatus};

/// check, fix when needed, UpdateFunctionCode with the target's digest, and wait.
pub async fn deploy(
    clients: &Clients,
    req: &DeployRequest,
) -> Result<Outcome<DeployReport>, Error> {
    let mut analysis = analyse(clients, &req.image, Some(&req.function), req.platform).await?;
    let mut function = analysis
        .function
        .clone()
        .expect("analyse reads the function it is given");

    // An earlier update must finish before this one can start; its result is what
    // this deploy's RevisionId must be taken from.
    if function.update_in_progress() && !req.dry_run {
        tracing::info!(
            "an earlier update of {} is in progress; waiting for it",
            req.function
        );
        match wait(
            clients,
            &req.function,
            req.wait_timeout,
            req.progress,
            "earlier update",
        )
        .await?
        {
            // A failed earlier update does not block this one; its state is current.
            WaitOutcome::Successful(state) | WaitOutcome::Failed { state, .. } => function = state,
            WaitOutcome::TimedOut => {
                return Err(AwsError::new(
                    "GetFunction",
                    AwsErrorKind::Conflict,
                    format!(
                        "an earlier update of {} was still in progress after {} s",
                        req.function,
                        req.wait_timeout.as_secs()
                    ),
                )
                .with_hint("wait for it to finish, or raise --wait-timeout")
                .into());
            }
        }
    }

    let function_report = FunctionReport {
        name: function.name.clone(),
        arn: function.arn.clone(),
        architectures: function.architectures.clone(),
    };
    let stop =
        |analysis: &crate::ops::Analysis, fixed: Fixed, written_tag: Option<String>| Outcome {
            report: DeployReport {
                fix: FixReport {
                    check: analysis.report(),
                    written_tag: fixed.action.and(written_tag),
                    action: fixed.action,
                    provenance_written: fixed.provenance_written,
                },
                function: function_report.clone(),
                image_uri: None,
                update: None,
            },
            exit: ExitCode::NotUsable,
        };

    if !analysis.assessment.lambda_ready() && !analysis.assessment.fixable() {
        return Ok(stop(&analysis, Fixed::default(), None));
    }

    // Fix the tag when the image needs it; a digest reference without --tag deploys
    // the target's digest and writes no tag.
    let mut fixed = Fixed {
        action: Some(Action::AlreadyReady),
        ..Fixed::default()
    };
    let mut written_tag = None;
    if !analysis.assessment.lambda_ready() {
        let tag = tag_for(&analysis, req.tag.as_deref())?;
        let done = fix_tag(
            clients,
            &mut analysis,
            tag.as_deref(),
            req.dry_run,
            req.keep_provenance,
        )
        .await?;
        // An immutable tag, or an attestation not kept: nothing is deployed. A re-run
        // writes what is missing and deploys.
        if done.problem.is_some() {
            return Ok(stop(&analysis, done, tag));
        }
        fixed = done;
        written_tag = tag;
    }
    if written_tag.is_none() && analysis.image.tag().is_none() {
        analysis.assessment.warnings.push(Finding::new(
            Code::UntaggedImage,
            "no tag was written (IMAGE names a digest and no --tag was given): if the deployed \
             manifest has no tag, lifecycle rules that expire untagged images would later break \
             the function; pass --tag to keep it tagged",
        ));
    }

    let image_uri = analysis
        .target_uri()
        .expect("a ready or fixable image has a target");
    let target_digest = analysis
        .assessment
        .target
        .as_ref()
        .map(|t| t.manifest.digest().clone());
    // The same image from the same repository: a function running the same digest
    // from another repository still pulls from there, so it is updated.
    let unchanged = function.running_digest.is_some()
        && function.running_digest == target_digest
        && function.running_repository.as_deref()
            == image_uri.split_once('@').map(|(repository, _)| repository);

    let update = if unchanged {
        UpdateReport {
            status: UpdateStatus::Unchanged,
            version: None,
            reason: None,
        }
    } else if req.dry_run {
        UpdateReport {
            status: UpdateStatus::Planned,
            version: None,
            reason: None,
        }
    } else {
        update_and_wait(clients, req, &function, &image_uri).await?
    };
    let exit = match update.status {
        UpdateStatus::Failed => ExitCode::NotUsable,
        UpdateStatus::InProgress if req.wait => ExitCode::NotUsable,
        _ => ExitCode::Success,
    };
    Ok(Outcome {
        report: DeployReport {
            fix: FixReport {
                check: analysis.report(),
                action: fixed.action,
                written_tag,
                provenance_written: fixed.provenance_written,
            },
            function: function_report,
            image_uri: Some(image_uri),
            update: Some(update),
        },
        exit,
    })
}

async fn update_and_wait(
    clients: &Clients,
    req: &DeployRequest,
    function: &FunctionState,
    image_uri: &str,
) -> Result<UpdateReport, Error> {
    let updated = lambda::update_code(
        &clients.lambda,
        &req.function,
        image_uri,
        function.revision_id.as_deref(),
        req.publish,
    )
    .await?;
    let report = |status, reason| UpdateReport {
        status,
        version: updated.version.clone(),
        reason,
    };
    // Lambda answers InProgress and finishes in the background; an answer that is
    // already final needs no polling.
    match updated.status {
        Some(LastUpdateStatus::Successful) => return Ok(report(UpdateStatus::Successful, None)),
        Some(LastUpdateStatus::Failed) => {
            return Ok(report(UpdateStatus::Failed, updated.reason.clone()));
        }
        _ if !req.wait => return Ok(report(UpdateStatus::InProgress, None)),
        _ => {}
    }
    Ok(
        match wait(
            clients,
            &req.function,
            req.wait_timeout,
            req.progress,
            "update",
        )
        .await?
        {
            WaitOutcome::Successful(_) => report(UpdateStatus::Successful, None),
            WaitOutcome::Failed {
                reason_code,
                reason,
                ..
            } => {
                let reason = match (reason_code, reason) {
                    (Some(code), Some(reason)) => Some(format!("{code}: {reason}")),
                    (code, reason) => code.or(reason),
                };
                report(UpdateStatus::Failed, reason)
            }
            WaitOutcome::TimedOut => report(
                UpdateStatus::InProgress,
                Some(format!(
                    "still in progress after {} s; check it with `aws lambda get-function --function-name {}`",
                    req.wait_timeout.as_secs(),
                    req.function
                )),
            ),
        },
    )
}

/// Waits for the function's update, with a spinner when asked; Ctrl-C stops the
/// waiting (not the update, which goes on at AWS).
async fn wait(
    clients: &Clients,
    function: &FunctionRef,
    timeout: Duration,
    progress: bool,
    what: &str,
) -> Result<WaitOutcome, Error> {
    let spinner = progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("waiting for the {what} of {function}"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let outcome = tokio::select! {
        outcome = lambda::wait_updated(&clients.lambda, function, &clients.lambda_region, timeout) => outcome.map_err(Error::from),
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted(format!(
            "interrupted while waiting: the {what} of {function} goes on at AWS; follow it with \
             `aws lambda wait function-updated-v2 --function-name {function}` or \
             `aws lambda get-function --function-name {function}`"
        ))),
    };
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    outcome
}
