//! Waiting for a function (or a version) to settle: one read a second on a fixed
//! schedule, timed on a monotonic reading of the client's clock.

use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::AsyncSleep;

use super::{FunctionRef, FunctionState, get_qualified};
use crate::error::{AwsError, AwsErrorKind};

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

/// Reads the function (or the published version `qualifier`) once every [`POLL_INTERVAL`], on a fixed schedule (a slow read
/// does not push the next one back), until it is [settled](FunctionState::settled)
/// or `timeout` has passed; `on_poll` sees each state read and the time waited so far.
///
/// Time and sleeps come from the client's own configuration, so a client built with
/// a test clock waits without real time passing. The client's clock is read as a
/// monotonic one: a reading behind the last counts nothing, and one further ahead
/// than the wait slept and ran by more than [`CLOCK_STEP`] is a step of the wall
/// clock (NTP, a laptop waking), counted as the time that really passed; so a step
/// neither ends a wait at once nor stretches it past `timeout`.
pub async fn wait_settled(
    client: &Client,
    function: &FunctionRef,
    qualifier: Option<&str>,
    region: &str,
    timeout: Duration,
    mut on_poll: impl FnMut(&FunctionState, Duration),
) -> Result<Waited, AwsError> {
    let config = client.config();
    let clock = config
        .time_source()
        .ok_or_else(|| no_runtime("time source"))?;
    let sleep = config.sleep_impl().ok_or_else(|| no_runtime("sleep"))?;
    let mut time = WaitTime::new(Box::new(move || clock.now()));
    let mut polls = 0u32;
    loop {
        // The next slot of the schedule still ahead: a read slower than the interval
        // skips the slots it overran rather than reading again at once.
        let now = time.elapsed();
        let slot = (now.as_nanos() / POLL_INTERVAL.as_nanos()) as u32 + 1;
        let next = POLL_INTERVAL * slot.max(polls + 1);
        let wake = next.min(timeout);
        if wake > now {
            sleep.sleep(wake - now).await;
            time.slept(wake - now);
        }
        let state = get_qualified(client, function, qualifier, region).await?;
        polls += 1;
        let elapsed = time.elapsed();
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

/// How far the client's clock may run ahead of the time a wait slept and ran
/// before a reading is taken for a step of the wall clock.
pub const CLOCK_STEP: Duration = Duration::from_secs(5);

/// A wait's time, from the client's clock read as a monotonic one (see
/// [`wait_settled`]).
struct WaitTime {
    clock: Box<dyn Fn() -> std::time::SystemTime + Send + Sync>,
    start: std::time::Instant,
    last_clock: std::time::SystemTime,
    last_real: Duration,
    asleep: Duration,
    counted: Duration,
}

impl WaitTime {
    fn new(clock: Box<dyn Fn() -> std::time::SystemTime + Send + Sync>) -> WaitTime {
        WaitTime {
            last_clock: clock(),
            clock,
            start: std::time::Instant::now(),
            last_real: Duration::ZERO,
            asleep: Duration::ZERO,
            counted: Duration::ZERO,
        }
    }

    fn slept(&mut self, duration: Duration) {
        self.asleep += duration;
    }

    fn elapsed(&mut self) -> Duration {
        let (clock, real) = ((self.clock)(), self.start.elapsed());
        let passed = real.saturating_sub(self.last_real) + self.asleep;
        let step = clock.duration_since(self.last_clock).unwrap_or_default();
        self.counted += if step <= passed + CLOCK_STEP {
            step
        } else {
            passed
        };
        (self.last_clock, self.last_real, self.asleep) = (clock, real, Duration::ZERO);
        self.counted.max(real)
    }
}

fn no_runtime(what: &str) -> AwsError {
    AwsError::new(
        "GetFunction",
        AwsErrorKind::Service,
        format!("the Lambda client has no {what} to wait with"),
    )
}
