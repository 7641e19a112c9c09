//! Problems and warnings: stable codes with a message for people.

use std::fmt;

use serde::Serialize;

/// Stable codes for problems and warnings; tests and users match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // problems
    /// The reference names an index or manifest list, which Lambda rejects.
    ImageIndex,
    /// Nothing in the index runs on Lambda.
    NoRunnablePlatform,
    /// Several runnable platforms, and nothing says which one is wanted.
    AmbiguousPlatform,
    /// The platform asked for is not in the index.
    PlatformNotFound,
    /// The function's architecture, or the platform asked for, is not the image's.
    ArchitectureMismatch,
    /// Not something Lambda runs: schema 1, not JSON, an artifact, a non-image layer.
    UnsupportedMediaType,
    /// Bytes that do not hash to their digest, or a size other than the declared one.
    DigestMismatch,
    /// The declared layers are over Lambda's 10 GiB.
    ImageTooLarge,
    /// The function is a .zip package function.
    NotAnImageFunction,
    /// The function is not in the repository's region.
    RegionMismatch,
    /// The repository does not let the tag move.
    TagImmutable,
    /// An attestation could not be written again as a referrer.
    ProvenanceNotKept,
    /// An index entry's platform is not what its image's config says.
    PlatformMismatch,
    /// The image's config says another OS than `linux`.
    NotLinux,
    /// Neither the image nor the function sets an entry point or a command: a problem
    /// with `--function` (or deploy), a warning without one.
    NoEntrypoint,
    /// A provenance requirement was given and no statement about the target was found.
    ProvenanceMissing,
    /// The target's provenance says another source, revision or builder than required.
    ProvenanceMismatch,
    /// The target's provenance could not be read (too large, bytes not what the
    /// descriptor names, not a statement): a problem when a requirement asks for it,
    /// a warning otherwise.
    ProvenanceUnreadable,
    /// `--require-signed`: ECR managed signing did not say COMPLETE for the target.
    NotSigned,
    // warnings
    /// Layers compressed in a way Lambda does not document (zstd, say).
    UndocumentedLayerMediaType,
    /// A single manifest's platform is in its config blob, which could not be read.
    ArchitectureUnverified,
    /// The deployed manifest is left without a tag.
    UntaggedImage,
    /// An index entry that cannot be read (a malformed digest) was ignored.
    InvalidIndexEntry,
    /// The image's referrers could not be listed (ListImageReferrers failed).
    ProvenanceUnknown,
    /// The function is `Failed` or `Inactive`; the update is attempted anyway.
    FunctionNotActive,
    /// The config blob could not be read; the message says why.
    ConfigUnreadable,
    /// `deploy --alias`: the way back (the alias's version before the deploy) runs an
    /// image that is gone, archived, or untagged under a policy that expires untagged
    /// images.
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
