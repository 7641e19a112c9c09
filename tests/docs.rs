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

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser as _};
use ecr_lambda::cli::Cli;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------
// Generated reference pages

const GENERATED: &str = "<!-- Generated from the code by tests/docs.rs: do not edit. \
                         Regenerate with `ECR_LAMBDA_BLESS=1 cargo test --test docs`. -->";

/// Markdown table cell text: one line, `|` escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// Every command, nested ones included, with its full name (`ecr-lambda release status`).
fn commands(cmd: &clap::Command, path: &str, all: &mut Vec<(String, clap::Command)>) {
    all.push((path.to_owned(), cmd.clone()));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        commands(sub, &format!("{path} {}", sub.get_name()), all);
    }
}

/// How an argument is written: `--wait-timeout <SECONDS>`, `-v, --verbose`, `<IMAGE>`.
fn spelling(arg: &clap::Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| format!("<{}>", arg.get_id().as_str().to_uppercase()));
    let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
    match (arg.get_short(), arg.get_long()) {
        (None, None) => value,
        (short, long) => {
            let mut names: Vec<String> = Vec::new();
            if let Some(s) = short {
                names.push(format!("-{s}"));
            }
            if let Some(l) = long {
                names.push(format!("--{l}"));
            }
            let names = names.join(", ");
            if takes_value {
                format!("{names} {value}")
            } else {
                names
            }
        }
    }
}

fn arguments_table(out: &mut String, args: &[&clap::Arg]) {
    out.push_str("| argument | default | meaning |\n| --- | --- | --- |\n");
    for arg in args {
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let mut meaning = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| h.to_string())
            .unwrap_or_default();
        if !meaning.is_empty() && !meaning.ends_with(['.', ')', ':']) {
            meaning.push('.');
        }
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| format!("`{}`", v.get_name()))
            .collect();
        if !values.is_empty() {
            meaning.push_str(&format!(" One of {}.", values.join(", ")));
        }
        if arg.is_required_set() {
            meaning.push_str(" Required.");
        }
        if matches!(arg.get_action(), clap::ArgAction::Append) {
            meaning.push_str(" Repeatable.");
        }
        let default = if defaults.is_empty() {
            String::new()
        } else {
            format!("`{}`", defaults.join(" "))
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            cell(&spelling(arg)),
            default,
            cell(&meaning)
        );
    }
}

/// `docs/src/reference/cli.md`: every command and nested subcommand, every flag with
/// its default, and its range and constraints as its doc comment (and `--help`) says.
fn cli_page() -> String {
    let mut cli = Cli::command();
    cli.build();
    let mut all = Vec::new();
    commands(&cli, "ecr-lambda", &mut all);
    let mut out = format!("{GENERATED}\n\n# The command line\n\n");
    out.push_str(
        "Every command and flag, as `ecr-lambda --help` and the man page show them \
         (`ecr-lambda manpage`).\nRanges and constraints are part of each flag's \
         description; a value outside them is refused before any AWS call (exit 2).\n\n",
    );
    out.push_str("Commands:\n\n");
    for (name, cmd) in all.iter().skip(1) {
        let anchor = name.replace(' ', "-");
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        let _ = writeln!(out, "- [`{name}`](#{anchor}): {}", cell(&about));
    }
    out.push('\n');
    for (name, cmd) in &all {
        let mut cmd = cmd.clone();
        let _ = writeln!(out, "## {name}\n");
        if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
            let _ = writeln!(out, "{}\n", cell(&about.to_string()));
        }
        let usage = cmd.render_usage().to_string();
        let usage = usage.trim_start_matches("Usage: ");
        let _ = writeln!(out, "```text\n{usage}\n```\n");
        let own: Vec<&clap::Arg> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter(|a| name == "ecr-lambda" || !a.is_global_set())
            .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            .collect();
        if own.is_empty() {
            if cmd.has_subcommands() {
                out.push_str("Its subcommands follow.\n\n");
            } else {
                out.push_str("No options of its own; the global options apply.\n\n");
            }
            continue;
        }
        if name == "ecr-lambda" {
            out.push_str(
                "Global options, accepted before or after the subcommand, by every \
                 command:\n\n",
            );
        }
        let mut headings: Vec<Option<&str>> = Vec::new();
        for arg in &own {
            if !headings.contains(&arg.get_help_heading()) {
                headings.push(arg.get_help_heading());
            }
        }
        for heading in headings {
            if let Some(heading) = heading {
                let _ = writeln!(out, "{heading}:\n");
            }
            let args: Vec<&clap::Arg> = own
                .iter()
                .copied()
                .filter(|a| a.get_help_heading() == heading)
                .collect();
            arguments_table(&mut out, &args);
            out.push('\n');
        }
    }
    out.trim_end().to_owned() + "\n"
}

/// The variants of `enum NAME` in a source file: (the `// section` comment above it,
/// the kebab-case name, its doc comment as one paragraph).
fn enum_docs(file: &str, name: &str) -> Vec<(String, String, String)> {
    let source = std::fs::read_to_string(root().join(file)).unwrap();
    let start = source
        .find(&format!("pub enum {name} {{"))
        .unwrap_or_else(|| panic!("{file}: no enum {name}"));
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("the enum ends")];
    let (mut section, mut doc, mut variants) = (String::new(), Vec::new(), Vec::new());
    for line in body.lines().skip(1).map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push(text.trim().to_owned());
        } else if let Some(text) = line.strip_prefix("//") {
            section = text.trim().to_owned();
        } else if let Some(variant) = line.strip_suffix(',') {
            let mut kebab = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            variants.push((section.clone(), kebab, doc.join(" ")));
            doc.clear();
        }
    }
    variants
}

/// The names the report types serialise an enum's variants to, from its schema: the
/// source parse above must agree with them.
fn schema_names<T: schemars::JsonSchema>() -> BTreeSet<String> {
    let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap();
    let mut names = BTreeSet::new();
    for key in ["oneOf", "enum"] {
        for v in schema[key].as_array().into_iter().flatten() {
            if let Some(s) = v.as_str().or(v["const"].as_str()) {
                names.insert(s.to_owned());
            }
            for s in v["enum"].as_array().into_iter().flatten() {
                names.insert(s.as_str().unwrap().to_owned());
            }
        }
    }
    names
}

/// `docs/src/reference/codes.md`: problem and warning codes, and error kinds.
fn codes_page() -> String {
    let codes = enum_docs("src/manifest/findings.rs", "Code");
    let kinds = enum_docs("src/error.rs", "ErrorKind");
    let set = |v: &[(String, String, String)]| -> BTreeSet<String> {
        v.iter().map(|c| c.1.clone()).collect()
    };
    assert_eq!(
        set(&codes),
        schema_names::<ecr_lambda::manifest::findings::Code>(),
        "the Code enum as read from its source is what reports print"
    );
    assert_eq!(
        set(&kinds),
        schema_names::<ecr_lambda::error::ErrorKind>(),
        "the ErrorKind enum as read from its source is what reports print"
    );
    let mut out = format!("{GENERATED}\n\n# Problem codes and error kinds\n\n");
    out.push_str(
        "A report's `problems` and `warnings` are `[{code, message}]`: the code is \
         stable, for scripts and annotations; the message is for people.\nA problem \
         makes the image unusable as asked (exit 1); a warning does not.\n",
    );
    for (section, title) in [("problems", "Problems"), ("warnings", "Warnings")] {
        let _ = writeln!(
            out,
            "\n## {title}\n\n| code | meaning and what to do |\n| --- | --- |"
        );
        for (_, code, doc) in codes.iter().filter(|c| c.0 == section) {
            let _ = writeln!(out, "| `{code}` | {} |", cell(doc));
        }
    }
    out.push_str(
        "\n## Error kinds\n\nAn error that ends a command (exit 2, 3 or 130) is printed \
         on stderr as `ecr-lambda: error: ...` with its hint, and with `--output json` \
         as `{\"error\": {\"kind\", \"message\", \"hint\", \"exit_code\"}}` on stdout; \
         an error inside a report (one function's, a release's) is `{kind, message, \
         hint}`. See [exit codes](exit-codes.md).\n\n| kind | meaning |\n| --- | --- |\n",
    );
    for (_, kind, doc) in &kinds {
        let _ = writeln!(out, "| `{kind}` | {} |", cell(doc));
    }
    out
}

/// The JSON Schema of each command's report (`--output json`), from the report types.
fn schemas() -> Vec<(&'static str, String)> {
    use ecr_lambda::output::*;
    let pretty = |s: schemars::Schema| serde_json::to_string_pretty(&s).unwrap() + "\n";
    vec![
        ("check", pretty(schemars::schema_for!(CheckReport))),
        ("fix", pretty(schemars::schema_for!(FixReport))),
        ("deploy", pretty(schemars::schema_for!(DeployReport))),
        ("rollback", pretty(schemars::schema_for!(RollbackReport))),
        (
            "release",
            pretty(schemars::schema_for!(ReleaseCommandReport)),
        ),
        ("scan", pretty(schemars::schema_for!(ScanReport))),
        ("error", pretty(schemars::schema_for!(ErrorReport<'static>))),
    ]
}

/// A scalar of action.yml: quotes removed (the file uses plain and double-quoted ones).
fn yaml_scalar(value: &str) -> String {
    let value = value.trim();
    assert!(
        !value.starts_with('>') && !value.starts_with('|') && !value.starts_with('\''),
        "action.yml: a block or single-quoted scalar ({value}): teach tests/docs.rs to read it"
    );
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(v) => v.replace("\\\"", "\""),
        None => value.to_owned(),
    }
}

/// The entries of a top-level section of action.yml (`inputs`, `outputs`): each name
/// with its fields.
fn action_section(yaml: &str, section: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut entries: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut inside = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            inside = line.trim_end() == format!("{section}:");
            continue;
        }
        if !inside || line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix("  ").filter(|l| !l.starts_with(' ')) {
            entries.push((name.trim_end_matches(':').to_owned(), Vec::new()));
        } else if let Some(field) = line.strip_prefix("    ").filter(|l| !l.starts_with(' ')) {
            let (key, value) = field.split_once(':').expect("key: value");
            entries
                .last_mut()
                .expect("a field belongs to an entry")
                .1
                .push((key.to_owned(), yaml_scalar(value)));
        } else {
            panic!("action.yml: unexpected line in {section}: {line}");
        }
    }
    entries
}

/// `docs/src/reference/action.md`: the action's inputs and outputs, from action.yml.
fn action_page() -> String {
    let yaml = std::fs::read_to_string(root().join("action.yml")).unwrap();
    let field = |fields: &[(String, String)], key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut out = format!("{GENERATED}\n\n# The action's inputs and outputs\n\n");
    out.push_str(
        "As `action.yml` declares them. How each input becomes a flag, and a workflow \
         using them: [the GitHub Action](../how-to/github-action.md).\n\n## Inputs\n\n\
         | input | default | description |\n| --- | --- | --- |\n",
    );
    let inputs = action_section(&yaml, "inputs");
    assert!(inputs.len() > 10, "action.yml's inputs are read");
    for (name, fields) in &inputs {
        let default = field(fields, "default");
        let default = if default.is_empty() {
            String::new()
        } else {
            format!("`{default}`")
        };
        let _ = writeln!(
            out,
            "| `{name}` | {default} | {} |",
            cell(&field(fields, "description"))
        );
    }
    out.push_str("\n## Outputs\n\n| output | description |\n| --- | --- |\n");
    let outputs = action_section(&yaml, "outputs");
    assert!(outputs.len() > 5, "action.yml's outputs are read");
    for (name, fields) in &outputs {
        let _ = writeln!(
            out,
            "| `{name}` | {} |",
            cell(&field(fields, "description"))
        );
    }
    out
}

/// Every generated page: its path under the repository and its text.
fn generated() -> Vec<(PathBuf, String)> {
    let reference = Path::new("docs/src/reference");
    let mut pages = vec![
        (reference.join("cli.md"), cli_page()),
        (reference.join("codes.md"), codes_page()),
        (reference.join("action.md"), action_page()),
    ];
    for (name, schema) in schemas() {
        pages.push((reference.join(format!("schema/{name}.json")), schema));
    }
    pages
}

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

/// README.md, CONTRIBUTING.md and every Markdown page of the book.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![root().join("README.md"), root().join("CONTRIBUTING.md")];
    walk(&root().join("docs/src"), &mut files);
    files
}

/// Splits a shell line into words: quotes grouped, operators as words of their own.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut any) = (Vec::new(), String::new(), None, false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, '|' | ';' | '>' | '<' | '&' | '(' | ')') => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
                let mut op = c.to_string();
                while let Some(&next) = chars.peek() {
                    if matches!(next, '|' | '&' | '>') {
                        op.push(next);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push(op);
            }
            (None, '#') if word.is_empty() && !any => break,
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}

/// The `ecr-lambda …` invocations in a Markdown file's shell code blocks: (line number,
/// the arguments after `ecr-lambda`). A line ending in `\` continues.
fn command_lines(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    let (mut shell, mut fenced) = (false, false);
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            fenced = !fenced;
            shell = fenced && matches!(lang.trim(), "sh" | "bash" | "shell" | "console");
            continue;
        }
        if !shell {
            continue;
        }
        let (start, mut joined) = pending.take().unwrap_or((n + 1, String::new()));
        let body = trimmed.strip_prefix("$ ").unwrap_or(trimmed);
        if let Some(head) = body.strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            pending = Some((start, joined));
            continue;
        }
        joined.push_str(body);
        let words = shell_words(&joined);
        let mut at_command = true;
        for (i, word) in words.iter().enumerate() {
            if at_command && word == "ecr-lambda" {
                let args: Vec<String> = words[i + 1..]
                    .iter()
                    .take_while(|w| {
                        !matches!(w.as_str(), "|" | "||" | "&&" | ";" | ">" | ">>" | "<" | ")")
                    })
                    .cloned()
                    .collect();
                found.push((start, args));
            }
            at_command = matches!(word.as_str(), "|" | "||" | "&&" | ";" | "(" | "sudo")
                || (at_command && word.contains('=') && !word.starts_with('-'));
        }
    }
    found
}

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

/// A heading's anchor as mdBook makes it: lower case, letters, digits, `-` and `_`
/// kept, spaces to `-`, the rest dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            let heading = line.trim_start_matches('#');
            let mut s = slug(heading);
            // mdBook numbers repeated anchors: the first keeps the plain one.
            if out.contains(&s) {
                let mut n = 1;
                while out.contains(&format!("{s}-{n}")) {
                    n += 1;
                }
                s = format!("{s}-{n}");
            }
            out.insert(s);
        }
    }
    out
}

/// The targets of a page's Markdown links `[text](target)`, outside code.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Inline code is not a link.
        let line: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = line.as_str();
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let end = rest.find(')').unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    out
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

/// The tutorial's `ecr-lambda` lines in order, each with the exit code it shows (a
/// trailing `# exit N`, else 0).
fn tutorial_steps(text: &str) -> Vec<(Vec<String>, i32)> {
    let mut steps = Vec::new();
    for (line, args) in command_lines(text) {
        let source = text.lines().nth(line - 1).unwrap();
        let exit = source
            .split_once("# exit ")
            .map(|(_, n)| n.trim().parse().expect("# exit N"))
            .unwrap_or(0);
        steps.push((args, exit));
    }
    steps
}

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

/// The ways `value` breaks `schema` (a small JSON Schema reader: `$ref` into `$defs`,
/// `anyOf`/`oneOf`, `type`, `const`, `enum`, `properties`, `required`, `items`,
/// `additionalProperties`; an object's keys the schema does not name are errors too,
/// since the schemas must name every field the reports print).
fn violations(
    value: &serde_json::Value,
    schema: &serde_json::Value,
    root: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    use serde_json::Value;
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        return violations(value, &root["$defs"][name], root, at);
    }
    if schema == &Value::Bool(true) {
        return vec![];
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema[key].as_array() {
            if options
                .iter()
                .any(|o| violations(value, o, root, at).is_empty())
            {
                return vec![];
            }
            return vec![format!("{at}: {value} matches none of {key}")];
        }
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return vec![format!("{at}: {value} is not {c}")];
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(value)
    {
        return vec![format!("{at}: {value} is not one of {e:?}")];
    }
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !types.is_empty()
        && !types
            .iter()
            .any(|t| *t == kind || (*t == "number" && kind == "integer"))
    {
        return vec![format!("{at}: a {kind}, the schema says {types:?}")];
    }
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            let properties = schema["properties"].as_object();
            for (key, v) in map {
                match properties.and_then(|p| p.get(key)) {
                    Some(s) => out.extend(violations(v, s, root, &format!("{at}.{key}"))),
                    None => match schema.get("additionalProperties") {
                        Some(s) if s.is_object() => {
                            out.extend(violations(v, s, root, &format!("{at}.{key}")))
                        }
                        _ => out.push(format!("{at}.{key}: not in the schema")),
                    },
                }
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                if !map.contains_key(required.as_str().unwrap()) {
                    out.push(format!("{at}: {required} is required"));
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.extend(violations(v, &schema["items"], root, &format!("{at}[{i}]")));
            }
        }
        _ => {}
    }
    out
}

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
