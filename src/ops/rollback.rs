//! `rollback`: an alias pointed back at an earlier version, or `$LATEST` updated to
//! an earlier version's image (by digest, with the RevisionId, waited for as deploy
//! does).

use std::time::Duration;

use crate::error::{Error, ExitCode};
use crate::lambda::releases::{self, Version};
use crate::lambda::{self, FunctionRef};
use crate::ops::deploy::{Patience, Target, settle_first, update_and_wait};
use crate::ops::way_back::{self, Image};
use crate::ops::{Clients, DeployRequest, Outcome};
use crate::output::{
    FunctionReport, RollbackReport, RollbackStatus, UpdateReport, UpdateStatus, VersionReport,
};

/// What `rollback` is asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollbackRequest {
    /// The function to roll back.
    pub function: FunctionRef,
    /// Move this alias back; without it, `$LATEST` is updated.
    pub alias: Option<String>,
    /// `--to VERSION`; else the newest earlier version with another image.
    pub to: Option<String>,
    /// Read and decide, but move no alias and update nothing.
    pub dry_run: bool,
    /// Wait for an update of `$LATEST` to finish (`false` with `--no-wait`).
    pub wait: bool,
    /// How long to wait for it.
    pub wait_timeout: Duration,
    /// Show a spinner on stderr while waiting.
    pub progress: bool,
}

/// Rolls a function back: the alias to an earlier version, or `$LATEST` to an earlier
/// version's image, by digest. Nothing to roll back to, or a version whose image is no
/// longer in ECR, is a report with [`ExitCode::NotUsable`] and its reason.
pub async fn rollback(
    clients: &Clients,
    req: &RollbackRequest,
) -> Result<Outcome<RollbackReport>, Error> {
    // Every call about the function in its own region.
    let clients = &clients.for_function(&req.function);
    let lambda = &clients.lambda;
    let read_alias = async {
        match &req.alias {
            Some(name) => releases::get_alias(lambda, &req.function, name)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let (versions, latest, alias) = tokio::join!(
        releases::list_versions(lambda, &req.function),
        lambda::get_function(lambda, &req.function, &clients.lambda_region),
        read_alias
    );
    let (versions, latest, alias) = (versions?, latest?, alias?.flatten());
    let patience = Patience {
        timeout: req.wait_timeout,
        progress: req.progress,
    };
    // Without --alias, "previous" is measured from what $LATEST runs: an update still
    // in progress (after deploy --no-wait) is waited for first, as deploy does, since
    // what GetFunction shows mid-update is not documented.
    let latest = if req.alias.is_none() && !req.dry_run && !latest.settled() {
        settle_first(clients, patience, &req.function, latest).await?
    } else {
        latest
    };
    let mut report = RollbackReport {
        function: FunctionReport {
            name: latest.name.clone(),
            arn: latest.arn.clone(),
            architectures: latest.architectures.clone(),
            state: latest.state.as_ref().map(|s| s.as_str().to_owned()),
        },
        alias: req.alias.clone(),
        from: VersionReport {
            version: None,
            image_uri: latest.image_uri.clone(),
        },
        to: None,
        update: None,
        status: RollbackStatus::Unchanged,
        weights_removed: None,
        reason: None,
        description: alias.as_ref().and_then(|a| a.description.clone()),
    };
    let not_usable = |mut report: RollbackReport, reason: String| {
        report.reason = Some(reason);
        Ok(Outcome {
            report,
            exit: ExitCode::NotUsable,
        })
    };

    // Where it is now: the alias's version, else $LATEST.
    let from_sha = match (&req.alias, &alias) {
        (Some(name), None) => {
            return not_usable(report, format!("{} has no alias {name}", req.function));
        }
        (_, Some(alias)) => {
            report.from.version = Some(alias.version.clone());
            // An alias may point at $LATEST itself: what it runs is $LATEST's image.
            match versions.iter().find(|v| v.version == alias.version) {
                Some(v) => v.code_sha256.clone(),
                None => latest.running_digest.as_ref().map(|d| d.hex().to_owned()),
            }
        }
        (None, None) => latest.running_digest.as_ref().map(|d| d.hex().to_owned()),
    };

    // An alias in the middle of a gradual release: rolling back is aborting it, the
    // weights cleared and its own version keeping all the traffic.
    if let (Some(name), Some(alias), None) = (&req.alias, &alias, &req.to)
        && !alias.weights.is_empty()
    {
        report.to = Some(VersionReport {
            version: Some(alias.version.clone()),
            image_uri: report.from.image_uri.clone(),
        });
        let version_state = lambda::get_qualified(
            lambda,
            &req.function,
            Some(&alias.version),
            &clients.lambda_region,
        )
        .await?;
        report.to.as_mut().expect("set above").image_uri = Some(version_state.running());
        // As `release abort`: all the traffic back to a version Lambda can pull.
        if let Some(back) = Image::of(&version_state)
            && let Some(why) = way_back_refused(clients, req, &back, &alias.version).await?
        {
            return not_usable(report, why);
        }
        report.weights_removed = Some(alias.weights.clone());
        report.status = if req.dry_run {
            RollbackStatus::Planned
        } else {
            releases::update_alias(lambda, &req.function, alias, &alias.version, None).await?;
            RollbackStatus::RolledBack
        };
        report.reason = Some(format!(
            "alias {name} was in the middle of a gradual release: its weights are {}, version {} \
             takes all the traffic",
            if req.dry_run {
                "to be cleared"
            } else {
                "cleared"
            },
            alias.version
        ));
        return Ok(Outcome {
            report,
            exit: ExitCode::Success,
        });
    }

    // "Previous" is measured from the release running now: the newest published
    // version that holds the current image. A second rollback goes one release
    // further back, never forward to the release it just left.
    let from_number = match &alias {
        Some(a) if a.version != "$LATEST" => versions
            .iter()
            .find(|v| v.version == a.version)
            .map(|v| v.number),
        _ => versions
            .iter()
            .rev()
            .find(|v| from_sha.is_some() && v.code_sha256 == from_sha)
            .map(|v| v.number),
    };
    let chosen: Option<&Version> = match &req.to {
        Some(to) => match versions.iter().find(|v| &v.version == to) {
            Some(v) => Some(v),
            None => {
                return not_usable(
                    report,
                    format!("{} has no published version {to}", req.function),
                );
            }
        },
        None => versions
            .iter()
            .rev()
            .find(|v| from_number.is_none_or(|n| v.number < n) && v.code_sha256 != from_sha),
    };
    let Some(chosen) = chosen else {
        return not_usable(
            report,
            format!(
                "nothing to roll back to: {} has no earlier published version with another image",
                req.function
            ),
        );
    };

    // The version rolled back to, and (for an alias) the one it leaves: read together.
    let read_from = async {
        match &alias {
            Some(a) => lambda::get_qualified(
                lambda,
                &req.function,
                Some(&a.version),
                &clients.lambda_region,
            )
            .await
            .map(Some),
            None => Ok(None),
        }
    };
    let (to, from) = tokio::join!(
        lambda::get_qualified(
            lambda,
            &req.function,
            Some(&chosen.version),
            &clients.lambda_region,
        ),
        read_from
    );
    let to = to?;
    if let Some(from) = from? {
        report.from.image_uri = Some(from.running());
    }
    let back = Image::of(&to);
    report.to = Some(VersionReport {
        version: Some(chosen.version.clone()),
        image_uri: back.as_ref().map(|b| b.image.to_string()),
    });
    let Some(back) = back else {
        return not_usable(
            report,
            format!(
                "version {} does not name its image by digest",
                chosen.version
            ),
        );
    };
    // A version whose image is gone cannot run (Lambda's ImageDeleted), nor one
    // whose image is archived or being restored (Lambda cannot pull it).
    if let Some(why) = way_back_refused(clients, req, &back, &chosen.version).await? {
        return not_usable(report, why);
    }
    let (image, digest) = (back.image, back.digest);

    if let (Some(name), Some(alias)) = (&req.alias, &alias) {
        // An alias mid-release moved with --to: its weights go too, and are reported.
        if !alias.weights.is_empty() {
            report.weights_removed = Some(alias.weights.clone());
        }
        report.status = if alias.version == chosen.version && alias.weights.is_empty() {
            RollbackStatus::Unchanged
        } else if req.dry_run {
            RollbackStatus::Planned
        } else {
            // The description recorded what the deploy put there; it no longer runs.
            let description = rolled_back_description(&digest, alias.description.as_deref());
            releases::point_alias(
                lambda,
                &req.function,
                name,
                &chosen.version,
                Some(alias),
                Some(&description),
            )
            .await?;
            RollbackStatus::RolledBack
        };
        return Ok(Outcome {
            report,
            exit: ExitCode::Success,
        });
    }
    let target = Target {
        uri: image.to_string(),
        repository: to.running_repository.clone().unwrap_or_default(),
        digest,
    };
    let update = if latest.runs(&target.repository, &target.digest) {
        UpdateReport::new(UpdateStatus::Unchanged)
    } else if req.dry_run {
        UpdateReport::new(UpdateStatus::Planned)
    } else {
        let as_deploy = DeployRequest {
            image,
            functions: vec![req.function.clone()],
            concurrency: 1,
            platform: None,
            tag: None,
            publish: false,
            alias: None,
            wait: req.wait,
            wait_timeout: req.wait_timeout,
            dry_run: false,
            keep_provenance: false,
            progress: req.progress,
            gradual: None,
            provenance: Default::default(),
            protect: false,
        };
        // As deploy does: a function being created, or busy with another update, is
        // waited for first (Lambda would refuse the update).
        let latest = settle_first(clients, patience, &req.function, latest.clone()).await?;
        if latest.runs(&target.repository, &target.digest) {
            UpdateReport::new(UpdateStatus::Unchanged)
        } else {
            update_and_wait(clients, &as_deploy, &req.function, &latest, &target).await?
        }
    };
    report.status = match update.status {
        UpdateStatus::Successful => RollbackStatus::RolledBack,
        UpdateStatus::Unchanged => RollbackStatus::Unchanged,
        UpdateStatus::Planned => RollbackStatus::Planned,
        UpdateStatus::Failed => RollbackStatus::Failed,
        UpdateStatus::InProgress => RollbackStatus::InProgress,
    };
    let exit = match update.status {
        UpdateStatus::Failed => ExitCode::NotUsable,
        UpdateStatus::InProgress if req.wait => ExitCode::NotUsable,
        _ => ExitCode::Success,
    };
    report.update = Some(update);
    Ok(Outcome { report, exit })
}

/// Why the target version's image cannot be rolled back to, if it cannot: gone, or
/// archived or being restored (the way back's own judgment, shared with `release
/// abort`). One DescribeImages (every image status included).
async fn way_back_refused(
    clients: &Clients,
    req: &RollbackRequest,
    image: &Image,
    version: &str,
) -> Result<Option<String>, Error> {
    let facts = way_back::describe(clients, image).await?;
    Ok(way_back::unpullable(facts.as_ref()).map(|why| {
        way_back::refusal(
            why,
            version,
            image,
            &req.function.to_string(),
            "roll back to another version (--to)",
        )
    }))
}

/// The alias's description after a rollback: the image it runs now, and what the
/// description said before (the deploy rolled back), within Lambda's 256 characters.
fn rolled_back_description(digest: &crate::digest::Digest, before: Option<&str>) -> String {
    let short = digest.as_str().get(..19).unwrap_or(digest.as_str());
    let text = match before {
        // The description read is outside text (anyone who can update the alias
        // wrote it): escaped, as the deploy's own description is.
        Some(before) => format!(
            "{short} (rolled back by ecr-lambda from: {})",
            crate::text::Safe(before)
        ),
        None => format!("{short} (rolled back by ecr-lambda)"),
    };
    let max = crate::manifest::statement::MAX_ALIAS_DESCRIPTION;
    if text.chars().count() <= max {
        text
    } else {
        let cut: String = text.chars().take(max - 2).collect();
        format!("{cut}…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_rolled_back_from_is_recorded_escaped() {
        let digest: crate::digest::Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let text = rolled_back_description(&digest, Some("sha256:cd\u{1b}[2J\nforged"));
        assert_eq!(
            text,
            "sha256:abababababab (rolled back by ecr-lambda from: sha256:cd\\u{1b}[2J\\u{a}forged)"
        );
    }
}
