//! The read phase: the image once, as each function sees it.

use aws_sdk_lambda::types::State;

use super::{Read, target_digest};
use crate::digest::Digest;
use crate::error::Error;
use crate::lambda::FunctionRef;
use crate::manifest::LambdaArch;
use crate::manifest::rules::{Code, Finding};
use crate::ops::{Analysis, Clients, DeployRequest, analyse_many, image_config, provenance};

/// The image and every function (one read of the image), the targets' configs and,
/// when a requirement asks, their provenance, each read once per digest.
pub(crate) async fn read(clients: &Clients, req: &DeployRequest) -> Result<Read, Error> {
    let mut analyses = analyse_many(clients, &req.image, &req.functions, req.platform).await?;
    // Provenance is read only when a requirement asks (BENCHMARKS.md: what it costs);
    // then --alias records the verified source and revision in the alias description.
    let snapshot = if req.provenance.any() {
        analyses.clone()
    } else {
        Vec::new()
    };
    let (_, provenance) = tokio::join!(
        read_configs(clients, &mut analyses, req.platform),
        read_provenance(clients, &snapshot, &req.provenance)
    );
    for (analysis, read) in analyses.iter_mut().zip(provenance?) {
        provenance::apply(analysis, read, &req.provenance);
    }
    for (analysis, function) in analyses.iter_mut().zip(&req.functions) {
        warn_not_active(analysis, function);
    }
    Ok(Read { analyses })
}

/// The provenance of the functions' targets, each read once (one entry per
/// analysis given; none when none is given).
async fn read_provenance(
    clients: &Clients,
    analyses: &[Analysis],
    requirements: &crate::manifest::statement::ProvenanceRequirements,
) -> Result<Vec<Option<provenance::ProvenanceRead>>, Error> {
    let mut read: Vec<(Digest, Option<provenance::ProvenanceRead>)> = Vec::new();
    let mut out = Vec::new();
    for analysis in analyses {
        let digest = target_digest(analysis);
        let got = match read.iter().find(|(d, _)| *d == digest) {
            Some((_, got)) => got.clone(),
            None => {
                let got = provenance::read(clients, analysis, requirements).await?;
                read.push((digest, got.clone()));
                got
            }
        };
        out.push(got);
    }
    Ok(out)
}

/// The configs of the functions' targets, each read once.
async fn read_configs(clients: &Clients, analyses: &mut [Analysis], platform: Option<LambdaArch>) {
    let mut read: Vec<(Digest, image_config::ConfigRead)> = Vec::new();
    for analysis in analyses.iter_mut() {
        let digest = target_digest(analysis);
        let config = match read.iter().find(|(d, _)| *d == digest) {
            Some((_, config)) => config.clone(),
            None => {
                let config = image_config::read(clients, analysis).await;
                read.push((digest, config.clone()));
                config
            }
        };
        image_config::apply(analysis, config, platform);
    }
}

fn warn_not_active(analysis: &mut Analysis, function: &FunctionRef) {
    let Some(state) = analysis.function.as_ref() else {
        return;
    };
    if let Some(s @ (State::Failed | State::Inactive)) = &state.state {
        let message = format!(
            "function {function} is {}{}; the update is attempted, which is how Lambda brings \
             such a function back",
            s.as_str(),
            state
                .state_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        analysis
            .assessment
            .warnings
            .push(Finding::new(Code::FunctionNotActive, message));
    }
}
