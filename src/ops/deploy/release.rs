//! `--alias`: the release step of a deploy: the version that holds the target, and
//! the alias pointed at it.

use super::Target;
use crate::error::Error;
use crate::lambda::{self, FunctionRef, FunctionState, releases};
use crate::ops::{Clients, DeployRequest};
use crate::output::{AliasReport, AliasStatus, UpdateReport, UpdateStatus};

/// `--alias`: the alias as it was read, and whether it already runs the target.
pub(super) struct Release {
    name: String,
    before: Option<releases::Alias>,
    pub(super) runs_target: bool,
}

impl Release {
    pub(super) async fn read(
        clients: &Clients,
        fref: &FunctionRef,
        name: &str,
        target: &Target,
    ) -> Result<Release, Error> {
        let before = releases::get_alias(&clients.lambda, fref, name).await?;
        let runs_target = match &before {
            Some(alias) => lambda::get_qualified(
                &clients.lambda,
                fref,
                Some(&alias.version),
                &clients.lambda_region,
            )
            .await?
            .runs(&target.repository, &target.digest),
            None => false,
        };
        Ok(Release {
            name: name.to_owned(),
            before,
            runs_target,
        })
    }

    /// Points the alias at the version that holds the target: the one the update
    /// published, else one already published with this image, else a new one of
    /// what `$LATEST` runs. Not moved when the update did not succeed.
    pub(super) async fn point(
        self,
        clients: &Clients,
        req: &DeployRequest,
        fref: &FunctionRef,
        function: &FunctionState,
        target: &Target,
        update: &UpdateReport,
    ) -> Result<AliasReport, Error> {
        let previous = self.before.as_ref().map(|a| a.version.clone());
        let created = self.before.is_none();
        let report = |version: Option<String>, created: bool, status| AliasReport {
            name: self.name.clone(),
            version,
            previous_version: previous.clone(),
            created,
            status,
        };
        if self.runs_target {
            return Ok(report(previous.clone(), false, AliasStatus::Unchanged));
        }
        let moves = matches!(
            update.status,
            UpdateStatus::Successful | UpdateStatus::Unchanged | UpdateStatus::Planned
        );
        if !moves {
            return Ok(report(previous.clone(), false, AliasStatus::NotMoved));
        }
        let existing = || async {
            let versions = releases::list_versions(&clients.lambda, fref).await?;
            Ok::<_, Error>(
                versions
                    .into_iter()
                    .rev()
                    .find(|v| v.holds(&target.digest))
                    .map(|v| v.version),
            )
        };
        if req.dry_run {
            let reused = match update.status {
                UpdateStatus::Unchanged => existing().await?,
                _ => None,
            };
            return Ok(report(reused, created, AliasStatus::Planned));
        }
        let version = match &update.version {
            Some(version) => version.clone(),
            None => match existing().await? {
                Some(version) => version,
                None => {
                    releases::publish_version(
                        &clients.lambda,
                        fref,
                        &target.digest,
                        function.revision_id.as_deref(),
                    )
                    .await?
                }
            },
        };
        releases::point_alias(
            &clients.lambda,
            fref,
            &self.name,
            &version,
            self.before.as_ref(),
        )
        .await?;
        Ok(report(Some(version), created, AliasStatus::Moved))
    }
}
