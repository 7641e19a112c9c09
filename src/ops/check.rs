use crate::error::{Error, ExitCode};
use crate::ops::{CheckRequest, Clients, Outcome, analyse};
use crate::output::CheckReport;

/// Read-only: will Lambda accept the image as it is, and if not, can `fix` help?
pub async fn check(clients: &Clients, req: &CheckRequest) -> Result<Outcome<CheckReport>, Error> {
    let analysis = analyse(clients, &req.image, req.function.as_ref(), req.platform).await?;
    let report = analysis.report();
    let exit = if report.lambda_ready {
        ExitCode::Success
    } else {
        ExitCode::NotUsable
    };
    Ok(Outcome { report, exit })
}
