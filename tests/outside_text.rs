//! Text an image carries reaches a terminal, an annotation and a job summary shown,
//! never obeyed: an attestation pushed by anyone with PutImage, whose source holds a
//! terminal title sequence (`ESC ] 0 ; … BEL`), a screen clear (`ESC [ 2 J`), a
//! newline that would forge a report line, and Markdown. Against the emulator, through
//! `check` in text mode and through the action's script; JSON keeps the exact text.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// The attacker's `vcs.source`.
const EVIL: &str = "https://github.com/example/lambda-fn\u{1b}]0;pwned\u{7}\u{1b}[2J\nrequired:  met: forged | **bold** [link](https://evil.example) `tick` <img src=x>";
/// How a terminal shows it: every control escaped, on the line it belongs to.
const SHOWN: &str = "https://github.com/example/lambda-fn\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{a}required:  met: forged";
const BUILDER: &str = "https://github.com/example/lambda-fn/actions/runs/1\u{1b}[31m\u{202e}";

/// Pushes the arm64 image of `provenance-referrer` as `REPO:v1`, and as its referrer
/// an attestation whose SLSA v1 statement names `EVIL` and `BUILDER`. The repository.
async fn seed_evil() -> String {
    let repo = unique("evil");
    create_repository(&repo, false).await;
    let case = load_case("provenance-referrer");
    seed_manifest(&repo, Some("v1"), &case, "image-arm64.json").await;
    // The attestation's own blobs (its empty config), as buildx pushes them.
    for blob in case.blobs_of("attestation-arm64.json") {
        upload_blob(&repo, &blob.bytes).await;
    }
    let intoto = case.blob("intoto-arm64.json");
    let mut statement: serde_json::Value = serde_json::from_slice(&intoto.bytes).unwrap();
    let run = &mut statement["predicate"]["runDetails"];
    run["metadata"]["buildkit_metadata"]["vcs"]["source"] = EVIL.into();
    run["builder"]["id"] = BUILDER.into();
    let bytes = serde_json::to_vec(&statement).unwrap();
    let digest = upload_blob(&repo, &bytes).await;
    let attestation = case
        .child("attestation-arm64.json")
        .bytes
        .replace(&intoto.digest, &digest)
        .replace(
            &format!("\"size\":{}", intoto.bytes.len()),
            &format!("\"size\":{}", bytes.len()),
        );
    assert!(attestation.contains(&digest));
    put(
        &repo,
        None,
        &Manifest {
            digest: sha256(attestation.as_bytes()),
            bytes: attestation,
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        },
    )
    .await;
    repo
}

fn assert_no_controls(what: &str, text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| c != '\n' && ecr_lambda::text::needs_escape(c)),
        "{what} carries a raw control character: {text:?}"
    );
}

#[tokio::test]
async fn check_in_text_mode_shows_an_attestations_escapes_and_newlines_escaped() {
    let repo = seed_evil().await;
    let image = uri(&repo, ":v1");
    let out = run(&["check", &image]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{stdout}\n{}", stderr(&out));
    assert_no_controls("stdout", &stdout);
    assert_no_controls("stderr", &stderr(&out));
    assert!(stdout.contains(SHOWN), "{stdout}");
    assert!(stdout.contains("runs/1\\u{1b}[31m\\u{202e}"), "{stdout}");
    // The newline in the source forged no line of the report.
    assert!(
        !stdout.lines().any(|l| l.starts_with("required:")),
        "{stdout}"
    );

    // A requirement the statement does not meet: the problem names the source, and
    // the error on stderr does too; both escaped.
    let out = run(&[
        "check",
        &image,
        "--provenance-source",
        "https://github.com/example/other",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}\n{}", stderr(&out));
    assert_no_controls("stdout", &stdout);
    assert_no_controls("stderr", &stderr(&out));
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("problem:") && l.contains(SHOWN)),
        "{stdout}"
    );
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with("required:  met: forged")),
        "{stdout}"
    );

    // JSON carries the exact text: its own escapes make it inert.
    let out = run(&["check", &image, "--output", "json"]);
    let report = json(&out);
    assert_eq!(report["provenance"][0]["statement"]["source"], EVIL);
    assert_eq!(report["provenance"][0]["statement"]["builder_id"], BUILDER);
    assert_no_controls("JSON", &String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn the_actions_summary_and_annotations_show_an_attestation_escaped() {
    let repo = seed_evil().await;
    let dir = scratch_path("ecr-lambda-outside-text");
    std::fs::create_dir_all(&dir).unwrap();
    let summary = dir.join("summary");
    let outputs = dir.join("outputs");
    let mut cmd = Command::new("bash");
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/action.sh"));
    isolate(&mut cmd);
    let out = cmd
        .env("ECR_LAMBDA", env!("CARGO_BIN_EXE_ecr-lambda"))
        .env("AWS_ENDPOINT_URL", moto().endpoint())
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &outputs)
        .env("INPUT_COMMAND", "check")
        .env("INPUT_IMAGE", uri(&repo, ":v1"))
        .env(
            "INPUT_PROVENANCE_SOURCE",
            "https://github.com/example/other",
        )
        .output()
        .unwrap();
    let summary = std::fs::read_to_string(&summary).unwrap_or_default();
    let written = std::fs::read_to_string(&outputs).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 1, "{stdout}\n{}", stderr(&out));

    assert_no_controls("summary", &summary);
    // Every table row is one line, closed where it opened: the newline forged no row.
    for line in summary.lines().filter(|l| l.starts_with('|')) {
        assert!(line.ends_with(" |"), "{line}\n{summary}");
    }
    assert!(
        !summary.lines().any(|l| l.starts_with("required:")),
        "{summary}"
    );
    // Markdown shown, not rendered: no link, emphasis, code span or HTML.
    let source = summary
        .lines()
        .find(|l| l.starts_with("| Built from |"))
        .unwrap_or_else(|| panic!("no source row: {summary}"));
    for escaped in [
        "\\\\u{1b}\\]0;pwned\\\\u{7}\\\\u{1b}\\[2J\\\\u{a}required:  met: forged \\| ",
        "\\*\\*bold\\*\\*",
        "\\[link\\](https://evil.example)",
        "\\`tick\\`",
        "\\<img src=x\\>",
    ] {
        assert!(source.contains(escaped), "{escaped}\n{source}");
    }
    assert!(
        !summary.contains("[link](") && !summary.replace("\\<img", "").contains("<img"),
        "{summary}"
    );

    // The annotations: controls shown; the message stays one workflow command.
    assert_no_controls("the log", &stdout);
    let problem = stdout
        .lines()
        .find(|l| l.starts_with("::error title=provenance"))
        .unwrap_or_else(|| panic!("no problem annotation: {stdout}"));
    assert!(problem.contains(SHOWN), "{problem}");
    assert!(
        !stdout.lines().any(|l| l.starts_with("required:")),
        "{stdout}"
    );
    // The `report` output keeps the exact text, inside its delimiter.
    assert!(
        written.contains(&serde_json::to_string(EVIL).unwrap()),
        "{written}"
    );
}
