//! The write phase: the tags and referrers, once per image, before any function is
//! updated.

use std::ops::ControlFlow;

use super::report::{report, stopped};
use super::{Plan, Written, target_digest};
use crate::digest::Digest;
use crate::error::Error;
use crate::manifest::rules::{Code, Finding};
use crate::ops::fix::{Fixed, fix_tag};
use crate::ops::{Analysis, Clients, DeployRequest, Outcome};
use crate::output::{DeployReport, DeploymentReport, ErrorDetail};

/// What writing each image's tag came to, in the order written: the image's digest,
/// the fix, and the tag named for it.
#[derive(Default)]
pub(crate) struct Fixes(Vec<(Digest, Fixed, Option<String>)>);

impl Fixes {
    /// The tag written for this image, if one was.
    pub(crate) fn written_tag(&self, digest: &Digest) -> Option<String> {
        self.0
            .iter()
            .find(|(d, ..)| d == digest)
            .and_then(|(_, f, t)| f.action.and(t.clone()))
    }

    /// The first image's fix, whether or not it wrote a tag.
    pub(crate) fn first(&self) -> Option<(Fixed, Option<String>)> {
        self.0.first().map(|(_, f, t)| (f.clone(), t.clone()))
    }

    /// The first fix that wrote a tag.
    fn first_written(&self) -> Option<(&Fixed, &Option<String>)> {
        self.0
            .iter()
            .find(|(_, f, t)| f.action.and(t.as_ref()).is_some())
            .map(|(_, f, t)| (f, t))
    }

    /// Every referrer written, for every image.
    pub(crate) fn provenance_written(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(_, f, _)| f.provenance_written.clone())
            .collect()
    }

    /// What an interruption between two tag writes leaves: the tags already written.
    fn interrupted(&self) -> String {
        let written: Vec<String> = self
            .0
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

    /// Every function not updated, with the tag written for its image (they stay
    /// written, and are reported).
    fn stopped(&self, analyses: &[Analysis], error: Option<ErrorDetail>) -> Vec<DeploymentReport> {
        analyses
            .iter()
            .map(|a| DeploymentReport {
                written_tag: self.written_tag(&target_digest(a)),
                ..stopped(a, error.clone())
            })
            .collect()
    }
}

/// Each image's tag and referrers. An immutable tag or an attestation not kept stops
/// the deploy before any function is updated ([`ControlFlow::Break`], with what the
/// earlier images' writes did); a re-run writes what is missing.
pub(super) async fn write(
    clients: &Clients,
    req: &DeployRequest,
    mut plan: Plan,
) -> Result<ControlFlow<Outcome<DeployReport>, Written>, Error> {
    let mut fixes = Fixes::default();
    for (i, tag) in std::mem::take(&mut plan.tags) {
        if crate::interrupt::heard() && !req.dry_run {
            return Err(Error::Interrupted(fixes.interrupted()));
        }
        let digest = plan.targets[i].clone();
        let analyses = &mut plan.analyses;
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
            Err(e) => {
                let Some((first, first_tag)) = fixes.first_written() else {
                    return Err(e);
                };
                let mut all = first.clone();
                all.provenance_written = fixes.provenance_written();
                let deployments = fixes.stopped(analyses, Some(ErrorDetail::from(&e)));
                let stop = report(
                    analyses,
                    &all,
                    first_tag.clone(),
                    deployments,
                    None,
                    e.exit_code(),
                );
                return Ok(ControlFlow::Break(stop));
            }
        };
        if let Some(problem) = &fixed.problem {
            for other in analyses.iter_mut().filter(|a| target_digest(a) == digest) {
                if !other.assessment.problems.contains(problem) {
                    other.assessment.problems.push(problem.clone());
                }
            }
            return Ok(ControlFlow::Break(stopped_short(
                analyses, &fixes, fixed, tag,
            )));
        }
        fixes.0.push((digest, fixed, tag));
    }
    warn_untagged(&mut plan.analyses, &fixes);
    Ok(ControlFlow::Continue(Written { plan, fixes }))
}

/// A fix that stopped short (an immutable tag, an attestation not kept): its exit
/// code, and what the earlier images' writes did too: their tags stay written, in
/// each function's entry and at the top.
fn stopped_short(
    analyses: &[Analysis],
    fixes: &Fixes,
    fixed: Fixed,
    tag: Option<String>,
) -> Outcome<DeployReport> {
    let exit = fixed.exit();
    let deployments = fixes.stopped(analyses, None);
    let mut all = fixed.clone();
    all.provenance_written = fixes.provenance_written();
    all.provenance_written
        .extend(fixed.provenance_written.iter().cloned());
    let (all, tag) = match fixes.first_written() {
        Some((earlier, earlier_tag)) if fixed.action.is_none() => (
            Fixed {
                action: earlier.action,
                ..all
            },
            earlier_tag.clone(),
        ),
        _ => (all, tag),
    };
    report(analyses, &all, tag, deployments, None, exit)
}

/// A digest deployed with no tag written: lifecycle rules may expire it.
fn warn_untagged(analyses: &mut [Analysis], fixes: &Fixes) {
    for analysis in analyses.iter_mut() {
        let tagged = fixes.written_tag(&target_digest(analysis)).is_some();
        if !tagged && analysis.image.tag().is_none() {
            analysis.assessment.warnings.push(Finding::new(
                Code::UntaggedImage,
                "no tag was written (IMAGE names a digest and no --tag was given): if the \
                 deployed manifest has no tag, lifecycle rules that expire untagged images would \
                 later break the function; pass --tag to keep it tagged",
            ));
        }
    }
}
