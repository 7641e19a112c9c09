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
use crate::manifest::model::{Descriptor, Parsed, RawManifest, media_type};

pub const PREDICATE_TYPE: &str = "in-toto.io/predicate-type";
/// What newer BuildKit versions put in `artifactType` of attestation manifests.
pub const ATTESTATION_ARTIFACT_TYPE: &str = "application/vnd.docker.attestation.manifest.v1+json";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Link {
    /// The attestation's `subject` names the image: registries list it as a referrer.
    Referrer,
    /// Only the index links it: it is lost from view when the tag moves.
    IndexOnly,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provenance {
    pub digest: String,
    pub predicate_types: Vec<String>,
    pub linked: Link,
}

/// An attestation written again as a referrer of the image it attests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referrer {
    /// The attestation as BuildKit wrote it (linked only through the index).
    pub attestation: Digest,
    /// The same document with `subject` and `artifactType`: what is written.
    pub manifest: RawManifest,
}

/// The attestations of the image `target` in an index, as read (those ECR returned).
pub fn attestations(
    index: &[Descriptor],
    target: &Digest,
    children: &BTreeMap<Digest, RawManifest>,
) -> Vec<(Provenance, RawManifest)> {
    classify::attestations_of(index, target.as_str())
        .filter_map(|entry| children.get(&entry.parsed_digest()?))
        .filter_map(|raw| {
            let Ok(Parsed::Image(view)) = raw.parse() else {
                return None;
            };
            let mut predicate_types: Vec<String> = view
                .layers
                .iter()
                .filter_map(|l| l.annotations.get(PREDICATE_TYPE).cloned())
                .collect();
            predicate_types.dedup();
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
                Provenance {
                    digest: raw.digest().to_string(),
                    predicate_types,
                    linked,
                },
                raw.clone(),
            ))
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
    object
        .entry("mediaType")
        .or_insert_with(|| Value::String(media_type::OCI_MANIFEST.into()));
    let bytes = serde_json::to_string(&doc).ok()?;
    let digest = Digest::sha256_of(bytes.as_bytes());
    Some(RawManifest::new(
        bytes,
        digest,
        media_type::OCI_MANIFEST.into(),
    ))
}
