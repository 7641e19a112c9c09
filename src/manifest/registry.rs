//! Tags judged as a registry scan sees them: without a function in view, single
//! manifests by their listed media type, and multi-platform indexes as `fix` would
//! write them, platform by platform.

use serde::Serialize;

use crate::digest::Digest;
use crate::manifest::classify;
use crate::manifest::model::{Descriptor, Parsed, media_type};
use crate::manifest::platform::LambdaArch;
use crate::manifest::provenance::Referrer;
use crate::manifest::rules::{Assessment, Code, Finding, Inputs, Target, assess, tag_to_write};

/// What a scan reads of an index to judge its tag: every runnable image, and the
/// attestations that describe them (for `--fix` to keep).
pub fn scan_children(root: &Parsed) -> Vec<Digest> {
    let Parsed::Index(index) = root else {
        return Vec::new();
    };
    let mut digests: Vec<Digest> = Vec::new();
    for entry in index
        .manifests
        .iter()
        .filter(|e| classify::runnable_arch(e).is_some())
    {
        let related = std::iter::once(entry)
            .chain(classify::attestations_of(&index.manifests, &entry.digest));
        for d in related.filter_map(Descriptor::parsed_digest) {
            if !digests.contains(&d) {
                digests.push(d);
            }
        }
    }
    digests
}

/// A tag `fix` would write, with the referrers that keep the target's provenance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedWrite {
    /// The tag to write.
    pub tag: String,
    /// The manifest it would name.
    pub target: Target,
    /// The attestations to write again as its referrers.
    pub referrers: Vec<Referrer>,
}

/// What a scan says of a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Lambda accepts it as is.
    Ready,
    /// `fix` can make it Lambda-ready (for an index of several platforms, every platform).
    Fixable,
    /// Neither: the problems say why.
    NotFixable,
}

/// A tag as a scan judges it, with no function in view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagAssessment {
    /// Ready, fixable or neither.
    pub verdict: Verdict,
    /// What `fix` would write: the tag itself for one runnable image, else one
    /// `<tag>-<arch>` per runnable platform.
    pub writes: Vec<PlannedWrite>,
    /// The problems `check` reports (with no platform chosen).
    pub problems: Vec<Finding>,
}

/// Judges a tag as `check` would, and for a multi-platform index, as `fix` would for
/// each of its platforms.
pub fn assess_tag(inputs: &Inputs<'_>, tag: &str) -> TagAssessment {
    let plain = assess(inputs);
    if plain.lambda_ready() {
        return TagAssessment {
            verdict: Verdict::Ready,
            writes: Vec::new(),
            problems: Vec::new(),
        };
    }
    let planned = |a: &Assessment| {
        let target = a.target.clone().filter(|_| a.fixable())?;
        Some(PlannedWrite {
            tag: tag_to_write(a, Some(tag), None)?,
            target,
            referrers: a.referrers.clone(),
        })
    };
    let mut writes = Vec::new();
    if plain.fixable() {
        writes.extend(planned(&plain));
    } else if plain.has_problem(Code::AmbiguousPlatform) && plain.runnable > 1 {
        let archs = inputs
            .root
            .parse()
            .map(|p| runnable_archs(&p))
            .unwrap_or_default();
        for arch in &archs {
            writes.extend(planned(&assess(&Inputs {
                platform: Some(*arch),
                ..inputs.clone()
            })));
        }
        // Fixable only if every platform is: half a fix is not offered.
        if writes.len() != archs.len() {
            writes.clear();
        }
    }
    TagAssessment {
        verdict: if writes.is_empty() {
            Verdict::NotFixable
        } else {
            Verdict::Fixable
        },
        writes,
        problems: plain.problems,
    }
}

/// The Lambda architectures an index has runnable images for.
pub fn runnable_archs(root: &Parsed) -> Vec<LambdaArch> {
    let Parsed::Index(index) = root else {
        return Vec::new();
    };
    let mut archs: Vec<LambdaArch> = index
        .manifests
        .iter()
        .filter_map(classify::runnable_arch)
        .collect();
    archs.dedup();
    archs.sort_by_key(|a| a.oci_name());
    archs.dedup();
    archs
}

/// A tag judged by its listed media type alone (single manifests are not read):
/// `None` for what is not a container image at all (charts, signatures, SBOMs).
pub fn assess_listed(
    image: &str,
    listed_media_type: &str,
    artifact_media_type: Option<&str>,
) -> Option<TagAssessment> {
    let is_container_image = artifact_media_type.is_none_or(|config| {
        config == media_type::DOCKER_CONFIG || config == media_type::OCI_CONFIG
    });
    if media_type::is_image_manifest(listed_media_type) && is_container_image {
        return Some(TagAssessment {
            verdict: Verdict::Ready,
            writes: Vec::new(),
            problems: Vec::new(),
        });
    }
    if media_type::is_schema1(listed_media_type) {
        return Some(TagAssessment {
            verdict: Verdict::NotFixable,
            writes: Vec::new(),
            problems: vec![Finding::new(
                Code::UnsupportedMediaType,
                format!(
                    "{image} is a Docker image manifest v2 schema 1, which Lambda rejects; push it \
                     again with a current Docker or buildx"
                ),
            )],
        });
    }
    None
}
