//! `--alias`: the release step of a deploy: the version that holds the target, and
//! the alias pointed at it (at once, or gradually: [`crate::ops::release`]).

use super::Target;
use crate::error::{AwsError, AwsErrorKind, Error};
use crate::lambda::releases::{self, Alias};
use crate::lambda::{self, FunctionRef, FunctionState};
use crate::ops::{Clients, DeployRequest};
use crate::output::{AliasReport, AliasStatus, UpdateReport, UpdateStatus};

/// `--alias`: the alias as it was read before anything was written, the version it
/// points at, and whether it already runs the target with all the traffic.
#[derive(Clone, Debug)]
pub(crate) struct Release {
    pub(crate) name: String,
    pub(crate) before: Option<Alias>,
    /// GetFunction of the alias's version: its image, role and dead-letter queue.
    pub(crate) current: Option<FunctionState>,
    /// The alias's version runs the target, and no other version takes a share.
    pub(crate) runs_target: bool,
    /// What the alias's description is set to when it is moved (what was deployed,
    /// and its provenance).
    pub(crate) description: Option<String>,
}

impl Release {
    pub(crate) async fn read(
        clients: &Clients,
        fref: &FunctionRef,
        name: &str,
        target: &Target,
    ) -> Result<Release, Error> {
        let before = releases::get_alias(&clients.lambda, fref, name).await?;
        let current = match &before {
            Some(alias) => Some(
                lambda::get_qualified(
                    &clients.lambda,
                    fref,
                    Some(&alias.version),
                    &clients.lambda_region,
                )
                .await?,
            ),
            None => None,
        };
        let runs_target = current
            .as_ref()
            .is_some_and(|c| c.runs(&target.repository, &target.digest))
            && before.as_ref().is_some_and(|a| a.weights.is_empty());
        Ok(Release {
            name: name.to_owned(),
            before,
            current,
            runs_target,
            description: None,
        })
    }

    /// The report of an alias this deploy leaves as it was read.
    pub(crate) fn report(&self, version: Option<String>, status: AliasStatus) -> AliasReport {
        AliasReport {
            name: self.name.clone(),
            version,
            previous_version: self.before.as_ref().map(|a| a.version.clone()),
            created: false,
            status,
            weights: self
                .before
                .as_ref()
                .map(|a| a.weights.clone())
                .unwrap_or_default(),
            weights_removed: None,
            rolled_back_by: None,
        }
    }

    /// The version that holds the target: the one the update published, else the
    /// alias's own when it holds the target, else the newest already published with
    /// this image, else a new one of what `$LATEST` runs. `None` in a dry run when it
    /// is yet to be published.
    pub(crate) async fn version(
        &self,
        clients: &Clients,
        req: &DeployRequest,
        fref: &FunctionRef,
        function: &FunctionState,
        target: &Target,
        update: &UpdateReport,
    ) -> Result<Option<String>, Error> {
        if let Some(version) = &update.version {
            return Ok(Some(version.clone()));
        }
        if let (Some(alias), Some(current)) = (&self.before, &self.current)
            && current.runs(&target.repository, &target.digest)
        {
            return Ok(Some(alias.version.clone()));
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
            return match update.status {
                UpdateStatus::Unchanged => existing().await,
                _ => Ok(None),
            };
        }
        match existing().await? {
            // A plain --alias moves all the traffic at once: only an Active version
            // takes it. (A gradual release checks the version it is given in its own
            // step, where a refusal is the release's report.)
            Some(version) if req.gradual.is_none() => {
                let state = lambda::get_qualified(
                    &clients.lambda,
                    fref,
                    Some(&version),
                    &clients.lambda_region,
                )
                .await?;
                match state.not_invocable() {
                    None => Ok(Some(version)),
                    Some(why) => Err(AwsError::new(
                        "GetFunction",
                        AwsErrorKind::Conflict,
                        format!(
                            "version {version} of {fref} holds the image but is {why}; only an \
                             Active version takes an alias's traffic, and alias {} was not moved",
                            self.name
                        ),
                    )
                    .with_hint(format!(
                        "an Inactive version turns Active again once invoked (`aws lambda invoke \
                         --function-name {fref} --qualifier {version} out.json`); a Failed one \
                         needs a new version: change the image or the configuration and deploy \
                         again"
                    ))
                    .into()),
                }
            }
            Some(version) => Ok(Some(version)),
            None => Ok(Some(
                releases::publish_version(
                    &clients.lambda,
                    fref,
                    &target.digest,
                    function.revision_id.as_deref(),
                )
                .await?,
            )),
        }
    }

    /// Points the alias at the version that holds the target, with all the traffic
    /// (weights an unfinished release left are removed, and reported). Not moved when
    /// the update did not succeed.
    pub(crate) async fn point(
        self,
        clients: &Clients,
        req: &DeployRequest,
        fref: &FunctionRef,
        function: &FunctionState,
        target: &Target,
        update: &UpdateReport,
    ) -> Result<AliasReport, Error> {
        let previous = self.before.as_ref().map(|a| a.version.clone());
        if self.runs_target {
            return Ok(self.report(previous, AliasStatus::Unchanged));
        }
        let moves = matches!(
            update.status,
            UpdateStatus::Successful | UpdateStatus::Unchanged | UpdateStatus::Planned
        );
        // After Ctrl-C no further write starts.
        if !moves || (crate::interrupt::heard() && !req.dry_run) {
            return Ok(self.report(previous, AliasStatus::NotMoved));
        }
        let version = self
            .version(clients, req, fref, function, target, update)
            .await?;
        let removed = self
            .before
            .as_ref()
            .filter(|a| !a.weights.is_empty())
            .map(|a| a.weights.clone());
        let created = self.before.is_none();
        let version = match version {
            Some(version) if !req.dry_run => version,
            planned => {
                return Ok(AliasReport {
                    created,
                    weights_removed: removed,
                    ..self.report(planned, AliasStatus::Planned)
                });
            }
        };
        let after = releases::point_alias(
            &clients.lambda,
            fref,
            &self.name,
            &version,
            self.before.as_ref(),
            self.description.as_deref(),
        )
        .await?;
        Ok(AliasReport {
            created,
            weights: after.weights,
            weights_removed: removed,
            ..self.report(Some(version), AliasStatus::Moved)
        })
    }
}
