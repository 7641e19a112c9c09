//! Problems and warnings: stable codes with a message for people.

use std::fmt;

use serde::Serialize;

/// Stable codes for problems and warnings; tests and users match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // problems
    /// The tag names an index / manifest list; `fix` or `deploy` points a tag at the
    /// platform manifest.
    ImageIndex,
    /// Nothing in the index runs on Lambda (only attestations, Windows, other
    /// architectures, nested indexes).
    NoRunnablePlatform,
    /// Several runnable platforms: pass `--platform` or `--function`.
    AmbiguousPlatform,
    /// The `--platform` asked for is not in the index.
    PlatformNotFound,
    /// The function's architecture is not in the index, or `--platform` differs from it;
    /// for a single manifest, its config says another architecture (or one Lambda does not
    /// run).
    ArchitectureMismatch,
    /// Schema 1 manifest, not JSON, an artifact config, a non-image layer.
    UnsupportedMediaType,
    /// Bytes that do not hash to their digest, or a size that differs from the index or the
    /// manifest (config blobs too); nothing is written.
    DigestMismatch,
    /// Declared (compressed) layers over Lambda's 10 GiB.
    ImageTooLarge,
    /// The function is a .zip package function.
    NotAnImageFunction,
    /// The function is not in the repository's region.
    RegionMismatch,
    /// The repository does not let the tag move: pass `--tag NEW`.
    TagImmutable,
    /// An attestation could not be written as a referrer because PutImage failed (exit 3);
    /// when the tag that was read would have moved, it was not moved; when another tag was
    /// written, it stays written (the same command run again writes what is missing).
    ProvenanceNotKept,
    /// An index entry's platform is not what its image's config says (the index claims
    /// amd64, the image is arm64): not fixable, the index is wrong.
    PlatformMismatch,
    /// The image's config says another OS than `linux`.
    NotLinux,
    /// The image has neither ENTRYPOINT nor CMD, and the function's image configuration
    /// sets neither EntryPoint nor Command (without `--function`: a warning).
    NoEntrypoint,
    /// A provenance requirement was given and no SLSA statement whose subject is the target
    /// was found (none at all, or only statements about other images); nothing is written.
    ProvenanceMissing,
    /// The target's statement names another source, revision or builder than required; the
    /// message says, per field, what was expected and what was found; nothing is written.
    ProvenanceMismatch,
    /// A provenance requirement was given and the statement could not be read: over the 8
    /// MiB cap (nothing is asked), bytes that are not what the descriptor names, not an
    /// in-toto statement, not in the repository; nothing is written (without a requirement:
    /// a warning).
    ProvenanceUnreadable,
    /// `--require-signed`: ECR managed signing did not say COMPLETE for every signing
    /// profile of the target (no profile at all, FAILED with ECR's code and reason, or
    /// still IN_PROGRESS at `--wait-timeout`); nothing is written.
    NotSigned,
    // warnings
    /// A warning: layers compressed in a way Lambda does not document (zstd and other
    /// compressions).
    UndocumentedLayerMediaType,
    /// A warning: a single manifest's platform lives in its config blob, which could not be
    /// read, so its architecture is unchecked (Lambda itself only finds a mismatch at
    /// invoke).
    ArchitectureUnverified,
    /// A warning: the deployed manifest is left without a tag (IMAGE given by digest
    /// without `--tag`), so lifecycle rules could expire it.
    UntaggedImage,
    /// A warning: an index entry that cannot be read (a malformed digest) was ignored.
    InvalidIndexEntry,
    /// A warning: the image's referrers could not be listed (ListImageReferrers failed).
    ProvenanceUnknown,
    /// A warning: the function is `Failed` or `Inactive`; the update is attempted all the
    /// same, which is how such a function is brought back.
    FunctionNotActive,
    /// A warning: the config blob could not be read; the message says why (a missing
    /// `ecr:GetDownloadUrlForLayer`, say). The rules that need it are not applied.
    ConfigUnreadable,
    /// `deploy --alias` and `release promote`: the way back (the alias's version
    /// before the deploy or promotion) runs an image that is gone, archived, or
    /// untagged under a policy that expires untagged images.
    RollbackTargetAtRisk,
}

impl Code {
    /// The code as reports give it (`image-index`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ImageIndex => "image-index",
            Code::NoRunnablePlatform => "no-runnable-platform",
            Code::AmbiguousPlatform => "ambiguous-platform",
            Code::PlatformNotFound => "platform-not-found",
            Code::ArchitectureMismatch => "architecture-mismatch",
            Code::UnsupportedMediaType => "unsupported-media-type",
            Code::DigestMismatch => "digest-mismatch",
            Code::ImageTooLarge => "image-too-large",
            Code::NotAnImageFunction => "not-an-image-function",
            Code::RegionMismatch => "region-mismatch",
            Code::TagImmutable => "tag-immutable",
            Code::ProvenanceNotKept => "provenance-not-kept",
            Code::UndocumentedLayerMediaType => "undocumented-layer-media-type",
            Code::ArchitectureUnverified => "architecture-unverified",
            Code::UntaggedImage => "untagged-image",
            Code::InvalidIndexEntry => "invalid-index-entry",
            Code::ProvenanceUnknown => "provenance-unknown",
            Code::FunctionNotActive => "function-not-active",
            Code::PlatformMismatch => "platform-mismatch",
            Code::NotLinux => "not-linux",
            Code::NoEntrypoint => "no-entrypoint",
            Code::ConfigUnreadable => "config-unreadable",
            Code::RollbackTargetAtRisk => "rollback-target-at-risk",
            Code::ProvenanceMissing => "provenance-missing",
            Code::ProvenanceMismatch => "provenance-mismatch",
            Code::ProvenanceUnreadable => "provenance-unreadable",
            Code::NotSigned => "not-signed",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem or a warning: a stable code and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Finding {
    /// What it is, for scripts.
    pub code: Code,
    /// What it is, for people: what was found and what to do about it.
    pub message: String,
}

impl Finding {
    /// A finding with `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Finding {
            code,
            message: message.into(),
        }
    }
}
