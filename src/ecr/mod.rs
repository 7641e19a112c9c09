//! Amazon ECR: reading manifests as exact bytes, and writing one back. One of the
//! two modules that talk to AWS.

use std::collections::BTreeMap;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::operation::batch_get_image::BatchGetImageError;
use aws_sdk_ecr::operation::put_image::PutImageError;
use aws_sdk_ecr::types::{Image, ImageFailureCode, ImageIdentifier};

use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind};
use crate::manifest::RawManifest;
use crate::manifest::media_type;

pub mod blob;
pub mod retention;
pub mod signing;
use crate::reference::Selector;

/// A repository, as the calls address it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// `None`: the caller's default registry.
    pub registry_id: Option<String>,
    /// The repository name, `team/app` say.
    pub name: String,
    /// Only for messages: where the repository was looked for.
    pub region: String,
}

/// The manifest a reference resolved to.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The manifest, its bytes exactly as ECR returned them.
    pub manifest: RawManifest,
    /// The registry (account) that holds it, as ECR reported.
    pub registry_id: Option<String>,
}

fn image_id(selector: &Selector) -> ImageIdentifier {
    match selector {
        Selector::Tag(tag) => ImageIdentifier::builder().image_tag(tag).build(),
        Selector::Digest(digest) => ImageIdentifier::builder()
            .image_digest(digest.as_str())
            .build(),
    }
}

fn batch_get_error(
    repo: &Repository,
    err: aws_sdk_ecr::error::SdkError<BatchGetImageError>,
) -> AwsError {
    let not_found =
        matches!(err.as_service_error(), Some(e) if e.is_repository_not_found_exception());
    let e = AwsError::from_sdk("BatchGetImage", err, |e| match e {
        BatchGetImageError::RepositoryNotFoundException(_) => Some(AwsErrorKind::NotFound),
        BatchGetImageError::InvalidParameterException(_) => Some(AwsErrorKind::Invalid),
        BatchGetImageError::LimitExceededException(_) => Some(AwsErrorKind::Quota),
        _ => None,
    });
    if not_found {
        repository_not_found(e, repo)
    } else {
        e
    }
}

fn repository_not_found(mut e: AwsError, repo: &Repository) -> AwsError {
    e.message = format!(
        "repository {} does not exist in {} ({})",
        repo.name,
        repo.registry_id
            .as_deref()
            .unwrap_or("the default registry"),
        repo.region
    );
    e.with_hint(
        "check the repository name and the region (--region, or the region in the image URI)",
    )
}

fn raw_manifest(image: &Image, operation: &'static str) -> Result<RawManifest, AwsError> {
    let invalid = |what: &str| {
        AwsError::new(
            operation,
            AwsErrorKind::Service,
            format!("ECR returned {what}"),
        )
    };
    let bytes = image
        .image_manifest()
        .ok_or_else(|| invalid("an image without a manifest"))?;
    let digest: Digest = image
        .image_id()
        .and_then(|id| id.image_digest())
        .ok_or_else(|| invalid("an image without a digest"))?
        .parse()
        .map_err(|_| invalid("an image with a malformed digest"))?;
    Ok(RawManifest::new(
        bytes.to_owned(),
        digest,
        image
            .image_manifest_media_type()
            .unwrap_or_default()
            .to_owned(),
    ))
}

fn failure_error(
    repo: &Repository,
    what: &str,
    code: Option<&ImageFailureCode>,
    reason: Option<&str>,
) -> AwsError {
    let reason = reason.unwrap_or("no reason given");
    match code {
        Some(ImageFailureCode::ImageNotFound)
        | Some(ImageFailureCode::ImageTagDoesNotMatchDigest) => AwsError::new(
            "BatchGetImage",
            AwsErrorKind::NotFound,
            format!(
                "{what} not found in repository {} ({})",
                repo.name, repo.region
            ),
        )
        .with_hint(
            "list what the repository holds with `aws ecr list-images --repository-name ...`",
        ),
        Some(code) => AwsError {
            code: Some(code.as_str().to_owned()),
            ..AwsError::new(
                "BatchGetImage",
                AwsErrorKind::Service,
                format!("{what}: {reason}"),
            )
        },
        None => AwsError::new(
            "BatchGetImage",
            AwsErrorKind::Service,
            format!("{what}: {reason}"),
        ),
    }
}

/// One BatchGetImage, every manifest media type accepted so ECR never converts what
/// it returns.
async fn batch_get(
    client: &Client,
    repo: &Repository,
    ids: Vec<ImageIdentifier>,
) -> Result<aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput, AwsError> {
    client
        .batch_get_image()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .set_image_ids(Some(ids))
        .set_accepted_media_types(Some(media_type::ACCEPTED.map(String::from).to_vec()))
        .send()
        .await
        .map_err(|e| batch_get_error(repo, e))
}

/// Reads the manifest a tag or digest names.
pub async fn read(
    client: &Client,
    repo: &Repository,
    selector: &Selector,
) -> Result<Resolved, AwsError> {
    let out = batch_get(client, repo, vec![image_id(selector)]).await?;

    let what = match selector {
        Selector::Tag(tag) => format!("tag {tag}"),
        Selector::Digest(digest) => format!("image {digest}"),
    };
    // With a digest, take the image that has it; with a tag, ECR answers with one
    // image (its echoed tag is not trusted).
    let image = out.images().iter().find(|image| match selector {
        Selector::Digest(d) => {
            image.image_id().and_then(|id| id.image_digest()) == Some(d.as_str())
        }
        Selector::Tag(_) => image.image_manifest().is_some(),
    });
    match image {
        Some(image) => Ok(Resolved {
            manifest: raw_manifest(image, "BatchGetImage")?,
            registry_id: image
                .registry_id()
                .map(str::to_owned)
                .or_else(|| repo.registry_id.clone()),
        }),
        None => {
            let failure = out.failures().first();
            Err(failure_error(
                repo,
                &what,
                failure.and_then(|f| f.failure_code()),
                failure.and_then(|f| f.failure_reason()),
            ))
        }
    }
}

/// Reads several manifests by digest in one BatchGetImage (ECR takes up to 100 ids).
/// Manifests ECR does not have are left out of the map.
pub async fn read_by_digest(
    client: &Client,
    repo: &Repository,
    digests: &[Digest],
) -> Result<BTreeMap<Digest, RawManifest>, AwsError> {
    let mut found = BTreeMap::new();
    if digests.is_empty() {
        return Ok(found);
    }
    debug_assert!(
        digests.len() <= 100,
        "callers ask for at most 100 manifests (read_many)"
    );
    let ids = digests
        .iter()
        .map(|d| ImageIdentifier::builder().image_digest(d.as_str()).build())
        .collect();
    let out = batch_get(client, repo, ids).await?;
    // A manifest ECR does not have is simply absent; one it could not serve (KMS,
    // access, upstream) is an AWS failure, not a property of the image.
    if let Some(failure) = out
        .failures()
        .iter()
        .find(|f| f.failure_code() != Some(&ImageFailureCode::ImageNotFound))
    {
        let what = failure
            .image_id()
            .and_then(|id| id.image_digest())
            .map_or_else(|| "an image".to_owned(), |d| format!("image {d}"));
        return Err(failure_error(
            repo,
            &what,
            failure.failure_code(),
            failure.failure_reason(),
        ));
    }
    for image in out.images() {
        let manifest = raw_manifest(image, "BatchGetImage")?;
        if digests.contains(manifest.digest()) {
            found.insert(manifest.digest().clone(), manifest);
        }
    }
    Ok(found)
}

/// What PutImage did with a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The tag now names the manifest.
    Written,
    /// ECR already had this manifest under this tag: nothing to do.
    AlreadyThere,
    /// The tag exists, names something else, and the repository does not let it move.
    TagImmutable,
}

/// Writes `manifest` (its exact bytes) under `tag`, or untagged when `tag` is `None`.
/// The digest is always sent, so ECR refuses bytes that are not what was verified.
pub async fn put(
    client: &Client,
    repo: &Repository,
    tag: Option<&str>,
    manifest: &RawManifest,
) -> Result<PutOutcome, AwsError> {
    let result = client
        .put_image()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .image_manifest(manifest.bytes())
        .image_manifest_media_type(manifest.media_type())
        .image_digest(manifest.digest().as_str())
        .set_image_tag(tag.map(str::to_owned))
        .send()
        .await;
    let err = match result {
        Ok(_) => return Ok(PutOutcome::Written),
        Err(err) => err,
    };
    match err.as_service_error() {
        Some(PutImageError::ImageAlreadyExistsException(_)) => return Ok(PutOutcome::AlreadyThere),
        Some(PutImageError::ImageTagAlreadyExistsException(_)) => {
            return Ok(PutOutcome::TagImmutable);
        }
        _ => {}
    }
    let not_found =
        matches!(err.as_service_error(), Some(e) if e.is_repository_not_found_exception());
    let e = AwsError::from_sdk("PutImage", err, |e| match e {
        PutImageError::RepositoryNotFoundException(_)
        | PutImageError::LayersNotFoundException(_)
        | PutImageError::ReferencedImagesNotFoundException(_) => Some(AwsErrorKind::NotFound),
        PutImageError::ImageDigestDoesNotMatchException(_)
        | PutImageError::InvalidParameterException(_) => Some(AwsErrorKind::Invalid),
        PutImageError::LimitExceededException(_) => Some(AwsErrorKind::Quota),
        _ => None,
    });
    Err(if not_found {
        repository_not_found(e, repo)
    } else {
        e
    })
}

/// A tagged image as DescribeImages lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// The registry (account) that holds it, as ECR reported.
    pub registry_id: Option<String>,
    /// The manifest's digest.
    pub digest: Digest,
    /// Its tags; only tagged images are listed.
    pub tags: Vec<String>,
    /// The manifest's media type (empty if ECR gave none).
    pub media_type: String,
    /// The config's media type: what kind of artifact a single manifest is.
    pub artifact_media_type: Option<String>,
}

/// Every repository in the registry (DescribeRepositories, all pages).
pub async fn list_repositories(
    client: &Client,
    registry_id: Option<&str>,
) -> Result<Vec<String>, AwsError> {
    let mut pages = client
        .describe_repositories()
        .set_registry_id(registry_id.map(str::to_owned))
        .into_paginator()
        .send();
    let mut names = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| AwsError::from_sdk("DescribeRepositories", e, |_| None))?;
        names.extend(
            page.repositories()
                .iter()
                .filter_map(|r| r.repository_name())
                .map(str::to_owned),
        );
    }
    Ok(names)
}

/// Every tagged image of a repository (DescribeImages, all pages).
pub async fn list_tagged_images(
    client: &Client,
    repo: &Repository,
) -> Result<Vec<Listed>, AwsError> {
    let mut pages = client
        .describe_images()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .filter(
            aws_sdk_ecr::types::DescribeImagesFilter::builder()
                .tag_status(aws_sdk_ecr::types::TagStatus::Tagged)
                .build(),
        )
        .into_paginator()
        .send();
    let mut images = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|err| {
            let not_found =
                matches!(err.as_service_error(), Some(e) if e.is_repository_not_found_exception());
            let e = AwsError::from_sdk("DescribeImages", err, |_| None);
            if not_found {
                AwsError {
                    kind: AwsErrorKind::NotFound,
                    ..repository_not_found(e, repo)
                }
            } else {
                e
            }
        })?;
        for detail in page.image_details() {
            let (Some(digest), tags) = (detail.image_digest(), detail.image_tags()) else {
                continue;
            };
            let Ok(digest) = digest.parse() else { continue };
            images.push(Listed {
                registry_id: detail.registry_id().map(str::to_owned),
                digest,
                tags: tags.to_vec(),
                media_type: detail
                    .image_manifest_media_type()
                    .unwrap_or_default()
                    .to_owned(),
                artifact_media_type: detail.artifact_media_type().map(str::to_owned),
            });
        }
    }
    Ok(images)
}

/// Reads any number of manifests by digest, in calls of at most 100 ids.
pub async fn read_many(
    client: &Client,
    repo: &Repository,
    digests: &[Digest],
) -> Result<BTreeMap<Digest, RawManifest>, AwsError> {
    let mut found = BTreeMap::new();
    for batch in digests.chunks(crate::manifest::rules::MAX_IDS_PER_CALL) {
        found.extend(read_by_digest(client, repo, batch).await?);
    }
    Ok(found)
}

/// A manifest whose `subject` names an image, as ListImageReferrers lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// The referrer's digest, as ECR gave it.
    pub digest: String,
    /// What kind of artifact it is (an attestation, a signature, an SBOM).
    pub artifact_type: Option<String>,
    /// The referrer manifest's annotations.
    pub annotations: BTreeMap<String, String>,
}

/// The first `limit` referrers of the image `digest` (ListImageReferrers, page by
/// page until `limit` are listed), and whether ECR has more: anyone who can push can
/// add referrers, so the listing is bounded.
pub async fn list_referrers(
    client: &Client,
    repo: &Repository,
    digest: &Digest,
    limit: usize,
) -> Result<(Vec<Listing>, bool), AwsError> {
    let subject = aws_sdk_ecr::types::SubjectIdentifier::builder()
        .image_digest(digest.as_str())
        .build()
        .map_err(|e| AwsError::new("ListImageReferrers", AwsErrorKind::Invalid, e.to_string()))?;
    let mut found = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .list_image_referrers()
            .set_registry_id(repo.registry_id.clone())
            .repository_name(&repo.name)
            .subject_id(subject.clone())
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListImageReferrers", e, |_| None))?;
        found.extend(page.referrers().iter().map(|r| {
            Listing {
                digest: r.digest().to_owned(),
                artifact_type: r.artifact_type().map(str::to_owned),
                annotations: r
                    .annotations()
                    .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            }
        }));
        next_token = page.next_token().map(str::to_owned);
        if found.len() >= limit {
            let more = found.len() > limit || next_token.is_some();
            found.truncate(limit);
            return Ok((found, more));
        }
        if next_token.is_none() {
            return Ok((found, false));
        }
    }
}
