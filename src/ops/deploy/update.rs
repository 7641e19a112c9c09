//! One function's code update: UpdateFunctionCode by digest with the RevisionId, a
//! lost answer told from someone else's change, and the wait.

use std::time::Duration;

use aws_sdk_lambda::types::LastUpdateStatus;

use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind, Error};
use crate::lambda::{self, FunctionRef, FunctionState, Publish, Waited};
use crate::ops::{Analysis, Clients, DeployRequest};
use crate::output::{UpdateReport, UpdateStatus};

/// What the function is to run: the target manifest by digest.
pub(crate) struct Target {
    /// `REGISTRY/REPOSITORY@DIGEST`, what UpdateFunctionCode is given.
    pub uri: String,
    /// `REGISTRY/REPOSITORY`, as Lambda's `ResolvedImageUri` names it.
    pub repository: String,
    pub digest: Digest,
}

impl Target {
    pub(super) fn of(analysis: &Analysis) -> Option<Target> {
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

/// How long a wait may last, and whether a spinner shows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Patience {
    pub timeout: Duration,
    pub progress: bool,
}

impl DeployRequest {
    pub(crate) fn patience(&self) -> Patience {
        Patience {
            timeout: self.wait_timeout,
            progress: self.progress,
        }
    }
}

/// Lambda refuses a code update while the function is being created (Pending) or an
/// earlier update runs: waits for that first (a failed earlier update does not block
/// this one), and returns the state to update from (its RevisionId comes from there).
pub(crate) async fn settle_first(
    clients: &Clients,
    patience: Patience,
    fref: &FunctionRef,
    function: FunctionState,
) -> Result<FunctionState, Error> {
    if function.settled() {
        return Ok(function);
    }
    let what = if function.state == Some(aws_sdk_lambda::types::State::Pending) {
        "creation"
    } else {
        "earlier update"
    };
    tracing::info!("the {what} of {fref} is in progress; waiting for it");
    let waited = wait(clients, patience, fref, None, what).await?;
    if waited.timed_out {
        return Err(AwsError::new(
            "GetFunction",
            AwsErrorKind::Conflict,
            format!(
                "the {what} of {fref} was still in progress after {} s ({})",
                patience.timeout.as_secs(),
                waited.state.status_line()
            ),
        )
        .with_hint("wait for it to finish, or raise --wait-timeout")
        .into());
    }
    Ok(waited.state)
}

pub(crate) async fn update_and_wait(
    clients: &Clients,
    req: &DeployRequest,
    fref: &FunctionRef,
    function: &FunctionState,
    target: &Target,
) -> Result<UpdateReport, Error> {
    if crate::interrupt::heard() {
        return Err(Error::Interrupted(format!(
            "interrupted before the update of {fref}; it was not updated"
        )));
    }
    let publish = Publish::for_update(function, req.publish || req.alias.is_some());
    let report = update_latest(clients, req, fref, function, target, publish).await?;
    if publish != Publish::LatestPublished || report.status != UpdateStatus::Successful || !req.wait
    {
        return Ok(report);
    }
    latest_published(clients, req, fref, target, report).await
}

/// A function on Lambda Managed Instances runs `$LATEST.PUBLISHED` when invoked
/// without a qualifier, and that version turns Successful only once its instances
/// run the new code: waited for and judged like the update of `$LATEST` itself.
async fn latest_published(
    clients: &Clients,
    req: &DeployRequest,
    fref: &FunctionRef,
    target: &Target,
    mut report: UpdateReport,
) -> Result<UpdateReport, Error> {
    report.version = Some(lambda::LATEST_PUBLISHED.to_owned());
    let what = "publication of $LATEST.PUBLISHED";
    let waited = match wait(
        clients,
        req.patience(),
        fref,
        Some(lambda::LATEST_PUBLISHED),
        what,
    )
    .await
    {
        Ok(waited) => waited,
        Err(Error::Interrupted(message)) => {
            tracing::warn!("{message}");
            report.status = UpdateStatus::InProgress;
            report.reason = Some(message);
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    report.polls += waited.polls;
    report.waited_ms = report
        .waited_ms
        .saturating_add(u64::try_from(waited.elapsed.as_millis()).unwrap_or(u64::MAX));
    if waited.timed_out {
        report.status = UpdateStatus::InProgress;
        report.reason = Some(format!(
            "$LATEST.PUBLISHED still in progress after {} s; check it with \
             `aws lambda get-function --function-name {fref} --qualifier '$LATEST.PUBLISHED'`",
            req.wait_timeout.as_secs(),
        ));
        return Ok(report);
    }
    let published = waited.state;
    if let Some(why) = published.not_invocable() {
        report.status = UpdateStatus::Failed;
        report.reason = Some(format!("$LATEST.PUBLISHED is not invocable: {why}"));
        return Ok(report);
    }
    judge(report, published, target, fref)
}

/// UpdateFunctionCode of `$LATEST` (publishing as `publish` says), and the wait for
/// it.
async fn update_latest(
    clients: &Clients,
    req: &DeployRequest,
    fref: &FunctionRef,
    function: &FunctionState,
    target: &Target,
    publish: Publish,
) -> Result<UpdateReport, Error> {
    // A refused retry whose function had already settled: judged as it is.
    let (updated, settled_after_refusal) = match lambda::update_code(
        &clients.lambda,
        fref,
        &target.uri,
        function.revision_id.as_deref(),
        publish,
    )
    .await
    {
        Ok(updated) => (updated, None),
        Err(refused) if refused.kind == AwsErrorKind::Conflict => {
            after_refusal(clients, req, fref, function, target, refused).await?
        }
        Err(e) => return Err(e.into()),
    };
    let mut report = UpdateReport {
        version: updated.version.clone(),
        ..UpdateReport::new(UpdateStatus::InProgress)
    };
    if let Some(state) = settled_after_refusal {
        return judge(report, state, target, fref);
    }
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
    let waited = match wait(clients, req.patience(), fref, None, "update").await {
        Ok(waited) => waited,
        // The update goes on at AWS: it is reported in progress, with how to follow it.
        Err(Error::Interrupted(message)) => {
            tracing::warn!("{message}");
            report.reason = Some(message);
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    report.polls = waited.polls;
    report.waited_ms = u64::try_from(waited.elapsed.as_millis()).unwrap_or(u64::MAX);
    let state = waited.state;
    if waited.timed_out {
        report.reason = Some(format!(
            "still in progress after {} s; check it with `aws lambda get-function --function-name {}`",
            req.wait_timeout.as_secs(),
            fref
        ));
        return Ok(report);
    }
    judge(report, state, target, fref)
}

/// UpdateFunctionCode refused because the function is busy or changed since it was
/// read. When an earlier attempt of this very request went through and only its
/// answer was lost, the SDK's retry meets our own update. A refusal while the
/// RevisionId has not moved is not ours. When it has moved, whose change it was is
/// judged by the image the function runs once the update in progress has ended
/// (whether GetFunction shows the new image during an update is not documented, so
/// nothing is decided on it): the target is ours, and this deploy goes on; another
/// image is someone else's change (exit 3, after the wait). The update as it stands,
/// and the function when it has already settled.
async fn after_refusal(
    clients: &Clients,
    req: &DeployRequest,
    fref: &FunctionRef,
    function: &FunctionState,
    target: &Target,
    refused: AwsError,
) -> Result<(lambda::Updated, Option<FunctionState>), Error> {
    let now = lambda::get_function(&clients.lambda, fref, &clients.lambda_region).await?;
    let ours_possible = now.revision_id != function.revision_id
        && (req.wait || now.runs(&target.repository, &target.digest));
    if !ours_possible {
        return Err(conflict(refused, fref, &now).into());
    }
    tracing::info!(
        "{fref} changed since it was read (a lost answer of this update's own first \
         attempt, or someone else's change): judged by the image it runs once settled"
    );
    let updated = lambda::Updated {
        status: now.last_update.clone(),
        // A version published by that attempt is not named by the function's
        // state; ListVersionsByFunction would find it.
        version: None,
        reason: now.last_update_reason.clone(),
    };
    Ok((updated, now.settled().then_some(now)))
}

/// How an update ended, from the function settled after it: Failed with Lambda's
/// reason (what a failed update leaves in `Code` is not documented, so the image is
/// not judged then), or Successful when it runs the target; any other image is
/// someone else's update, which replaced this one (exit 3).
fn judge(
    mut report: UpdateReport,
    state: FunctionState,
    target: &Target,
    fref: &FunctionRef,
) -> Result<UpdateReport, Error> {
    // Failed, or still InProgress with a failure code (the wait ends at once on one).
    if state.last_update == Some(LastUpdateStatus::Failed)
        || (state.last_update == Some(LastUpdateStatus::InProgress) && state.failed())
    {
        report.status = UpdateStatus::Failed;
        report.reason = state.last_update_reason;
        return Ok(report);
    }
    if !state.runs(&target.repository, &target.digest) {
        return Err(AwsError::new(
            "GetFunction",
            AwsErrorKind::Conflict,
            format!(
                "{} was updated by someone else while this deploy waited: it now runs {}, not {}",
                fref,
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
pub(crate) async fn wait(
    clients: &Clients,
    patience: Patience,
    function: &FunctionRef,
    qualifier: Option<&str>,
    what: &str,
) -> Result<Waited, Error> {
    let spinner = patience
        .progress
        .then(|| crate::ops::spinner(format!("waiting for the {what} of {function}")));
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
            qualifier,
            &clients.lambda_region,
            patience.timeout,
            on_poll,
        ) => waited.map_err(Error::from),
        _ = crate::interrupt::ctrl_c() => Err(Error::Interrupted(format!(
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
