//! `deploy --alias`: the way back (the image of the alias's version before the
//! deploy) is checked while the deploy goes on, and with `--protect` the deployed
//! image and the way back get their protective tags. Two hooks in `deploy`: [`spawn`]
//! once the aliases are read, [`finish`] before the report.

use super::release::Release;
use crate::ecr::{self, Repository};
use crate::manifest::RawManifest;
use crate::manifest::findings::{Code, Finding};
use crate::ops::way_back::{self, Image};
use crate::ops::{Analysis, Clients, DeployRequest};
use crate::output::retain::TagWrite;
use crate::output::{AliasStatus, DeploymentReport, ErrorDetail};
use crate::retention;

/// What was found of one function's way back.
#[derive(Debug, Default)]
pub(crate) struct WayBack {
    /// `rollback-target-at-risk`, when it is.
    warning: Option<Finding>,
    /// The way back's version, repository and exact bytes (read with `--protect`).
    protect: Option<(String, Repository, RawManifest)>,
}

/// The way back being read, one [`WayBack`] a function in the order given.
pub(crate) type Found = tokio::task::JoinHandle<Vec<WayBack>>;

/// Starts reading each alias's way back: one DescribeImages (and, only for an
/// untagged image, GetLifecyclePolicy; with `--protect`, BatchGetImage of its bytes).
/// It runs alongside the deploy's own calls.
pub(crate) fn spawn(clients: &Clients, req: &DeployRequest, releases: &[Option<Release>]) -> Found {
    let backs: Vec<Option<(String, Image)>> = releases
        .iter()
        .map(|r| {
            let r = r.as_ref()?;
            let (alias, state) = (r.before.as_ref()?, r.current.as_ref()?);
            if r.runs_target {
                return None;
            }
            Some((alias.version.clone(), Image::of(state)?))
        })
        .collect();
    let (clients, protect) = (clients.clone(), req.protect && !req.dry_run);
    tokio::spawn(async move {
        let mut found = Vec::new();
        for back in backs {
            found.push(match back {
                Some((version, image)) => read(&clients, version, image, protect).await,
                None => WayBack::default(),
            });
        }
        found
    })
}

async fn read(clients: &Clients, version: String, image: Image, protect: bool) -> WayBack {
    let client = crate::ops::retain::ecr_client(clients, &image.repo.region);
    let (facts, bytes) = tokio::join!(way_back::describe(clients, &image), async {
        if protect {
            ecr::read_by_digest(&client, &image.repo, std::slice::from_ref(&image.digest))
                .await
                .ok()
        } else {
            None
        }
    });
    let warning = match facts {
        // Not readable: nothing is said (the deploy does not depend on it).
        Err(_) => None,
        Ok(facts) => way_back::at_risk(clients, &version, &image, facts.as_ref()).await,
    };
    let protect = bytes
        .and_then(|mut b| b.remove(&image.digest))
        .filter(|m| m.verify().is_ok())
        .map(|m| (version, image.repo, m));
    WayBack { warning, protect }
}

/// The version that holds the deployed image, one per function, as the update
/// phase reported it (`None`: no alias, or it was not moved). Read before a gradual
/// release, which rewrites each alias report with where the release left the alias:
/// after a rollback that is the alias's own version, which runs the way back, not
/// the deployed image.
pub(crate) fn holding(deployments: &[DeploymentReport]) -> Vec<Option<String>> {
    deployments
        .iter()
        .map(|d| {
            d.alias
                .as_ref()
                .filter(|a| {
                    matches!(
                        a.status,
                        AliasStatus::Moved | AliasStatus::Unchanged | AliasStatus::Planned
                    )
                })
                .and_then(|a| a.version.clone())
        })
        .collect()
}

/// Adds each function's warning to its analysis, and with `--protect` tags the
/// deployed image (`$LATEST`, and the version that holds it: `holding`) and the way
/// back: what was written, and a warning for what could not be. A gradual release
/// rolled back still protects both: the way back is what the alias runs again, and
/// the rejected image is what `$LATEST` and its published version run (Lambda
/// fails them, and refuses the next update, if it is deleted); `prune` is what
/// retires that version and its tag.
pub(crate) async fn finish(
    found: Found,
    clients: &Clients,
    req: &DeployRequest,
    analyses: &mut [Analysis],
    deployments: &[DeploymentReport],
    holding: &[Option<String>],
) -> Vec<TagWrite> {
    // The way back is a warning, never the deploy's failure: a read that panicked is
    // logged, not hidden, and the deploy's report still printed.
    let found = found.await.unwrap_or_else(|e| {
        tracing::warn!("the way back could not be read: {e}");
        Vec::new()
    });
    let mut written = Vec::new();
    for (i, analysis) in analyses.iter_mut().enumerate() {
        let back = found.get(i);
        if let Some(w) = back.and_then(|b| b.warning.clone()) {
            analysis.assessment.warnings.push(w);
        }
        let Some(deployment) = deployments
            .get(i)
            .filter(|d| req.protect && !req.dry_run && d.ok(req.wait))
        else {
            continue;
        };
        let holds = holding.get(i).cloned().flatten();
        let tags = tags_to_write(analysis, deployment, holds, back);
        let before = written.len();
        for (repo, manifest, tag) in tags {
            // After Ctrl-C no further write starts, tags included (a Ctrl-C during one
            // tag's write stops the rest): say what was not done.
            if crate::interrupt::heard() {
                analysis.assessment.warnings.push(Finding::new(
                    Code::RollbackTargetAtRisk,
                    format!(
                        "interrupted: --protect wrote no {}tag; `ecr-lambda retain \
                         --function {} --protect` tags what the function runs",
                        if written.len() > before {
                            "further "
                        } else {
                            ""
                        },
                        deployment.function.name
                    ),
                ));
                break;
            }
            let client = crate::ops::retain::ecr_client(clients, &repo.region);
            let result = match ecr::put(&client, &repo, Some(&tag), &manifest).await {
                Ok(outcome) => crate::ops::retain::put_result(outcome),
                Err(e) => {
                    let detail = ErrorDetail::from(&crate::Error::from(e));
                    analysis.assessment.warnings.push(Finding::new(
                        Code::RollbackTargetAtRisk,
                        format!("--protect could not write tag {tag}: {}", detail.message),
                    ));
                    continue;
                }
            };
            written.push(TagWrite {
                repository: repo.name.clone(),
                digest: manifest.digest().to_string(),
                tag,
                result,
            });
        }
    }
    written
}

/// The protective tags of one function's deploy: the deployed image's for `$LATEST`
/// and for the version that holds it (`holds`, read before a gradual release
/// rewrote the alias report), and the way back's.
fn tags_to_write(
    analysis: &Analysis,
    deployment: &DeploymentReport,
    holds: Option<String>,
    back: Option<&WayBack>,
) -> Vec<(Repository, RawManifest, String)> {
    let mut tags: Vec<(Repository, RawManifest, String)> = Vec::new();
    let name = deployment.function.name.clone();
    if let Some(target) = &analysis.assessment.target {
        for v in std::iter::once(None).chain(holds.map(Some)) {
            let tag = retention::protective_tag(retention::DEFAULT_TAG_PREFIX, &name, v.as_deref());
            tags.push((analysis.repo.clone(), target.manifest.clone(), tag));
        }
    }
    if let Some((version, repo, manifest)) = back.and_then(|b| b.protect.clone()) {
        let tag = retention::protective_tag(retention::DEFAULT_TAG_PREFIX, &name, Some(&version));
        tags.push((repo, manifest, tag));
    }
    tags
}
