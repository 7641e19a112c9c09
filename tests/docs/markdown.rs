//! Reading the docs' Markdown: the files, the `ecr-lambda` command lines in their shell
//! blocks, their links and the anchors of their headings.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::root;

/// README.md, CONTRIBUTING.md and every Markdown page of the book.
pub fn markdown_files() -> Vec<PathBuf> {
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
pub fn shell_words(line: &str) -> Vec<String> {
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
pub fn command_lines(text: &str) -> Vec<(usize, Vec<String>)> {
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

/// A heading's anchor as mdBook makes it: lower case, letters, digits, `-` and `_`
/// kept, spaces to `-`, the rest dropped.
pub fn slug(heading: &str) -> String {
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

pub fn anchors(text: &str) -> BTreeSet<String> {
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
pub fn links(text: &str) -> Vec<String> {
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

/// The tutorial's `ecr-lambda` lines in order, each with the exit code it shows (a
/// trailing `# exit N`, else 0).
pub fn tutorial_steps(text: &str) -> Vec<(Vec<String>, i32)> {
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
