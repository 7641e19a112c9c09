use crate::ecr::{self, PutOutcome};
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
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
        let action = write_tag(clients, &mut analysis, &tag, req.dry_run).await?;
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

/// Points `tag` at the assessed target. Returns the action taken, or `None` when the
/// repository does not let the tag move (a `tag-immutable` problem is added).
///
/// When the tag to write is the tag that was read, it is read again first: if it no
/// longer names what was assessed, someone pushed in between, and their push wins.
/// ECR has no conditional put, so a push landing between that read and the write
/// can still be overwritten. Immutability is learnt from PutImage's refusal, which
/// changes nothing, rather than from an extra DescribeRepositories call.
pub(crate) async fn write_tag(
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
    if dry_run {
        return Ok(Some(Action::Planned));
    }
    if analysis.image.tag() == Some(tag) {
        let current = ecr::read(&clients.ecr, &analysis.repo, &Selector::Tag(tag.to_owned()))
            .await?
            .manifest;
        if current.digest() == target.manifest.digest() {
            return Ok(Some(Action::AlreadyReady));
        }
        if current.digest() != analysis.root.digest() {
            return Err(AwsError::new(
                "BatchGetImage",
                AwsErrorKind::Conflict,
                format!(
                    "tag moved: {tag} named {} when it was checked, and now names {}; \
                     nothing was written",
                    analysis.root.digest(),
                    current.digest()
                ),
            )
            .with_hint(
                "someone pushed to the tag meanwhile; run the command again to check the new image",
            )
            .into());
        }
    }
    match ecr::put(&clients.ecr, &analysis.repo, Some(tag), &target.manifest).await? {
        PutOutcome::Written => Ok(Some(Action::Retagged)),
        PutOutcome::AlreadyThere => Ok(Some(Action::AlreadyReady)),
        // ECR refuses to move a tag its repository keeps immutable (IMMUTABLE, or the
        // tag under an exclusion filter's rule); nothing was written.
        PutOutcome::TagImmutable => {
            analysis.assessment.problems.push(Finding::new(
                Code::TagImmutable,
                format!(
                    "repository {} does not let tag {tag} move (immutable tags); nothing was \
                     changed: pass --tag NEW to write a new tag (for example --tag {tag}-lambda)",
                    analysis.repo.name
                ),
            ));
            Ok(None)
        }
    }
}
