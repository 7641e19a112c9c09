//! Lambda's rules that need the image's config blob: the architecture of a single
//! manifest, an index entry that lies about its platform, a non-Linux image, and an
//! image with nothing to start. Here, not in `config` or `rules`, so that neither of
//! those imports the other: config parses the blob, rules judges the manifests, and
//! this joins the two.

use crate::manifest::LambdaArch;
use crate::manifest::config::ImageConfig;
use crate::manifest::platform::Platform;
use crate::manifest::rules::{Assessment, Code, Finding, FunctionFacts};

/// Two platforms that Lambda would treat alike (arm64 ≡ arm64/v8, amd64 ≡ amd64/v1).
fn same_platform(a: &Platform, b: &Platform) -> bool {
    match (a.lambda_arch(), b.lambda_arch()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// What the config says against the image itself, whatever the function: another
/// platform than the index entry `claimed` for it, or another OS than Linux. Either
/// makes writing the image to a tag wrong.
pub fn contradictions(
    image: &str,
    claimed: Option<&Platform>,
    config: &ImageConfig,
) -> Vec<Finding> {
    let built_for = config.platform();
    let mut found = Vec::new();
    if let Some(claimed) = claimed.filter(|c| !same_platform(c, &built_for)) {
        found.push(Finding::new(
            Code::PlatformMismatch,
            format!(
                "the index entry of the target says {claimed}, but the image's config says it \
                 was built for {built_for}: the index is wrong, and fix cannot choose for it; \
                 push the image again (buildx --platform {claimed})"
            ),
        ));
    }
    if config.os != "linux" {
        found.push(Finding::new(
            Code::NotLinux,
            format!("{image} was built for {built_for}; Lambda runs Linux images only"),
        ));
    }
    found
}

/// Lambda's rules that need the target's config, added to `a`. `wanted` is the
/// architecture the image must run on (`--platform`, else the function's).
pub fn assess_config(
    a: &mut Assessment,
    image: &str,
    config: &ImageConfig,
    wanted: Option<LambdaArch>,
    function: Option<&FunctionFacts>,
) {
    a.warnings
        .retain(|w| w.code != Code::ArchitectureUnverified);
    let built_for = config.platform();
    let claimed = a.target.as_ref().and_then(|t| t.platform.clone());
    a.problems
        .extend(contradictions(image, claimed.as_ref(), config));
    if config.os == "linux" && claimed.is_none() {
        // A single manifest: its config is the only record of its architecture.
        match (built_for.lambda_arch(), wanted) {
            (None, _) => a.problem(
                Code::ArchitectureMismatch,
                format!(
                    "{image} was built for {built_for}; Lambda runs linux/amd64 (x86_64) and \
                     linux/arm64 (arm64) only"
                ),
            ),
            (Some(arch), Some(wanted)) if arch != wanted => a.problem(
                Code::ArchitectureMismatch,
                format!(
                    "{image} was built for {built_for} ({}), but {} needs {} (linux/{}); Lambda \
                     would accept the update and fail at every invoke (exec format error): \
                     deploy an image built with --platform linux/{}",
                    arch.lambda_name(),
                    function.map_or_else(|| "--platform".to_owned(), |f| f.name.clone()),
                    wanted.lambda_name(),
                    wanted.oci_name(),
                    wanted.oci_name()
                ),
            ),
            _ => {}
        }
    }
    if config.entrypoint.is_none() && config.cmd.is_none() {
        let message =
            format!("{image} has neither ENTRYPOINT nor CMD, so Lambda has nothing to start");
        match function {
            Some(f) if f.overrides_command => {}
            Some(f) => a.problem(
                Code::NoEntrypoint,
                format!(
                    "{message}, and {}'s image configuration sets neither EntryPoint nor \
                     Command: set them (aws lambda update-function-configuration --image-config) \
                     or build the image with an ENTRYPOINT",
                    f.name
                ),
            ),
            None => a.warning(
                Code::NoEntrypoint,
                format!(
                    "{message}: the function must set EntryPoint or Command in its image \
                     configuration"
                ),
            ),
        }
    }
}
