//! `retain`: which images Lambda still runs, what the repositories' lifecycle
//! policies would do to them (ECR's own preview says), and, when asked, protective
//! tags, the keep rule and restores. Every read comes before the first write.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::{Clients, Outcome};
use crate::digest::Digest;
use crate::ecr::retention::{self as ecr_ret, ImageFacts, Preview};
use crate::ecr::{self, PutOutcome, Repository};
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::lambda::FunctionRef;
use crate::lambda::pins::{self, FunctionPins};
use crate::output::retain::{
    FunctionPinsReport, ImageReport, PinReport, PolicyWrite, PreviewReport, RepositoryReport,
    RestoreWrite, RetainReport, TagWrite, WriteResult, Writes,
};
use crate::reference::ImageRef;
use crate::retention::{self, ImageState, Status};

/// Which functions `retain` reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Targets {
    /// `--function`, each in its own region.
    Functions(Vec<FunctionRef>),
    /// `--all-functions`: every image function of the region.
    All,
}

/// What `retain` is asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetainRequest {
    /// The functions.
    pub targets: Targets,
    /// `--protect`: tag every image in use.
    pub protect: bool,
    /// `--protect-policy`: add the keep rule to each policy (implies `protect`).
    pub protect_policy: bool,
    /// `--restore`: restore every archived image in use.
    pub restore: bool,
    /// Wait for restores to end (`false` with `--no-wait`).
    pub wait: bool,
    /// Bounds each preview, and the wait for restores.
    pub wait_timeout: Duration,
    /// `--tag-prefix`.
    pub tag_prefix: String,
    /// `--dry-run`.
    pub dry_run: bool,
    /// Functions read at once.
    pub concurrency: usize,
}

/// A repository an image in use is in, and what was read of it.
#[derive(Clone, Debug)]
pub(crate) struct RepoState {
    pub repo: Repository,
    pub client: aws_sdk_ecr::Client,
    /// The images in use there.
    pub digests: Vec<Digest>,
    pub facts: BTreeMap<Digest, ImageFacts>,
    pub policy: Option<String>,
    pub preview: Option<Preview>,
    /// For images in use: the indexes in the preview's results that list them.
    pub parents: BTreeMap<Digest, BTreeSet<Digest>>,
}

impl RepoState {
    /// Whether a pin's `ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME` is this repository.
    pub(crate) fn holds(&self, repository: &str) -> bool {
        let registry = crate::reference::Registry {
            account: self.repo.registry_id.clone().unwrap_or_default(),
            region: self.repo.region.clone(),
        };
        repository == format!("{}/{}", registry.host(), self.repo.name)
    }

    fn risk(&self, digest: &Digest) -> Option<retention::Risk> {
        let preview = self.preview.as_ref()?;
        retention::risk_of(digest, &preview.hits, &self.parents)
    }

    fn status(&self, digest: &Digest) -> Status {
        let risk = self.risk(digest);
        retention::judge(self.facts.get(digest).map(|f| f.state), risk.as_ref())
    }
}

/// Reads every target's pins, `concurrency` functions at a time.
pub(crate) async fn read_functions(
    clients: &Clients,
    targets: &Targets,
    concurrency: usize,
) -> Result<Vec<FunctionPins>, Error> {
    let functions = match targets {
        Targets::Functions(f) => f.clone(),
        Targets::All => crate::lambda::list_image_functions(&clients.lambda)
            .await?
            .into_iter()
            .map(|name| FunctionRef {
                id: name,
                region: None,
            })
            .collect(),
    };
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut reads = tokio::task::JoinSet::new();
    for (i, f) in functions.into_iter().enumerate() {
        let (client, region) = clients.lambda_for(&f);
        let limit = limit.clone();
        reads.spawn(async move {
            let _slot = limit.acquire_owned().await.expect("never closed");
            (i, pins::read(&client, &f, &region).await)
        });
    }
    let mut read = Vec::new();
    while let Some(done) = reads.join_next().await {
        let (i, pins) = done.expect("read tasks do not panic");
        read.push((i, pins?));
    }
    read.sort_by_key(|(i, _)| *i);
    Ok(read.into_iter().map(|(_, p)| p).collect())
}

/// The repositories the pins name, each with its images in use and a client in its
/// region.
fn repositories(clients: &Clients, functions: &[FunctionPins]) -> Vec<RepoState> {
    let mut by_repo: BTreeMap<(String, String, String), Vec<Digest>> = BTreeMap::new();
    for pin in functions.iter().flat_map(|f| &f.pins) {
        let (Some(repository), Some(digest)) = (&pin.repository, &pin.digest) else {
            continue;
        };
        let Ok(image) = format!("{repository}@{digest}").parse::<ImageRef>() else {
            continue;
        };
        let Some(registry) = image.registry else {
            continue;
        };
        let digests = by_repo
            .entry((registry.region, registry.account, image.repository))
            .or_default();
        if !digests.contains(digest) {
            digests.push(digest.clone());
        }
    }
    by_repo
        .into_iter()
        .map(|((region, account, name), digests)| RepoState {
            client: ecr_client(clients, &region),
            repo: Repository {
                registry_id: Some(account),
                name,
                region,
            },
            digests,
            facts: BTreeMap::new(),
            policy: None,
            preview: None,
            parents: BTreeMap::new(),
        })
        .collect()
}

/// The ECR client for `region`: the one built, or one like it there.
pub(crate) fn ecr_client(clients: &Clients, region: &str) -> aws_sdk_ecr::Client {
    if region == clients.ecr_region {
        return clients.ecr.clone();
    }
    let config = clients
        .ecr
        .config()
        .to_builder()
        .region(aws_sdk_ecr::config::Region::new(region.to_owned()))
        .build();
    aws_sdk_ecr::Client::from_conf(config)
}

/// DescribeImages of the images in use and GetLifecyclePolicy at once; then, with
/// a policy, its preview, and the indexes among the preview's results that list an
/// image in use (read by digest, 100 a call).
pub(crate) async fn read_repository(
    state: &mut RepoState,
    timeout: Duration,
) -> Result<(), AwsError> {
    let (facts, policy) = tokio::join!(
        ecr_ret::describe(&state.client, &state.repo, &state.digests),
        ecr_ret::lifecycle_policy(&state.client, &state.repo)
    );
    state.facts = facts?;
    state.policy = policy?;
    state.preview = None;
    state.parents.clear();
    if state.policy.is_none() {
        return Ok(());
    }
    let preview = ecr_ret::preview(&state.client, &state.repo, timeout).await?;
    let others: Vec<Digest> = preview
        .hits
        .keys()
        .filter(|d| !state.digests.contains(d))
        .cloned()
        .collect();
    if !others.is_empty() {
        let manifests = ecr::read_many(&state.client, &state.repo, &others).await?;
        for (index, manifest) in &manifests {
            let Ok(crate::manifest::Parsed::Index(view)) = manifest.parse() else {
                continue;
            };
            for child in view.manifests.iter().filter_map(|m| m.parsed_digest()) {
                if state.digests.contains(&child) {
                    state
                        .parents
                        .entry(child)
                        .or_default()
                        .insert(index.clone());
                }
            }
        }
    }
    state.preview = Some(preview);
    Ok(())
}

async fn read_all(states: &mut [RepoState], timeout: Duration) -> Result<(), AwsError> {
    let mut reads = tokio::task::JoinSet::new();
    for (i, mut state) in states.iter().cloned().enumerate() {
        reads.spawn(async move {
            let read = read_repository(&mut state, timeout).await;
            (i, read.map(|_| state))
        });
    }
    while let Some(done) = reads.join_next().await {
        let (i, state) = done.expect("read tasks do not panic");
        states[i] = state?;
    }
    Ok(())
}

/// `retain`: the audit, and the writes asked for.
pub async fn retain(
    clients: &Clients,
    req: &RetainRequest,
) -> Result<Outcome<RetainReport>, Error> {
    let functions = read_functions(clients, &req.targets, req.concurrency).await?;
    let mut states = repositories(clients, &functions);
    read_all(&mut states, req.wait_timeout).await?;

    let plan = super::retain_write::plan(req, &functions, &states).await?;
    let mut writes = plan.report();
    if !req.dry_run && !plan.is_empty() {
        writes = super::retain_write::execute(plan, req).await?;
        read_all(&mut states, req.wait_timeout).await?;
    }
    let report = report(req, &functions, &states, writes);
    let exit = if report.images.iter().all(|i| i.status == Status::Safe) {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    Ok(Outcome { report, exit })
}

fn report(
    req: &RetainRequest,
    functions: &[FunctionPins],
    states: &[RepoState],
    writes: Writes,
) -> RetainReport {
    let mut images = Vec::new();
    for state in states {
        for digest in &state.digests {
            let facts = state.facts.get(digest);
            let mut used_by = Vec::new();
            for f in functions {
                for pin in f.pins.iter().filter(|p| p.digest.as_ref() == Some(digest)) {
                    if pin.repository.as_deref().is_some_and(|r| state.holds(r)) {
                        used_by.push(f.used_by(pin));
                    }
                }
            }
            images.push(ImageReport {
                repository: state.repo.name.clone(),
                region: state.repo.region.clone(),
                digest: digest.to_string(),
                tags: facts.map(|f| f.tags.clone()).unwrap_or_default(),
                image_status: facts.map(|f| f.state),
                status: state.status(digest),
                risk: state.risk(digest),
                pushed_at: facts.and_then(|f| f.pushed_at.clone()),
                last_pull: facts.and_then(|f| f.last_pull.clone()),
                used_by,
            });
        }
    }
    let repositories = states
        .iter()
        .map(|s| {
            let at_risk = s.digests.iter().filter(|d| s.risk(d).is_some()).count();
            RepositoryReport {
                repository: s.repo.name.clone(),
                region: s.repo.region.clone(),
                policy: s.policy.clone(),
                preview: s.preview.as_ref().map(|p| PreviewReport {
                    images: p.hits.len(),
                    in_use: at_risk,
                }),
                keep_rule: (at_risk > 0).then(|| retention::keep_rule(&req.tag_prefix, 1)),
            }
        })
        .collect();
    RetainReport {
        functions: functions
            .iter()
            .map(|f| FunctionPinsReport {
                function: f.name.clone(),
                region: f.region.clone(),
                pins: f
                    .pins
                    .iter()
                    .map(|p| PinReport {
                        qualifier: p.qualifier.clone(),
                        version: p.version.clone(),
                        digest: p.digest.as_ref().map(Digest::to_string),
                        repository: p
                            .repository
                            .as_deref()
                            .map(|r| r.split_once('/').map_or(r, |(_, name)| name).to_owned()),
                    })
                    .collect(),
            })
            .collect(),
        images,
        repositories,
        writes,
        dry_run: req.dry_run,
    }
}

/// Waits until none of `digests` is ACTIVATING, or `timeout` has passed: reads 1,
/// 2, 4, 8 then every 15 s (a restore takes up to about 20 minutes).
pub(crate) async fn wait_restored(
    client: &aws_sdk_ecr::Client,
    repo: &Repository,
    digests: &[Digest],
    timeout: Duration,
) -> Result<(), AwsError> {
    let Some(sleep) = client.config().sleep_impl() else {
        return Err(AwsError::new(
            "DescribeImages",
            AwsErrorKind::Service,
            "the ECR client has no sleeper to wait with",
        ));
    };
    // Measured on a monotonic clock: a step of the wall clock does not end the wait.
    let mut timeline = crate::timeline::Timeline::start(sleep);
    let mut delay = Duration::from_secs(1);
    loop {
        let waited = timeline.elapsed();
        if waited >= timeout {
            return Ok(());
        }
        timeline.sleep(delay.min(timeout - waited)).await;
        delay = (delay * 2).min(Duration::from_secs(15));
        let facts = ecr_ret::describe(client, repo, digests).await?;
        if facts.values().all(|f| f.state != ImageState::Activating) {
            return Ok(());
        }
    }
}

/// The tag write's outcome as the report says it.
pub(crate) fn put_result(outcome: PutOutcome) -> WriteResult {
    match outcome {
        PutOutcome::Written => WriteResult::Written,
        PutOutcome::AlreadyThere => WriteResult::AlreadyThere,
        PutOutcome::TagImmutable => WriteResult::TagImmutable,
    }
}

/// What `retain` will write, all of it known (and every manifest read and
/// verified) before the first write.
#[derive(Clone, Debug, Default)]
pub(crate) struct WritePlan {
    pub tags: Vec<(RepoState, crate::manifest::RawManifest, String)>,
    pub unreadable: Vec<TagWrite>,
    pub policies: Vec<(RepoState, String)>,
    pub restores: Vec<(RepoState, Digest)>,
    /// With `--restore`: images already being restored, waited for with the others.
    pub activating: Vec<(RepoState, Digest)>,
}

impl WritePlan {
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
            && self.policies.is_empty()
            && self.restores.is_empty()
            && self.activating.is_empty()
    }

    /// The plan as the report shows it before anything is written. Not yet written, dry run or not: [`super::retain_write::execute`] replaces it.
    pub fn report(&self) -> Writes {
        let planned = WriteResult::Planned;
        Writes {
            tags: self
                .tags
                .iter()
                .map(|(s, m, tag)| TagWrite {
                    repository: s.repo.name.clone(),
                    digest: m.digest().to_string(),
                    tag: tag.clone(),
                    result: planned,
                })
                .chain(self.unreadable.iter().cloned())
                .collect(),
            policies: self
                .policies
                .iter()
                .map(|(s, p)| PolicyWrite {
                    repository: s.repo.name.clone(),
                    policy: p.clone(),
                    result: planned,
                })
                .collect(),
            restores: self
                .restores
                .iter()
                .map(|(s, d)| RestoreWrite {
                    repository: s.repo.name.clone(),
                    digest: d.to_string(),
                    result: planned,
                })
                .collect(),
        }
    }
}
