//! The way back, read and judged alike by every command that leaves one or returns
//! to one: `deploy --alias` and `release promote` warn when the version they leave
//! behind runs an image at risk (`rollback-target-at-risk`); `rollback` and
//! `release abort` refuse to return to a version whose image Lambda cannot pull.
//! One DescribeImages (every image status), and only for an untagged image a
//! GetLifecyclePolicy.

use crate::digest::Digest;
use crate::ecr::Repository;
use crate::ecr::retention::{self as ecr_ret, ImageFacts};
use crate::error::{AwsError, AwsErrorKind};
use crate::lambda::FunctionState;
use crate::manifest::findings::{Code, Finding};
use crate::ops::Clients;
use crate::reference::ImageRef;
use crate::retention::{self, ImageState};

/// The image a version runs, by digest.
#[derive(Clone, Debug)]
pub(crate) struct Image {
    /// The reference, `…/app@sha256:…`, for messages.
    pub(crate) image: ImageRef,
    pub(crate) repo: Repository,
    pub(crate) digest: Digest,
}

impl Image {
    /// The image `state` runs, when Lambda names it by digest (it always does for a
    /// published version).
    pub(crate) fn of(state: &FunctionState) -> Option<Image> {
        let digest = state.running_digest.clone()?;
        let image: ImageRef = format!("{}@{digest}", state.running_repository.as_ref()?)
            .parse()
            .ok()?;
        let registry = image.registry.clone()?;
        Some(Image {
            repo: Repository {
                registry_id: Some(registry.account),
                name: image.repository.clone(),
                region: registry.region,
            },
            image,
            digest,
        })
    }

    fn client(&self, clients: &Clients) -> aws_sdk_ecr::Client {
        crate::ops::retain::ecr_client(clients, &self.repo.region)
    }
}

/// What ECR holds of the image: one DescribeImages, every status included. `None`:
/// neither the image nor its repository is there any more.
pub(crate) async fn describe(
    clients: &Clients,
    image: &Image,
) -> Result<Option<ImageFacts>, AwsError> {
    let client = image.client(clients);
    match ecr_ret::describe(&client, &image.repo, std::slice::from_ref(&image.digest)).await {
        Ok(mut found) => Ok(found.remove(&image.digest)),
        // The repository itself is gone: so is the image.
        Err(e) if e.kind == AwsErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why Lambda could not run the image again, if it could not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unpullable {
    /// Not in ECR: a version that runs it fails (ImageDeleted).
    Gone,
    /// ARCHIVED, or ACTIVATING (being restored): pullable once restored.
    Stored(ImageState),
}

/// Whether a version whose image ECR says this of can take traffic again.
pub(crate) fn unpullable(facts: Option<&ImageFacts>) -> Option<Unpullable> {
    match facts.map(|f| f.state) {
        None => Some(Unpullable::Gone),
        Some(ImageState::Active) => None,
        Some(state) => Some(Unpullable::Stored(state)),
    }
}

/// The refusal to send traffic back to `version`: what ECR holds, that nothing was
/// written, and the way out (`instead`: what else the user may do).
pub(crate) fn refusal(
    why: Unpullable,
    version: &str,
    image: &Image,
    function: &str,
    instead: &str,
) -> String {
    match why {
        Unpullable::Gone => format!(
            "version {version} runs {}, which is no longer in ECR: Lambda would fail it \
             (ImageDeleted); nothing was written; {instead}",
            image.image
        ),
        Unpullable::Stored(state) => format!(
            "version {version} runs {}, which ECR holds {}: Lambda cannot pull it until it is \
             restored; nothing was written. Restore it with `ecr-lambda retain --function \
             {function} --restore`, or {instead}",
            image.image,
            match state {
                ImageState::Archived => "ARCHIVED",
                _ => "ACTIVATING (being restored)",
            },
        ),
    }
}

/// `rollback-target-at-risk` for the way back (`version`, running `image`), when it
/// is gone, archived, or untagged in a repository whose lifecycle policy expires
/// untagged images (GetLifecyclePolicy only then). A policy that cannot be read says
/// nothing: the command does not depend on it.
pub(crate) async fn at_risk(
    clients: &Clients,
    version: &str,
    image: &Image,
    facts: Option<&ImageFacts>,
) -> Option<Finding> {
    let why = match facts {
        None => "is no longer in ECR",
        Some(f) if f.state != ImageState::Active => {
            "is archived: Lambda cannot pull it until it is restored"
        }
        Some(f) if f.tags.is_empty() => {
            match ecr_ret::lifecycle_policy(&image.client(clients), &image.repo).await {
                Ok(Some(policy)) if retention::has_untagged_rule(&policy) => {
                    "is untagged, and the repository's lifecycle policy expires untagged images"
                }
                _ => return None,
            }
        }
        Some(_) => return None,
    };
    Some(Finding::new(
        Code::RollbackTargetAtRisk,
        format!(
            "the way back, version {version} ({}@{}), {why}: `ecr-lambda retain` says more, and \
             --protect tags it",
            image.repo.name, image.digest
        ),
    ))
}
