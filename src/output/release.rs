//! Reports of gradual releases: `deploy --canary|--linear` (`release`) and
//! `release status|promote|abort`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::alarms::Alarm;
use crate::manifest::findings::Finding;

/// How a gradual release ended: `release.outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseOutcome {
    /// Every alias points at the new version with all the traffic.
    Promoted,
    /// An alarm fired (or could not be read): the weights were cleared, every alias
    /// is back on its previous version alone.
    RolledBack,
    /// Stopped before any traffic moved: an alarm already in ALARM, no alias to
    /// shift, weights already there, versions a weighted alias cannot join, or a
    /// failing probe (`reason` says which).
    Refused,
    /// Ctrl-C: every alias is left as it was at that moment (`reason` says how to go
    /// on).
    Interrupted,
    /// `--dry-run`: what would be done.
    Planned,
    /// Every alias already runs the new image with all the traffic: nothing to shift.
    Unchanged,
    /// An AWS error stopped the release (a concurrent change of an alias, say), and
    /// not every alias this run moved could be moved back: `error` and `reason` say
    /// where each was left.
    Stopped,
}

impl ReleaseOutcome {
    /// As the JSON names it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseOutcome::Promoted => "promoted",
            ReleaseOutcome::RolledBack => "rolled-back",
            ReleaseOutcome::Refused => "refused",
            ReleaseOutcome::Interrupted => "interrupted",
            ReleaseOutcome::Planned => "planned",
            ReleaseOutcome::Unchanged => "unchanged",
            ReleaseOutcome::Stopped => "stopped",
        }
    }
}

/// One weight of a release.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct StepReport {
    /// The new version's share of the alias's traffic (0.0 to 1.0, as Lambda's
    /// `AdditionalVersionWeights`).
    pub weight: f64,
    /// When, from the first weight, this one is (or would be) written.
    pub offset_seconds: u64,
    /// How long it is held while the alarms are read.
    pub hold_seconds: u64,
    /// When it was written (RFC 3339, UTC); `null` when it was not.
    pub started_at: Option<String>,
    /// When its hold ended; `null` when it did not (an alarm, Ctrl-C, a dry run).
    pub ended_at: Option<String>,
}

/// The probe of one function's new version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProbeReport {
    /// The function.
    pub function: String,
    /// The version invoked; `null` in a dry run when it is yet to be published.
    pub version: Option<String>,
    /// `--probe`: the payload's file (`-` for standard input).
    pub source: String,
    /// The payload's size in bytes.
    pub bytes: usize,
    /// Invoke's HTTP status; `null` in a dry run.
    pub status: Option<u16>,
    /// `X-Amz-Function-Error` (`Unhandled`, `Handled`), or the error code Lambda
    /// answered when it could not run the version.
    pub function_error: Option<String>,
    /// The error's type (`errorType`).
    pub error_type: Option<String>,
    /// The error's message (`errorMessage`).
    pub error_message: Option<String>,
    /// The last lines of the log tail.
    pub log_tail: Vec<String>,
    /// The version ran without an error; `null` in a dry run.
    pub passed: Option<bool>,
}

/// The alarm that stopped a release, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FiredReport {
    /// The alarm's name.
    pub alarm: String,
    /// CloudWatch's `StateReason`.
    pub reason: Option<String>,
    /// The new version's share when it fired.
    pub weight: f64,
}

/// A gradual release: `release` in deploy's report.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReleaseReport {
    /// `canary 10% for 5m`, `linear 25% every 1m`.
    pub strategy: String,
    /// How it ended.
    pub outcome: ReleaseOutcome,
    /// Why it was refused, rolled back or interrupted, and how to go on.
    pub reason: Option<String>,
    /// The weights, in order: those written have `started_at`.
    pub steps: Vec<StepReport>,
    /// Each `--alarm` as last read.
    pub alarms: Vec<Alarm>,
    /// How many times the alarms were read (one DescribeAlarms each).
    pub alarm_reads: u32,
    /// The alarm that stopped the release.
    pub fired: Option<FiredReport>,
    /// With one function: its probe (see `probes`).
    pub probe: Option<ProbeReport>,
    /// Every function's probe, in the order given.
    pub probes: Vec<ProbeReport>,
    /// When the aliases were pointed at the new version with all the traffic.
    pub promoted_at: Option<String>,
    /// The AWS error that stopped the release (`reason` says where it left each
    /// alias); `null` when none did.
    pub error: Option<super::ErrorDetail>,
    /// What the release could not vouch for: an alarm that was INSUFFICIENT_DATA at
    /// every read once traffic moved gated nothing.
    pub warnings: Vec<String>,
}

impl fmt::Display for ReleaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        say!(f, "release:   {}", self.strategy)?;
        for p in &self.probes {
            let version = p.version.as_deref().unwrap_or("to be published");
            match p.passed {
                None => say!(
                    f,
                    "probe:     would invoke {} version {version} with {} ({} bytes)",
                    p.function,
                    p.source,
                    p.bytes
                )?,
                Some(true) => say!(
                    f,
                    "probe:     {} version {version}: HTTP {}, no error",
                    p.function,
                    p.status.unwrap_or_default()
                )?,
                Some(false) => {
                    say!(
                        f,
                        "probe:     {} version {version} FAILED: HTTP {}{}{}",
                        p.function,
                        p.status.unwrap_or_default(),
                        p.function_error
                            .as_deref()
                            .map(|e| format!(", {e}"))
                            .unwrap_or_default(),
                        match (&p.error_type, &p.error_message) {
                            (Some(t), Some(m)) => format!(": {t}: {m}"),
                            (Some(t), None) => format!(": {t}"),
                            (None, Some(m)) => format!(": {m}"),
                            (None, None) => String::new(),
                        }
                    )?;
                    for line in &p.log_tail {
                        say!(f, "  log:     {line}")?;
                    }
                }
            }
        }
        for (i, s) in self.steps.iter().enumerate() {
            let weight = crate::strategy::Weight::from_fraction(s.weight);
            let hold =
                crate::strategy::format_duration(std::time::Duration::from_secs(s.hold_seconds));
            match (&s.started_at, &s.ended_at) {
                (Some(start), Some(end)) => say!(
                    f,
                    "step {}:    {weight} of the traffic from {start} to {end}",
                    i + 1
                )?,
                (Some(start), None) => say!(
                    f,
                    "step {}:    {weight} of the traffic from {start}, stopped",
                    i + 1
                )?,
                _ => say!(
                    f,
                    "step {}:    {weight} of the traffic for {hold} (at +{})",
                    i + 1,
                    crate::strategy::format_duration(std::time::Duration::from_secs(
                        s.offset_seconds
                    ))
                )?,
            }
        }
        for a in &self.alarms {
            say!(
                f,
                "alarm:     {} {}{}",
                a.name,
                a.state.as_str(),
                a.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )?;
        }
        if let Some(at) = &self.promoted_at {
            say!(f, "promoted:  all the traffic on the new version at {at}")?;
        }
        say!(f, "outcome:   {}", self.outcome.as_str())?;
        if let Some(reason) = &self.reason {
            say!(f, "reason:    {reason}")?;
        }
        for warning in &self.warnings {
            say!(f, "warning:   {warning}")?;
        }
        Ok(())
    }
}

/// What `release status|promote|abort` did to one alias.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum AliasAction {
    /// Read only (`status`).
    Read,
    /// `promote`: the weighted version now takes all the traffic.
    Promoted,
    /// `abort`: the weights are cleared; the alias's version takes all the traffic.
    Aborted,
    /// Nothing to do: no release under way on this alias.
    Unchanged,
    /// `--dry-run`: would be written.
    Planned,
    /// `abort`: not written, because an alias's own version runs an image Lambda
    /// cannot pull (archived, being restored, or gone); see `refused`.
    Refused,
}

/// One alias as `release status|promote|abort` found and left it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AliasState {
    /// The function.
    pub function: String,
    /// The alias.
    pub alias: String,
    /// The version that takes the rest of the traffic (`FunctionVersion`), after the
    /// command.
    pub version: String,
    /// The digest of the image that version runs.
    pub image_digest: Option<String>,
    /// The version that takes a share, when a release is under way; `null` when not.
    pub weighted_version: Option<String>,
    /// Its share (0.0 to 1.0).
    pub weight: Option<f64>,
    /// The digest of the image the weighted version runs.
    pub weighted_image_digest: Option<String>,
    /// The alias's description.
    pub description: Option<String>,
    /// What the command did.
    pub action: AliasAction,
    /// The weights before the command, when it changed them.
    pub weights_removed: Option<BTreeMap<String, f64>>,
    /// `promote`: `rollback-target-at-risk` when the version left behind (the way
    /// back from now on) runs an image that is gone, archived, or untagged under a
    /// policy that expires untagged images.
    pub warnings: Vec<Finding>,
    /// `abort`: why nothing was written (exit 1), and the way out.
    pub refused: Option<String>,
    /// The error that stopped this alias's write (the others went on).
    pub error: Option<super::ErrorDetail>,
}

/// What `release status|promote|abort` found and did.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReleaseCommandReport {
    /// `status`, `promote` or `abort`.
    pub command: &'static str,
    /// One entry per `--function`, in the order given.
    pub aliases: Vec<AliasState>,
}

impl fmt::Display for ReleaseCommandReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for a in &self.aliases {
            let short = |d: &Option<String>| {
                d.as_deref()
                    .map(|d| format!(" ({})", d.get(..19).unwrap_or(d)))
                    .unwrap_or_default()
            };
            say!(f, "function:  {} alias {}", a.function, a.alias)?;
            match (&a.weighted_version, a.weight) {
                (Some(v), Some(w)) => {
                    let w = crate::strategy::Weight::from_fraction(w);
                    let rest = crate::strategy::Weight::from_fraction(1.0 - w.fraction());
                    say!(
                        f,
                        "traffic:   {rest} to version {}{}, {w} to version {v}{}",
                        a.version,
                        short(&a.image_digest),
                        short(&a.weighted_image_digest)
                    )?;
                }
                _ => say!(
                    f,
                    "traffic:   all to version {}{}",
                    a.version,
                    short(&a.image_digest)
                )?,
            }
            if let Some(d) = &a.description {
                say!(f, "about:     {d}")?;
            }
            let did = match a.action {
                AliasAction::Read => None,
                AliasAction::Promoted => {
                    Some("promoted: the weighted version takes all the traffic")
                }
                AliasAction::Aborted => Some("aborted: the weights are cleared"),
                AliasAction::Unchanged => Some("unchanged: no release is under way on this alias"),
                AliasAction::Planned => Some("would be written (dry run)"),
                AliasAction::Refused => Some("refused: nothing was written"),
            };
            if let Some(did) = did {
                say!(f, "{:<11}{did}", format!("{}:", self.command))?;
            }
            for w in &a.warnings {
                say!(f, "warning:   [{}] {}", w.code, w.message)?;
            }
            if let Some(why) = &a.refused {
                say!(f, "refused:   {why}")?;
            }
            if let Some(error) = &a.error {
                say!(f, "error:     {}", error.message)?;
            }
        }
        Ok(())
    }
}
