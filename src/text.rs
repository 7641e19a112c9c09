//! Text from outside (attestations, manifests, AWS messages, a function's log lines,
//! tags and descriptions), made safe to show: the one function every text renderer
//! and the alias-description writer passes it through. JSON output does not: it
//! carries the exact text, and JSON's own escapes already make it inert.
//!
//! Anyone who can push to a repository can write an attestation, and its
//! `vcs.source` reaches a terminal, an alias description and a job summary. A raw
//! `ESC ] 0 ; … BEL` retitles the terminal, `ESC [ 2 J` clears it, a newline forges
//! a report line of its own and a bidi override shows text in an order other than
//! the one it has. Each such character is therefore shown as `\u{XX}` (the form
//! Rust's `char::escape_unicode` writes): visible, the same everywhere, and never
//! an instruction to whatever displays it.
//!
//! No I/O and no imports: `manifest/` (pure) uses it for alias descriptions.

use std::borrow::Cow;
use std::fmt;

/// Whether `c` is escaped: C0 controls (newline and tab included), DEL, C1
/// controls (ESC's 8-bit forms among them), the bidi embeddings, overrides,
/// isolates and marks, the line and paragraph separators (which some terminals
/// break a line at), and the zero-width characters that hide text.
pub fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `text` with every character [`needs_escape`] names written as `\u{XX}`;
/// borrowed when there is none (the usual case).
pub fn safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Displays its text through [`safe`]: `format!("{}", Safe(outside))`.
#[derive(Clone, Copy, Debug)]
pub struct Safe<'a>(pub &'a str);

impl fmt::Display for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&safe(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_newlines_and_bidi_are_shown_not_obeyed() {
        let evil = "https://github.com/org/app\u{1b}]0;owned\u{7}\u{1b}[2J\nverified: passed\u{202E}txt.exe\u{9b}31m";
        let shown = safe(evil);
        assert_eq!(
            shown,
            "https://github.com/org/app\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{a}verified: passed\\u{202e}txt.exe\\u{9b}31m"
        );
        assert!(!shown.chars().any(needs_escape), "{shown}");
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        for plain in [
            "https://github.com/org/app",
            "café ☕ 日本",
            "a|b*c_`d`",
            "",
        ] {
            assert!(matches!(safe(plain), Cow::Borrowed(p) if p == plain));
        }
        assert_eq!(Safe("tab\there").to_string(), "tab\\u{9}here");
        assert_eq!(safe("\r\u{0}\u{7f}\u{85}"), "\\u{d}\\u{0}\\u{7f}\\u{85}");
        assert_eq!(
            safe("\u{2066}\u{2069}\u{200b}\u{feff}\u{2028}"),
            "\\u{2066}\\u{2069}\\u{200b}\\u{feff}\\u{2028}"
        );
    }
}
