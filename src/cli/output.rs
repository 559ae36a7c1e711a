//! Rendering: tables for people, JSON for scripts, errors with their hints.
//!
//! What is shown is what is acted on: text that came from other people or a network (a
//! draft's text, names, reasons, audit targets, a server's message) can carry control and
//! bidirectional characters that make a terminal show something else than the bytes that
//! are approved and sent (`BUY SCAM\rOur Q3 results` shows only its harmless half). Every
//! renderer goes through [`Out`], which escapes them visibly with [`escape`]: table cells,
//! lines, warnings and errors. `--json` keeps the exact data (it is what is hashed and
//! sent); its printer writes those characters as `\uXXXX` escapes, which are the same JSON
//! string, so a terminal shows them as escapes too.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use crate::Error;

pub struct Out {
    pub json: bool,
    color: bool,
}

impl Out {
    pub fn new(json: bool, no_color: bool) -> Out {
        Out {
            json,
            color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    pub fn json<T: Serialize + ?Sized>(&self, value: &T) {
        println!("{}", json_text(value));
    }

    /// A table; every cell is one line, escaped.
    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_HORIZONTAL_ONLY)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(header.iter().copied());
        for row in rows {
            table.add_row(row.iter().map(|cell| escape(cell).into_owned()));
        }
        println!("{table}");
    }

    /// Lines for people on stdout; nothing in JSON mode (the JSON says it). A newline
    /// starts a new line; every other control or bidirectional character is escaped. Text
    /// of one line from others (a name, a reason) goes in through [`escape`] first.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.json {
            println!("{}", escape_lines(text.as_ref()));
        }
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        let prefix = if self.color {
            "\x1b[33mwarning:\x1b[0m"
        } else {
            "warning:"
        };
        eprintln!("{prefix} {}", escape(text.as_ref()));
    }

    pub fn error(&self, err: &Error) {
        let class = err.class();
        let hint = err.hint();
        if self.json {
            let value = serde_json::json!({
                "error": {
                    "class": class.name(),
                    "exit_code": class.exit_code(),
                    "message": err.to_string(),
                    "hint": hint,
                }
            });
            let _ = writeln!(std::io::stderr(), "{}", json_line(&value));
            return;
        }
        let (red, bold, reset) = if self.color {
            ("\x1b[31;1m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        eprintln!("{red}error:{reset} {}", escape(&err.to_string()));
        if let Some(hint) = hint {
            eprintln!("  {bold}hint:{reset} {}", escape(&hint));
        }
    }
}

/// Characters that change what a terminal shows instead of showing themselves: the control
/// characters (C0, DEL, C1), the bidirectional controls (which reorder what follows), and
/// the line and paragraph separators.
fn hides(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
                | '\u{2028}' | '\u{2029}'
        )
}

fn escape_with(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| hides(c) && !(keep_newlines && c == '\n')) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' if keep_newlines => out.push('\n'),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if hides(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The one escaping function for text shown to people: control and bidirectional
/// characters become visible escapes (`\r`, `\n`, `\t`, `\u{1b}`, `\u{202e}`), so that a
/// terminal shows every byte that will be acted on. For one line (a table cell, a name).
pub fn escape(s: &str) -> Cow<'_, str> {
    escape_with(s, false)
}

/// [`escape`], keeping line breaks: for text of several lines (a draft's text).
pub fn escape_lines(s: &str) -> Cow<'_, str> {
    escape_with(s, true)
}

/// JSON as smv prints it: pretty, exact (it parses to the very same strings), with the
/// characters [`escape`] makes visible written as `\uXXXX` (serde escapes C0 already; this
/// adds DEL, C1, the bidirectional controls and the separators).
pub fn json_text<T: Serialize + ?Sized>(value: &T) -> String {
    write_json(value, SafeJson(serde_json::ser::PrettyFormatter::new()))
}

/// [`json_text`] on one line (errors on stderr).
pub fn json_line<T: Serialize + ?Sized>(value: &T) -> String {
    write_json(value, SafeJson(serde_json::ser::CompactFormatter))
}

fn write_json<T: Serialize + ?Sized, F: serde_json::ser::Formatter>(value: &T, f: F) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, f);
    value
        .serialize(&mut ser)
        .expect("output types always serialise");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// A formatter that writes the characters that hide as `\uXXXX` escapes and delegates the
/// rest (layout) to the inner one.
struct SafeJson<F>(F);

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $name<W: ?Sized + std::io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> std::io::Result<()> {
                self.0.$name(w $(, $arg)*)
            }
        )*
    };
}

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeJson<F> {
    delegate! {
        begin_array();
        end_array();
        begin_array_value(first: bool);
        end_array_value();
        begin_object();
        end_object();
        begin_object_key(first: bool);
        end_object_key();
        begin_object_value();
        end_object_value();
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if hides(c) {
                w.write_all(&fragment.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{:04x}", u)?;
                }
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// A fingerprint for display: the algorithm and the first 16 hex digits.
pub fn short_fingerprint(fp: &Option<String>) -> String {
    match fp {
        Some(f) => format!("hmac:{}", &f[..f.len().min(16)]),
        None => "-".into(),
    }
}

pub fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_shown_as_escapes() {
        let scam = "BUY SCAM http://evil\rOur Q3 results\u{2026}";
        assert_eq!(
            escape(scam),
            "BUY SCAM http://evil\\rOur Q3 results\u{2026}"
        );
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(escape("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(escape("x\u{9b}y\u{7f}"), "x\\u{9b}y\\u{7f}");
        assert_eq!(escape("one\ntwo\tthree"), "one\\ntwo\\tthree");
        assert_eq!(escape_lines("one\ntwo\r"), "one\ntwo\\r");
        assert_eq!(escape("\u{2028}\u{2066}"), "\\u{2028}\\u{2066}");
        // Ordinary text, emoji with joiners and non-Latin scripts pass untouched.
        for fine in [
            "Release 2.1 \u{1f389}",
            "\u{1f468}\u{200d}\u{1f4bb}",
            "\u{65e5}\u{672c}",
            "caf\u{e9}",
        ] {
            assert!(matches!(escape(fine), Cow::Borrowed(_)), "{fine}");
        }
    }

    #[test]
    fn json_keeps_the_exact_data_with_hiding_characters_escaped() {
        let data = serde_json::json!({"text": "a\u{202e}b\u{9b}c\rd\u{1f389}\u{7f}"});
        for text in [json_text(&data), json_line(&data)] {
            assert!(
                text.contains("\\u202e") && text.contains("\\u009b") && text.contains("\\u007f"),
                "{text}"
            );
            assert!(!text.chars().any(|c| hides(c) && c != '\n'), "{text:?}");
            let back: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(back, data, "the same data");
        }
        assert!(!json_line(&data).chars().any(hides));
    }
}
