//! The docs kept true to the code (issue 24).
//!
//! - The reference pages under `docs/src/reference/` that the code generates: the CLI
//!   (from the clap definition), the problem codes and error kinds (from the doc
//!   comments of `Code` and `ErrorKind`), the reports' JSON Schemas (schemars, from the
//!   report types) and the action's inputs and outputs (from `action.yml`). A committed
//!   page that differs from what the code generates fails here; regenerate them all with
//!   `ECR_LAMBDA_BLESS=1 cargo test --test docs` (CONTRIBUTING.md).
//! - Every `ecr-lambda …` command line shown in README.md, CONTRIBUTING.md and the book
//!   parses with the real clap definition.
//! - Every relative link of the book, the README and CONTRIBUTING.md names a file that
//!   exists, and a `#fragment` a heading of it; every page is in SUMMARY.md.
//! - The tutorial's commands run against the emulator, with the exit codes it shows.

mod support;

// The helpers, in tests/docs/ (a test's crate root finds its modules beside it).
#[path = "docs/generate.rs"]
mod generate;
#[path = "docs/markdown.rs"]
mod markdown;
#[path = "docs/schema_check.rs"]
mod schema_check;

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::{CommandFactory, Parser as _};
use ecr_lambda::cli::Cli;

use generate::{cli_page, commands, generated};
use markdown::{anchors, command_lines, links, markdown_files, tutorial_steps};
use schema_check::violations;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------
// Generated reference pages

/// Compares each committed page with what the code generates now; with
/// `ECR_LAMBDA_BLESS=1`, writes what differs instead.
#[test]
fn the_generated_reference_pages_are_what_the_code_generates() {
    let bless = std::env::var_os("ECR_LAMBDA_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, text) in generated() {
        let file = root().join(&path);
        let committed = std::fs::read_to_string(&file).unwrap_or_default();
        if committed == text {
            continue;
        }
        if bless {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &text).unwrap();
            eprintln!("wrote {}", path.display());
        } else {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "these pages differ from what the code generates: {stale:?}; regenerate them with \
         `ECR_LAMBDA_BLESS=1 cargo test --test docs` and commit the result"
    );
}

/// The generator sees what a change to the code changes: a flag's range in its doc
/// comment reaches the page, and so does every nested subcommand.
#[test]
fn the_cli_page_has_every_command_flag_default_and_range() {
    let page = cli_page();
    for heading in [
        "## ecr-lambda check",
        "## ecr-lambda release status",
        "## ecr-lambda release promote",
        "## ecr-lambda release abort",
    ] {
        assert!(page.contains(&format!("\n{heading}\n")), "{heading}");
    }
    let mut cli = Cli::command();
    cli.build();
    let mut all = Vec::new();
    commands(&cli, "ecr-lambda", &mut all);
    for (name, cmd) in &all {
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long().filter(|l| *l != "help" && *l != "version") {
                assert!(
                    page.contains(&format!("--{long}`")) || page.contains(&format!("--{long} <")),
                    "{name} --{long}"
                );
            }
        }
    }
    assert!(page.contains("| `--wait-timeout <SECONDS>` | `300` |"));
    assert!(page.contains("1 to 3600"), "the range of --wait-timeout");
    assert!(page.contains("`--max-attempts <N>` | `3` |"));
}

// ---------------------------------------------------------------------------------
// The docs' files, command lines and links

#[test]
fn every_command_line_the_docs_show_parses() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, args) in command_lines(&text) {
            let argv = std::iter::once("ecr-lambda".to_owned()).chain(args.iter().cloned());
            match Cli::try_parse_from(argv) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        clap::error::ErrorKind::DisplayHelp
                            | clap::error::ErrorKind::DisplayVersion
                    ) => {}
                Err(e) => failures.push(format!(
                    "{}:{line}: ecr-lambda {}\n{}",
                    file.strip_prefix(root()).unwrap().display(),
                    args.join(" "),
                    e.render()
                )),
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{checked} command lines parsed");
    assert!(
        checked >= 40,
        "only {checked} command lines found: is the extraction right?"
    );
}

#[test]
fn the_command_line_extraction_finds_what_it_should() {
    let text = "```sh\n$ ecr-lambda check app:v7 --output json | jq .x   # a comment\n\
                ecr-lambda deploy app:v8 --function f \\\n    --alias live\n\
                V=1 ecr-lambda manpage > x.1\ncargo install ecr-lambda\n```\n\
                ```yaml\necr-lambda check not-shell\n```\n";
    let found = command_lines(text);
    assert_eq!(
        found,
        vec![
            (
                2,
                vec![
                    "check".into(),
                    "app:v7".into(),
                    "--output".into(),
                    "json".into()
                ]
            ),
            (
                3,
                ["deploy", "app:v8", "--function", "f", "--alias", "live"]
                    .map(String::from)
                    .to_vec()
            ),
            (5, vec!["manpage".into()]),
        ]
    );
    // A typo'd flag does not parse: the test above can fail.
    assert!(Cli::try_parse_from(["ecr-lambda", "check", "app:v7", "--functoin", "f"]).is_err());
}

#[test]
fn every_relative_link_names_a_file_and_a_heading_that_exist() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let shown = format!("{}: ({link})", file.strip_prefix(root()).unwrap().display());
            checked += 1;
            if !target.exists() {
                broken.push(format!("{shown}: no such file"));
                continue;
            }
            // The book renders pages as HTML, so a link to the source tree from a page
            // would break there: the book links into the repository by URL instead.
            let in_book = file.starts_with(root().join("docs/src"));
            if in_book && !target.starts_with(root().join("docs/src")) {
                broken.push(format!(
                    "{shown}: outside the book (link to GitHub instead)"
                ));
            }
            if !fragment.is_empty()
                && target.extension().is_some_and(|e| e == "md")
                && !anchors(&std::fs::read_to_string(&target).unwrap()).contains(fragment)
            {
                broken.push(format!("{shown}: no heading #{fragment}"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    eprintln!("{checked} relative links checked");
    assert!(checked > 30, "only {checked} links checked");
}

#[test]
fn every_page_of_the_book_is_in_its_summary_and_every_summary_entry_exists() {
    let src = root().join("docs/src");
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<PathBuf> = links(&summary).iter().map(|l| src.join(l)).collect();
    for page in &listed {
        assert!(page.exists(), "SUMMARY.md lists {}", page.display());
    }
    for file in markdown_files() {
        if file.starts_with(&src) && file != src.join("SUMMARY.md") {
            assert!(
                listed.contains(&file),
                "{} is not in SUMMARY.md",
                file.display()
            );
        }
    }
}

#[test]
fn the_link_check_sees_a_broken_anchor() {
    let page = "# How it decides\n## The `--alias` flag\n```sh\n# not a heading\n```\n";
    let found = anchors(page);
    assert!(found.contains("how-it-decides"));
    assert!(found.contains("the---alias-flag"));
    assert!(!found.contains("not-a-heading"));
    assert_eq!(
        links("[a](x.md#y) `[b](z.md)` [c](#d)"),
        vec!["x.md#y".to_owned(), "#d".to_owned()]
    );
}

// ---------------------------------------------------------------------------------
// The tutorial, run

/// The local-demo tutorial against the emulator, set up as `examples/local-demo.sh`
/// sets it up: every command it shows, in order, with the exit code it shows; and
/// what it says happened did (the tag fixed, the function on the image, the alias).
#[tokio::test]
async fn the_tutorial_runs_against_the_emulator() {
    use support::*;
    let text = std::fs::read_to_string(root().join("docs/src/tutorial/local-demo.md")).unwrap();
    let steps = tutorial_steps(&text);
    assert!(steps.len() >= 6, "{steps:?}");
    // The same names as examples/local-demo.sh (this test binary has its own emulator).
    let case = load_case("buildx-single");
    create_repository("demo", false).await;
    seed("demo", "v1", &case).await;
    seed_manifest("demo", Some("base"), &load_case("docker-v2"), "root.json").await;
    create_function(
        "demo-fn",
        &uri("demo", ":base"),
        aws_sdk_lambda::types::Architecture::X8664,
    )
    .await;
    lambda_behaviour("demo-fn", serde_json::json!({"update_seconds": 1}));
    for (args, expected) in &steps {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args);
        assert_eq!(
            code(&out),
            *expected,
            "ecr-lambda {}: {}{}",
            args.join(" "),
            stderr(&out),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let target = case.child("image-amd64.json");
    assert_tag("demo", "v1", &target.digest).await;
    assert_runs("demo-fn", &target.digest).await;
    let (alias, _) = alias_state("demo-fn", "live").await;
    assert!(!alias.is_empty(), "the alias live exists");
}

#[test]
fn a_tutorial_step_says_its_exit_code() {
    let text =
        "```sh\necr-lambda check a:v1   # exit 1\necr-lambda deploy a:v1 --function f\n```\n";
    assert_eq!(
        tutorial_steps(text),
        vec![
            (vec!["check".to_owned(), "a:v1".to_owned()], 1),
            (
                ["deploy", "a:v1", "--function", "f"]
                    .map(String::from)
                    .to_vec(),
                0
            )
        ]
    );
}

// ---------------------------------------------------------------------------------
// The schemas against real output

/// Real reports, from the binary against the emulator, hold to the committed schemas:
/// check, fix and deploy of a buildx index (provenance, config, update included), a
/// deploy with an alias, `release status`, rollback with nothing to go back to, and an
/// error document.
#[tokio::test]
async fn real_reports_hold_to_their_json_schemas() {
    use support::*;
    let (repo, function, _) = buildx_setup(
        "buildx-single",
        "v1",
        aws_sdk_lambda::types::Architecture::X8664,
    )
    .await;
    lambda_behaviour(&function, serde_json::json!({"update_seconds": 0}));
    let v1 = uri(&repo, ":v1");
    let missing = uri(&repo, ":nope");
    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("check", vec!["check", &v1, "--function", &function]),
        ("fix", vec!["fix", &v1, "--dry-run"]),
        (
            "deploy",
            vec!["deploy", &v1, "--function", &function, "--alias", "live"],
        ),
        (
            "release",
            vec![
                "release",
                "status",
                "--function",
                &function,
                "--alias",
                "live",
            ],
        ),
        (
            "rollback",
            vec!["rollback", "--function", &function, "--alias", "live"],
        ),
        ("scan", vec!["scan", "--repository", &repo]),
        ("error", vec!["check", &missing]),
    ];
    for (name, mut args) in runs {
        args.extend(["--output", "json"]);
        let out = run(&args);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", stderr(&out)));
        let file = root().join(format!("docs/src/reference/schema/{name}.json"));
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let broken = violations(&report, &schema, &schema, name);
        assert!(
            broken.is_empty(),
            "{args:?}:\n{}\n{report:#}",
            broken.join("\n")
        );
    }
    // The reader sees a field the schema does not name.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("docs/src/reference/schema/error.json")).unwrap(),
    )
    .unwrap();
    let odd = serde_json::json!({"error": {"kind": "usage", "message": "m", "hint": null, "exit_code": 2, "extra": 1}});
    assert_eq!(violations(&odd, &schema, &schema, "error").len(), 1);
}
