use crate::digest::Digest;
use crate::ecr;
use crate::error::{AwsError, Error, ExitCode};
use crate::manifest::provenance::{self, Provenance};
use crate::manifest::rules::{Code, Finding};
use crate::ops::{Analysis, CheckRequest, Clients, Outcome, analyse, image_config};
use crate::output::CheckReport;

/// Read-only: will Lambda accept the image as it is, and if not, can `fix` help?
pub async fn check(clients: &Clients, req: &CheckRequest) -> Result<Outcome<CheckReport>, Error> {
    let mut analysis = analyse(clients, &req.image, req.function.as_ref(), req.platform).await?;
    // An index links its attestations itself; a single image's are its referrers.
    // Best effort: provenance is information, not a verdict. They are read together
    // with the config.
    let wants_referrers = !analysis.assessment.is_index && analysis.assessment.problems.is_empty();
    let (config, referrers) = tokio::join!(image_config::read(clients, &analysis), async {
        if wants_referrers {
            Some(referrer_provenance(clients, &analysis).await)
        } else {
            None
        }
    });
    image_config::apply(&mut analysis, config, req.platform);
    match referrers {
        None => {}
        Some(Ok(found)) => analysis.assessment.provenance = found,
        Some(Err(e)) => analysis.assessment.warnings.push(Finding::new(
            Code::ProvenanceUnknown,
            format!("the image's referrers could not be read, so its provenance is not shown: {e}"),
        )),
    }
    let report = analysis.report();
    let exit = if report.lambda_ready {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    Ok(Outcome { report, exit })
}

/// ListImageReferrers, then the attestation referrers by digest (for what they attest).
async fn referrer_provenance(
    clients: &Clients,
    analysis: &Analysis,
) -> Result<Vec<Provenance>, AwsError> {
    let subject = analysis.root.digest();
    let listed = ecr::list_referrers(&clients.ecr, &analysis.repo, subject).await?;
    let digests: Vec<Digest> = listed
        .iter()
        .filter(|r| provenance::is_attestation_referrer(r.artifact_type.as_deref()))
        .filter_map(|r| r.digest.parse().ok())
        .collect();
    let manifests = ecr::read_many(&clients.ecr, &analysis.repo, &digests).await?;
    Ok(provenance::from_referrers(subject, &manifests))
}
