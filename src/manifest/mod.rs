//! The pure core: manifests as exact bytes, read-only views of them, and Lambda's
//! rules. Nothing here performs I/O or knows about the AWS SDK.

pub mod classify;
pub mod config;
pub mod config_rules;
pub mod findings;
pub mod model;
pub mod platform;
pub mod provenance;
pub mod registry;
pub mod rules;
pub mod statement;

pub use classify::Role;
pub use model::{Descriptor, Parsed, RawManifest, media_type};
pub use platform::{LambdaArch, Platform, PlatformArg};
pub use rules::{
    Assessment, Code, Finding, FunctionFacts, Inputs, Target, assess, children_to_fetch,
};
