//! The image config blob (OCI image config, Docker container config): the platform
//! the image was built for and what it runs. Lambda checks neither at deploy time;
//! a wrong architecture or a missing entry point fails only at invoke.

use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestMismatch};
use crate::manifest::platform::Platform;
use crate::manifest::{Descriptor, media_type};

/// The most ecr-lambda reads of a config blob. BuildKit's are a few KiB (their size
/// grows with the history); anything near this is not an image config.
pub const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// What an image config says, as reported (`config` in the JSON output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ImageConfig {
    /// The config blob's digest, verified.
    pub digest: Digest,
    /// The OCI architecture it was built for (`amd64`, `arm64`).
    pub architecture: String,
    /// The micro-architecture (`v8`), if given.
    pub variant: Option<String>,
    /// The operating system (`linux`).
    pub os: String,
    /// `Entrypoint`, if set and not empty.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`, if set and not empty.
    pub cmd: Option<Vec<String>>,
    /// `WorkingDir`, if set and not empty.
    pub workdir: Option<String>,
}

/// Why a config blob was not read as an image config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The bytes are not what the manifest's descriptor names.
    #[error("the config blob does not hash to its digest ({0})")]
    Digest(#[from] DigestMismatch),
    /// The blob's size is not the one the manifest declares.
    #[error("the config blob has {actual} bytes; the manifest says {expected}")]
    Size {
        /// The size the manifest declares.
        expected: i64,
        /// The size of the bytes read.
        actual: u64,
    },
    /// Not JSON, or not shaped like an image config (or its descriptor's digest is malformed).
    #[error("the config blob is not an image config ({0})")]
    Shape(String),
}

impl From<crate::digest::BlobMismatch> for ConfigError {
    fn from(m: crate::digest::BlobMismatch) -> ConfigError {
        match m {
            crate::digest::BlobMismatch::Size { expected, actual } => ConfigError::Size {
                expected: i64::try_from(expected).unwrap_or(i64::MAX),
                actual,
            },
            crate::digest::BlobMismatch::Digest(d) => ConfigError::Digest(d),
        }
    }
}

/// The fields of the document ecr-lambda reads; unknown ones are ignored.
#[derive(Deserialize)]
struct Document {
    architecture: String,
    os: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<RunConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
}

/// Whether a manifest's config descriptor names an image config worth reading
/// (an artifact's config, such as an attestation's, is not).
pub fn is_image_config(descriptor: &Descriptor) -> bool {
    media_type::is_image_config(&descriptor.media_type)
}

impl ImageConfig {
    /// Checks `bytes` against the manifest's config descriptor (size, then digest),
    /// then reads them.
    pub fn from_blob(descriptor: &Descriptor, bytes: &[u8]) -> Result<ImageConfig, ConfigError> {
        if u64::try_from(descriptor.size).ok() != Some(bytes.len() as u64) {
            return Err(ConfigError::Size {
                expected: descriptor.size,
                actual: bytes.len() as u64,
            });
        }
        let digest: Digest = descriptor
            .digest
            .parse()
            .map_err(|e: crate::digest::DigestError| ConfigError::Shape(e.to_string()))?;
        digest.verify(bytes)?;
        let doc: Document =
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Shape(e.to_string()))?;
        let run = doc.config.unwrap_or(RunConfig {
            entrypoint: None,
            cmd: None,
            working_dir: None,
        });
        let nonempty = |v: Option<Vec<String>>| v.filter(|v| !v.is_empty());
        Ok(ImageConfig {
            digest,
            architecture: doc.architecture,
            variant: doc.variant.filter(|v| !v.is_empty()),
            os: doc.os,
            entrypoint: nonempty(run.entrypoint),
            cmd: nonempty(run.cmd),
            workdir: run.working_dir.filter(|w| !w.is_empty()),
        })
    }

    /// The platform the config says the image was built for.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// One line: `linux/arm64/v8, entrypoint ["/lambda-entrypoint.sh"], cmd ["app.handler"], workdir /var/task`.
impl std::fmt::Display for ImageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |v: &Option<Vec<String>>| {
            v.as_ref().map_or_else(
                || "none".to_owned(),
                |v| serde_json::to_string(v).unwrap_or_default(),
            )
        };
        write!(
            f,
            "{}, entrypoint {}, cmd {}",
            self.platform(),
            list(&self.entrypoint),
            list(&self.cmd)
        )?;
        if let Some(workdir) = &self.workdir {
            write!(f, ", workdir {workdir}")?;
        }
        Ok(())
    }
}
