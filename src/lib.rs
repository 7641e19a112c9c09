//! ecr-lambda: make container images in Amazon ECR deployable to AWS Lambda, and deploy them.
//!
//! Docker buildx pushes an image index (the image plus provenance attestations) that
//! Lambda rejects. This crate reads the manifests from ECR as exact bytes, chooses the
//! platform manifest Lambda should run, points a tag at it with PutImage (the same
//! bytes, digest verified), and deploys it by digest.
//!
//! The library API is [`check`], [`fix`] and [`deploy`] over SDK clients ([`Clients`]);
//! [`manifest`] is the pure core that makes every decision.
//!
//! - [`check`] reads the image (and the function, if given) and says whether Lambda
//!   would run it as it is. It writes nothing.
//! - [`fix`] points a tag at the platform manifest Lambda should run, and with
//!   `keep_provenance` writes the attestations the index linked again as its referrers.
//! - [`deploy`] does what fix would when it must, then updates each function's code
//!   to the target, by digest, and waits for the update unless `wait` is off.
//!
//! Each returns an [`Outcome`]: the report (what the JSON output prints) and the
//! [`ExitCode`] it calls for. An image that cannot be used is a report with
//! [`ExitCode::NotUsable`] and its problems, not an [`Error`]; an [`Error`] is bad
//! input, a failed AWS call or an interruption.
//!
//! [`config::clients`] builds the [`Clients`] as the binary does: the standard
//! credential chain (`aws_config::defaults(BehaviorVersion::latest())`), the retry and
//! timeout options, and each client in the region its resource is in. A [`Clients`]
//! can as well be made by hand from any `SdkConfig`; `ecr_region` is where the
//! repository is, `lambda_region` where the functions are.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use ecr_lambda::calls::CallStats;
//! use ecr_lambda::config::{self, AwsOptions, Regions};
//! use ecr_lambda::lambda::FunctionRef;
//! use ecr_lambda::reference::ImageRef;
//! use ecr_lambda::manifest::statement::ProvenanceRequirements;
//! use ecr_lambda::{CheckRequest, DeployRequest, ExitCode, FixRequest};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let image: ImageRef = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v7".parse()?;
//!     let function: FunctionRef = "app".parse()?;
//!
//!     // Profile, region and endpoint from the environment; the repository in the
//!     // region its URI names.
//!     let options = AwsOptions {
//!         max_attempts: 3,
//!         connect_timeout: Duration::from_secs(5),
//!         read_timeout: Duration::from_secs(30),
//!         ..AwsOptions::default()
//!     };
//!     let regions = Regions {
//!         image: image.registry.as_ref().map(|r| r.region.clone()),
//!         function: function.region.clone(),
//!     };
//!     let clients = config::clients(&options, &regions, &CallStats::default()).await?;
//!
//!     // Would Lambda run the image as it is, on this function? Nothing is written.
//!     let checked = ecr_lambda::check(
//!         &clients,
//!         &CheckRequest {
//!             image: image.clone(),
//!             function: Some(function.clone()),
//!             platform: None, // the function's architecture decides
//!             provenance: ProvenanceRequirements::none(), // show it, require nothing
//!         },
//!     )
//!     .await?;
//!     for problem in &checked.report.problems {
//!         eprintln!("{}: {}", problem.code, problem.message);
//!     }
//!
//!     // Point a tag at the manifest Lambda should run, keeping its provenance.
//!     let fixed = ecr_lambda::fix(
//!         &clients,
//!         &FixRequest {
//!             image: image.clone(),
//!             function: Some(function.clone()),
//!             platform: None,
//!             tag: None, // v7 itself, or v7-arm64 for a multi-platform index
//!             dry_run: false,
//!             keep_provenance: true,
//!             provenance: ProvenanceRequirements::none(),
//!         },
//!     )
//!     .await?;
//!     if fixed.exit != ExitCode::Success {
//!         return Err(format!("{image} cannot be fixed").into());
//!     }
//!
//!     // Update the function to the target, by digest, and wait for it. Deploy fixes
//!     // the tag itself when it must: fix first is not needed.
//!     let deployed = ecr_lambda::deploy(
//!         &clients,
//!         &DeployRequest {
//!             image,
//!             functions: vec![function],
//!             concurrency: 1,
//!             platform: None,
//!             tag: None,
//!             publish: false,
//!             alias: None,
//!             wait: true,
//!             wait_timeout: Duration::from_secs(300),
//!             dry_run: false,
//!             keep_provenance: true,
//!             progress: false,
//!             gradual: None, // all the traffic at once (there is no alias here anyway)
//!             // Built from this commit of this repository, or nothing is written.
//!             provenance: ProvenanceRequirements {
//!                 source: Some("https://github.com/org/app".into()),
//!                 revision: Some("a9ba846486420e07d30db1107411ac3697ecab68".parse()?),
//!                 ..ProvenanceRequirements::default()
//!             },
//!             protect: false, // `deploy --protect`: tag the image and the way back
//!         },
//!     )
//!     .await?;
//!     std::process::exit(deployed.exit.code());
//! }
//! ```

#![warn(missing_docs)]

pub mod alarms;
pub mod calls;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod digest;
pub mod ecr;
pub mod error;
pub mod interrupt;
pub mod lambda;
pub mod manifest;
pub mod ops;
pub mod output;
pub mod reference;
pub mod retention;
pub mod strategy;
pub mod text;
pub mod timeline;

pub use error::{Error, ExitCode};
pub use ops::{
    CheckRequest, Clients, DeployRequest, FixRequest, Gradual, Outcome, Probe, check, deploy, fix,
};
