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
        let done = fix_tag(
            clients,
            &mut analysis,
            Some(&tag),
            req.dry_run,
            req.keep_provenance,
        )
        .await?;
        if let Some(done) = done {
            fixed = done;
            written_tag = Some(tag);
        }
    }
    let exit =
        if fixed.action.is_some() && !analysis.assessment.has_problem(Code::ProvenanceNotKept) {
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

/// What writing a tag (and the provenance) came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FixOutcome {
    Done(Fixed),
    /// Refused before the tag moved: the tag is immutable, or an attestation could not
    /// be kept. The finding says which.
    Refused(Finding),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fixed {
    /// `None` when there was no tag to write (a digest deploy).
    pub action: Option<Action>,
    pub provenance_written: Vec<String>,
    /// The tag was written, but an attestation could not be kept.
    pub provenance_failure: Option<Finding>,
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
) -> Result<Option<Action>, Error> {
    let Some((read_tag, read_digest)) = read.filter(|(read_tag, _)| *read_tag == tag) else {
        return Ok(None);
    };
    let current = ecr::read(&clients.ecr, repo, &Selector::Tag(read_tag.to_owned()))
        .await?
        .manifest;
    if current.digest() == target.digest() {
        return Ok(Some(Action::AlreadyReady));
    }
    if current.digest() != read_digest {
        return Err(AwsError::new(
            "BatchGetImage",
            AwsErrorKind::Conflict,
            format!(
                "tag moved: {tag} named {read_digest} when it was checked, and now names {}; \
                 the tag was not written",
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

async fn put_tag(
    clients: &Clients,
    repo: &Repository,
    target: &RawManifest,
    tag: &str,
) -> Result<Result<Action, Finding>, Error> {
    Ok(
        match ecr::put(&clients.ecr, repo, Some(tag), target).await? {
            PutOutcome::Written => Ok(Action::Retagged),
            PutOutcome::AlreadyThere => Ok(Action::AlreadyReady),
            // ECR refuses to move a tag its repository keeps immutable; nothing changed.
            PutOutcome::TagImmutable => Err(Finding::new(
                Code::TagImmutable,
                format!(
                    "repository {} does not let tag {tag} move (immutable tags); the tag was not \
                 changed: pass --tag NEW to write a new tag (for example --tag {tag}-lambda)",
                    repo.name
                ),
            )),
        },
    )
}

fn provenance_not_kept(
    referrer: &Referrer,
    error: &AwsError,
    target: &RawManifest,
    moved: bool,
) -> Finding {
    let state = if moved {
        "the tag was written; the index that links the attestation keeps its own tag, so \
         running the command again writes what is missing"
    } else {
        "the tag was not moved, so its provenance stays linked: run the command again"
    };
    Finding::new(
        Code::ProvenanceNotKept,
        format!(
            "attestation {} could not be written as {}, a referrer of {} ({error}); {state}, or \
             pass --no-keep-provenance",
            referrer.attestation,
            referrer.manifest.digest(),
            target.digest()
        ),
    )
}

/// Points `tag` at `target` (its exact bytes, digest sent for ECR to check) and keeps
/// the target's index-only attestations discoverable as its `referrers`.
///
/// Moving the tag that was read leaves the index that links the attestations
/// untagged, out of reach of a re-run: so the referrers go first, alongside the guard
/// read (the tag read again; if it moved since it was checked, someone pushed and
/// their push wins), and a referrer that cannot be written stops the fix before the
/// tag moves. Writing any other tag leaves the read tag on the index, so the referrers
/// and the tag go out together. ECR has no conditional put: a push landing between
/// the guard read and the write can still be overwritten. An immutable tag is learnt
/// from PutImage's refusal, which changes nothing, rather than from an extra
/// DescribeRepositories call.
pub(crate) async fn apply_fix(
    clients: &Clients,
    repo: &Repository,
    read: Option<(&str, &Digest)>,
    target: &RawManifest,
    referrers: &[Referrer],
    tag: Option<&str>,
    dry_run: bool,
) -> Result<FixOutcome, Error> {
    if dry_run {
        return Ok(FixOutcome::Done(Fixed {
            action: tag.map(|_| Action::Planned),
            provenance_written: referrers
                .iter()
                .map(|r| r.manifest.digest().to_string())
                .collect(),
            provenance_failure: None,
        }));
    }
    let moves_read_tag = matches!((tag, read), (Some(t), Some((r, _))) if t == r);
    if let (true, Some(tag)) = (moves_read_tag, tag) {
        let (kept, guarded) = tokio::join!(
            put_referrers(clients, repo, referrers),
            guard(clients, repo, read, target, tag)
        );
        let provenance_written = match kept {
            Ok(written) => written,
            Err((referrer, error)) => {
                return Ok(FixOutcome::Refused(provenance_not_kept(
                    &referrer, &error, target, false,
                )));
            }
        };
        let action = match guarded? {
            Some(done) => done,
            None => match put_tag(clients, repo, target, tag).await? {
                Ok(action) => action,
                Err(refused) => return Ok(FixOutcome::Refused(refused)),
            },
        };
        return Ok(FixOutcome::Done(Fixed {
            action: Some(action),
            provenance_written,
            provenance_failure: None,
        }));
    }
    let put = async {
        match tag {
            Some(tag) => put_tag(clients, repo, target, tag).await.map(Some),
            None => Ok(None),
        }
    };
    let (kept, put) = tokio::join!(put_referrers(clients, repo, referrers), put);
    let action = match put? {
        None => None,
        Some(Ok(action)) => Some(action),
        Some(Err(refused)) => return Ok(FixOutcome::Refused(refused)),
    };
    Ok(FixOutcome::Done(match kept {
        Ok(provenance_written) => Fixed {
            action,
            provenance_written,
            provenance_failure: None,
        },
        Err((referrer, error)) => Fixed {
            action,
            provenance_written: Vec::new(),
            provenance_failure: Some(provenance_not_kept(
                &referrer,
                &error,
                target,
                action.is_some(),
            )),
        },
    }))
}

/// [`apply_fix`] for an analysis: `None` when refused (the problem is added to it).
pub(crate) async fn fix_tag(
    clients: &Clients,
    analysis: &mut Analysis,
    tag: Option<&str>,
    dry_run: bool,
    keep_provenance: bool,
) -> Result<Option<Fixed>, Error> {
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
    let read = analysis.image.tag().map(|t| (t, analysis.root.digest()));
    let outcome = apply_fix(
        clients,
        &analysis.repo,
        read,
        &target,
        &referrers,
        tag,
        dry_run,
    )
    .await?;
    Ok(match outcome {
        FixOutcome::Done(mut fixed) => {
            analysis
                .assessment
                .problems
                .extend(fixed.provenance_failure.take());
            Some(fixed)
        }
        FixOutcome::Refused(finding) => {
            analysis.assessment.problems.push(finding);
            None
        }
    })
}
