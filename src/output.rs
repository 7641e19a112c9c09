//! Reports: one `Serialize + Display` struct per command, printed as JSON or text.

use std::fmt;

use serde::Serialize;

use crate::manifest::Platform;
use crate::manifest::config::ImageConfig;
use crate::manifest::provenance::{Link, Provenance};
use crate::manifest::rules::{Entry, Finding};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TargetReport {
    pub digest: String,
    pub media_type: String,
    pub platform: Option<Platform>,
}

/// What `check` found; `fix` and `deploy` print the same fields and add their own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The full image URI, normalised.
    pub image: String,
    pub registry_id: String,
    pub region: String,
    pub repository: String,
    pub tag: Option<String>,
    /// The digest the reference resolved to.
    pub digest: String,
    pub media_type: String,
    pub lambda_ready: bool,
    pub fixable: bool,
    pub target: Option<TargetReport>,
    /// The entries of an index; empty for a single manifest.
    pub manifests: Vec<Entry>,
    pub problems: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// The target's attestations: what they attest, and how they are linked to it.
    pub provenance: Vec<Provenance>,
    /// The target's config blob, or `null` when it was not read.
    pub config: Option<ImageConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The tag was written to name the target manifest.
    Retagged,
    /// Nothing to write: the image (or the tag to write) is already Lambda-ready.
    AlreadyReady,
    /// `--dry-run`: this would be written.
    Planned,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FixReport {
    #[serde(flatten)]
    pub check: CheckReport,
    /// `null` when nothing could be done (see `problems`).
    pub action: Option<Action>,
    pub written_tag: Option<String>,
    /// Attestations written again as referrers of the target (with `--dry-run`: that
    /// would be written).
    pub provenance_written: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionReport {
    pub name: String,
    pub arn: String,
    pub architectures: Vec<String>,
    /// The function's state when it was read (`Active`, `Pending`, `Failed`, ...).
    pub state: Option<String>,
}

/// An alias as a release left it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AliasReport {
    pub name: String,
    /// The version it points at (with `--dry-run`: would point at; `null` when that
    /// version is yet to be published).
    pub version: Option<String>,
    pub previous_version: Option<String>,
    /// It did not exist before (CreateAlias).
    pub created: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateStatus {
    Successful,
    Failed,
    InProgress,
    Unchanged,
    Planned,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UpdateReport {
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeployReport {
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
}

/// One function's part of a deploy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeploymentReport {
    pub function: FunctionReport,
    pub image_uri: Option<String>,
    /// The tag written for this function's image, if any.
    pub written_tag: Option<String>,
    pub update: Option<UpdateReport>,
    pub alias: Option<AliasReport>,
    /// What stops this function from running the image (nothing was written).
    pub problems: Vec<Finding>,
    /// The AWS error that stopped this function's update (the others went on).
    pub error: Option<String>,
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
        writeln!(f, "image:     {}", self.image)?;
        writeln!(f, "digest:    {} ({})", self.digest, self.media_type)?;
        if !self.manifests.is_empty() {
            writeln!(f, "manifests:")?;
            for entry in &self.manifests {
                let platform = entry
                    .platform
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), ToString::to_string);
                writeln!(
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
                Some(p) => writeln!(f, "target:    {} ({p})", target.digest)?,
                None => writeln!(f, "target:    {}", target.digest)?,
            }
        }
        if let Some(config) = &self.config {
            writeln!(f, "config:    {config}")?;
        }
        let verdict = if self.lambda_ready {
            "ready: Lambda accepts this image as it is"
        } else if self.fixable {
            "not ready: `ecr-lambda fix` (or deploy) can make it ready"
        } else {
            "not ready, and fix cannot make it ready"
        };
        writeln!(f, "lambda:    {verdict}")?;
        for p in &self.provenance {
            let linked = match p.linked {
                Link::Referrer => "referrer of the target",
                Link::IndexOnly => "linked only through the index",
            };
            writeln!(
                f,
                "provenance: {} ({}) {linked}",
                p.digest,
                p.predicate_types.join(", ")
            )?;
        }
        for p in &self.problems {
            writeln!(f, "problem:   [{}] {}", p.code, p.message)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning:   [{}] {}", w.code, w.message)?;
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
            Some(Action::Retagged) => writeln!(f, "fix:       tag {tag} now names {target}"),
            Some(Action::AlreadyReady) if self.written_tag.is_some() => {
                writeln!(
                    f,
                    "fix:       tag {tag} already names {target}; nothing written"
                )
            }
            Some(Action::AlreadyReady) => {
                writeln!(f, "fix:       already Lambda-ready; nothing written")
            }
            Some(Action::Planned) => {
                writeln!(f, "fix:       would point tag {tag} at {target} (dry run)")
            }
            None => writeln!(f, "fix:       nothing written"),
        }?;
        let verb = if self.action == Some(Action::Planned) {
            "would write"
        } else {
            "wrote"
        };
        for digest in &self.provenance_written {
            writeln!(f, "provenance: {verb} {digest} as a referrer of the target")?;
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
        Ok(())
    }
}

impl fmt::Display for UpdateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match self.status {
            UpdateStatus::Successful => "successful",
            UpdateStatus::Failed => "FAILED",
            UpdateStatus::InProgress => "in progress",
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
        writeln!(
            f,
            "function:  {} ({})",
            self.function.arn,
            self.function.architectures.join(", ")
        )?;
        if let Some(uri) = &self.image_uri {
            writeln!(f, "deploy:    {uri}")?;
        }
        if let Some(update) = &self.update {
            writeln!(f, "update:    {update}")?;
            if let Some(reason) = &update.reason {
                writeln!(f, "reason:    {reason}")?;
            }
        }
        if let Some(alias) = &self.alias {
            writeln!(f, "alias:     {alias}")?;
        }
        if let Some(error) = &self.error {
            writeln!(f, "error:     {error}")?;
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
        match (&self.previous_version, self.created) {
            (_, true) => write!(f, "{} created, pointing at version {to}", self.name),
            (Some(previous), _) if Some(previous) == self.version.as_ref() => {
                write!(f, "{} unchanged at version {to}", self.name)
            }
            (Some(previous), _) => write!(f, "{} moved from version {previous} to {to}", self.name),
            (None, _) => write!(f, "{} points at version {to}", self.name),
        }
    }
}

/// A version and the image it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VersionReport {
    pub version: Option<String>,
    pub image_uri: Option<String>,
}

/// What `rollback` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RollbackReport {
    pub function: FunctionReport,
    pub alias: Option<String>,
    /// Where the alias (or `$LATEST`) was.
    pub from: VersionReport,
    /// The version rolled back to; `null` when there is none.
    pub to: Option<VersionReport>,
    /// Without `--alias`: the update of `$LATEST`.
    pub update: Option<UpdateReport>,
    /// Why nothing was rolled back.
    pub reason: Option<String>,
}

impl fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self
            .alias
            .as_deref()
            .map_or_else(|| "$LATEST".to_owned(), |a| format!("alias {a}"));
        writeln!(f, "function:  {}", self.function.arn)?;
        let from = self.from.version.as_deref().unwrap_or("$LATEST");
        match &self.to {
            Some(to) => writeln!(
                f,
                "rollback:  {what} from version {from} to version {} ({})",
                to.version.as_deref().unwrap_or("-"),
                to.image_uri.as_deref().unwrap_or("no image")
            )?,
            None => writeln!(f, "rollback:  {what} stays at {from}")?,
        }
        if let Some(update) = &self.update {
            writeln!(f, "update:    {:?}", update.status)?;
        }
        if let Some(reason) = &self.reason {
            writeln!(f, "reason:    {reason}")?;
        }
        Ok(())
    }
}

/// An error, as printed on stdout with `--output json` so that a script always
/// gets one JSON document.
#[derive(Serialize)]
pub struct ErrorReport<'a> {
    pub error: ErrorBody<'a>,
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub kind: &'a str,
    pub message: String,
    pub hint: Option<&'a str>,
    pub exit_code: i32,
}

/// One thing a scan found that will make a deploy (or a function) fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanFinding {
    /// `tag-not-ready`, `function-image-deleted`, `function-tag-not-ready`,
    /// `function-architecture-mismatch`.
    pub kind: &'static str,
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub digest: Option<String>,
    pub function: Option<String>,
    /// `fix` (or `scan --fix`) can make the tag ready.
    pub fixable: bool,
    /// The tags `fix` would write.
    pub fix_writes: Vec<String>,
    /// Problem codes, as `check` reports them.
    pub problems: Vec<String>,
    pub message: String,
}

/// A tag `scan --fix` writes (or would write).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanWrite {
    pub repository: String,
    /// The tag that was scanned.
    pub tag: String,
    pub written_tag: String,
    pub target: String,
    /// `null` when it was not written (see `unreadable`).
    pub action: Option<Action>,
    /// Attestations written again as referrers of the target.
    pub provenance_written: Vec<String>,
}

/// Something the scan could not read or write, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub what: String,
    pub error: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    pub repositories: usize,
    pub tags: usize,
    pub ready: usize,
    pub fixable: usize,
    pub not_fixable: usize,
    pub functions: usize,
    pub findings: Vec<ScanFinding>,
    /// Findings that still stand after `--fix`.
    pub remaining: usize,
    pub fixed: Vec<ScanWrite>,
    pub unreadable: Vec<Unreadable>,
}

impl fmt::Display for ScanFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = match (&self.function, &self.repository, &self.tag) {
            (Some(function), _, _) => format!("function {function}"),
            (None, Some(repo), Some(tag)) => format!("{repo}:{tag}"),
            (None, Some(repo), None) => repo.clone(),
            _ => "-".into(),
        };
        let fix = if self.fixable {
            format!(" (fixable: writes {})", self.fix_writes.join(", "))
        } else {
            String::new()
        };
        write!(f, "{:<30} {:<32} {}{fix}", self.kind, subject, self.message)
    }
}

impl fmt::Display for ScanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "repositories  {:>6}", self.repositories)?;
        writeln!(f, "tags          {:>6}", self.tags)?;
        writeln!(f, "  ready       {:>6}", self.ready)?;
        writeln!(f, "  fixable     {:>6}", self.fixable)?;
        writeln!(f, "  not fixable {:>6}", self.not_fixable)?;
        writeln!(f, "functions     {:>6}", self.functions)?;
        writeln!(f, "findings      {:>6}", self.findings.len())?;
        if !self.fixed.is_empty() {
            let written = self.fixed.iter().filter(|w| w.action.is_some()).count();
            writeln!(f, "fixed         {:>6} tag(s) written", written)?;
            writeln!(f, "remaining     {:>6}", self.remaining)?;
        }
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        for w in &self.fixed {
            match w.action {
                Some(_) => writeln!(
                    f,
                    "fixed: {}:{} -> {} now names {}",
                    w.repository, w.tag, w.written_tag, w.target
                )?,
                None => writeln!(
                    f,
                    "not fixed: {}:{} -> {}",
                    w.repository, w.tag, w.written_tag
                )?,
            }
        }
        for u in &self.unreadable {
            writeln!(f, "could not read {}: {}", u.what, u.error)?;
        }
        Ok(())
    }
}
