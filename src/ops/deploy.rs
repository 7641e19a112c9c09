use std::time::Duration;

use aws_sdk_lambda::types::{LastUpdateStatus, State};

use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::lambda::{self, FunctionRef, FunctionState, Waited, releases};
use crate::manifest::LambdaArch;
use crate::manifest::rules::{Code, Finding};
use crate::ops::fix::{Fixed, fix_tag, tag_for};
use crate::ops::{Analysis, Clients, DeployRequest, Outcome, analyse_many, image_config};
use crate::output::{
    Action, AliasReport, AliasStatus, DeployReport, DeploymentReport, FixReport, FunctionReport,
    UpdateReport, UpdateStatus,
};

/// check, fix when needed, UpdateFunctionCode with the target's digest, and wait;
/// for every function given, from one read of the image.
///
/// All or nothing before the first write: when any function cannot run the image,
/// nothing is written and each function's problems are reported. Then the tags are
/// written (once per image: a multi-platform index serves functions of different
/// architectures, each from its platform's manifest), and the functions are updated
/// concurrently, `concurrency` at a time, each pinned by digest with its RevisionId.
pub async fn deploy(
    clients: &Clients,
    req: &DeployRequest,
) -> Result<Outcome<DeployReport>, Error> {
    let mut analyses = analyse_many(clients, &req.image, &req.functions, req.platform).await?;
    read_configs(clients, &mut analyses, req.platform).await;
    for (analysis, function) in analyses.iter_mut().zip(&req.functions) {
        warn_not_active(analysis, function);
    }
    let usable = |a: &Analysis| a.assessment.lambda_ready() || a.assessment.fixable();
    if !analyses.iter().all(usable) {
        let deployments = analyses
            .iter()
            .map(|a| Deployment::stopped(a, None))
            .collect();
        return Ok(report(
            &analyses,
            &Fixed::default(),
            None,
            deployments,
            ExitCode::NotUsable,
        ));
    }
    let targets: Vec<Digest> = analyses.iter().map(target_digest).collect();
    if req.tag.is_some() && targets.iter().any(|t| *t != targets[0]) {
        return Err(Error::Usage(
            "the functions need different images (architectures) from this index, and --tag \
             names one tag: leave --tag out to write <tag>-<arch> for each"
                .into(),
        ));
    }

    // The tags, once per image, every one named (and validated) before the first is
    // written. An immutable tag or an attestation not kept stops the deploy before
    // any function is updated; a re-run writes what is missing.
    let mut to_write: Vec<(usize, Option<String>)> = Vec::new();
    for i in 0..analyses.len() {
        let first_of_image = !targets[..i].contains(&targets[i]);
        if first_of_image && !analyses[i].assessment.lambda_ready() {
            to_write.push((i, tag_for(&analyses[i], req.tag.as_deref())?));
        }
    }
    let mut fixes: Vec<(Digest, Fixed, Option<String>)> = Vec::new();
    for (i, tag) in to_write {
        let digest = targets[i].clone();
        let fixed = fix_tag(
            clients,
            &mut analyses[i],
            tag.as_deref(),
            req.dry_run,
            req.keep_provenance,
        )
        .await?;
        if let Some(problem) = &fixed.problem {
            for other in analyses.iter_mut().filter(|a| target_digest(a) == digest) {
                if !other.assessment.problems.contains(problem) {
                    other.assessment.problems.push(problem.clone());
                }
            }
            let exit = fixed.exit();
            let deployments = analyses
                .iter()
                .map(|a| Deployment::stopped(a, None))
                .collect();
            // What the earlier images' writes did is reported too.
            let mut all = fixed.clone();
            all.provenance_written = fixes
                .iter()
                .flat_map(|(_, f, _)| f.provenance_written.clone())
                .chain(fixed.provenance_written.clone())
                .collect();
            return Ok(report(&analyses, &all, tag, deployments, exit));
        }
        fixes.push((digest, fixed, tag));
    }
    let fixed_of = |digest: &Digest| fixes.iter().find(|(d, ..)| d == digest);
    for analysis in analyses.iter_mut() {
        let tagged = fixed_of(&target_digest(analysis))
            .is_some_and(|(_, f, t)| f.action.and(t.as_ref()).is_some());
        if !tagged && analysis.image.tag().is_none() {
            analysis.assessment.warnings.push(Finding::new(
                Code::UntaggedImage,
                "no tag was written (IMAGE names a digest and no --tag was given): if the \
                 deployed manifest has no tag, lifecycle rules that expire untagged images would \
                 later break the function; pass --tag to keep it tagged",
            ));
        }
    }

    // The updates, concurrently, each reported whatever the others did.
    let single = req.functions.len() == 1;
    let mut running = tokio::task::JoinSet::new();
    let mut pending = analyses
        .iter()
        .cloned()
        .zip(req.functions.iter().cloned())
        .enumerate();
    let mut results: Vec<Option<Result<Deployment, Error>>> =
        (0..analyses.len()).map(|_| None).collect();
    let start =
        |(i, (analysis, function)): (usize, (Analysis, FunctionRef)),
         running: &mut tokio::task::JoinSet<(usize, Result<Deployment, Error>)>| {
            let written_tag =
                fixed_of(&target_digest(&analysis)).and_then(|(_, f, t)| f.action.and(t.clone()));
            let (clients, req) = (clients.clone(), req.clone());
            running.spawn(async move {
                (
                    i,
                    deploy_function(&clients, &req, &function, analysis, written_tag).await,
                )
            });
        };
    for item in pending.by_ref().take(req.concurrency.max(1)) {
        start(item, &mut running);
    }
    // Ctrl-C ends the waits, not the updates: no further update is started after it.
    let mut interrupted = None;
    while let Some(done) = running.join_next().await {
        let (i, result) = done.expect("deploy tasks do not panic");
        if let Err(e @ Error::Interrupted(_)) = &result {
            interrupted.get_or_insert_with(|| e.to_string());
        }
        results[i] = Some(result);
        if interrupted.is_none()
            && let Some(item) = pending.next()
        {
            start(item, &mut running);
        }
    }
    if let Some(message) = interrupted {
        return Err(Error::Interrupted(message));
    }
    let mut deployments = Vec::new();
    let mut aws_failed = false;
    for (result, analysis) in results.into_iter().zip(&analyses) {
        match result.expect("every function was deployed") {
            Ok(deployment) => deployments.push(deployment),
            // One function: its error is the command's, as it always was.
            Err(e) if single => return Err(e),
            Err(e) => {
                aws_failed |= e.exit_code() == ExitCode::Aws;
                deployments.push(Deployment::stopped(analysis, Some(e.to_string())));
            }
        }
    }
    let exit = if aws_failed {
        ExitCode::Aws
    } else if deployments.iter().all(|d| d.report.ok(req.wait)) {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    let first = fixes.first().map(|(_, f, t)| (f.clone(), t.clone()));
    let (fixed, tag) = first.unwrap_or((
        Fixed {
            action: Some(Action::AlreadyReady),
            ..Fixed::default()
        },
        None,
    ));
    let mut fixed = fixed;
    fixed.provenance_written = fixes
        .iter()
        .flat_map(|(_, f, _)| f.provenance_written.clone())
        .collect();
    Ok(report(&analyses, &fixed, tag, deployments, exit))
}

fn target_digest(analysis: &Analysis) -> Digest {
    analysis
        .assessment
        .target
        .as_ref()
        .map(|t| t.manifest.digest().clone())
        .unwrap_or_else(|| analysis.root.digest().clone())
}

/// The configs of the functions' targets, each read once.
async fn read_configs(clients: &Clients, analyses: &mut [Analysis], platform: Option<LambdaArch>) {
    let mut read: Vec<(Digest, image_config::ConfigRead)> = Vec::new();
    for analysis in analyses.iter_mut() {
        let digest = target_digest(analysis);
        let config = match read.iter().find(|(d, _)| *d == digest) {
            Some((_, config)) => config.clone(),
            None => {
                let config = image_config::read(clients, analysis).await;
                read.push((digest, config.clone()));
                config
            }
        };
        image_config::apply(analysis, config, platform);
    }
}

fn warn_not_active(analysis: &mut Analysis, function: &FunctionRef) {
    let Some(state) = analysis.function.as_ref() else {
        return;
    };
    if let Some(s @ (State::Failed | State::Inactive)) = &state.state {
        let message = format!(
            "function {function} is {}{}; the update is attempted, which is how Lambda brings \
             such a function back",
            s.as_str(),
            state
                .state_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        analysis
            .assessment
            .warnings
            .push(Finding::new(Code::FunctionNotActive, message));
    }
}

fn function_report(analysis: &Analysis) -> FunctionReport {
    let f = analysis
        .function
        .as_ref()
        .expect("deploy reads every function");
    FunctionReport {
        name: f.name.clone(),
        arn: f.arn.clone(),
        architectures: f.architectures.clone(),
        state: f.state.as_ref().map(|s| s.as_str().to_owned()),
    }
}

/// The report: the image as read (its problems and warnings for every function),
/// and one entry per function, in the order given.
fn report(
    analyses: &[Analysis],
    fixed: &Fixed,
    tag: Option<String>,
    deployments: Vec<Deployment>,
    exit: ExitCode,
) -> Outcome<DeployReport> {
    let mut check = analyses[0].report();
    for other in &analyses[1..] {
        let other = other.report();
        for p in other.problems {
            if !check.problems.contains(&p) {
                check.problems.push(p);
            }
        }
        for w in other.warnings {
            if !check.warnings.contains(&w) {
                check.warnings.push(w);
            }
        }
        if check.target != other.target {
            check.target = None;
        }
        if check.config != other.config {
            check.config = None;
        }
    }
    let deployments: Vec<DeploymentReport> = deployments.into_iter().map(|d| d.report).collect();
    let one = (deployments.len() == 1).then(|| deployments[0].clone());
    Outcome {
        report: DeployReport {
            fix: FixReport {
                check,
                written_tag: fixed.action.and(tag),
                action: fixed.action,
                provenance_written: fixed.provenance_written.clone(),
            },
            function: one.as_ref().map(|d| d.function.clone()),
            image_uri: one.as_ref().and_then(|d| d.image_uri.clone()),
            update: one.as_ref().and_then(|d| d.update.clone()),
            alias: one.as_ref().and_then(|d| d.alias.clone()),
            deployments,
        },
        exit,
    }
}

/// One function's deploy.
struct Deployment {
    report: DeploymentReport,
}

impl Deployment {
    /// A function that was not updated: what stops it from running the image (none
    /// when it could, and another function or a write stopped the deploy), or the
    /// error that stopped it.
    fn stopped(analysis: &Analysis, error: Option<String>) -> Deployment {
        let a = &analysis.assessment;
        let problems = if a.lambda_ready() || a.fixable() {
            a.problems
                .iter()
                .filter(|p| p.code != Code::ImageIndex)
                .cloned()
                .collect()
        } else {
            a.problems.clone()
        };
        Deployment {
            report: DeploymentReport {
                function: function_report(analysis),
                image_uri: None,
                written_tag: None,
                update: None,
                alias: None,
                problems,
                error,
            },
        }
    }
}

/// Waits for the function to take an update, then updates it to the analysed target
/// and waits for that, and moves the alias.
async fn deploy_function(
    clients: &Clients,
    req: &DeployRequest,
    fref: &FunctionRef,
    analysis: Analysis,
    written_tag: Option<String>,
) -> Result<Deployment, Error> {
    let mut function = analysis
        .function
        .clone()
        .expect("analyse reads the function it is given");
    // Lambda refuses a code update while the function is being created (Pending) or
    // an earlier update runs; that update's result is where this one's RevisionId
    // comes from.
    if !function.settled() && !req.dry_run {
        let what = if function.state == Some(State::Pending) {
            "creation"
        } else {
            "earlier update"
        };
        tracing::info!("the {what} of {fref} is in progress; waiting for it");
        let waited = wait(clients, req, fref, what).await?;
        if waited.timed_out {
            return Err(AwsError::new(
                "GetFunction",
                AwsErrorKind::Conflict,
                format!(
                    "the {what} of {fref} was still in progress after {} s ({})",
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
    let target = Target::of(&analysis).expect("a ready or fixable image has a target");
    let alias = match &req.alias {
        Some(name) => Some(Release::read(clients, fref, name, &target).await?),
        None => None,
    };
    // The same image from the same repository: a function running the same digest
    // from another repository still pulls from there, so it is updated; so is one
    // whose last update to this image failed, or that is Failed or Inactive. With
    // --alias, an alias that already runs the target needs nothing either.
    let unchanged = alias.as_ref().is_some_and(|release| release.runs_target)
        || (function.runs(&target.repository, &target.digest)
            && function.last_update != Some(LastUpdateStatus::Failed)
            && !matches!(function.state, Some(State::Failed | State::Inactive)));
    let update = if unchanged {
        UpdateReport::new(UpdateStatus::Unchanged)
    } else if req.dry_run {
        UpdateReport::new(UpdateStatus::Planned)
    } else {
        update_and_wait(clients, req, fref, &function, &target).await?
    };
    let alias = match alias {
        Some(release) => Some(
            release
                .point(clients, req, fref, &function, &target, &update)
                .await?,
        ),
        None => None,
    };
    Ok(Deployment {
        report: DeploymentReport {
            function: function_report(&analysis),
            image_uri: Some(target.uri),
            written_tag,
            update: Some(update),
            alias,
            problems: Vec::new(),
            error: None,
        },
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
        fref: &FunctionRef,
        name: &str,
        target: &Target,
    ) -> Result<Release, Error> {
        let before = releases::get_alias(&clients.lambda, fref, name).await?;
        let runs_target = match &before {
            Some(alias) => lambda::get_qualified(
                &clients.lambda,
                fref,
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
        fref: &FunctionRef,
        function: &FunctionState,
        target: &Target,
        update: &UpdateReport,
    ) -> Result<AliasReport, Error> {
        let previous = self.before.as_ref().map(|a| a.version.clone());
        let created = self.before.is_none();
        let report = |version: Option<String>, created: bool, status| AliasReport {
            name: self.name.clone(),
            version,
            previous_version: previous.clone(),
            created,
            status,
        };
        if self.runs_target {
            return Ok(report(previous.clone(), false, AliasStatus::Unchanged));
        }
        let moves = matches!(
            update.status,
            UpdateStatus::Successful | UpdateStatus::Unchanged | UpdateStatus::Planned
        );
        if !moves {
            return Ok(report(previous.clone(), false, AliasStatus::NotMoved));
        }
        let existing = || async {
            let versions = releases::list_versions(&clients.lambda, fref).await?;
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
            return Ok(report(reused, created, AliasStatus::Planned));
        }
        let version = match &update.version {
            Some(version) => version.clone(),
            None => match existing().await? {
                Some(version) => version,
                None => {
                    releases::publish_version(
                        &clients.lambda,
                        fref,
                        &target.digest,
                        function.revision_id.as_deref(),
                    )
                    .await?
                }
            },
        };
        releases::point_alias(
            &clients.lambda,
            fref,
            &self.name,
            &version,
            self.before.as_ref(),
        )
        .await?;
        Ok(report(Some(version), created, AliasStatus::Moved))
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
    fref: &FunctionRef,
    function: &FunctionState,
    target: &Target,
) -> Result<UpdateReport, Error> {
    let updated = match lambda::update_code(
        &clients.lambda,
        fref,
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
            let now = lambda::get_function(&clients.lambda, fref, &clients.lambda_region).await?;
            // Ours changed the revision; a refusal while nothing changed is not ours.
            if !now.runs(&target.repository, &target.digest)
                || now.revision_id == function.revision_id
            {
                return Err(conflict(refused, fref, &now).into());
            }
            tracing::info!(
                "{} is already being updated to the target: an earlier attempt of this update \
                 went through and its answer was lost",
                fref
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
    let waited = wait(clients, req, fref, "update").await?;
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
async fn wait(
    clients: &Clients,
    req: &DeployRequest,
    function: &FunctionRef,
    what: &str,
) -> Result<Waited, Error> {
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
