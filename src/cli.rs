//! The command line: clap definitions, and their validation into typed requests
//! before any AWS call is made.

use std::time::Duration;

use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand, ValueEnum};

use crate::config::{AwsOptions, Regions};
use crate::error::Error;
use crate::lambda::FunctionRef;
use crate::manifest::PlatformArg;
use crate::manifest::statement::{ProvenanceRequirements, Revision};
use crate::ops::{
    CheckRequest, DeployRequest, FixRequest, Gradual, Probe, PruneRequest, ReleaseAction,
    ReleaseRequest, RetainRequest, RollbackRequest, ScanRequest, Targets,
};
use crate::reference::{ImageRef, Selector, validate_tag};
use crate::strategy::{Strategy, Weight, parse_duration};

/// The largest probe payload: Lambda's limit for a synchronous Invoke's request.
const MAX_PROBE_BYTES: u64 = 6 * 1024 * 1024;

/// The whole command line: the options every command shares, and the command.
#[derive(Debug, Parser)]
#[command(
    name = "ecr-lambda",
    version,
    about = "Make container images in Amazon ECR deployable to AWS Lambda, and deploy them",
    long_about = "Docker buildx attaches provenance attestations by default, so the tag it pushes \
                  names an image index that Lambda rejects. ecr-lambda points a tag at the single \
                  platform manifest inside (the same bytes, digest verified) with no rebuild and \
                  no docker login, and deploys it."
)]
pub struct Cli {
    /// The options every command shares.
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// What reports are printed as (`--output`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// For people to read
    Text,
    /// One JSON document on stdout, an error included: for scripts
    Json,
    /// One JSON object a line: `scan` prints each finding as it is found.
    Jsonl,
}

/// Options every command shares; accepted before or after the subcommand.
// Under a heading of their own in every command's --help, after the command's own
// options, instead of mixed in among them.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct AwsArgs {
    /// Named profile from the AWS config files
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (else the region in the image URI, else the profile or environment)
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS call (ECR, Lambda, CloudWatch, STS) to this endpoint (AWS_ENDPOINT_URL* also work)
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Output format: text for people, json for scripts (one document on stdout), jsonl (one object a line)
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Attempts per AWS call, retries with backoff included (standard retry mode): 1 to 20
    #[arg(long, global = true, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Seconds to wait for a connection to AWS: 1 to 300
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub connect_timeout: u64,
    /// Seconds an attempt of an AWS call may wait for its answer (a call, retries included: twice that): 1 to 900
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=900))]
    pub read_timeout: u64,
    /// More logs on stderr: -v debug, -vv trace (RUST_LOG is used when not given)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

impl AwsArgs {
    /// These options as the [`AwsOptions`] the clients are built with
    /// ([`crate::config::clients`]): the timeouts in seconds become durations.
    pub fn options(&self) -> AwsOptions {
        AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            max_attempts: self.max_attempts,
            connect_timeout: Duration::from_secs(self.connect_timeout),
            read_timeout: Duration::from_secs(self.read_timeout),
        }
    }
}

/// The subcommands; [`Command::plan`] validates one into a [`Plan`].
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read-only: will Lambda accept IMAGE as it is? If not, why, and can `fix` help?
    Check(CheckArgs),
    /// Make a tag Lambda-ready: write the single platform manifest to it (ECR PutImage)
    Fix(FixArgs),
    /// Check, fix when needed, update the function's code, and wait for the update
    Deploy(DeployArgs),
    /// Point an alias back at an earlier version, or update $LATEST to an earlier version's image
    Rollback(RollbackArgs),
    /// Follow, finish or undo a gradual release (deploy --canary/--linear): its state is the alias
    Release(ReleaseArgs),
    /// Audit repositories (and functions) for tags and images Lambda will refuse
    Scan(ScanArgs),
    /// Which images Lambda still runs, and what ECR's lifecycle policies would do to them; protect or restore them
    Retain(RetainArgs),
    /// Delete the published versions beyond the newest N that no alias routes to
    Prune(PruneArgs),
    /// Print shell completions
    Completions {
        /// The shell to print completions for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): ecr-lambda manpage > /usr/local/share/man/man1/ecr-lambda.1
    Manpage,
    /// Which AWS identity, profile and regions the other commands would use (STS GetCallerIdentity)
    Whoami {
        /// The image a command would work on: its URI's region is ECR's
        image: Option<String>,
    },
}

/// What the image's provenance must say (`check`, `fix`, `deploy`).
#[derive(Debug, Args)]
pub struct ProvenanceArgs {
    /// Require a readable SLSA provenance statement whose subject is the image Lambda runs
    #[arg(long, help_heading = "Provenance")]
    pub require_provenance: bool,
    /// Require the statement's source to be this repository URL (a trailing .git and the host's case ignored); implies --require-provenance
    #[arg(long, value_name = "URL", help_heading = "Provenance")]
    pub provenance_source: Option<String>,
    /// Require the statement's revision to be this git commit (40 hex digits, or a prefix of at least 12); implies --require-provenance
    #[arg(long, value_name = "SHA", help_heading = "Provenance")]
    pub provenance_revision: Option<String>,
    /// Require the statement's builder id to be this, or to continue it after a / or @ (the prefix of the workflow's run URLs, say); implies --require-provenance
    #[arg(long, value_name = "PREFIX", help_heading = "Provenance")]
    pub provenance_builder: Option<String>,
    /// Require ECR managed signing to report COMPLETE for every signing profile of the image (ECR's word: no signature is checked here; IN_PROGRESS is waited for up to --wait-timeout)
    #[arg(long, help_heading = "Provenance")]
    pub require_signed: bool,
}

impl ProvenanceArgs {
    /// The typed requirements; `wait` is how long IN_PROGRESS signing is waited for.
    fn requirements(&self, wait: Duration) -> Result<ProvenanceRequirements, Error> {
        let non_empty = |flag: &str, v: &Option<String>| match v {
            Some(v) if v.trim().is_empty() => Err(Error::Usage(format!("--{flag} needs a value"))),
            v => Ok(v.clone()),
        };
        let revision = self
            .provenance_revision
            .as_deref()
            .map(|r| {
                r.parse::<Revision>()
                    .map_err(|e| Error::Usage(format!("--provenance-revision: {e}")))
            })
            .transpose()?;
        Ok(ProvenanceRequirements {
            require_provenance: self.require_provenance,
            source: non_empty("provenance-source", &self.provenance_source)?,
            revision,
            builder: non_empty("provenance-builder", &self.provenance_builder)?,
            require_signed: self.require_signed,
            signing_timeout: wait,
        })
    }
}

/// The arguments of `check`; `fix` takes them too.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// `[ACCOUNT.dkr.ecr.REGION.amazonaws.com/]REPOSITORY[:TAG|@sha256:HEX]` (default tag: latest)
    pub image: String,
    /// The function the image is for (name or ARN): its architecture, package type and region are checked too
    #[arg(long, value_name = "NAME|ARN")]
    pub function: Option<String>,
    /// The platform to use from a multi-platform index: linux/amd64 or linux/arm64
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// What the image's provenance must say.
    #[command(flatten)]
    pub provenance: ProvenanceArgs,
    /// With --require-signed: seconds to wait for ECR to finish signing: 1 to 3600
    #[arg(long, value_name = "SECONDS", default_value_t = 300, requires = "require_signed",
          value_parser = clap::value_parser!(u64).range(1..=3600), help_heading = "Provenance")]
    pub wait_timeout: u64,
}

/// The arguments of `fix`: those of `check`, and what to write.
#[derive(Debug, Args)]
pub struct FixArgs {
    /// IMAGE, `--function` and `--platform`, as `check` takes them.
    #[command(flatten)]
    pub check: CheckArgs,
    /// The tag to write (default: IMAGE's own tag, or TAG-ARCH for a multi-platform index; required when IMAGE names a digest)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Write nothing; print what would be written
    #[arg(long)]
    pub dry_run: bool,
    /// Do not write the image's index-only attestations again as its referrers
    #[arg(long)]
    pub no_keep_provenance: bool,
}

/// The arguments of `deploy`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("strategy").args(["canary", "linear"]).multiple(false)))]
pub struct DeployArgs {
    /// `[ACCOUNT.dkr.ecr.REGION.amazonaws.com/]REPOSITORY[:TAG|@sha256:HEX]` (default tag: latest)
    pub image: String,
    /// The function to update (name or ARN); repeat it to deploy one image to several (each once)
    #[arg(long, value_name = "NAME|ARN", required = true)]
    pub function: Vec<String>,
    /// With several --function: how many are updated at once: 1 to 32
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    pub concurrency: u16,
    /// The platform to use from a multi-platform index (default: the function's architecture)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// The tag to write when the image needs fixing (default as for fix)
    #[arg(long, value_name = "TAG")]
    pub tag: Option<String>,
    /// Publish a version of the function with the new code
    #[arg(long)]
    pub publish: bool,
    /// Publish a version and point this alias at it (created if missing); implies --publish. 1-128 letters, digits, '-' or '_', not only digits
    #[arg(long, value_name = "NAME")]
    pub alias: Option<String>,
    /// Return once Lambda has accepted the update, without waiting for it to finish (not with --wait-timeout or --alias)
    #[arg(long, conflicts_with_all = ["wait_timeout", "alias"])]
    pub no_wait: bool,
    /// Seconds to wait for the update to finish (and, with --require-signed, for ECR to finish signing): 1 to 3600
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub wait_timeout: u64,
    /// Write nothing to ECR or Lambda; print the plan
    #[arg(long)]
    pub dry_run: bool,
    /// Do not write the image's index-only attestations again as its referrers
    #[arg(long)]
    pub no_keep_provenance: bool,
    /// Release gradually: PERCENT of the alias's traffic to the new version for --bake, then all of it (needs --alias). Above 0 and below 100, at most two decimals
    #[arg(long, value_name = "PERCENT", requires_all = ["alias", "bake"], help_heading = "Gradual release")]
    pub canary: Option<String>,
    /// With --canary: how long the canary is held (30s, 5m, 1h, or a sum: 1m30s): 1s to 24h
    #[arg(
        long,
        value_name = "DURATION",
        requires = "canary",
        help_heading = "Gradual release"
    )]
    pub bake: Option<String>,
    /// Release gradually: PERCENT more of the alias's traffic every --every, until all of it (needs --alias). Above 0 and below 100, at most two decimals
    #[arg(long, value_name = "PERCENT", requires_all = ["alias", "every"], help_heading = "Gradual release")]
    pub linear: Option<String>,
    /// With --linear: how long each share is held (30s, 5m, 1h, or a sum: 1m30s): 1s to 24h
    #[arg(
        long,
        value_name = "DURATION",
        requires = "linear",
        help_heading = "Gradual release"
    )]
    pub every: Option<String>,
    /// A CloudWatch alarm that stops the release and moves the traffic back when in ALARM (repeatable, at most 100; a name of 1-255 characters; needs --canary or --linear)
    #[arg(
        long = "alarm",
        value_name = "NAME",
        requires = "strategy",
        help_heading = "Gradual release"
    )]
    pub alarms: Vec<String>,
    /// A JSON payload the new version is invoked with before any traffic moves (- for stdin; at most 6 MB; needs --canary or --linear)
    #[arg(
        long,
        value_name = "FILE",
        requires = "strategy",
        help_heading = "Gradual release"
    )]
    pub probe: Option<String>,
    /// What the image's provenance must say.
    #[command(flatten)]
    pub provenance: ProvenanceArgs,
    /// Tag the deployed image and the way back (the alias's previous version) with
    /// lambda.FUNCTION.VERSION, so lifecycle rules keep them (see `retain`)
    #[arg(long)]
    pub protect: bool,
}

/// The arguments of `release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// What to do with the release.
    #[command(subcommand)]
    pub action: ReleaseCommand,
}

/// `release status|promote|abort`.
#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Show each alias's versions, the weighted version's share, and the images they run
    Status(ReleaseTargetArgs),
    /// Move each alias to its weighted version with all the traffic
    Promote(ReleaseWriteArgs),
    /// Clear each alias's weights: its version takes all the traffic back
    Abort(ReleaseWriteArgs),
}

/// The aliases a `release` command reads.
#[derive(Debug, Args)]
pub struct ReleaseTargetArgs {
    /// The function (name or ARN); repeat it for a release of several functions
    #[arg(long, value_name = "NAME|ARN", required = true)]
    pub function: Vec<String>,
    /// The alias the release shifts (1-128 letters, digits, '-' or '_', not only digits)
    #[arg(long, value_name = "NAME", required = true)]
    pub alias: String,
}

/// The aliases a `release` command writes.
#[derive(Debug, Args)]
pub struct ReleaseWriteArgs {
    /// `--function` and `--alias`.
    #[command(flatten)]
    pub target: ReleaseTargetArgs,
    /// Write nothing; say what would be written
    #[arg(long)]
    pub dry_run: bool,
}

/// The arguments of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The function (name or ARN)
    #[arg(long, value_name = "NAME|ARN")]
    pub function: String,
    /// Move this alias back (else $LATEST is updated to the earlier version's image)
    #[arg(long, value_name = "NAME")]
    pub alias: Option<String>,
    /// The version to roll back to, a number (default: the newest earlier version with another image)
    #[arg(long, value_name = "VERSION")]
    pub to: Option<String>,
    /// Write nothing; print what would be moved
    #[arg(long)]
    pub dry_run: bool,
    /// Without --alias: return once Lambda has accepted the update (not with --wait-timeout)
    #[arg(long, conflicts_with = "wait_timeout")]
    pub no_wait: bool,
    /// Seconds to wait for the update to finish: 1 to 3600
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub wait_timeout: u64,
}

/// The arguments of `scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// A repository to scan (repeatable; default: every repository of the registry)
    #[arg(long = "repository", value_name = "NAME")]
    pub repositories: Vec<String>,
    /// Also check every image function: its image still exists, its tag is still ready, its architecture
    #[arg(long)]
    pub functions: bool,
    /// Calls in flight at once: 1 to 64
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Fix every fixable tag (as `fix` does), after printing the plan and asking
    #[arg(long)]
    pub fix: bool,
    /// With --fix: do not ask (required when standard input is not a terminal)
    #[arg(long, requires = "fix")]
    pub yes: bool,
}

/// The arguments of `retain`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("targets").args(["function", "all_functions"]).required(true)))]
pub struct RetainArgs {
    /// A function (name or ARN) whose images to keep; repeatable, each read in its own region
    #[arg(long, value_name = "NAME|ARN")]
    pub function: Vec<String>,
    /// Every image function of the region
    #[arg(long)]
    pub all_functions: bool,
    /// Tag every image in use (PREFIXFUNCTION.VERSION, PREFIXFUNCTION.latest), then preview again
    #[arg(long)]
    pub protect: bool,
    /// Also put the keep rule ahead of every rule of each lifecycle policy (PutLifecyclePolicy); implies --protect
    #[arg(long)]
    pub protect_policy: bool,
    /// Restore every archived image in use (UpdateImageStorageClass STANDARD)
    #[arg(long)]
    pub restore: bool,
    /// With --restore: return while the images are still ACTIVATING
    #[arg(long, requires = "restore")]
    pub no_wait: bool,
    /// Seconds each lifecycle preview, and the wait for restores, may take
    #[arg(long, value_name = "SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub wait_timeout: u64,
    /// The protective tags' prefix
    #[arg(long, value_name = "PREFIX", default_value = crate::retention::DEFAULT_TAG_PREFIX)]
    pub tag_prefix: String,
    /// Write nothing; print the tags, policies and restores it would write
    #[arg(long)]
    pub dry_run: bool,
    /// Functions read at once
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

/// The arguments of `prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The function (name or ARN)
    #[arg(long, value_name = "NAME|ARN")]
    pub function: String,
    /// How many of the newest published versions stay, whatever routes to them
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10000))]
    pub keep: u32,
    /// Delete nothing; print what would be deleted
    #[arg(long)]
    pub dry_run: bool,
    /// Also remove the deleted versions' protective tags (not where something else still runs the image)
    #[arg(long)]
    pub release_tags: bool,
    /// The protective tags' prefix
    #[arg(long, value_name = "PREFIX", default_value = crate::retention::DEFAULT_TAG_PREFIX)]
    pub tag_prefix: String,
}

fn tag_prefix(prefix: &str) -> Result<String, Error> {
    crate::retention::validate_prefix(prefix).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(prefix.to_owned())
}

/// A validated command, ready to run.
#[derive(Debug)]
pub enum Plan {
    /// Read the image (and the function) and say whether Lambda would run it:
    /// [`crate::check`].
    Check(CheckRequest),
    /// Point a tag at the platform manifest Lambda should run: [`crate::fix`].
    Fix(FixRequest),
    /// Fix the image when it must be, then update each function's code: [`crate::deploy`].
    Deploy(DeployRequest),
    /// Move an alias, or `$LATEST`, back to an earlier version: [`crate::ops::rollback()`].
    Rollback(RollbackRequest),
    /// Read, promote or abort a gradual release: [`crate::ops::release()`].
    Release(ReleaseRequest),
    /// `yes`: write without asking.
    Scan {
        /// The repositories (and functions) to scan, and whether to fix what it finds.
        request: ScanRequest,
        /// `--yes`: `--fix` writes without asking first.
        yes: bool,
    },
    /// Audit, protect or restore the images functions run: [`crate::ops::retain()`].
    Retain(RetainRequest),
    /// Delete old versions: [`crate::ops::prune()`].
    Prune(PruneRequest),
    /// Print the completions for this shell.
    Completions(clap_complete::Shell),
    /// Print the man page.
    Manpage,
    /// Say which identity and regions the commands would use (for an image, when given).
    Whoami(Option<ImageRef>),
}

impl Plan {
    /// The regions named on the command line, for building the clients.
    pub fn regions(&self) -> Regions {
        let (image, function) = match self {
            Plan::Check(r) => (&r.image, r.function.as_ref()),
            Plan::Fix(r) => (&r.image, r.function.as_ref()),
            Plan::Deploy(r) => (&r.image, r.functions.first()),
            // The version's image is in the function's region: Lambda pulls only
            // from there.
            Plan::Rollback(r) => {
                return Regions {
                    image: r.function.region.clone(),
                    function: r.function.region.clone(),
                };
            }
            Plan::Release(r) => {
                let region = r.functions.first().and_then(|f| f.region.clone());
                return Regions {
                    image: region.clone(),
                    function: region,
                };
            }
            Plan::Whoami(image) => {
                return Regions {
                    image: image
                        .as_ref()
                        .and_then(|i| i.registry.as_ref())
                        .map(|r| r.region.clone()),
                    function: None,
                };
            }
            Plan::Prune(r) => {
                return Regions {
                    image: r.function.region.clone(),
                    function: r.function.region.clone(),
                };
            }
            Plan::Scan { .. } | Plan::Retain(_) | Plan::Completions(_) | Plan::Manpage => {
                return Regions::default();
            }
        };
        Regions {
            image: image.registry.as_ref().map(|r| r.region.clone()),
            function: function.and_then(|f| f.region.clone()),
        }
    }
}

fn function_ref(value: Option<&str>) -> Result<Option<FunctionRef>, Error> {
    value
        .map(|f| {
            f.parse::<FunctionRef>()
                .map_err(|e| Error::Usage(e.to_string()))
        })
        .transpose()
}

fn platform(value: Option<&str>) -> Result<Option<crate::manifest::LambdaArch>, Error> {
    Ok(value
        .map(str::parse::<PlatformArg>)
        .transpose()?
        .map(|p| p.0))
}

fn tag(value: Option<&str>) -> Result<Option<String>, Error> {
    if let Some(t) = value {
        validate_tag(t)?;
    }
    Ok(value.map(str::to_owned))
}

/// Every `--function`, once each.
fn functions(values: &[String]) -> Result<Vec<FunctionRef>, Error> {
    let mut functions: Vec<FunctionRef> = Vec::new();
    for value in values {
        let f = function_ref(Some(value))?.expect("given");
        // A name and its ARN are the same function.
        let name = |f: &FunctionRef| f.id.rsplit(':').next().unwrap_or_default().to_owned();
        if functions.iter().any(|g| name(g) == name(&f)) {
            return Err(Error::Usage(format!("--function {value} is given twice")));
        }
        functions.push(f);
    }
    // Functions in several regions are each read in their own; the image can be
    // pulled only in its repository's region, which the rules check (region-mismatch).
    Ok(functions)
}

/// An alias name as Lambda takes it: 1-128 letters, digits, '-' or '_', not all digits
/// (that would be a version).
fn alias(value: Option<&str>) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(name)
            if (1..=128).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !name.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(Some(name.to_owned()))
        }
        Some(name) => Err(Error::Usage(format!(
            "alias {name:?} is not a valid alias name: use 1-128 letters, digits, '-' or '_', \
             not only digits (a number names a version)"
        ))),
    }
}

/// `--canary`/`--linear`, `--alarm` and `--probe` as a typed release; the probe's
/// payload is read (and must be JSON) before any AWS call.
fn gradual(args: &DeployArgs) -> Result<Option<Gradual>, Error> {
    let weight = |flag: &str, value: &str| {
        value
            .parse::<Weight>()
            .map_err(|e| Error::Usage(format!("--{flag}: {e}")))
    };
    let duration = |flag: &str, value: &Option<String>| {
        parse_duration(value.as_deref().unwrap_or_default())
            .map_err(|e| Error::Usage(format!("--{flag}: {e}")))
    };
    let strategy = match (&args.canary, &args.linear) {
        (Some(canary), None) => Strategy::Canary {
            weight: weight("canary", canary)?,
            bake: duration("bake", &args.bake)?,
        },
        (None, Some(linear)) => Strategy::Linear {
            step: weight("linear", linear)?,
            every: duration("every", &args.every)?,
        },
        _ => return Ok(None),
    };
    let mut alarms: Vec<String> = Vec::new();
    for name in &args.alarms {
        if name.is_empty() || name.len() > 255 {
            return Err(Error::Usage(format!(
                "--alarm {name:?} is not an alarm name (1-255 characters)"
            )));
        }
        if !alarms.contains(name) {
            alarms.push(name.clone());
        }
    }
    if alarms.len() > crate::alarms::MAX_ALARMS {
        return Err(Error::Usage(format!(
            "{} alarms given; a release reads at most {} (one DescribeAlarms)",
            alarms.len(),
            crate::alarms::MAX_ALARMS
        )));
    }
    let probe = args.probe.as_deref().map(read_probe).transpose()?;
    Ok(Some(Gradual {
        strategy,
        alarms,
        probe,
    }))
}

fn read_probe(source: &str) -> Result<Probe, Error> {
    use std::io::Read as _;
    let mut payload = Vec::new();
    let read = if source == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_PROBE_BYTES + 1)
            .read_to_end(&mut payload)
    } else {
        std::fs::File::open(source)
            .and_then(|f| f.take(MAX_PROBE_BYTES + 1).read_to_end(&mut payload))
    };
    read.map_err(|e| Error::Usage(format!("--probe {source}: {e}")))?;
    if payload.len() as u64 > MAX_PROBE_BYTES {
        return Err(Error::Usage(format!(
            "--probe {source}: over 6 MB, Lambda's limit for a synchronous invocation"
        )));
    }
    serde_json::from_slice::<serde_json::Value>(&payload)
        .map_err(|e| Error::Usage(format!("--probe {source}: not a JSON document ({e})")))?;
    Ok(Probe {
        source: source.to_owned(),
        payload,
    })
}

impl ReleaseTargetArgs {
    fn request(&self, action: ReleaseAction, dry_run: bool) -> Result<ReleaseRequest, Error> {
        Ok(ReleaseRequest {
            action,
            functions: functions(&self.function)?,
            alias: alias(Some(&self.alias))?.expect("given"),
            dry_run,
        })
    }
}

impl CheckArgs {
    fn request(&self) -> Result<CheckRequest, Error> {
        Ok(CheckRequest {
            image: self.image.parse::<ImageRef>()?,
            function: function_ref(self.function.as_deref())?,
            platform: platform(self.platform.as_deref())?,
            provenance: self
                .provenance
                .requirements(Duration::from_secs(self.wait_timeout))?,
        })
    }
}

impl Command {
    /// Validates every flag into a typed plan: bad input never reaches AWS.
    pub fn plan(&self, output: OutputFormat) -> Result<Plan, Error> {
        Ok(match self {
            Command::Check(args) => Plan::Check(args.request()?),
            Command::Fix(args) => {
                let check = args.check.request()?;
                let tag = tag(args.tag.as_deref())?;
                if matches!(check.image.selector, Selector::Digest(_)) && tag.is_none() {
                    return Err(Error::Usage(
                        "IMAGE names a digest, so there is no tag to fix: pass --tag TAG to say which \
                         tag to write"
                            .into(),
                    ));
                }
                Plan::Fix(FixRequest {
                    image: check.image,
                    function: check.function,
                    platform: check.platform,
                    tag,
                    dry_run: args.dry_run,
                    keep_provenance: !args.no_keep_provenance,
                    provenance: check.provenance,
                })
            }
            Command::Deploy(args) => Plan::Deploy(DeployRequest {
                image: args.image.parse()?,
                functions: functions(&args.function)?,
                concurrency: usize::from(args.concurrency),
                platform: platform(args.platform.as_deref())?,
                tag: tag(args.tag.as_deref())?,
                publish: args.publish,
                alias: alias(args.alias.as_deref())?,
                wait: !args.no_wait,
                wait_timeout: Duration::from_secs(args.wait_timeout),
                dry_run: args.dry_run,
                keep_provenance: !args.no_keep_provenance,
                progress: output == OutputFormat::Text
                    && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                gradual: gradual(args)?,
                provenance: args
                    .provenance
                    .requirements(Duration::from_secs(args.wait_timeout))?,
                protect: args.protect,
            }),
            Command::Release(args) => Plan::Release(match &args.action {
                ReleaseCommand::Status(t) => t.request(ReleaseAction::Status, false)?,
                ReleaseCommand::Promote(w) => {
                    w.target.request(ReleaseAction::Promote, w.dry_run)?
                }
                ReleaseCommand::Abort(w) => w.target.request(ReleaseAction::Abort, w.dry_run)?,
            }),
            Command::Scan(args) => {
                for repository in &args.repositories {
                    crate::reference::validate_repository(repository)?;
                }
                if args.fix && !args.yes && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    return Err(Error::Usage(
                        "--fix asks before writing, and standard input is not a terminal: pass --yes".into(),
                    ));
                }
                Plan::Scan {
                    request: ScanRequest {
                        repositories: args.repositories.clone(),
                        functions: args.functions,
                        concurrency: usize::from(args.concurrency),
                        fix: args.fix,
                        progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
                    },
                    yes: args.yes,
                }
            }
            Command::Rollback(args) => {
                let to = args.to.clone();
                if let Some(to) = &to
                    && (to.is_empty() || !to.bytes().all(|b| b.is_ascii_digit()))
                {
                    return Err(Error::Usage(format!(
                        "--to {to:?} is not a version number (rollback moves to a published version)"
                    )));
                }
                Plan::Rollback(RollbackRequest {
                    function: function_ref(Some(&args.function))?.expect("given"),
                    alias: alias(args.alias.as_deref())?,
                    to,
                    dry_run: args.dry_run,
                    wait: !args.no_wait,
                    wait_timeout: Duration::from_secs(args.wait_timeout),
                    progress: output == OutputFormat::Text
                        && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                })
            }
            Command::Retain(args) => Plan::Retain(RetainRequest {
                targets: if args.all_functions {
                    Targets::All
                } else {
                    Targets::Functions(functions(&args.function)?)
                },
                protect: args.protect || args.protect_policy,
                protect_policy: args.protect_policy,
                restore: args.restore,
                wait: !args.no_wait,
                wait_timeout: Duration::from_secs(args.wait_timeout),
                tag_prefix: tag_prefix(&args.tag_prefix)?,
                dry_run: args.dry_run,
                concurrency: usize::from(args.concurrency),
            }),
            Command::Prune(args) => Plan::Prune(PruneRequest {
                function: function_ref(Some(&args.function))?.expect("given"),
                keep: args.keep as usize,
                dry_run: args.dry_run,
                release_tags: args.release_tags,
                tag_prefix: tag_prefix(&args.tag_prefix)?,
            }),
            Command::Completions { shell } => Plan::Completions(*shell),
            Command::Manpage => Plan::Manpage,
            Command::Whoami { image } => {
                Plan::Whoami(image.as_deref().map(str::parse::<ImageRef>).transpose()?)
            }
        })
    }
}
