use std::collections::{BTreeMap, BTreeSet};

use crate::digest::Digest;
use crate::ecr::{self, Repository};
use crate::error::{AwsError, Error, ExitCode};
use crate::manifest::config::{self, ImageConfig};
use crate::manifest::registry::{self, PlannedWrite, TagAssessment, Verdict};
use crate::manifest::rules::{Code, Inputs};
use crate::manifest::{LambdaArch, media_type};
use crate::ops::fix::apply_fix;
use crate::ops::{Clients, Outcome};
use crate::output::{Action, FindingKind, ScanFinding, ScanReport, ScanWrite, Unreadable};

mod functions;

use functions::scan_functions;

/// What `scan` is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRequest {
    /// Empty: every repository of the registry.
    pub repositories: Vec<String>,
    /// Also check every image function: its image still exists, its tag is still
    /// ready, its architecture matches.
    pub functions: bool,
    /// How many repositories, functions or config blobs are read at once.
    pub concurrency: usize,
    /// Fix every fixable tag, as `fix` does, once `confirm` approves the plan.
    pub fix: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// A tag as scanned: where it is, what it names, how it was judged.
#[derive(Clone, Debug)]
struct ScannedTag {
    registry_id: Option<String>,
    repository: String,
    tag: String,
    digest: Digest,
    assessment: TagAssessment,
    /// The runnable architectures of an index; empty for a single manifest.
    archs: Vec<LambdaArch>,
    /// Lambda takes what the tag names as it is (a multi-platform index whose
    /// per-platform tags exist is `Ready` for the scan, but not this).
    lambda_ready: bool,
}

/// Where a tag is: (registry, repository, tag).
type TagKey = (Option<String>, String, String);

impl ScannedTag {
    fn key(&self) -> TagKey {
        (
            self.registry_id.clone(),
            self.repository.clone(),
            self.tag.clone(),
        )
    }
}

fn repository(clients: &Clients, registry_id: Option<String>, name: &str) -> Repository {
    Repository {
        registry_id,
        name: name.to_owned(),
        region: clients.ecr_region.clone(),
    }
}

/// Runs `work` over `items`, at most `concurrency` at a time, and hands each result to
/// `done` as soon as it is ready (so findings stream out as they are found).
async fn bounded<T, R, F, Fut>(items: Vec<T>, concurrency: usize, work: F, mut done: impl FnMut(R))
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let mut pending = items.into_iter();
    let mut running = tokio::task::JoinSet::new();
    for item in pending.by_ref().take(concurrency.max(1)) {
        running.spawn(work.clone()(item));
    }
    while let Some(result) = running.join_next().await {
        if let Some(item) = pending.next() {
            running.spawn(work.clone()(item));
        }
        done(result.expect("scan tasks do not panic"));
    }
}

async fn read_repository(
    clients: &Clients,
    repo: &Repository,
) -> Result<Vec<ScannedTag>, AwsError> {
    let listed = ecr::list_tagged_images(&clients.ecr, repo).await?;
    // Only indexes need reading: a single image manifest is what Lambda takes.
    let index_digests: Vec<Digest> = listed
        .iter()
        .filter(|l| media_type::is_index(&l.media_type))
        .map(|l| l.digest.clone())
        .collect();
    let indexes = ecr::read_many(&clients.ecr, repo, &index_digests).await?;
    let mut child_digests: Vec<Digest> = Vec::new();
    for index in indexes.values() {
        for d in index
            .parse()
            .map(|p| registry::scan_children(&p))
            .unwrap_or_default()
        {
            if !child_digests.contains(&d) {
                child_digests.push(d);
            }
        }
    }
    let children = ecr::read_many(&clients.ecr, repo, &child_digests).await?;

    // Tags written by an earlier fix of a multi-platform index (`v7-amd64`, ...).
    let named: BTreeMap<&str, &Digest> = listed
        .iter()
        .flat_map(|l| l.tags.iter().map(move |t| (t.as_str(), &l.digest)))
        .collect();
    let mut tags = Vec::new();
    for image in &listed {
        let index = indexes.get(&image.digest);
        if index.is_none() && media_type::is_index(&image.media_type) {
            continue; // deleted meanwhile
        }
        for tag in &image.tags {
            let display = format!("{}:{tag}", repo.name);
            let assessment = match index {
                Some(root) => Some(registry::assess_tag(
                    &Inputs {
                        image: &display,
                        root,
                        children: &children,
                        requested_digest: None,
                        platform: None,
                        function: None,
                        repository_region: &repo.region,
                    },
                    tag,
                )),
                // Not read: judged by its media type alone.
                None => registry::assess_listed(
                    &display,
                    &image.media_type,
                    image.artifact_media_type.as_deref(),
                ),
            };
            // Artifacts (charts, signatures, SBOMs) are not images Lambda is meant to run.
            let Some(mut assessment) = assessment else {
                continue;
            };
            // A multi-platform tag whose per-platform tags already name its images has
            // been fixed the only way it can be without breaking its other consumers.
            let done = |w: &PlannedWrite| {
                w.tag != *tag && named.get(w.tag.as_str()) == Some(&w.target.manifest.digest())
            };
            let lambda_ready = assessment.verdict == Verdict::Ready;
            if assessment.verdict == Verdict::Fixable && assessment.writes.iter().all(done) {
                assessment.verdict = Verdict::Ready;
            }
            tags.push(ScannedTag {
                registry_id: image.registry_id.clone(),
                repository: repo.name.clone(),
                tag: tag.clone(),
                digest: image.digest.clone(),
                archs: index
                    .and_then(|i| i.parse().ok())
                    .map(|p| registry::runnable_archs(&p))
                    .unwrap_or_default(),
                lambda_ready,
                assessment,
            });
        }
    }
    Ok(tags)
}

fn tag_finding(t: &ScannedTag) -> ScanFinding {
    let problems = &t.assessment.problems;
    let message = problems
        .iter()
        .find(|p| p.code != Code::ImageIndex)
        .or(problems.first())
        .map(|p| p.message.clone())
        .unwrap_or_default();
    ScanFinding {
        kind: FindingKind::TagNotReady,
        repository: Some(t.repository.clone()),
        tag: Some(t.tag.clone()),
        digest: Some(t.digest.to_string()),
        function: None,
        fixable: t.assessment.verdict == Verdict::Fixable,
        fix_writes: t.assessment.writes.iter().map(|w| w.tag.clone()).collect(),
        problems: problems.iter().map(|p| p.code).collect(),
        message,
    }
}

/// Scans repositories (and functions) for what Lambda will refuse.
pub async fn scan(
    clients: &Clients,
    req: &ScanRequest,
    on_finding: &mut (dyn FnMut(&ScanFinding) + Send),
    confirm: &mut (dyn FnMut(&[ScanWrite]) -> bool + Send),
) -> Result<Outcome<ScanReport>, Error> {
    let names = if req.repositories.is_empty() {
        ecr::list_repositories(&clients.ecr, None).await?
    } else {
        req.repositories.clone()
    };
    let bar = req.progress.then(|| {
        let bar = indicatif::ProgressBar::new(names.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} scanning {pos}/{len} repositories {wide_bar}",
            )
            .expect("a valid template"),
        );
        bar
    });

    let mut report = ScanReport {
        repositories: names.len(),
        ..ScanReport::default()
    };
    let mut all_tags: BTreeMap<TagKey, ScannedTag> = BTreeMap::new();
    let work = {
        let clients = clients.clone();
        move |name: String| {
            let clients = clients.clone();
            async move {
                let repo = repository(&clients, None, &name);
                let result = read_repository(&clients, &repo).await;
                (name, result)
            }
        }
    };
    bounded(names, req.concurrency, work, |(name, result)| {
        if let Some(bar) = &bar {
            bar.inc(1);
        }
        match result {
            Err(error) => report.unreadable.push(Unreadable {
                what: format!("repository {name}"),
                error: error.to_string(),
            }),
            Ok(tags) => {
                for t in tags {
                    report.tags += 1;
                    match t.assessment.verdict {
                        Verdict::Ready => report.ready += 1,
                        Verdict::Fixable => report.fixable += 1,
                        Verdict::NotFixable => report.not_fixable += 1,
                    }
                    if t.assessment.verdict != Verdict::Ready {
                        let finding = tag_finding(&t);
                        on_finding(&finding);
                        report.findings.push(finding);
                    }
                    all_tags.insert(t.key(), t);
                }
            }
        }
    })
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    if req.functions {
        scan_functions(clients, req, &all_tags, &mut report, on_finding).await;
    }
    if req.fix {
        fix_all(clients, &all_tags, &mut report, confirm).await;
    }

    // What would still fail: every finding, less those whose tag is now fixed.
    let fixed: BTreeSet<(&str, &str)> = fixed_tags(&report.fixed);
    report.remaining = report
        .findings
        .iter()
        .filter(|f| {
            let tag_fixed = matches!(
                f.kind,
                FindingKind::TagNotReady | FindingKind::FunctionTagNotReady
            ) && fixed.contains(&(
                f.repository.as_deref().unwrap_or_default(),
                f.tag.as_deref().unwrap_or_default(),
            ));
            !tag_fixed
        })
        .count();
    let exit = if !report.unreadable.is_empty() {
        ExitCode::Aws
    } else if report.remaining > 0 {
        ExitCode::NotUsable
    } else {
        ExitCode::Success
    };
    Ok(Outcome { report, exit })
}

/// The scanned tags every planned write of which went through.
fn fixed_tags(writes: &[ScanWrite]) -> BTreeSet<(&str, &str)> {
    let mut all: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for w in writes {
        let ok = matches!(w.action, Some(Action::Retagged | Action::AlreadyReady));
        *all.entry((w.repository.as_str(), w.tag.as_str()))
            .or_insert(true) &= ok;
    }
    all.into_iter()
        .filter(|(_, ok)| *ok)
        .map(|(k, _)| k)
        .collect()
}

/// The config of a target about to be written, when it has an image config.
async fn target_config(
    clients: &Clients,
    repo: &Repository,
    target: &crate::manifest::RawManifest,
) -> Result<Option<ImageConfig>, String> {
    let Ok(crate::manifest::Parsed::Image(view)) = target.parse() else {
        return Ok(None);
    };
    if !config::is_image_config(&view.config) {
        return Ok(None);
    }
    crate::ops::image_config::read_descriptor(clients, repo, &view.config)
        .await
        .into_result()
}

/// `--fix`: every fixable tag, as `fix` writes it (provenance kept), after `confirm`.
async fn fix_all(
    clients: &Clients,
    tags: &BTreeMap<TagKey, ScannedTag>,
    report: &mut ScanReport,
    confirm: &mut (dyn FnMut(&[ScanWrite]) -> bool + Send),
) {
    let plan: Vec<(&ScannedTag, &PlannedWrite)> = tags
        .values()
        .filter(|t| t.assessment.verdict == Verdict::Fixable)
        .flat_map(|t| t.assessment.writes.iter().map(move |w| (t, w)))
        .collect();
    let writes: Vec<ScanWrite> = plan
        .iter()
        .map(|(t, w)| ScanWrite {
            repository: t.repository.clone(),
            tag: t.tag.clone(),
            written_tag: w.tag.clone(),
            target: w.target.manifest.digest().to_string(),
            action: None,
            provenance_written: Vec::new(),
        })
        .collect();
    if writes.is_empty() || !confirm(&writes) {
        return;
    }
    // Each image's config is read once, however many tags name it.
    let mut configs: BTreeMap<(String, Digest), Result<Option<ImageConfig>, String>> =
        BTreeMap::new();
    for ((scanned, planned), mut write) in plan.into_iter().zip(writes) {
        let repo = repository(clients, scanned.registry_id.clone(), &scanned.repository);
        // Validated before it is written, as fix does: the image's config must agree
        // with the index entry that names it.
        let image = format!("{}:{}", scanned.repository, scanned.tag);
        let key = (
            scanned.repository.clone(),
            planned.target.manifest.digest().clone(),
        );
        if !configs.contains_key(&key) {
            let read = target_config(clients, &repo, &planned.target.manifest).await;
            configs.insert(key.clone(), read);
        }
        let refused = match configs[&key].clone() {
            Ok(Some(config)) => crate::manifest::config_rules::contradictions(
                &image,
                planned.target.platform.as_ref(),
                &config,
            ),
            Ok(None) => Vec::new(),
            Err(error) => {
                report.unreadable.push(Unreadable {
                    what: format!("the config of {image}"),
                    error,
                });
                report.fixed.push(write);
                continue;
            }
        };
        if !refused.is_empty() {
            report.findings.push(ScanFinding {
                kind: FindingKind::TagNotReady,
                repository: Some(scanned.repository.clone()),
                tag: Some(scanned.tag.clone()),
                digest: Some(scanned.digest.to_string()),
                function: None,
                fixable: false,
                fix_writes: Vec::new(),
                problems: refused.iter().map(|p| p.code).collect(),
                message: refused
                    .iter()
                    .map(|p| p.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            });
            report.fixed.push(write);
            continue;
        }
        let read = Some((scanned.tag.as_str(), &scanned.digest));
        let outcome = apply_fix(
            clients,
            &repo,
            read,
            &planned.target.manifest,
            &planned.referrers,
            Some(&planned.tag),
            false,
        )
        .await;
        match outcome {
            Ok(fixed) => {
                write.action = fixed.action;
                write.provenance_written = fixed.provenance_written;
                if let Some(problem) = fixed.problem {
                    report.unreadable.push(Unreadable {
                        what: format!("{}:{}", write.repository, write.written_tag),
                        error: problem.message,
                    });
                }
            }
            Err(e) => report.unreadable.push(Unreadable {
                what: format!("{}:{}", write.repository, write.written_tag),
                error: e.to_string(),
            }),
        }
        report.fixed.push(write);
    }
}
