use std::time::Duration;

use aws_sdk_lambda::types::{LastUpdateStatus, State};

use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::lambda::{self, FunctionRef, FunctionState, Waited, releases};
use crate::manifest::rules::{Code, Finding};
use crate::ops::fix::{Fixed, fix_tag, tag_for};
use crate::ops::{Analysis, Clients, DeployRequest, Outcome, analyse};
use crate::output::{
    Action, AliasReport, DeployReport, FixReport, FunctionReport, UpdateReport, UpdateStatus,
};

/// check, fix when needed, UpdateFunctionCode with the target's digest, and wait.
pub async fn deploy(
    clients: &Clients,
    req: &DeployRequest,
) -> Result<Outcome<DeployReport>, Error> {
    let mut analysis = analyse(clients, &req.image, Some(&req.function), req.platform).await?;
    analysis.read_config(clients, req.platform).await;
    let mut function = analysis
        .function
        .clone()
        .expect("analyse reads the function it is given");
    let function_report = FunctionReport {
        name: function.name.clone(),
        arn: function.arn.clone(),
        architectures: function.architectures.clone(),
        state: function.state.as_ref().map(|s| s.as_str().to_owned()),
    };
    if let Some(state @ (State::Failed | State::Inactive)) = &function.state {
        analysis.assessment.warnings.push(Finding::new(
            Code::FunctionNotActive,
            format!(
                "function {} is {}{}; the update is attempted, which is how Lambda brings such a \
                 function back",
                req.function,
                state.as_str(),
                function
                    .state_reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        ));
    }
    let stop = |analysis: &Analysis, fixed: Fixed, written_tag: Option<String>| Outcome {
        exit: fixed.exit(),
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
            alias: None,
        },
    };

    if !analysis.assessment.lambda_ready() && !analysis.assessment.fixable() {
        return Ok(stop(&analysis, Fixed::default(), None));
    }

    // Lambda refuses a code update while the function is being created (Pending) or
    // an earlier update runs; that update's result is where this one's RevisionId
    // comes from.
    if !function.settled() && !req.dry_run {
        let what = if function.state == Some(State::Pending) {
            "creation"
        } else {
            "earlier update"
        };
        tracing::info!(
            "the {what} of {} is in progress; waiting for it",
            req.function
        );
        let waited = wait(clients, req, what).await?;
        if waited.timed_out {
            return Err(AwsError::new(
                "GetFunction",
                AwsErrorKind::Conflict,
                format!(
                    "the {what} of {} was still in progress after {} s ({})",
                    req.function,
                    req.wait_timeout.as_secs(),
                    waited.state.status_line()
                ),
            )
            .with_hint("wait for it to finish, or raise --wait-timeout")
            .into());
        }
        // A failed earlier update does not block this one.
        function = waited.state;
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

    let target = Target::of(&analysis).expect("a ready or fixable image has a target");
    let alias = match &req.alias {
        Some(name) => Some(Release::read(clients, req, name, &target).await?),
        None => None,
    };
    // The same image from the same repository: a function running the same digest
    // from another repository still pulls from there, so it is updated; so is one
    // whose last update to this image failed. With --alias, an alias that already
    // runs the target needs nothing either.
    let unchanged = alias.as_ref().is_some_and(|release| release.runs_target)
        || (function.runs(&target.repository, &target.digest)
            && function.last_update != Some(LastUpdateStatus::Failed)
            && !matches!(function.state, Some(State::Failed | State::Inactive)));
    let update = if unchanged {
        UpdateReport::new(UpdateStatus::Unchanged)
    } else if req.dry_run {
        UpdateReport::new(UpdateStatus::Planned)
    } else {
        update_and_wait(clients, req, &function, &target).await?
    };
    let alias = match alias {
        Some(release) => Some(
            release
                .point(clients, req, &function, &target, &update)
                .await?,
        ),
        None => None,
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
            image_uri: Some(target.uri),
            update: Some(update),
            alias,
        },
        exit,
    })
}

/// `--alias`: the alias as it was read, and whether it already runs the target.
struct Release {
    name: String,
    before: Option<releases::Alias>,
    runs_target: bool,
}

impl Release {
    async fn read(
        clients: &Clients,
        req: &DeployRequest,
        name: &str,
        target: &Target,
    ) -> Result<Release, Error> {
        let before = releases::get_alias(&clients.lambda, &req.function, name).await?;
        let runs_target = match &before {
            Some(alias) => lambda::get_qualified(
                &clients.lambda,
                &req.function,
                Some(&alias.version),
                &clients.lambda_region,
            )
            .await?
            .runs(&target.repository, &target.digest),
            None => false,
        };
        Ok(Release {
            name: name.to_owned(),
            before,
            runs_target,
        })
    }

    /// Points the alias at the version that holds the target: the one the update
    /// published, else one already published with this image, else a new one of
    /// what `$LATEST` runs. Not moved when the update did not succeed.
    async fn point(
        self,
        clients: &Clients,
        req: &DeployRequest,
        function: &FunctionState,
        target: &Target,
        update: &UpdateReport,
    ) -> Result<AliasReport, Error> {
        let previous = self.before.as_ref().map(|a| a.version.clone());
        let report = |version: Option<String>, created: bool| AliasReport {
            name: self.name.clone(),
            version,
            previous_version: previous.clone(),
            created,
        };
        if self.runs_target {
            return Ok(report(previous.clone(), false));
        }
        let moves = matches!(
            update.status,
            UpdateStatus::Successful | UpdateStatus::Unchanged | UpdateStatus::Planned
        );
        if !moves {
            return Ok(report(previous.clone(), false));
        }
        let existing = || async {
            let versions = releases::list_versions(&clients.lambda, &req.function).await?;
            Ok::<_, Error>(
                versions
                    .into_iter()
                    .rev()
                    .find(|v| v.holds(&target.digest))
                    .map(|v| v.version),
            )
        };
        if req.dry_run {
            let reused = match update.status {
                UpdateStatus::Unchanged => existing().await?,
                _ => None,
            };
            return Ok(report(reused, self.before.is_none()));
        }
        let version = match &update.version {
            Some(version) => version.clone(),
            None => match existing().await? {
                Some(version) => version,
                None => {
                    releases::publish_version(
                        &clients.lambda,
                        &req.function,
                        &target.digest,
                        function.revision_id.as_deref(),
                    )
                    .await?
                }
            },
        };
        releases::point_alias(
            &clients.lambda,
            &req.function,
            &self.name,
            &version,
            self.before.as_ref(),
        )
        .await?;
        Ok(report(Some(version), self.before.is_none()))
    }
}

/// What the function is to run: the target manifest by digest.
pub(crate) struct Target {
    /// `REGISTRY/REPOSITORY@DIGEST`, what UpdateFunctionCode is given.
    pub uri: String,
    /// `REGISTRY/REPOSITORY`, as Lambda's `ResolvedImageUri` names it.
    pub repository: String,
    pub digest: Digest,
}

impl Target {
    fn of(analysis: &Analysis) -> Option<Target> {
        let uri = analysis.target_uri()?;
        let digest = analysis
            .assessment
            .target
            .as_ref()?
            .manifest
            .digest()
            .clone();
        let repository = uri.split_once('@')?.0.to_owned();
        Some(Target {
            uri,
            repository,
            digest,
        })
    }
}

impl UpdateReport {
    pub(crate) fn new(status: UpdateStatus) -> UpdateReport {
        UpdateReport {
            status,
            version: None,
            reason: None,
            polls: 0,
            waited_ms: 0,
        }
    }
}

pub(crate) async fn update_and_wait(
    clients: &Clients,
    req: &DeployRequest,
    function: &FunctionState,
    target: &Target,
) -> Result<UpdateReport, Error> {
    let updated = match lambda::update_code(
        &clients.lambda,
        &req.function,
        &target.uri,
        function.revision_id.as_deref(),
        req.publish || req.alias.is_some(),
    )
    .await
    {
        Ok(updated) => updated,
        // Refused because the function is busy or changed since it was read. When an
        // earlier attempt of this very request went through and only its answer was
        // lost, the SDK's retry meets our own update: the function then runs (or is
        // being updated to) the target, and this deploy goes on waiting for it. Any
        // other image is someone else's change.
        Err(refused) if refused.kind == AwsErrorKind::Conflict => {
            let now = lambda::get_function(&clients.lambda, &req.function, &clients.lambda_region)
                .await?;
            // Ours changed the revision; a refusal while nothing changed is not ours.
            if !now.runs(&target.repository, &target.digest)
                || now.revision_id == function.revision_id
            {
                return Err(conflict(refused, &req.function, &now).into());
            }
            tracing::info!(
                "{} is already being updated to the target: an earlier attempt of this update \
                 went through and its answer was lost",
                req.function
            );
            lambda::Updated {
                status: now.last_update.clone(),
                // A version published by that attempt is not named by the function's
                // state; ListVersionsByFunction would find it.
                version: None,
                reason: now.last_update_reason.clone(),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let mut report = UpdateReport {
        version: updated.version.clone(),
        ..UpdateReport::new(UpdateStatus::InProgress)
    };
    // Lambda answers InProgress and finishes in the background; an answer that is
    // already final needs no polling.
    match updated.status {
        Some(LastUpdateStatus::Successful) => {
            report.status = UpdateStatus::Successful;
            return Ok(report);
        }
        Some(LastUpdateStatus::Failed) => {
            report.status = UpdateStatus::Failed;
            report.reason = updated.reason;
            return Ok(report);
        }
        _ if !req.wait => return Ok(report),
        _ => {}
    }
    let waited = wait(clients, req, "update").await?;
    report.polls = waited.polls;
    report.waited_ms = u64::try_from(waited.elapsed.as_millis()).unwrap_or(u64::MAX);
    let state = waited.state;
    if waited.timed_out {
        report.reason = Some(format!(
            "still in progress after {} s; check it with `aws lambda get-function --function-name {}`",
            req.wait_timeout.as_secs(),
            req.function
        ));
        return Ok(report);
    }
    if state.last_update == Some(LastUpdateStatus::Failed) {
        report.status = UpdateStatus::Failed;
        report.reason = state.last_update_reason;
        return Ok(report);
    }
    // Someone else's update that started after ours ended would be the one seen last.
    if !state.runs(&target.repository, &target.digest) {
        return Err(AwsError::new(
            "GetFunction",
            AwsErrorKind::Conflict,
            format!(
                "{} was updated by someone else while this deploy waited: it now runs {}, not {}",
                req.function,
                state.running(),
                target.uri
            ),
        )
        .with_hint("another deploy replaced this one; run deploy again to deploy this image")
        .into());
    }
    report.status = UpdateStatus::Successful;
    Ok(report)
}

/// UpdateFunctionCode refused by someone else's change: say what the function runs.
fn conflict(refused: AwsError, function: &FunctionRef, now: &FunctionState) -> AwsError {
    let doing = format!("it runs {} ({})", now.running(), now.status_line());
    let hint = if now.settled() {
        format!(
            "{function} was changed by someone else since it was read ({doing}); run deploy again"
        )
    } else {
        format!(
            "another update of {function} is in progress ({doing}); wait for it \
             (`aws lambda wait function-updated-v2 --function-name {function}`) and run deploy again"
        )
    };
    refused.with_hint(hint)
}

/// Waits until the function is settled, with a spinner showing Lambda's status when
/// asked; Ctrl-C stops the waiting (not the update, which goes on at AWS).
async fn wait(clients: &Clients, req: &DeployRequest, what: &str) -> Result<Waited, Error> {
    let function = &req.function;
    let spinner = req.progress.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(format!("waiting for the {what} of {function}"));
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let on_poll = |state: &FunctionState, elapsed: Duration| {
        tracing::debug!(
            "{function}: {} after {:.1} s",
            state.status_line(),
            elapsed.as_secs_f64()
        );
        if let Some(bar) = &spinner {
            bar.set_message(format!(
                "waiting for the {what} of {function}: {}",
                state.status_line()
            ));
        }
    };
    let outcome = tokio::select! {
        waited = lambda::wait_settled(
            &clients.lambda,
            function,
            &clients.lambda_region,
            req.wait_timeout,
            on_poll,
        ) => waited.map_err(Error::from),
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted(format!(
            "interrupted while waiting: the {what} of {function} goes on at AWS; follow it with \
             `aws lambda wait function-updated-v2 --function-name {function}` or \
             `aws lambda get-function --function-name {function}`"
        ))),
    };
    if let Some(bar) = &spinner {
        bar.finish_and_clear();
    }
    outcome
}
