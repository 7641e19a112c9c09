use crate::digest::Digest;
use crate::ecr::{self, PutOutcome, Repository};
use crate::error::{AwsError, AwsErrorKind, Error, ExitCode};
use crate::manifest::RawManifest;
use crate::manifest::provenance::Referrer;
use crate::manifest::rules::{self, Code, Finding};
use crate::ops::{Analysis, Clients, FixRequest, Outcome, analyse, image_config, provenance};
use crate::output::{Action, FixReport};
use crate::reference::{Selector, validate_tag};

/// Makes a tag Lambda-ready by writing the chosen platform manifest to it.
pub async fn fix(clients: &Clients, req: &FixRequest) -> Result<Outcome<FixReport>, Error> {
    let mut analysis = analyse(clients, &req.image, req.function.as_ref(), req.platform).await?;
    if req.provenance.any() {
        let (config, read) = tokio::join!(
            image_config::read(clients, &analysis),
            provenance::read(clients, &analysis, &req.provenance)
        );
        image_config::apply(&mut analysis, config, req.platform);
        provenance::apply(&mut analysis, read?, &req.provenance);
    } else {
        analysis.read_config(clients, req.platform).await;
    }
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
    let exit = fixed.exit();
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fixed {
    /// The tag's action; `None` when there was no tag to write (a digest deploy) or
    /// the tag was refused.
    pub action: Option<Action>,
    /// Referrers written (with `--dry-run`: to be written), also when the fix stopped
    /// short: they are correct attestations of the checked image either way.
    pub provenance_written: Vec<String>,
    /// Why the fix stopped short: the tag is immutable, or an attestation could not
    /// be kept.
    pub problem: Option<Finding>,
}

impl Fixed {
    /// 0 when the tag is Lambda-ready; 3 when an AWS call failed (an attestation that
    /// could not be written); 1 otherwise: nothing to write to, or a tag the
    /// repository keeps immutable.
    pub fn exit(&self) -> ExitCode {
        match (&self.action, &self.problem) {
            (_, Some(p)) if p.code == Code::ProvenanceNotKept => ExitCode::Aws,
            (Some(_), None) => ExitCode::Success,
            _ => ExitCode::NotUsable,
        }
    }
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

/// Writes referrer manifests (untagged): the digests newly written (those already in
/// the repository are left alone), and the first that could not be.
async fn put_referrers(
    clients: &Clients,
    repo: &Repository,
    referrers: &[Referrer],
) -> (Vec<String>, Option<(Referrer, AwsError)>) {
    let mut written = Vec::new();
    for referrer in referrers {
        match ecr::put(&clients.ecr, repo, None, &referrer.manifest).await {
            Ok(PutOutcome::Written) => written.push(referrer.manifest.digest().to_string()),
            Ok(_) => {}
            Err(e) => return (written, Some((referrer.clone(), e))),
        }
    }
    (written, None)
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
            // ECR refuses to move a tag its repository keeps immutable; the tag is as it was.
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
/// from PutImage's refusal, which leaves the tag as it was, rather than from an extra
/// DescribeRepositories call. A failed read or tag write is an error (exit 3); a
/// refusal or an attestation not kept is the returned `problem`.
pub(crate) async fn apply_fix(
    clients: &Clients,
    repo: &Repository,
    read: Option<(&str, &Digest)>,
    target: &RawManifest,
    referrers: &[Referrer],
    tag: Option<&str>,
    dry_run: bool,
) -> Result<Fixed, Error> {
    if dry_run {
        return Ok(Fixed {
            action: tag.map(|_| Action::Planned),
            provenance_written: referrers
                .iter()
                .map(|r| r.manifest.digest().to_string())
                .collect(),
            problem: None,
        });
    }
    let moves_read_tag = matches!((tag, read), (Some(t), Some((r, _))) if t == r);
    if let (true, Some(tag)) = (moves_read_tag, tag) {
        let ((provenance_written, failed), guarded) = tokio::join!(
            put_referrers(clients, repo, referrers),
            guard(clients, repo, read, target, tag)
        );
        // A moved tag (or a failed read) wins over a referrer that failed beside it.
        let guarded = guarded?;
        if let Some((referrer, error)) = failed {
            return Ok(Fixed {
                action: None,
                provenance_written,
                problem: Some(provenance_not_kept(&referrer, &error, target, false)),
            });
        }
        let (action, problem) = match guarded {
            Some(done) => (Some(done), None),
            None => match put_tag(clients, repo, target, tag).await? {
                Ok(action) => (Some(action), None),
                Err(refused) => (None, Some(refused)),
            },
        };
        return Ok(Fixed {
            action,
            provenance_written,
            problem,
        });
    }
    let put = async {
        match tag {
            Some(tag) => put_tag(clients, repo, target, tag).await.map(Some),
            None => Ok(None),
        }
    };
    let ((provenance_written, failed), put) =
        tokio::join!(put_referrers(clients, repo, referrers), put);
    let (action, refused) = match put? {
        None => (None, None),
        Some(Ok(action)) => (Some(action), None),
        Some(Err(refused)) => (None, Some(refused)),
    };
    let not_kept = failed
        .map(|(referrer, error)| provenance_not_kept(&referrer, &error, target, action.is_some()));
    Ok(Fixed {
        action,
        provenance_written,
        problem: refused.or(not_kept),
    })
}

/// [`apply_fix`] for an analysis; its problem, if any, is added to the analysis.
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
    let read = analysis.image.tag().map(|t| (t, analysis.root.digest()));
    let fixed = apply_fix(
        clients,
        &analysis.repo,
        read,
        &target,
        &referrers,
        tag,
        dry_run,
    )
    .await?;
    analysis.assessment.problems.extend(fixed.problem.clone());
    Ok(fixed)
}
