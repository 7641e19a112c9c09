//! Reports: one `Serialize + Display` struct per command, printed as JSON or text.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::manifest::Platform;
use crate::manifest::config::ImageConfig;
use crate::manifest::provenance::{Link, Provenance};
use crate::manifest::rules::{Entry, Finding};

/// `writeln!` for a report line: the whole line passes through [`crate::text::safe`],
/// so text from outside in it (a source, a builder id, an AWS message, a log line, a
/// description) can neither drive the terminal nor start a report line of its own.
/// Every line of every text report is written with it.
macro_rules! say {
    ($f:expr, $($arg:tt)*) => {
        writeln!($f, "{}", $crate::text::Safe(&format!($($arg)*)))
    };
}

mod json;
mod provenance;
mod release;
pub mod retain;
mod scan;
mod whoami;

pub use json::to_json;
pub use provenance::{SigningReport, VerificationReport};
pub use release::{
    AliasAction, AliasState, FiredReport, ProbeReport, ReleaseCommandReport, ReleaseOutcome,
    ReleaseReport, StepReport,
};
pub use scan::{FindingKind, ScanFinding, ScanReport, ScanWrite, Unreadable};
pub use whoami::WhoamiReport;

/// The manifest Lambda should run: `check`'s `target`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TargetReport {
    /// Its digest: what the written tag names, and what a deploy gives Lambda.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its platform, from the index entry; `null` for a single manifest (its platform
    /// is only in its config).
    pub platform: Option<Platform>,
}

/// What `check` found; `fix` and `deploy` print the same fields and add their own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CheckReport {
    /// The full image URI, normalised.
    pub image: String,
    /// The account ID of the registry.
    pub registry_id: String,
    /// The region of the registry.
    pub region: String,
    /// The repository name.
    pub repository: String,
    /// The tag; `null` for a digest reference.
    pub tag: Option<String>,
    /// The digest the reference resolved to.
    pub digest: String,
    /// The media type of what the reference resolved to: an index or a manifest.
    pub media_type: String,
    /// Lambda accepts the image as it is (and, with `--function`, the function can run it).
    pub lambda_ready: bool,
    /// Not ready, but `fix` would make it so.
    pub fixable: bool,
    /// The manifest Lambda should run, or `null` when there is none.
    pub target: Option<TargetReport>,
    /// The entries of an index; empty for a single manifest.
    pub manifests: Vec<Entry>,
    /// Why Lambda would not run the image as it is (`{code, message}`); what writing ran
    /// into is added here, so `fixable` is then false.
    pub problems: Vec<Finding>,
    /// What may fail or was left unchecked, but does not stop it (`{code, message}`).
    pub warnings: Vec<Finding>,
    /// The target's attestations: what they attest, and how they are linked to it.
    pub provenance: Vec<Provenance>,
    /// The target's config blob, or `null` when it was not read.
    pub config: Option<ImageConfig>,
    /// What `--require-provenance`, `--provenance-*` and `--require-signed` came to;
    /// `null` when none was given.
    pub verification: Option<VerificationReport>,
}

/// What `fix` did to the tag (`action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The tag was written to name the target manifest.
    Retagged,
    /// Nothing to write: the image (or the tag to write) is already Lambda-ready.
    AlreadyReady,
    /// `--dry-run`: this would be written.
    Planned,
}

/// What `fix` did: the check fields, and what was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FixReport {
    /// The check fields, as the image was read.
    #[serde(flatten)]
    pub check: CheckReport,
    /// `null` when nothing could be done (see `problems`).
    pub action: Option<Action>,
    /// The tag that names the target now (with `--dry-run`: would name it); `null` when
    /// nothing could be done.
    pub written_tag: Option<String>,
    /// Attestations written again as referrers of the target (with `--dry-run`: that
    /// would be written).
    pub provenance_written: Vec<String>,
}

/// A function, as it was read before anything was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FunctionReport {
    /// The function's name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// As Lambda names them (`x86_64`, `arm64`).
    pub architectures: Vec<String>,
    /// The function's state when it was read (`Active`, `Pending`, `Failed`, ...).
    pub state: Option<String>,
}

/// An alias as a release left it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AliasReport {
    /// The alias name.
    pub name: String,
    /// The version it points at (with `--dry-run`: would point at; `null` when that
    /// version is yet to be published).
    pub version: Option<String>,
    /// The version it pointed at before; `null` when it was created.
    pub previous_version: Option<String>,
    /// It did not exist before (CreateAlias).
    pub created: bool,
    /// What happened to it.
    pub status: AliasStatus,
    /// The share of the traffic another version still takes (`RoutingConfig`), as the
    /// command left it: empty when `version` takes all of it.
    pub weights: BTreeMap<String, f64>,
    /// Weights the alias carried that this deploy removed (an unfinished gradual
    /// release), so that `version` takes all the traffic; `null` when there were none.
    pub weights_removed: Option<BTreeMap<String, f64>>,
    /// With `rolled-back`: the alarm that rolled the release back; `null` when an AWS
    /// error stopped it (see `release.error`) or nothing was rolled back.
    pub rolled_back_by: Option<String>,
}

/// What a release did to its alias: `alias.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AliasStatus {
    /// Created (CreateAlias) or moved (UpdateAlias) to `version`.
    Moved,
    /// It already pointed at a version running the target.
    Unchanged,
    /// Left where it was: the update did not succeed (failed or unfinished), or it
    /// did and the alias was not moved (a gradual release refused, stopped or
    /// interrupted before any weight, as its reason says; or Ctrl-C).
    NotMoved,
    /// `--dry-run`: would be created or moved.
    Planned,
    /// A gradual release left it routing part of the traffic to the new version
    /// (interrupted): see `weights`, and `ecr-lambda release`.
    Shifting,
    /// A gradual release moved traffic to the new version, then moved it back: an
    /// alarm fired (`rolled_back_by`), or an AWS error stopped the release. The
    /// update itself succeeded; `version` takes all the traffic again.
    RolledBack,
}

/// How a function's code update ended: `update.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum UpdateStatus {
    /// Lambda finished the update: the function runs the target.
    Successful,
    /// The update failed (`reason` says why).
    Failed,
    /// Not finished: with `--no-wait`, or when the wait timed out (`reason`).
    InProgress,
    /// Nothing to update: the function (with `--alias`, the alias) already runs the
    /// target.
    Unchanged,
    /// `--dry-run`: this update would be made.
    Planned,
}

/// A function's code update: how it ended, and how long the wait took.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateReport {
    /// How it ended.
    pub status: UpdateStatus,
    /// The version published with `--publish`.
    pub version: Option<String>,
    /// Why the update failed or is not finished.
    pub reason: Option<String>,
    /// The status reads made while waiting for this update.
    pub polls: u32,
    /// How long the wait for this update lasted, in milliseconds.
    pub waited_ms: u64,
}

/// What `deploy` did: the fix fields, and each function's update.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeployReport {
    /// The fix fields, and through them the check fields.
    #[serde(flatten)]
    pub fix: FixReport,
    /// The function, when one was given (else see `deployments`).
    pub function: Option<FunctionReport>,
    /// What UpdateFunctionCode is (or would be) given: the target by digest.
    pub image_uri: Option<String>,
    /// `null` when the deploy stopped before updating (see `problems`).
    pub update: Option<UpdateReport>,
    /// With `--alias`: the version it points at now, and before.
    pub alias: Option<AliasReport>,
    /// One entry per `--function`, in the order given.
    pub deployments: Vec<DeploymentReport>,
    /// With `--canary` or `--linear`: the gradual release of every function's alias.
    pub release: Option<ReleaseReport>,
    /// With `--protect`: the protective tags written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected: Vec<retain::TagWrite>,
}

/// One function's part of a deploy.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeploymentReport {
    /// The function, as it was read before the update.
    pub function: FunctionReport,
    /// What UpdateFunctionCode is (or would be) given: the target by digest.
    pub image_uri: Option<String>,
    /// The tag written for this function's image, if any.
    pub written_tag: Option<String>,
    /// `null` when this function's deploy stopped before updating (see `problems` and
    /// `error`).
    pub update: Option<UpdateReport>,
    /// With `--alias`: the version it points at now, and before.
    pub alias: Option<AliasReport>,
    /// What stops this function from running the image (nothing was written).
    pub problems: Vec<Finding>,
    /// The error that stopped this function's update (the others went on).
    pub error: Option<ErrorDetail>,
}

/// The errors a report carries (a function's update, a release stopped): printed on
/// stderr as well, once each, as an error that ends a command is.
pub trait Failures {
    /// Every error in the report.
    fn failures(&self) -> Vec<&ErrorDetail> {
        Vec::new()
    }
}

impl Failures for CheckReport {}
impl Failures for FixReport {}
impl Failures for RollbackReport {}
impl Failures for ScanReport {}
impl Failures for retain::RetainReport {}

impl Failures for retain::PruneReport {
    fn failures(&self) -> Vec<&ErrorDetail> {
        self.error.iter().collect()
    }
}

impl Failures for DeployReport {
    fn failures(&self) -> Vec<&ErrorDetail> {
        self.deployments
            .iter()
            .filter_map(|d| d.error.as_ref())
            .chain(self.release.as_ref().and_then(|r| r.error.as_ref()))
            .collect()
    }
}

impl Failures for ReleaseCommandReport {
    fn failures(&self) -> Vec<&ErrorDetail> {
        self.aliases
            .iter()
            .filter_map(|a| a.error.as_ref())
            .collect()
    }
}

/// An error, as a report carries it: `{kind, message, hint}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorDetail {
    /// What kind of error (`conflict`, `access-denied`, ...).
    pub kind: crate::error::ErrorKind,
    /// What happened.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

impl From<&crate::Error> for ErrorDetail {
    fn from(e: &crate::Error) -> ErrorDetail {
        ErrorDetail {
            kind: e.kind(),
            message: e.to_string(),
            hint: e.hint().map(str::to_owned),
        }
    }
}

impl DeploymentReport {
    /// The function runs the image: updated, or nothing to do (or, in a dry run,
    /// would be).
    pub fn ok(&self, waited: bool) -> bool {
        self.error.is_none()
            && self.update.as_ref().is_some_and(|u| match u.status {
                UpdateStatus::Successful | UpdateStatus::Unchanged | UpdateStatus::Planned => true,
                UpdateStatus::InProgress => !waited,
                UpdateStatus::Failed => false,
            })
    }
}

fn short(digest: &str) -> &str {
    // sha256: plus 12 hex digits is enough for a person to match digests by eye.
    digest.get(..19).unwrap_or(digest)
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        say!(f, "image:     {}", self.image)?;
        say!(f, "digest:    {} ({})", self.digest, self.media_type)?;
        if !self.manifests.is_empty() {
            say!(f, "manifests:")?;
            for entry in &self.manifests {
                let platform = entry
                    .platform
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string);
                say!(
                    f,
                    "  {}  {:<16} {:<12} {} bytes",
                    short(&entry.digest),
                    platform,
                    entry.role.as_str(),
                    entry.size
                )?;
            }
        }
        if let Some(target) = &self.target {
            match &target.platform {
                Some(p) => say!(f, "target:    {} ({p})", target.digest)?,
                None => say!(f, "target:    {}", target.digest)?,
            }
        }
        if let Some(config) = &self.config {
            say!(f, "config:    {config}")?;
        }
        let verdict = if self.lambda_ready {
            "ready: Lambda accepts this image as it is"
        } else if self.fixable {
            "not ready: `ecr-lambda fix` (or deploy) can make it ready"
        } else {
            "not ready, and fix cannot make it ready"
        };
        say!(f, "lambda:    {verdict}")?;
        for p in &self.provenance {
            let linked = match p.linked {
                Link::Referrer => "referrer of the target",
                Link::IndexOnly => "linked only through the index",
            };
            say!(
                f,
                "provenance: {} ({}) {linked}",
                p.digest,
                p.predicate_types.join(", ")
            )?;
            match (&p.statement, &p.error) {
                (Some(s), _) if s.subject_matches => say!(f, "            {s}")?,
                (Some(s), _) => say!(
                    f,
                    "            {s} (its subject is another image: it does not count)"
                )?,
                (None, Some(e)) => say!(f, "            unreadable: {e}")?,
                (None, None) => {}
            }
        }
        if let Some(v) = &self.verification {
            say!(f, "required:  {v}")?;
        }
        for p in &self.problems {
            say!(f, "problem:   [{}] {}", p.code, p.message)?;
        }
        for w in &self.warnings {
            say!(f, "warning:   [{}] {}", w.code, w.message)?;
        }
        Ok(())
    }
}

impl fmt::Display for FixReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.check)?;
        let tag = self.written_tag.as_deref().unwrap_or("-");
        let target = self
            .check
            .target
            .as_ref()
            .map_or("-", |t| t.digest.as_str());
        match self.action {
            Some(Action::Retagged) => say!(f, "fix:       tag {tag} now names {target}"),
            Some(Action::AlreadyReady) if self.written_tag.is_some() => {
                say!(
                    f,
                    "fix:       tag {tag} already names {target}; nothing written"
                )
            }
            Some(Action::AlreadyReady) => {
                say!(f, "fix:       already Lambda-ready; nothing written")
            }
            Some(Action::Planned) => {
                say!(f, "fix:       would point tag {tag} at {target} (dry run)")
            }
            None => say!(f, "fix:       nothing written"),
        }?;
        let verb = if self.action == Some(Action::Planned) {
            "would write"
        } else {
            "wrote"
        };
        for digest in &self.provenance_written {
            say!(f, "provenance: {verb} {digest} as a referrer of the target")?;
        }
        Ok(())
    }
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.fix)?;
        for d in &self.deployments {
            write!(f, "{d}")?;
        }
        if let Some(release) = &self.release {
            write!(f, "{release}")?;
        }
        for t in &self.protected {
            say!(
                f,
                "protect:   {}:{} -> {}",
                t.repository,
                t.tag,
                short(&t.digest)
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for UpdateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            UpdateStatus::Successful => "successful",
            UpdateStatus::Failed => "FAILED",
            UpdateStatus::InProgress => "in progress",
            // With a reason (only an alias runs the image), the reason says what.
            UpdateStatus::Unchanged if self.reason.is_some() => "unchanged",
            UpdateStatus::Unchanged => "unchanged: the function already runs this image",
            UpdateStatus::Planned => "planned (dry run)",
        };
        f.write_str(status)?;
        if let Some(version) = &self.version {
            write!(f, ", version {version}")?;
        }
        if self.polls > 0 {
            write!(
                f,
                " (waited {:.1} s, {} status read{})",
                self.waited_ms as f64 / 1000.0,
                self.polls,
                if self.polls == 1 { "" } else { "s" }
            )?;
        }
        Ok(())
    }
}

/// The lines of one function's deploy.
impl fmt::Display for DeploymentReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        say!(
            f,
            "function:  {} ({})",
            self.function.arn,
            self.function.architectures.join(", ")
        )?;
        if let Some(uri) = &self.image_uri {
            say!(f, "deploy:    {uri}")?;
        }
        if let Some(update) = &self.update {
            say!(f, "update:    {update}")?;
            if let Some(reason) = &update.reason {
                say!(f, "reason:    {reason}")?;
            }
        }
        if let Some(alias) = &self.alias {
            // An alias left where it was after an update that succeeded: a release
            // refused, stopped or interrupted (its reason says which), or Ctrl-C.
            let why = match (alias.status, self.update.as_ref().map(|u| u.status)) {
                (AliasStatus::NotMoved, Some(UpdateStatus::Successful)) => {
                    ": the update succeeded, and the alias was left where it was"
                }
                (AliasStatus::NotMoved, Some(UpdateStatus::Unchanged)) => {
                    ": nothing to update, and the alias was left where it was"
                }
                (AliasStatus::NotMoved, _) => ": the update did not succeed",
                _ => "",
            };
            say!(f, "alias:     {alias}{why}")?;
        }
        if let Some(error) = &self.error {
            say!(f, "error:     {}", error.message)?;
            if let Some(hint) = &error.hint {
                say!(f, "hint:      {hint}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for AliasReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let to = self
            .version
            .as_deref()
            .unwrap_or("the version to be published");
        let name = &self.name;
        let previous = self.previous_version.as_deref();
        match (self.status, previous) {
            (AliasStatus::Moved, None) => write!(f, "{name} created, pointing at version {to}"),
            (AliasStatus::Moved, Some(p)) => write!(f, "{name} moved from version {p} to {to}"),
            (AliasStatus::Unchanged, _) => write!(f, "{name} unchanged at version {to}"),
            // Why is the deployment's to say: it knows how the update ended.
            (AliasStatus::NotMoved, None) => write!(f, "{name} not created"),
            (AliasStatus::NotMoved, Some(p)) => write!(f, "{name} not moved from version {p}"),
            (AliasStatus::Planned, None) => {
                write!(
                    f,
                    "{name} would be created, pointing at version {to} (dry run)"
                )
            }
            (AliasStatus::Planned, Some(p)) => {
                write!(f, "{name} would move from version {p} to {to} (dry run)")
            }
            (AliasStatus::RolledBack, _) => match &self.rolled_back_by {
                Some(alarm) => write!(
                    f,
                    "{name} rolled back to version {to}: alarm {alarm} fired during the release"
                ),
                None => write!(
                    f,
                    "{name} moved back to version {to}: the release stopped (see its reason)"
                ),
            },
            (AliasStatus::Shifting, p) => write!(
                f,
                "{name} at version {}, with {} (a release under way)",
                p.unwrap_or(to),
                shares(&self.weights)
            ),
        }?;
        if let Some(removed) = &self.weights_removed {
            write!(f, "; removed the weights it carried ({})", shares(removed))?;
        }
        Ok(())
    }
}

/// `10% to version 5`, for each weighted version.
fn shares(weights: &BTreeMap<String, f64>) -> String {
    weights
        .iter()
        .map(|(v, w)| {
            format!(
                "{} to version {v}",
                crate::strategy::Weight::from_fraction(*w)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A version and the image it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VersionReport {
    /// The version; `null` for `$LATEST`.
    pub version: Option<String>,
    /// The image it runs; `null` when it was not read.
    pub image_uri: Option<String>,
}

/// What `rollback` did: `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RollbackStatus {
    /// The alias was moved back (or its weights cleared), or `$LATEST` was updated.
    RolledBack,
    /// Nothing was written: already there, or nothing to roll back to (`reason`).
    Unchanged,
    /// `--dry-run`: would be rolled back.
    Planned,
    /// The update of `$LATEST` failed (`update.reason`).
    Failed,
    /// The update of `$LATEST` is not finished (`--no-wait`, or the wait timed out).
    InProgress,
}

/// What `rollback` did.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RollbackReport {
    /// The function rolled back.
    pub function: FunctionReport,
    /// `--alias`: the alias moved back; `null` when `$LATEST` is updated.
    pub alias: Option<String>,
    /// Where the alias (or `$LATEST`) was.
    pub from: VersionReport,
    /// The version rolled back to; `null` when there is none.
    pub to: Option<VersionReport>,
    /// Without `--alias`: the update of `$LATEST`.
    pub update: Option<UpdateReport>,
    /// What was done.
    pub status: RollbackStatus,
    /// The weights of an alias in the middle of a gradual release, which the rollback
    /// removed; `null` when there were none.
    pub weights_removed: Option<BTreeMap<String, f64>>,
    /// Why nothing was rolled back, or what else was done.
    pub reason: Option<String>,
    /// With `--alias`: the alias's description as it was read, which a deploy with
    /// `--alias` sets to what it deployed (`sha256:<12> from <source>@<rev12>
    /// (ecr-lambda)`); `null` when it has none.
    pub description: Option<String>,
}

impl fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self
            .alias
            .as_deref()
            .map_or_else(|| "$LATEST".to_owned(), |a| format!("alias {a}"));
        say!(f, "function:  {}", self.function.arn)?;
        let from = self.from.version.as_deref().unwrap_or("$LATEST");
        match &self.to {
            Some(to) => say!(
                f,
                "rollback:  {what} from version {from} to version {} ({})",
                to.version.as_deref().unwrap_or("-"),
                to.image_uri.as_deref().unwrap_or("no image")
            )?,
            None => say!(f, "rollback:  {what} stays at {from}")?,
        }
        if let Some(update) = &self.update {
            say!(f, "update:    {update}")?;
        }
        let status = match self.status {
            RollbackStatus::RolledBack => "rolled back",
            RollbackStatus::Unchanged => "unchanged: nothing written",
            RollbackStatus::Planned => "planned (dry run)",
            RollbackStatus::Failed => "FAILED",
            RollbackStatus::InProgress => "in progress",
        };
        say!(f, "status:    {status}")?;
        if let Some(description) = &self.description {
            say!(f, "was:       {description}")?;
        }
        if let Some(reason) = &self.reason {
            say!(f, "reason:    {reason}")?;
        }
        Ok(())
    }
}

/// An error, as printed on stdout with `--output json` so that a script always
/// gets one JSON document.
#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorReport<'a> {
    /// The error.
    pub error: ErrorBody<'a>,
}

/// What went wrong: `{kind, message, hint, exit_code}`.
#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ErrorBody<'a> {
    /// A short stable name: `usage`, `not-found`, `access-denied`, `throttled`,
    /// `conflict`, `network`, `timeout`, `invalid-request`, `quota-exceeded`, `aws` or
    /// `interrupted`.
    pub kind: crate::error::ErrorKind,
    /// The message, as printed on stderr.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<&'a str>,
    /// The exit code the process ends with (2, 3 or 130).
    pub exit_code: i32,
}
