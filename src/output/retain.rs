//! The reports of `retain` and `prune`.

use std::fmt;

use serde::Serialize;

use super::ErrorDetail;
use crate::retention::{ImageState, Kept, Risk, RuleAction, Status, Via};

/// `retain`'s report: what each function pins, what becomes of each image, each
/// repository's policy, and what was (or, in a dry run, would be) written.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RetainReport {
    /// Each function read, and what it pins.
    pub functions: Vec<FunctionPinsReport>,
    /// Each image in use, once.
    pub images: Vec<ImageReport>,
    /// Each repository an image in use is in.
    pub repositories: Vec<RepositoryReport>,
    /// What the command wrote (or would write, with `--dry-run`).
    pub writes: Writes,
    /// `--dry-run`: nothing was written.
    pub dry_run: bool,
}

/// A function and the images it pins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FunctionPinsReport {
    /// Its name.
    pub function: String,
    /// The region it was read in.
    pub region: String,
    /// `$LATEST`, each version, each alias (twice for a weighted alias).
    pub pins: Vec<PinReport>,
}

/// What one qualifier runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PinReport {
    /// `$LATEST`, a version or an alias.
    pub qualifier: String,
    /// The version that runs.
    pub version: String,
    /// The image's digest.
    pub digest: Option<String>,
    /// The repository's name.
    pub repository: Option<String>,
}

/// An image in use, and what becomes of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImageReport {
    /// The repository's name.
    pub repository: String,
    /// The region it is in.
    pub region: String,
    /// The image's digest.
    pub digest: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// DescribeImages' `imageStatus`; `null` when the image is gone.
    pub image_status: Option<ImageState>,
    /// The verdict.
    pub status: Status,
    /// The rule that would act on it now.
    pub risk: Option<Risk>,
    /// When it was pushed.
    pub pushed_at: Option<String>,
    /// When ECR last recorded a pull.
    pub last_pull: Option<String>,
    /// `FUNCTION:QUALIFIER` for each pin that runs it.
    pub used_by: Vec<String>,
}

/// A repository, its lifecycle policy and ECR's preview of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RepositoryReport {
    /// Its name.
    pub repository: String,
    /// Its region.
    pub region: String,
    /// The lifecycle policy's text, exactly as ECR returned it; `null`: none, so
    /// nothing expires by policy.
    pub policy: Option<String>,
    /// What the preview found; `null` without a policy.
    pub preview: Option<PreviewReport>,
    /// The keep rule that would protect the images in use a rule still selects
    /// (add it with `--protect-policy`).
    pub keep_rule: Option<serde_json::Value>,
}

/// ECR's preview of a policy, in brief.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PreviewReport {
    /// Images the policy would expire or archive now.
    pub images: usize,
    /// Of those, images in use (an index listing one counts it).
    pub in_use: usize,
}

/// What the command wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Writes {
    /// Protective tags.
    pub tags: Vec<TagWrite>,
    /// Lifecycle policies.
    pub policies: Vec<PolicyWrite>,
    /// Restores from the archive.
    pub restores: Vec<RestoreWrite>,
}

impl Writes {
    /// Nothing planned nor written.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && self.policies.is_empty() && self.restores.is_empty()
    }
}

/// What became of one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum WriteResult {
    /// `--dry-run`: it would be written.
    Planned,
    /// Written.
    Written,
    /// ECR already had it.
    AlreadyThere,
    /// The repository does not let the tag move, and it names another image.
    TagImmutable,
    /// Not written: the image is archived or being restored, so its bytes cannot be
    /// read to write them again (restore it first: `--restore`).
    NotReadable,
}

/// A protective tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TagWrite {
    /// The repository.
    pub repository: String,
    /// The image.
    pub digest: String,
    /// The tag.
    pub tag: String,
    /// What became of it.
    pub result: WriteResult,
}

/// A lifecycle policy with the keep rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PolicyWrite {
    /// The repository.
    pub repository: String,
    /// The whole policy text written.
    pub policy: String,
    /// What became of it.
    pub result: WriteResult,
}

/// A restore from the archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RestoreWrite {
    /// The repository.
    pub repository: String,
    /// The image.
    pub digest: String,
    /// What became of it.
    pub result: WriteResult,
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

fn why(image: &ImageReport) -> String {
    match (image.status, &image.risk) {
        (Status::Safe, _) => "no lifecycle rule acts on it".to_owned(),
        (Status::AtRisk, Some(r)) => {
            let action = match r.action {
                RuleAction::Expire => "expire",
                RuleAction::Transition => "archive",
            };
            let via = match r.via {
                Via::Image => "",
                Via::Index => " with an index that lists it",
            };
            format!("rule {} would {action} it{via}", r.rule_priority)
        }
        (Status::AtRisk, None) => "at risk".to_owned(),
        (Status::Archived, _) => "archived: Lambda cannot pull it until it is restored".to_owned(),
        (Status::Activating, _) => "being restored from the archive".to_owned(),
        (Status::Deleted, _) => {
            "not in the repository: the versions that run it cannot run".to_owned()
        }
    }
}

impl fmt::Display for RetainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for image in &self.images {
            say!(
                f,
                "{:<10} {}@{}  {}  ({})",
                image.status.to_string(),
                image.repository,
                short(&image.digest),
                image.used_by.join(", "),
                why(image)
            )?;
        }
        for repo in &self.repositories {
            if repo.policy.is_none() {
                say!(
                    f,
                    "{}: no lifecycle policy, nothing expires by policy",
                    repo.repository
                )?;
            }
            if let Some(rule) = &repo.keep_rule {
                say!(
                    f,
                    "{}: a rule still selects images in use; this keep rule ahead of it would \
                     protect them (--protect-policy adds it):",
                    repo.repository
                )?;
                say!(f, "  {rule}")?;
            }
        }
        let verb = if self.dry_run { "would write" } else { "wrote" };
        for t in &self.writes.tags {
            say!(
                f,
                "{verb} tag {}:{} -> {} ({:?})",
                t.repository,
                t.tag,
                short(&t.digest),
                t.result
            )?;
        }
        for p in &self.writes.policies {
            say!(
                f,
                "{verb} lifecycle policy of {} ({:?}):",
                p.repository,
                p.result
            )?;
            // Each line of the policy text on a line of its own: say! escapes a newline.
            for line in p.policy.lines() {
                say!(f, "  {line}")?;
            }
        }
        for r in &self.writes.restores {
            say!(
                f,
                "{verb} restore of {}@{} ({:?})",
                r.repository,
                short(&r.digest),
                r.result
            )?;
        }
        let count = |s: Status| self.images.iter().filter(|i| i.status == s).count();
        say!(
            f,
            "{} function(s), {} image(s) in use: {} safe, {} at risk, {} archived, {} activating, {} deleted",
            self.functions.len(),
            self.images.len(),
            count(Status::Safe),
            count(Status::AtRisk),
            count(Status::Archived),
            count(Status::Activating),
            count(Status::Deleted)
        )
    }
}

/// `prune`'s report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PruneReport {
    /// The function.
    pub function: String,
    /// The versions kept, and why.
    pub kept: Vec<Kept>,
    /// The versions deleted (or, with `--dry-run`, that would be).
    pub deleted: Vec<String>,
    /// With `--release-tags`: the protective tags removed (or that would be).
    pub released_tags: Vec<String>,
    /// Protective tags left on images something else still runs.
    pub warnings: Vec<String>,
    /// `--dry-run`: nothing was deleted.
    pub dry_run: bool,
    /// The error that stopped the deletions, after those listed.
    pub error: Option<ErrorDetail>,
    /// Why nothing was considered (a function with `DurableConfig`).
    pub refused: Option<String>,
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.refused {
            return say!(f, "refused: {why}");
        }
        for k in &self.kept {
            let why = match &k.why {
                crate::retention::Why::Newest => "one of the newest".to_owned(),
                crate::retention::Why::Alias { alias } => format!("alias {alias} routes to it"),
            };
            say!(f, "keep    {}:{}  ({why})", self.function, k.version)?;
        }
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        for v in &self.deleted {
            say!(f, "{verb} {}:{v}", self.function)?;
        }
        for t in &self.released_tags {
            say!(
                f,
                "{} tag {t}",
                if self.dry_run {
                    "would remove"
                } else {
                    "removed"
                }
            )?;
        }
        for w in &self.warnings {
            say!(f, "warning: {w}")?;
        }
        say!(f, "{} kept, {} {verb}", self.kept.len(), self.deleted.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text from outside in a retention report (a warning naming what AWS answered, a
    /// refusal) is shown escaped, never obeyed, as in every other text report.
    #[test]
    fn outside_text_in_a_prune_report_is_escaped() {
        let report = PruneReport {
            function: "my-fn".into(),
            kept: Vec::new(),
            deleted: vec!["3".into()],
            released_tags: Vec::new(),
            warnings: vec!["tag kept\u{1b}[2J\nforged: line".into()],
            dry_run: true,
            error: None,
            refused: None,
        };
        let text = report.to_string();
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(
            text.contains("warning: tag kept\\u{1b}[2J\\u{a}forged: line"),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("forged")), "{text}");
    }
}
