//! Rendering: tables for people, JSON for scripts, errors with their hints.

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
        let text = serde_json::to_string_pretty(value).expect("output types always serialise");
        println!("{text}");
    }

    pub fn table(&self, header: &[&str], rows: Vec<Vec<String>>) {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_HORIZONTAL_ONLY)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(header.iter().copied());
        for row in rows {
            table.add_row(row);
        }
        println!("{table}");
    }

    /// A line for people on stdout; nothing in JSON mode (the JSON says it).
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.json {
            println!("{}", text.as_ref());
        }
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        let prefix = if self.color {
            "\x1b[33mwarning:\x1b[0m"
        } else {
            "warning:"
        };
        eprintln!("{prefix} {}", text.as_ref());
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
            let _ = writeln!(std::io::stderr(), "{value}");
            return;
        }
        let (red, bold, reset) = if self.color {
            ("\x1b[31;1m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        eprintln!("{red}error:{reset} {err}");
        if let Some(hint) = hint {
            eprintln!("  {bold}hint:{reset} {hint}");
        }
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
