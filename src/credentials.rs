//! Credentials, resolved once before the first AWS call through the chain and profile
//! the calls use, so that a setup that gives none stops with one error naming its cause
//! and its fix, instead of a failed call with a network hint.
//!
//! A failure is classified by the SDK's typed errors ([`CredentialsError`]'s variants,
//! the STS and SSO portal errors in its causes, an I/O error) together with what the
//! profile files configure (read as the SDK reads them); never by message text. The
//! SDK's own words are kept as the cause, as data.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::Mutex;

use aws_config::profile::{Profile, ProfileSet};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::{CredentialsError, TokenError};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::error::causes;

/// Why no credentials could be had. Every variant but [`Unreachable`] is the user's
/// setup (exit 4); [`Unreachable`] is the network's (exit 3).
///
/// [`Unreachable`]: CredentialsProblem::Unreachable
#[derive(Debug, thiserror::Error)]
pub enum CredentialsProblem {
    /// Nothing in the chain gave credentials.
    #[error("no AWS credentials found{}; looked in: the environment (AWS_ACCESS_KEY_ID), {}, a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE), the container credentials endpoint (ECS, EKS) and instance metadata (EC2)", .profile_note, profile_place(.profile, .files))]
    NotFound {
        /// The profile the chain read.
        profile: String,
        /// ` (profile dev has none)`, when the profile exists but holds no credentials.
        profile_note: String,
        /// The files read.
        files: Vec<PathBuf>,
    },
    /// The profile asked for (or one it names as `source_profile`) is not in the files.
    #[error("the config profile ({profile}) could not be found{}; read {}", .from, list(.files))]
    ProfileNotFound {
        /// The missing profile.
        profile: String,
        /// Where its name came from (` (from AWS_PROFILE)`), or empty.
        from: String,
        /// The files read.
        files: Vec<PathBuf>,
        /// The profiles they define.
        defined: Vec<String>,
    },
    /// The profile signs in through IAM Identity Center and has no valid session.
    #[error("the SSO session for profile {profile} is missing or expired: {cause}")]
    SsoSession {
        /// The profile.
        profile: String,
        /// The SDK's words.
        cause: String,
    },
    /// The profile's `credential_process` failed.
    #[error(
        "the credential_process of profile {profile} ({program}, arguments not shown) failed: {cause}"
    )]
    Process {
        /// The profile.
        profile: String,
        /// The command's first word: its arguments may carry secrets.
        program: String,
        /// The SDK's words: the exit status and the process's stderr.
        cause: String,
    },
    /// STS refused to let the source credentials assume the role.
    #[error("STS refused to assume the role {role} (profile {profile}): {code}: {message}")]
    AssumeRoleRefused {
        /// The profile.
        profile: String,
        /// The role ARN(s) the profile chain assumes.
        role: String,
        /// STS's error code.
        code: String,
        /// STS's message.
        message: String,
    },
    /// The web identity token file cannot be read.
    #[error("the web identity token file {path} cannot be read: {cause}")]
    WebIdentityToken {
        /// The file, as configured.
        path: String,
        /// Why.
        cause: String,
    },
    /// The profile files configure something the SDK cannot use.
    #[error("the AWS config files cannot be used: {cause}")]
    InvalidSetup {
        /// The SDK's words.
        cause: String,
    },
    /// A credential service (STS, the SSO portal, instance metadata) gave no answer.
    #[error("no answer from {service} while getting credentials: {cause}")]
    Unreachable {
        /// Which service.
        service: &'static str,
        /// The causes.
        cause: String,
    },
    /// Any other failure of the chain.
    #[error("AWS credentials could not be loaded: {cause}")]
    Other {
        /// The causes.
        cause: String,
    },
}

fn list(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(" and ")
}

fn profile_place(profile: &str, files: &[PathBuf]) -> String {
    format!(
        "profile {profile} in {} (keys, SSO, credential_process, a role)",
        list(files)
    )
}

impl CredentialsProblem {
    /// What to do about it.
    pub fn hint(&self) -> String {
        match self {
            CredentialsProblem::NotFound { profile, .. } => format!(
                "run `aws configure` (access keys) or `aws sso login --profile NAME` (IAM \
                 Identity Center), or pass --profile NAME (or set AWS_PROFILE) for a profile \
                 that has credentials; the profile read was {profile}"
            ),
            CredentialsProblem::ProfileNotFound { defined, .. } if defined.is_empty() => {
                "no profile is defined there: run `aws configure --profile NAME`, or unset \
                 AWS_PROFILE and drop --profile"
                    .into()
            }
            CredentialsProblem::ProfileNotFound { defined, .. } => format!(
                "the profiles defined are: {}; pass one with --profile, or fix AWS_PROFILE",
                defined.join(", ")
            ),
            CredentialsProblem::SsoSession { profile, .. } => {
                format!("run `aws sso login --profile {profile}`")
            }
            CredentialsProblem::Process { .. } => {
                "run the command by hand to see why it fails; its output must be the \
                 credential_process JSON (Version 1)"
                    .into()
            }
            CredentialsProblem::AssumeRoleRefused { .. } => {
                "the role's trust policy must allow the source credentials (source_profile \
                 or credential_source), and they need sts:AssumeRole on the role"
                    .into()
            }
            CredentialsProblem::WebIdentityToken { .. } => {
                "check AWS_WEB_IDENTITY_TOKEN_FILE (or web_identity_token_file in the \
                 profile): the file must exist and be readable (on EKS, the service account \
                 must be annotated with the role)"
                    .into()
            }
            CredentialsProblem::InvalidSetup { .. } => {
                "fix the profile in the AWS config files (`aws configure list` shows what \
                 the AWS CLI makes of them)"
                    .into()
            }
            CredentialsProblem::Unreachable { service, .. } => format!(
                "check the network and the region; {service} must be reachable to get \
                 credentials"
            ),
            CredentialsProblem::Other { .. } => {
                "check the profile (--profile, AWS_PROFILE) and the AWS config files".into()
            }
        }
    }

    /// Whether the network, not the setup, is to blame.
    pub fn is_network(&self) -> bool {
        matches!(self, CredentialsProblem::Unreachable { .. })
    }
}

/// No credentials: the problem and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{problem}")]
pub struct NoCredentials {
    /// What went wrong.
    pub problem: CredentialsProblem,
    /// What to do about it.
    pub hint: String,
}

impl From<CredentialsProblem> for NoCredentials {
    fn from(problem: CredentialsProblem) -> Self {
        let hint = problem.hint();
        NoCredentials { problem, hint }
    }
}

/// Serves the credentials resolved up front to the first call, then asks the chain
/// again (when the SDK's identity cache finds them expired): the up-front resolution
/// costs no second fetch (a credential_process runs once, an SSO portal or STS is
/// asked once).
#[derive(Debug)]
struct FirstThenChain {
    first: Mutex<Option<Credentials>>,
    chain: SharedCredentialsProvider,
}

impl ProvideCredentials for FirstThenChain {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        let first = self.first.lock().map(|mut f| f.take()).unwrap_or(None);
        match first {
            Some(credentials) => future::ProvideCredentials::ready(Ok(credentials)),
            None => self.chain.provide_credentials(),
        }
    }
}

/// Where the profile's name came from, and which files hold the profiles.
#[derive(Clone, Debug)]
pub struct ProfileSource {
    /// `--profile`, if given.
    pub flag: Option<String>,
}

/// Where the profile's name came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum ProfileFrom {
    /// `--profile`.
    Flag,
    /// `AWS_PROFILE`.
    Environment,
    /// Neither: the SDK reads `default`.
    Default,
}

impl ProfileFrom {
    /// How a message says it: ` (from --profile)`, or nothing for `default`.
    fn note(self) -> &'static str {
        match self {
            ProfileFrom::Flag => " (from --profile)",
            ProfileFrom::Environment => " (from AWS_PROFILE)",
            ProfileFrom::Default => "",
        }
    }
}

impl ProfileSource {
    /// The profile the SDK reads, and where its name came from.
    pub fn selected(&self) -> (String, ProfileFrom) {
        if let Some(p) = &self.flag {
            return (p.clone(), ProfileFrom::Flag);
        }
        match std::env::var("AWS_PROFILE") {
            Ok(p) if !p.is_empty() => (p, ProfileFrom::Environment),
            _ => ("default".into(), ProfileFrom::Default),
        }
    }
}

/// The files the SDK reads profiles from, by its rule: the environment's, else
/// `~/.aws/config` and `~/.aws/credentials`.
fn profile_files() -> Vec<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let file = |var: &str, default: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(default))
    };
    vec![
        file("AWS_CONFIG_FILE", "config"),
        file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
    ]
}

/// Resolves credentials through `provider` (the chain the clients use); the provider
/// the clients should use from now on.
pub async fn resolve(
    provider: SharedCredentialsProvider,
    source: &ProfileSource,
) -> Result<SharedCredentialsProvider, NoCredentials> {
    match provider.provide_credentials().await {
        Ok(credentials) => Ok(SharedCredentialsProvider::new(FirstThenChain {
            first: Mutex::new(Some(credentials)),
            chain: provider,
        })),
        Err(err) => Err(classify(&err, source).await.into()),
    }
}

/// What the profile chain configures, from the selected profile down to the
/// credentials it starts from.
#[derive(Debug, Default)]
struct Chain {
    /// The roles assumed, from the base up.
    roles: Vec<String>,
    /// The profile the base credentials come from.
    base: Option<String>,
    /// A profile named (selected, or as `source_profile`) but not defined.
    missing: Option<String>,
}

fn walk(profiles: &ProfileSet, selected: &str) -> Chain {
    let mut chain = Chain::default();
    let mut name = selected.to_owned();
    let mut seen = Vec::new();
    loop {
        let Some(profile) = profiles.get_profile(&name) else {
            chain.missing = Some(name);
            return chain;
        };
        if let Some(role) = profile.get("role_arn") {
            chain.roles.insert(0, role.to_owned());
        }
        seen.push(name.clone());
        match profile.get("source_profile") {
            Some(next) if next != name && !seen.iter().any(|s| s == next) => {
                name = next.to_owned();
            }
            _ => {
                chain.base = Some(name);
                return chain;
            }
        }
    }
}

/// The first cause of type `T` in `err`'s chain.
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// A failed STS or SSO portal call in the causes: a refusal (code, message), or
/// none when the call got no answer (then the network is to blame).
enum Call {
    Refused(String, String),
    NoAnswer,
}

fn call_of<E: ProvideErrorMetadata + StdError + 'static>(
    err: &(dyn StdError + 'static),
) -> Option<Call> {
    let sdk = find::<SdkError<E, HttpResponse>>(err)?;
    Some(match sdk {
        SdkError::ServiceError(ctx) => Call::Refused(
            ctx.err().code().unwrap_or("Unknown").to_owned(),
            ctx.err().message().unwrap_or("").to_owned(),
        ),
        SdkError::TimeoutError(_) => Call::NoAnswer,
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Call::NoAnswer,
        _ => return None,
    })
}

/// The SDK's words for a failure: its causes, without the credential and token
/// errors' own generic layers ("an error occurred while loading credentials"), on one
/// line.
fn words(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let generic = e.is::<CredentialsError>() || e.is::<TokenError>();
        let text = e.to_string();
        if !generic && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        return one_line(&causes(err));
    }
    one_line(&parts.join(": "))
}

/// One line of outside text: control characters escaped.
fn one_line(text: &str) -> String {
    text.trim_end()
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// What a failure is judged against: the profile selected, the files, the profile
/// chain as the SDK reads it, and the SDK's words.
struct Context {
    profile: String,
    from: &'static str,
    files: Vec<PathBuf>,
    profiles: Option<ProfileSet>,
    chain: Chain,
    cause: String,
}

impl Context {
    /// The profile the base credentials come from, as configured.
    fn base(&self) -> Option<&Profile> {
        let name = self.chain.base.as_deref()?;
        self.profiles.as_ref()?.get_profile(name)
    }

    /// The base profile's name, else the selected one's.
    fn base_name(&self) -> String {
        self.chain
            .base
            .clone()
            .unwrap_or_else(|| self.profile.clone())
    }
}

async fn classify(err: &CredentialsError, source: &ProfileSource) -> CredentialsProblem {
    let (profile, from) = source.selected();
    let profiles = aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &Default::default(),
        Some(profile.clone().into()),
    )
    .await
    .ok();
    let chain = profiles
        .as_ref()
        .map(|p| walk(p, &profile))
        .unwrap_or_default();
    let cx = Context {
        profile,
        from: from.note(),
        files: profile_files(),
        profiles,
        chain,
        cause: words(err),
    };
    refused_or_unanswered(err, &cx)
        .or_else(|| missing_profile(&cx))
        .unwrap_or_else(|| by_setup(err, cx))
}

/// STS or the SSO portal was called, and refused or did not answer.
fn refused_or_unanswered(err: &CredentialsError, cx: &Context) -> Option<CredentialsProblem> {
    let e: &(dyn StdError + 'static) = err;
    let cause = cx.cause.clone();
    let (service, call) = [
        ("STS", call_of::<AssumeRoleError>(e)),
        ("STS", call_of::<AssumeRoleWithWebIdentityError>(e)),
        ("the SSO portal", call_of::<GetRoleCredentialsError>(e)),
    ]
    .into_iter()
    .find_map(|(service, call)| Some((service, call?)))?;
    Some(match call {
        Call::NoAnswer => CredentialsProblem::Unreachable { service, cause },
        Call::Refused(code, message) if service == "STS" => {
            let role = if cx.chain.roles.is_empty() {
                std::env::var("AWS_ROLE_ARN").unwrap_or_else(|_| "(unnamed)".into())
            } else {
                cx.chain.roles.join(", then ")
            };
            CredentialsProblem::AssumeRoleRefused {
                profile: cx.profile.clone(),
                role,
                code,
                message: one_line(&message),
            }
        }
        // The portal refuses an expired or revoked token as UnauthorizedException.
        Call::Refused(code, _) if code == "UnauthorizedException" => {
            CredentialsProblem::SsoSession {
                profile: cx.base_name(),
                cause,
            }
        }
        Call::Refused(..) => CredentialsProblem::Other { cause },
    })
}

/// A profile named (explicitly, or as a `source_profile`) that the files lack. An
/// implicit `default` that does not exist is no error of its own: the chain just had
/// nothing there.
fn missing_profile(cx: &Context) -> Option<CredentialsProblem> {
    let missing = cx.chain.missing.clone()?;
    let selected = missing == cx.profile;
    if selected && cx.from.is_empty() {
        return None;
    }
    let mut defined: Vec<String> = cx
        .profiles
        .as_ref()
        .map(|p| p.profiles().map(str::to_owned).collect())
        .unwrap_or_default();
    defined.sort();
    Some(CredentialsProblem::ProfileNotFound {
        profile: missing,
        from: if selected {
            cx.from.to_owned()
        } else {
            String::new()
        },
        files: cx.files.clone(),
        defined,
    })
}

/// By the chain's error variant, then by what the base profile configures.
fn by_setup(err: &CredentialsError, cx: Context) -> CredentialsProblem {
    let e: &(dyn StdError + 'static) = err;
    match err {
        CredentialsError::CredentialsNotLoaded(_) => {
            let profile_note = match (&cx.chain.missing, &cx.chain.base) {
                (None, Some(_)) => format!(" (profile {} has none)", cx.profile),
                _ => String::new(),
            };
            return CredentialsProblem::NotFound {
                profile: cx.profile,
                profile_note,
                files: cx.files,
            };
        }
        CredentialsError::InvalidConfiguration(_) => {
            return CredentialsProblem::InvalidSetup { cause: cx.cause };
        }
        CredentialsError::ProviderTimedOut(_) => {
            return CredentialsProblem::Unreachable {
                service: "a credential provider",
                cause: cx.cause,
            };
        }
        _ => {}
    }
    let base = cx.base();
    let web_identity = base
        .and_then(|b| b.get("web_identity_token_file"))
        .map(str::to_owned)
        .or_else(|| std::env::var("AWS_WEB_IDENTITY_TOKEN_FILE").ok());
    if let (Some(io), Some(path)) = (find::<std::io::Error>(e), web_identity) {
        return CredentialsProblem::WebIdentityToken {
            path,
            cause: io.to_string(),
        };
    }
    if let Some(command) = base.and_then(|b| b.get("credential_process")) {
        return CredentialsProblem::Process {
            profile: cx.base_name(),
            program: command.split_whitespace().next().unwrap_or("").to_owned(),
            cause: cx.cause.clone(),
        };
    }
    if base.is_some_and(|b| b.get("sso_session").is_some() || b.get("sso_start_url").is_some()) {
        return CredentialsProblem::SsoSession {
            profile: cx.base_name(),
            cause: cx.cause.clone(),
        };
    }
    CredentialsProblem::Other { cause: cx.cause }
}

/// Who the resolved credentials are, as STS says (GetCallerIdentity, which needs no
/// permission).
#[derive(Clone, Debug)]
pub struct CallerIdentity {
    /// The account.
    pub account: String,
    /// The identity's ARN (a user, an assumed role's session).
    pub arn: String,
    /// The unique ID of the identity.
    pub user_id: String,
}

/// Asks STS who the credentials in `config` are; the call is counted in `calls`.
pub async fn caller_identity(
    config: &aws_config::SdkConfig,
    calls: &crate::calls::CallStats,
) -> Result<CallerIdentity, crate::error::AwsError> {
    let sts = aws_sdk_sts::config::Builder::from(config)
        .interceptor(calls.clone())
        .build();
    let out = aws_sdk_sts::Client::from_conf(sts)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| crate::error::AwsError::from_sdk("GetCallerIdentity", e, |_| None))?;
    Ok(CallerIdentity {
        account: out.account().unwrap_or_default().to_owned(),
        arn: out.arn().unwrap_or_default().to_owned(),
        user_id: out.user_id().unwrap_or_default().to_owned(),
    })
}
