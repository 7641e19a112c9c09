//! The target's config blob: read it (GetDownloadUrlForLayer, then the GET) and let
//! [`crate::manifest::config`] judge it.

use crate::ecr::blob::{self, BlobError};
use crate::manifest::config::{self, ConfigError, ImageConfig, MAX_CONFIG_BYTES};
use crate::manifest::rules::Code;
use crate::manifest::{LambdaArch, Parsed};
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

/// Reads the config of the manifest Lambda would run.
pub(crate) async fn read(clients: &Clients, analysis: &Analysis) -> ConfigRead {
    let Some(target) = &analysis.assessment.target else {
        return ConfigRead::Nothing;
    };
    let Ok(Parsed::Image(view)) = target.manifest.parse() else {
        return ConfigRead::Nothing;
    };
    let (true, Some(digest)) = (
        config::is_image_config(&view.config),
        view.config.parsed_digest(),
    ) else {
        return ConfigRead::Nothing;
    };
    // The manifest says how large it is: no round trip for what would be refused.
    if u64::try_from(view.config.size).is_ok_and(|n| n > MAX_CONFIG_BYTES) {
        return ConfigRead::Unreadable(
            format!(
                "the manifest says the config blob has {} bytes, more than the {MAX_CONFIG_BYTES} \
                 ecr-lambda reads",
                view.config.size
            ),
            None,
        );
    }
    match blob::read(&clients.ecr, &analysis.repo, &digest, MAX_CONFIG_BYTES).await {
        Ok(bytes) => match ImageConfig::from_blob(&view.config, &bytes) {
            Ok(config) => ConfigRead::Read(config),
            Err(e) => ConfigRead::Invalid(e),
        },
        Err(e) => {
            let hint = match &e {
                BlobError::Aws(aws) => aws.hint.clone(),
                _ => None,
            };
            ConfigRead::Unreadable(e.to_string(), hint)
        }
    }
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
            config::assess_config(a, &image, &config, wanted, facts.as_ref());
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
