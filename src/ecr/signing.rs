//! ECR managed signing (AWS Signer, since 2025-11): what DescribeImageSigningStatus
//! says of an image, per signing profile.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::operation::describe_image_signing_status::DescribeImageSigningStatusError;
use aws_sdk_ecr::types::{ImageIdentifier, SigningStatus};
use serde::Serialize;

use super::Repository;
use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind};

/// Where signing stands for one signing profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// Signing is under way.
    InProgress,
    /// The signature was made.
    Complete,
    /// Signing failed (`failure_code`, `failure_reason`).
    Failed,
    /// A status this version does not know.
    Unknown,
}

/// The signing status of an image for one signing profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ProfileStatus {
    /// The AWS Signer signing profile.
    pub signing_profile_arn: Option<String>,
    /// Where signing stands.
    pub status: State,
    /// ECR's failure code, when `FAILED`.
    pub failure_code: Option<String>,
    /// ECR's reason, when `FAILED`.
    pub failure_reason: Option<String>,
}

/// DescribeImageSigningStatus of the image `digest`: one status per signing profile
/// whose rule matched it (none: ECR did not sign it).
pub async fn status(
    client: &Client,
    repo: &Repository,
    digest: &Digest,
) -> Result<Vec<ProfileStatus>, AwsError> {
    let answer = client
        .describe_image_signing_status()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .image_id(
            ImageIdentifier::builder()
                .image_digest(digest.as_str())
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk("DescribeImageSigningStatus", e, |e| match e {
                DescribeImageSigningStatusError::ImageNotFoundException(_)
                | DescribeImageSigningStatusError::RepositoryNotFoundException(_) => {
                    Some(AwsErrorKind::NotFound)
                }
                DescribeImageSigningStatusError::InvalidParameterException(_)
                | DescribeImageSigningStatusError::ValidationException(_) => {
                    Some(AwsErrorKind::Invalid)
                }
                _ => None,
            })
        })?;
    Ok(answer
        .signing_statuses()
        .iter()
        .map(|s| ProfileStatus {
            signing_profile_arn: s.signing_profile_arn().map(str::to_owned),
            status: match s.status() {
                Some(SigningStatus::InProgress) => State::InProgress,
                Some(SigningStatus::Complete) => State::Complete,
                Some(SigningStatus::Failed) => State::Failed,
                _ => State::Unknown,
            },
            failure_code: s.failure_code().map(str::to_owned),
            failure_reason: s.failure_reason().map(str::to_owned),
        })
        .collect())
}
