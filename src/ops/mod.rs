//! check, fix and deploy: compositions of the ECR and Lambda calls around the
//! decisions of [`crate::manifest`]. Nothing here decides anything about manifests.

mod check;
mod deploy;
mod fix;
pub(crate) mod image_config;
pub(crate) mod provenance;
mod prune;
mod release;
mod retain;
mod retain_write;
mod rollback;
mod scan;
pub(crate) mod way_back;

use std::time::Duration;

pub use check::check;
pub use deploy::deploy;
pub use fix::fix;
pub use prune::{PruneRequest, prune};
pub use release::{Gradual, Probe, ReleaseAction, ReleaseRequest, release};
pub use retain::{RetainRequest, Targets, retain};
pub use rollback::{RollbackRequest, rollback};
pub use scan::{ScanRequest, scan};

pub use crate::config::Clients;
use crate::digest::Digest;
use crate::ecr::{self, Repository};
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::lambda::{self, FunctionRef, FunctionState};
use crate::manifest::rules::{self, Assessment};
use crate::manifest::statement::ProvenanceRequirements;
use crate::manifest::{FunctionFacts, LambdaArch, RawManifest};
use crate::output::{CheckReport, TargetReport};
use crate::reference::{ImageRef, Registry, Selector};

/// What [`check`](fn@check) is asked: the image, and the function it is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRequest {
    /// The image to check.
    pub image: ImageRef,
    /// `--function`: its architecture, package type and region are checked too, and
    /// without `platform` its architecture picks the platform of a multi-platform index.
    pub function: Option<FunctionRef>,
    /// `--platform`.
    pub platform: Option<LambdaArch>,
    /// `--require-provenance`, `--provenance-*`, `--require-signed`: unmet, the image
    /// is reported not usable (exit 1).
    pub provenance: ProvenanceRequirements,
}

/// What [`fix`](fn@fix) is asked: the image, and the tag to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixRequest {
    /// The image to fix; its tag is the one written unless `tag` is given (or it is a
    /// multi-platform index: then `<tag>-<arch>`).
    pub image: ImageRef,
    /// `--function`, as for [`CheckRequest::function`].
    pub function: Option<FunctionRef>,
    /// `--platform`.
    pub platform: Option<LambdaArch>,
    /// `--tag`.
    pub tag: Option<String>,
    /// `--dry-run`: write nothing, and report what would be written.
    pub dry_run: bool,
    /// Write the target's index-only attestations again as its referrers.
    pub keep_provenance: bool,
    /// As for [`CheckRequest::provenance`]: unmet, nothing is written.
    pub provenance: ProvenanceRequirements,
}

/// What [`deploy`](fn@deploy) is asked: the image, the functions, and how to release
/// and wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployRequest {
    /// The image to deploy.
    pub image: ImageRef,
    /// One or more: the image is read once and checked against each before anything
    /// is written.
    pub functions: Vec<FunctionRef>,
    /// How many functions are updated at once.
    pub concurrency: usize,
    /// `--platform`; else each function's architecture picks it.
    pub platform: Option<LambdaArch>,
    /// `--tag`: the tag to write when the image needs fixing.
    pub tag: Option<String>,
    /// `--publish`: publish a version of the function with the new code.
    pub publish: bool,
    /// `--alias`: publish a version of the update and point this alias at it.
    pub alias: Option<String>,
    /// `false` with `--no-wait`.
    pub wait: bool,
    /// How long to wait for each update to finish.
    pub wait_timeout: Duration,
    /// `--dry-run`: write nothing to ECR or Lambda, and report the plan.
    pub dry_run: bool,
    /// Write the target's index-only attestations again as its referrers.
    pub keep_provenance: bool,
    /// Show a spinner on stderr while waiting.
    pub progress: bool,
    /// `--canary` or `--linear` (with `alias`): move the alias's traffic to the new
    /// version gradually; `None` moves all of it at once.
    pub gradual: Option<Gradual>,
    /// As for [`CheckRequest::provenance`]: the image is judged once, before the first
    /// write; unmet, nothing is written.
    pub provenance: ProvenanceRequirements,
    /// `--protect`: tag the deployed image and the way back (`lambda.<function>.<version>`).
    pub protect: bool,
}

/// A spinner line on stderr: one [`indicatif::MultiProgress`] for the run, so that
/// several functions' waits each keep a line of their own instead of garbling one.
pub(crate) fn spinner(message: String) -> indicatif::ProgressBar {
    static LINES: std::sync::OnceLock<indicatif::MultiProgress> = std::sync::OnceLock::new();
    let bar = LINES
        .get_or_init(indicatif::MultiProgress::new)
        .add(indicatif::ProgressBar::new_spinner());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// A report and the exit code it calls for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome<R> {
    /// The report: what the JSON output prints.
    pub report: R,
    /// The exit code the report calls for.
    pub exit: ExitCode,
}

/// What was read and decided about an image, before anything is written.
#[derive(Clone, Debug)]
pub(crate) struct Analysis {
    pub repo: Repository,
    pub registry: Registry,
    pub image: ImageRef,
    pub root: RawManifest,
    pub assessment: Assessment,
    pub function: Option<FunctionState>,
    /// What the provenance requirements came to, when any were given.
    pub verification: Option<crate::output::VerificationReport>,
}

impl Analysis {
    /// The image as messages name it (`app:v7`).
    pub fn display_name(&self) -> String {
        ImageRef {
            registry: None,
            ..self.image.clone()
        }
        .to_string()
    }

    /// Reads the target's config blob and adds what it says to the assessment.
    pub async fn read_config(&mut self, clients: &Clients, platform: Option<LambdaArch>) {
        let read = image_config::read(clients, self).await;
        image_config::apply(self, read, platform);
    }

    /// The reference Lambda is given: the target by digest, so what was checked is
    /// what runs, whatever happens to the tag later.
    pub fn target_uri(&self) -> Option<String> {
        self.assessment.target.as_ref().map(|t| {
            format!(
                "{}/{}@{}",
                self.registry.host(),
                self.repo.name,
                t.manifest.digest()
            )
        })
    }

    pub fn report(&self) -> CheckReport {
        let a = &self.assessment;
        let image = ImageRef {
            registry: Some(self.registry.clone()),
            ..self.image.clone()
        };
        CheckReport {
            image: image.to_string(),
            registry_id: self.registry.account.clone(),
            region: self.registry.region.clone(),
            repository: self.image.repository.clone(),
            tag: self.image.tag().map(str::to_owned),
            digest: a.root_digest.to_string(),
            media_type: a.root_media_type.clone(),
            lambda_ready: a.lambda_ready(),
            fixable: a.fixable(),
            target: a.target.as_ref().map(|t| TargetReport {
                digest: t.manifest.digest().to_string(),
                media_type: t.manifest.media_type().to_owned(),
                platform: t.platform.clone(),
            }),
            manifests: a.entries.clone(),
            problems: a.problems.clone(),
            warnings: a.warnings.clone(),
            provenance: a.provenance.clone(),
            config: a.config.clone(),
            verification: self.verification.clone(),
        }
    }
}

/// Reads the image (and the function, concurrently), fetches the children the
/// decision needs in one call, and assesses.
pub(crate) async fn analyse(
    clients: &Clients,
    image: &ImageRef,
    function: Option<&FunctionRef>,
    platform: Option<LambdaArch>,
) -> Result<Analysis, Error> {
    let functions: Vec<FunctionRef> = function.cloned().into_iter().collect();
    let mut analyses = analyse_many(clients, image, &functions, platform).await?;
    Ok(analyses.remove(0))
}

/// Reads the image once and every function concurrently with it, fetches the
/// children all of them need in one call, and assesses the image for each function:
/// one analysis per function, in the order given (one without a function when none
/// is given).
pub(crate) async fn analyse_many(
    clients: &Clients,
    image: &ImageRef,
    functions: &[FunctionRef],
    platform: Option<LambdaArch>,
) -> Result<Vec<Analysis>, Error> {
    let mut repo = Repository {
        registry_id: image.registry.as_ref().map(|r| r.account.clone()),
        name: image.repository.clone(),
        region: clients.ecr_region.clone(),
    };
    let read_functions = async {
        let mut reads = tokio::task::JoinSet::new();
        for (i, f) in functions.iter().cloned().enumerate() {
            // Each in its own region: one named by its ARN is read there, and the
            // rules then say whether it can run an image from this repository.
            let (client, region) = clients.lambda_for(&f);
            reads.spawn(async move { (i, lambda::get_function(&client, &f, &region).await) });
        }
        let mut states = vec![None; functions.len()];
        while let Some(done) = reads.join_next().await {
            let (i, state) = done.expect("GetFunction tasks do not panic");
            states[i] = Some(state?);
        }
        Ok::<_, AwsError>(states)
    };
    let (resolved, states) = tokio::join!(
        ecr::read(&clients.ecr, &repo, &image.selector),
        read_functions
    );
    let resolved = resolved?;
    let states: Vec<Option<FunctionState>> = states?;
    repo.registry_id = resolved.registry_id.clone().or(repo.registry_id);
    let account = repo.registry_id.clone().ok_or_else(|| {
        AwsError::new(
            "BatchGetImage",
            AwsErrorKind::Service,
            "ECR did not say which registry holds the image; give the full image URI \
             (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY:TAG)",
        )
    })?;
    let registry = Registry {
        account,
        region: clients.ecr_region.clone(),
    };

    let root = resolved.manifest;
    let states = if states.is_empty() {
        vec![None]
    } else {
        states
    };
    let facts: Vec<Option<FunctionFacts>> = states
        .iter()
        .map(|s| s.as_ref().map(FunctionState::facts))
        .collect();
    // What each function needs, each chosen image first; fetched together.
    let wanted: Vec<Vec<Digest>> = match root.parse() {
        Ok(parsed) => facts
            .iter()
            .map(|f| rules::children_to_fetch(&parsed, platform, f.as_ref().and_then(|f| f.arch)))
            .collect(),
        Err(_) => vec![Vec::new(); facts.len()],
    };
    let mut all: Vec<Digest> = Vec::new();
    for d in wanted.iter().flatten() {
        if !all.contains(d) {
            all.push(d.clone());
        }
    }
    let children = ecr::read_by_digest(&clients.ecr, &repo, &all).await?;
    // An index that names an image the repository does not have is the registry's
    // state, not a property of the bytes.
    if let Some(target) = wanted
        .iter()
        .filter_map(|w| w.first())
        .find(|d| !children.contains_key(*d))
    {
        return Err(AwsError::new(
            "BatchGetImage",
            AwsErrorKind::NotFound,
            format!(
                "{image} names {target}, which is not in repository {} ({})",
                repo.name, repo.region
            ),
        )
        .with_hint("the index was pushed without that image, or it was deleted since")
        .into());
    }

    let display = ImageRef {
        registry: None,
        ..image.clone()
    }
    .to_string();
    let requested_digest = match &image.selector {
        Selector::Digest(d) => Some(d),
        Selector::Tag(_) => None,
    };
    Ok(states
        .into_iter()
        .zip(&facts)
        .map(|(function, facts)| Analysis {
            repo: repo.clone(),
            registry: registry.clone(),
            image: image.clone(),
            root: root.clone(),
            assessment: rules::assess(&rules::Inputs {
                image: &display,
                root: &root,
                children: &children,
                requested_digest,
                platform,
                function: facts.as_ref(),
                repository_region: &clients.ecr_region,
            }),
            function,
            verification: None,
        })
        .collect())
}
