//! Laying out a table: compact aligned columns on a terminal, tab-separated values when
//! piped. Pure (no I/O): the width and the mode are given, so every case is unit-tested.
//!
//! On a terminal the table fits the width it is given: each column first gets its widest
//! cell; if the line is too long, the columns that hold free text (details, reasons, texts,
//! URLs) give way, the widest first, and their cells are cut with `…`. Ids, names, times and
//! numbers are never cut or wrapped: a table never wraps a cell over two lines, and there is
//! no rule between rows (the layout of `gh` and `kubectl`). Piped, the table is one header
//! line and one line per row, the cells separated by a tab, ready for `cut -f`, `awk -F'\t'`
//! and `grep`: cells never hold a tab or a line break (the caller escaped them).

use std::borrow::Cow;

use unicode_width::UnicodeWidthChar;

/// How a column behaves when the table is too wide for the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Never cut: ids, names, numbers, statuses.
    Keep,
    /// A time (stored form): shown in the terminal's time zone, never cut.
    Time,
    /// Free text: cut with `…` when the table does not fit.
    Flex,
}

#[derive(Debug, Clone)]
pub struct Col {
    pub name: Cow<'static, str>,
    pub fit: Fit,
}

impl Col {
    /// A column named at run time (an account in `smv access`).
    pub fn named(name: String, fit: Fit) -> Col {
        Col {
            name: Cow::Owned(name),
            fit,
        }
    }
}

pub const fn keep(name: &'static str) -> Col {
    Col {
        name: Cow::Borrowed(name),
        fit: Fit::Keep,
    }
}

pub const fn time(name: &'static str) -> Col {
    Col {
        name: Cow::Borrowed(name),
        fit: Fit::Time,
    }
}

pub const fn flex(name: &'static str) -> Col {
    Col {
        name: Cow::Borrowed(name),
        fit: Fit::Flex,
    }
}

/// The gap between two columns on a terminal.
const GAP: usize = 2;
/// A free-text column is not cut below its header's width, nor below this.
const FLEX_MIN: usize = 5;

/// The display width of a cell (East Asian wide characters count two columns).
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// `s` cut to at most `max` columns, ending in `…` when cut.
pub fn cut(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// The header as scripts read it: lower case, words joined by `_` (`post_id`).
fn tsv_name(name: &str) -> String {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("_")
        .to_lowercase()
}

/// Tab-separated values: a header line, then one line per row.
pub fn tsv(cols: &[Col], rows: &[Vec<String>]) -> Vec<String> {
    let mut lines = Vec::with_capacity(rows.len() + 1);
    lines.push(
        cols.iter()
            .map(|c| tsv_name(&c.name))
            .collect::<Vec<_>>()
            .join("\t"),
    );
    for row in rows {
        lines.push(row.join("\t"));
    }
    lines
}

/// The width each column gets so that the table fits `total` columns, if it can without
/// cutting a column that must stay whole.
pub fn widths(cols: &[Col], rows: &[Vec<String>], total: usize) -> Vec<usize> {
    let mut w: Vec<usize> = cols.iter().map(|c| width(&c.name)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols.len()) {
            w[i] = w[i].max(width(cell));
        }
    }
    let line = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
    let floor: Vec<usize> = cols
        .iter()
        .zip(&w)
        .map(|(c, &natural)| match c.fit {
            Fit::Flex => natural.min(FLEX_MIN.max(width(&c.name))),
            Fit::Keep | Fit::Time => natural,
        })
        .collect();
    let mut excess = line(&w).saturating_sub(total);
    while excess > 0 {
        // The widest column that can still give way gives one column.
        let Some(i) = (0..w.len())
            .filter(|&i| w[i] > floor[i])
            .max_by_key(|&i| (w[i], std::cmp::Reverse(i)))
        else {
            break;
        };
        w[i] -= 1;
        excess -= 1;
    }
    w
}

/// The width of the table's longest line with every cell whole.
pub fn natural_width(cols: &[Col], rows: &[Vec<String>]) -> usize {
    let mut w: Vec<usize> = cols.iter().map(|c| width(&c.name)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols.len()) {
            w[i] = w[i].max(width(cell));
        }
    }
    w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1)
}

/// Whether the table fits `total` columns without cutting a cell.
pub fn fits(cols: &[Col], rows: &[Vec<String>], total: usize) -> bool {
    natural_width(cols, rows) <= total
}

/// `text` (one line) in lines of at most `max` columns, broken at spaces. A word longer
/// than `max` is never cut: it has a line of its own, longer than `max` (a URL stays whole,
/// for a terminal to soft-wrap and a reader to copy). Nothing is lost: the lines joined
/// with single spaces give back the text with its runs of spaces made one at each break.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if line.is_empty() {
            line.push_str(word);
        } else if width(&line) + 1 + width(word) <= max {
            line.push(' ');
            line.push_str(word);
        } else {
            lines.push(std::mem::take(&mut line));
            line.push_str(word);
        }
    }
    lines.push(line);
    lines
}

/// Aligned columns for a terminal `total` columns wide whose last column is wrapped over
/// as many lines as it needs, under its header, instead of cut: for a list whose last cell
/// is long (a member's grants). The other columns keep their whole width.
pub fn aligned_wrapped(cols: &[Col], rows: &[Vec<String>], total: usize) -> Vec<String> {
    let n = cols.len();
    let mut w: Vec<usize> = cols.iter().map(|c| width(&c.name)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(n.saturating_sub(1)) {
            w[i] = w[i].max(width(cell));
        }
    }
    let indent: usize = w[..n.saturating_sub(1)].iter().map(|x| x + GAP).sum();
    let room = total.saturating_sub(indent).max(FLEX_MIN * 4);
    let pad = |out: &mut String, cell: &str, i: usize| {
        out.push_str(cell);
        out.extend(std::iter::repeat_n(' ', w[i] - width(cell) + GAP));
    };
    let mut lines = Vec::with_capacity(rows.len() + 1);
    let mut head = String::new();
    for (i, c) in cols.iter().enumerate() {
        if i + 1 < n {
            pad(&mut head, &c.name.to_uppercase(), i);
        } else {
            head.push_str(&c.name.to_uppercase());
        }
    }
    lines.push(head.trim_end().to_string());
    for row in rows {
        let mut first = String::new();
        for (i, cell) in row.iter().enumerate().take(n.saturating_sub(1)) {
            pad(&mut first, cell, i);
        }
        let last = row.get(n.saturating_sub(1)).map_or("", String::as_str);
        for (k, part) in wrap(last, room).into_iter().enumerate() {
            let mut line = if k == 0 {
                std::mem::take(&mut first)
            } else {
                " ".repeat(indent)
            };
            line.push_str(&part);
            lines.push(line.trim_end().to_string());
        }
    }
    lines
}

/// Aligned columns for a terminal `total` columns wide: an upper-case header, then the rows;
/// long free-text cells cut with `…`; no trailing spaces.
pub fn aligned(cols: &[Col], rows: &[Vec<String>], total: usize) -> Vec<String> {
    let w = widths(cols, rows, total);
    let line = |cells: &mut dyn Iterator<Item = String>| {
        let mut out = String::new();
        let cells: Vec<String> = cells.collect();
        let last = cells.len().saturating_sub(1);
        for (i, cell) in cells.iter().enumerate() {
            let shown = cut(cell, w[i]);
            out.push_str(&shown);
            if i < last {
                out.extend(std::iter::repeat_n(' ', w[i] - width(&shown) + GAP));
            }
        }
        out.trim_end().to_string()
    };
    let mut lines = Vec::with_capacity(rows.len() + 1);
    lines.push(line(&mut cols.iter().map(|c| c.name.to_uppercase())));
    for row in rows {
        lines.push(line(&mut row.iter().take(cols.len()).cloned()));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter()
            .map(|row| row.iter().map(|c| c.to_string()).collect())
            .collect()
    }

    #[test]
    fn a_table_that_fits_is_aligned_with_two_spaces_and_no_rules() {
        let cols = [keep("id"), keep("account"), flex("text")];
        let lines = aligned(
            &cols,
            &rows(&[&["d1", "x-main", "hello"], &["d22", "demo", "hi"]]),
            80,
        );
        assert_eq!(
            lines,
            [
                "ID   ACCOUNT  TEXT",
                "d1   x-main   hello",
                "d22  demo     hi"
            ]
        );
    }

    #[test]
    fn free_text_gives_way_and_is_cut_with_an_ellipsis_names_and_times_never() {
        let cols = [
            keep("seq"),
            time("time"),
            keep("actor"),
            flex("details"),
            flex("target"),
        ];
        let long = "x".repeat(300);
        let r = rows(&[&[
            "1",
            "2026-12-02 13:18:47 +01:00",
            "alice-the-admin",
            &long,
            "account:x-main",
        ]]);
        for total in [70, 80, 120] {
            let lines = aligned(&cols, &r, total);
            for l in &lines {
                assert!(width(l) <= total, "{total}: {l}");
            }
            let row = &lines[1];
            assert!(row.contains("2026-12-02 13:18:47 +01:00"), "{row}");
            assert!(row.contains("alice-the-admin"), "{row}");
            assert!(row.contains('…'), "{row}");
            if total >= 80 {
                assert!(
                    row.contains("account:x-main"),
                    "the shorter one stays: {row}"
                );
            }
        }
    }

    #[test]
    fn when_even_the_kept_columns_do_not_fit_the_line_is_longer_never_wrapped() {
        let cols = [keep("a"), keep("b")];
        let r = rows(&[&["aaaaaaaaaa", "bbbbbbbbbb"]]);
        let lines = aligned(&cols, &r, 5);
        assert_eq!(lines[1], "aaaaaaaaaa  bbbbbbbbbb");
        assert_eq!(lines.len(), 2);
    }

    #[test]
    fn wide_characters_count_two_columns() {
        assert_eq!(width("日本"), 4);
        assert_eq!(cut("日本語のテキスト", 5), "日本…");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abc", 0), "");
        let cols = [keep("a"), flex("b")];
        let lines = aligned(&cols, &rows(&[&["日本", "x"]]), 80);
        assert_eq!(lines, ["A     B", "日本  x"]);
    }

    #[test]
    fn piped_tables_are_tab_separated_with_a_header_for_scripts() {
        let cols = [
            keep("seq"),
            flex("post id / error"),
            time("added by / when"),
        ];
        let lines = tsv(&cols, &rows(&[&["1", "p 1", "t"]]));
        assert_eq!(lines, ["seq\tpost_id_error\tadded_by_when", "1\tp 1\tt"]);
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_never_cuts_a_word() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("aa bb cc", 80), ["aa bb cc"]);
        let url = format!("https://example.com/{}", "x".repeat(90));
        let lines = wrap(&format!("see {url} now"), 20);
        assert_eq!(lines, ["see".to_string(), url.clone(), "now".to_string()]);
        assert_eq!(wrap("", 10), [""]);
        // Nothing is lost: joined again, the text comes back.
        let text = "Release 2.1 is out: faster sync, fewer clicks, and a long tail of fixes";
        for max in [1, 10, 30, 79] {
            let lines = wrap(text, max);
            assert_eq!(lines.join(" "), text, "{max}");
            for l in &lines {
                assert!(width(l) <= max || !l.contains(' '), "{max}: {l}");
            }
        }
        // Wide characters count two columns.
        assert_eq!(wrap("日本 日本 日本", 9), ["日本 日本", "日本"]);
    }

    #[test]
    fn a_wrapped_last_column_continues_under_its_header() {
        let cols = [keep("member"), keep("role"), flex("grants")];
        let r = rows(&[
            &[
                "alice",
                "admin",
                "a:post b:post c:post d:post e:post f:post g:post",
            ],
            &["bob", "member", "-"],
        ]);
        let lines = aligned_wrapped(&cols, &r, 40);
        assert_eq!(
            lines,
            [
                "MEMBER  ROLE    GRANTS",
                "alice   admin   a:post b:post c:post",
                "                d:post e:post f:post",
                "                g:post",
                "bob     member  -",
            ]
        );
        for l in &lines {
            assert!(width(l) <= 40, "{l}");
        }
        assert!(fits(&cols, &r, 64));
        assert!(!fits(&cols, &r, 63));
    }

    #[test]
    fn the_widest_flex_column_gives_way_first() {
        let cols = [flex("a"), flex("b")];
        let a = "a".repeat(40);
        let b = "b".repeat(20);
        let w = widths(&cols, &rows(&[&[&a, &b]]), 42);
        assert_eq!(w, [20, 20]);
        let w = widths(&cols, &rows(&[&[&a, &b]]), 30);
        assert_eq!(w, [14, 14]);
    }
}
