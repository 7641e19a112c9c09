//! `deploy --alias`: the way back (the image of the alias's version before the
//! deploy) is checked while the deploy goes on, and with `--protect` the deployed
//! image and the way back get their protective tags. Two hooks in `deploy`: [`spawn`]
//! once the aliases are read, [`finish`] before the report.

use super::release::Release;
use crate::digest::Digest;
use crate::ecr::retention as ecr_ret;
use crate::ecr::{self, Repository};
use crate::manifest::RawManifest;
use crate::manifest::findings::{Code, Finding};
use crate::ops::{Analysis, Clients, DeployRequest};
use crate::output::retain::TagWrite;
use crate::output::{AliasStatus, DeploymentReport, ErrorDetail};
use crate::reference::ImageRef;
use crate::retention::{self, ImageState};

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
    let backs: Vec<Option<(String, Repository, Digest)>> = releases
        .iter()
        .map(|r| {
            let r = r.as_ref()?;
            let (alias, state) = (r.before.as_ref()?, r.current.as_ref()?);
            if r.runs_target {
                return None;
            }
            let digest = state.running_digest.clone()?;
            let image: ImageRef = format!("{}@{digest}", state.running_repository.as_ref()?)
                .parse()
                .ok()?;
            let registry = image.registry?;
            Some((
                alias.version.clone(),
                Repository {
                    registry_id: Some(registry.account),
                    name: image.repository,
                    region: registry.region,
                },
                digest,
            ))
        })
        .collect();
    let (clients, protect) = (clients.clone(), req.protect && !req.dry_run);
    tokio::spawn(async move {
        let mut found = Vec::new();
        for back in backs {
            found.push(match back {
                Some((version, repo, digest)) => {
                    read(&clients, version, repo, digest, protect).await
                }
                None => WayBack::default(),
            });
        }
        found
    })
}

async fn read(
    clients: &Clients,
    version: String,
    repo: Repository,
    digest: Digest,
    protect: bool,
) -> WayBack {
    let client = crate::ops::retain::ecr_client(clients, &repo.region);
    let (facts, bytes) = tokio::join!(
        ecr_ret::describe(&client, &repo, std::slice::from_ref(&digest)),
        async {
            if protect {
                ecr::read_by_digest(&client, &repo, std::slice::from_ref(&digest))
                    .await
                    .ok()
            } else {
                None
            }
        }
    );
    let at_risk = |why: String| {
        Some(Finding::new(
            Code::RollbackTargetAtRisk,
            format!(
                "the way back, version {version} ({}@{digest}), {why}: `ecr-lambda retain` says \
                 more, and --protect tags it",
                repo.name
            ),
        ))
    };
    let warning = match facts {
        // Not readable: nothing is said (the deploy does not depend on it).
        Err(_) => None,
        Ok(found) => match found.get(&digest) {
            None => at_risk("is no longer in ECR".into()),
            Some(f) if f.state != ImageState::Active => {
                at_risk("is archived: Lambda cannot pull it until it is restored".into())
            }
            Some(f) if f.tags.is_empty() => match ecr_ret::lifecycle_policy(&client, &repo).await {
                Ok(Some(policy)) if retention::has_untagged_rule(&policy) => at_risk(
                    "is untagged, and the repository's lifecycle policy expires untagged images"
                        .into(),
                ),
                _ => None,
            },
            Some(_) => None,
        },
    };
    let protect = bytes
        .and_then(|mut b| b.remove(&digest))
        .filter(|m| m.verify().is_ok())
        .map(|m| (version, repo, m));
    WayBack { warning, protect }
}

/// Adds each function's warning to its analysis, and with `--protect` tags the
/// deployed image (its new version, and `$LATEST`) and the way back: what was
/// written, and a warning for what could not be (or, after Ctrl-C, was not tried).
pub(crate) async fn finish(
    found: Found,
    clients: &Clients,
    req: &DeployRequest,
    analyses: &mut [Analysis],
    deployments: &[DeploymentReport],
) -> Vec<TagWrite> {
    let found = found.await.unwrap_or_default();
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
        // After Ctrl-C no further write starts: the tags are left to `retain`.
        if crate::interrupt::heard() {
            analysis.assessment.warnings.push(Finding::new(
                Code::RollbackTargetAtRisk,
                format!(
                    "interrupted: --protect wrote no tag; `ecr-lambda retain --function {} \
                     --protect` writes them",
                    deployment.function.name
                ),
            ));
            continue;
        }
        let tags = tags_to_write(analysis, deployment, back);
        for (repo, manifest, tag) in tags {
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
/// and for the alias's version when the alias runs it, and the way back's.
fn tags_to_write(
    analysis: &Analysis,
    deployment: &DeploymentReport,
    back: Option<&WayBack>,
) -> Vec<(Repository, RawManifest, String)> {
    let mut tags: Vec<(Repository, RawManifest, String)> = Vec::new();
    let name = deployment.function.name.clone();
    if let Some(target) = &analysis.assessment.target {
        let mut versions = vec![None];
        // The alias's version only when it runs the image: an alias left where it
        // was (not moved, refused, rolled back, still shifting) names a version
        // that runs another image, whose tag belongs to the way back.
        if let Some(v) = deployment
            .alias
            .as_ref()
            .filter(|a| matches!(a.status, AliasStatus::Moved | AliasStatus::Unchanged))
            .and_then(|a| a.version.clone())
        {
            versions.push(Some(v));
        }
        for v in versions {
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
