//! What ECR keeps: images' storage state and tags (DescribeImages), the lifecycle
//! policy and ECR's own preview of it, restoring archived images, and untagging.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::AsyncSleep;
use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::operation::get_lifecycle_policy::GetLifecyclePolicyError;
use aws_sdk_ecr::operation::get_lifecycle_policy_preview::GetLifecyclePolicyPreviewError;
use aws_sdk_ecr::operation::start_lifecycle_policy_preview::StartLifecyclePolicyPreviewError;
use aws_sdk_ecr::operation::update_image_storage_class::UpdateImageStorageClassError;
use aws_sdk_ecr::primitives::{DateTime, DateTimeFormat};
use aws_sdk_ecr::types::{
    DescribeImagesFilter, ImageActionType, ImageIdentifier, ImageStatus, ImageStatusFilter,
    LifecyclePolicyPreviewStatus, TargetStorageClass,
};

use super::{Repository, repository_not_found};
use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind};
use crate::retention::{ImageState, PreviewHit, RuleAction};

/// DescribeImages takes at most this many `imageIds`.
pub const MAX_IDS: usize = 100;

/// What DescribeImages says of an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    /// Its tags.
    pub tags: Vec<String>,
    /// ACTIVE, ARCHIVED or ACTIVATING (an image ECR names no status for is ACTIVE:
    /// the status came with the archive storage class).
    pub state: ImageState,
    /// When it was pushed (RFC 3339).
    pub pushed_at: Option<String>,
    /// When it was last pulled, as ECR recorded (RFC 3339).
    pub last_pull: Option<String>,
    /// Its manifest's media type.
    pub media_type: Option<String>,
}

fn time(t: Option<&DateTime>) -> Option<String> {
    t.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok())
}

fn state(status: Option<&ImageStatus>) -> ImageState {
    match status {
        Some(ImageStatus::Archived) => ImageState::Archived,
        Some(ImageStatus::Activating) => ImageState::Activating,
        _ => ImageState::Active,
    }
}

/// One DescribeImages of at most [`MAX_IDS`] digests, every storage state included.
/// `Ok(None)`: ECR refused the call because one of them is not there.
async fn describe_once(
    client: &Client,
    repo: &Repository,
    digests: &[Digest],
) -> Result<Option<BTreeMap<Digest, ImageFacts>>, AwsError> {
    let ids = digests
        .iter()
        .map(|d| ImageIdentifier::builder().image_digest(d.as_str()).build())
        .collect();
    let out = client
        .describe_images()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .set_image_ids(Some(ids))
        // Without it ECR lists ACTIVE images only, and an archived one would look deleted.
        .filter(
            DescribeImagesFilter::builder()
                .image_status(ImageStatusFilter::Any)
                .build(),
        )
        .send()
        .await;
    let out = match out {
        Ok(out) => out,
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(DescribeImagesError::ImageNotFoundException(_))
            ) =>
        {
            return Ok(None);
        }
        Err(err) => {
            let not_found =
                matches!(err.as_service_error(), Some(e) if e.is_repository_not_found_exception());
            let e = AwsError::from_sdk("DescribeImages", err, |e| match e {
                DescribeImagesError::RepositoryNotFoundException(_) => Some(AwsErrorKind::NotFound),
                DescribeImagesError::InvalidParameterException(_) => Some(AwsErrorKind::Invalid),
                _ => None,
            });
            return Err(if not_found {
                repository_not_found(e, repo)
            } else {
                e
            });
        }
    };
    let mut found = BTreeMap::new();
    for detail in out.image_details() {
        let Some(Ok(digest)) = detail.image_digest().map(str::parse::<Digest>) else {
            continue;
        };
        found.insert(
            digest,
            ImageFacts {
                tags: detail.image_tags().to_vec(),
                state: state(detail.image_status()),
                pushed_at: time(detail.image_pushed_at()),
                last_pull: time(detail.last_recorded_pull_time()),
                media_type: detail.image_manifest_media_type().map(str::to_owned),
            },
        );
    }
    Ok(Some(found))
}

/// DescribeImages of `digests`, [`MAX_IDS`] a call; a digest ECR does not have is
/// left out. ECR refuses a whole call when one image is missing
/// (ImageNotFoundException), so such a call is split in halves until the missing
/// ones are found: a deleted image costs about 2·log2(100) calls more.
pub async fn describe(
    client: &Client,
    repo: &Repository,
    digests: &[Digest],
) -> Result<BTreeMap<Digest, ImageFacts>, AwsError> {
    let mut found = BTreeMap::new();
    let mut todo: Vec<&[Digest]> = digests.chunks(MAX_IDS).collect();
    while let Some(batch) = todo.pop() {
        match describe_once(client, repo, batch).await? {
            Some(facts) => found.extend(facts),
            None if batch.len() > 1 => {
                let (a, b) = batch.split_at(batch.len() / 2);
                todo.push(a);
                todo.push(b);
            }
            None => {}
        }
    }
    Ok(found)
}

/// The repository's lifecycle policy text (GetLifecyclePolicy); `None` without one.
pub async fn lifecycle_policy(
    client: &Client,
    repo: &Repository,
) -> Result<Option<String>, AwsError> {
    match client
        .get_lifecycle_policy()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .send()
        .await
    {
        Ok(out) => Ok(out.lifecycle_policy_text().map(str::to_owned)),
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(GetLifecyclePolicyError::LifecyclePolicyNotFoundException(_))
            ) =>
        {
            Ok(None)
        }
        Err(err) => {
            let not_found =
                matches!(err.as_service_error(), Some(e) if e.is_repository_not_found_exception());
            let e = AwsError::from_sdk("GetLifecyclePolicy", err, |e| match e {
                GetLifecyclePolicyError::RepositoryNotFoundException(_) => {
                    Some(AwsErrorKind::NotFound)
                }
                _ => None,
            });
            Err(if not_found {
                repository_not_found(e, repo)
            } else {
                e
            })
        }
    }
}

/// PutLifecyclePolicy: the whole text, as the caller made it.
pub async fn put_lifecycle_policy(
    client: &Client,
    repo: &Repository,
    text: &str,
) -> Result<(), AwsError> {
    client
        .put_lifecycle_policy()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .lifecycle_policy_text(text)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("PutLifecyclePolicy", e, |_| None))
}

/// What ECR's preview of the policy found: every image a rule would act on now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    /// By digest: the rule and its action.
    pub hits: BTreeMap<Digest, PreviewHit>,
    /// How many status reads it took.
    pub polls: u32,
}

fn preview_error(operation: &'static str, kind: AwsErrorKind, message: String) -> AwsError {
    AwsError::new(operation, kind, message)
}

/// StartLifecyclePolicyPreview of the repository's own policy, then
/// GetLifecyclePolicyPreview once a second until COMPLETE, then its pages; all
/// within `timeout` (a preview still IN_PROGRESS then is an error: nothing can be
/// said of the policy). FAILED and EXPIRED are errors too.
pub async fn preview(
    client: &Client,
    repo: &Repository,
    timeout: Duration,
) -> Result<Preview, AwsError> {
    let config = client.config();
    let (Some(clock), Some(sleep)) = (config.time_source(), config.sleep_impl()) else {
        return Err(preview_error(
            "GetLifecyclePolicyPreview",
            AwsErrorKind::Service,
            "the ECR client has no clock to wait with".into(),
        ));
    };
    let start = clock.now();
    client
        .start_lifecycle_policy_preview()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk("StartLifecyclePolicyPreview", e, |e| match e {
                StartLifecyclePolicyPreviewError::LifecyclePolicyPreviewInProgressException(_) => {
                    Some(AwsErrorKind::Conflict)
                }
                StartLifecyclePolicyPreviewError::RepositoryNotFoundException(_)
                | StartLifecyclePolicyPreviewError::LifecyclePolicyNotFoundException(_) => {
                    Some(AwsErrorKind::NotFound)
                }
                _ => None,
            })
        })?;
    let mut preview = Preview::default();
    let mut next_token: Option<String> = None;
    loop {
        let out = client
            .get_lifecycle_policy_preview()
            .set_registry_id(repo.registry_id.clone())
            .repository_name(&repo.name)
            .set_next_token(next_token.clone())
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk("GetLifecyclePolicyPreview", e, |e| match e {
                    GetLifecyclePolicyPreviewError::LifecyclePolicyPreviewNotFoundException(_)
                    | GetLifecyclePolicyPreviewError::RepositoryNotFoundException(_) => {
                        Some(AwsErrorKind::NotFound)
                    }
                    _ => None,
                })
            })?;
        preview.polls += 1;
        match out.status() {
            Some(LifecyclePolicyPreviewStatus::Complete) => {}
            Some(LifecyclePolicyPreviewStatus::InProgress) | None => {
                let waited = clock.now().duration_since(start).unwrap_or_default();
                if waited >= timeout {
                    return Err(preview_error(
                        "GetLifecyclePolicyPreview",
                        AwsErrorKind::Timeout,
                        format!(
                            "the lifecycle policy preview of {} was still IN_PROGRESS after {} s",
                            repo.name,
                            waited.as_secs()
                        ),
                    )
                    .with_hint("raise --wait-timeout, or run the command again later"));
                }
                sleep
                    .sleep(Duration::from_secs(1).min(timeout - waited))
                    .await;
                continue;
            }
            Some(other) => {
                return Err(preview_error(
                    "GetLifecyclePolicyPreview",
                    AwsErrorKind::Service,
                    format!(
                        "the lifecycle policy preview of {} ended {}",
                        repo.name,
                        other.as_str()
                    ),
                )
                .with_hint(
                    "run the command again; an EXPIRED preview is one ECR no longer keeps",
                ));
            }
        }
        for result in out.preview_results() {
            let Some(Ok(digest)) = result.image_digest().map(str::parse::<Digest>) else {
                continue;
            };
            let action = match result.action().and_then(|a| a.r#type()) {
                Some(ImageActionType::Transition) => RuleAction::Transition,
                _ => RuleAction::Expire,
            };
            preview.hits.insert(
                digest,
                PreviewHit {
                    rule_priority: result.applied_rule_priority().unwrap_or_default(),
                    action,
                },
            );
        }
        next_token = out.next_token().map(str::to_owned);
        if next_token.is_none() {
            return Ok(preview);
        }
    }
}

/// UpdateImageStorageClass to STANDARD: restore an archived image.
pub async fn restore(client: &Client, repo: &Repository, digest: &Digest) -> Result<(), AwsError> {
    client
        .update_image_storage_class()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .image_id(
            ImageIdentifier::builder()
                .image_digest(digest.as_str())
                .build(),
        )
        .target_storage_class(TargetStorageClass::Standard)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            AwsError::from_sdk("UpdateImageStorageClass", e, |e| match e {
                UpdateImageStorageClassError::ImageNotFoundException(_)
                | UpdateImageStorageClassError::RepositoryNotFoundException(_) => {
                    Some(AwsErrorKind::NotFound)
                }
                UpdateImageStorageClassError::ImageStorageClassUpdateNotSupportedException(_)
                | UpdateImageStorageClassError::InvalidParameterException(_) => {
                    Some(AwsErrorKind::Invalid)
                }
                _ => None,
            })
        })
}

/// BatchDeleteImage by tag: removes these tags (ECR deletes an image with its last
/// tag). Tags ECR did not find are not an error.
pub async fn untag(client: &Client, repo: &Repository, tags: &[String]) -> Result<(), AwsError> {
    for batch in tags.chunks(MAX_IDS) {
        client
            .batch_delete_image()
            .set_registry_id(repo.registry_id.clone())
            .repository_name(&repo.name)
            .set_image_ids(Some(
                batch
                    .iter()
                    .map(|t| ImageIdentifier::builder().image_tag(t).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("BatchDeleteImage", e, |_| None))?;
    }
    Ok(())
}
