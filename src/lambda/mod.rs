//! AWS Lambda: what a function runs, updating its code, and waiting for the update.
//! One of the two modules that talk to AWS.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::get_function::{GetFunctionError, GetFunctionOutput};
use aws_sdk_lambda::operation::update_function_code::UpdateFunctionCodeError;
use aws_sdk_lambda::types::{
    LastUpdateStatus, LastUpdateStatusReasonCode, PackageType, State, StateReasonCode,
};

use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind};
use crate::manifest::{FunctionFacts, LambdaArch};

mod invoke;
pub mod pins;
pub mod releases;
mod wait;

pub use invoke::{Invoked, LOG_LINES, invoke};
pub use wait::{POLL_INTERVAL, Waited, wait_settled};

/// A function as given on the command line: a name, an ARN or a partial ARN,
/// without a version or alias (code updates apply to `$LATEST`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionRef {
    /// What is sent to Lambda as `FunctionName`.
    pub id: String,
    /// The region in a full ARN.
    pub region: Option<String>,
}

/// Why a function given on the command line is not a [`FunctionRef`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionRefError {
    /// Neither a valid function name nor a function ARN.
    #[error(
        "function {0:?} is not a valid name or ARN: use a name of 1-64 letters, digits, '-' or '_', \
         or arn:aws:lambda:REGION:ACCOUNT:function:NAME"
    )]
    Invalid(String),
    /// It names a version or an alias; code updates apply to `$LATEST` only.
    #[error(
        "function {0:?} names a version or alias; ecr-lambda updates the function's code ($LATEST), \
         so give the function without a qualifier (use --publish to publish a version)"
    )]
    Qualified(String),
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FromStr for FunctionRef {
    type Err = FunctionRefError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || FunctionRefError::Invalid(s.to_owned());
        let parts: Vec<&str> = s.split(':').collect();
        let (region, name, qualified) = match parts.as_slice() {
            [name] => (None, *name, false),
            [name, _qualifier] if valid_name(name) => (None, *name, true),
            // ACCOUNT:function:NAME[:QUALIFIER]
            [account, "function", name, rest @ ..]
                if account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && rest.len() <= 1 =>
            {
                (None, *name, !rest.is_empty())
            }
            // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
            [
                "arn",
                partition,
                "lambda",
                region,
                account,
                "function",
                name,
                rest @ ..,
            ] if partition.starts_with("aws")
                && !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && rest.len() <= 1 =>
            {
                (Some((*region).to_owned()), *name, !rest.is_empty())
            }
            _ => return Err(invalid()),
        };
        if !valid_name(name) {
            return Err(invalid());
        }
        if qualified {
            return Err(FunctionRefError::Qualified(s.to_owned()));
        }
        Ok(FunctionRef {
            id: s.to_owned(),
            region,
        })
    }
}

impl fmt::Display for FunctionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// What GetFunction says about a function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionState {
    /// The function's name.
    pub name: String,
    /// The function's ARN.
    pub arn: String,
    /// The region in its ARN, else the region it was read in.
    pub region: String,
    /// As Lambda names them (`x86_64`, `arm64`).
    pub architectures: Vec<String>,
    /// It is a container image function (`PackageType: Image`), not a .zip package.
    pub is_image: bool,
    /// The function's image configuration sets EntryPoint or Command.
    pub overrides_command: bool,
    /// `Pending` after CreateFunction, `Active`, `Inactive`, `Failed`, ...
    pub state: Option<State>,
    /// Why it is in that state (`StateReasonCode: StateReason`), when Lambda says.
    pub state_reason: Option<String>,
    /// `StateReasonCode`: whether a Pending function is still being created
    /// (`Creating`) or will not get there (`InsufficientCapacity`, ...).
    pub state_reason_code: Option<StateReasonCode>,
    /// `LastUpdateStatusReasonCode`, likewise for an update in progress.
    pub last_update_reason_code: Option<LastUpdateStatusReasonCode>,
    /// How its last code update went (`LastUpdateStatus`): `InProgress`, `Successful`
    /// or `Failed`.
    pub last_update: Option<LastUpdateStatus>,
    /// Why the last update failed (`LastUpdateStatusReasonCode: LastUpdateStatusReason`).
    pub last_update_reason: Option<String>,
    /// The `RevisionId` it was read at: an update sends it, so that a concurrent change
    /// is refused.
    pub revision_id: Option<String>,
    /// The execution role's ARN: both versions of a weighted alias must have the same.
    pub role: Option<String>,
    /// The dead-letter queue or topic (`DeadLetterConfig.TargetArn`): both versions of
    /// a weighted alias must have the same, or none.
    pub dead_letter_target: Option<String>,
    /// The version this state is of: `$LATEST`, or a published version's number.
    pub version: Option<String>,
    /// The function's own timeout (`Timeout`): how long one invocation may run.
    pub timeout: Option<Duration>,
    /// The image URI its code was given (`Code.ImageUri`), by tag or by digest.
    pub image_uri: Option<String>,
    /// The digest of the image the function runs (or is being updated to).
    pub running_digest: Option<Digest>,
    /// Where it pulls that image from: `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY`.
    pub running_repository: Option<String>,
    /// The capacity provider's ARN of a function on Lambda Managed Instances
    /// (`CapacityProviderConfig`): its `$LATEST` is not invocable, and an unqualified
    /// invocation runs `$LATEST.PUBLISHED`.
    pub capacity_provider: Option<String>,
}

impl FunctionState {
    /// What the [`crate::manifest`] rules need to know of the function; a function that
    /// names no architecture runs on x86_64.
    pub fn facts(&self) -> FunctionFacts {
        // Lambda functions have exactly one architecture; x86_64 when unset.
        let arch = match self.architectures.first() {
            None => Some(LambdaArch::X86_64),
            Some(a) => LambdaArch::from_lambda_name(a),
        };
        FunctionFacts {
            name: self.name.clone(),
            arch,
            is_image: self.is_image,
            region: self.region.clone(),
            overrides_command: self.overrides_command,
        }
    }

    /// Lambda refuses a code update until this is true: the function is no longer
    /// being created (`Pending`) and no earlier update is in progress, or Lambda
    /// already gave a reason why it will not get there (a failure code): waiting
    /// would only reach the timeout.
    pub fn settled(&self) -> bool {
        let creating = self.state == Some(State::Pending)
            && !self
                .state_reason_code
                .as_ref()
                .is_some_and(state_code_fails);
        let updating = self.last_update == Some(LastUpdateStatus::InProgress)
            && !self
                .last_update_reason_code
                .as_ref()
                .is_some_and(update_code_fails);
        !creating && !updating
    }

    /// Why this version cannot take an alias's traffic, when it cannot: only an
    /// `Active` version runs its invocations (an `Inactive` one fails them until
    /// Lambda has made it Active again, a `Failed` one fails them all, and a state
    /// this tool does not know is not trusted). `None` when it is Active.
    pub fn not_invocable(&self) -> Option<String> {
        let active = self.state == Some(State::Active) && self.settled() && !self.failed();
        (!active).then(|| self.status_line())
    }

    /// Lambda says it failed: the state is `Failed`, the last update `Failed`, or a
    /// failure code came with a state still in progress.
    pub fn failed(&self) -> bool {
        self.state == Some(State::Failed)
            || self.last_update == Some(LastUpdateStatus::Failed)
            || self
                .state_reason_code
                .as_ref()
                .is_some_and(state_code_fails)
            || self
                .last_update_reason_code
                .as_ref()
                .is_some_and(update_code_fails)
    }

    /// `REPOSITORY@DIGEST` the function runs, for messages.
    pub fn running(&self) -> String {
        match (&self.running_repository, &self.running_digest) {
            (Some(repository), Some(digest)) => format!("{repository}@{digest}"),
            _ => self
                .image_uri
                .clone()
                .unwrap_or_else(|| "no image".to_owned()),
        }
    }

    /// Whether the function runs (or is being updated to) `digest` from `repository`.
    pub fn runs(&self, repository: &str, digest: &Digest) -> bool {
        self.running_digest.as_ref() == Some(digest)
            && self.running_repository.as_deref() == Some(repository)
    }

    /// What Lambda says the function is doing, for progress and messages.
    pub fn status_line(&self) -> String {
        // A state other than Active says more than the last update's status (a
        // version Failed or Inactive since), and so does its reason.
        let (mut line, reason) = match (&self.state, &self.last_update) {
            (Some(state), _) if *state != State::Active => {
                (state.as_str().to_owned(), self.state_reason.as_ref())
            }
            (_, Some(update)) => (
                update.as_str().to_owned(),
                self.last_update_reason
                    .as_ref()
                    .or(self.state_reason.as_ref()),
            ),
            (Some(state), None) => (state.as_str().to_owned(), self.state_reason.as_ref()),
            (None, None) => ("unknown".to_owned(), self.state_reason.as_ref()),
        };
        if let Some(reason) = reason {
            line.push_str(": ");
            line.push_str(reason);
        }
        line
    }

    fn from_output(out: &GetFunctionOutput, fallback_region: &str) -> FunctionState {
        let config = out.configuration();
        let arn = config
            .and_then(|c| c.function_arn())
            .unwrap_or_default()
            .to_owned();
        // arn:aws:lambda:REGION:ACCOUNT:function:NAME
        let region = arn
            .split(':')
            .nth(3)
            .filter(|r| !r.is_empty())
            .unwrap_or(fallback_region)
            .to_owned();
        let code = out.code();
        // ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY@sha256:HEX
        let resolved = code
            .and_then(|c| c.resolved_image_uri())
            .and_then(|uri| uri.split_once('@'));
        let last_update_reason = update_reason(
            config.and_then(|c| c.last_update_status_reason_code()),
            config.and_then(|c| c.last_update_status_reason()),
        );
        FunctionState {
            name: config
                .and_then(|c| c.function_name())
                .unwrap_or_default()
                .to_owned(),
            arn,
            region,
            architectures: config
                .map(|c| {
                    c.architectures()
                        .iter()
                        .map(|a| a.as_str().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
            is_image: config.and_then(|c| c.package_type()) == Some(&PackageType::Image),
            overrides_command: config
                .and_then(|c| c.image_config_response())
                .and_then(|r| r.image_config())
                .is_some_and(|i| !i.entry_point().is_empty() || !i.command().is_empty()),
            state: config.and_then(|c| c.state()).cloned(),
            state_reason: coded(
                config
                    .and_then(|c| c.state_reason_code())
                    .map(|c| c.as_str()),
                config.and_then(|c| c.state_reason()),
            ),
            state_reason_code: config.and_then(|c| c.state_reason_code()).cloned(),
            last_update_reason_code: config
                .and_then(|c| c.last_update_status_reason_code())
                .cloned(),
            last_update: config.and_then(|c| c.last_update_status()).cloned(),
            last_update_reason,
            revision_id: config.and_then(|c| c.revision_id()).map(str::to_owned),
            role: config.and_then(|c| c.role()).map(str::to_owned),
            dead_letter_target: config
                .and_then(|c| c.dead_letter_config())
                .and_then(|d| d.target_arn())
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            version: config.and_then(|c| c.version()).map(str::to_owned),
            timeout: config
                .and_then(|c| c.timeout())
                .and_then(|t| u64::try_from(t).ok())
                .map(Duration::from_secs),
            image_uri: code.and_then(|c| c.image_uri()).map(str::to_owned),
            running_digest: resolved.and_then(|(_, digest)| digest.parse().ok()),
            running_repository: resolved.map(|(repository, _)| repository.to_owned()),
            capacity_provider: config
                .and_then(|c| c.capacity_provider_config())
                .and_then(|c| c.lambda_managed_instances_capacity_provider_config())
                .map(|c| c.capacity_provider_arn().to_owned()),
        }
    }
}

/// `LastUpdateStatusReasonCode: LastUpdateStatusReason`, or whichever Lambda gave.
fn update_reason(
    code: Option<&LastUpdateStatusReasonCode>,
    reason: Option<&str>,
) -> Option<String> {
    coded(code.map(|c| c.as_str()), reason)
}

/// `CODE: REASON`, or whichever Lambda gave.
fn coded(code: Option<&str>, reason: Option<&str>) -> Option<String> {
    match (code, reason) {
        (Some(code), Some(reason)) => Some(format!("{code}: {reason}")),
        (Some(code), None) => Some(code.to_owned()),
        (None, reason) => reason.map(str::to_owned),
    }
}

/// A `StateReasonCode` that says the function will not become Active by waiting.
/// The codes of a state on its way (`Creating`, `Restoring`), of an idle function
/// (`Idle`) and of a version draining its durable executions are not failures; a
/// code newer than this build is not taken for one either (its state still decides).
fn state_code_fails(code: &StateReasonCode) -> bool {
    StateReasonCode::values().contains(&code.as_str())
        && !matches!(
            code,
            StateReasonCode::Creating
                | StateReasonCode::Restoring
                | StateReasonCode::Idle
                | StateReasonCode::DrainingDurableExecutions
        )
}

/// A `LastUpdateStatusReasonCode` that says the update failed. Every modelled code
/// is a failure; Lambda also sends `Creating` with an update in progress (AWS as
/// recorded), which this SDK does not model: unknown codes are not failures.
fn update_code_fails(code: &LastUpdateStatusReasonCode) -> bool {
    LastUpdateStatusReasonCode::values().contains(&code.as_str())
}

fn get_function_error(
    function: &FunctionRef,
    err: aws_sdk_lambda::error::SdkError<GetFunctionError>,
) -> AwsError {
    let not_found =
        matches!(err.as_service_error(), Some(e) if e.is_resource_not_found_exception());
    let e = AwsError::from_sdk("GetFunction", err, |e| match e {
        GetFunctionError::ResourceNotFoundException(_) => Some(AwsErrorKind::NotFound),
        GetFunctionError::TooManyRequestsException(_) => Some(AwsErrorKind::Throttled),
        GetFunctionError::InvalidParameterValueException(_) => Some(AwsErrorKind::Invalid),
        _ => None,
    });
    if not_found {
        AwsError {
            message: format!("function {function} not found"),
            ..e
        }
        .with_hint("check the function name and the region (--region)")
    } else {
        e
    }
}

/// GetFunction of `$LATEST`. A function that does not exist is an
/// [`AwsErrorKind::NotFound`] error whose hint says to check the name and the region.
pub async fn get_function(
    client: &Client,
    function: &FunctionRef,
    region: &str,
) -> Result<FunctionState, AwsError> {
    get_qualified(client, function, None, region).await
}

/// GetFunction of `$LATEST`, or of a published version (`qualifier`).
pub async fn get_qualified(
    client: &Client,
    function: &FunctionRef,
    qualifier: Option<&str>,
    region: &str,
) -> Result<FunctionState, AwsError> {
    let out = client
        .get_function()
        .function_name(&function.id)
        .set_qualifier(qualifier.map(str::to_owned))
        .send()
        .await
        .map_err(|e| get_function_error(function, e))?;
    Ok(FunctionState::from_output(&out, region))
}

/// The version of a function on Lambda Managed Instances that unqualified invocations
/// run (Lambda Developer Guide, *$LATEST.PUBLISHED version in Lambda Managed
/// Instances*).
pub const LATEST_PUBLISHED: &str = "$LATEST.PUBLISHED";

/// What UpdateFunctionCode publishes along with the new code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Nothing: `$LATEST` runs the new code.
    Nothing,
    /// A new numbered version (`Publish: true`).
    Version,
    /// `$LATEST.PUBLISHED` anew (`Publish: true, PublishTo: LATEST_PUBLISHED`): what
    /// a function on Lambda Managed Instances runs when invoked without a qualifier.
    LatestPublished,
}

impl Publish {
    /// What a code update of `function` publishes: a numbered version when one is
    /// asked for (`--publish`, `--alias`), else `$LATEST.PUBLISHED` for a function on
    /// Lambda Managed Instances (its `$LATEST` is never invoked, so updating it alone
    /// would change nothing that runs), else nothing.
    pub fn for_update(function: &FunctionState, version_wanted: bool) -> Publish {
        if version_wanted {
            Publish::Version
        } else if function.capacity_provider.is_some() {
            Publish::LatestPublished
        } else {
            Publish::Nothing
        }
    }
}

/// What UpdateFunctionCode answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Updated {
    /// `LastUpdateStatus`: `InProgress` while Lambda applies the update, or already
    /// final (`Successful`, `Failed`).
    pub status: Option<LastUpdateStatus>,
    /// With `publish`: the version published.
    pub version: Option<String>,
    /// Why the update failed (`LastUpdateStatusReasonCode: LastUpdateStatusReason`),
    /// when Lambda says.
    pub reason: Option<String>,
}

/// UpdateFunctionCode. A refusal because the function is busy or changed
/// (ResourceConflict, PreconditionFailed) is an [`AwsErrorKind::Conflict`]: the caller
/// reads the function to tell its own update (an answer lost and the retry refused)
/// from someone else's.
pub async fn update_code(
    client: &Client,
    function: &FunctionRef,
    image_uri: &str,
    revision_id: Option<&str>,
    publish: Publish,
) -> Result<Updated, AwsError> {
    let out = client
        .update_function_code()
        .function_name(&function.id)
        .image_uri(image_uri)
        .set_revision_id(revision_id.map(str::to_owned))
        .publish(publish != Publish::Nothing)
        .set_publish_to(
            (publish == Publish::LatestPublished)
                .then_some(aws_sdk_lambda::types::FunctionVersionLatestPublished::LatestPublished),
        )
        .send()
        .await
        .map_err(|err| {
            AwsError::from_sdk("UpdateFunctionCode", err, |e| match e {
                UpdateFunctionCodeError::ResourceNotFoundException(_) => {
                    Some(AwsErrorKind::NotFound)
                }
                UpdateFunctionCodeError::ResourceConflictException(_)
                | UpdateFunctionCodeError::PreconditionFailedException(_) => {
                    Some(AwsErrorKind::Conflict)
                }
                UpdateFunctionCodeError::TooManyRequestsException(_) => {
                    Some(AwsErrorKind::Throttled)
                }
                UpdateFunctionCodeError::InvalidParameterValueException(_) => {
                    Some(AwsErrorKind::Invalid)
                }
                _ => None,
            })
        })?;
    Ok(Updated {
        status: out.last_update_status().cloned(),
        version: out.version().filter(|v| *v != "$LATEST").map(str::to_owned),
        reason: update_reason(
            out.last_update_status_reason_code(),
            out.last_update_status_reason(),
        ),
    })
}

/// The image functions of the region (ListFunctions, all pages): name and ARN.
pub async fn list_image_functions(client: &Client) -> Result<Vec<String>, AwsError> {
    let mut pages = client.list_functions().into_paginator().send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("ListFunctions", e, |_| None))?;
        names.extend(
            page.functions()
                .iter()
                .filter(|f| f.package_type() == Some(&PackageType::Image))
                .filter_map(|f| f.function_name())
                .map(str::to_owned),
        );
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_references() {
        let ok = |s: &str| s.parse::<FunctionRef>().unwrap();
        assert_eq!(ok("my-fn").region, None);
        assert_eq!(
            ok("arn:aws:lambda:eu-west-1:123456789012:function:my-fn")
                .region
                .as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            ok("123456789012:function:my_fn").id,
            "123456789012:function:my_fn"
        );

        for bad in [
            "",
            "my fn",
            &"x".repeat(65),
            "arn:aws:s3:::bucket",
            "arn:aws:lambda:eu-west-1:123:function:f",
        ] {
            assert!(
                matches!(
                    bad.parse::<FunctionRef>(),
                    Err(FunctionRefError::Invalid(_))
                ),
                "{bad}"
            );
        }
        for qualified in [
            "my-fn:3",
            "my-fn:live",
            "arn:aws:lambda:eu-west-1:123456789012:function:f:1",
        ] {
            assert!(
                matches!(
                    qualified.parse::<FunctionRef>(),
                    Err(FunctionRefError::Qualified(_))
                ),
                "{qualified}"
            );
        }
    }
}
