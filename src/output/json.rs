//! JSON output: the exact text, in bytes a terminal cannot be driven by.
//!
//! serde_json escapes what JSON requires (C0 controls, `"` and `\`) and writes every
//! other character as it is, C1 controls and bidi overrides included: a report piped
//! to a terminal would still carry them. Here each character [`crate::text`] escapes
//! is written as a JSON `\uXXXX` escape instead: the value a JSON reader gets is the
//! same, character for character, and the bytes hold nothing a terminal obeys.

use std::io;

use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter, PrettyFormatter};

/// `value` as JSON, indented (`--output json`) or on one line (`jsonl`).
pub fn to_json<T: Serialize + ?Sized>(value: &T, pretty: bool) -> serde_json::Result<String> {
    let mut out = Vec::new();
    if pretty {
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            Escaping(PrettyFormatter::new()),
        ))?;
    } else {
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut out,
            Escaping(CompactFormatter),
        ))?;
    }
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// A formatter that lays out as `F` does and escapes what [`crate::text`] escapes.
struct Escaping<F>(F);

impl<F: Formatter> Formatter for Escaping<F> {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest
            .char_indices()
            .find(|(_, c)| crate::text::needs_escape(*c))
        {
            writer.write_all(&rest.as_bytes()[..at])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(writer, "\\u{unit:04x}")?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    // The layout is `F`'s: every method it may override, passed on.
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_is_exact_and_the_bytes_hold_no_control() {
        let evil = "src\u{1b}]0;t\u{7}\n\u{202e}\u{9b}2J \u{1F600} café";
        let value = serde_json::json!({"source": evil, "list": [evil, 1]});
        for pretty in [true, false] {
            let text = to_json(&value, pretty).unwrap();
            assert!(
                !text
                    .chars()
                    .any(|c| c != '\n' && crate::text::needs_escape(c)),
                "{text}"
            );
            assert!(text.contains("\\u202e\\u009b2J \u{1F600} café"), "{text}");
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, value);
        }
        // The layout is serde_json's own.
        assert_eq!(
            to_json(&value, true)
                .unwrap()
                .replace("\\u202e\\u009b", "\u{202e}\u{9b}"),
            serde_json::to_string_pretty(&value).unwrap()
        );
        assert_eq!(
            to_json(&value, false)
                .unwrap()
                .replace("\\u202e\\u009b", "\u{202e}\u{9b}"),
            serde_json::to_string(&value).unwrap()
        );
    }
}
