//! Waiting for a function (or a version) to settle: one read a second on a fixed
//! schedule, timed on the monotonic [`Timeline`].

use std::time::Duration;

use aws_sdk_lambda::Client;

use super::{FunctionRef, FunctionState, get_qualified};
use crate::error::{AwsError, AwsErrorKind};
use crate::timeline::Timeline;

/// How long apart the status reads are while waiting. The AWS CLI's
/// `wait function-updated-v2` polls every second too; the SDK waiter's exponential
/// backoff (1 s doubling towards 300 s) noticed a 12 s update 8 s late.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// How waiting ended: the last state read, and how many reads it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waited {
    /// The last state read.
    pub state: FunctionState,
    /// How many status reads were made.
    pub polls: u32,
    /// The function was still not [settled](FunctionState::settled) at the deadline.
    pub timed_out: bool,
    /// From the start of the wait to the answer of the last read.
    pub elapsed: Duration,
}

/// Reads the function (or the published version `qualifier`) once every
/// [`POLL_INTERVAL`], on a fixed schedule (a slow read does not push the next one
/// back), until it is [settled](FunctionState::settled) or `timeout` has passed;
/// `on_poll` sees each state read and the time waited so far.
///
/// Time is measured on a monotonic [`Timeline`], as a release's holds are: a step of
/// the wall clock (NTP, a laptop waking) neither ends the wait at once nor stretches
/// it. Sleeps come from the client's own configuration, so a client built with a
/// test sleeper waits without real time passing.
pub async fn wait_settled(
    client: &Client,
    function: &FunctionRef,
    qualifier: Option<&str>,
    region: &str,
    timeout: Duration,
    mut on_poll: impl FnMut(&FunctionState, Duration),
) -> Result<Waited, AwsError> {
    let sleep = client
        .config()
        .sleep_impl()
        .ok_or_else(|| no_runtime("sleep"))?;
    let mut timeline = Timeline::start(sleep);
    let mut polls = 0u32;
    loop {
        // The next slot of the schedule still ahead: a read slower than the interval
        // skips the slots it overran rather than reading again at once.
        let now = timeline.elapsed();
        let slot = (now.as_nanos() / POLL_INTERVAL.as_nanos()) as u32 + 1;
        let next = POLL_INTERVAL * slot.max(polls + 1);
        let wake = next.min(timeout);
        if wake > now {
            timeline.sleep(wake - now).await;
        }
        let state = get_qualified(client, function, qualifier, region).await?;
        polls += 1;
        let elapsed = timeline.elapsed();
        on_poll(&state, elapsed);
        let timed_out = !state.settled() && elapsed >= timeout;
        if state.settled() || timed_out {
            return Ok(Waited {
                state,
                polls,
                timed_out,
                elapsed,
            });
        }
    }
}

fn no_runtime(what: &str) -> AwsError {
    AwsError::new(
        "GetFunction",
        AwsErrorKind::Service,
        format!("the Lambda client has no {what} to wait with"),
    )
}
