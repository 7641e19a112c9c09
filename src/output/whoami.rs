//! `whoami`: the identity, profile and regions the other commands would use.

use std::fmt;

use serde::Serialize;

use crate::config::RegionSource;
use crate::credentials::ProfileFrom;

/// Who the tool acts as, and where: what `whoami` prints.
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct WhoamiReport {
    /// The account the credentials belong to.
    pub account: String,
    /// The identity's ARN (an IAM user, an assumed role's session).
    pub arn: String,
    /// The identity's unique ID.
    pub user_id: String,
    /// The profile the credential chain read (it may have found credentials before it,
    /// in the environment say).
    pub profile: String,
    /// Where the profile's name came from: `flag`, `environment`, `default`.
    pub profile_from: ProfileFrom,
    /// The region the configuration gives, or null.
    pub region: Option<String>,
    /// Where it came from: `flag`, `environment`, `profile`, `image-uri`,
    /// `function-arn`, `instance-metadata`; null with `region`.
    pub region_from: Option<RegionSource>,
    /// Where ECR calls go (the image URI's region, else `region`).
    pub ecr_region: String,
    /// Where Lambda and CloudWatch calls go.
    pub lambda_region: String,
}

impl fmt::Display for WhoamiReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        say!(f, "identity: {}", self.arn)?;
        say!(f, "account:  {}", self.account)?;
        let profile_from = match self.profile_from {
            ProfileFrom::Flag => "from --profile",
            ProfileFrom::Environment => "from AWS_PROFILE",
            ProfileFrom::Default => "neither --profile nor AWS_PROFILE given",
        };
        say!(f, "profile:  {} ({profile_from})", self.profile)?;
        match (&self.region, self.region_from) {
            (Some(region), Some(source)) => {
                let source = match source {
                    RegionSource::Flag => "--region",
                    RegionSource::Environment => "AWS_REGION or AWS_DEFAULT_REGION",
                    RegionSource::Profile => "the profile",
                    RegionSource::ImageUri => "the image URI",
                    RegionSource::FunctionArn => "the function ARN",
                    RegionSource::InstanceMetadata => "instance metadata",
                };
                say!(f, "region:   {region} (from {source})")?;
            }
            _ => say!(f, "region:   none configured")?,
        }
        say!(f, "ECR:      {}", self.ecr_region)?;
        say!(f, "Lambda:   {}", self.lambda_region)
    }
}

impl super::Failures for WhoamiReport {}
