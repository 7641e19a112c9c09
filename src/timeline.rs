//! Monotonic time for everything that waits: update and publication waits, restore
//! waits and a release's holds.
//!
//! A step of the wall clock (NTP, a suspended laptop's catch-up) must neither end a
//! wait at once nor stretch it. The SDK's time source is the wall clock, so it is
//! not used to measure: a [`Timeline`] is the time passed since it began (a
//! monotonic `Instant`), and never less than the time it asked its sleeper for. With
//! the SDK's sleeper those are the same thing; with a test's instant sleeper only
//! the second moves, and the waiting runs on it without real time passing.

use std::time::{Duration, Instant};

// The SDK crates re-export the same smithy types; the Lambda crate's names serve
// the ECR client's sleeper too.
use aws_sdk_lambda::config::{AsyncSleep, SharedAsyncSleep};

/// Time passed since it began, on a monotonic clock.
pub struct Timeline {
    start: Instant,
    slept: Duration,
    sleep: SharedAsyncSleep,
}

impl Timeline {
    /// Begins now, sleeping with `sleep` (the SDK client's sleeper).
    pub fn start(sleep: SharedAsyncSleep) -> Timeline {
        Timeline {
            start: Instant::now(),
            slept: Duration::ZERO,
            sleep,
        }
    }

    /// How long since it began.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed().max(self.slept)
    }

    /// Sleeps `duration`.
    pub async fn sleep(&mut self, duration: Duration) {
        self.sleep.sleep(duration).await;
        self.slept = self.elapsed().max(self.slept + duration);
    }
}
