//! The pure core of ecr-lambda, compiled from the main crate's sources. These
//! modules import nothing from the AWS SDK (a wall the build of this crate checks).

#[path = "../../src/digest.rs"]
pub mod digest;
#[path = "../../src/manifest/mod.rs"]
pub mod manifest;
#[path = "../../src/reference.rs"]
pub mod reference;
