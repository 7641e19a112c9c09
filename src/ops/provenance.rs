//! The target's provenance: its attestations in both layouts (the index entry whose
//! `vnd.docker.reference.digest` is the target; a referrer whose `subject` is the
//! target), their SLSA statements read through [`blob::read_verified`], ECR's signing
//! status when asked; then [`statement::judge`] decides.

use std::time::{Duration, Instant};

use crate::digest::Digest;
use crate::ecr::blob::{self, BlobError};
use crate::ecr::{self, signing};
use crate::error::{AwsError, AwsErrorKind, Error};
use crate::manifest::provenance::{self, Provenance};
use crate::manifest::rules::Code;
use crate::manifest::statement::{
    self, MAX_REFERRERS, MAX_STATEMENT_BYTES, MAX_STATEMENTS_TOTAL, ProvenanceRequirements, Read,
    STATEMENTS_AT_ONCE,
};
use crate::ops::{Analysis, Clients};
use crate::output::{SigningReport, VerificationReport};

/// What was read of the target's provenance.
#[derive(Clone, Debug)]
pub(crate) struct ProvenanceRead {
    /// Every attestation of the target, its statement (or why not) filled in.
    attestations: Vec<Provenance>,
    /// ListImageReferrers failed, and nothing required it (a warning).
    referrers_unknown: Option<String>,
    /// What the bounds on the read left unread, in words (a warning each).
    left_unread: Vec<String>,
    /// `--require-signed`: ECR's answer.
    signing: Option<SigningReport>,
}

/// Whether provenance is read at all for this analysis: it has a target Lambda could
/// run (as is, or after `fix`).
fn has_target(analysis: &Analysis) -> Option<Digest> {
    let a = &analysis.assessment;
    if !(a.lambda_ready() || a.fixable()) {
        return None;
    }
    a.target.as_ref().map(|t| t.manifest.digest().clone())
}

/// Reads the target's attestations and statements (and its signing status when
/// asked). `None` when there is no target to read for. An AWS refusal is an error
/// when a requirement needs what was refused (exit 3), else a warning.
pub(crate) async fn read(
    clients: &Clients,
    analysis: &Analysis,
    requirements: &ProvenanceRequirements,
) -> Result<Option<ProvenanceRead>, Error> {
    let Some(target) = has_target(analysis) else {
        return Ok(None);
    };
    let required = requirements.wants_statement();
    let mut attestations = analysis.assessment.provenance.clone();
    let mut referrers_unknown = None;
    let mut left_unread = Vec::new();
    // A single image's attestations are its referrers; an index's are its entries,
    // and (newer BuildKit, or after `fix`) the target's referrers: listed when a
    // requirement needs every one.
    if !analysis.assessment.is_index || required {
        match referrers(clients, analysis, &target).await {
            Ok((found, more)) => {
                if more {
                    left_unread.push(format!(
                        "the target has more than {MAX_REFERRERS} referrers: only the first \
                         {MAX_REFERRERS} ListImageReferrers gave were considered, and the \
                         attestations among the rest were not read"
                    ));
                }
                for p in found {
                    if !attestations.iter().any(|a| a.digest == p.digest) {
                        attestations.push(p);
                    }
                }
            }
            Err(e) if required => return Err(e.into()),
            Err(e) => referrers_unknown = Some(e.to_string()),
        }
    }
    if let Some(unread) = over_budget(&mut attestations) {
        left_unread.push(unread);
    }
    let (statements, signing) = tokio::join!(
        read_statements(clients, analysis, &target, &mut attestations, required),
        async {
            if requirements.require_signed {
                Some(wait_signed(clients, analysis, &target, requirements.signing_timeout).await)
            } else {
                None
            }
        }
    );
    statements?;
    let signing = signing.transpose()?;
    Ok(Some(ProvenanceRead {
        attestations,
        referrers_unknown,
        left_unread,
        signing,
    }))
}

/// Marks the statements beyond [`MAX_STATEMENTS_TOTAL`] (by their descriptors'
/// sizes) as not read, before anything is fetched; what was left, in words.
fn over_budget(attestations: &mut [Provenance]) -> Option<String> {
    let sizes: Vec<Option<u64>> = attestations
        .iter()
        .map(|p| {
            p.layers
                .first()
                .map(|l| u64::try_from(l.size).unwrap_or(u64::MAX))
        })
        .collect();
    let mut unread = Vec::new();
    for (p, read) in attestations
        .iter_mut()
        .zip(statement::within_budget(&sizes))
    {
        if !read {
            p.error = Some(format!(
                "not read: ecr-lambda reads at most {} MiB of statements for one image",
                MAX_STATEMENTS_TOTAL / (1024 * 1024)
            ));
            unread.push(p.digest.to_string());
        }
    }
    (!unread.is_empty()).then(|| {
        format!(
            "the statements of {} attestation(s) were not read: together with the ones \
             before them they exceed the {} MiB ecr-lambda reads for one image ({})",
            unread.len(),
            MAX_STATEMENTS_TOTAL / (1024 * 1024),
            unread.join(", ")
        )
    })
}

/// ListImageReferrers of `subject` (the first [`MAX_REFERRERS`]), then the
/// attestation referrers by digest; and whether ECR listed more.
async fn referrers(
    clients: &Clients,
    analysis: &Analysis,
    subject: &Digest,
) -> Result<(Vec<Provenance>, bool), AwsError> {
    let (listed, more) =
        ecr::list_referrers(&clients.ecr, &analysis.repo, subject, MAX_REFERRERS).await?;
    let digests: Vec<Digest> = listed
        .iter()
        .filter(|r| provenance::is_attestation_referrer(r.artifact_type.as_deref()))
        .filter_map(|r| r.digest.parse().ok())
        .collect();
    let manifests = ecr::read_many(&clients.ecr, &analysis.repo, &digests).await?;
    Ok((provenance::from_referrers(subject, &manifests), more))
}

/// Reads the first SLSA layer of every attestation not already marked unread,
/// [`STATEMENTS_AT_ONCE`] at a time; fills in `statement` or `error`. An AWS refusal (not a missing blob) is returned when
/// `required`.
async fn read_statements(
    clients: &Clients,
    analysis: &Analysis,
    target: &Digest,
    attestations: &mut [Provenance],
    required: bool,
) -> Result<(), Error> {
    let reads = attestations.iter().map(|p| async move {
        let Some(layer) = p.layers.first().filter(|_| p.error.is_none()) else {
            return Ok(None);
        };
        let Some(digest) = layer.parsed_digest() else {
            return Ok(Some(Read::Unreadable(format!(
                "attestation {}: its in-toto layer has no valid digest",
                p.digest
            ))));
        };
        let size = u64::try_from(layer.size).unwrap_or(u64::MAX);
        let got = blob::read_verified(
            &clients.ecr,
            &clients.calls,
            &analysis.repo,
            &digest,
            size,
            MAX_STATEMENT_BYTES,
        )
        .await;
        let why = |e: &dyn std::fmt::Display| {
            Read::Unreadable(format!("attestation {}: statement {digest}: {e}", p.digest))
        };
        match got {
            Ok(bytes) => Ok(Some(match statement::parse(&bytes, target) {
                Ok(s) => Read::Statement(s),
                Err(e) => why(&e),
            })),
            Err(BlobError::TooLarge { limit }) => Ok(Some(why(&format!(
                "its descriptor says {size} bytes, more than the {limit} ecr-lambda reads"
            )))),
            Err(BlobError::Mismatch(m)) => Ok(Some(why(&format!(
                "the bytes are not what the descriptor names ({m})"
            )))),
            Err(BlobError::Aws(e)) if e.kind == AwsErrorKind::NotFound || !required => {
                Ok(Some(why(&e)))
            }
            Err(BlobError::Download(e)) if !required => Ok(Some(why(&e))),
            Err(BlobError::Aws(e)) => Err(Error::from(e)),
            Err(BlobError::Download(e)) => Err(AwsError::new(
                "GetBlob",
                AwsErrorKind::Network,
                format!("downloading statement {digest} failed: {e}"),
            )
            .into()),
        }
    });
    let results = join_all(reads, STATEMENTS_AT_ONCE).await;
    for (p, result) in attestations.iter_mut().zip(results) {
        match result? {
            Some(Read::Statement(s)) => p.statement = Some(s),
            Some(Read::Unreadable(why)) => p.error = Some(why),
            None => {}
        }
    }
    Ok(())
}

/// Polls the futures together, at most `at_once` of them started and unfinished at
/// any time, in order (they borrow the clients, so they cannot be spawned; an
/// async block does nothing until first polled); their outputs in order.
async fn join_all<F: Future>(futures: impl Iterator<Item = F>, at_once: usize) -> Vec<F::Output> {
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> =
        futures.map(|f| Some(Box::pin(f))).collect();
    let mut done: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut finished = true;
        let mut running = 0;
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if running == at_once.max(1) {
                // Not started yet: polled once an earlier one has finished.
                finished = finished && slot.is_none();
                continue;
            }
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *out = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => {
                        finished = false;
                        running += 1;
                    }
                }
            }
        }
        if finished {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    done.into_iter()
        .map(|r| r.expect("every future finished"))
        .collect()
}

/// DescribeImageSigningStatus until no profile is IN_PROGRESS or `timeout` passed:
/// 1 s between reads, doubling up to 5 s.
async fn wait_signed(
    clients: &Clients,
    analysis: &Analysis,
    target: &Digest,
    timeout: Duration,
) -> Result<SigningReport, Error> {
    let started = Instant::now();
    let mut delay = Duration::from_secs(1);
    let mut polls = 0;
    loop {
        polls += 1;
        let statuses = signing::status(&clients.ecr, &analysis.repo, target).await?;
        let waiting = statuses
            .iter()
            .any(|s| s.status == signing::State::InProgress);
        let elapsed = started.elapsed();
        if !waiting || elapsed >= timeout {
            return Ok(SigningReport {
                complete: !statuses.is_empty()
                    && statuses
                        .iter()
                        .all(|s| s.status == signing::State::Complete),
                statuses,
                polls,
                waited_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
                timed_out: waiting,
            });
        }
        tracing::info!("ECR is still signing {target}; waiting");
        let pause = delay.min(timeout.saturating_sub(elapsed));
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = tokio::signal::ctrl_c() => {
                return Err(Error::Interrupted(format!(
                    "interrupted while waiting for ECR to sign {target}; nothing was written"
                )));
            }
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Adds what was read to the analysis: each attestation's statement, and when
/// requirements were given, their judgement (problems: nothing will be written)
/// and the verification report.
pub(crate) fn apply(
    analysis: &mut Analysis,
    read: Option<ProvenanceRead>,
    requirements: &ProvenanceRequirements,
) {
    let Some(read) = read else { return };
    let image = analysis.display_name();
    let target = analysis
        .assessment
        .target
        .as_ref()
        .map(|t| t.manifest.digest().clone())
        .expect("provenance is read for a target");
    let a = &mut analysis.assessment;
    for unread in read.left_unread {
        a.warning(Code::ProvenanceUnknown, unread);
    }
    if let Some(e) = read.referrers_unknown {
        a.warning(
            Code::ProvenanceUnknown,
            format!("the image's referrers could not be read, so its provenance is not shown: {e}"),
        );
    }
    let reads: Vec<Read> = read
        .attestations
        .iter()
        .filter_map(|p| match (&p.statement, &p.error) {
            (Some(s), _) => Some(Read::Statement(s.clone())),
            (None, Some(e)) => Some(Read::Unreadable(e.clone())),
            (None, None) => None,
        })
        .collect();
    a.provenance = read.attestations;
    if !requirements.any() {
        let unreadable: Vec<String> = a
            .provenance
            .iter()
            .filter_map(|p| p.error.clone())
            .collect();
        for e in unreadable {
            a.warning(
                Code::ProvenanceUnreadable,
                format!("the provenance of {image} could not be read: {e}"),
            );
        }
        return;
    }
    let (mut problems, fields) = statement::judge(requirements, &image, &target, &reads);
    if let Some(signing) = &read.signing
        && !signing.complete
    {
        problems.push(crate::manifest::Finding::new(
            Code::NotSigned,
            format!(
                "{image} ({target}) {}; nothing will be written",
                signing.why_not()
            ),
        ));
    }
    let passed = problems.is_empty();
    a.problems.extend(problems);
    analysis.verification = Some(VerificationReport {
        passed,
        require_provenance: requirements.wants_statement(),
        fields,
        signing: read.signing,
    });
}

/// The statement of the target that the alias description records: the first whose
/// subject is the target, once requirements on it were met (a source nobody checked
/// is not recorded as if it were).
pub(crate) fn recorded(analysis: &Analysis) -> Option<&statement::Statement> {
    let verified = analysis
        .verification
        .as_ref()
        .is_some_and(|v| v.passed && v.require_provenance);
    if !verified {
        return None;
    }
    analysis
        .assessment
        .provenance
        .iter()
        .filter_map(|p| p.statement.as_ref())
        .find(|s| s.subject_matches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Each future counts itself running until it has yielded a few times: never more
    /// than `at_once` run together, and every output comes back in order.
    #[tokio::test]
    async fn join_all_runs_at_most_so_many_at_once() {
        let running = Cell::new(0);
        let most = Cell::new(0);
        let futures = (0..10).map(|i| {
            let (running, most) = (&running, &most);
            async move {
                running.set(running.get() + 1);
                most.set(most.get().max(running.get()));
                for _ in 0..(i % 3 + 1) {
                    tokio::task::yield_now().await;
                }
                running.set(running.get() - 1);
                i * 2
            }
        });
        let out = join_all(futures, STATEMENTS_AT_ONCE).await;
        assert_eq!(out, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(most.get(), STATEMENTS_AT_ONCE);
        assert_eq!(running.get(), 0);
    }
}
