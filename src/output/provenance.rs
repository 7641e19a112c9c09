//! What the provenance requirements came to (`verification` in the JSON output).

use std::fmt;

use serde::Serialize;

use crate::ecr::signing::{ProfileStatus, State};
use crate::manifest::statement::FieldCheck;

/// ECR managed signing of the target, as DescribeImageSigningStatus said last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SigningReport {
    /// Every signing profile said COMPLETE (and there was at least one).
    pub complete: bool,
    /// One per signing profile whose rule matched the image.
    pub statuses: Vec<ProfileStatus>,
    /// DescribeImageSigningStatus calls made.
    pub polls: u32,
    /// How long the wait for IN_PROGRESS lasted, in milliseconds.
    pub waited_ms: u64,
    /// A profile was still IN_PROGRESS when the wait ended.
    pub timed_out: bool,
}

impl SigningReport {
    /// Why it is not signed, in words (for the `not-signed` problem).
    pub fn why_not(&self) -> String {
        if self.statuses.is_empty() {
            return "has no signature from ECR managed signing (DescribeImageSigningStatus lists \
                    no signing profile for it: no signing rule matched the repository, or the \
                    image was not pushed since signing was configured)"
                .into();
        }
        let each: Vec<String> = self
            .statuses
            .iter()
            .filter(|s| s.status != State::Complete)
            .map(|s| {
                let profile = s
                    .signing_profile_arn
                    .as_deref()
                    .unwrap_or("a signing profile");
                match s.status {
                    State::InProgress => format!(
                        "{profile}: still IN_PROGRESS after {:.0} s",
                        self.waited_ms as f64 / 1000.0
                    ),
                    State::Failed => format!(
                        "{profile}: FAILED ({}{})",
                        s.failure_code
                            .as_deref()
                            .map(|c| format!("{c}: "))
                            .unwrap_or_default(),
                        s.failure_reason.as_deref().unwrap_or("no reason given")
                    ),
                    _ => format!("{profile}: an unknown status"),
                }
            })
            .collect();
        format!("is not signed: {}", each.join("; "))
    }
}

/// What the provenance requirements came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct VerificationReport {
    /// Every requirement was met.
    pub passed: bool,
    /// A statement about the target was required.
    pub require_provenance: bool,
    /// Each field required, against the statement judged.
    pub fields: Vec<FieldCheck>,
    /// `--require-signed`: what ECR said; `null` when not asked.
    pub signing: Option<SigningReport>,
}

impl fmt::Display for VerificationReport {
    /// What was checked, in words that claim no more: the registry holds a statement
    /// matching the requirements (not who wrote it), and ECR says it signed the image
    /// (no signature is checked here).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failed: Vec<String> = self
            .fields
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{} not as required", c.field))
            .collect();
        let fields: Vec<String> = self.fields.iter().map(|c| c.field.to_string()).collect();
        if self.passed {
            write!(f, "met")?;
        } else {
            write!(f, "NOT met")?;
        }
        if !failed.is_empty() {
            write!(f, ": {}", failed.join(", "))?;
        } else if self.require_provenance && self.passed {
            write!(f, ": the registry holds a statement about the target")?;
            if !fields.is_empty() {
                write!(
                    f,
                    " whose {} {} as required",
                    and_list(&fields),
                    if fields.len() == 1 { "is" } else { "are" }
                )?;
            }
            write!(f, " (who wrote it is not checked)")?;
        }
        if let Some(signing) = &self.signing {
            write!(
                f,
                "; {}",
                if signing.complete {
                    "ECR reports its signing COMPLETE (ECR's word: no signature is checked)"
                } else {
                    "ECR does not report it signed"
                }
            )?;
        }
        Ok(())
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}
