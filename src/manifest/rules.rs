//! Lambda's rules for container images, applied to what ECR holds.
//!
//! Everything ecr-lambda decides about an image is decided here, from plain data:
//! the manifests (exact bytes), the platform asked for and what is known of the
//! function. No I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::Digest;
use crate::manifest::classify::{self, Role, Selection};
use crate::manifest::config::ImageConfig;
pub use crate::manifest::findings::{Code, Finding};
use crate::manifest::model::{Descriptor, ImageView, Parsed, RawManifest, media_type};
use crate::manifest::platform::{LambdaArch, Platform};
use crate::manifest::provenance::{self, Link, Provenance, Referrer};

/// Lambda's limit on an image, all layers included (uncompressed). Declared layer
/// sizes are compressed, so an image over the limit by these is certainly too large.
pub const MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024 * 1024;

/// The most image ids one BatchGetImage call takes.
pub const MAX_IDS_PER_CALL: usize = 100;

/// What is known of the function an image is meant for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionFacts {
    /// The function's name, as messages give it.
    pub name: String,
    /// `None` when the function's architecture is not one Lambda documents.
    pub arch: Option<LambdaArch>,
    /// It is a container image function (not a .zip package).
    pub is_image: bool,
    /// The region the function is in.
    pub region: String,
    /// The function's image configuration sets EntryPoint or Command, so the image
    /// need not have its own.
    pub overrides_command: bool,
}

/// Everything the assessment needs, as plain data.
#[derive(Clone, Debug)]
pub struct Inputs<'a> {
    /// The image as the user should see it in messages (`app:v7`).
    pub image: &'a str,
    /// The manifest the reference names, exactly as ECR holds it.
    pub root: &'a RawManifest,
    /// The children fetched by digest; only the target (and its attestations) are needed.
    pub children: &'a BTreeMap<Digest, RawManifest>,
    /// The digest the reference named, when it named one.
    pub requested_digest: Option<&'a Digest>,
    /// `--platform`.
    pub platform: Option<LambdaArch>,
    /// The function the image is meant for, when one is in view.
    pub function: Option<&'a FunctionFacts>,
    /// The region the repository is in; a function elsewhere cannot use it.
    pub repository_region: &'a str,
}

/// One entry of an index, as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Entry {
    /// The entry's digest, as the index gives it.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its platform, if the index gives one.
    pub platform: Option<Platform>,
    /// What it is for.
    pub role: Role,
    /// Its declared size in bytes.
    pub size: i64,
}

/// The manifest Lambda should run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The manifest, its bytes exactly as ECR holds them.
    pub manifest: RawManifest,
    /// Known from the index entry; `None` for a single manifest (its platform is
    /// only recorded in its config blob).
    pub platform: Option<Platform>,
    /// Whether it is the root itself (no retagging needed).
    pub is_root: bool,
}

/// What Lambda would make of an image, and what `fix` would write: what [`assess`] decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// The digest of the manifest the reference names.
    pub root_digest: Digest,
    /// Its media type.
    pub root_media_type: String,
    /// It is an index or manifest list.
    pub is_index: bool,
    /// The index's entries (empty for a single manifest).
    pub entries: Vec<Entry>,
    /// How many distinct runnable images the index holds.
    pub runnable: usize,
    /// The manifest Lambda should run, when one can be chosen.
    pub target: Option<Target>,
    /// What stops Lambda from running the image as it is; none means it is ready.
    pub problems: Vec<Finding>,
    /// What does not stop it, but should be known.
    pub warnings: Vec<Finding>,
    /// The target's attestations, as the index links them.
    pub provenance: Vec<Provenance>,
    /// Index-only attestations written again as referrers of the target: what `fix`
    /// writes to keep them discoverable.
    pub referrers: Vec<Referrer>,
    /// The target's config, once read ([`crate::manifest::config_rules::assess_config`]).
    pub config: Option<ImageConfig>,
}

impl Assessment {
    /// Lambda accepts the image (and the function can run it) as it is.
    pub fn lambda_ready(&self) -> bool {
        self.problems.is_empty()
    }

    /// Not ready, but `fix` would make it so: the only problem is the index itself
    /// and a valid target was found in it.
    pub fn fixable(&self) -> bool {
        !self.problems.is_empty()
            && self.target.is_some()
            && self.problems.iter().all(|p| p.code == Code::ImageIndex)
    }

    /// Whether the problems include `code`.
    pub fn has_problem(&self, code: Code) -> bool {
        self.problems.iter().any(|p| p.code == code)
    }

    pub(crate) fn problem(&mut self, code: Code, message: impl Into<String>) {
        self.problems.push(Finding::new(code, message));
    }

    pub(crate) fn warning(&mut self, code: Code, message: impl Into<String>) {
        self.warnings.push(Finding::new(code, message));
    }
}

/// The architecture the image must run on: `--platform`, else the function's.
fn wanted_arch(inputs: &Inputs<'_>) -> Option<LambdaArch> {
    inputs
        .platform
        .or_else(|| inputs.function.and_then(|f| f.arch))
}

/// The children to fetch for an assessment of `root`: the chosen platform's manifest
/// and the attestations that describe it, or nothing when no target can be chosen.
pub fn children_to_fetch(
    root: &Parsed,
    platform: Option<LambdaArch>,
    function_arch: Option<LambdaArch>,
) -> Vec<Digest> {
    let Parsed::Index(index) = root else {
        return Vec::new();
    };
    let Selection::Chosen(target) = classify::select(&index.manifests, platform.or(function_arch))
    else {
        return Vec::new();
    };
    let mut digests: Vec<Digest> = Vec::new();
    let candidates =
        std::iter::once(target).chain(classify::attestations_of(&index.manifests, &target.digest));
    for digest in candidates.filter_map(Descriptor::parsed_digest) {
        // BatchGetImage takes at most 100 ids; the target comes first and always fits.
        if digests.len() < MAX_IDS_PER_CALL && !digests.contains(&digest) {
            digests.push(digest);
        }
    }
    digests
}

/// Assesses an image against Lambda's rules, from its manifests: the problems and
/// warnings, the target Lambda should run, and the referrers `fix` would write. The
/// rules that need the target's config come after, in
/// [`assess_config`](crate::manifest::config_rules::assess_config).
pub fn assess(inputs: &Inputs<'_>) -> Assessment {
    let root = inputs.root;
    let mut a = Assessment {
        root_digest: root.digest().clone(),
        root_media_type: root.media_type().to_owned(),
        is_index: false,
        entries: Vec::new(),
        runnable: 0,
        target: None,
        problems: Vec::new(),
        warnings: Vec::new(),
        provenance: Vec::new(),
        referrers: Vec::new(),
        config: None,
    };

    if let Some(requested) = inputs.requested_digest
        && requested != root.digest()
    {
        a.problem(
            Code::DigestMismatch,
            format!(
                "{} was requested, but ECR answered with {}; nothing will be written",
                requested,
                root.digest()
            ),
        );
    }
    if let Err(mismatch) = root.verify() {
        a.problem(
            Code::DigestMismatch,
            format!(
                "the manifest of {} does not hash to its digest ({mismatch}); nothing will be written",
                inputs.image
            ),
        );
    }

    match root.parse() {
        Err(e) => a.problem(
            Code::UnsupportedMediaType,
            format!("{} cannot be read as an image: {e}", inputs.image),
        ),
        Ok(Parsed::Schema1) => a.problem(
            Code::UnsupportedMediaType,
            format!(
                "{} is a Docker image manifest v2 schema 1, which Lambda rejects; push it again \
                 with a current Docker or buildx to get schema 2 or OCI",
                inputs.image
            ),
        ),
        Ok(Parsed::Image(view)) => {
            a.root_media_type = view.media_type.clone();
            check_image(&mut a, inputs.image, &view);
            if let Some(arch) = wanted_arch(inputs) {
                a.warning(
                    Code::ArchitectureUnverified,
                    format!(
                        "{} is a single manifest: its platform is recorded only in its config \
                         blob, which could not be read; make sure it was built for linux/{} \
                         (Lambda only finds out at invoke time)",
                        inputs.image,
                        arch.oci_name()
                    ),
                );
            }
            a.target = Some(Target {
                manifest: root.clone(),
                platform: None,
                is_root: true,
            });
        }
        Ok(Parsed::Index(index)) => {
            a.is_index = true;
            a.root_media_type = index.media_type.clone();
            assess_index(&mut a, inputs, &index.manifests);
        }
    }

    if let Some(function) = inputs.function {
        check_function(&mut a, inputs, function);
    }
    a
}

fn platform_list(entries: &[&Descriptor]) -> String {
    let mut names: Vec<String> = entries
        .iter()
        .filter_map(|e| e.platform.as_ref().map(ToString::to_string))
        .collect();
    names.sort();
    names.dedup();
    names.join(", ")
}

fn assess_index(a: &mut Assessment, inputs: &Inputs<'_>, manifests: &[Descriptor]) {
    a.entries = manifests
        .iter()
        .map(|d| Entry {
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            platform: d.platform.clone(),
            role: classify::role_of(d),
            size: d.size,
        })
        .collect();
    for bad in manifests.iter().filter(|d| d.parsed_digest().is_none()) {
        a.warning(
            Code::InvalidIndexEntry,
            format!(
                "index entry with digest {:?} is malformed and was ignored",
                bad.digest
            ),
        );
    }
    let runnable: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| classify::runnable_arch(d).is_some())
        .collect();
    let mut distinct: Vec<&str> = runnable.iter().map(|d| d.digest.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    a.runnable = distinct.len();

    let image = inputs.image;
    let kind = if a.root_media_type == media_type::DOCKER_LIST {
        "a Docker manifest list"
    } else {
        "an OCI image index"
    };
    let attestations = a
        .entries
        .iter()
        .filter(|e| e.role == Role::Attestation)
        .count();
    let wanted = wanted_arch(inputs);
    let selection = classify::select(manifests, wanted);
    match &selection {
        Selection::Chosen(entry) => {
            let platform = entry
                .platform
                .clone()
                .expect("runnable entries have a platform");
            a.problem(
                Code::ImageIndex,
                format!(
                    "{image} is {kind} ({} runnable image(s), {attestations} attestation(s)); Lambda \
                     needs a single image manifest: run `ecr-lambda fix {image}` to point a tag at \
                     the {platform} manifest, or `ecr-lambda deploy` to fix and deploy it",
                    a.runnable
                ),
            );
        }
        _ => a.problem(
            Code::ImageIndex,
            format!(
                "{image} is {kind}; Lambda needs a single image manifest, and no single one \
                 can be chosen from it (see the problems below)"
            ),
        ),
    }

    match selection {
        Selection::Chosen(entry) => choose_target(a, inputs, manifests, entry),
        Selection::NoneRunnable => a.problem(
            Code::NoRunnablePlatform,
            format!(
                "{image} holds no linux/amd64 or linux/arm64 image (entries: {}); rebuild it for \
                 a platform Lambda runs",
                describe_entries(&a.entries)
            ),
        ),
        Selection::Missing(arch) => {
            let available = platform_list(&runnable);
            if inputs.platform.is_some() {
                a.problem(
                    Code::PlatformNotFound,
                    format!(
                        "{image} has no linux/{} image (it has {available}); pass one of those \
                         to --platform, or rebuild for linux/{}",
                        arch.oci_name(),
                        arch.oci_name()
                    ),
                );
            } else {
                let function = inputs.function.map_or("the function", |f| f.name.as_str());
                a.problem(
                    Code::ArchitectureMismatch,
                    format!(
                        "{function} runs on {}, but {image} only has {available}; rebuild the image \
                         for linux/{}, or deploy it to a function with the matching architecture",
                        arch.lambda_name(),
                        arch.oci_name()
                    ),
                );
            }
        }
        Selection::Ambiguous(candidates) => {
            let message = match wanted {
                None => format!(
                    "{image} has images for {}; pass --platform (for example --platform {}) or \
                     --function so the function's architecture decides",
                    platform_list(&candidates),
                    candidates[0]
                        .platform
                        .as_ref()
                        .map_or("linux/amd64".to_owned(), ToString::to_string)
                ),
                Some(arch) => format!(
                    "{image} has {} different manifests for linux/{}: {}; deploy one of them by \
                     digest (IMAGE@sha256:...)",
                    candidates.len(),
                    arch.oci_name(),
                    candidates
                        .iter()
                        .map(|c| c.digest.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            a.problem(Code::AmbiguousPlatform, message);
        }
    }
}

fn describe_entries(entries: &[Entry]) -> String {
    if entries.is_empty() {
        return "none".into();
    }
    let mut parts: Vec<String> = entries
        .iter()
        .map(|e| match &e.platform {
            Some(p) => format!("{p} {}", e.role.as_str()),
            None => format!("{} without platform", e.media_type),
        })
        .collect();
    parts.dedup();
    parts.join(", ")
}

fn choose_target(
    a: &mut Assessment,
    inputs: &Inputs<'_>,
    manifests: &[Descriptor],
    entry: &Descriptor,
) {
    let digest = entry
        .parsed_digest()
        .expect("runnable entries have a valid digest");
    let Some(child) = inputs.children.get(&digest) else {
        // The caller fetches the target before assessing; without it nothing is
        // chosen, and nothing can be written.
        a.problem(
            Code::DigestMismatch,
            format!(
                "{} names {digest}, but that manifest could not be read from the repository",
                inputs.image
            ),
        );
        return;
    };

    // The bytes must be exactly what the index names, both by hash and by size.
    let mut verified = true;
    if let Err(mismatch) = digest.verify(child.bytes().as_bytes()) {
        verified = false;
        a.problem(
            Code::DigestMismatch,
            format!(
                "the {} manifest does not hash to its digest ({mismatch}); nothing will be written",
                entry
                    .platform
                    .as_ref()
                    .map_or(String::new(), ToString::to_string)
            ),
        );
    }
    if entry.size < 0 || child.size() != entry.size as u64 {
        verified = false;
        a.problem(
            Code::DigestMismatch,
            format!(
                "the index says {digest} is {} bytes, but the manifest read is {} bytes; nothing \
                 will be written",
                entry.size,
                child.size()
            ),
        );
    }

    let media_type = match child.parse() {
        Ok(Parsed::Image(view)) => {
            check_image(a, &format!("{}@{digest}", inputs.image), &view);
            view.media_type
        }
        Ok(_) => {
            a.problem(
                Code::UnsupportedMediaType,
                format!("{digest} is listed as an image manifest but is not one"),
            );
            return;
        }
        Err(e) => {
            a.problem(
                Code::UnsupportedMediaType,
                format!("{digest} cannot be read as an image manifest: {e}"),
            );
            return;
        }
    };

    if verified {
        let manifest = RawManifest::new(child.bytes().to_owned(), digest.clone(), media_type);
        let found = provenance::attestations(manifests, &digest, inputs.children);
        a.referrers = found
            .iter()
            .filter(|(p, _)| p.linked == Link::IndexOnly)
            .filter_map(|(_, raw)| {
                Some(Referrer {
                    attestation: raw.digest().clone(),
                    manifest: provenance::as_referrer(raw, &manifest)?,
                })
            })
            .collect();
        a.provenance = found.into_iter().map(|(p, _)| p).collect();
        a.target = Some(Target {
            manifest,
            platform: entry.platform.clone(),
            is_root: false,
        });
    }
}

fn check_image(a: &mut Assessment, what: &str, view: &ImageView) {
    if !media_type::is_image_manifest(&view.media_type) {
        a.problem(
            Code::UnsupportedMediaType,
            format!(
                "{what} has manifest media type {}, which Lambda does not accept",
                view.media_type
            ),
        );
    }
    let config = view.config.media_type.as_str();
    if config != media_type::DOCKER_CONFIG && config != media_type::OCI_CONFIG {
        a.problem(
            Code::UnsupportedMediaType,
            format!(
                "{what} has config media type {config}: it is an artifact, not a container image, \
                 and Lambda rejects it"
            ),
        );
    }
    let mut undocumented: Vec<&str> = Vec::new();
    for layer in &view.layers {
        match layer.media_type.as_str() {
            media_type::DOCKER_LAYER_GZIP
            | media_type::OCI_LAYER_GZIP
            | media_type::DOCKER_LAYER_TAR
            | media_type::OCI_LAYER_TAR => {}
            m if m.starts_with("application/vnd.oci.image.layer.")
                || m.starts_with("application/vnd.docker.image.rootfs.") =>
            {
                if !undocumented.contains(&m) {
                    undocumented.push(m);
                }
            }
            m => {
                a.problem(
                    Code::UnsupportedMediaType,
                    format!("{what} has a layer of media type {m}, which is not an image layer; Lambda rejects it"),
                );
                return;
            }
        }
    }
    if !undocumented.is_empty() {
        a.warning(
            Code::UndocumentedLayerMediaType,
            format!(
                "{what} has layers of media type {}; Lambda documents only gzip and plain tar \
                 layers, so rebuild with gzip compression if the deploy fails",
                undocumented.join(", ")
            ),
        );
    }
    let total = view.layer_bytes();
    if total > MAX_IMAGE_BYTES {
        a.problem(
            Code::ImageTooLarge,
            format!(
                "{what} has {total} bytes of compressed layers, over Lambda's limit of {MAX_IMAGE_BYTES} \
                 bytes (10 GiB uncompressed)"
            ),
        );
    }
}

fn check_function(a: &mut Assessment, inputs: &Inputs<'_>, function: &FunctionFacts) {
    if let (Some(flag), Some(function_arch)) = (inputs.platform, function.arch)
        && flag != function_arch
    {
        a.problem(
            Code::ArchitectureMismatch,
            format!(
                "--platform linux/{} was asked for, but {} runs on {}; the image would fail \
                     at invoke time (exec format error)",
                flag.oci_name(),
                function.name,
                function_arch.lambda_name()
            ),
        );
    }
    if !function.is_image {
        a.problem(
            Code::NotAnImageFunction,
            format!(
                "{} is a .zip package function; a container image can only be deployed to a \
                 function created with package type Image",
                function.name
            ),
        );
    }
    if function.region != inputs.repository_region {
        a.problem(
            Code::RegionMismatch,
            format!(
                "{} is in {} but the repository is in {}; Lambda only pulls images from its own \
                 region (replicate the repository, or use a function in {})",
                function.name, function.region, inputs.repository_region, inputs.repository_region
            ),
        );
    }
}

/// The tag `fix` writes: `--tag` if given; else the tag that was read when the index
/// holds one runnable image; else `<tag>-<arch>`, so the multi-platform tag keeps
/// serving its other consumers. `None` when there is no tag to derive one from.
pub fn tag_to_write(
    a: &Assessment,
    source_tag: Option<&str>,
    explicit: Option<&str>,
) -> Option<String> {
    if let Some(tag) = explicit {
        return Some(tag.to_owned());
    }
    let source = source_tag?;
    if a.runnable <= 1 {
        return Some(source.to_owned());
    }
    let arch = a
        .target
        .as_ref()
        .and_then(|t| t.platform.as_ref())
        .and_then(Platform::lambda_arch)?;
    Some(format!("{source}-{}", arch.oci_name()))
}
