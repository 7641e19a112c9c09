//! The deploy's report, and each function's entry in it.

use crate::error::ExitCode;
use crate::manifest::rules::Code;
use crate::ops::fix::Fixed;
use crate::ops::{Analysis, Outcome};
use crate::output::{
    DeployReport, DeploymentReport, ErrorDetail, FixReport, FunctionReport, ReleaseReport,
};

pub(super) fn function_report(analysis: &Analysis) -> FunctionReport {
    let f = analysis
        .function
        .as_ref()
        .expect("deploy reads every function");
    FunctionReport {
        name: f.name.clone(),
        arn: f.arn.clone(),
        architectures: f.architectures.clone(),
        state: f.state.as_ref().map(|s| s.as_str().to_owned()),
    }
}

/// The report: the image as read (its problems and warnings for every function),
/// and one entry per function, in the order given.
pub(super) fn report(
    analyses: &[Analysis],
    fixed: &Fixed,
    tag: Option<String>,
    deployments: Vec<DeploymentReport>,
    release: Option<ReleaseReport>,
    exit: ExitCode,
) -> Outcome<DeployReport> {
    let mut check = analyses[0].report();
    for other in &analyses[1..] {
        let other = other.report();
        for p in other.problems {
            if !check.problems.contains(&p) {
                check.problems.push(p);
            }
        }
        for w in other.warnings {
            if !check.warnings.contains(&w) {
                check.warnings.push(w);
            }
        }
        if check.target != other.target {
            check.target = None;
        }
        if check.config != other.config {
            check.config = None;
        }
    }
    let one = (deployments.len() == 1).then(|| deployments[0].clone());
    Outcome {
        report: DeployReport {
            fix: FixReport {
                check,
                written_tag: fixed.action.and(tag),
                action: fixed.action,
                provenance_written: fixed.provenance_written.clone(),
            },
            function: one.as_ref().map(|d| d.function.clone()),
            image_uri: one.as_ref().and_then(|d| d.image_uri.clone()),
            update: one.as_ref().and_then(|d| d.update.clone()),
            alias: one.as_ref().and_then(|d| d.alias.clone()),
            deployments,
            release,
            protected: Vec::new(),
        },
        exit,
    }
}

/// A function that was not updated: what stops it from running the image (none when
/// it could, and another function or a write stopped the deploy), or the error that
/// stopped it.
pub(super) fn stopped(analysis: &Analysis, error: Option<ErrorDetail>) -> DeploymentReport {
    let a = &analysis.assessment;
    let problems = if a.lambda_ready() || a.fixable() {
        a.problems
            .iter()
            .filter(|p| p.code != Code::ImageIndex)
            .cloned()
            .collect()
    } else {
        a.problems.clone()
    };
    DeploymentReport {
        function: function_report(analysis),
        image_uri: None,
        written_tag: None,
        update: None,
        alias: None,
        problems,
        error,
    }
}
