//! What each entry of an index is for, and which one Lambda should run.
//!
//! Plain functions over index entries: no I/O, easy to test.

use serde::Serialize;

use crate::manifest::model::{Descriptor, media_type};
use crate::manifest::platform::LambdaArch;

/// The annotation BuildKit puts on an attestation entry; its value says what kind
/// of reference the entry is.
pub const REFERENCE_TYPE: &str = "vnd.docker.reference.type";
/// The annotation naming the digest of the image an attestation describes.
pub const REFERENCE_DIGEST: &str = "vnd.docker.reference.digest";
/// The value of [`REFERENCE_TYPE`] on an attestation manifest.
pub const ATTESTATION_MANIFEST: &str = "attestation-manifest";

/// What an index entry is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A runnable linux/amd64 or linux/arm64 image manifest.
    Image,
    /// A BuildKit attestation manifest (provenance, SBOM).
    Attestation,
    /// Anything else: other operating systems or architectures, nested indexes,
    /// artifacts, entries without a platform or with a malformed digest.
    Other,
}

impl Role {
    /// The role's name (`image`, `attestation`, `other`), as reports give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Image => "image",
            Role::Attestation => "attestation",
            Role::Other => "other",
        }
    }
}

/// The role of an index entry: an attestation if BuildKit annotated it as one or
/// gave it the platform `unknown/unknown`, an image if Lambda can run it, else other.
pub fn role_of(entry: &Descriptor) -> Role {
    let annotated = entry
        .annotations
        .get(REFERENCE_TYPE)
        .is_some_and(|t| t == ATTESTATION_MANIFEST);
    if annotated || entry.platform.as_ref().is_some_and(|p| p.is_unknown()) {
        return Role::Attestation;
    }
    if runnable_arch(entry).is_some() {
        Role::Image
    } else {
        Role::Other
    }
}

/// The Lambda architecture an index entry runs on, if it is a runnable image.
pub fn runnable_arch(entry: &Descriptor) -> Option<LambdaArch> {
    if !media_type::is_image_manifest(&entry.media_type) || entry.parsed_digest().is_none() {
        return None;
    }
    entry.platform.as_ref()?.lambda_arch()
}

/// The attestation entries that describe the image with `digest`.
pub fn attestations_of<'a>(
    entries: &'a [Descriptor],
    digest: &'a str,
) -> impl Iterator<Item = &'a Descriptor> + 'a {
    entries.iter().filter(move |e| {
        role_of(e) == Role::Attestation
            && e.annotations.get(REFERENCE_DIGEST).map(String::as_str) == Some(digest)
    })
}

/// The entry [`select`] chose, or why no single one could be chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection<'a> {
    /// The one entry to run.
    Chosen(&'a Descriptor),
    /// Nothing in the index runs on Lambda.
    NoneRunnable,
    /// The wanted architecture is not in the index.
    Missing(LambdaArch),
    /// Several different manifests qualify.
    Ambiguous(Vec<&'a Descriptor>),
}

/// Chooses the entry to run: the one for `wanted` if given, else the only runnable one.
/// Entries repeated with the same digest count once.
pub fn select(entries: &[Descriptor], wanted: Option<LambdaArch>) -> Selection<'_> {
    let mut candidates: Vec<&Descriptor> = Vec::new();
    let mut runnable = 0;
    for entry in entries {
        let Some(arch) = runnable_arch(entry) else {
            continue;
        };
        runnable += 1;
        if wanted.is_none_or(|w| w == arch) && !candidates.iter().any(|c| c.digest == entry.digest)
        {
            candidates.push(entry);
        }
    }
    match (candidates.len(), wanted) {
        (1, _) => Selection::Chosen(candidates[0]),
        (0, _) if runnable == 0 => Selection::NoneRunnable,
        (0, Some(arch)) => Selection::Missing(arch),
        _ => Selection::Ambiguous(candidates),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::platform::Platform;

    fn entry(digest_char: char, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: media_type::OCI_MANIFEST.into(),
            digest: format!("sha256:{}", digest_char.to_string().repeat(64)),
            size: 100,
            platform: Some(Platform {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
            }),
            annotations: Default::default(),
            artifact_type: None,
        }
    }

    #[test]
    fn roles() {
        assert_eq!(role_of(&entry('a', "linux", "amd64", None)), Role::Image);
        assert_eq!(
            role_of(&entry('a', "linux", "arm64", Some("v8"))),
            Role::Image
        );
        assert_eq!(
            role_of(&entry('a', "unknown", "unknown", None)),
            Role::Attestation
        );
        assert_eq!(role_of(&entry('a', "windows", "amd64", None)), Role::Other);
        assert_eq!(
            role_of(&entry('a', "linux", "arm", Some("v7"))),
            Role::Other
        );

        let mut annotated = entry('a', "linux", "amd64", None);
        annotated
            .annotations
            .insert(REFERENCE_TYPE.into(), ATTESTATION_MANIFEST.into());
        assert_eq!(role_of(&annotated), Role::Attestation);

        let mut nested = entry('a', "linux", "amd64", None);
        nested.media_type = media_type::OCI_INDEX.into();
        assert_eq!(role_of(&nested), Role::Other);

        let mut bad_digest = entry('a', "linux", "amd64", None);
        bad_digest.digest = "sha256:nothex".into();
        assert_eq!(role_of(&bad_digest), Role::Other);

        let mut no_platform = entry('a', "linux", "amd64", None);
        no_platform.platform = None;
        assert_eq!(role_of(&no_platform), Role::Other);
    }

    #[test]
    fn selection() {
        let amd = entry('a', "linux", "amd64", None);
        let arm = entry('b', "linux", "arm64", Some("v8"));
        let att = entry('c', "unknown", "unknown", None);
        let single = [amd.clone(), att.clone()];
        let multi = [amd.clone(), arm.clone(), att.clone()];

        assert_eq!(select(&single, None), Selection::Chosen(&single[0]));
        assert_eq!(
            select(&single, Some(LambdaArch::Arm64)),
            Selection::Missing(LambdaArch::Arm64)
        );
        assert_eq!(
            select(&multi, Some(LambdaArch::Arm64)),
            Selection::Chosen(&multi[1])
        );
        assert!(matches!(select(&multi, None), Selection::Ambiguous(c) if c.len() == 2));
        assert_eq!(
            select(std::slice::from_ref(&att), None),
            Selection::NoneRunnable
        );
        assert_eq!(
            select(&[att, amd.clone(), amd.clone()], None),
            Selection::Chosen(&amd)
        );

        let mut amd_again = amd.clone();
        amd_again.digest = format!("sha256:{}", "d".repeat(64));
        assert!(matches!(
            select(&[amd, amd_again], Some(LambdaArch::X86_64)),
            Selection::Ambiguous(c) if c.len() == 2
        ));
    }
}
