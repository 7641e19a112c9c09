//! `retain`'s writes: the plan (every manifest read by digest and verified, every
//! policy rewritten, before the first write), then the writes in order: tags,
//! policies, restores. Each is safe to repeat.

use std::collections::BTreeMap;

use super::retain::{RepoState, RetainRequest, WritePlan, put_result, wait_restored};
use crate::digest::Digest;
use crate::ecr::retention as ecr_ret;
use crate::ecr::{self};
use crate::error::{AwsError, AwsErrorKind, Error};
use crate::lambda::pins::FunctionPins;
use crate::output::retain::{PolicyWrite, RestoreWrite, TagWrite, WriteResult, Writes};
use crate::retention::{self, ImageState};

/// The protective tags each image in use of `state` should carry: one per
/// `$LATEST` or version that runs it (an alias routes to versions, which carry their
/// own).
fn wanted_tags(
    prefix: &str,
    functions: &[FunctionPins],
    state: &RepoState,
) -> BTreeMap<Digest, Vec<String>> {
    let mut wanted: BTreeMap<Digest, Vec<String>> = BTreeMap::new();
    for f in functions {
        for pin in f.pins.iter().filter(|p| p.qualifier == p.version) {
            let (Some(digest), Some(repository)) = (&pin.digest, &pin.repository) else {
                continue;
            };
            if !state.holds(repository) || !state.digests.contains(digest) {
                continue;
            }
            let version = (pin.version != "$LATEST").then_some(pin.version.as_str());
            let tag = retention::protective_tag(prefix, &f.name, version);
            let tags = wanted.entry(digest.clone()).or_default();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    wanted
}

/// Everything `retain` would write, read and checked.
pub(crate) async fn plan(
    req: &RetainRequest,
    functions: &[FunctionPins],
    states: &[RepoState],
) -> Result<WritePlan, Error> {
    let mut plan = WritePlan::default();
    for state in states {
        if req.protect || req.protect_policy {
            plan_tags(&mut plan, req, functions, state).await?;
        }
        if req.protect_policy
            && let Some(policy) = &state.policy
        {
            let rewritten = retention::with_keep_rule(policy, &req.tag_prefix).map_err(|e| {
                AwsError::new(
                    "GetLifecyclePolicy",
                    AwsErrorKind::Invalid,
                    format!("{}: {e}", state.repo.name),
                )
                .with_hint("nothing was written; fix the policy, or run without --protect-policy")
            })?;
            if let Some(text) = rewritten {
                plan.policies.push((state.clone(), text));
            }
        }
        if req.restore {
            for digest in &state.digests {
                match state.facts.get(digest).map(|f| f.state) {
                    Some(ImageState::Archived) => {
                        plan.restores.push((state.clone(), digest.clone()))
                    }
                    Some(ImageState::Activating) => {
                        plan.activating.push((state.clone(), digest.clone()));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(plan)
}

async fn plan_tags(
    plan: &mut WritePlan,
    req: &RetainRequest,
    functions: &[FunctionPins],
    state: &RepoState,
) -> Result<(), Error> {
    let mut to_read = Vec::new();
    let mut missing: Vec<(Digest, String)> = Vec::new();
    for (digest, tags) in wanted_tags(&req.tag_prefix, functions, state) {
        let Some(facts) = state.facts.get(&digest) else {
            continue; // deleted: nothing to tag
        };
        for tag in tags.into_iter().filter(|t| !facts.tags.contains(t)) {
            if facts.state == ImageState::Active {
                if !to_read.contains(&digest) {
                    to_read.push(digest.clone());
                }
                missing.push((digest.clone(), tag));
            } else {
                plan.unreadable.push(TagWrite {
                    repository: state.repo.name.clone(),
                    digest: digest.to_string(),
                    tag,
                    result: WriteResult::NotReadable,
                });
            }
        }
    }
    if to_read.is_empty() {
        return Ok(());
    }
    let manifests = ecr::read_many(&state.client, &state.repo, &to_read).await?;
    for (digest, tag) in missing {
        let Some(manifest) = manifests.get(&digest) else {
            plan.unreadable.push(TagWrite {
                repository: state.repo.name.clone(),
                digest: digest.to_string(),
                tag,
                result: WriteResult::NotReadable,
            });
            continue;
        };
        // The bytes written must be the bytes Lambda runs: checked before any write.
        manifest.verify().map_err(|e| {
            AwsError::new(
                "BatchGetImage",
                AwsErrorKind::Service,
                format!(
                    "ECR returned bytes for {digest} in {} that do not match it: {e}",
                    state.repo.name
                ),
            )
        })?;
        plan.tags.push((state.clone(), manifest.clone(), tag));
    }
    Ok(())
}

/// Writes the plan: each tag as a PutImage of the image's exact bytes, each policy
/// whole, each restore; then, unless `--no-wait`, waits for the restores.
pub(crate) async fn execute(plan: WritePlan, req: &RetainRequest) -> Result<Writes, Error> {
    let mut writes = Writes {
        tags: plan.unreadable.clone(),
        ..Writes::default()
    };
    for (state, manifest, tag) in &plan.tags {
        let outcome = ecr::put(&state.client, &state.repo, Some(tag), manifest).await?;
        writes.tags.push(TagWrite {
            repository: state.repo.name.clone(),
            digest: manifest.digest().to_string(),
            tag: tag.clone(),
            result: put_result(outcome),
        });
    }
    for (state, text) in &plan.policies {
        // ECR has no conditional PutLifecyclePolicy: read it again just before, and
        // leave a policy someone changed since it was read as they left it.
        let now = ecr_ret::lifecycle_policy(&state.client, &state.repo).await?;
        if now != state.policy {
            return Err(AwsError::new(
                "PutLifecyclePolicy",
                AwsErrorKind::Conflict,
                format!(
                    "the lifecycle policy of {} changed since it was read; it was not written",
                    state.repo.name
                ),
            )
            .with_hint("run the command again: it reads the policy as it is now")
            .into());
        }
        ecr_ret::put_lifecycle_policy(&state.client, &state.repo, text).await?;
        writes.policies.push(PolicyWrite {
            repository: state.repo.name.clone(),
            policy: text.clone(),
            result: WriteResult::Written,
        });
    }
    for (state, digest) in &plan.restores {
        ecr_ret::restore(&state.client, &state.repo, digest).await?;
        writes.restores.push(RestoreWrite {
            repository: state.repo.name.clone(),
            digest: digest.to_string(),
            result: WriteResult::Written,
        });
    }
    if req.wait {
        let mut by_repo: BTreeMap<String, (&RepoState, Vec<Digest>)> = BTreeMap::new();
        for (state, digest) in plan.restores.iter().chain(&plan.activating) {
            by_repo
                .entry(format!("{}/{}", state.repo.region, state.repo.name))
                .or_insert_with(|| (state, Vec::new()))
                .1
                .push(digest.clone());
        }
        for (state, digests) in by_repo.values() {
            wait_restored(&state.client, &state.repo, digests, req.wait_timeout).await?;
        }
    }
    Ok(writes)
}
