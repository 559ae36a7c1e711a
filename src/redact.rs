//! Redaction of text that came from a network: every form of every secret in it becomes
//! `[REDACTED]`.
//!
//! Providers first keep only the few fields of an answer that mean something (see
//! `providers::answer`); what is left goes through a [`Redactor`] that knows every value the
//! request was built from — the secret as stored, and what the code derived from it: each
//! part of a webhook URL, each token of a structured credential, each header value.
//!
//! A network can echo a value in many shapes, so each value is looked for
//! - raw (in any ASCII case: host names come back lower-cased), as lower- or upper-case
//!   hex, and as base64 at each of the three byte alignments
//!   (the value can sit at any offset of an encoded header such as `Basic base64(id:secret)`;
//!   standard and URL-safe alphabets; padding never falls inside the value), and
//! - in several views of the text: as it is; with one and with two layers of escapes decoded
//!   (percent-escapes of either case, `+` as a space, HTML character references, backslash
//!   escapes such as `\/`, `\x41`, `\u0041`); and each of these with control and invisible
//!   format characters removed (a value split by them, base64 wrapped over lines).
//!
//! A match in a view redacts the stretch of the original text it came from. Values shorter
//! than [`MIN_SECRET_LEN`] are not looked for (they would mangle ordinary words), which is
//! why shorter secrets are refused at input. Text longer than [`MAX_TEXT`] is not redacted
//! but withheld by the callers: a cut could split a value and leave a piece of it.

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::secret::{MIN_SECRET_LEN, Secret};

pub const REDACTED: &str = "[REDACTED]";
/// The longest text [`Redactor::redact`] is asked to clean; callers withhold longer ones.
pub const MAX_TEXT: usize = 4096;

enum Needle<'a> {
    Borrowed(&'a [u8]),
    Owned(Zeroizing<Vec<u8>>),
}

impl Needle<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Needle::Borrowed(b) => b,
            Needle::Owned(b) => b,
        }
    }
}

/// The values one request was built from, to be redacted from whatever its answer says.
#[derive(Default)]
pub struct Redactor<'a> {
    needles: Vec<Needle<'a>>,
}

impl std::fmt::Debug for Redactor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.needles.len())
    }
}

impl<'a> Redactor<'a> {
    pub fn new() -> Redactor<'a> {
        Redactor::default()
    }

    /// A stored secret: its canonical form and, for a vault written by an older smv, the
    /// form stored there.
    pub fn secret(&mut self, secret: &'a Secret) -> &mut Self {
        for form in secret.forms() {
            self.bytes(form);
        }
        self
    }

    pub fn secrets(&mut self, secrets: impl IntoIterator<Item = &'a Secret>) -> &mut Self {
        for s in secrets {
            self.secret(s);
        }
        self
    }

    /// A value borrowed from a secret (a token of a structured credential).
    pub fn bytes(&mut self, value: &'a [u8]) -> &mut Self {
        if value.len() >= MIN_SECRET_LEN {
            self.needles.push(Needle::Borrowed(value));
        }
        self
    }

    pub fn text(&mut self, value: &'a str) -> &mut Self {
        self.bytes(value.as_bytes())
    }

    /// A value the code derived from a secret (a URL's part, a header value); kept in a
    /// buffer that is wiped on drop.
    pub fn derived(&mut self, value: Vec<u8>) -> &mut Self {
        let value = Zeroizing::new(value);
        if value.len() >= MIN_SECRET_LEN
            && !self.needles.iter().any(|n| n.bytes() == value.as_slice())
        {
            self.needles.push(Needle::Owned(value));
        }
        self
    }

    /// Every value `other` knows, borrowed (for a request made while `other` lives).
    pub fn include(&mut self, other: &'a Redactor<'_>) -> &mut Self {
        for n in &other.needles {
            self.needles.push(Needle::Borrowed(n.bytes()));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every form of every value replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        if self.needles.is_empty() || text.is_empty() {
            return text.to_string();
        }
        let mut ranges = Vec::new();
        let views = views(text);
        let lowered: Vec<Vec<u8>> = views.iter().map(|v| v.bytes.to_ascii_lowercase()).collect();
        for needle in &self.needles {
            let raw = needle.bytes();
            // Matched in any ASCII case: a host name comes back lower-cased (a redirect's
            // `Location`), some servers upper-case what they echo, and a value known but
            // for its case is known.
            let folded = Zeroizing::new(raw.to_ascii_lowercase());
            let hex = Zeroizing::new(crate::ids::hex(raw).into_bytes());
            let cores = base64_cores(raw);
            for (view, low) in views.iter().zip(&lowered) {
                find_all(low, &folded, view, &mut ranges);
                find_all(low, &hex, view, &mut ranges);
                for core in cores.iter() {
                    find_all(&view.bytes, core, view, &mut ranges);
                }
            }
        }
        replace(text, ranges)
    }
}

/// The base64 characters that encode only `raw`'s bits, at each of the three byte
/// alignments, in the standard and the URL-safe alphabets.
fn base64_cores(raw: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> = Vec::with_capacity(6);
    for k in 0..3usize {
        let mut input = Zeroizing::new(vec![0u8; k]);
        input.extend_from_slice(raw);
        let encoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .encode(input.as_slice())
                .into_bytes(),
        );
        // Characters before `first` mix in the bytes before the value, from `last` on the
        // bytes after it.
        let first = (8 * k).div_ceil(6);
        let last = (8 * (k + raw.len())) / 6;
        if last <= first + 2 {
            continue;
        }
        let core = Zeroizing::new(encoded[first..last].to_vec());
        let url: Zeroizing<Vec<u8>> = Zeroizing::new(
            core.iter()
                .map(|b| match b {
                    b'+' => b'-',
                    b'/' => b'_',
                    other => *other,
                })
                .collect(),
        );
        if url != core {
            out.push(url);
        }
        out.push(core);
    }
    out
}

/// A view of the text: bytes, each with the range of the original text it stands for.
struct View {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

fn views(text: &str) -> Vec<View> {
    let raw = View {
        bytes: text.as_bytes().to_vec(),
        spans: (0..text.len()).map(|i| (i, i + 1)).collect(),
    };
    let mut out: Vec<View> = Vec::new();
    let push = |v: View, out: &mut Vec<View>| {
        if !out.iter().any(|o| o.bytes == v.bytes) {
            out.push(v);
        }
    };
    // Escapes can be split by invisible characters too (`%2<ZWSP>F`): decode before and
    // after removing them.
    let stripped = strip_invisible(&raw);
    for base in [raw, stripped] {
        let once = unescape(&base, false);
        let twice = unescape(&once, false);
        let plus = unescape(&base, true);
        for v in [base, once, twice, plus] {
            let s = strip_invisible(&v);
            push(v, &mut out);
            push(s, &mut out);
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// HTML named references that can stand for a character of a token or a URL.
const ENTITIES: &[(&str, char)] = &[
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("sol", '/'),
    ("plus", '+'),
    ("equals", '='),
    ("quest", '?'),
    ("num", '#'),
    ("percnt", '%'),
    ("colon", ':'),
    ("commat", '@'),
    ("lowbar", '_'),
    ("period", '.'),
    ("comma", ','),
    ("excl", '!'),
    ("dollar", '$'),
    ("lpar", '('),
    ("rpar", ')'),
    ("ast", '*'),
    ("bsol", '\\'),
    ("tilde", '~'),
    ("hyphen", '-'),
    ("nbsp", '\u{a0}'),
];

/// One layer of escapes decoded: `%XX`, `&name;` / `&#N;` / `&#xH;`, and backslash escapes.
fn unescape(v: &View, plus_is_space: bool) -> View {
    let b = &v.bytes;
    let mut out = View {
        bytes: Vec::with_capacity(b.len()),
        spans: Vec::with_capacity(b.len()),
    };
    let emit = |bytes: &[u8], from: usize, to: usize, out: &mut View| {
        let span = (v.spans[from].0, v.spans[to - 1].1);
        for x in bytes {
            out.bytes.push(*x);
            out.spans.push(span);
        }
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_value),
                b.get(i + 2).copied().and_then(hex_value),
            )
        {
            emit(&[h * 16 + l], i, i + 3, &mut out);
            i += 3;
            continue;
        }
        if c == b'+' && plus_is_space {
            emit(b" ", i, i + 1, &mut out);
            i += 1;
            continue;
        }
        if c == b'&'
            && let Some((ch, len)) = entity(&b[i..])
        {
            let mut buf = [0u8; 4];
            emit(ch.encode_utf8(&mut buf).as_bytes(), i, i + len, &mut out);
            i += len;
            continue;
        }
        if c == b'\\'
            && let Some((decoded, len)) = backslash(&b[i..])
        {
            emit(&decoded, i, i + len, &mut out);
            i += len;
            continue;
        }
        emit(&[c], i, i + 1, &mut out);
        i += 1;
    }
    out
}

fn entity(s: &[u8]) -> Option<(char, usize)> {
    let end = s.iter().take(12).position(|b| *b == b';')?;
    let name = std::str::from_utf8(&s[1..end]).ok()?;
    let ch = if let Some(num) = name.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(h) => u32::from_str_radix(h, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(n)?
    } else {
        ENTITIES.iter().find(|(n, _)| *n == name)?.1
    };
    Some((ch, end + 1))
}

fn backslash(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    let hex_run = |from: usize, n: usize| -> Option<u32> {
        let digits = s.get(from..from + n)?;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let one = |c: char| {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf).as_bytes().to_vec()
    };
    Some(match *s.get(1)? {
        b'/' | b'\\' | b'"' | b'\'' => (vec![s[1]], 2),
        b'n' => (vec![b'\n'], 2),
        b'r' => (vec![b'\r'], 2),
        b't' => (vec![b'\t'], 2),
        b'x' => (vec![hex_run(2, 2)? as u8], 4),
        b'u' => {
            let hi = hex_run(2, 4)?;
            if (0xD800..0xDC00).contains(&hi)
                && s.get(6) == Some(&b'\\')
                && s.get(7) == Some(&b'u')
                && let Some(lo) = hex_run(8, 4)
                && (0xDC00..0xE000).contains(&lo)
            {
                let c = char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?;
                (one(c), 12)
            } else {
                (one(char::from_u32(hi)?), 6)
            }
        }
        _ => return None,
    })
}

/// Control characters (C0, DEL, C1), and the invisible format characters a value can be
/// split by (soft hyphen, zero-width and bidirectional marks, line separators, BOM).
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2064
            | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB)
}

fn strip_invisible(v: &View) -> View {
    let mut out = View {
        bytes: Vec::with_capacity(v.bytes.len()),
        spans: Vec::with_capacity(v.bytes.len()),
    };
    let mut i = 0;
    while i < v.bytes.len() {
        let len = utf8_len(v.bytes[i]);
        let ch = v
            .bytes
            .get(i..i + len)
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.chars().next());
        match ch {
            Some(c) if invisible(c) => i += len,
            Some(_) => {
                out.bytes.extend_from_slice(&v.bytes[i..i + len]);
                out.spans.extend_from_slice(&v.spans[i..i + len]);
                i += len;
            }
            None => {
                out.bytes.push(v.bytes[i]);
                out.spans.push(v.spans[i]);
                i += 1;
            }
        }
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// Records the original range of every occurrence of `needle` in `hay` (a view's bytes).
fn find_all(hay: &[u8], needle: &[u8], view: &View, ranges: &mut Vec<(usize, usize)>) {
    if needle.is_empty() || needle.len() > hay.len() {
        return;
    }
    for at in memchr::memmem::find_iter(hay, needle) {
        ranges.push((view.spans[at].0, view.spans[at + needle.len() - 1].1));
    }
}

/// The text with each range (widened to whole characters, merged) replaced.
fn replace(text: &str, mut ranges: Vec<(usize, usize)>) -> String {
    if ranges.is_empty() {
        return text.to_string();
    }
    for (start, end) in ranges.iter_mut() {
        while !text.is_char_boundary(*start) {
            *start -= 1;
        }
        while !text.is_char_boundary(*end) {
            *end += 1;
        }
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut i = 0;
    while i < ranges.len() {
        let (start, mut end) = ranges[i];
        i += 1;
        while i < ranges.len() && ranges[i].0 <= end {
            end = end.max(ranges[i].1);
            i += 1;
        }
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

    const SECRET: &str = "CANARY-s3cr3t/+=&?tok-7f3a9c";

    fn redactor(s: &Secret) -> Redactor<'_> {
        let mut r = Redactor::new();
        r.secret(s);
        r
    }

    #[track_caller]
    fn assert_redacted(text: &str) {
        let s = Secret::from_bytes(SECRET.as_bytes().to_vec());
        let out = redactor(&s).redact(text);
        assert!(
            out.contains(REDACTED),
            "nothing redacted in {text:?}: {out}"
        );
        for probe in ["CANARY", "s3cr3t", "tok-7f3a9c", "Q0FOQVJZ", "43414e415259"] {
            assert!(
                !out.to_ascii_lowercase()
                    .contains(&probe.to_ascii_lowercase()),
                "{probe} left in {out:?} (from {text:?})"
            );
        }
    }

    fn percent(s: &str, lower: bool) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else if lower {
                    format!("%{b:02x}")
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    #[test]
    fn raw_and_escaped_forms() {
        assert_redacted(&format!("invalid token {SECRET}."));
        assert_redacted(&format!("Authorization: Bearer {SECRET}"));
        assert_redacted(&percent(SECRET, false));
        assert_redacted(&percent(SECRET, true));
        // Mixed case, and only the reserved characters encoded.
        assert_redacted("CANARY-s3cr3t%2f%2B%3d%26%3Ftok-7f3a9c");
        assert_redacted("CANARY-s3cr3t/%2B%3D%26%3Ftok-7f3a9c");
        // Twice encoded (a URL inside a URL).
        assert_redacted(&percent(&percent(SECRET, false), false));
        // HTML references, backslash escapes.
        assert_redacted("CANARY-s3cr3t&#x2F;+=&amp;?tok-7f3a9c");
        assert_redacted("CANARY-s3cr3t&sol;&plus;&equals;&amp;&quest;tok-7f3a9c");
        assert_redacted(r"CANARY-s3cr3t\/+=&?tok-7f3a9c");
        assert_redacted(r"\x43\x41\x4e\x41\x52\x59-s3cr3t/+=&?tok-7f3a9c");
        assert_redacted(r"\u0043ANARY-s3cr3t\u002F+=&?tok-7f3a9c");
    }

    /// A value echoed in another case (a host name in a redirect's `Location` comes back
    /// lower-cased; some servers upper-case what they log) is the value.
    #[test]
    fn any_ascii_case() {
        assert_redacted(&SECRET.to_ascii_lowercase());
        assert_redacted(&format!("to {}", SECRET.to_ascii_uppercase()));
        let mut r = Redactor::new();
        r.derived(b"CapabilityHost7f3a.hooks.example".to_vec());
        assert_eq!(
            r.redact("a redirect to capabilityhost7f3a.hooks.example; not followed"),
            "a redirect to [REDACTED]; not followed"
        );
    }

    #[test]
    fn hex_either_case() {
        let hex = crate::ids::hex(SECRET.as_bytes());
        assert_redacted(&format!("key={hex};"));
        assert_redacted(&format!("key={}", hex.to_uppercase()));
    }

    #[test]
    fn base64_at_every_alignment_and_alphabet() {
        for prefix in ["", "a", "ab", "abc", "client-1:", "Bearer "] {
            for suffix in ["", "x", "xy", ":z"] {
                let plain = format!("{prefix}{SECRET}{suffix}");
                for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
                    let enc = engine.encode(&plain);
                    assert_redacted(&format!("Authorization: Basic {enc}"));
                }
            }
        }
    }

    #[test]
    fn line_wrapped_and_split_by_control_characters() {
        let enc = STANDARD.encode(format!("id:{SECRET}").repeat(3));
        let wrapped: String = enc
            .as_bytes()
            .chunks(16)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_redacted(&wrapped);
        assert_redacted("CANARY-s3\u{0}cr3t/+=&?\ntok-7f3a9c");
        assert_redacted("CAN\u{200b}ARY-s3cr3t/+=&?tok\u{202e}-7f3a9c");
        assert_redacted("CANARY-s3cr3t/+=&?tok-7f\u{85}3a9c");
        // Escaped control characters inside a JSON string that was encoded twice.
        assert_redacted(r"CANARY-s3cr3t\n/+=&?tok-7f3a9c");
    }

    #[test]
    fn derived_values_and_legacy_forms() {
        let s = Secret::from_stored(b"TOKEN-abcdef\n\n".to_vec());
        let r = redactor(&s);
        assert_eq!(
            r.redact("Bearer TOKEN-abcdef and TOKEN-abcdef\n\n!"),
            "Bearer [REDACTED] and [REDACTED]!"
        );
        let mut r = Redactor::new();
        r.derived(b"segment-part".to_vec());
        assert_eq!(
            r.redact("Cannot POST /api/webhooks/1/segment-part"),
            "Cannot POST /api/webhooks/1/[REDACTED]"
        );
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        let s = Secret::from_bytes(SECRET.as_bytes().to_vec());
        let r = redactor(&s);
        let text = "Ünïcödé message: rate limited, try later (HTTP 429) &amp; 100%";
        assert_eq!(r.redact(text), text);
        // Short values are not looked for.
        let mut r = Redactor::new();
        r.text("abc");
        assert!(r.is_empty());
        assert_eq!(r.redact("abc"), "abc");
    }

    #[test]
    fn multibyte_characters_around_a_match_stay_whole() {
        let s = Secret::from_bytes("jéton-secret".as_bytes().to_vec());
        let r = redactor(&s);
        assert_eq!(r.redact("«jéton-secret»"), "«[REDACTED]»");
        let pct = percent("jéton-secret", false);
        assert_eq!(r.redact(&format!("é{pct}é")), "é[REDACTED]é");
    }

    #[test]
    fn debug_does_not_show_values() {
        let s = Secret::from_bytes(SECRET.as_bytes().to_vec());
        let r = redactor(&s);
        assert!(!format!("{r:?}").contains("CANARY"));
    }
}
