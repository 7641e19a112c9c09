//! Building the SDK clients: the standard credential chain, one shared config, and
//! each service client pointed at the region its resources are in.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::Region;
use aws_config::environment::EnvironmentVariableRegionProvider;
use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::region::ProvideRegion;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::calls::CallStats;
use crate::error::Error;

/// The SDK clients, each in the region its calls must go to.
#[derive(Clone, Debug)]
pub struct Clients {
    /// The ECR client, in `ecr_region`.
    pub ecr: aws_sdk_ecr::Client,
    /// The Lambda client, in `lambda_region`.
    pub lambda: aws_sdk_lambda::Client,
    /// The CloudWatch client, in `lambda_region`: the alarms that gate a release are
    /// read where the function is.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// Where the repository is: the region in the image URI, else the configured one.
    pub ecr_region: String,
    /// Where the function is: `--region`, else the region in a function ARN, else
    /// the image URI's, else the configured one.
    pub lambda_region: String,
    /// The tally every call is counted in (the clients' interceptor), blob GETs too.
    pub calls: CallStats,
}

impl Clients {
    /// These clients, with Lambda's in the function's own region (see
    /// [`Clients::lambda_for`]): every call about one function goes there.
    pub fn for_function(&self, function: &crate::lambda::FunctionRef) -> Clients {
        let (lambda, lambda_region) = self.lambda_for(function);
        Clients {
            cloudwatch: self.cloudwatch_in(&lambda_region),
            lambda,
            lambda_region,
            ..self.clone()
        }
    }

    /// The CloudWatch client for `region`: alarms are regional, and those that gate
    /// a function's release are read where the function is.
    pub fn cloudwatch_in(&self, region: &str) -> aws_sdk_cloudwatch::Client {
        if region == self.lambda_region {
            return self.cloudwatch.clone();
        }
        let config = self
            .cloudwatch
            .config()
            .to_builder()
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }

    /// Where calls to `service` (`ecr`, `lambda`, `monitoring`) go, for messages: the
    /// endpoint given, else AWS's regional one.
    pub fn endpoint(&self, service: &str, endpoint_url: Option<&str>) -> String {
        if let Some(url) = endpoint_url {
            return url.to_owned();
        }
        let region = if service == "ecr" {
            &self.ecr_region
        } else {
            &self.lambda_region
        };
        format!("https://{service}.{region}.amazonaws.com")
    }

    /// The Lambda client for a function: the one in `lambda_region`, unless the
    /// function's ARN names another region (then a client there, on the same
    /// configuration), and that region.
    pub fn lambda_for(
        &self,
        function: &crate::lambda::FunctionRef,
    ) -> (aws_sdk_lambda::Client, String) {
        match &function.region {
            Some(region) if *region != self.lambda_region => {
                let config = self
                    .lambda
                    .config()
                    .to_builder()
                    .region(Region::new(region.clone()))
                    .build();
                (aws_sdk_lambda::Client::from_conf(config), region.clone())
            }
            _ => (self.lambda.clone(), self.lambda_region.clone()),
        }
    }
}

/// The AWS options every command shares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsOptions {
    /// `--profile`: a named profile from the AWS config files.
    pub profile: Option<String>,
    /// `--region`: where Lambda calls go, and ECR's when the image URI names no region.
    pub region: Option<String>,
    /// `--endpoint-url`: send ECR and Lambda calls here instead (an emulator, say).
    pub endpoint_url: Option<String>,
    /// Attempts per call, retries included (standard retry mode); must be at least 1.
    pub max_attempts: u32,
    /// How long to wait for a connection to AWS.
    pub connect_timeout: Duration,
    /// How long to wait for AWS to answer a call.
    pub read_timeout: Duration,
}

/// Where the resources are, as far as the command line says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Regions {
    /// The region in the image URI.
    pub image: Option<String>,
    /// The region in a function ARN.
    pub function: Option<String>,
}

/// Where the region the SDK uses came from (`whoami` says it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum RegionSource {
    /// `--region`.
    Flag,
    /// `AWS_REGION` or `AWS_DEFAULT_REGION`.
    Environment,
    /// The profile's `region`.
    Profile,
    /// The image URI's registry.
    ImageUri,
    /// The function ARN.
    FunctionArn,
    /// The EC2 instance metadata service.
    InstanceMetadata,
}

/// The SDK's region: `--region`, the environment, the profile, then the region the
/// image URI or function ARN names, and only when none of them gives one, instance
/// metadata (a probe that costs seconds and logs warnings off EC2).
async fn region(options: &AwsOptions, regions: &Regions) -> Option<(Region, RegionSource)> {
    let named = |r: &Option<String>| r.clone().map(Region::new);
    if let Some(r) = named(&options.region) {
        return Some((r, RegionSource::Flag));
    }
    if let Some(r) = EnvironmentVariableRegionProvider::new().region().await {
        return Some((r, RegionSource::Environment));
    }
    let mut profile = ProfileFileRegionProvider::builder();
    if let Some(name) = &options.profile {
        profile = profile.profile_name(name);
    }
    if let Some(r) = profile.build().region().await {
        return Some((r, RegionSource::Profile));
    }
    if let Some(r) = named(&regions.image) {
        return Some((r, RegionSource::ImageUri));
    }
    if let Some(r) = named(&regions.function) {
        return Some((r, RegionSource::FunctionArn));
    }
    let r = ImdsRegionProvider::builder().build().region().await?;
    Some((r, RegionSource::InstanceMetadata))
}

/// The shared configuration, with credentials already resolved.
#[derive(Debug)]
pub struct Setup {
    /// The SDK configuration every client is built from.
    pub shared: aws_config::SdkConfig,
    /// The region it names, and where that came from.
    pub region: Option<(String, RegionSource)>,
    /// Where ECR calls go.
    pub ecr_region: String,
    /// Where Lambda (and CloudWatch) calls go.
    pub lambda_region: String,
}

/// Loads the configuration as every command does, resolves credentials once through
/// the chain the calls will use (a setup that gives none stops here, with its cause,
/// not in a failed call), and decides the services' regions.
pub async fn setup(options: &AwsOptions, regions: &Regions) -> Result<Setup, Error> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(options.max_attempts))
        // A stalled endpoint is given up on within one read timeout per attempt, and
        // two per call (retries included): 30 s and 60 s by default, where the SDK's
        // own defaults let a call hang for 3 × 30 s and more.
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(options.connect_timeout)
                .read_timeout(options.read_timeout)
                .operation_attempt_timeout(options.read_timeout)
                .operation_timeout(options.read_timeout * 2)
                .build(),
        );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    // Our own chain replaces the SDK's default, which asks instance metadata before
    // the region the image URI names.
    let region = region(options, regions).await;
    loader = loader.region(region.as_ref().map(|(r, _)| r.clone()));
    if let Some(url) = &options.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let configured = shared.region().map(|r| r.to_string());
    let no_region = || {
        Error::Usage(
            "no AWS region: pass --region, use a full image URI \
             (ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY), or set AWS_REGION or a profile region"
                .into(),
        )
    };
    // The repository is where its URI says; the function is where --region, its ARN
    // or else the image says.
    let ecr_region = regions
        .image
        .clone()
        .or_else(|| configured.clone())
        .ok_or_else(no_region)?;
    let lambda_region = options
        .region
        .clone()
        .or_else(|| regions.function.clone())
        .or_else(|| regions.image.clone())
        .or(configured)
        .ok_or_else(no_region)?;
    // Credentials last, once the command is known to be able to run.
    let shared = match shared.credentials_provider() {
        Some(chain) => {
            let source = crate::credentials::ProfileSource {
                flag: options.profile.clone(),
            };
            let resolved = crate::credentials::resolve(chain, &source).await?;
            shared.into_builder().credentials_provider(resolved).build()
        }
        None => shared,
    };

    Ok(Setup {
        shared,
        region: region.map(|(r, from)| (r.to_string(), from)),
        ecr_region,
        lambda_region,
    })
}

/// Builds the clients; every call they make is counted in `calls`.
pub async fn clients(
    options: &AwsOptions,
    regions: &Regions,
    calls: &CallStats,
) -> Result<Clients, Error> {
    let Setup {
        shared,
        ecr_region,
        lambda_region,
        ..
    } = setup(options, regions).await?;
    let ecr = aws_sdk_ecr::config::Builder::from(&shared)
        .region(Region::new(ecr_region.clone()))
        .interceptor(calls.clone())
        .build();
    let lambda = aws_sdk_lambda::config::Builder::from(&shared)
        .region(Region::new(lambda_region.clone()))
        .interceptor(calls.clone())
        .build();
    let cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&shared)
        .region(Region::new(lambda_region.clone()))
        .interceptor(calls.clone())
        .build();
    Ok(Clients {
        ecr: aws_sdk_ecr::Client::from_conf(ecr),
        lambda: aws_sdk_lambda::Client::from_conf(lambda),
        cloudwatch: aws_sdk_cloudwatch::Client::from_conf(cloudwatch),
        ecr_region,
        lambda_region,
        calls: calls.clone(),
    })
}
