//! The GitHub Action's logic (`scripts/action.sh`, run by `action.yml`) against the
//! local emulator: the step outputs, the summary and the annotations it writes, and
//! its exit code.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_sdk_lambda::types::Architecture;
use serde_json::Value;
use support::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

struct Run {
    out: Output,
    outputs: String,
    summary: String,
    _dir: TempDir,
}

/// A directory of this test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = scratch_path("ecr-lambda-action");
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the action's script with `inputs` (`("image", ...)` becomes `INPUT_IMAGE`), as
/// the runner would: GITHUB_OUTPUT and GITHUB_STEP_SUMMARY are files, the binary is
/// this build's, AWS is the emulator.
fn action(inputs: &[(&str, &str)]) -> Run {
    let dir = TempDir::new();
    let outputs = dir.0.join("output");
    let summary = dir.0.join("summary");
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action.sh"))
        .current_dir(&dir.0);
    isolate(&mut cmd);
    cmd.env("ECR_LAMBDA", env!("CARGO_BIN_EXE_ecr-lambda"))
        .env("AWS_ENDPOINT_URL", moto().endpoint())
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary);
    for (name, value) in inputs {
        cmd.env(
            format!("INPUT_{}", name.to_uppercase().replace('-', "_")),
            value,
        );
    }
    let out = cmd.output().expect("run bash");
    Run {
        out,
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        _dir: dir,
    }
}

impl Run {
    fn code(&self) -> i32 {
        code(&self.out)
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn log(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout(), stderr(&self.out))
    }

    /// The outputs file as the runner reads it: `name=value` lines and
    /// `name<<DELIMITER` ... `DELIMITER` blocks.
    fn outputs(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        let mut lines = self.outputs.lines();
        while let Some(line) = lines.next() {
            if let Some((name, delimiter)) = line.split_once("<<") {
                assert!(
                    delimiter.len() >= 16,
                    "a delimiter hard to collide with: {delimiter}"
                );
                let mut value = Vec::new();
                for line in lines.by_ref() {
                    if line == delimiter {
                        break;
                    }
                    value.push(line);
                }
                map.insert(name.to_owned(), value.join("\n"));
            } else {
                let (name, value) = line.split_once('=').expect("name=value");
                map.insert(name.to_owned(), value.to_owned());
            }
        }
        map
    }

    fn report(&self) -> Value {
        let outputs = self.outputs();
        assert!(
            self.outputs.contains("report<<"),
            "the report is written with a delimiter: {}",
            self.outputs
        );
        serde_json::from_str(&outputs["report"]).expect("the report output is JSON")
    }
}

#[tokio::test]
async fn deploy_writes_outputs_summary_and_exits_0() {
    let (repo, function, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let target = case.child("image-amd64.json");
    let image = uri(&repo, ":v1");
    let run = action(&[("image", &image), ("function", &format!("{function}\n"))]);
    assert_eq!(run.code(), 0, "{}", run.log());

    let outputs = run.outputs();
    assert_eq!(outputs["status"], "successful", "{}", run.outputs);
    assert_eq!(outputs["digest"], target.digest);
    assert!(outputs["digest"].starts_with("sha256:"));
    assert_eq!(outputs["written-tag"], "v1");
    assert_eq!(
        outputs["image-uri"],
        uri(&repo, &format!("@{}", target.digest))
    );
    assert_eq!(outputs["version"], "");
    assert_eq!(outputs["exit-code"], "0");
    let report = run.report();
    assert_eq!(report["update"]["status"], "successful");
    assert_eq!(report["function"]["name"], function.as_str());
    assert_runs(&function, &target.digest).await;

    assert!(
        run.summary.contains(&target.digest),
        "summary:\n{}",
        run.summary
    );
    assert!(run.summary.contains(&image), "summary:\n{}", run.summary);
    assert!(
        run.summary.contains("linux/amd64"),
        "summary:\n{}",
        run.summary
    );
    assert!(
        run.summary
            .contains(&format!("Function <code>{function}</code> | successful")),
        "summary:\n{}",
        run.summary
    );
    assert!(
        run.summary.contains("Provenance kept"),
        "summary:\n{}",
        run.summary
    );
    for written in report["provenance_written"].as_array().unwrap() {
        assert!(
            run.summary.contains(written.as_str().unwrap()),
            "summary:\n{}",
            run.summary
        );
    }
    // The index the deploy fixed is a notice, not an error: nothing went wrong.
    assert!(!run.stdout().contains("::error"), "{}", run.log());
    assert!(
        run.stdout().contains("::notice title=image-index::fixed: "),
        "{}",
        run.log()
    );
    assert!(
        run.summary.contains("**Fixed**"),
        "summary:\n{}",
        run.summary
    );
}

#[tokio::test]
async fn check_of_a_buildx_index_fails_with_an_error_annotation() {
    let (repo, _, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let run = action(&[("command", "check"), ("image", &uri(&repo, ":v1"))]);
    assert_eq!(run.code(), 1, "{}", run.log());
    assert!(
        run.stdout().contains("::error title=image-index::"),
        "{}",
        run.log()
    );
    let outputs = run.outputs();
    assert_eq!(outputs["status"], "false");
    assert_eq!(outputs["digest"], case.child("image-amd64.json").digest);
    assert_eq!(outputs["written-tag"], "");
    assert_eq!(outputs["exit-code"], "1");
    assert_eq!(run.report()["lambda_ready"], false);
    assert!(
        run.summary.contains("<code>image-index</code>"),
        "summary:\n{}",
        run.summary
    );
    // Nothing was written: the tag still names the index.
    assert_tag(&repo, "v1", &case.root.digest).await;
}

#[tokio::test]
async fn dry_run_fix_with_a_tag_reports_the_plan() {
    let (repo, _, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let run = action(&[
        ("command", "fix"),
        ("image", &uri(&repo, ":v1")),
        ("tag", "v1-lambda"),
        ("dry-run", "true"),
        ("keep-provenance", "false"),
    ]);
    assert_eq!(run.code(), 0, "{}", run.log());
    let outputs = run.outputs();
    assert_eq!(outputs["status"], "planned");
    assert_eq!(outputs["written-tag"], "v1-lambda");
    let report = run.report();
    assert_eq!(report["provenance_written"], serde_json::json!([]));
    assert!(
        run.summary.contains("| Provenance kept | none |"),
        "summary:\n{}",
        run.summary
    );
    assert!(
        run.stdout()
            .contains("::notice title=image-index::would be fixed (dry run): "),
        "{}",
        run.log()
    );
    assert!(!run.stdout().contains("::error"), "{}", run.log());
    assert_eq!(tag_digest(&repo, "v1-lambda").await, None);
    assert_tag(&repo, "v1", &case.root.digest).await;
}

/// An error document (`{"error": ...}`) becomes one `::error::` annotation, its
/// message escaped as the runner requires (the hint is on a second line: `%0A`).
#[test]
fn an_error_document_becomes_an_escaped_error_annotation() {
    let run = action(&[
        ("command", "fix"),
        ("image", &uri("no-such-repository-for-the-action", ":v1")),
    ]);
    assert_ne!(run.code(), 0, "{}", run.log());
    let report = run.report();
    let error = &report["error"];
    assert_eq!(run.code(), error["exit_code"].as_i64().unwrap() as i32);
    let line = run
        .stdout()
        .lines()
        .find(|l| l.starts_with("::error"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no annotation: {}", run.log()));
    assert!(
        line.starts_with(&format!(
            "::error title={}::",
            error["kind"].as_str().unwrap()
        )),
        "{line}"
    );
    if error["hint"].is_string() {
        assert!(line.contains("%0Ahint: "), "{line}");
    }
    assert_eq!(run.outputs()["exit-code"], run.code().to_string());
    assert!(run.summary.contains(": error"), "summary:\n{}", run.summary);
}

#[test]
fn bad_inputs_fail_before_any_call() {
    let run = action(&[("command", "destroy"), ("image", "app:v1")]);
    assert_eq!(run.code(), 2, "{}", run.log());
    assert!(
        run.stdout()
            .contains("::error title=action-input::command must be"),
        "{}",
        run.log()
    );

    let run = action(&[("image", "app:v1"), ("function", "f"), ("dry-run", "maybe")]);
    assert_eq!(run.code(), 2, "{}", run.log());
    assert!(
        run.stdout().contains("dry-run must be true or false"),
        "{}",
        run.log()
    );
}

/// Every input action.yml declares reaches the script as INPUT_*, and the script reads
/// it; every output the script writes is declared.
#[test]
fn action_yml_and_the_script_agree() {
    let yml = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let script = std::fs::read_to_string(root().join("scripts/action.sh")).unwrap();
    let section = |name: &str| -> Vec<String> {
        let start = yml.find(&format!("\n{name}:\n")).expect(name) + name.len() + 3;
        yml[start..]
            .lines()
            .take_while(|l| l.is_empty() || l.starts_with(' '))
            .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':').to_owned())
            .collect()
    };
    let inputs = section("inputs");
    assert_eq!(
        inputs,
        [
            "image",
            "function",
            "alias",
            "platform",
            "tag",
            "region",
            "wait-timeout",
            "dry-run",
            "keep-provenance",
            "require-provenance",
            "provenance-source",
            "provenance-revision",
            "provenance-builder",
            "protect",
            "require-signed",
            "canary",
            "bake",
            "linear",
            "every",
            "alarms",
            "probe",
            "probe-logs",
            "command"
        ]
    );
    for input in &inputs {
        let var = format!("INPUT_{}", input.to_uppercase().replace('-', "_"));
        assert!(
            yml.contains(&format!("{var}: ${{{{ inputs.{input} }}}}")),
            "action.yml does not pass {var}"
        );
        assert!(
            script.contains(&var),
            "scripts/action.sh does not read {var}"
        );
    }
    let outputs = section("outputs");
    for output in &outputs {
        assert!(
            yml.contains(&format!("value: ${{{{ steps.run.outputs.{output} }}}}")),
            "output {output} is not the run step's"
        );
        assert!(
            script.contains(&format!("\"{output}\"")),
            "scripts/action.sh does not write {output}"
        );
    }
    assert!(outputs.len() >= 6, "{outputs:?}");
}

/// `command: rollback` with the inputs of a deploy step: no image, platform, tag or
/// provenance flag reaches the tool, and the rollback's report becomes the outputs.
/// (A stand-in binary prints a rollback report: the arguments are what is checked.)
#[test]
fn rollback_passes_only_its_own_flags_and_reports_the_version() {
    let dir = TempDir::new();
    let fake = dir.0.join("ecr-lambda");
    let args_file = dir.0.join("args");
    std::fs::write(
        &fake,
        format!(
            "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > '{}'\ncat <<'JSON'\n{}\nJSON\n",
            args_file.display(),
            // The report as the tool's own type serialises it: a field renamed there
            // cannot be missed here.
            serde_json::to_string_pretty(&ecr_lambda::output::RollbackReport {
                function: ecr_lambda::output::FunctionReport {
                    name: "f".into(),
                    arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
                    architectures: vec!["x86_64".into()],
                    state: Some("Active".into()),
                },
                alias: Some("live".into()),
                from: ecr_lambda::output::VersionReport {
                    version: Some("4".into()),
                    image_uri: Some(uri("app", "@sha256:bbbb")),
                },
                to: Some(ecr_lambda::output::VersionReport {
                    version: Some("3".into()),
                    image_uri: Some(uri("app", &format!("@sha256:{}", "a".repeat(64)))),
                }),
                update: None,
                status: ecr_lambda::output::RollbackStatus::RolledBack,
                weights_removed: None,
                reason: None,
                description: None,
            })
            .unwrap()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let outputs = dir.0.join("output");
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action.sh"));
    isolate(&mut cmd);
    let out = cmd
        .env("ECR_LAMBDA", &fake)
        .env("GITHUB_OUTPUT", &outputs)
        .env("INPUT_COMMAND", "rollback")
        .env("INPUT_IMAGE", uri("app", ":v1"))
        .env("INPUT_FUNCTION", "f")
        .env("INPUT_ALIAS", "live")
        .env("INPUT_PLATFORM", "linux/amd64")
        .env("INPUT_TAG", "v1")
        .env("INPUT_KEEP_PROVENANCE", "false")
        .env("INPUT_WAIT_TIMEOUT", "60")
        .env("INPUT_PROTECT", "true")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "rollback",
            "--function",
            "f",
            "--alias",
            "live",
            "--wait-timeout",
            "60",
            "--output",
            "json"
        ]
    );
    let written = std::fs::read_to_string(&outputs).unwrap();
    assert!(written.contains("\nversion=3\n"), "{written}");
    assert!(written.contains("\nstatus=rolled-back\n"), "{written}");
    assert!(
        written.contains(&format!("\ndigest=sha256:{}\n", "a".repeat(64))),
        "{written}"
    );
}

#[tokio::test]
async fn several_functions_one_per_line_each_get_a_row() {
    let (repo, first, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    let second = unique("fn");
    create_function(&second, &uri(&repo, ":base"), Architecture::X8664).await;
    let image = uri(&repo, ":v1");
    let functions = format!("{first}\n  {second}  \n\n");
    let run = action(&[("image", &image), ("function", &functions)]);
    assert_eq!(run.code(), 0, "{}", run.log());
    let outputs = run.outputs();
    assert_eq!(outputs["status"], "successful", "{}", run.outputs);
    let report = run.report();
    assert_eq!(report["deployments"].as_array().unwrap().len(), 2);
    for name in [&first, &second] {
        assert!(
            run.summary
                .contains(&format!("Function <code>{name}</code> | successful")),
            "summary:\n{}",
            run.summary
        );
        assert_runs(name, &case.child("image-amd64.json").digest).await;
    }
}

// ---- The download step (`action.sh download`) against a stand-in release host ------
//
// GitHub's release host is replaced by a local HTTP server (ECR_LAMBDA_TEST_ONLY_RELEASES_URL):
// `/<tag>/<file>` from a directory laid out as a release, made with scripts/package.sh
// as the release workflow makes it.

/// A stand-in for GitHub's release downloads: serves `dir`'s files on 127.0.0.1 (a port
/// of its own), 404 for anything else, and records every path asked for.
struct ReleaseHost {
    url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ReleaseHost {
    fn serve(dir: &Path) -> ReleaseHost {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (dir, log) = (dir.to_owned(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
                log.lock().unwrap().push(path.clone());
                let body = if path.contains("..") {
                    None
                } else {
                    std::fs::read(dir.join(path.trim_start_matches('/'))).ok()
                };
                let (status, body) = match body {
                    Some(body) => ("200 OK", body),
                    None => ("404 Not Found", b"Not Found".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        ReleaseHost { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

const TARGETS: [(&str, &str, &str); 4] = [
    ("Linux", "X64", "x86_64-unknown-linux-gnu"),
    ("Linux", "ARM64", "aarch64-unknown-linux-gnu"),
    ("macOS", "X64", "x86_64-apple-darwin"),
    ("macOS", "ARM64", "aarch64-apple-darwin"),
];

/// A stand-in binary: `--version` prints its target; any run is recorded in `ran`.
fn stand_in(dir: &Path, target: &str, ran: &Path) -> PathBuf {
    let path = dir.join(format!("stand-in-{target}"));
    std::fs::write(
        &path,
        format!(
            "#!/usr/bin/env bash\necho \"$*\" >> '{}'\necho 'ecr-lambda {} ({target})'\n",
            ran.display(),
            env!("CARGO_PKG_VERSION")
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// `scripts/package.sh archive`: the release workflow's archive of `binary` in `out`.
fn package(version: &str, target: &str, binary: &Path, out: &Path) -> PathBuf {
    let manpage = out.join("ecr-lambda.1.in");
    std::fs::write(&manpage, ".TH ecr-lambda 1\n").unwrap();
    let run = Command::new("bash")
        .arg(root().join("scripts/package.sh"))
        .args(["archive", version, target])
        .arg(binary)
        .arg(&manpage)
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(code(&run), 0, "{}", stderr(&run));
    std::fs::remove_file(&manpage).unwrap();
    out.join(format!("ecr-lambda-{version}-{target}.tar.gz"))
}

fn sums(out: &Path) {
    let run = Command::new("bash")
        .arg(root().join("scripts/package.sh"))
        .arg("sums")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(code(&run), 0, "{}", stderr(&run));
}

/// A release `tag` in `host_dir`: one archive for each of `targets`, a stand-in
/// recording its runs in `ran`, and SHA256SUMS.
fn release(host_dir: &Path, tag: &str, targets: &[&str], ran: &Path) -> PathBuf {
    let out = host_dir.join(tag);
    std::fs::create_dir_all(&out).unwrap();
    for target in targets {
        let binary = stand_in(host_dir, target, ran);
        package(tag.trim_start_matches('v'), target, &binary, &out);
    }
    sums(&out);
    out
}

struct Download {
    out: Output,
    outputs: String,
    installed: PathBuf,
    /// What the stand-in gh was asked: its arguments, one a line, then `GH_TOKEN=...`.
    gh_calls: String,
    _dir: TempDir,
}

/// What the runner has of GitHub's CLI for a download.
#[derive(Clone, Copy)]
enum Gh {
    /// A stand-in whose `gh attestation verify` succeeds.
    Verifies,
    /// A stand-in that fails as gh does when no attestation matches.
    Refuses,
    /// None: PATH holds only the few tools the step needs before it looks for gh.
    Absent,
}

/// The PATH for a download with `gh`, in `dir`: the stand-in gh first (recording its
/// calls in `calls`), or, with [`Gh::Absent`], a directory of links to bash and the
/// text tools only, so that a gh installed on this machine is not found either.
fn gh_path(dir: &Path, gh: Gh, calls: &Path) -> String {
    let bin = dir.join("gh-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let (succeed, answer) = match gh {
        Gh::Absent => {
            for tool in ["bash", "cut", "tr", "sed", "env"] {
                let found = std::env::split_paths(&path)
                    .map(|d| d.join(tool))
                    .find(|p| p.is_file())
                    .unwrap_or_else(|| panic!("{tool} is not on PATH"));
                std::os::unix::fs::symlink(found, bin.join(tool)).unwrap();
            }
            return bin.display().to_string();
        }
        Gh::Verifies => (true, "echo 'Verification succeeded!'"),
        Gh::Refuses => (
            false,
            "echo 'Error: verifying with issuer \"sigstore.dev\": no matching attestations' >&2",
        ),
    };
    let script = format!(
        "#!/usr/bin/env bash\n{{ printf '%s\\n' \"$@\"; echo \"GH_TOKEN=${{GH_TOKEN:-}}\"; }} >>'{}'\n{answer}\nexit {}\n",
        calls.display(),
        if succeed { 0 } else { 1 }
    );
    std::fs::write(bin.join("gh"), script).unwrap();
    std::fs::set_permissions(
        bin.join("gh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    format!("{}:{path}", bin.display())
}

impl Download {
    fn log(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&self.out.stdout),
            stderr(&self.out)
        )
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
}

/// The action's download step as action.yml runs it, on a runner of `os` and `arch`,
/// the action at `action_ref`, the release host `host`.
fn download(host: &ReleaseHost, action_ref: &str, os: &str, arch: &str) -> Download {
    download_with(host, &[("ACTION_REF", action_ref)], os, arch)
}

fn download_with(host: &ReleaseHost, env: &[(&str, &str)], os: &str, arch: &str) -> Download {
    download_gh(host, env, os, arch, Gh::Verifies)
}

fn download_gh(host: &ReleaseHost, env: &[(&str, &str)], os: &str, arch: &str, gh: Gh) -> Download {
    let dir = TempDir::new();
    let gh_calls = dir.0.join("gh-calls");
    let outputs = dir.0.join("output");
    let install_root = dir.0.join("root");
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action.sh"))
        .arg("download")
        .current_dir(&dir.0);
    isolate(&mut cmd);
    cmd.env("ECR_LAMBDA_TEST_ONLY_RELEASES_URL", &host.url)
        .env("ACTION_REPOSITORY", "owner/ecr-lambda")
        .env("ACTION_PATH", root())
        .env("ROOT", &install_root)
        .env("RUNNER_OS", os)
        .env("RUNNER_ARCH", arch)
        .env("GITHUB_OUTPUT", &outputs)
        .env("GH_TOKEN", "the-jobs-token")
        .env("PATH", gh_path(&dir.0, gh, &gh_calls));
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("run bash");
    Download {
        out,
        outputs: std::fs::read_to_string(&outputs).unwrap_or_default(),
        installed: install_root.join("bin/ecr-lambda"),
        gh_calls: std::fs::read_to_string(&gh_calls).unwrap_or_default(),
        _dir: dir,
    }
}

fn version_of(binary: &Path) -> String {
    let out = Command::new(binary).arg("--version").output().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Each runner gets the archive of its own OS and architecture, and only that one is
/// fetched, after SHA256SUMS; the binary is installed where the run step looks.
#[test]
fn download_installs_the_archive_for_the_runners_os_and_arch() {
    let dir = TempDir::new();
    let ran = dir.0.join("ran");
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("v{version}");
    release(&dir.0, &tag, &TARGETS.map(|t| t.2), &ran);
    let host = ReleaseHost::serve(&dir.0);
    for (os, arch, target) in TARGETS {
        let run = download(&host, &tag, os, arch);
        assert_eq!(code(&run.out), 0, "{os} {arch}: {}", run.log());
        assert_eq!(run.outputs, "installed=true\n", "{}", run.log());
        assert_eq!(
            host.requests(),
            [
                format!("/{tag}/SHA256SUMS"),
                format!("/{tag}/ecr-lambda-{version}-{target}.tar.gz")
            ]
        );
        assert_eq!(
            version_of(&run.installed),
            format!("ecr-lambda {version} ({target})")
        );
        assert!(
            stderr(&run.out).contains("verified against the release's SHA256SUMS, its attestation by owner/ecr-lambda/.github/workflows/release.yml verified by gh"),
            "{}",
            run.log()
        );
        // Who built it is checked, after the checksum, with the job's token.
        let calls: Vec<&str> = run.gh_calls.lines().collect();
        let archive = format!("ecr-lambda-{version}-{target}.tar.gz");
        assert_eq!(calls.len(), 8, "one gh call: {calls:?}");
        assert_eq!(calls[..2], ["attestation", "verify"], "{calls:?}");
        assert!(calls[2].ends_with(&format!("/{archive}")), "{calls:?}");
        assert_eq!(
            calls[3..],
            [
                "--repo",
                "owner/ecr-lambda",
                "--signer-workflow",
                "owner/ecr-lambda/.github/workflows/release.yml",
                "GH_TOKEN=the-jobs-token"
            ]
        );
        // The test-only host is named as such in the log, and nothing says "build".
        assert!(
            run.stdout().contains(
                "::warning title=ecr-lambda download::downloading from http://127.0.0.1:"
            ),
            "{}",
            run.log()
        );
        assert!(!run.stdout().contains("::notice"), "{}", run.log());
    }
}

/// The archive's sha256 is checked against SHA256SUMS: an archive changed after the
/// release was made fails the step with an error saying so, and is neither unpacked
/// nor run, nor replaced by a build.
#[test]
fn a_tampered_archive_is_refused_and_nothing_runs() {
    let dir = TempDir::new();
    let ran = dir.0.join("ran");
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("v{version}");
    let target = "x86_64-unknown-linux-gnu";
    let out = release(&dir.0, &tag, &[target], &ran);
    // Another binary in the same archive name, SHA256SUMS left as released.
    let evil = dir.0.join("evil");
    std::fs::create_dir_all(&evil).unwrap();
    let binary = stand_in(&evil, target, &ran);
    std::fs::write(
        &binary,
        format!("#!/usr/bin/env bash\ntouch '{}'\n", ran.display()),
    )
    .unwrap();
    let tampered = package(version, target, &binary, &evil);
    std::fs::rename(&tampered, out.join(tampered.file_name().unwrap())).unwrap();
    let host = ReleaseHost::serve(&dir.0);

    let run = download(&host, &tag, "Linux", "X64");
    assert_eq!(code(&run.out), 1, "{}", run.log());
    let stdout = run.stdout();
    let error = stdout
        .lines()
        .find(|l| l.starts_with("::error title=ecr-lambda download::checksum mismatch: "))
        .unwrap_or_else(|| panic!("no checksum error: {}", run.log()));
    assert!(
        error.contains(&format!("ecr-lambda-{version}-{target}.tar.gz")),
        "{error}"
    );
    assert!(error.contains("was not unpacked or run"), "{error}");
    let expected = std::fs::read_to_string(out.join("SHA256SUMS")).unwrap();
    assert!(
        error.contains(expected.split_whitespace().next().unwrap()),
        "{error}"
    );
    assert!(!run.installed.exists(), "nothing installed: {}", run.log());
    assert!(!ran.exists(), "nothing ran");
    assert!(!run.outputs.contains("installed="), "{}", run.outputs);
    assert_eq!(run.gh_calls, "", "the checksum is checked first");
    assert!(
        !stdout.contains("::notice"),
        "no quiet fallback: {}",
        run.log()
    );
}

/// No release, a runner with no prebuilt binary, a ref that is no release tag, a binary
/// that does not run here: installed=false (action.yml's build step then runs) and a
/// notice that says why.
#[test]
fn without_a_usable_release_the_build_runs_with_a_notice_saying_why() {
    let dir = TempDir::new();
    let ran = dir.0.join("ran");
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("v{version}");
    release(&dir.0, &tag, &["x86_64-unknown-linux-gnu"], &ran);
    // A release whose only binary fails to start (as a glibc too old would make it).
    let broken = dir.0.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let binary = stand_in(&broken, "x86_64-unknown-linux-gnu", &ran);
    std::fs::write(
        &binary,
        "#!/usr/bin/env bash\necho 'GLIBC_2.99 not found' >&2\nexit 1\n",
    )
    .unwrap();
    let out = dir.0.join("v7.0.0");
    std::fs::create_dir_all(&out).unwrap();
    package("7.0.0", "x86_64-unknown-linux-gnu", &binary, &out);
    sums(&out);
    let host = ReleaseHost::serve(&dir.0);

    let notice = "::notice title=ecr-lambda download::";
    let build = ": building ecr-lambda from source instead";
    for (action_ref, os, arch, why, requests) in [
        (
            "v9.9.9",
            "Linux",
            "X64",
            format!("release v9.9.9: {}/v9.9.9/SHA256SUMS could not be fetched (HTTP 404)", host.url),
            1,
        ),
        (
            tag.as_str(),
            "macOS",
            "ARM64",
            format!("release {tag} has no prebuilt binary for aarch64-apple-darwin (not in its SHA256SUMS)"),
            1,
        ),
        (
            tag.as_str(),
            "Windows",
            "X64",
            format!("release {tag} has no prebuilt binary for a Windows X64 runner"),
            0,
        ),
        (
            "main",
            "Linux",
            "X64",
            "the action's ref (main) is not a release tag vX.Y.Z".to_owned(),
            0,
        ),
        (
            "0123456789abcdef0123456789abcdef01234567",
            "Linux",
            "X64",
            "the action's ref (0123456789abcdef0123456789abcdef01234567) is not a release tag vX.Y.Z"
                .to_owned(),
            0,
        ),
        (
            "v7.0.0",
            "Linux",
            "X64",
            "the prebuilt binary of release v7.0.0 for x86_64-unknown-linux-gnu does not run on this runner: GLIBC_2.99 not found".to_owned(),
            2,
        ),
    ] {
        let run = download(&host, action_ref, os, arch);
        assert_eq!(code(&run.out), 0, "{action_ref} {os} {arch}: {}", run.log());
        assert_eq!(run.outputs, "installed=false\n", "{}", run.log());
        assert!(
            run.stdout().contains(&format!("{notice}{why}{build}")),
            "{action_ref} {os} {arch}: expected the notice {why:?}\n{}",
            run.log()
        );
        assert!(!run.installed.exists(), "{}", run.log());
        assert_eq!(host.requests().len(), requests, "{}", run.log());
    }
    assert!(!ran.exists(), "no stand-in ran");

    // installed=false is what makes action.yml build: the build step runs on a cache
    // miss unless the download step installed the binary, and the run step takes the
    // binary from the same place either way.
    let yml = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let step = |name: &str| {
        let start = yml.find(&format!("    - name: {name}\n")).expect(name);
        let rest = &yml[start + 8..];
        rest[..rest.find("\n    - ").unwrap_or(rest.len())].to_owned()
    };
    let download_step = step("Download ecr-lambda");
    assert!(download_step.contains("id: download"), "{download_step}");
    assert!(
        download_step.contains("run: bash \"$ACTION_PATH/scripts/action.sh\" download"),
        "{download_step}"
    );
    assert!(
        download_step.contains("ROOT: ${{ steps.place.outputs.root }}"),
        "{download_step}"
    );
    assert!(
        download_step.contains("GH_TOKEN: ${{ github.token }}"),
        "{download_step}"
    );
    // No cache: a planted binary would run unchecked.
    assert!(!yml.contains("actions/cache"), "{yml}");
    assert!(!yml.contains("cache-hit"), "{yml}");
    assert!(
        !yml.contains("ECR_LAMBDA_TEST_ONLY"),
        "the action never sets the test-only URL"
    );
    let build_step = step("Build ecr-lambda");
    assert!(
        build_step.contains("if: steps.download.outputs.installed != 'true'"),
        "{build_step}"
    );
    assert!(
        step("Run ecr-lambda")
            .contains("ECR_LAMBDA: ${{ steps.place.outputs.root }}/bin/ecr-lambda"),
        "{yml}"
    );
}

/// A composite action's `run` may not see github.action_ref: the ref and repository
/// are then read from where the runner checked the action out, `_actions/OWNER/REPO/REF`.
/// From there the action runs as a workflow runs it, and the test-only release URL is
/// refused (the step fails, nothing is fetched): only the project's tests set it.
#[test]
fn from_actions_the_ref_is_read_from_the_path_and_the_test_url_refused() {
    let dir = TempDir::new();
    let ran = dir.0.join("ran");
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("v{version}");
    release(&dir.0, &tag, &["aarch64-unknown-linux-gnu"], &ran);
    let host = ReleaseHost::serve(&dir.0);
    let path = format!("/home/runner/work/_actions/owner/ecr-lambda/{tag}");
    let run = download_with(
        &host,
        &[
            ("ACTION_REF", ""),
            ("ACTION_REPOSITORY", ""),
            ("ACTION_PATH", &path),
        ],
        "Linux",
        "ARM64",
    );
    assert_eq!(code(&run.out), 1, "{}", run.log());
    assert!(
        run.stdout().contains(&format!(
            "::error title=ecr-lambda download::ECR_LAMBDA_TEST_ONLY_RELEASES_URL is set, and the \
             action runs from _actions/ (owner/ecr-lambda {tag}), as a workflow runs it"
        )),
        "{}",
        run.log()
    );
    assert!(host.requests().is_empty());
    assert!(!run.installed.exists());
    assert_eq!(
        run.outputs, "",
        "no installed=false: nothing is built either"
    );
}

/// The test-only URL is honoured for loopback addresses only: any other, https
/// included, fails the step before anything is fetched.
#[test]
fn the_test_only_url_is_refused_unless_it_is_loopback() {
    let dir = TempDir::new();
    let host = ReleaseHost::serve(&dir.0);
    let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
    for url in [
        "http://evil.example.com",
        "https://127.0.0.1.evil.example.com/x",
        "http://127.0.0.1@evil.example.com/",
        "http://10.0.0.1:8080",
        "file:///tmp/release",
    ] {
        let run = download_with(
            &host,
            &[
                ("ACTION_REF", &tag),
                ("ECR_LAMBDA_TEST_ONLY_RELEASES_URL", url),
            ],
            "Linux",
            "X64",
        );
        assert_eq!(code(&run.out), 1, "{url}: {}", run.log());
        assert!(
            run.stdout().contains(&format!(
                "::error title=ecr-lambda download::ECR_LAMBDA_TEST_ONLY_RELEASES_URL ({url}) is \
                 not a loopback URL"
            )),
            "{url}: {}",
            run.log()
        );
        assert_eq!(run.outputs, "", "{url}");
        assert_eq!(run.gh_calls, "", "{url}");
    }
    assert!(host.requests().is_empty());
}

/// An archive that matches SHA256SUMS but whose attestation does not verify (a release
/// edited by someone who could replace both files) fails the step: nothing unpacked,
/// run or built.
#[test]
fn an_archive_whose_attestation_does_not_verify_is_refused_and_nothing_runs() {
    let dir = TempDir::new();
    let ran = dir.0.join("ran");
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("v{version}");
    release(&dir.0, &tag, &["x86_64-unknown-linux-gnu"], &ran);
    let host = ReleaseHost::serve(&dir.0);
    let run = download_gh(&host, &[("ACTION_REF", &tag)], "Linux", "X64", Gh::Refuses);
    assert_eq!(code(&run.out), 1, "{}", run.log());
    let stdout = run.stdout();
    let error = stdout
        .lines()
        .find(|l| l.starts_with("::error title=ecr-lambda download::"))
        .unwrap_or_else(|| panic!("no error: {}", run.log()));
    assert!(
        error.contains(&format!(
            "ecr-lambda-{version}-x86_64-unknown-linux-gnu.tar.gz from {}/{tag} matches its \
             SHA256SUMS, but its attestation does not verify",
            host.url
        )),
        "{error}"
    );
    assert!(error.contains("no matching attestations"), "{error}");
    assert!(error.contains("was not unpacked or run"), "{error}");
    assert!(
        run.gh_calls.starts_with("attestation\nverify\n"),
        "{}",
        run.gh_calls
    );
    assert!(!run.installed.exists(), "{}", run.log());
    assert!(!ran.exists(), "nothing ran");
    assert!(!run.outputs.contains("installed="), "{}", run.outputs);
    assert!(
        !stdout.contains("::notice"),
        "no quiet fallback: {}",
        run.log()
    );
}

/// A runner without gh cannot check the attestation: the action builds from source,
/// with a notice saying why, and fetches nothing.
#[test]
fn without_gh_the_action_builds_from_source_with_a_notice() {
    let dir = TempDir::new();
    let ran = dir.0.join("ran");
    let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
    release(&dir.0, &tag, &["x86_64-unknown-linux-gnu"], &ran);
    let host = ReleaseHost::serve(&dir.0);
    let run = download_gh(&host, &[("ACTION_REF", &tag)], "Linux", "X64", Gh::Absent);
    assert_eq!(code(&run.out), 0, "{}", run.log());
    assert_eq!(run.outputs, "installed=false\n", "{}", run.log());
    assert!(
        run.stdout().contains(
            "::notice title=ecr-lambda download::gh (GitHub's CLI) is not on this runner, so the \
             release archive's attestation cannot be checked: building ecr-lambda from source instead"
        ),
        "{}",
        run.log()
    );
    assert!(host.requests().is_empty());
    assert!(!run.installed.exists());
}

/// The real binary, packaged as the release workflow packages it and fetched by the
/// download step, runs the action: `check` of an image with no repository, against the
/// emulator, is an error document like the built binary's.
#[test]
fn the_downloaded_binary_runs_the_action() {
    let dir = TempDir::new();
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("v{version}");
    let out = dir.0.join(&tag);
    std::fs::create_dir_all(&out).unwrap();
    package(
        version,
        "x86_64-unknown-linux-gnu",
        Path::new(env!("CARGO_BIN_EXE_ecr-lambda")),
        &out,
    );
    sums(&out);
    let host = ReleaseHost::serve(&dir.0);
    let fetched = download(&host, &tag, "Linux", "X64");
    assert_eq!(fetched.outputs, "installed=true\n", "{}", fetched.log());
    assert_eq!(
        version_of(&fetched.installed),
        format!("ecr-lambda {version}")
    );

    let outputs = dir.0.join("output");
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action.sh"));
    isolate(&mut cmd);
    let run = cmd
        .env("ECR_LAMBDA", &fetched.installed)
        .env("AWS_ENDPOINT_URL", moto().endpoint())
        .env("GITHUB_OUTPUT", &outputs)
        .env("INPUT_COMMAND", "check")
        .env(
            "INPUT_IMAGE",
            uri("no-such-repository-for-the-download", ":v1"),
        )
        .output()
        .unwrap();
    assert_ne!(code(&run), 0, "{}", stderr(&run));
    let written = std::fs::read_to_string(&outputs).unwrap();
    let exit_code = format!("exit-code={}", code(&run));
    assert!(written.lines().any(|l| l == exit_code), "{written}");
    assert!(written.contains("\"kind\": \"not-found\""), "{written}");
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("::error title="),
        "{}",
        stderr(&run)
    );
}

/// The README's one-line install, as written, against a stand-in release of the real
/// binary: only the release host's address is replaced. It verifies the checksum,
/// installs ~/.local/bin/ecr-lambda and runs `--version`; a tampered archive stops it
/// before anything is installed.
#[test]
fn the_readmes_one_line_install_works_against_a_stand_in_release() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let github = "U=https://github.com/ecr-lambda/ecr-lambda/releases/download";
    let line = readme
        .lines()
        .find(|l| l.contains(github) && l.contains("sha256sum -c"))
        .expect("the README's one-line install");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        line.starts_with(&format!("V={version} T=x86_64-unknown-linux-gnu ")),
        "the README installs this version: {line}"
    );

    let dir = TempDir::new();
    let out = dir.0.join(format!("v{version}"));
    std::fs::create_dir_all(&out).unwrap();
    let target = "x86_64-unknown-linux-gnu";
    let archive = package(
        version,
        target,
        Path::new(env!("CARGO_BIN_EXE_ecr-lambda")),
        &out,
    );
    sums(&out);
    let host = ReleaseHost::serve(&dir.0);
    let line = line.replace(github, &format!("U={}", host.url));

    let install = |home: &Path| {
        std::fs::create_dir_all(home).unwrap();
        let mut cmd = Command::new("bash");
        isolate(&mut cmd);
        cmd.arg("-c").arg(&line).env("HOME", home).output().unwrap()
    };
    let home = dir.0.join("home");
    let run = install(&home);
    assert_eq!(
        code(&run),
        0,
        "{}\n{}",
        stderr(&run),
        String::from_utf8_lossy(&run.stdout)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains(&format!("ecr-lambda-{version}-{target}.tar.gz: OK")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("ecr-lambda {version}")),
        "{stdout}"
    );
    assert_eq!(
        version_of(&home.join(".local/bin/ecr-lambda")),
        format!("ecr-lambda {version}")
    );

    // Tampered: the line stops at the check, nothing installed.
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&archive, bytes).unwrap();
    let home = dir.0.join("home2");
    let run = install(&home);
    assert_ne!(code(&run), 0);
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("FAILED"),
        "{}",
        stderr(&run)
    );
    assert!(!home.join(".local/bin/ecr-lambda").exists());
}

/// A check report whose provenance was verified, built from the tool's own output
/// types, so that it has every field `check --output json` prints (a field renamed or
/// added there changes this too).
fn verified_check_report(sha: &str) -> ecr_lambda::output::CheckReport {
    use ecr_lambda::manifest::provenance::{Link, Provenance};
    use ecr_lambda::manifest::statement::{Field, FieldCheck, Statement};
    let source = "https://github.com/org/app";
    let statement = Statement {
        predicate_type: "https://slsa.dev/provenance/v0.2".into(),
        subject_matches: true,
        subjects: vec![format!("sha256:{}", "a".repeat(64))],
        builder_id: Some("https://github.com/org/app/actions/runs/7".into()),
        source: Some(source.into()),
        revision: Some(sha.into()),
        started_on: None,
        finished_on: None,
        frontend: Some("dockerfile.v0".into()),
        materials: Vec::new(),
    };
    let check = |field, expected: &str, found: &str| FieldCheck {
        field,
        expected: expected.into(),
        found: Some(found.into()),
        ok: true,
    };
    ecr_lambda::output::CheckReport {
        image: uri("app", ":v1"),
        registry_id: "123456789012".into(),
        region: "us-east-1".into(),
        repository: "app".into(),
        tag: Some("v1".into()),
        digest: format!("sha256:{}", "a".repeat(64)),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        lambda_ready: true,
        fixable: false,
        target: None,
        manifests: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
        provenance: vec![Provenance {
            digest: format!("sha256:{}", "b".repeat(64)),
            predicate_types: vec![statement.predicate_type.clone()],
            linked: Link::Referrer,
            statement: Some(statement),
            error: None,
            layers: Vec::new(),
        }],
        config: None,
        verification: Some(ecr_lambda::output::VerificationReport {
            passed: true,
            require_provenance: true,
            fields: vec![
                check(Field::Source, source, source),
                check(Field::Revision, sha, sha),
                check(
                    Field::Builder,
                    "https://github.com/org/app/actions/runs/",
                    "https://github.com/org/app/actions/runs/7",
                ),
            ],
            signing: None,
        }),
    }
}

/// `require-provenance: true` pins the image to the workflow's own repository and
/// commit; the summary shows the source, revision and builder the report gives.
/// (A stand-in binary prints a check report: the arguments are what is checked.)
#[test]
fn require_provenance_pins_the_workflows_repository_and_commit() {
    let dir = TempDir::new();
    let fake = dir.0.join("ecr-lambda");
    let args_file = dir.0.join("args");
    let sha = "3f1c2a9e8b7d6c5f4e3a2b1c0d9e8f7a6b5c4d3e";
    std::fs::write(
        &fake,
        format!(
            "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > '{}'\ncat <<'JSON'\n{}\nJSON\n",
            args_file.display(),
            serde_json::to_string_pretty(&verified_check_report(sha)).unwrap()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let summary = dir.0.join("summary");
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action.sh"));
    isolate(&mut cmd);
    let out = cmd
        .env("ECR_LAMBDA", &fake)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "org/app")
        .env("GITHUB_SHA", sha)
        .env("INPUT_COMMAND", "check")
        .env("INPUT_IMAGE", uri("app", ":v1"))
        .env("INPUT_REQUIRE_PROVENANCE", "true")
        .env(
            "INPUT_PROVENANCE_BUILDER",
            "https://github.com/org/app/actions/runs/",
        )
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let args = std::fs::read_to_string(&args_file).unwrap();
    let args: Vec<&str> = args.lines().collect();
    let after = |flag: &str| args[args.iter().position(|a| *a == flag).expect(flag) + 1];
    assert!(args.contains(&"--require-provenance"), "{args:?}");
    assert_eq!(after("--provenance-source"), "https://github.com/org/app");
    assert_eq!(after("--provenance-revision"), sha);
    assert_eq!(
        after("--provenance-builder"),
        "https://github.com/org/app/actions/runs/"
    );
    assert!(!args.contains(&"--require-signed"), "{args:?}");
    let written = std::fs::read_to_string(&summary).unwrap();
    assert!(
        written.contains("| Built from | <code>https://github.com/org/app</code> |"),
        "{written}"
    );
    assert!(
        written.contains(&format!("| Revision | <code>{sha}</code> |")),
        "{written}"
    );
    assert!(
        written.contains("| Builder | https://github.com/org/app/actions/runs/7 |"),
        "{written}"
    );
    assert!(
        written.contains(
            "| Provenance | the registry holds a statement matching the requirements (who wrote \
             it is not checked) |"
        ),
        "{written}"
    );
    assert!(!written.contains("verified"), "{written}");

    // '*' leaves the source unpinned; the revision still defaults to github.sha.
    let out = Command::new("bash")
        .arg(root().join("scripts/action.sh"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("ECR_LAMBDA", &fake)
        .env("GITHUB_REPOSITORY", "org/app")
        .env("GITHUB_SHA", sha)
        .env("INPUT_COMMAND", "check")
        .env("INPUT_IMAGE", uri("app", ":v1"))
        .env("INPUT_REQUIRE_PROVENANCE", "true")
        .env("INPUT_PROVENANCE_SOURCE", "*")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert!(!args.contains("--provenance-source"), "{args}");
    assert!(args.contains(sha), "{args}");
}

/// `check`, `fix` and `rollback` take one function: several lines in `function` are
/// said before the tool runs, with an annotation, a summary and the exit code.
#[test]
fn several_functions_for_check_are_refused_with_a_summary() {
    let run = action(&[
        ("command", "check"),
        ("image", "app:v1"),
        ("function", "one\ntwo"),
    ]);
    assert_eq!(run.code(), 2, "{}", run.log());
    assert!(
        run.stdout()
            .contains("::error title=action-input::command check takes one function"),
        "{}",
        run.log()
    );
    assert!(
        run.summary.contains("takes one function"),
        "{}",
        run.summary
    );
    assert_eq!(run.outputs()["exit-code"], "2");
}

/// With no single target (a multi-platform index and no platform), `digest` is
/// empty: never the index's digest, which Lambda cannot run.
#[tokio::test]
async fn digest_is_empty_without_a_single_target() {
    let repo = unique("app");
    create_repository(&repo, false).await;
    seed(&repo, "v1", &load_case("buildx-multi")).await;
    let run = action(&[("command", "check"), ("image", &uri(&repo, ":v1"))]);
    assert_eq!(run.code(), 1, "{}", run.log());
    let outputs = run.outputs();
    assert_eq!(outputs["digest"], "", "{}", run.outputs);
    assert!(run.report()["target"].is_null());
}

/// A stand-in binary in `dir` that prints `report` and writes `log` to stderr.
fn fake_tool(dir: &Path, report: &Value, log: &str) -> PathBuf {
    let fake = dir.join("ecr-lambda");
    std::fs::write(
        &fake,
        format!(
            "#!/usr/bin/env bash\ncat >&2 <<'LOG'\n{log}\nLOG\ncat <<'JSON'\n{}\nJSON\nexit 1\n",
            serde_json::to_string_pretty(report).unwrap()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    fake
}

/// The script with a stand-in tool and `inputs`: (stdout, summary).
fn with_fake(fake: &Path, inputs: &[(&str, &str)]) -> (String, String) {
    let dir = TempDir::new();
    let summary = dir.0.join("summary");
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/action.sh"));
    isolate(&mut cmd);
    cmd.env("ECR_LAMBDA", fake)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", dir.0.join("output"));
    for (name, value) in inputs {
        cmd.env(
            format!("INPUT_{}", name.to_uppercase().replace('-', "_")),
            value,
        );
    }
    let out = cmd.output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(&summary).unwrap_or_default(),
    )
}

/// The probe's error message and log tail are the function's own output, which may
/// carry secrets: they stay out of the (public) summary unless `probe-logs: true`.
#[test]
fn the_probes_output_stays_out_of_the_summary_unless_asked() {
    let dir = TempDir::new();
    let report = serde_json::json!({
        "image": uri("app", ":v1"), "problems": [], "warnings": [],
        "release": {
            "strategy": "canary", "outcome": "refused",
            "reason": "the probe of f version 3 failed (Runtime.Error); no traffic moved",
            "probes": [{"function": "f", "version": "3", "passed": false,
                        "error_type": "Runtime.Error",
                        "error_message": "cannot connect: password=hunter2",
                        "log_tail": ["DB_PASSWORD=hunter2", "END RequestId: 1"]}],
            "steps": [], "alarms": []
        }
    });
    let fake = fake_tool(&dir.0, &report, "");
    let inputs = [
        ("image", "app:v1"),
        ("function", "f"),
        ("alias", "live"),
        ("canary", "10"),
        ("bake", "5m"),
        ("probe", "probe.json"),
    ];
    let (_, summary) = with_fake(&fake, &inputs);
    assert!(!summary.contains("hunter2"), "{summary}");
    assert!(summary.contains("FAILED (Runtime.Error)"), "{summary}");
    assert!(
        summary.contains("| Probe output | in the step's log and the JSON report, not here"),
        "{summary}"
    );

    let (_, summary) = with_fake(&fake, &[&inputs[..], &[("probe-logs", "true")]].concat());
    assert!(
        summary.contains("FAILED (Runtime.Error: cannot connect: password=hunter2)"),
        "{summary}"
    );
    assert!(
        summary.contains("| Probe log | <code>DB\\_PASSWORD=hunter2</code> |"),
        "{summary}"
    );
    assert!(!summary.contains("Probe output"), "{summary}");
}

/// What the tool logs (AWS's messages, an image's text) is read by the runner with
/// workflow commands stopped: `::stop-commands::` with a random token before the tool
/// runs, the token after; the report's annotations come after that.
#[test]
fn the_tools_log_cannot_start_a_workflow_command() {
    let dir = TempDir::new();
    let report = serde_json::json!({"error": {"kind": "aws", "message": "denied", "hint": null,
                                              "exit_code": 3}});
    let fake = fake_tool(&dir.0, &report, "::add-mask::nothing\n::error::forged");
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (stdout, _) = with_fake(&fake, &[("command", "check"), ("image", "app:v1")]);
        let lines: Vec<&str> = stdout.lines().collect();
        let stop = lines
            .iter()
            .position(|l| l.starts_with("::stop-commands::"))
            .unwrap_or_else(|| panic!("no stop-commands: {stdout}"));
        let token = &lines[stop]["::stop-commands::".len()..];
        assert_eq!(token.len(), 32, "{token}");
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
        let resume = lines
            .iter()
            .position(|l| *l == format!("::{token}::"))
            .unwrap_or_else(|| panic!("commands never resumed: {stdout}"));
        let annotation = lines
            .iter()
            .position(|l| l.starts_with("::error title=aws::denied"))
            .unwrap_or_else(|| panic!("no annotation: {stdout}"));
        assert!(stop < resume && resume < annotation, "{stdout}");
        tokens.push(token.to_owned());
    }
    assert_ne!(tokens[0], tokens[1], "a token nobody can guess");
}

/// An input echoed in an annotation (a bad value) is one line: its newline cannot
/// start a workflow command, and in the summary its Markdown is escaped.
#[test]
fn an_echoed_input_cannot_start_a_workflow_command() {
    let run = action(&[
        ("image", "app:v1"),
        ("function", "f"),
        ("dry-run", "maybe\r\n::add-mask::x\n::warning::**forged**"),
    ]);
    assert_eq!(run.code(), 2, "{}", run.log());
    let stdout = run.stdout();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with("::error title=action-input::dry-run must be true or false (got 'maybe  ::add-mask::x ::warning::**forged**')"),
        "{stdout}"
    );
    assert!(
        run.summary.contains("::warning::\\*\\*forged\\*\\*"),
        "{}",
        run.summary
    );
}

/// `protect: true` runs `deploy --protect`: the deployed image gets its protective
/// tags (issue 21).
#[tokio::test]
async fn protect_true_tags_the_deployed_image() {
    let (repo, function, case) = buildx_setup("buildx-single", "v1", Architecture::X8664).await;
    lambda_behaviour(&function, serde_json::json!({"update_seconds": 0}));
    let run = action(&[
        ("image", &uri(&repo, ":v1")),
        ("function", &function),
        ("alias", "live"),
        ("protect", "true"),
    ]);
    assert_eq!(run.code(), 0, "{}", run.log());
    assert!(run.log().contains("--protect"), "{}", run.log());
    let report = run.report();
    let tags: Vec<&str> = report["protected"]
        .as_array()
        .unwrap_or_else(|| panic!("{report:#}"))
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&format!("lambda.{function}.1").as_str()),
        "{tags:?}"
    );
    assert_tag(
        &repo,
        &format!("lambda.{function}.1"),
        &case.child("image-amd64.json").digest,
    )
    .await;
}
