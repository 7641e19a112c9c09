//! `scan --functions`: every image function, the image it runs and the tag it was
//! deployed from, judged against what the tag scan found.

use std::collections::BTreeMap;

use super::{ScanRequest, ScannedTag, TagKey, bounded, repository};
use crate::digest::Digest;
use crate::ecr::{self, Repository};
use crate::error::AwsErrorKind;
use crate::lambda::{self, FunctionRef, FunctionState};
use crate::manifest::config::{self, ImageConfig};
use crate::manifest::registry::Verdict;
use crate::manifest::{Descriptor, Parsed, RawManifest};
use crate::ops::Clients;
use crate::ops::image_config;
use crate::output::{FindingKind, ScanFinding, ScanReport, Unreadable};
use crate::reference::{ImageRef, Selector};

/// A function, and the image it was created or last updated from.
struct Deployed {
    state: FunctionState,
    image: Option<ImageRef>,
}

pub(super) async fn scan_functions(
    clients: &Clients,
    req: &ScanRequest,
    tags: &BTreeMap<TagKey, ScannedTag>,
    report: &mut ScanReport,
    on_finding: &mut (dyn FnMut(&ScanFinding) + Send),
) {
    let names = match lambda::list_image_functions(&clients.lambda).await {
        Ok(names) => names,
        Err(e) => {
            report.unreadable.push(Unreadable {
                what: "functions".into(),
                error: e.to_string(),
            });
            return;
        }
    };
    // Grouped by the repository (and registry) each runs from.
    let mut by_repository: BTreeMap<(Option<String>, String), Vec<Deployed>> = BTreeMap::new();
    let work = {
        let clients = clients.clone();
        move |name: String| {
            let clients = clients.clone();
            async move {
                let f = FunctionRef {
                    id: name.clone(),
                    region: None,
                };
                (
                    name,
                    lambda::get_function(&clients.lambda, &f, &clients.lambda_region).await,
                )
            }
        }
    };
    bounded(names, req.concurrency, work, |(name, state)| match state {
        Ok(state) => {
            report.functions += 1;
            let image: Option<ImageRef> = state.image_uri.as_deref().and_then(|u| u.parse().ok());
            let key = image.as_ref().map_or((None, String::new()), |i| {
                (
                    i.registry.as_ref().map(|r| r.account.clone()),
                    i.repository.clone(),
                )
            });
            by_repository
                .entry(key)
                .or_default()
                .push(Deployed { state, image });
        }
        Err(e) => report.unreadable.push(Unreadable {
            what: format!("function {name}"),
            error: e.to_string(),
        }),
    })
    .await;

    for ((registry_id, name), functions) in by_repository {
        // Which running digests still exist: one BatchGetImage per 100.
        let digests: Vec<Digest> = functions
            .iter()
            .filter_map(|f| f.state.running_digest.clone())
            .collect();
        let existing = if name.is_empty() {
            Ok(BTreeMap::new())
        } else {
            ecr::read_many(
                &clients.ecr,
                &repository(clients, registry_id.clone(), &name),
                &digests,
            )
            .await
        };
        let existing: BTreeMap<Digest, RawManifest> = match existing {
            Ok(found) => found,
            // The repository itself is gone: so are its images.
            Err(e) if e.kind == AwsErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                report.unreadable.push(Unreadable {
                    what: format!("repository {name}"),
                    error: e.to_string(),
                });
                continue;
            }
        };
        let archived = archived_of(clients, registry_id.clone(), &name, &digests, &existing).await;
        let configs = if name.is_empty() {
            BTreeMap::new()
        } else {
            let repo = repository(clients, registry_id.clone(), &name);
            read_configs(clients, &repo, &existing, req.concurrency, report).await
        };
        for deployed in functions {
            let archived = deployed
                .state
                .running_digest
                .as_ref()
                .and_then(|d| archived.get(d));
            for finding in function_findings(&deployed, &name, &existing, &configs, tags, archived)
            {
                on_finding(&finding);
                report.findings.push(finding);
            }
        }
    }
}

/// Of the running digests BatchGetImage did not return, those ECR holds archived or
/// restoring (one DescribeImages a 100, only when some are missing): the rest are gone.
async fn archived_of(
    clients: &Clients,
    registry_id: Option<String>,
    name: &str,
    digests: &[Digest],
    existing: &BTreeMap<Digest, RawManifest>,
) -> BTreeMap<Digest, crate::retention::ImageState> {
    let missing: Vec<Digest> = digests
        .iter()
        .filter(|d| !existing.contains_key(*d))
        .cloned()
        .collect();
    if name.is_empty() || missing.is_empty() {
        return BTreeMap::new();
    }
    let repo = repository(clients, registry_id, name);
    // Not readable either way: a failure here leaves them reported as deleted.
    crate::ecr::retention::describe(&clients.ecr, &repo, &missing)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, f)| f.state != crate::retention::ImageState::Active)
        .map(|(d, f)| (d, f.state))
        .collect()
}

/// The configs of the single image manifests functions run: each digest once,
/// `concurrency` at a time. One that cannot be read is reported as unreadable.
async fn read_configs(
    clients: &Clients,
    repo: &Repository,
    running: &BTreeMap<Digest, RawManifest>,
    concurrency: usize,
    report: &mut ScanReport,
) -> BTreeMap<Digest, ImageConfig> {
    let wanted: Vec<(Digest, Descriptor)> = running
        .iter()
        .filter_map(|(digest, manifest)| match manifest.parse() {
            Ok(Parsed::Image(view)) if config::is_image_config(&view.config) => {
                Some((digest.clone(), view.config))
            }
            _ => None,
        })
        .collect();
    let work = {
        let (clients, repo) = (clients.clone(), repo.clone());
        move |(digest, descriptor): (Digest, Descriptor)| {
            let (clients, repo) = (clients.clone(), repo.clone());
            async move {
                let read = image_config::read_descriptor(&clients, &repo, &descriptor)
                    .await
                    .into_result()
                    .and_then(|c| c.ok_or_else(|| "no image config to read".to_owned()));
                (digest, read)
            }
        }
    };
    let mut configs = BTreeMap::new();
    bounded(wanted, concurrency, work, |(digest, read)| match read {
        Ok(config) => {
            configs.insert(digest, config);
        }
        Err(error) => report.unreadable.push(Unreadable {
            what: format!("the config of {}@{digest}", repo.name),
            error,
        }),
    })
    .await;
    configs
}

fn function_findings(
    deployed: &Deployed,
    repository: &str,
    existing: &BTreeMap<Digest, RawManifest>,
    configs: &BTreeMap<Digest, ImageConfig>,
    tags: &BTreeMap<TagKey, ScannedTag>,
    archived: Option<&crate::retention::ImageState>,
) -> Vec<ScanFinding> {
    let state = &deployed.state;
    let finding = |kind: FindingKind, message: String| ScanFinding {
        kind,
        repository: Some(repository.to_owned()).filter(|r| !r.is_empty()),
        tag: deployed
            .image
            .as_ref()
            .and_then(|i| i.tag().map(str::to_owned)),
        digest: state.running_digest.as_ref().map(ToString::to_string),
        function: Some(state.name.clone()),
        fixable: false,
        fix_writes: Vec::new(),
        problems: Vec::new(),
        message,
    };
    let mut findings = Vec::new();
    if let (Some(d), Some(status)) = (&state.running_digest, archived) {
        findings.push(finding(
            FindingKind::ImageArchived,
            format!(
                "{} runs {d}, which {repository} holds {}: Lambda cannot pull it until it is \
                 restored; run `ecr-lambda retain --function {} --restore`",
                state.name,
                match status {
                    crate::retention::ImageState::Archived => "ARCHIVED",
                    _ => "ACTIVATING (being restored)",
                },
                state.name
            ),
        ));
    } else if let Some(d) = state
        .running_digest
        .as_ref()
        .filter(|d| !existing.contains_key(*d))
    {
        findings.push(finding(
            FindingKind::FunctionImageDeleted,
            format!(
                "{} runs {d}, which is no longer in {repository}: Lambda will fail the function \
                 (ImageDeleted); deploy a current image",
                state.name
            ),
        ));
    }
    // The tag it was deployed from, as scanned (same registry, repository and tag).
    let scanned = deployed.image.as_ref().and_then(|i| match &i.selector {
        Selector::Tag(t) => {
            let account = i.registry.as_ref().map(|r| r.account.clone());
            tags.values().find(|s| {
                s.repository == i.repository
                    && s.tag == *t
                    && (account.is_none() || s.registry_id.is_none() || s.registry_id == account)
            })
        }
        Selector::Digest(_) => None,
    });
    if let Some(scanned) = scanned {
        // Deployed by tag: the tag itself must be what Lambda takes.
        if !scanned.lambda_ready {
            let mut f = finding(
                FindingKind::FunctionTagNotReady,
                format!(
                    "{} was deployed from {}:{}, which Lambda would now refuse: the next deploy of \
                     that tag fails unless it is fixed",
                    state.name, scanned.repository, scanned.tag
                ),
            );
            f.fixable = scanned.assessment.verdict != Verdict::NotFixable;
            f.fix_writes = scanned
                .assessment
                .writes
                .iter()
                .map(|w| w.tag.clone())
                .collect();
            f.problems = scanned.assessment.problems.iter().map(|p| p.code).collect();
            findings.push(f);
        }
        if let Some(arch) = state
            .facts()
            .arch
            .filter(|a| !scanned.archs.is_empty() && !scanned.archs.contains(a))
        {
            findings.push(finding(
                FindingKind::FunctionArchitectureMismatch,
                format!(
                    "{} runs on {}, but {}:{} has no linux/{} image",
                    state.name,
                    arch.lambda_name(),
                    scanned.repository,
                    scanned.tag,
                    arch.oci_name()
                ),
            ));
        }
    }
    // What the running image was built for, from its config: the one record a single
    // manifest has of its architecture.
    let config = state.running_digest.as_ref().and_then(|d| configs.get(d));
    if let (Some(arch), Some(config)) = (state.facts().arch, config)
        && config.platform().lambda_arch() != Some(arch)
        && !findings
            .iter()
            .any(|f| f.kind == FindingKind::FunctionArchitectureMismatch)
    {
        findings.push(finding(
            FindingKind::FunctionArchitectureMismatch,
            format!(
                "{} runs on {}, but the image it runs was built for {}: every invoke fails \
                 (exec format error)",
                state.name,
                arch.lambda_name(),
                config.platform()
            ),
        ));
    }
    findings
}
