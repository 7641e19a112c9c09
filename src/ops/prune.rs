//! `prune`: delete the published versions beyond the newest N that no alias routes
//! to; with `--release-tags`, their protective tags too.

use std::collections::BTreeMap;

use super::retain::{Targets, ecr_client, read_functions};
use super::{Clients, Outcome};
use crate::digest::Digest;
use crate::ecr::Repository;
use crate::ecr::retention as ecr_ret;
use crate::error::{Error, ExitCode};
use crate::lambda::FunctionRef;
use crate::lambda::pins::{self, FunctionPins};
use crate::output::ErrorDetail;
use crate::output::retain::PruneReport;
use crate::reference::ImageRef;
use crate::retention;

/// What `prune` is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneRequest {
    /// The function.
    pub function: FunctionRef,
    /// `--keep`: how many of the newest versions stay whatever routes to them.
    pub keep: usize,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--release-tags`: remove the deleted versions' protective tags.
    pub release_tags: bool,
    /// `--tag-prefix`.
    pub tag_prefix: String,
}

/// Which versions each alias routes to (its version and its weighted version).
fn routes(f: &FunctionPins) -> BTreeMap<u64, Vec<String>> {
    let mut routes: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    for alias in &f.aliases {
        for v in std::iter::once(&alias.version).chain(alias.weights.keys()) {
            if let Ok(n) = v.parse() {
                routes.entry(n).or_default().push(alias.name.clone());
            }
        }
    }
    routes
}

/// `prune`.
pub async fn prune(clients: &Clients, req: &PruneRequest) -> Result<Outcome<PruneReport>, Error> {
    let targets = Targets::Functions(vec![req.function.clone()]);
    let f = read_functions(clients, &targets, 1).await?.remove(0);
    // A property of the function, not of what was typed: exit 1, nothing deleted.
    if f.durable {
        let report = PruneReport {
            function: f.name.clone(),
            kept: Vec::new(),
            deleted: Vec::new(),
            released_tags: Vec::new(),
            warnings: Vec::new(),
            dry_run: req.dry_run,
            error: None,
            refused: Some(format!(
                "{} has a DurableConfig: durable executions stay pinned to their version for up \
                 to a year, and only qualified ARNs can invoke them, so prune deletes no version \
                 of it",
                f.name
            )),
        };
        return Ok(Outcome {
            report,
            exit: ExitCode::NotUsable,
        });
    }
    let versions: Vec<u64> = f
        .pins
        .iter()
        .filter(|p| p.qualifier == p.version)
        .filter_map(|p| p.version.parse().ok())
        .collect();
    let (kept, deleted) = retention::plan_prune(&versions, &routes(&f), req.keep);
    let (released_tags, warnings, by_repo) = if req.release_tags {
        release_plan(clients, req, &f, &deleted).await?
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };
    let mut report = PruneReport {
        function: f.name.clone(),
        kept,
        deleted: if req.dry_run {
            deleted.clone()
        } else {
            Vec::new()
        },
        released_tags: if req.dry_run {
            released_tags
        } else {
            Vec::new()
        },
        warnings,
        dry_run: req.dry_run,
        error: None,
        refused: None,
    };
    if req.dry_run {
        return Ok(Outcome {
            report,
            exit: ExitCode::Success,
        });
    }
    let (client, _) = clients.lambda_for(&req.function);
    for version in &deleted {
        if let Err(e) = pins::delete_version(&client, &req.function, version).await {
            report.error = Some(ErrorDetail::from(&Error::from(e)));
            return Ok(Outcome {
                report,
                exit: ExitCode::Aws,
            });
        }
        report.deleted.push(version.clone());
    }
    for (client, repo, tags) in by_repo {
        if let Err(e) = ecr_ret::untag(&client, &repo, &tags).await {
            report.error = Some(ErrorDetail::from(&Error::from(e)));
            return Ok(Outcome {
                report,
                exit: ExitCode::Aws,
            });
        }
        report.released_tags.extend(tags);
    }
    Ok(Outcome {
        report,
        exit: ExitCode::Success,
    })
}

type Untag = (aws_sdk_ecr::Client, Repository, Vec<String>);

/// The protective tags of the versions to delete, by repository, leaving a tag
/// whose image something else read still runs; a warning for each tag that is its
/// image's last (ECR deletes an image with its last tag).
async fn release_plan(
    clients: &Clients,
    req: &PruneRequest,
    f: &FunctionPins,
    deleted: &[String],
) -> Result<(Vec<String>, Vec<String>, Vec<Untag>), Error> {
    let mut released = Vec::new();
    let mut warnings = Vec::new();
    let mut by_repo: BTreeMap<String, (Repository, Vec<(Digest, String)>)> = BTreeMap::new();
    for pin in f.pins.iter().filter(|p| deleted.contains(&p.qualifier)) {
        let (Some(digest), Some(repository)) = (&pin.digest, &pin.repository) else {
            continue;
        };
        let tag = retention::protective_tag(&req.tag_prefix, &f.name, Some(&pin.version));
        let still = f
            .pins
            .iter()
            .filter(|p| p.digest.as_ref() == Some(digest) && !deleted.contains(&p.version))
            .map(|p| f.used_by(p))
            .collect::<Vec<_>>();
        if !still.is_empty() {
            warnings.push(format!(
                "kept tag {tag}: {} still runs {digest}",
                still.join(", ")
            ));
            continue;
        }
        let Ok(image) = format!("{repository}@{digest}").parse::<ImageRef>() else {
            continue;
        };
        let Some(registry) = image.registry else {
            continue;
        };
        by_repo
            .entry(format!("{}/{}", registry.region, image.repository))
            .or_insert_with(|| {
                (
                    Repository {
                        registry_id: Some(registry.account.clone()),
                        name: image.repository.clone(),
                        region: registry.region.clone(),
                    },
                    Vec::new(),
                )
            })
            .1
            .push((digest.clone(), tag));
    }
    let mut untags = Vec::new();
    for (repo, tags) in by_repo.into_values() {
        let client = ecr_client(clients, &repo.region);
        let digests: Vec<Digest> = tags.iter().map(|(d, _)| d.clone()).collect();
        let facts = ecr_ret::describe(&client, &repo, &digests).await?;
        let mut present = Vec::new();
        for (digest, tag) in tags {
            let Some(facts) = facts.get(&digest) else {
                continue;
            };
            if !facts.tags.contains(&tag) {
                continue;
            }
            if facts.tags.iter().all(|t| t == &tag) {
                warnings.push(format!(
                    "removing {tag}, the last tag of {}@{digest}, deletes the image: ECR deletes \
                     an image together with its last tag",
                    repo.name
                ));
            }
            released.push(tag.clone());
            present.push(tag);
        }
        if !present.is_empty() {
            untags.push((client, repo, present));
        }
    }
    Ok((released, warnings, untags))
}
