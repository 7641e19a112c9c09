use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::digest::Digest;
use crate::ecr::{self, Repository};
use crate::error::{AwsError, Error, ExitCode};
use crate::lambda::{self, FunctionRef, FunctionState};
use crate::manifest::rules::{self, Inputs, TagAssessment, Target, Verdict};
use crate::manifest::{LambdaArch, RawManifest, media_type};
use crate::ops::fix::{Written, write_tag};
use crate::ops::{Clients, Outcome};
use crate::output::{Action, ScanFinding, ScanReport, ScanWrite, Unreadable};
use crate::reference::{ImageRef, Selector};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRequest {
    /// Empty: every repository of the registry.
    pub repositories: Vec<String>,
    pub functions: bool,
    pub concurrency: usize,
    pub fix: bool,
    pub progress: bool,
}

/// A tag as scanned: what it names and how it was judged.
#[derive(Clone, Debug)]
struct ScannedTag {
    repository: String,
    tag: String,
    digest: Digest,
    assessment: TagAssessment,
    /// The runnable architectures of an index; empty for a single manifest.
    archs: Vec<LambdaArch>,
}

struct RepoScan {
    tags: Vec<ScannedTag>,
    error: Option<AwsError>,
}

/// Runs `work` over `items` with at most `concurrency` in flight.
async fn bounded<T, R, F, Fut>(items: Vec<T>, concurrency: usize, work: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = R> + Send + 'static,
{
    let queue = Arc::new(Mutex::new(
        items.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let work = Arc::new(work);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (queue, work) = (queue.clone(), work.clone());
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let next = queue.lock().expect("queue").pop_front();
                let Some((i, item)) = next else { break };
                done.push((i, work(item).await));
            }
            done
        });
    }
    let mut results = Vec::new();
    while let Some(done) = workers.join_next().await {
        results.extend(done.expect("scan workers do not panic"));
    }
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

async fn scan_repository(clients: Clients, name: String) -> RepoScan {
    let repo = Repository {
        registry_id: None,
        name: name.clone(),
        region: clients.ecr_region.clone(),
    };
    match read_repository(&clients, &repo).await {
        Ok(tags) => RepoScan { tags, error: None },
        Err(error) => RepoScan {
            tags: Vec::new(),
            error: Some(error),
        },
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
        if let Ok(parsed) = index.parse() {
            for d in rules::runnable_children(&parsed) {
                if !child_digests.contains(&d) {
                    child_digests.push(d);
                }
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
        let root = match indexes.get(&image.digest) {
            Some(index) => index.clone(),
            None if media_type::is_index(&image.media_type) => continue, // vanished meanwhile
            // Not read: judged by its media type alone, with no bytes to check.
            None => RawManifest::new(
                String::new(),
                image.digest.clone(),
                image.media_type.clone(),
            ),
        };
        for tag in &image.tags {
            let display = format!("{}:{tag}", repo.name);
            let assessment = if indexes.contains_key(&image.digest) {
                Some(rules::assess_tag(
                    &Inputs {
                        image: &display,
                        root: &root,
                        children: &children,
                        requested_digest: None,
                        platform: None,
                        function: None,
                        repository_region: &repo.region,
                    },
                    tag,
                ))
            } else {
                rules::assess_listed(&display, &image.media_type)
            };
            // Artifacts (charts, signatures, SBOMs) are not images Lambda is meant to run.
            let Some(mut assessment) = assessment else {
                continue;
            };
            // A multi-platform tag whose per-platform tags already name its images has
            // been fixed the only way it can be without breaking its other consumers.
            let done = |(to, target): &(String, Target)| {
                to != tag && named.get(to.as_str()) == Some(&target.manifest.digest())
            };
            if assessment.verdict == Verdict::Fixable && assessment.writes.iter().all(done) {
                assessment.verdict = Verdict::Ready;
            }
            let archs = root
                .parse()
                .map(|p| rules::runnable_archs(&p))
                .unwrap_or_default();
            tags.push(ScannedTag {
                repository: repo.name.clone(),
                tag: tag.clone(),
                digest: image.digest.clone(),
                assessment,
                archs,
            });
        }
    }
    Ok(tags)
}

fn tag_finding(t: &ScannedTag) -> ScanFinding {
    let codes: Vec<String> = t
        .assessment
        .problems
        .iter()
        .map(|p| p.code.to_string())
        .collect();
    let message = t
        .assessment
        .problems
        .iter()
        .find(|p| p.code != rules::Code::ImageIndex)
        .or(t.assessment.problems.first())
        .map(|p| p.message.clone())
        .unwrap_or_default();
    ScanFinding {
        kind: "tag-not-ready",
        repository: Some(t.repository.clone()),
        tag: Some(t.tag.clone()),
        digest: Some(t.digest.to_string()),
        function: None,
        fixable: t.assessment.verdict == Verdict::Fixable,
        fix_writes: t
            .assessment
            .writes
            .iter()
            .map(|(tag, _)| tag.clone())
            .collect(),
        problems: codes,
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
    let repositories = if req.repositories.is_empty() {
        ecr::list_repositories(&clients.ecr, None).await?
    } else {
        req.repositories.clone()
    };
    let bar = req.progress.then(|| {
        let bar = indicatif::ProgressBar::new(repositories.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} scanning {pos}/{len} repositories {wide_bar}",
            )
            .expect("a valid template"),
        );
        bar
    });

    let mut report = ScanReport {
        repositories: repositories.len(),
        ..ScanReport::default()
    };
    let tick = bar.clone();
    let scans = bounded(repositories.clone(), req.concurrency, {
        let clients = clients.clone();
        move |name: String| {
            let clients = clients.clone();
            let tick = tick.clone();
            async move {
                let scan = scan_repository(clients, name.clone()).await;
                if let Some(bar) = &tick {
                    bar.inc(1);
                }
                (name, scan)
            }
        }
    })
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    let mut all_tags: BTreeMap<(String, String), ScannedTag> = BTreeMap::new();
    for (name, scan) in scans {
        if let Some(error) = scan.error {
            report.unreadable.push(Unreadable {
                what: format!("repository {name}"),
                error: error.to_string(),
            });
        }
        for t in scan.tags {
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
            all_tags.insert((t.repository.clone(), t.tag.clone()), t);
        }
    }

    if req.functions {
        scan_functions(clients, req, &all_tags, &mut report, on_finding).await;
    }

    if req.fix {
        let plan: Vec<(ScanWrite, Target, ScannedTag)> = all_tags
            .values()
            .filter(|t| t.assessment.verdict == Verdict::Fixable)
            .flat_map(|t| {
                t.assessment.writes.iter().map(move |(tag, target)| {
                    (
                        ScanWrite {
                            repository: t.repository.clone(),
                            tag: t.tag.clone(),
                            written_tag: tag.clone(),
                            target: target.manifest.digest().to_string(),
                            action: None,
                        },
                        target.clone(),
                        t.clone(),
                    )
                })
            })
            .collect();
        let writes: Vec<ScanWrite> = plan.iter().map(|(w, _, _)| w.clone()).collect();
        if !writes.is_empty() && confirm(&writes) {
            for (mut write, target, scanned) in plan {
                let repo = Repository {
                    registry_id: None,
                    name: write.repository.clone(),
                    region: clients.ecr_region.clone(),
                };
                let read = Some((scanned.tag.as_str(), &scanned.digest));
                match write_tag(clients, &repo, read, &target.manifest, &write.written_tag).await {
                    Ok(Written::Done(action)) => write.action = Some(action),
                    Ok(Written::TagImmutable) => report.unreadable.push(Unreadable {
                        what: format!("{}:{}", write.repository, write.written_tag),
                        error: "the repository does not let this tag move (immutable tags)".into(),
                    }),
                    Err(e) => report.unreadable.push(Unreadable {
                        what: format!("{}:{}", write.repository, write.written_tag),
                        error: e.to_string(),
                    }),
                }
                report.fixed.push(write);
            }
        }
    }

    // What would still fail: every finding, less the tags now fixed.
    let fixed: Vec<(&str, &str)> = report
        .fixed
        .iter()
        .filter(|w| matches!(w.action, Some(Action::Retagged | Action::AlreadyReady)))
        .map(|w| (w.repository.as_str(), w.tag.as_str()))
        .collect();
    report.remaining = report
        .findings
        .iter()
        .filter(|f| {
            f.kind != "tag-not-ready"
                || !fixed.contains(&(
                    f.repository.as_deref().unwrap_or_default(),
                    f.tag.as_deref().unwrap_or_default(),
                ))
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

async fn scan_functions(
    clients: &Clients,
    req: &ScanRequest,
    tags: &BTreeMap<(String, String), ScannedTag>,
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
    let states = bounded(names, req.concurrency, {
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
    })
    .await;

    // Which running digests still exist: one BatchGetImage per repository and 100.
    let mut running: BTreeMap<String, Vec<(FunctionState, Option<ImageRef>)>> = BTreeMap::new();
    for (name, state) in states {
        match state {
            Ok(state) => {
                report.functions += 1;
                let image: Option<ImageRef> =
                    state.image_uri.as_deref().and_then(|u| u.parse().ok());
                let repo = image
                    .as_ref()
                    .map_or_else(String::new, |i| i.repository.clone());
                running.entry(repo).or_default().push((state, image));
            }
            Err(e) => report.unreadable.push(Unreadable {
                what: format!("function {name}"),
                error: e.to_string(),
            }),
        }
    }
    for (repository, functions) in running {
        let digests: Vec<Digest> = functions
            .iter()
            .filter_map(|(s, _)| s.running_digest.clone())
            .collect();
        let repo = Repository {
            registry_id: None,
            name: repository.clone(),
            region: clients.ecr_region.clone(),
        };
        let existing = if repository.is_empty() {
            Ok(BTreeMap::new())
        } else {
            ecr::read_many(&clients.ecr, &repo, &digests).await
        };
        let existing = match existing {
            Ok(found) => found,
            Err(e) if e.kind == crate::error::AwsErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                report.unreadable.push(Unreadable {
                    what: format!("repository {repository}"),
                    error: e.to_string(),
                });
                continue;
            }
        };
        for (state, image) in functions {
            let mut findings = Vec::new();
            let base = |kind: &'static str, message: String| ScanFinding {
                kind,
                repository: Some(repository.clone()).filter(|r| !r.is_empty()),
                tag: image.as_ref().and_then(|i| i.tag().map(str::to_owned)),
                digest: state.running_digest.as_ref().map(ToString::to_string),
                function: Some(state.name.clone()),
                fixable: false,
                fix_writes: Vec::new(),
                problems: Vec::new(),
                message,
            };
            if let Some(d) = &state.running_digest
                && !existing.contains_key(d)
            {
                findings.push(base(
                    "function-image-deleted",
                    format!(
                        "{} runs {d}, which is no longer in {repository}: Lambda will fail the \
                             function (ImageDeleted); deploy a current image",
                        state.name
                    ),
                ));
            }
            let deployed_tag = image.as_ref().and_then(|i| match &i.selector {
                Selector::Tag(t) => Some((i.repository.clone(), t.clone())),
                Selector::Digest(_) => None,
            });
            if let Some(scanned) = deployed_tag.and_then(|key| tags.get(&key)) {
                if scanned.assessment.verdict != Verdict::Ready {
                    let mut f = base(
                        "function-tag-not-ready",
                        format!(
                            "{} was deployed from {}:{}, which Lambda would now refuse: the next \
                             deploy of that tag fails unless it is fixed",
                            state.name, scanned.repository, scanned.tag
                        ),
                    );
                    f.fixable = scanned.assessment.verdict == Verdict::Fixable;
                    f.problems = scanned
                        .assessment
                        .problems
                        .iter()
                        .map(|p| p.code.to_string())
                        .collect();
                    findings.push(f);
                }
                let arch = state.facts().arch;
                if let Some(arch) =
                    arch.filter(|a| !scanned.archs.is_empty() && !scanned.archs.contains(a))
                {
                    findings.push(base(
                        "function-architecture-mismatch",
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
            for finding in findings {
                on_finding(&finding);
                report.findings.push(finding);
            }
        }
    }
}
