use crate::digest::Digest;
use crate::ecr::{self, PutOutcome, Repository};
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::manifest::RawManifest;
use crate::manifest::rules::{self, Code, Finding};
use crate::ops::{Analysis, Clients, FixRequest, Outcome, analyse};
use crate::output::{Action, FixReport};
use crate::reference::{Selector, validate_tag};

/// Makes a tag Lambda-ready by writing the chosen platform manifest to it.
pub async fn fix(clients: &Clients, req: &FixRequest) -> Result<Outcome<FixReport>, Error> {
    let mut analysis = analyse(clients, &req.image, req.function.as_ref(), req.platform).await?;
    let (action, written_tag) = if analysis.assessment.lambda_ready() {
        (Some(Action::AlreadyReady), None)
    } else if !analysis.assessment.fixable() {
        (None, None)
    } else {
        let tag = tag_for(&analysis, req.tag.as_deref())?.ok_or_else(|| {
            Error::Usage("IMAGE names a digest: pass --tag TAG to say which tag to write".into())
        })?;
        let action = fix_tag(clients, &mut analysis, &tag, req.dry_run).await?;
        (action, Some(tag))
    };
    let exit = if action.is_some() {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    Ok(Outcome {
        report: FixReport {
            check: analysis.report(),
            action,
            written_tag: action.and(written_tag),
        },
        exit,
    })
}

/// The tag to write, checked against the tag grammar (`<tag>-<arch>` can grow past it).
pub(crate) fn tag_for(
    analysis: &Analysis,
    explicit: Option<&str>,
) -> Result<Option<String>, Error> {
    let tag = rules::tag_to_write(&analysis.assessment, analysis.image.tag(), explicit);
    if let Some(tag) = &tag {
        validate_tag(tag).map_err(|_| {
            Error::Usage(format!(
                "the tag to write, {tag:?}, is not a valid tag (too long?): pass --tag TAG"
            ))
        })?;
    }
    Ok(tag)
}

/// What writing a tag came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    Done(Action),
    /// The repository does not let the tag move; nothing was written.
    TagImmutable,
}

/// Points `tag` at `target` (its exact bytes, digest sent for ECR to check).
///
/// When `tag` is the tag that was read (`read` names it and what it named), it is
/// read again first: if it no longer names what was assessed, someone pushed in
/// between, and their push wins. ECR has no conditional put, so a push landing
/// between that read and the write can still be overwritten. Immutability is learnt
/// from PutImage's refusal, which changes nothing, rather than from an extra
/// DescribeRepositories call.
pub(crate) async fn write_tag(
    clients: &Clients,
    repo: &Repository,
    read: Option<(&str, &Digest)>,
    target: &RawManifest,
    tag: &str,
    dry_run: bool,
) -> Result<Written, Error> {
    if dry_run {
        return Ok(Written::Done(Action::Planned));
    }
    if let Some((read_tag, read_digest)) = read.filter(|(read_tag, _)| *read_tag == tag) {
        let current = ecr::read(&clients.ecr, repo, &Selector::Tag(read_tag.to_owned()))
            .await?
            .manifest;
        if current.digest() == target.digest() {
            return Ok(Written::Done(Action::AlreadyReady));
        }
        if current.digest() != read_digest {
            return Err(AwsError::new(
                "BatchGetImage",
                AwsErrorKind::Conflict,
                format!(
                    "tag moved: {tag} named {read_digest} when it was checked, and now names {}; \
                     nothing was written",
                    current.digest()
                ),
            )
            .with_hint(
                "someone pushed to the tag meanwhile; run the command again to check the new image",
            )
            .into());
        }
    }
    Ok(
        match ecr::put(&clients.ecr, repo, Some(tag), target).await? {
            PutOutcome::Written => Written::Done(Action::Retagged),
            PutOutcome::AlreadyThere => Written::Done(Action::AlreadyReady),
            PutOutcome::TagImmutable => Written::TagImmutable,
        },
    )
}

/// Writes the analysed target to `tag`; `None` when the repository refused to move
/// it (a `tag-immutable` problem is added to the analysis).
pub(crate) async fn fix_tag(
    clients: &Clients,
    analysis: &mut Analysis,
    tag: &str,
    dry_run: bool,
) -> Result<Option<Action>, Error> {
    let target = analysis
        .assessment
        .target
        .clone()
        .expect("only a fixable assessment is written");
    let read = analysis.image.tag().map(|t| (t, analysis.root.digest()));
    match write_tag(
        clients,
        &analysis.repo,
        read,
        &target.manifest,
        tag,
        dry_run,
    )
    .await?
    {
        Written::Done(action) => Ok(Some(action)),
        Written::TagImmutable => {
            analysis
                .assessment
                .problems
                .push(tag_immutable(&analysis.repo.name, tag));
            Ok(None)
        }
    }
}

pub(crate) fn tag_immutable(repository: &str, tag: &str) -> Finding {
    Finding::new(
        Code::TagImmutable,
        format!(
            "repository {repository} does not let tag {tag} move (immutable tags); nothing was \
             changed: pass --tag NEW to write a new tag (for example --tag {tag}-lambda)"
        ),
    )
}
