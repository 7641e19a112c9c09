//! The top-level error, the one place that maps failures to exit codes.

use std::error::Error as StdError;
use std::fmt;

use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::manifest::platform::PlatformError;
use crate::reference::ReferenceError;

/// Exit codes: a contract with scripts and CI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// check: accepted as is; fix: the tag is Lambda-ready; deploy: the function runs the image.
    Success = 0,
    /// The image or function cannot be used as asked (reasons printed), or the update failed.
    NotUsable = 1,
    /// Usage error or invalid input.
    Usage = 2,
    /// AWS refused or failed.
    Aws = 3,
    /// The local AWS setup gives no usable credentials (no profile, an expired SSO
    /// session, a failing credential_process, a refused AssumeRole): no call was made.
    Credentials = 4,
    /// Interrupted (Ctrl-C).
    Interrupted = 130,
}

impl ExitCode {
    /// The number the process exits with.
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// What kind of AWS failure it was: decides the hint, never the exit code (always 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist (repository, image, tag, function, alias, version).
    NotFound,
    /// The credentials lack a permission, or are invalid or expired.
    AccessDenied,
    /// AWS kept throttling after the retries.
    Throttled,
    /// Someone else changed the resource (update in progress, revision moved, tag moved).
    Conflict,
    /// The request never got an answer: DNS, connection, TLS.
    Network,
    /// A call timed out: connecting, or waiting for the answer.
    Timeout,
    /// AWS rejected the request as invalid.
    Invalid,
    /// A service quota was reached (ECR's LimitExceededException): retrying does
    /// not help, unlike throttling.
    Quota,
    /// Any other failure of the service.
    Service,
}

/// A failed AWS call, named by operation, with the service's own words and a hint.
#[derive(Debug)]
pub struct AwsError {
    /// The API operation that failed (`PutImage`), as messages and hints name it.
    pub operation: &'static str,
    /// What kind of failure it was.
    pub kind: AwsErrorKind,
    /// The service's own message, or the causes of a failure with no answer.
    pub message: String,
    /// What to do about it, when there is something to say.
    pub hint: Option<String>,
    /// The service's error code (`ImageTagAlreadyExistsException`), when it gave one.
    pub code: Option<String>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: ", self.operation)?;
        if let Some(code) = &self.code {
            write!(f, "{code}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl StdError for AwsError {}

impl AwsError {
    /// An error with no hint and no error code.
    pub fn new(operation: &'static str, kind: AwsErrorKind, message: impl Into<String>) -> Self {
        AwsError {
            operation,
            kind,
            message: message.into(),
            hint: None,
            code: None,
        }
    }

    /// Adds a hint, replacing any default one.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Classifies an SDK error. `typed` looks at the operation's modelled error
    /// variants first; error codes common to every service come next.
    pub fn from_sdk<E>(
        operation: &'static str,
        err: SdkError<E, HttpResponse>,
        typed: impl FnOnce(&E) -> Option<AwsErrorKind>,
    ) -> Self
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let (kind, code, message) = match &err {
            SdkError::ServiceError(ctx) => {
                let e = ctx.err();
                let kind = typed(e).unwrap_or_else(|| kind_of_code(e.code()));
                // The service's own words; an answer without any (a bare 5xx from a
                // proxy, say) is named by its status rather than dumped.
                let message = e.message().map(str::to_owned).unwrap_or_else(|| {
                    format!(
                        "HTTP {} without an error message",
                        ctx.raw().status().as_u16()
                    )
                });
                (kind, e.code().map(str::to_owned), message)
            }
            SdkError::TimeoutError(_) => (AwsErrorKind::Timeout, None, causes(&err)),
            // Only a transport failure is the network's: a dispatch failure is also what
            // the SDK makes of credentials that failed to load or refresh, and of
            // anything else that stopped the request before it was sent.
            SdkError::DispatchFailure(d) => {
                let kind = if d.is_timeout() {
                    AwsErrorKind::Timeout
                } else if d.is_io() {
                    AwsErrorKind::Network
                } else {
                    AwsErrorKind::Service
                };
                (kind, None, causes(&err))
            }
            _ => (
                AwsErrorKind::Service,
                err.code().map(str::to_owned),
                causes(&err),
            ),
        };
        let hint = default_hint(operation, kind);
        AwsError {
            operation,
            kind,
            message,
            hint,
            code,
        }
    }
}

/// An error and its causes, by their `Display` only: the SDK's `Debug` output would
/// dump raw requests and responses.
pub fn causes(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

fn kind_of_code(code: Option<&str>) -> AwsErrorKind {
    match code.unwrap_or("") {
        "AccessDeniedException"
        | "AccessDenied"
        | "UnauthorizedOperation"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "SignatureDoesNotMatch" => AwsErrorKind::AccessDenied,
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => AwsErrorKind::Throttled,
        _ => AwsErrorKind::Service,
    }
}

/// The service an API operation belongs to, as IAM and endpoints name it.
pub fn service_of(operation: &str) -> &'static str {
    match operation {
        "BatchGetImage"
        | "PutImage"
        | "GetDownloadUrlForLayer"
        | "ListImageReferrers"
        | "DescribeImages"
        | "ListImages"
        | "DescribeRepositories"
        | "DescribeImageSigningStatus"
        | "BatchCheckLayerAvailability"
        | "GetLifecyclePolicy"
        | "PutLifecyclePolicy"
        | "StartLifecyclePolicyPreview"
        | "GetLifecyclePolicyPreview"
        | "UpdateImageStorageClass"
        | "BatchDeleteImage" => "ecr",
        "DescribeAlarms" => "cloudwatch",
        "GetCallerIdentity" => "sts",
        _ => "lambda",
    }
}

/// The IAM action that allows an API operation (`lambda:InvokeFunction` for Invoke).
pub fn iam_action(operation: &str) -> String {
    match operation {
        "Invoke" => "lambda:InvokeFunction".to_owned(),
        _ => format!("{}:{operation}", service_of(operation)),
    }
}

fn default_hint(operation: &'static str, kind: AwsErrorKind) -> Option<String> {
    let action = iam_action(operation);
    match kind {
        AwsErrorKind::AccessDenied => Some(format!(
            "the credentials in use lack {action} on this resource, or have expired; check the \
             profile (--profile, AWS_PROFILE) and its IAM policy"
        )),
        AwsErrorKind::Throttled => Some(
            "AWS kept throttling after the retries; try again later, or raise --max-attempts".into(),
        ),
        AwsErrorKind::Quota => Some(
            "a service quota of the account was reached (for ECR, the number of images in a \
             repository, say); this is a limit, not throttling, so more attempts do not help: \
             delete unused images, or request an increase in Service Quotas"
                .into(),
        ),
        AwsErrorKind::Network => Some(
            "no answer from the endpoint: check the network, the region (--region) and --endpoint-url"
                .into(),
        ),
        AwsErrorKind::Timeout => Some(
            "the endpoint did not answer in time; check the network, or raise --read-timeout".into(),
        ),
        _ => None,
    }
}

/// Why a command could not run: bad input, a failed AWS call, or an interruption.
/// An image or function that cannot be used is not an error but a report, with
/// [`ExitCode::NotUsable`] (see [`Outcome`](crate::Outcome)).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The image reference does not parse.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The platform does not parse, or is not one Lambda runs.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// Flags that cannot work together, or a value that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// An AWS call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// No credentials could be had from the user's setup; nothing was called.
    #[error(transparent)]
    Credentials(Box<crate::credentials::NoCredentials>),
    /// The process was interrupted while AWS was still working.
    #[error("{0}")]
    Interrupted(String),
}

impl From<crate::credentials::NoCredentials> for Error {
    fn from(e: crate::credentials::NoCredentials) -> Self {
        Error::Credentials(Box::new(e))
    }
}

impl Error {
    /// The exit code this error calls for: 2 for input, 3 for AWS, 130 for an interruption.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Reference(_) | Error::Platform(_) | Error::Usage(_) => ExitCode::Usage,
            Error::Aws(_) => ExitCode::Aws,
            // A credential service that did not answer is the network's doing, as for
            // any call; everything else is the setup's.
            Error::Credentials(e) if e.problem.is_network() => ExitCode::Aws,
            Error::Credentials(_) => ExitCode::Credentials,
            Error::Interrupted(_) => ExitCode::Interrupted,
        }
    }

    /// What to do about it, for AWS errors that have a hint.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Aws(e) => e.hint.as_deref(),
            Error::Credentials(e) => Some(&e.hint),
            _ => None,
        }
    }

    /// What kind of error it is, as JSON output names it (`kind`).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Reference(_) | Error::Platform(_) | Error::Usage(_) => ErrorKind::Usage,
            Error::Aws(e) => match e.kind {
                AwsErrorKind::NotFound => ErrorKind::NotFound,
                AwsErrorKind::AccessDenied => ErrorKind::AccessDenied,
                AwsErrorKind::Throttled => ErrorKind::Throttled,
                AwsErrorKind::Conflict => ErrorKind::Conflict,
                AwsErrorKind::Network => ErrorKind::Network,
                AwsErrorKind::Timeout => ErrorKind::Timeout,
                AwsErrorKind::Invalid => ErrorKind::InvalidRequest,
                AwsErrorKind::Quota => ErrorKind::QuotaExceeded,
                AwsErrorKind::Service => ErrorKind::Aws,
            },
            Error::Credentials(e) if e.problem.is_network() => ErrorKind::Network,
            Error::Credentials(_) => ErrorKind::Credentials,
            Error::Interrupted(_) => ErrorKind::Interrupted,
        }
    }
}

/// The kinds of errors, as JSON output names them: a stable contract for scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Bad input (exit 2).
    Usage,
    /// A resource does not exist.
    NotFound,
    /// The credentials lack a permission, or are invalid or expired.
    AccessDenied,
    /// Throttled after the retries.
    Throttled,
    /// Someone else changed the resource.
    Conflict,
    /// No answer: DNS, connection, TLS.
    Network,
    /// An answer too late.
    Timeout,
    /// AWS rejected the request as invalid.
    InvalidRequest,
    /// A service quota was reached.
    QuotaExceeded,
    /// Any other failure of the service.
    Aws,
    /// Ctrl-C.
    Interrupted,
    /// The AWS setup (environment, profile, SSO session, credential_process, role)
    /// gives no usable credentials (exit 4).
    Credentials,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::result::ConnectorError;

    fn dispatch(err: ConnectorError) -> AwsError {
        let err: SdkError<aws_sdk_ecr::operation::batch_get_image::BatchGetImageError, _> =
            SdkError::dispatch_failure(err);
        AwsError::from_sdk("BatchGetImage", err, |_| None)
    }

    #[test]
    fn only_a_transport_failure_is_the_networks() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let io = dispatch(ConnectorError::io(Box::new(refused)));
        assert_eq!(io.kind, AwsErrorKind::Network);
        assert!(io.hint.unwrap().contains("check the network"));
        let late = std::io::Error::from(std::io::ErrorKind::TimedOut);
        let timeout = dispatch(ConnectorError::timeout(Box::new(late)));
        assert_eq!(timeout.kind, AwsErrorKind::Timeout);
        // What the SDK makes of credentials that failed to load (or refresh) before
        // the request was sent: a dispatch failure too, but no network's doing.
        let credentials = aws_credential_types::provider::error::CredentialsError::not_loaded(
            "no credentials in the chain",
        );
        let other = dispatch(ConnectorError::other(Box::new(credentials), None));
        assert_eq!(other.kind, AwsErrorKind::Service);
        assert_eq!(other.hint, None);
        assert!(
            other.message.contains("no credentials in the chain"),
            "{}",
            other.message
        );
    }
}
