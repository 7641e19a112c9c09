//! Counting the AWS calls a run makes: every HTTP attempt, by operation, through
//! an SDK interceptor on both clients. `-v` ends with the tally.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ecr::config::ConfigBag;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

/// A shared tally of AWS calls; clones count into the same tally.
#[derive(Clone, Debug)]
pub struct CallStats {
    started: Instant,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Default for CallStats {
    fn default() -> Self {
        CallStats {
            started: Instant::now(),
            counts: Arc::default(),
        }
    }
}

impl CallStats {
    /// Calls made so far, by operation; blob GETs as `GetBlob`.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.counts
            .lock()
            .expect("no panics while counting")
            .clone()
    }

    /// Counts one GET of a pre-signed blob URL (S3, behind ECR): not an SDK call, so
    /// no interceptor sees it. `GetBlob` in the tally.
    pub fn count_blob_get(&self) {
        self.count("GetBlob");
    }

    fn count(&self, operation: &str) {
        *self
            .counts
            .lock()
            .expect("no panics while counting")
            .entry(operation.to_owned())
            .or_insert(0) += 1;
    }

    /// Time since the tally was created.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl fmt::Display for CallStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.counts();
        let by_operation: Vec<String> = counts.iter().map(|(op, n)| format!("{op} {n}")).collect();
        write!(
            f,
            "{} AWS call(s) in {:.3} s",
            counts.values().sum::<usize>(),
            self.elapsed().as_secs_f64()
        )?;
        if !by_operation.is_empty() {
            write!(f, " ({})", by_operation.join(", "))?;
        }
        Ok(())
    }
}

impl Intercept for CallStats {
    fn name(&self) -> &'static str {
        "ecr-lambda call counter"
    }

    // Once per attempt, just before the request goes out: retries count too.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or_else(|| "unknown".to_owned(), |m| m.name().to_owned());
        self.count(&operation);
        Ok(())
    }
}
