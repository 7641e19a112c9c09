use crate::ecr;
use crate::error::{Error, ExitCode};
use crate::manifest::provenance::{Link, PREDICATE_TYPE, Provenance};
use crate::manifest::rules::{Code, Finding};
use crate::ops::{CheckRequest, Clients, Outcome, analyse};
use crate::output::CheckReport;

/// Read-only: will Lambda accept the image as it is, and if not, can `fix` help?
pub async fn check(clients: &Clients, req: &CheckRequest) -> Result<Outcome<CheckReport>, Error> {
    let mut analysis = analyse(clients, &req.image, req.function.as_ref(), req.platform).await?;
    // An index links its attestations itself; a single manifest's are found as its
    // referrers. Best effort: provenance is information, not a verdict.
    if !analysis.assessment.is_index && analysis.assessment.problems.is_empty() {
        match ecr::list_referrers(&clients.ecr, &analysis.repo, analysis.root.digest()).await {
            Ok(referrers) => {
                analysis.assessment.provenance = referrers
                    .into_iter()
                    .filter(|r| {
                        r.artifact_type.as_deref()
                            == Some(crate::manifest::provenance::ATTESTATION_ARTIFACT_TYPE)
                            || r.annotations.contains_key(PREDICATE_TYPE)
                    })
                    .map(|r| Provenance {
                        digest: r.digest,
                        predicate_types: r
                            .annotations
                            .get(PREDICATE_TYPE)
                            .cloned()
                            .into_iter()
                            .collect(),
                        linked: Link::Referrer,
                    })
                    .collect();
            }
            Err(e) => analysis.assessment.warnings.push(Finding::new(
                Code::ProvenanceUnknown,
                format!(
                    "the image's referrers could not be listed, so its provenance is not shown: {e}"
                ),
            )),
        }
    }
    let report = analysis.report();
    let exit = if report.lambda_ready {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    Ok(Outcome { report, exit })
}
