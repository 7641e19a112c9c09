use crate::error::{Error, ExitCode};
use crate::ops::{CheckRequest, Clients, Outcome, analyse, image_config, provenance};
use crate::output::CheckReport;

/// Read-only: will Lambda accept the image as it is, and if not, can `fix` help?
/// With provenance requirements, an image whose provenance does not meet them is
/// not usable (exit 1).
pub async fn check(clients: &Clients, req: &CheckRequest) -> Result<Outcome<CheckReport>, Error> {
    let mut analysis = analyse(clients, &req.image, req.function.as_ref(), req.platform).await?;
    // An index links its attestations itself; a single image's are its referrers.
    // Without requirements this is information, not a verdict (best effort). They
    // are read together with the config.
    let (config, read) = tokio::join!(
        image_config::read(clients, &analysis),
        provenance::read(clients, &analysis, &req.provenance)
    );
    image_config::apply(&mut analysis, config, req.platform);
    provenance::apply(&mut analysis, read?, &req.provenance);
    let report = analysis.report();
    let exit = if report.lambda_ready {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    Ok(Outcome { report, exit })
}
