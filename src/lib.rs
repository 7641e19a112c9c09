//! ecr-lambda: make container images in Amazon ECR deployable to AWS Lambda, and deploy them.
//!
//! Docker buildx pushes an image index (the image plus provenance attestations) that
//! Lambda rejects. This crate reads the manifests from ECR as exact bytes, chooses the
//! platform manifest Lambda should run, points a tag at it with PutImage (the same
//! bytes, digest verified), and deploys it by digest.
//!
//! The library API is [`check`], [`fix`] and [`deploy`] over SDK clients ([`Clients`]);
//! [`manifest`] is the pure core that makes every decision.

pub mod calls;
pub mod cli;
pub mod config;
pub mod digest;
pub mod ecr;
pub mod error;
pub mod lambda;
pub mod manifest;
pub mod ops;
pub mod output;
pub mod reference;

pub use error::{Error, ExitCode};
pub use ops::{CheckRequest, Clients, DeployRequest, FixRequest, Outcome, check, deploy, fix};
