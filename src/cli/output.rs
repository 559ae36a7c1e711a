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
use std::cell::Cell;
use std::io::{IsTerminal, Write};

use chrono::{DateTime, Local, SecondsFormat, Utc};
use serde::Serialize;

use super::table::{self, Col, Fit};
use crate::Error;
use crate::settings::Env;

/// `--color`: colour on stderr's `error:`, `hint:` and `warning:` prefixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// When stderr is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// Where output goes and how it is shown: decided once, at start.
#[derive(Debug, Clone)]
pub struct Look {
    /// `--json`: JSON on stdout, errors as JSON on stderr.
    pub json: bool,
    /// Stdout is a terminal: aligned tables and times in the local time zone. Otherwise
    /// tab-separated values and UTC.
    pub terminal: bool,
    /// The terminal's width in columns (only used on a terminal).
    pub width: usize,
    /// Colour on stderr's prefixes.
    pub color: bool,
    /// Stderr is a terminal: progress bars and per-target lines go there.
    pub stderr_terminal: bool,
}

/// The width of a terminal whose size is unknown or reported as 0.
pub const DEFAULT_WIDTH: usize = 80;

impl Look {
    /// From the process: its stdout and stderr, `COLUMNS`, `NO_COLOR` and `--color`. Debug
    /// builds honour `SMV_TEST_TERMINAL=1` (stdout and stderr count as terminals), so that
    /// the tests can pin what a person sees.
    pub fn detect(json: bool, color: ColorChoice, env: &Env) -> Look {
        let forced = cfg!(debug_assertions) && env.get("SMV_TEST_TERMINAL") == Some("1");
        let terminal = forced || std::io::stdout().is_terminal();
        let stderr_terminal = forced || std::io::stderr().is_terminal();
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => env.get("NO_COLOR").is_none() && std::io::stderr().is_terminal(),
        };
        let columns = env
            .get("COLUMNS")
            .and_then(|c| c.trim().parse::<usize>().ok());
        let asked = stdout_columns();
        Look {
            json,
            terminal,
            width: pick_width(columns, asked),
            color,
            stderr_terminal,
        }
    }
}

/// The columns stdout's terminal reports, whatever it says of its rows (a pseudo-terminal
/// may report 0 rows and 120 columns: its width is still 120).
#[cfg(unix)]
fn stdout_columns() -> Option<usize> {
    let out = std::io::stdout();
    if !rustix::termios::isatty(&out) {
        return None;
    }
    rustix::termios::tcgetwinsize(&out)
        .ok()
        .map(|w| usize::from(w.ws_col))
}

#[cfg(not(unix))]
fn stdout_columns() -> Option<usize> {
    terminal_size::terminal_size_of(std::io::stdout())
        .map(|(terminal_size::Width(w), _)| w as usize)
}

/// `COLUMNS` when it is a positive number, else what the terminal says when it says more
/// than 0 (a pseudo-terminal may report 0), else 80.
pub fn pick_width(columns: Option<usize>, terminal: Option<usize>) -> usize {
    columns
        .filter(|&c| c > 0)
        .or(terminal.filter(|&c| c > 0))
        .unwrap_or(DEFAULT_WIDTH)
}

/// Whether a progress display may draw: stderr is a terminal (really: not just forced for
/// the snapshots), so that pipes, files and CI logs never get one.
fn may_draw(out: &Out) -> bool {
    out.look.stderr_terminal && !cfg!(test) && std::io::stderr().is_terminal()
}

/// A progress bar for long counted work (verifying or exporting a big log, indexing it), on
/// stderr when it is a terminal, from 10,000 items; nothing otherwise.
pub(crate) fn progress(out: &Out) -> impl FnMut(u64, u64) + use<> {
    let mut bar: Option<indicatif::ProgressBar> = None;
    let tty = may_draw(out);
    move |n, total| {
        if !tty || total < 10_000 {
            return;
        }
        let b = bar.get_or_insert_with(|| indicatif::ProgressBar::new(total));
        if n % 4096 == 0 || n == total {
            b.set_position(n);
        }
        if n == total {
            b.finish_and_clear();
        }
    }
}

/// A spinner for long work that has no count (an offboarding is one change of the whole
/// vault: re-encryption to the remaining custodians, the read-back check, the fsyncs), on
/// stderr when it is a terminal, and only once the work has taken longer than a glance
/// (250 ms): quick work draws nothing. Dropping it clears the line.
pub(crate) struct Busy {
    done: Option<std::sync::mpsc::Sender<()>>,
    drawer: Option<std::thread::JoinHandle<()>>,
}

impl Busy {
    pub(crate) fn start(out: &Out, message: &str) -> Busy {
        if !may_draw(out) {
            return Busy {
                done: None,
                drawer: None,
            };
        }
        let message = escape(message).into_owned();
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let drawer = std::thread::spawn(move || {
            let glance = std::time::Duration::from_millis(250);
            if wait.recv_timeout(glance) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                return;
            }
            let spinner = indicatif::ProgressBar::new_spinner().with_message(message);
            spinner.enable_steady_tick(std::time::Duration::from_millis(100));
            // Returns when the work is done (the sender is dropped).
            let _ = wait.recv();
            spinner.finish_and_clear();
        });
        Busy {
            done: Some(done),
            drawer: Some(drawer),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(d) = self.drawer.take() {
            let _ = d.join();
        }
    }
}

/// Every byte smv prints goes through here.
pub struct Out {
    pub json: bool,
    look: Look,
    /// Stdout was closed by its reader (`smv audit log | head -1`), or a write to it failed:
    /// nothing more is written to it.
    closed: Cell<bool>,
    /// A write to stdout that failed for another reason than a closed pipe (a full disk,
    /// `> /dev/full`, an I/O error): the command finishes its action, then ends with it.
    write_error: std::cell::RefCell<Option<std::io::Error>>,
}

/// A command's result, one value for both audiences: `--json` prints it as serialised, a
/// person reads [`Render::human`]. Every command shows its result through [`Out::show`],
/// so the two forms come from one place instead of an `if json { … } else { … }` in each.
pub trait Render: Serialize {
    fn human(&self, out: &Out);
}

/// A value whose human form is a few sentences (`Added account x-main (outbox)`), or exact
/// text (a checkpoint, a key, an HMAC: printed as it is but for escapes), and whose JSON form
/// is the value itself.
#[derive(Serialize)]
#[serde(transparent)]
pub struct Said<'a, T: Serialize + ?Sized> {
    value: &'a T,
    #[serde(skip)]
    human: Words,
}

enum Words {
    Lines(Vec<String>),
    Exact(String),
}

impl<'a, T: Serialize + ?Sized> Said<'a, T> {
    pub fn new(value: &'a T, line: impl Into<String>) -> Self {
        Said::lines(value, vec![line.into()])
    }

    pub fn lines(value: &'a T, lines: Vec<String>) -> Self {
        Said {
            value,
            human: Words::Lines(lines),
        }
    }

    pub fn exact(value: &'a T, text: impl Into<String>) -> Self {
        Said {
            value,
            human: Words::Exact(text.into()),
        }
    }
}

impl<T: Serialize + ?Sized> Render for Said<'_, T> {
    fn human(&self, out: &Out) {
        match &self.human {
            Words::Lines(lines) => {
                for l in lines {
                    out.say(l);
                }
            }
            Words::Exact(text) => out.raw(text),
        }
    }
}

/// One value, or a list of them: `grant joe a` answers the grant (as it always did),
/// `grant joe a,b` the list. The human form is each one's.
pub struct OneOrMany<'a, T>(pub &'a [T]);

impl<T: Serialize> Serialize for OneOrMany<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            [one] => one.serialize(s),
            many => many.serialize(s),
        }
    }
}

impl<T: Render> Render for OneOrMany<'_, T> {
    fn human(&self, out: &Out) {
        for v in self.0 {
            v.human(out);
        }
    }
}

impl Out {
    /// Shows a result: JSON with `--json`, else its human form.
    pub fn show<T: Render + ?Sized>(&self, value: &T) {
        if self.json {
            self.json(value);
        } else {
            value.human(self);
        }
    }

    /// What a command is about to do, shown to a person before it asks: the human form;
    /// nothing with `--json` (whose output is the result alone).
    pub fn preview<T: Render + ?Sized>(&self, value: &T) {
        if !self.json {
            value.human(self);
        }
    }

    pub fn new(look: Look) -> Out {
        Out {
            json: look.json,
            look,
            closed: Cell::new(false),
            write_error: std::cell::RefCell::new(None),
        }
    }

    /// The first failed write to stdout other than a closed pipe, as the error the command
    /// ends with (exit 9): only a reader that went away is quiet.
    pub fn take_write_error(&self) -> Option<Error> {
        self.write_error.borrow_mut().take().map(stdout_error)
    }

    pub fn look(&self) -> &Look {
        &self.look
    }

    /// Writes lines to stdout. A closed pipe is remembered, not an error: the command goes
    /// on (an action half done would be worse) and ends with exit 0, as `rg | head` does.
    /// Any other failure is kept: the command goes on too, and then ends with it (exit 9).
    fn write_stdout(&self, text: &str) {
        if self.closed.get() {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let written = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
        if let Err(e) = written {
            self.closed.set(true);
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                self.write_error.borrow_mut().get_or_insert(e);
            }
        }
    }

    /// Writes to stderr; a failure to tell the user something cannot itself be told.
    fn write_stderr(&self, text: &str) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(text.as_bytes());
    }

    pub fn json<T: Serialize + ?Sized>(&self, value: &T) {
        self.write_stdout(&format!("{}\n", json_text(value)));
    }

    /// Exact text on stdout (a checkpoint, a key, completions), escaped but for its line
    /// breaks; printed in JSON mode too (the caller decides).
    pub fn raw(&self, text: &str) {
        self.write_stdout(&escape_lines(text));
    }

    /// A table; every cell is one line, escaped. On a terminal, aligned columns that fit
    /// its width, with times in the local time zone; piped, tab-separated values with a
    /// header line, times in UTC. Nothing in JSON mode (the JSON says it).
    pub fn table(&self, cols: &[Col], rows: Vec<Vec<String>>) {
        if self.json {
            return;
        }
        let (cols, rows) = self.cells(cols, rows);
        let lines = if self.look.terminal {
            table::aligned(&cols, &rows, self.look.width)
        } else {
            table::tsv(&cols, &rows)
        };
        self.lines(lines);
    }

    /// [`Out::table`], but on a terminal the last column is wrapped over several lines
    /// under its header instead of cut (piped: the same tab-separated values).
    pub fn table_wrapped(&self, cols: &[Col], rows: Vec<Vec<String>>) {
        if self.json {
            return;
        }
        let (cols, rows) = self.cells(cols, rows);
        let lines = if self.look.terminal {
            table::aligned_wrapped(&cols, &rows, self.look.width)
        } else {
            table::tsv(&cols, &rows)
        };
        self.lines(lines);
    }

    /// Whether [`Out::table`] shows every cell whole: piped always; on a terminal when the
    /// table fits its width without a cut. A command whose table would cut what matters
    /// shows another layout instead (`smv posts`, `smv access`).
    pub fn table_fits(&self, cols: &[Col], rows: &[Vec<String>]) -> bool {
        if !self.look.terminal {
            return true;
        }
        let (cols, rows) = self.cells(cols, rows.to_vec());
        table::fits(&cols, &rows, self.look.width)
    }

    /// The terminal's width in columns (80 when piped: a block layout's measure).
    pub fn width(&self) -> usize {
        self.look.width
    }

    /// The cells as shown: escaped, times for people (and on a terminal a shared offset in
    /// the header).
    fn cells(&self, cols: &[Col], rows: Vec<Vec<String>>) -> (Vec<Col>, Vec<Vec<String>>) {
        let mut cols = cols.to_vec();
        let fits: Vec<Fit> = cols.iter().map(|c| c.fit).collect();
        let mut rows: Vec<Vec<String>> = rows
            .into_iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .map(|(i, cell)| match fits.get(i) {
                        Some(Fit::Time) => self.time(cell),
                        _ => escape(cell).into_owned(),
                    })
                    .collect()
            })
            .collect();
        if self.look.terminal {
            // A time column whose times share one offset says it once, in its header.
            for (i, col) in cols.iter_mut().enumerate() {
                if col.fit == Fit::Time {
                    shared_offset(col, &mut rows, i);
                }
            }
        }
        (cols, rows)
    }

    fn lines(&self, lines: Vec<String>) {
        let mut text = String::new();
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
        self.write_stdout(&text);
    }

    /// A time for people, from its stored form (RFC 3339 UTC): whole seconds; on a
    /// terminal in the local time zone with its offset (`2026-12-02 14:18:47 +01:00`),
    /// otherwise UTC (`2026-12-02T13:18:47Z`). Anything that is not a time is shown as is,
    /// escaped.
    pub fn time(&self, stored: &str) -> String {
        match DateTime::parse_from_rfc3339(stored) {
            Ok(t) => show_time(t.with_timezone(&Utc), self.look.terminal),
            Err(_) => escape(stored).into_owned(),
        }
    }

    /// Lines for people on stdout; nothing in JSON mode (the JSON says it). A newline
    /// starts a new line; every other control or bidirectional character is escaped. Text
    /// of one line from others (a name, a reason) goes in through [`escape`] first.
    pub fn say(&self, text: impl AsRef<str>) {
        if !self.json {
            self.write_stdout(&format!("{}\n", escape_lines(text.as_ref())));
        }
    }

    /// A line for people on stderr (a progress line, where a file went), in JSON mode too.
    pub fn note(&self, text: impl AsRef<str>) {
        self.write_stderr(&format!("{}\n", escape_lines(text.as_ref())));
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        let prefix = if self.look.color {
            "\x1b[33mwarning:\x1b[0m"
        } else {
            "warning:"
        };
        self.write_stderr(&format!("{prefix} {}\n", escape(text.as_ref())));
    }

    pub fn error(&self, err: &Error) {
        let class = err.class();
        self.error_parts(
            class.name(),
            class.exit_code(),
            &err.to_string(),
            err.hint(),
        );
    }

    /// An error from its parts (clap's usage errors have no [`Error`]).
    pub fn error_parts(&self, class: &str, exit_code: i32, message: &str, hint: Option<String>) {
        if self.json {
            let value = serde_json::json!({
                "error": {
                    "class": class,
                    "exit_code": exit_code,
                    "message": message,
                    "hint": hint,
                }
            });
            self.write_stderr(&format!("{}\n", json_line(&value)));
            return;
        }
        let (red, bold, reset) = if self.look.color {
            ("\x1b[31;1m", "\x1b[1m", "\x1b[0m")
        } else {
            ("", "", "")
        };
        let mut text = format!("{red}error:{reset} {}\n", escape(message));
        if let Some(hint) = hint {
            text.push_str(&format!("  {bold}hint:{reset} {}\n", escape(&hint)));
        }
        self.write_stderr(&text);
    }
}

/// A question on stderr, before reading the answer (escaped: it may name things from others).
pub fn prompt(question: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(escape(question).as_bytes());
    let _ = stderr.flush();
}

/// When every time in column `i` has the same offset (`… +01:00`), the offset moves to the
/// header (`time (+01:00)`) and the cells keep date and clock: 7 columns a row saved.
fn shared_offset(col: &mut Col, rows: &mut [Vec<String>], i: usize) {
    let offset = |cell: &str| -> Option<String> {
        let (head, zone) = cell.rsplit_once(' ')?;
        (head.len() == 19 && DateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S %:z").is_ok())
            .then(|| zone.to_string())
    };
    let mut shared: Option<String> = None;
    for row in rows.iter() {
        let Some(cell) = row.get(i) else { continue };
        match (offset(cell), &shared) {
            (Some(z), None) => shared = Some(z),
            (Some(z), Some(s)) if &z == s => {}
            (Some(_), Some(_)) => return,
            // Not a time (`-`, `never`): no offset to share.
            (None, _) => {}
        }
    }
    let Some(zone) = shared else { return };
    for row in rows.iter_mut() {
        if let Some(cell) = row.get_mut(i)
            && offset(cell).is_some()
        {
            cell.truncate(19);
        }
    }
    *col = Col::named(format!("{} ({zone})", col.name), Fit::Time);
}

/// A failed write to standard output as the error a command ends with: the action itself
/// is done (what it changed is recorded), only its report was lost.
pub fn stdout_error(e: std::io::Error) -> Error {
    let why = match e.kind() {
        std::io::ErrorKind::StorageFull => "the disk it goes to is full",
        _ => "where it goes refused the write",
    };
    Error::io("write", "standard output", e).with_hint(format!(
        "{why}: the command itself finished (what it changed is recorded; `smv audit log` shows it), only its output was lost; send the output somewhere that can take it and run the command again if it only shows something"
    ))
}

/// Whether an error is a write to a reader that went away (`smv audit export | head`).
pub fn is_broken_pipe(e: &Error) -> bool {
    match e {
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::BrokenPipe,
        _ => false,
    }
}

/// A time as [`Out::time`] shows it: local with offset on a terminal, else UTC.
pub fn show_time(t: DateTime<Utc>, local: bool) -> String {
    if local {
        t.with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string()
    } else {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
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
