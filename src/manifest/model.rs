//! Raw manifests (the exact bytes ECR stored) and the read-only views parsed from them.
//!
//! A view is never serialised back: what ecr-lambda writes is always the raw bytes.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::{Digest, DigestMismatch};
use crate::manifest::platform::Platform;

/// The media types ecr-lambda knows, and what kind of content each names.
pub mod media_type {
    /// An OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// A Docker manifest list, the Docker form of an index.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// An OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// A Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// A Docker image manifest, schema 1: Lambda rejects it.
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    /// A signed Docker schema 1 manifest: Lambda rejects it.
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// A Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// An OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

    /// A gzip-compressed Docker layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// An uncompressed Docker layer.
    pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
    /// A gzip-compressed OCI layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// An uncompressed OCI layer.
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// A zstd-compressed OCI layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

    /// What ecr-lambda asks ECR for: every manifest kind it understands, so that ECR
    /// never converts a manifest on the way out.
    pub const ACCEPTED: [&str; 4] = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

    /// An image index or manifest list.
    pub fn is_index(mt: &str) -> bool {
        mt == OCI_INDEX || mt == DOCKER_LIST
    }

    /// A single image manifest, OCI or Docker schema 2.
    pub fn is_image_manifest(mt: &str) -> bool {
        mt == OCI_MANIFEST || mt == DOCKER_MANIFEST
    }

    /// Docker schema 1, signed or not.
    pub fn is_schema1(mt: &str) -> bool {
        mt == DOCKER_SCHEMA1 || mt == DOCKER_SCHEMA1_SIGNED
    }

    /// An image config, OCI or Docker.
    pub fn is_image_config(mt: &str) -> bool {
        mt == OCI_CONFIG || mt == DOCKER_CONFIG
    }
}

/// A manifest exactly as the registry holds it.
///
/// ECR's API carries manifests as JSON strings, so the bytes are kept as a `String`;
/// they are never re-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawManifest {
    bytes: String,
    digest: Digest,
    media_type: String,
}

impl RawManifest {
    /// `digest` is what the registry says the bytes are; [`RawManifest::verify`] checks it.
    pub fn new(bytes: String, digest: Digest, media_type: String) -> Self {
        RawManifest {
            bytes,
            digest,
            media_type,
        }
    }

    /// The bytes exactly as the registry holds them.
    pub fn bytes(&self) -> &str {
        &self.bytes
    }

    /// The digest the registry named the bytes by (checked by [`RawManifest::verify`]).
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The media type the registry reported, else the manifest's own `mediaType`
    /// field, else empty.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The size in bytes, which a descriptor of this manifest must declare.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Checks that the bytes are what the digest names.
    pub fn verify(&self) -> Result<(), DigestMismatch> {
        self.digest.verify(self.bytes.as_bytes())
    }

    /// The read-only view of the bytes.
    pub fn parse(&self) -> Result<Parsed, ParseError> {
        Parsed::from_raw(self)
    }
}

/// An OCI content descriptor, as found in an index, a manifest's config or its layers.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the content it names.
    pub media_type: String,
    /// The content's digest as the document wrote it; [`Descriptor::parsed_digest`] validates it.
    pub digest: String,
    /// The content's size in bytes, as declared.
    pub size: i64,
    /// The platform the content runs on; index entries only.
    #[serde(default)]
    pub platform: Option<Platform>,
    /// Annotations; BuildKit marks attestation entries with them.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The artifact type, for artifacts that are not images.
    #[serde(default)]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// The digest, if it is a valid one.
    pub fn parsed_digest(&self) -> Option<Digest> {
        self.digest.parse().ok()
    }
}

/// The parts of a manifest document that ecr-lambda reads. Unknown fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    schema_version: Option<i64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    artifact_type: Option<String>,
    #[serde(default)]
    subject: Option<Descriptor>,
}

/// A read-only view of an image index or manifest list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexView {
    /// The index's media type: an OCI index or a Docker manifest list.
    pub media_type: String,
    /// Its entries.
    pub manifests: Vec<Descriptor>,
}

/// A read-only view of a single image manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageView {
    /// The manifest's media type: OCI or Docker schema 2.
    pub media_type: String,
    /// The config blob's descriptor.
    pub config: Descriptor,
    /// The layers' descriptors.
    pub layers: Vec<Descriptor>,
    /// The artifact type, for artifacts that are not images.
    pub artifact_type: Option<String>,
    /// The manifest this one refers to (an attestation or signature names its image here).
    pub subject: Option<Descriptor>,
}

impl ImageView {
    /// The sum of the (compressed) layer sizes as the manifest declares them.
    pub fn layer_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.size.max(0) as u64).sum()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per manifest read; boxing buys nothing
/// What a manifest is, once parsed.
pub enum Parsed {
    /// An image index or manifest list.
    Index(IndexView),
    /// A single image manifest.
    Image(ImageView),
    /// Docker image manifest v2 schema 1: Lambda rejects it.
    Schema1,
}

/// Why bytes are not a manifest ecr-lambda can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("manifest is not valid JSON ({0})")]
    NotJson(String),
    /// JSON, but not shaped like a manifest or an index.
    #[error("manifest JSON does not have the shape of an image manifest or index ({0})")]
    Shape(String),
    /// A media type that is neither a manifest nor an index.
    #[error("manifest media type {0:?} is neither an image manifest nor an index")]
    UnknownMediaType(String),
    /// A `schemaVersion` other than 2.
    #[error("manifest has schemaVersion {0}; only schema 2 is understood")]
    SchemaVersion(i64),
}

impl Parsed {
    fn from_raw(raw: &RawManifest) -> Result<Parsed, ParseError> {
        // Refuse anything that is not JSON before looking at its shape, so the
        // message says which of the two is wrong.
        let value: serde_json::Value =
            serde_json::from_str(raw.bytes()).map_err(|e| ParseError::NotJson(e.to_string()))?;
        if value.get("schemaVersion").and_then(|v| v.as_i64()) == Some(1)
            || media_type::is_schema1(raw.media_type())
        {
            return Ok(Parsed::Schema1);
        }
        let doc: Document =
            serde_json::from_value(value).map_err(|e| ParseError::Shape(e.to_string()))?;
        match doc.schema_version {
            Some(2) => {}
            Some(other) => return Err(ParseError::SchemaVersion(other)),
            None => return Err(ParseError::Shape("missing field `schemaVersion`".into())),
        }
        // The registry's media type wins; the document's own field, then its shape,
        // decide when the registry gave none.
        let declared = [raw.media_type(), doc.media_type.as_deref().unwrap_or("")]
            .into_iter()
            .find(|m| !m.is_empty())
            .map(str::to_owned);
        let media_type = match declared {
            Some(m) => m,
            None if doc.manifests.is_some() => media_type::OCI_INDEX.to_owned(),
            None => media_type::OCI_MANIFEST.to_owned(),
        };
        if media_type::is_index(&media_type) {
            let manifests = doc
                .manifests
                .ok_or_else(|| ParseError::Shape("an index without `manifests`".into()))?;
            Ok(Parsed::Index(IndexView {
                media_type,
                manifests,
            }))
        } else if media_type::is_image_manifest(&media_type) {
            let config = doc
                .config
                .ok_or_else(|| ParseError::Shape("an image manifest without `config`".into()))?;
            let layers = doc
                .layers
                .ok_or_else(|| ParseError::Shape("an image manifest without `layers`".into()))?;
            Ok(Parsed::Image(ImageView {
                media_type,
                config,
                layers,
                artifact_type: doc.artifact_type,
                subject: doc.subject,
            }))
        } else {
            Err(ParseError::UnknownMediaType(media_type))
        }
    }
}
