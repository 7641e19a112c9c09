//! The reference pages the code generates (docs/src/reference/): the CLI from clap,
//! the problem codes and error kinds from their enums' doc comments, a JSON Schema of
//! each report (schemars), the action's inputs and outputs from action.yml.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use ecr_lambda::cli::Cli;

use super::root;

pub const GENERATED: &str = "<!-- Generated from the code by tests/docs.rs: do not edit. \
                         Regenerate with `ECR_LAMBDA_BLESS=1 cargo test --test docs`. -->";

/// Markdown table cell text: one line, `|` escaped.
pub fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// Text from action.yml as Markdown: `<` and `>` outside code spans written as
/// entities, so `lambda.<function>.<version>` shows as written instead of being read
/// as HTML tags (which the book would drop).
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// Every command, nested ones included, with its full name (`ecr-lambda release status`).
pub fn commands(cmd: &clap::Command, path: &str, all: &mut Vec<(String, clap::Command)>) {
    all.push((path.to_owned(), cmd.clone()));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        commands(sub, &format!("{path} {}", sub.get_name()), all);
    }
}

/// How an argument is written: `--wait-timeout <SECONDS>`, `-v, --verbose`, `<IMAGE>`.
pub fn spelling(arg: &clap::Arg) -> String {
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

pub fn arguments_table(out: &mut String, args: &[&clap::Arg]) {
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
pub fn cli_page() -> String {
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
pub fn enum_docs(file: &str, name: &str) -> Vec<(String, String, String)> {
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
pub fn schema_names<T: schemars::JsonSchema>() -> BTreeSet<String> {
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
pub fn codes_page() -> String {
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
pub fn schemas() -> Vec<(&'static str, String)> {
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
        (
            "retain",
            pretty(schemars::schema_for!(retain::RetainReport)),
        ),
        ("prune", pretty(schemars::schema_for!(retain::PruneReport))),
        ("whoami", pretty(schemars::schema_for!(WhoamiReport))),
        ("error", pretty(schemars::schema_for!(ErrorReport<'static>))),
    ]
}

/// A scalar of action.yml: quotes removed (the file uses plain and double-quoted ones).
pub fn yaml_scalar(value: &str) -> String {
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
pub fn action_section(yaml: &str, section: &str) -> Vec<(String, Vec<(String, String)>)> {
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
pub fn action_page() -> String {
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
            markdown_text(&cell(&field(fields, "description")))
        );
    }
    out.push_str("\n## Outputs\n\n| output | description |\n| --- | --- |\n");
    let outputs = action_section(&yaml, "outputs");
    assert!(outputs.len() > 5, "action.yml's outputs are read");
    for (name, fields) in &outputs {
        let _ = writeln!(
            out,
            "| `{name}` | {} |",
            markdown_text(&cell(&field(fields, "description")))
        );
    }
    out
}

/// Every generated page: its path under the repository and its text.
pub fn generated() -> Vec<(PathBuf, String)> {
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
