#![no_main]
//! Any bytes, as a root manifest and as the child it might name, are assessed
//! without panicking; whatever is chosen as a target is byte-identical to what was
//! read and hashes to its digest.

use std::collections::BTreeMap;

use ecr_lambda_fuzz::digest::Digest;
use ecr_lambda_fuzz::manifest::rules::{self, Inputs};
use ecr_lambda_fuzz::manifest::{LambdaArch, RawManifest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The first line is the root; the rest, if any, a child it may name.
    let (root_text, child_text) = text.split_once('\n').unwrap_or((text, ""));
    let root = RawManifest::new(root_text.to_owned(), Digest::sha256_of(root_text.as_bytes()), String::new());
    let child = RawManifest::new(child_text.to_owned(), Digest::sha256_of(child_text.as_bytes()), String::new());
    let children = BTreeMap::from([(child.digest().clone(), child)]);
    for platform in [None, Some(LambdaArch::X86_64), Some(LambdaArch::Arm64)] {
        if let Ok(parsed) = root.parse() {
            let _ = rules::children_to_fetch(&parsed, platform, None);
        }
        let a = rules::assess(&Inputs {
            image: "app:v1",
            root: &root,
            children: &children,
            requested_digest: None,
            platform,
            function: None,
            repository_region: "us-east-1",
        });
        if let Some(target) = &a.target {
            assert!(target.manifest.verify().is_ok());
            let source = if target.is_root { &root } else { &children[target.manifest.digest()] };
            assert_eq!(target.manifest.bytes(), source.bytes());
        }
        let _ = rules::tag_to_write(&a, Some("v1"), None);
        assert!(!a.fixable() || a.target.is_some());
    }
});
