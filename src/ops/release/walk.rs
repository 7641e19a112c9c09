//! The walk of a release: its monotonic timeline, Ctrl-C, the progress line, the
//! alarm reads and the report as it fills.

use std::time::{Duration, SystemTime};

use super::{firing, read_alarms};
use crate::alarms::{self, Alarm};
use crate::error::Error;
use crate::lambda::FunctionRef;
use crate::ops::Clients;
use crate::output::ReleaseReport;
use crate::strategy;
use crate::timeline::Timeline;

/// The least time between two alarm reads.
const MIN_READ_GAP: Duration = Duration::from_millis(500);

/// How the wait between two alarm reads ended.
pub(super) enum Slept {
    Done,
    Interrupted,
}

/// The release, as it goes: the clocks, Ctrl-C, the progress line and the report.
pub(super) struct Walk<'a> {
    pub(super) clients: &'a Clients,
    /// The functions whose aliases move: the alarms are read in their regions.
    pub(super) functions: Vec<FunctionRef>,
    /// The wall clock, for the report's timestamps only.
    pub(super) clock: Box<dyn Fn() -> SystemTime + Send + Sync>,
    pub(super) timeline: Timeline,
    pub(super) progress: Option<indicatif::ProgressBar>,
    pub(super) report: ReleaseReport,
    /// When the alarms were last read (on the timeline): reads stay at least half a
    /// second apart, even after a slow (throttled, retried) one.
    pub(super) last_read: Option<Duration>,
    /// The alarms that were ever read in a state other than INSUFFICIENT_DATA.
    pub(super) judged: std::collections::BTreeSet<String>,
}

impl Walk<'_> {
    pub(super) fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// Ctrl-C, heard at any time during the run (one listener for the process: a
    /// signal during a write is heard when the write ends).
    pub(super) fn interrupted(&self) -> bool {
        crate::interrupt::heard()
    }

    /// Sleeps until `until` on the timeline, in slices of at most a second when a
    /// progress line shows the time left; Ctrl-C ends it at once.
    pub(super) async fn sleep_until(&mut self, until: Duration, label: &str) -> Slept {
        loop {
            if self.interrupted() {
                return Slept::Interrupted;
            }
            let left = until.saturating_sub(self.timeline.elapsed());
            if left.is_zero() {
                return Slept::Done;
            }
            if let Some(bar) = &self.progress {
                bar.set_message(format!(
                    "{label}: {} left",
                    strategy::format_duration(
                        Duration::from_secs(left.as_secs_f64().ceil() as u64)
                    )
                ));
            }
            let slice = if self.progress.is_some() {
                left.min(Duration::from_secs(1))
            } else {
                left
            };
            tokio::select! {
                _ = self.timeline.sleep(slice) => {}
                _ = crate::interrupt::ctrl_c() => return Slept::Interrupted,
            }
        }
    }

    pub(super) async fn read_alarms(&mut self, names: &[String]) -> Result<Option<Alarm>, Error> {
        if names.is_empty() {
            return Ok(None);
        }
        if let Some(last) = self.last_read {
            let wait = (last + MIN_READ_GAP).saturating_sub(self.timeline.elapsed());
            if !wait.is_zero() {
                self.timeline.sleep(wait).await;
            }
        }
        let alarms = read_alarms(self.clients, &self.functions, names).await;
        self.last_read = Some(self.timeline.elapsed());
        let alarms = alarms?;
        self.report.alarm_reads += 1;
        self.judged.extend(
            alarms
                .iter()
                .filter(|a| a.state != alarms::State::InsufficientData)
                .map(|a| a.name.clone()),
        );
        let fired = firing(&alarms).cloned();
        self.report.alarms = alarms;
        Ok(fired)
    }

    /// A warning for each alarm that was INSUFFICIENT_DATA at every read of a
    /// release that moved traffic: it gated nothing.
    pub(super) fn warn_unjudged(&mut self, names: &[String]) {
        for name in names.iter().filter(|n| !self.judged.contains(*n)) {
            self.report.warnings.push(format!(
                "alarm {name} was INSUFFICIENT_DATA at every read ({} reads): it gated \
                 nothing in this release",
                self.report.alarm_reads
            ));
        }
    }
}
