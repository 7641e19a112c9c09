//! What `scan` reports: its findings, the tags `--fix` writes, and what it could not
//! read.

use std::fmt;

use serde::Serialize;

use super::Action;

/// What a scan finding is about: `kind` in the JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A tag Lambda would refuse.
    TagNotReady,
    /// A function runs an image that is no longer in its repository.
    FunctionImageDeleted,
    /// A function was deployed from a tag that Lambda would now refuse.
    FunctionTagNotReady,
    /// A function's architecture is not the image's.
    FunctionArchitectureMismatch,
    /// A function runs an image ECR has archived (or is restoring): Lambda cannot
    /// pull it until it is restored.
    ImageArchived,
}

impl FindingKind {
    /// As the JSON names it.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::TagNotReady => "tag-not-ready",
            FindingKind::FunctionImageDeleted => "function-image-deleted",
            FindingKind::FunctionTagNotReady => "function-tag-not-ready",
            FindingKind::FunctionArchitectureMismatch => "function-architecture-mismatch",
            FindingKind::ImageArchived => "image-archived",
        }
    }
}

/// One thing a scan found that will make a deploy (or a function) fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ScanFinding {
    /// What it is about.
    pub kind: FindingKind,
    /// The repository: the tag's, or the one the function's image is in.
    pub repository: Option<String>,
    /// The tag; for a function, the tag it was deployed from.
    pub tag: Option<String>,
    /// The digest the tag names, or the function runs.
    pub digest: Option<String>,
    /// The function's name; `null` for a tag.
    pub function: Option<String>,
    /// `fix` (or `scan --fix`) can make the tag ready.
    pub fixable: bool,
    /// The tags `fix` would write.
    pub fix_writes: Vec<String>,
    /// Problem codes, as `check` reports them.
    pub problems: Vec<crate::manifest::Code>,
    /// What is wrong, in a sentence.
    pub message: String,
}

/// A tag `scan --fix` writes (or would write).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ScanWrite {
    /// The repository the tag is in.
    pub repository: String,
    /// The tag that was scanned.
    pub tag: String,
    /// The tag written: the scanned tag, or `<tag>-<arch>` for a multi-platform index.
    pub written_tag: String,
    /// The digest it names: the platform manifest Lambda should run.
    pub target: String,
    /// `null` when it was not written (see `unreadable`).
    pub action: Option<Action>,
    /// Attestations written again as referrers of the target.
    pub provenance_written: Vec<String>,
}

/// Something the scan could not read or write, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Unreadable {
    /// What: a repository, a function, the functions, or an image's config.
    pub what: String,
    /// Why: the error.
    pub error: String,
}

/// What `scan` found, and with `--fix` what it wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ScanReport {
    /// How many repositories were scanned.
    pub repositories: usize,
    /// How many tags were judged.
    pub tags: usize,
    /// Tags Lambda accepts as they are.
    pub ready: usize,
    /// Tags `fix` would make ready.
    pub fixable: usize,
    /// Tags neither ready nor fixable.
    pub not_fixable: usize,
    /// How many image functions were read (with `--functions`).
    pub functions: usize,
    /// Everything found that will make a deploy (or a function) fail.
    pub findings: Vec<ScanFinding>,
    /// Findings that still stand after `--fix`.
    pub remaining: usize,
    /// With `--fix`: the tags written, each with its `action` (`null` for one that
    /// was not).
    pub fixed: Vec<ScanWrite>,
    /// What could not be read or written; the scan went on without it.
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
        write!(
            f,
            "{:<30} {:<32} {}{fix}",
            self.kind.as_str(),
            subject,
            self.message
        )
    }
}

impl fmt::Display for ScanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        say!(f, "repositories  {:>6}", self.repositories)?;
        say!(f, "tags          {:>6}", self.tags)?;
        say!(f, "  ready       {:>6}", self.ready)?;
        say!(f, "  fixable     {:>6}", self.fixable)?;
        say!(f, "  not fixable {:>6}", self.not_fixable)?;
        say!(f, "functions     {:>6}", self.functions)?;
        say!(f, "findings      {:>6}", self.findings.len())?;
        if !self.fixed.is_empty() {
            let written = self.fixed.iter().filter(|w| w.action.is_some()).count();
            say!(f, "fixed         {:>6} tag(s) written", written)?;
            say!(f, "remaining     {:>6}", self.remaining)?;
        }
        for finding in &self.findings {
            say!(f, "{finding}")?;
        }
        for w in &self.fixed {
            match w.action {
                Some(_) => say!(
                    f,
                    "fixed: {}:{} -> {} now names {}",
                    w.repository,
                    w.tag,
                    w.written_tag,
                    w.target
                )?,
                None => say!(
                    f,
                    "not fixed: {}:{} -> {}",
                    w.repository,
                    w.tag,
                    w.written_tag
                )?,
            }
        }
        for u in &self.unreadable {
            say!(f, "could not read {}: {}", u.what, u.error)?;
        }
        Ok(())
    }
}
