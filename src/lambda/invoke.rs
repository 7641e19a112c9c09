//! The probe of a gradual release: one synchronous Invoke of the new version.

use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::invoke::InvokeError;
use aws_sdk_lambda::types::{InvocationType, LogType};
use aws_smithy_types::Blob;

use super::FunctionRef;
use crate::error::{AwsError, AwsErrorKind};

/// How many of the log tail's last lines a report keeps.
pub const LOG_LINES: usize = 10;

/// What one Invoke of a version answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoked {
    /// The HTTP status: 200 when the function ran (even when it failed: see
    /// `function_error`); 300 or more when Lambda could not run it.
    pub status: u16,
    /// `X-Amz-Function-Error` (`Handled`, `Unhandled`), or the error code Lambda
    /// answered with when it could not run the function (`InvalidRuntimeException`).
    pub function_error: Option<String>,
    /// The error's `errorType`, from the function's payload or Lambda's error.
    pub error_type: Option<String>,
    /// The error's `errorMessage`, from the function's payload or Lambda's error.
    pub error_message: Option<String>,
    /// The last `LOG_LINES` lines of the log tail (`LogType=Tail`: up to 4 KB).
    pub log_tail: Vec<String>,
}

impl Invoked {
    /// The function ran and did not fail.
    pub fn passed(&self) -> bool {
        self.function_error.is_none() && self.status < 300
    }
}

/// Errors that say the version cannot run (its runtime, network, storage, keys or
/// image), as opposed to AWS refusing or failing the call: the probe fails on these.
fn the_functions_fault(e: &InvokeError) -> bool {
    use InvokeError::*;
    matches!(
        e,
        CodeArtifactUserDeletedException(_)
            | CodeArtifactUserFailedException(_)
            | CodeArtifactUserPendingException(_)
            | Ec2AccessDeniedException(_)
            | Ec2ThrottledException(_)
            | Ec2UnexpectedException(_)
            | EfsioException(_)
            | EfsMountConnectivityException(_)
            | EfsMountFailureException(_)
            | EfsMountTimeoutException(_)
            | EniLimitReachedException(_)
            | InvalidRuntimeException(_)
            | InvalidSecurityGroupIdException(_)
            | InvalidSubnetIdException(_)
            | InvalidZipFileException(_)
            | KmsAccessDeniedException(_)
            | KmsDisabledException(_)
            | KmsInvalidStateException(_)
            | KmsNotFoundException(_)
            | RecursiveInvocationException(_)
            | ResourceNotReadyException(_)
            | S3FilesMountConnectivityException(_)
            | S3FilesMountFailureException(_)
            | S3FilesMountTimeoutException(_)
            | SnapStartException(_)
            | SnapStartNotReadyException(_)
            | SnapStartRegenerationFailureException(_)
            | SnapStartTimeoutException(_)
            | SubnetIpAddressLimitReachedException(_)
    )
}

/// Invokes `version` of the function once, synchronously, with the log tail. A
/// failure of the function is an [`Invoked`] that did not pass; AWS refusing the call
/// (access, throttling, a busy function) is an error.
///
/// A synchronous Invoke answers only when the function returns, so it gets its own
/// time limit (`runs_for`: the function's own timeout, plus a margin) instead of the
/// client's, and exactly one attempt: a retry would run the function again.
pub async fn invoke(
    client: &Client,
    function: &FunctionRef,
    version: &str,
    payload: &[u8],
    runs_for: Duration,
) -> Result<Invoked, AwsError> {
    let limit = runs_for + Duration::from_secs(30);
    let answer = client
        .invoke()
        .function_name(&function.id)
        .qualifier(version)
        .invocation_type(InvocationType::RequestResponse)
        .log_type(LogType::Tail)
        .payload(Blob::new(payload))
        .customize()
        .config_override(
            aws_sdk_lambda::config::Builder::default()
                .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
                .timeout_config(
                    aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
                        .read_timeout(limit)
                        .operation_attempt_timeout(limit)
                        .operation_timeout(limit)
                        .build(),
                ),
        )
        .send()
        .await;
    let out = match answer {
        Ok(out) => out,
        Err(err) => {
            if let Some((e, status)) = err
                .as_service_error()
                .zip(err.raw_response().map(|r| r.status().as_u16()))
                .filter(|(e, _)| the_functions_fault(e))
            {
                let code = aws_sdk_lambda::error::ProvideErrorMetadata::code(e).map(str::to_owned);
                let message =
                    aws_sdk_lambda::error::ProvideErrorMetadata::message(e).map(str::to_owned);
                return Ok(Invoked {
                    status,
                    function_error: code.clone(),
                    error_type: code,
                    error_message: message,
                    log_tail: Vec::new(),
                });
            }
            return Err(AwsError::from_sdk("Invoke", err, |e| match e {
                InvokeError::ResourceNotFoundException(_) => Some(AwsErrorKind::NotFound),
                InvokeError::ResourceConflictException(_) => Some(AwsErrorKind::Conflict),
                InvokeError::TooManyRequestsException(_) => Some(AwsErrorKind::Throttled),
                InvokeError::InvalidParameterValueException(_)
                | InvokeError::InvalidRequestContentException(_)
                | InvokeError::RequestTooLargeException(_)
                | InvokeError::UnsupportedMediaTypeException(_) => Some(AwsErrorKind::Invalid),
                _ => None,
            }));
        }
    };
    let function_error = out.function_error().map(str::to_owned);
    // A failed function's payload is Lambda's error document:
    // {"errorType": "...", "errorMessage": "...", "stackTrace": [...]}.
    let document: Option<serde_json::Value> = function_error
        .as_ref()
        .and(out.payload())
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok());
    let field = |name: &str| {
        document
            .as_ref()
            .and_then(|d| d.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    Ok(Invoked {
        status: u16::try_from(out.status_code()).unwrap_or(u16::MAX),
        error_type: field("errorType"),
        error_message: field("errorMessage"),
        function_error,
        log_tail: out.log_result().map(log_tail).unwrap_or_default(),
    })
}

/// The last [`LOG_LINES`] lines of a base64 log tail; nothing when it does not decode.
fn log_tail(encoded: &str) -> Vec<String> {
    let Ok(bytes) = aws_smithy_types::base64::decode(encoded) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LOG_LINES)..]
        .iter()
        .map(|l| (*l).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_tail_keeps_the_last_lines() {
        let log: String = (1..=15).map(|i| format!("line {i}\n")).collect();
        let tail = log_tail(&aws_smithy_types::base64::encode(log.as_bytes()));
        assert_eq!(tail.len(), LOG_LINES);
        assert_eq!(tail[0], "line 6");
        assert_eq!(tail[9], "line 15");
        assert!(log_tail("not base64!").is_empty());
    }
}
