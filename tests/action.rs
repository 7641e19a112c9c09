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
        let dir = std::env::temp_dir().join(unique("ecr-lambda-action"));
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
            .contains(&format!("Function `{function}` | successful")),
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
        run.summary.contains("`image-index`"),
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
            "canary",
            "bake",
            "linear",
            "every",
            "alarms",
            "probe",
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
            serde_json::to_string_pretty(&serde_json::json!({
                "function": {"name": "f", "arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                             "architectures": ["x86_64"], "state": "Active"},
                "alias": "live",
                "from": {"version": "4", "image_uri": uri("app", "@sha256:bbbb")},
                "to": {"version": "3", "image_uri": uri("app", &format!("@sha256:{}", "a".repeat(64)))},
                "update": null,
                "status": "rolled-back",
                "weights_removed": null,
                "reason": null
            }))
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
                .contains(&format!("Function `{name}` | successful")),
            "summary:\n{}",
            run.summary
        );
        assert_runs(name, &case.child("image-amd64.json").digest).await;
    }
}
