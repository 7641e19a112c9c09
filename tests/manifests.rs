//! The pure core over fixture manifests in real shapes: parsing, classification,
//! target choice and Lambda's rules. No emulator, no network.

mod support;

use std::collections::BTreeMap;

use ecr_lambda::digest::Digest;
use ecr_lambda::manifest::config::{ConfigError, ImageConfig};
use ecr_lambda::manifest::config_rules::assess_config;
use ecr_lambda::manifest::rules::{self, Code, Inputs, tag_to_write};
use ecr_lambda::manifest::{
    Assessment, FunctionFacts, LambdaArch, Parsed, RawManifest, Role, assess, children_to_fetch,
};
use support::{Case, Manifest, load_case};

fn raw(m: &Manifest) -> RawManifest {
    RawManifest::new(
        m.bytes.clone(),
        m.digest.parse().unwrap(),
        m.media_type.clone(),
    )
}

struct Given<'a> {
    case: &'a Case,
    platform: Option<LambdaArch>,
    function: Option<FunctionFacts>,
}

impl<'a> Given<'a> {
    fn new(case: &'a Case) -> Self {
        Given {
            case,
            platform: None,
            function: None,
        }
    }

    fn platform(mut self, arch: LambdaArch) -> Self {
        self.platform = Some(arch);
        self
    }

    fn function(mut self, arch: LambdaArch) -> Self {
        self.function = Some(FunctionFacts {
            name: "fn".into(),
            arch: Some(arch),
            is_image: true,
            region: "us-east-1".into(),
            overrides_command: false,
        });
        self
    }

    /// Assesses as ops does: only the children the rules ask for are "fetched".
    fn assess(&self) -> Assessment {
        let root = raw(&self.case.root);
        let wanted = match root.parse() {
            Ok(parsed) => children_to_fetch(
                &parsed,
                self.platform,
                self.function.as_ref().and_then(|f| f.arch),
            ),
            Err(_) => vec![],
        };
        let children: BTreeMap<Digest, RawManifest> = self
            .case
            .children
            .iter()
            .map(|(_, m)| raw(m))
            .filter(|m| wanted.contains(m.digest()))
            .map(|m| (m.digest().clone(), m))
            .collect();
        assess(&Inputs {
            image: "app:v1",
            root: &root,
            children: &children,
            requested_digest: None,
            platform: self.platform,
            function: self.function.as_ref(),
            repository_region: "us-east-1",
        })
    }
}

impl Given<'_> {
    fn overriding_command(mut self) -> Self {
        if let Some(f) = &mut self.function {
            f.overrides_command = true;
        }
        self
    }

    /// Assesses, then reads the target's config blob from the case, as ops does.
    fn assess_with_config(&self) -> Assessment {
        let mut a = self.assess();
        let target = a.target.clone().expect("a target whose config is read");
        let Ok(Parsed::Image(view)) = target.manifest.parse() else {
            panic!("the target is an image manifest");
        };
        let blob = self
            .case
            .blobs
            .iter()
            .find(|b| b.digest == view.config.digest)
            .expect("the case holds the target's config blob");
        let config = ImageConfig::from_blob(&view.config, &blob.bytes).expect("a valid config");
        let wanted = self
            .platform
            .or_else(|| self.function.as_ref().and_then(|f| f.arch));
        assess_config(&mut a, "app:v1", &config, wanted, self.function.as_ref());
        a.config = Some(config);
        a
    }
}

/// A single manifest assessed on its own (no children), for a function or none.
fn assess_single(root: &RawManifest, function: Option<&FunctionFacts>) -> Assessment {
    rules::assess(&Inputs {
        image: "app:v1",
        root,
        children: &BTreeMap::new(),
        requested_digest: None,
        platform: None,
        function,
        repository_region: "us-east-1",
    })
}

fn problem_codes(a: &Assessment) -> Vec<Code> {
    a.problems.iter().map(|p| p.code).collect()
}

fn warning_codes(a: &Assessment) -> Vec<Code> {
    a.warnings.iter().map(|p| p.code).collect()
}

#[test]
fn buildx_single_platform_index_is_fixable_to_its_image() {
    let case = load_case("buildx-single");
    let a = Given::new(&case).assess();
    assert!(a.is_index);
    assert_eq!(problem_codes(&a), [Code::ImageIndex]);
    assert!(a.fixable() && !a.lambda_ready());
    let roles: Vec<Role> = a.entries.iter().map(|e| e.role).collect();
    assert_eq!(roles, [Role::Image, Role::Attestation]);
    let target = a.target.as_ref().unwrap();
    assert_eq!(
        target.manifest.bytes(),
        case.child("image-amd64.json").bytes
    );
    assert_eq!(
        target.manifest.digest().as_str(),
        case.child("image-amd64.json").digest
    );
    assert_eq!(target.platform.as_ref().unwrap().to_string(), "linux/amd64");
    assert_eq!(tag_to_write(&a, Some("v1"), None).as_deref(), Some("v1"));
}

#[test]
fn only_the_target_and_its_attestations_are_fetched() {
    let case = load_case("buildx-multi");
    let parsed = raw(&case.root).parse().unwrap();
    let wanted = children_to_fetch(&parsed, Some(LambdaArch::Arm64), None);
    let expected = vec![
        case.child("image-arm64.json").digest.clone(),
        case.child("attestation-arm64.json").digest.clone(),
    ];
    let got: Vec<String> = wanted.iter().map(ToString::to_string).collect();
    assert_eq!(got, expected);
    // No target, nothing to fetch.
    assert!(children_to_fetch(&parsed, None, None).is_empty());
}

#[test]
fn multi_platform_index_needs_a_platform_and_then_writes_an_arch_tag() {
    let case = load_case("buildx-multi");
    let a = Given::new(&case).assess();
    assert_eq!(
        problem_codes(&a),
        [Code::ImageIndex, Code::AmbiguousPlatform]
    );
    assert!(!a.fixable());
    assert!(a.problems[1].message.contains("--platform"));

    let a = Given::new(&case).platform(LambdaArch::Arm64).assess();
    assert_eq!(problem_codes(&a), [Code::ImageIndex]);
    assert_eq!(
        a.target.as_ref().unwrap().manifest.digest().as_str(),
        case.child("image-arm64.json").digest
    );
    assert_eq!(
        tag_to_write(&a, Some("v7"), None).as_deref(),
        Some("v7-arm64")
    );
    assert_eq!(
        tag_to_write(&a, Some("v7"), Some("lambda")).as_deref(),
        Some("lambda")
    );
    assert_eq!(tag_to_write(&a, None, None), None);

    // The function's architecture decides when no --platform is given.
    let a = Given::new(&case).function(LambdaArch::X86_64).assess();
    assert!(a.fixable());
    assert_eq!(
        a.target.as_ref().unwrap().manifest.digest().as_str(),
        case.child("image-amd64.json").digest
    );
    assert_eq!(
        tag_to_write(&a, Some("v7"), None).as_deref(),
        Some("v7-amd64")
    );
}

#[test]
fn platform_flag_against_the_function_architecture_is_a_mismatch() {
    let case = load_case("buildx-multi");
    let a = Given::new(&case)
        .platform(LambdaArch::Arm64)
        .function(LambdaArch::X86_64)
        .assess();
    assert!(problem_codes(&a).contains(&Code::ArchitectureMismatch));
    assert!(!a.fixable());
}

#[test]
fn missing_platform_is_named_by_flag_or_by_function() {
    let case = load_case("buildx-single");
    let a = Given::new(&case).platform(LambdaArch::Arm64).assess();
    assert_eq!(
        problem_codes(&a),
        [Code::ImageIndex, Code::PlatformNotFound]
    );
    assert!(a.problems[1].message.contains("linux/amd64"));

    let a = Given::new(&case).function(LambdaArch::Arm64).assess();
    assert_eq!(
        problem_codes(&a),
        [Code::ImageIndex, Code::ArchitectureMismatch]
    );
    assert!(a.target.is_none());

    let arm_only = load_case("arm64-only");
    let a = Given::new(&arm_only).function(LambdaArch::Arm64).assess();
    assert!(a.fixable(), "{:?}", a.problems);
}

#[test]
fn docker_manifest_list_is_an_index_too() {
    let case = load_case("docker-list");
    let a = Given::new(&case).platform(LambdaArch::X86_64).assess();
    assert!(a.is_index);
    assert!(a.fixable());
    assert_eq!(
        a.target.as_ref().unwrap().manifest.media_type(),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(a.runnable, 2);
}

#[test]
fn single_manifests_are_ready_as_they_are() {
    for name in ["docker-v2", "oci-manifest"] {
        let case = load_case(name);
        let a = Given::new(&case).assess();
        assert!(a.lambda_ready(), "{name}: {:?}", a.problems);
        assert!(!a.fixable());
        assert!(a.entries.is_empty());
        assert!(a.target.as_ref().unwrap().is_root);
        assert!(a.warnings.is_empty());
        // With a function, the architecture cannot be seen: say so, do not guess.
        let a = Given::new(&case).function(LambdaArch::Arm64).assess();
        assert!(a.lambda_ready());
        assert_eq!(warning_codes(&a), [Code::ArchitectureUnverified]);
    }
}

#[test]
fn index_with_only_attestations_or_windows_has_nothing_to_run() {
    for name in ["attestations-only", "windows"] {
        let case = load_case(name);
        let a = Given::new(&case).assess();
        assert_eq!(
            problem_codes(&a),
            [Code::ImageIndex, Code::NoRunnablePlatform],
            "{name}"
        );
        assert!(!a.fixable());
    }
    let windows = load_case("windows");
    assert_eq!(Given::new(&windows).assess().entries[0].role, Role::Other);
}

#[test]
fn nested_index_entries_are_other_and_never_chosen() {
    let case = load_case("nested-index");
    let a = Given::new(&case).assess();
    let roles: Vec<Role> = a.entries.iter().map(|e| e.role).collect();
    assert_eq!(roles, [Role::Other, Role::Image]);
    assert_eq!(
        a.target.as_ref().unwrap().manifest.digest().as_str(),
        case.child("image-arm64.json").digest
    );
    let a = Given::new(&case).platform(LambdaArch::X86_64).assess();
    assert!(problem_codes(&a).contains(&Code::PlatformNotFound));
}

#[test]
fn zstd_layers_are_a_warning_not_a_problem() {
    let case = load_case("zstd");
    let a = Given::new(&case).assess();
    assert!(a.lambda_ready());
    assert_eq!(warning_codes(&a), [Code::UndocumentedLayerMediaType]);
}

#[test]
fn schema1_and_malformed_manifests_are_unsupported() {
    for name in ["schema1", "malformed"] {
        let case = load_case(name);
        let a = Given::new(&case).assess();
        assert_eq!(problem_codes(&a), [Code::UnsupportedMediaType], "{name}");
        assert!(!a.fixable() && a.target.is_none());
    }
    assert_eq!(raw(&load_case("schema1").root).parse(), Ok(Parsed::Schema1));
}

#[test]
fn unusual_formatting_is_kept_byte_for_byte() {
    let case = load_case("unusual-formatting");
    let child = case.child("image-amd64.json");
    assert!(
        child.bytes.contains("\r\n"),
        "the fixture keeps its CRLF line ends"
    );
    let a = Given::new(&case).assess();
    assert!(a.fixable(), "{:?}", a.problems);
    let target = a.target.unwrap();
    assert_eq!(target.manifest.bytes().as_bytes(), child.bytes.as_bytes());
    assert_eq!(target.manifest.digest().as_str(), child.digest);
    // The manifest has no mediaType field: the registry's (and the index's) word is kept.
    assert_eq!(
        target.manifest.media_type(),
        "application/vnd.oci.image.manifest.v1+json"
    );
}

#[test]
fn a_child_whose_bytes_do_not_match_its_digest_is_never_a_target() {
    let mut case = load_case("buildx-single");
    let tampered = case
        .children
        .iter_mut()
        .find(|(f, _)| f == "image-amd64.json")
        .unwrap();
    // Same length, one byte different: only the hash can tell.
    tampered.1.bytes = tampered.1.bytes.replacen("amd64", "amd65", 1);
    if !tampered.1.bytes.contains("amd65") {
        tampered.1.bytes = tampered.1.bytes.replacen('2', "3", 1);
    }
    let a = Given::new(&case).assess();
    assert!(
        problem_codes(&a).contains(&Code::DigestMismatch),
        "{:?}",
        a.problems
    );
    assert!(a.target.is_none() && !a.fixable());
}

#[test]
fn a_root_whose_bytes_do_not_match_its_digest_is_reported() {
    let case = load_case("docker-v2");
    let root = RawManifest::new(
        case.root.bytes.clone(),
        Digest::sha256_of(b"something else"),
        case.root.media_type.clone(),
    );
    let a = assess_single(&root, None);
    assert_eq!(problem_codes(&a), [Code::DigestMismatch]);
}

#[test]
fn function_rules_package_type_and_region() {
    let case = load_case("docker-v2");
    let root = raw(&case.root);
    let function = FunctionFacts {
        name: "fn".into(),
        arch: Some(LambdaArch::X86_64),
        is_image: false,
        region: "eu-west-1".into(),
        overrides_command: false,
    };
    let a = assess_single(&root, Some(&function));
    assert_eq!(
        problem_codes(&a),
        [Code::NotAnImageFunction, Code::RegionMismatch]
    );
    assert!(!a.fixable());
}

#[test]
fn an_image_over_ten_gib_is_too_large() {
    let layer = |size: u64| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{}","size":{size}}}"#,
            "a".repeat(64)
        )
    };
    let bytes = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":100}},"layers":[{},{}]}}"#,
        "b".repeat(64),
        layer(6 << 30),
        layer(5 << 30)
    );
    let root = RawManifest::new(
        bytes.clone(),
        Digest::sha256_of(bytes.as_bytes()),
        "application/vnd.oci.image.manifest.v1+json".into(),
    );
    let a = assess_single(&root, None);
    assert_eq!(problem_codes(&a), [Code::ImageTooLarge]);
}

#[test]
fn children_to_fetch_fit_one_call_with_the_target_first() {
    let image = format!("sha256:{}", "a".repeat(64));
    let mut entries = vec![serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": image, "size": 10, "platform": {"os": "linux", "architecture": "amd64"}
    })];
    for i in 0..999 {
        entries.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{i:064x}"), "size": 10,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest",
                            "vnd.docker.reference.digest": image}
        }));
    }
    let bytes = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                   "manifests": entries}).to_string();
    let root = RawManifest::new(
        bytes.clone(),
        Digest::sha256_of(bytes.as_bytes()),
        String::new(),
    );
    let wanted = children_to_fetch(&root.parse().unwrap(), None, None);
    assert_eq!(wanted.len(), rules::MAX_IDS_PER_CALL);
    assert_eq!(wanted[0].as_str(), image);
}

#[test]
fn a_multi_platform_tag_with_one_broken_platform_is_not_offered_half_a_fix() {
    let mut case = load_case("buildx-multi");
    let arm = case
        .children
        .iter_mut()
        .find(|(f, _)| f == "image-arm64.json")
        .unwrap();
    // One byte more: neither the hash nor the size matches the index any more.
    arm.1.bytes.push(' ');
    let root = raw(&case.root);
    let children: BTreeMap<Digest, RawManifest> = case
        .children
        .iter()
        .map(|(_, m)| (m.digest.parse().unwrap(), raw(m)))
        .collect();
    let inputs = Inputs {
        image: "app:v7",
        root: &root,
        children: &children,
        requested_digest: None,
        platform: None,
        function: None,
        repository_region: "us-east-1",
    };
    let tag = ecr_lambda::manifest::registry::assess_tag(&inputs, "v7");
    assert_eq!(
        tag.verdict,
        ecr_lambda::manifest::registry::Verdict::NotFixable
    );
    assert!(tag.writes.is_empty());

    // Intact, both platforms are written, amd64 first.
    let case = load_case("buildx-multi");
    let children: BTreeMap<Digest, RawManifest> = case
        .children
        .iter()
        .map(|(_, m)| (m.digest.parse().unwrap(), raw(m)))
        .collect();
    let tag = ecr_lambda::manifest::registry::assess_tag(
        &Inputs {
            children: &children,
            ..inputs
        },
        "v7",
    );
    assert_eq!(
        tag.verdict,
        ecr_lambda::manifest::registry::Verdict::Fixable
    );
    let tags: Vec<&str> = tag.writes.iter().map(|w| w.tag.as_str()).collect();
    assert_eq!(tags, ["v7-amd64", "v7-arm64"]);
    assert!(
        tag.writes.iter().all(|w| w.referrers.len() == 1),
        "each keeps its attestation"
    );
}

#[test]
fn every_config_blob_reads_as_its_case_says() {
    for name in [
        "buildx-single",
        "buildx-referrer",
        "docker-v2",
        "oci-manifest",
        "zstd",
        "arm64-only",
        "arm64-single",
        "lying-index",
        "no-entrypoint",
        "windows-config",
        "nested-index",
        "unusual-formatting",
    ] {
        let case = load_case(name);
        let a = Given::new(&case).assess_with_config();
        let expected: serde_json::Value = serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(support::fixtures().join(name).join("case.json")).unwrap(),
        )
        .unwrap()["config"]
            .clone();
        assert_eq!(
            serde_json::to_value(a.config.unwrap()).unwrap(),
            expected,
            "{name}"
        );
    }
}

#[test]
fn a_single_manifest_built_for_arm64_is_refused_for_an_x86_64_function() {
    let case = load_case("arm64-single");
    let a = Given::new(&case)
        .function(LambdaArch::X86_64)
        .assess_with_config();
    assert_eq!(problem_codes(&a), [Code::ArchitectureMismatch]);
    assert!(!a.fixable());
    assert!(
        a.problems[0].message.contains("linux/arm64/v8"),
        "{}",
        a.problems[0].message
    );
    // The config settles the architecture: no longer unverified.
    assert!(!warning_codes(&a).contains(&Code::ArchitectureUnverified));

    let a = Given::new(&case)
        .function(LambdaArch::Arm64)
        .assess_with_config();
    assert!(a.lambda_ready(), "{:?}", a.problems);
    let a = Given::new(&case)
        .platform(LambdaArch::X86_64)
        .assess_with_config();
    assert_eq!(problem_codes(&a), [Code::ArchitectureMismatch]);
    // No function and no --platform: nothing to compare with; the config says what it is.
    let a = Given::new(&case).assess_with_config();
    assert!(a.lambda_ready());
    assert_eq!(a.config.unwrap().architecture, "arm64");
}

#[test]
fn an_index_entry_that_lies_about_its_platform_is_not_fixable() {
    let case = load_case("lying-index");
    for given in [
        Given::new(&case),
        Given::new(&case).function(LambdaArch::X86_64),
    ] {
        let a = given.assess_with_config();
        assert_eq!(
            problem_codes(&a),
            [Code::ImageIndex, Code::PlatformMismatch]
        );
        assert!(!a.fixable());
        let message = &a.problems[1].message;
        assert!(
            message.contains("says linux/amd64") && message.contains("built for linux/arm64"),
            "{message}"
        );
    }
}

#[test]
fn an_image_without_entry_point_needs_the_function_to_set_one() {
    let case = load_case("no-entrypoint");
    let a = Given::new(&case).assess_with_config();
    assert!(a.lambda_ready());
    assert_eq!(warning_codes(&a), [Code::NoEntrypoint]);

    let a = Given::new(&case)
        .function(LambdaArch::X86_64)
        .assess_with_config();
    assert_eq!(problem_codes(&a), [Code::NoEntrypoint]);
    assert!(a.problems[0].message.contains("image-config"));

    let a = Given::new(&case)
        .function(LambdaArch::X86_64)
        .overriding_command()
        .assess_with_config();
    assert!(a.lambda_ready(), "{:?}", a.problems);
    assert!(!warning_codes(&a).contains(&Code::NoEntrypoint));
}

#[test]
fn a_windows_image_is_not_linux_whatever_the_function() {
    let case = load_case("windows-config");
    for arch in [LambdaArch::X86_64, LambdaArch::Arm64] {
        let a = Given::new(&case).function(arch).assess_with_config();
        assert_eq!(problem_codes(&a), [Code::NotLinux]);
    }
}

#[test]
fn a_config_blob_is_checked_against_its_descriptor_before_it_is_read() {
    let case = load_case("docker-v2");
    let Ok(Parsed::Image(view)) = raw(&case.root).parse() else {
        panic!("an image manifest")
    };
    let blob = &case.config_of("root.json").bytes;
    assert!(ImageConfig::from_blob(&view.config, blob).is_ok());
    // One byte changed, same length: the digest says so.
    let mut changed = blob.clone();
    let i = changed.iter().position(|b| *b == b'a').unwrap();
    changed[i] = b'b';
    assert!(matches!(
        ImageConfig::from_blob(&view.config, &changed),
        Err(ConfigError::Digest(_))
    ));
    // A byte more: the size says so first.
    let mut longer = blob.clone();
    longer.push(b' ');
    assert!(matches!(
        ImageConfig::from_blob(&view.config, &longer),
        Err(ConfigError::Size { .. })
    ));
}
