use crate::digest::Digest;
use crate::ecr::{self, PutOutcome, Repository};
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::manifest::RawManifest;
use crate::manifest::provenance::Referrer;
use crate::manifest::rules::{self, Code, Finding};
use crate::ops::{Analysis, Clients, FixRequest, Outcome, analyse};
use crate::output::{Action, FixReport};
use crate::reference::{Selector, validate_tag};

/// Makes a tag Lambda-ready by writing the chosen platform manifest to it.
pub async fn fix(clients: &Clients, req: &FixRequest) -> Result<Outcome<FixReport>, Error> {
    let mut analysis = analyse(clients, &req.image, req.function.as_ref(), req.platform).await?;
    let mut fixed = Fixed::default();
    let mut written_tag = None;
    if analysis.assessment.lambda_ready() {
        fixed.action = Some(Action::AlreadyReady);
    } else if analysis.assessment.fixable() {
        let tag = tag_for(&analysis, req.tag.as_deref())?.ok_or_else(|| {
            Error::Usage("IMAGE names a digest: pass --tag TAG to say which tag to write".into())
        })?;
        fixed = fix_tag(
            clients,
            &mut analysis,
            Some(&tag),
            req.dry_run,
            req.keep_provenance,
        )
        .await?;
        written_tag = Some(tag);
    }
    let exit = if fixed.action.is_some() {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    Ok(Outcome {
        report: FixReport {
            check: analysis.report(),
            action: fixed.action,
            written_tag: fixed.action.and(written_tag),
            provenance_written: fixed.provenance_written,
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

/// The guard before moving the tag that was read (`read`: that tag and what it
/// named): read it again; if it no longer names what was assessed, someone pushed in
/// between, and their push wins. `Some` when there is nothing left to write.
async fn guard(
    clients: &Clients,
    repo: &Repository,
    read: Option<(&str, &Digest)>,
    target: &RawManifest,
    tag: &str,
) -> Result<Option<Written>, Error> {
    let Some((read_tag, read_digest)) = read.filter(|(read_tag, _)| *read_tag == tag) else {
        return Ok(None);
    };
    let current = ecr::read(&clients.ecr, repo, &Selector::Tag(read_tag.to_owned()))
        .await?
        .manifest;
    if current.digest() == target.digest() {
        return Ok(Some(Written::Done(Action::AlreadyReady)));
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
    Ok(None)
}

async fn put_tag(
    clients: &Clients,
    repo: &Repository,
    target: &RawManifest,
    tag: &str,
) -> Result<Written, Error> {
    Ok(
        match ecr::put(&clients.ecr, repo, Some(tag), target).await? {
            PutOutcome::Written => Written::Done(Action::Retagged),
            PutOutcome::AlreadyThere => Written::Done(Action::AlreadyReady),
            // ECR refuses to move a tag its repository keeps immutable; nothing changed.
            // Learnt from this refusal rather than from an extra DescribeRepositories call.
            PutOutcome::TagImmutable => Written::TagImmutable,
        },
    )
}

/// Points `tag` at `target` (its exact bytes, digest sent for ECR to check), after
/// the guard when `tag` is the tag that was read. ECR has no conditional put, so a
/// push landing between the guard read and the write can still be overwritten.
pub(crate) async fn write_tag(
    clients: &Clients,
    repo: &Repository,
    read: Option<(&str, &Digest)>,
    target: &RawManifest,
    tag: &str,
) -> Result<Written, Error> {
    if let Some(done) = guard(clients, repo, read, target, tag).await? {
        return Ok(done);
    }
    put_tag(clients, repo, target, tag).await
}

/// Writes referrer manifests (untagged). Returns the digests newly written; those
/// already in the repository are left alone. The error names the attestation.
async fn put_referrers(
    clients: &Clients,
    repo: &Repository,
    referrers: &[Referrer],
) -> Result<Vec<String>, (Referrer, AwsError)> {
    let mut written = Vec::new();
    for referrer in referrers {
        match ecr::put(&clients.ecr, repo, None, &referrer.manifest).await {
            Ok(PutOutcome::Written) => written.push(referrer.manifest.digest().to_string()),
            Ok(_) => {}
            Err(e) => return Err((referrer.clone(), e)),
        }
    }
    Ok(written)
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fixed {
    /// `None` when nothing could be done (a problem says why).
    pub action: Option<Action>,
    pub provenance_written: Vec<String>,
}

/// Writes the analysed target to `tag` (or no tag: a digest deploy), and keeps the
/// target's attestations discoverable as referrers.
///
/// The referrers go first, alongside the guard read: if one cannot be written the
/// tag stays where it was (exit 1, naming the attestation), so the same command,
/// run again, still finds the index that links the attestations and writes only
/// what is missing. Once the tag moved, the index is untagged and out of reach.
pub(crate) async fn fix_tag(
    clients: &Clients,
    analysis: &mut Analysis,
    tag: Option<&str>,
    dry_run: bool,
    keep_provenance: bool,
) -> Result<Fixed, Error> {
    let target = analysis
        .assessment
        .target
        .clone()
        .expect("only a fixable assessment is written")
        .manifest;
    let referrers = if keep_provenance {
        analysis.assessment.referrers.clone()
    } else {
        Vec::new()
    };
    if dry_run {
        return Ok(Fixed {
            action: tag.map(|_| Action::Planned),
            provenance_written: referrers
                .iter()
                .map(|r| r.manifest.digest().to_string())
                .collect(),
        });
    }
    let read = analysis.image.tag().map(|t| (t, analysis.root.digest()));
    let repo = analysis.repo.clone();
    let guarded = async {
        match tag {
            Some(tag) => guard(clients, &repo, read, &target, tag).await,
            None => Ok(None),
        }
    };
    let (kept, guarded) = tokio::join!(put_referrers(clients, &repo, &referrers), guarded);
    let provenance_written = match kept {
        Ok(written) => written,
        Err((referrer, error)) => {
            analysis.assessment.problems.push(Finding::new(
                Code::ProvenanceNotKept,
                format!(
                    "attestation {} could not be written as {}, a referrer of {} ({error}); the \
                     tag was not moved, so its provenance stays linked: run the command again, \
                     or pass --no-keep-provenance",
                    referrer.attestation,
                    referrer.manifest.digest(),
                    target.digest()
                ),
            ));
            return Ok(Fixed::default());
        }
    };
    let Some(tag) = tag else {
        return Ok(Fixed {
            action: None,
            provenance_written,
        });
    };
    let written = match guarded? {
        Some(done) => done,
        None => put_tag(clients, &repo, &target, tag).await?,
    };
    let action = match written {
        Written::Done(action) => Some(action),
        Written::TagImmutable => {
            analysis.assessment.problems.push(Finding::new(
                Code::TagImmutable,
                format!(
                    "repository {} does not let tag {tag} move (immutable tags); nothing was \
                     changed: pass --tag NEW to write a new tag (for example --tag {tag}-lambda)",
                    repo.name
                ),
            ));
            None
        }
    };
    Ok(Fixed {
        action,
        provenance_written,
    })
}
