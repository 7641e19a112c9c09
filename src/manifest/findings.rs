//! Problems and warnings: stable codes with a message for people.

use std::fmt;

use serde::Serialize;

/// Stable codes for problems and warnings; tests and users match on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    // problems
    ImageIndex,
    NoRunnablePlatform,
    AmbiguousPlatform,
    PlatformNotFound,
    ArchitectureMismatch,
    UnsupportedMediaType,
    DigestMismatch,
    ImageTooLarge,
    NotAnImageFunction,
    RegionMismatch,
    TagImmutable,
    ProvenanceNotKept,
    PlatformMismatch,
    NotLinux,
    /// A problem with `--function` (or deploy); a warning without one.
    NoEntrypoint,
    // warnings
    UndocumentedLayerMediaType,
    ArchitectureUnverified,
    UntaggedImage,
    InvalidIndexEntry,
    ProvenanceUnknown,
    FunctionNotActive,
    ConfigUnreadable,
}

impl Code {
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
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub code: Code,
    pub message: String,
}

impl Finding {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Finding {
            code,
            message: message.into(),
        }
    }
}
