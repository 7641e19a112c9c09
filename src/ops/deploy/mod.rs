use aws_sdk_lambda::types::{LastUpdateStatus, State};

use crate::digest::Digest;
use crate::error::{Error, ExitCode};
use crate::lambda::{FunctionRef, FunctionState};
use crate::manifest::LambdaArch;
use crate::manifest::rules::{Code, Finding};
use crate::ops::fix::{Fixed, fix_tag, tag_for};
use crate::ops::{
    Analysis, Clients, DeployRequest, Outcome, analyse_many, image_config, provenance,
};
use crate::output::{
    Action, AliasStatus, DeployReport, DeploymentReport, ErrorDetail, FixReport, FunctionReport,
    ReleaseReport, UpdateReport, UpdateStatus,
};

mod gradual;
mod release;
mod update;
mod way_back;

use release::Release;
use update::wait;
pub(crate) use update::{Patience, Target, settle_first, update_and_wait};

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
    // Provenance is read only when a requirement asks (BENCHMARKS.md: what it costs);
    // then --alias records the verified source and revision in the alias description.
    let wants_provenance = req.provenance.any();
    let snapshot = if wants_provenance {
        analyses.clone()
    } else {
        Vec::new()
    };
    let (_, provenance) = tokio::join!(
        read_configs(clients, &mut analyses, req.platform),
        read_provenance(clients, &snapshot, &req.provenance)
    );
    for (analysis, read) in analyses.iter_mut().zip(provenance?) {
        provenance::apply(analysis, read, &req.provenance);
    }
    for (analysis, function) in analyses.iter_mut().zip(&req.functions) {
        warn_not_active(analysis, function);
    }
    let usable = |a: &Analysis| a.assessment.lambda_ready() || a.assessment.fixable();
    if !analyses.iter().all(usable) {
        let deployments = analyses.iter().map(|a| stopped(a, None)).collect();
        return Ok(report(
            &analyses,
            &Fixed::default(),
            None,
            deployments,
            None,
            ExitCode::NotUsable,
        ));
    }

    // Everything an alias needs is read before the first write: the alias, its
    // version, and for a gradual release the alarms and whether it can start.
    let mut releases = gradual::read_releases(clients, req, &analyses).await?;
    for (release, analysis) in releases.iter_mut().zip(&analyses) {
        if let Some(release) = release {
            release.description = Some(crate::manifest::statement::alias_description(
                &target_digest(analysis),
                provenance::recorded(analysis),
            ));
        }
    }
    // The way back is read while the deploy goes on (issue 21).
    let way_back = way_back::spawn(clients, req, &releases);
    let mut alarms = Vec::new();
    if let Some(gradual) = &req.gradual {
        match gradual::preflight(clients, req, gradual, &analyses, &releases).await? {
            Ok(read) => alarms = read,
            Err(refused) => {
                let deployments = analyses.iter().map(|a| stopped(a, None)).collect();
                return Ok(report(
                    &analyses,
                    &Fixed::default(),
                    None,
                    deployments,
                    Some(refused),
                    ExitCode::NotUsable,
                ));
            }
        }
    }
    // A function being created, or busy with an earlier update, is waited for before
    // anything is written: Lambda would refuse the update, and a function that stays
    // busy past --wait-timeout stops the deploy while it has written nothing.
    let settled = settle_all(clients, req, &analyses).await?;
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
        if crate::interrupt::heard() && !req.dry_run {
            return Err(Error::Interrupted(interrupted_writing(&fixes)));
        }
        let digest = targets[i].clone();
        let fixed = match fix_tag(
            clients,
            &mut analyses[i],
            tag.as_deref(),
            req.dry_run,
            req.keep_provenance,
        )
        .await
        {
            Ok(fixed) => fixed,
            // Tags already written stay written, and reported: the deploy stops with
            // the error in every function's entry, none of them updated.
            Err(e)
                if fixes
                    .iter()
                    .any(|(_, f, t)| f.action.and(t.as_ref()).is_some()) =>
            {
                let written = |a: &Analysis| {
                    fixes
                        .iter()
                        .find(|(d, ..)| *d == target_digest(a))
                        .and_then(|(_, f, t)| f.action.and(t.clone()))
                };
                let detail = ErrorDetail::from(&e);
                let deployments = analyses
                    .iter()
                    .map(|a| DeploymentReport {
                        written_tag: written(a),
                        ..stopped(a, Some(detail.clone()))
                    })
                    .collect();
                let (first, first_tag) = fixes
                    .iter()
                    .find(|(_, f, t)| f.action.and(t.as_ref()).is_some())
                    .map(|(_, f, t)| (f.clone(), t.clone()))
                    .expect("checked above");
                let mut all = first;
                all.provenance_written = fixes
                    .iter()
                    .flat_map(|(_, f, _)| f.provenance_written.clone())
                    .collect();
                return Ok(report(
                    &analyses,
                    &all,
                    first_tag,
                    deployments,
                    None,
                    e.exit_code(),
                ));
            }
            Err(e) => return Err(e),
        };
        if let Some(problem) = &fixed.problem {
            for other in analyses.iter_mut().filter(|a| target_digest(a) == digest) {
                if !other.assessment.problems.contains(problem) {
                    other.assessment.problems.push(problem.clone());
                }
            }
            let exit = fixed.exit();
            // What the earlier images' writes did is reported too: their tags stay
            // written, in each function's entry and at the top.
            let written = |a: &Analysis| {
                fixes
                    .iter()
                    .find(|(d, ..)| *d == target_digest(a))
                    .and_then(|(_, f, t)| f.action.and(t.clone()))
            };
            let deployments = analyses
                .iter()
                .map(|a| DeploymentReport {
                    written_tag: written(a),
                    ..stopped(a, None)
                })
                .collect();
            let mut all = fixed.clone();
            all.provenance_written = fixes
                .iter()
                .flat_map(|(_, f, _)| f.provenance_written.clone())
                .chain(fixed.provenance_written.clone())
                .collect();
            let (all, tag) = match fixes
                .iter()
                .find(|(_, f, t)| f.action.and(t.as_ref()).is_some())
            {
                Some((_, earlier, earlier_tag)) if fixed.action.is_none() => (
                    Fixed {
                        action: earlier.action,
                        ..all
                    },
                    earlier_tag.clone(),
                ),
                _ => (all, tag),
            };
            return Ok(report(&analyses, &all, tag, deployments, None, exit));
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
        .zip(releases.iter().cloned())
        .zip(settled)
        .enumerate();
    let mut results: Vec<Option<Result<DeploymentReport, Error>>> =
        (0..analyses.len()).map(|_| None).collect();
    type Task = (
        usize,
        (((Analysis, FunctionRef), Option<Release>), FunctionState),
    );
    let start =
        |(i, (((analysis, function), release), state)): Task,
         running: &mut tokio::task::JoinSet<(usize, Result<DeploymentReport, Error>)>| {
            let written_tag =
                fixed_of(&target_digest(&analysis)).and_then(|(_, f, t)| f.action.and(t.clone()));
            // Every call about this function in its own region.
            let (clients, req) = (clients.for_function(&function), req.clone());
            running.spawn(async move {
                (
                    i,
                    deploy_function(
                        &clients,
                        &req,
                        &function,
                        analysis,
                        state,
                        written_tag,
                        release,
                    )
                    .await,
                )
            });
        };
    for item in pending.by_ref().take(req.concurrency.max(1)) {
        start(item, &mut running);
    }
    // Ctrl-C ends the waits, not the updates (they go on at AWS): no further write
    // starts after it, and what was written is reported.
    while let Some(done) = running.join_next().await {
        let (i, result) = done.expect("deploy tasks do not panic");
        results[i] = Some(result);
        if !crate::interrupt::heard()
            && let Some(item) = pending.next()
        {
            start(item, &mut running);
        }
    }
    let interrupted = crate::interrupt::heard();
    let mut deployments: Vec<DeploymentReport> = Vec::new();
    let mut aws_failed = false;
    for ((result, analysis), function) in results.into_iter().zip(&analyses).zip(&req.functions) {
        let result = result.unwrap_or_else(|| {
            Err(Error::Interrupted(format!(
                "interrupted before the update of {function} started; it was not updated"
            )))
        });
        match result {
            Ok(deployment) => deployments.push(deployment),
            // One function: its error is the command's, unless a tag was written
            // before it (kept in the report).
            Err(e)
                if single
                    && !interrupted
                    && fixed_of(&target_digest(analysis))
                        .and_then(|(_, f, t)| f.action.and(t.as_ref()))
                        .is_none() =>
            {
                return Err(e);
            }
            Err(e) => {
                aws_failed |= e.exit_code() == ExitCode::Aws;
                let mut deployment = stopped(analysis, Some((&e).into()));
                deployment.written_tag = fixed_of(&target_digest(analysis))
                    .and_then(|(_, f, t)| f.action.and(t.clone()));
                deployments.push(deployment);
            }
        }
    }
    let mut exit = if interrupted {
        ExitCode::Interrupted
    } else if aws_failed {
        ExitCode::Aws
    } else if deployments.iter().all(|d| d.ok(req.wait)) {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    let mut release_report = None;
    if let Some(gradual) = &req.gradual {
        let (report, release_exit) = gradual::release_gradually(
            clients,
            req,
            gradual,
            &releases,
            &mut deployments,
            alarms,
            exit,
        )
        .await?;
        if exit == ExitCode::Success {
            exit = release_exit;
        }
        release_report = Some(report);
    }
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
    let protected = way_back::finish(way_back, clients, req, &mut analyses, &deployments).await;
    let mut outcome = report(&analyses, &fixed, tag, deployments, release_report, exit);
    outcome.report.protected = protected;
    Ok(outcome)
}

/// What an interruption between two tag writes leaves: the tags already written.
fn interrupted_writing(fixes: &[(Digest, Fixed, Option<String>)]) -> String {
    let written: Vec<String> = fixes
        .iter()
        .filter_map(|(d, f, t)| f.action.and(t.as_ref()).map(|t| format!("tag {t} ({d})")))
        .collect();
    if written.is_empty() {
        "interrupted before anything was written".to_owned()
    } else {
        format!(
            "interrupted after writing {}; no function was updated",
            written.join(", ")
        )
    }
}

/// Every function as it is once settled (no creation or update in progress), read
/// concurrently; as read when it already was, or in a dry run.
async fn settle_all(
    clients: &Clients,
    req: &DeployRequest,
    analyses: &[Analysis],
) -> Result<Vec<FunctionState>, Error> {
    let mut waits = tokio::task::JoinSet::new();
    for (i, (analysis, function)) in analyses.iter().zip(&req.functions).enumerate() {
        let state = analysis
            .function
            .clone()
            .expect("analyse reads the function it is given");
        let (clients, req, function) = (
            clients.for_function(function),
            req.clone(),
            function.clone(),
        );
        waits.spawn(async move {
            let settled = if req.dry_run {
                Ok(state)
            } else {
                settle_first(&clients, req.patience(), &function, state).await
            };
            (i, settled)
        });
    }
    let mut states = vec![None; analyses.len()];
    while let Some(done) = waits.join_next().await {
        let (i, state) = done.expect("waits do not panic");
        states[i] = Some(state?);
    }
    Ok(states
        .into_iter()
        .map(|s| s.expect("every function waited"))
        .collect())
}

fn target_digest(analysis: &Analysis) -> Digest {
    analysis
        .assessment
        .target
        .as_ref()
        .map(|t| t.manifest.digest().clone())
        .unwrap_or_else(|| analysis.root.digest().clone())
}

/// The provenance of the functions' targets, each read once (one entry per
/// analysis given; none when none is given).
async fn read_provenance(
    clients: &Clients,
    analyses: &[Analysis],
    requirements: &crate::manifest::statement::ProvenanceRequirements,
) -> Result<Vec<Option<provenance::ProvenanceRead>>, Error> {
    let mut read: Vec<(Digest, Option<provenance::ProvenanceRead>)> = Vec::new();
    let mut out = Vec::new();
    for analysis in analyses {
        let digest = target_digest(analysis);
        let got = match read.iter().find(|(d, _)| *d == digest) {
            Some((_, got)) => got.clone(),
            None => {
                let got = provenance::read(clients, analysis, requirements).await?;
                read.push((digest, got.clone()));
                got
            }
        };
        out.push(got);
    }
    Ok(out)
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
    deployments: Vec<DeploymentReport>,
    release: Option<ReleaseReport>,
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
            release,
            protected: Vec::new(),
        },
        exit,
    }
}

/// A function that was not updated: what stops it from running the image (none when
/// it could, and another function or a write stopped the deploy), or the error that
/// stopped it.
fn stopped(analysis: &Analysis, error: Option<ErrorDetail>) -> DeploymentReport {
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
    DeploymentReport {
        function: function_report(analysis),
        image_uri: None,
        written_tag: None,
        update: None,
        alias: None,
        problems,
        error,
    }
}

/// Waits for the function to take an update, then updates it to the analysed target
/// and waits for that, and moves the alias (a gradual release only publishes: the
/// aliases move together once every function is updated).
async fn deploy_function(
    clients: &Clients,
    req: &DeployRequest,
    fref: &FunctionRef,
    analysis: Analysis,
    function: FunctionState,
    written_tag: Option<String>,
    release: Option<Release>,
) -> Result<DeploymentReport, Error> {
    let target = Target::of(&analysis).expect("a ready or fixable image has a target");
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
        update_and_wait(clients, req, fref, &function, &target).await?
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
                    .version(clients, req, fref, &function, &target, &update)
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
                .point(clients, req, fref, &function, &target, &update)
                .await?,
        ),
        None => None,
    };
    Ok(DeploymentReport {
        function: function_report(&analysis),
        image_uri: Some(target.uri),
        written_tag,
        update: Some(update),
        alias,
        problems: Vec::new(),
        error: None,
    })
}
