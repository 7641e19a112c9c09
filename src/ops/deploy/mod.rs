//! `deploy`, in the phases a reader expects, each a function with a typed hand-over:
//!
//! ```text
//! DeployRequest ─read─▶ Read ─judge─▶ Plan ─write─▶ Written ─update─▶ Updated ─release─▶ Outcome
//! ```
//!
//! - [`read()`]: the image, once, as each function sees it (its config and
//!   provenance), and the functions;
//! - [`judge::judge`]: all or nothing before the first write: every function can run
//!   the image, every tag is named, every alias and alarm is read and a release can
//!   start, every function is settled;
//! - [`write::write`]: the tags and referrers, once per image;
//! - [`run::update_all`]: the functions' updates, concurrently, each reported
//!   whatever the others did;
//! - [`release()`]: a gradual release walked once every function is updated, and the
//!   report.
//!
//! `judge` and `write` may end the deploy with a report of their own
//! ([`ControlFlow::Break`]): what stopped it, and what was written before.

use std::ops::ControlFlow;

use crate::alarms::Alarm;
use crate::digest::Digest;
use crate::error::{Error, ExitCode};
use crate::lambda::FunctionState;
use crate::ops::fix::Fixed;
use crate::ops::{Analysis, Clients, DeployRequest, Outcome};
use crate::output::{Action, DeployReport, DeploymentReport};

mod gradual;
mod judge;
mod read;
mod release;
mod report;
mod run;
mod update;
mod way_back;
mod write;

use release::Release;
use update::wait;
pub(crate) use update::{Patience, Target, settle_first, update_and_wait};
use write::Fixes;

use read::read;

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
    let read = read(clients, req).await?;
    let plan = match judge::judge(clients, req, read).await? {
        ControlFlow::Continue(plan) => plan,
        ControlFlow::Break(stopped) => return Ok(stopped),
    };
    let written = match write::write(clients, req, plan).await? {
        ControlFlow::Continue(written) => written,
        ControlFlow::Break(stopped) => return Ok(stopped),
    };
    let updated = run::update_all(clients, req, &written).await?;
    release(clients, req, written, updated).await
}

/// What was read: the image as each function sees it, in the order given (its
/// config read and its provenance judged), and each function as it was.
pub(crate) struct Read {
    pub(crate) analyses: Vec<Analysis>,
}

/// Everything decided before the first write.
pub(crate) struct Plan {
    /// One per function, in the order given.
    pub(crate) analyses: Vec<Analysis>,
    /// The manifest each function is to run.
    pub(crate) targets: Vec<Digest>,
    /// `--alias`: each alias as read; `None` for each without it.
    pub(crate) releases: Vec<Option<Release>>,
    /// `--alias`: each alias's way back, being read alongside (`--protect` tags it).
    pub(crate) way_back: way_back::Found,
    /// A gradual release's alarms, read once.
    pub(crate) alarms: Vec<Alarm>,
    /// Each function once no creation or update is in progress.
    pub(crate) settled: Vec<FunctionState>,
    /// The tags to write, once per image: the first function of that image, and the
    /// tag named for it (validated).
    pub(crate) tags: Vec<(usize, Option<String>)>,
}

/// The plan, and what writing its tags and referrers came to.
pub(crate) struct Written {
    pub(crate) plan: Plan,
    pub(crate) fixes: Fixes,
}

/// Every function's deployment, in the order given, and the exit code they come to.
pub(crate) struct Updated {
    pub(crate) deployments: Vec<DeploymentReport>,
    pub(crate) exit: ExitCode,
}

/// A gradual release, once every function is updated (it decides the exit code only
/// when the updates succeeded), and the deploy's report.
async fn release(
    clients: &Clients,
    req: &DeployRequest,
    written: Written,
    updated: Updated,
) -> Result<Outcome<DeployReport>, Error> {
    let Written { mut plan, fixes } = written;
    let Updated {
        mut deployments,
        mut exit,
    } = updated;
    let holding = way_back::holding(&deployments);
    let mut release_report = None;
    if let Some(gradual) = &req.gradual {
        let (report, release_exit) = gradual::release_gradually(
            clients,
            req,
            gradual,
            &plan.releases,
            &mut deployments,
            plan.alarms,
            exit,
        )
        .await?;
        if exit == ExitCode::Success {
            exit = release_exit;
        }
        release_report = Some(report);
    }
    let (mut fixed, tag) = fixes.first().unwrap_or((
        Fixed {
            action: Some(Action::AlreadyReady),
            ..Fixed::default()
        },
        None,
    ));
    fixed.provenance_written = fixes.provenance_written();
    let protected = way_back::finish(
        plan.way_back,
        clients,
        req,
        &mut plan.analyses,
        &deployments,
        &holding,
    )
    .await;
    let mut outcome = report::report(
        &plan.analyses,
        &fixed,
        tag,
        deployments,
        release_report,
        exit,
    );
    outcome.report.protected = protected;
    Ok(outcome)
}

fn target_digest(analysis: &Analysis) -> Digest {
    analysis
        .assessment
        .target
        .as_ref()
        .map(|t| t.manifest.digest().clone())
        .unwrap_or_else(|| analysis.root.digest().clone())
}
