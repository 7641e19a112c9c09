//! The judge phase: all or nothing before the first write.

use std::ops::ControlFlow;

use super::report::{report, stopped};
use super::{Plan, Read, gradual, settle_first, target_digest};
use crate::digest::Digest;
use crate::error::{Error, ExitCode};
use crate::lambda::FunctionState;
use crate::ops::fix::{Fixed, tag_for};
use crate::ops::{Analysis, Clients, DeployRequest, Outcome, provenance};
use crate::output::DeployReport;

/// Whether every function can run the image; then the tags named; then the aliases,
/// the alarms and whether a release can start; then every function settled.
/// A function that cannot run the image, or a release that cannot start, ends the
/// deploy with its report ([`ControlFlow::Break`]) while nothing is written.
pub(super) async fn judge(
    clients: &Clients,
    req: &DeployRequest,
    read: Read,
) -> Result<ControlFlow<Outcome<DeployReport>, Plan>, Error> {
    let Read { analyses } = read;
    let usable = |a: &Analysis| a.assessment.lambda_ready() || a.assessment.fixable();
    if !analyses.iter().all(usable) {
        return Ok(ControlFlow::Break(refused(&analyses, None)));
    }
    // What the user typed is judged before anything is read or waited for: the tags,
    // once per image, every one named (and validated) before the first is written.
    let targets: Vec<Digest> = analyses.iter().map(target_digest).collect();
    if req.tag.is_some() && targets.iter().any(|t| *t != targets[0]) {
        return Err(Error::Usage(
            "the functions need different images (architectures) from this index, and --tag \
             names one tag: leave --tag out to write <tag>-<arch> for each"
                .into(),
        ));
    }
    let mut tags = Vec::new();
    for (i, analysis) in analyses.iter().enumerate() {
        let first_of_image = !targets[..i].contains(&targets[i]);
        if first_of_image && !analysis.assessment.lambda_ready() {
            tags.push((i, tag_for(analysis, req.tag.as_deref())?));
        }
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
    let way_back = super::way_back::spawn(clients, req, &releases);
    let mut alarms = Vec::new();
    if let Some(gradual) = &req.gradual {
        match gradual::preflight(clients, req, gradual, &analyses, &releases).await? {
            Ok(read) => alarms = read,
            Err(release) => return Ok(ControlFlow::Break(refused(&analyses, Some(release)))),
        }
    }
    // A function being created, or busy with an earlier update, is waited for before
    // anything is written: Lambda would refuse the update, and a function that stays
    // busy past --wait-timeout stops the deploy while it has written nothing.
    let settled = settle_all(clients, req, &analyses).await?;
    Ok(ControlFlow::Continue(Plan {
        analyses,
        targets,
        releases,
        way_back,
        alarms,
        settled,
        tags,
    }))
}

/// Nothing written, exit 1: each function's problems, and the release's refusal.
fn refused(
    analyses: &[Analysis],
    release: Option<crate::output::ReleaseReport>,
) -> Outcome<DeployReport> {
    let deployments = analyses.iter().map(|a| stopped(a, None)).collect();
    report(
        analyses,
        &Fixed::default(),
        None,
        deployments,
        release,
        ExitCode::NotUsable,
    )
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
