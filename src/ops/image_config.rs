//! The target's config blob: read it (GetDownloadUrlForLayer, then the GET) and let
//! [`crate::manifest::config`] judge it.

use crate::digest::Digest;
use crate::ecr::Repository;
use crate::ecr::blob::{self, BlobError};
use crate::manifest::config::{self, ConfigError, ImageConfig, MAX_CONFIG_BYTES};
use crate::manifest::rules::Code;
use crate::manifest::{Descriptor, LambdaArch, Parsed};
use crate::ops::{Analysis, Clients};

/// How reading the config went.
#[derive(Clone, Debug)]
pub(crate) enum ConfigRead {
    /// Nothing to read: no target, or its config is not an image config.
    Nothing,
    Read(ImageConfig),
    /// The bytes are not what the manifest names, or not an image config.
    Invalid(ConfigError),
    /// The blob could not be had (permission, network, size): why, and the hint.
    Unreadable(String, Option<String>),
}

impl ConfigRead {
    /// The config, none when there is nothing to read, or why it could not be had.
    pub(crate) fn into_result(self) -> Result<Option<ImageConfig>, String> {
        match self {
            ConfigRead::Nothing => Ok(None),
            ConfigRead::Read(config) => Ok(Some(config)),
            ConfigRead::Invalid(e) => Err(e.to_string()),
            ConfigRead::Unreadable(e, Some(hint)) => Err(format!("{e} ({hint})")),
            ConfigRead::Unreadable(e, None) => Err(e),
        }
    }
}

/// Reads the config of the manifest Lambda would run.
pub(crate) async fn read(clients: &Clients, analysis: &Analysis) -> ConfigRead {
    let Some(target) = &analysis.assessment.target else {
        return ConfigRead::Nothing;
    };
    let Ok(Parsed::Image(view)) = target.manifest.parse() else {
        return ConfigRead::Nothing;
    };
    if !config::is_image_config(&view.config) {
        return ConfigRead::Nothing;
    }
    read_descriptor(clients, &analysis.repo, &view.config).await
}

/// Reads the config blob a manifest's descriptor names, and parses it: the one path
/// for deploy, check, fix and scan (size cap from the descriptor before any call,
/// retried GET, size and sha256 checked).
pub(crate) async fn read_descriptor(
    clients: &Clients,
    repo: &Repository,
    descriptor: &Descriptor,
) -> ConfigRead {
    let Some(digest) = descriptor.parsed_digest() else {
        return ConfigRead::Unreadable(
            "the config descriptor has no valid digest".to_owned(),
            None,
        );
    };
    let size = u64::try_from(descriptor.size).unwrap_or(u64::MAX);
    match read_blob(clients, repo, &digest, size).await {
        Ok(bytes) => match ImageConfig::from_blob(descriptor, &bytes) {
            Ok(config) => ConfigRead::Read(config),
            Err(e) => ConfigRead::Invalid(e),
        },
        Err(BlobError::Mismatch(m)) => ConfigRead::Invalid(m.into()),
        Err(BlobError::TooLarge { limit }) => ConfigRead::Unreadable(
            format!(
                "the manifest says the config blob has {size} bytes, more than the {limit} \
                 ecr-lambda reads"
            ),
            None,
        ),
        Err(e) => {
            let hint = match &e {
                BlobError::Aws(aws) => aws.hint.clone(),
                _ => None,
            };
            ConfigRead::Unreadable(e.to_string(), hint)
        }
    }
}

async fn read_blob(
    clients: &Clients,
    repo: &Repository,
    digest: &Digest,
    size: u64,
) -> Result<Vec<u8>, BlobError> {
    blob::read_verified(
        &clients.ecr,
        &clients.calls,
        repo,
        digest,
        size,
        MAX_CONFIG_BYTES,
    )
    .await
}

/// Adds what the config says (or why it could not be read) to the assessment.
pub(crate) fn apply(analysis: &mut Analysis, read: ConfigRead, platform: Option<LambdaArch>) {
    let facts = analysis.function.as_ref().map(|f| f.facts());
    let wanted = platform.or_else(|| facts.as_ref().and_then(|f| f.arch));
    let image = analysis.display_name();
    let a = &mut analysis.assessment;
    match read {
        ConfigRead::Nothing => {}
        ConfigRead::Read(config) => {
            crate::manifest::config_rules::assess_config(
                a,
                &image,
                &config,
                wanted,
                facts.as_ref(),
            );
            a.config = Some(config);
        }
        ConfigRead::Invalid(e @ (ConfigError::Digest(_) | ConfigError::Size { .. })) => a.problem(
            Code::DigestMismatch,
            format!("the config blob of {image}: {e}; nothing will be written"),
        ),
        ConfigRead::Invalid(e) => a.problem(
            Code::UnsupportedMediaType,
            format!("{image} cannot be run: {e}"),
        ),
        ConfigRead::Unreadable(e, hint) => {
            a.warning(
                Code::ConfigUnreadable,
                format!(
                    "the config blob of {image} could not be read, so its platform and entry \
                     point were not checked: {e}{}",
                    hint.map(|h| format!(" ({h})")).unwrap_or_default()
                ),
            );
        }
    }
}
