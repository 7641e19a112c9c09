//! The attestations BuildKit made for an image, and how to keep them discoverable
//! once a tag names the image itself instead of the index that linked them.
//!
//! An attestation linked only through the index would be left behind, untagged. It
//! is kept by writing it again as an OCI 1.1 referrer of the image: the same config
//! and layers, with `subject` (the image's descriptor) and `artifactType` added.
//! ECR lists such manifests with ListImageReferrers.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::digest::Digest;
use crate::manifest::classify;
use crate::manifest::model::{Descriptor, ImageView, Parsed, RawManifest, media_type};
use crate::manifest::statement::{self, Statement};

/// The layer annotation that names an attestation's in-toto predicate type.
pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// What newer BuildKit versions put in `artifactType` of attestation manifests.
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.docker.attestation.manifest.v1+json";
/// The media type of an attestation's layers: an in-toto statement.
pub const INTOTO_LAYER: &str = "application/vnd.in-toto+json";

/// How an attestation is linked to the image it attests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// The attestation's `subject` names the image: registries list it as a referrer.
    Referrer,
    /// Only the index links it: it is lost from view when the tag moves.
    IndexOnly,
}

/// An attestation of the image, as reported (`provenance` in the JSON output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Provenance {
    /// The attestation manifest's digest.
    pub digest: String,
    /// What it attests, by in-toto predicate type (`https://slsa.dev/provenance/v0.2`, say).
    pub predicate_types: Vec<String>,
    /// Whether registries list it as a referrer of the image, or only the index links it.
    pub linked: Link,
    /// What its SLSA provenance statement says, once read; `null` when it was not
    /// read (or could not be: see `error`).
    pub statement: Option<Statement>,
    /// Why its statement could not be read; `null` when it was, or was not tried.
    pub error: Option<String>,
    /// Its in-toto layers that hold SLSA provenance: what is read.
    #[serde(skip)]
    pub layers: Vec<Descriptor>,
}

impl Provenance {
    fn of(view: &ImageView, digest: String, linked: Link) -> Provenance {
        Provenance {
            digest,
            predicate_types: predicate_types(view),
            linked,
            statement: None,
            error: None,
            layers: provenance_layers(view),
        }
    }
}

/// The layers of an attestation that hold SLSA provenance statements (by their
/// `in-toto.io/predicate-type` annotation).
fn provenance_layers(view: &ImageView) -> Vec<Descriptor> {
    view.layers
        .iter()
        .filter(|l| {
            l.media_type == INTOTO_LAYER
                && l.annotations
                    .get(PREDICATE_TYPE)
                    .is_some_and(|t| statement::is_provenance(t))
        })
        .cloned()
        .collect()
}

/// An attestation written again as a referrer of the image it attests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// The attestation as BuildKit wrote it (linked only through the index).
    pub attestation: Digest,
    /// The same document with `subject` and `artifactType`: what is written.
    pub manifest: RawManifest,
}

fn predicate_types(view: &ImageView) -> Vec<String> {
    let mut types: Vec<String> = Vec::new();
    for t in view
        .layers
        .iter()
        .filter_map(|l| l.annotations.get(PREDICATE_TYPE))
    {
        if !types.contains(t) {
            types.push(t.clone());
        }
    }
    types
}

/// The attestations of the image `target` in an index, as read. Only those whose
/// bytes hash to the digest (and have the size) the index names are used: anything
/// else is neither reported nor written again.
pub fn attestations(
    index: &[Descriptor],
    target: &Digest,
    children: &BTreeMap<Digest, RawManifest>,
) -> Vec<(Provenance, RawManifest)> {
    classify::attestations_of(index, target.as_str())
        .filter_map(|entry| {
            let digest = entry.parsed_digest()?;
            let raw = children.get(&digest)?;
            let verified = digest.verify(raw.bytes().as_bytes()).is_ok()
                && u64::try_from(entry.size).is_ok_and(|size| size == raw.size());
            verified.then_some(raw)
        })
        .filter_map(|raw| {
            let Ok(Parsed::Image(view)) = raw.parse() else {
                return None;
            };
            let linked = if view
                .subject
                .as_ref()
                .is_some_and(|s| s.digest == target.as_str())
            {
                Link::Referrer
            } else {
                Link::IndexOnly
            };
            Some((
                Provenance::of(&view, raw.digest().to_string(), linked),
                raw.clone(),
            ))
        })
        .collect()
}

/// Whether a referrer, as ListImageReferrers lists it, is an attestation.
pub fn is_attestation_referrer(artifact_type: Option<&str>) -> bool {
    matches!(
        artifact_type,
        Some(ATTESTATION_ARTIFACT_TYPE) | Some("application/vnd.in-toto+json")
    )
}

/// The provenance of a single image from its attestation referrers, read by digest
/// (`manifests`); referrers whose bytes do not hash to their digest are left out.
pub fn from_referrers(
    subject: &Digest,
    manifests: &BTreeMap<Digest, RawManifest>,
) -> Vec<Provenance> {
    manifests
        .values()
        .filter(|raw| raw.verify().is_ok())
        .filter_map(|raw| match raw.parse() {
            Ok(Parsed::Image(view))
                if view
                    .subject
                    .as_ref()
                    .is_some_and(|s| s.digest == subject.as_str()) =>
            {
                Some(Provenance::of(
                    &view,
                    raw.digest().to_string(),
                    Link::Referrer,
                ))
            }
            _ => None,
        })
        .collect()
}

/// The attestation written again as a referrer of `target`: the same document with
/// `subject` and `artifactType` set. The bytes are new (and deterministic: keys in
/// order, compact), so writing it twice writes the same manifest.
pub fn as_referrer(attestation: &RawManifest, target: &RawManifest) -> Option<RawManifest> {
    let mut doc: Value = serde_json::from_str(attestation.bytes()).ok()?;
    let object = doc.as_object_mut()?;
    object.insert(
        "subject".into(),
        json!({
            "mediaType": target.media_type(),
            "digest": target.digest().as_str(),
            "size": target.size(),
        }),
    );
    object
        .entry("artifactType")
        .or_insert_with(|| Value::String(ATTESTATION_ARTIFACT_TYPE.into()));
    // `subject` and `artifactType` are OCI fields: the manifest is an OCI manifest.
    object.insert(
        "mediaType".into(),
        Value::String(media_type::OCI_MANIFEST.into()),
    );
    let bytes = serde_json::to_string(&doc).ok()?;
    let digest = Digest::sha256_of(bytes.as_bytes());
    Some(RawManifest::new(
        bytes,
        digest,
        media_type::OCI_MANIFEST.into(),
    ))
}
