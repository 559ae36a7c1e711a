//! What each network's secret looks like, checked when it is stored (`account add`,
//! `rotate`) and again before it is sent: one declaration per provider, in
//! [`super::CATALOGUE`], and the one character rule.
//!
//! **The character rule.** Every credential smv stores is carried in an HTTP header (a bearer
//! token, OAuth 1.0a's signature inputs), in a URL (a webhook, Telegram's bot token) or in a
//! JSON body next to a handle (a Bluesky app password): each documented shape is visible
//! ASCII, 0x21–0x7E. Anything else — a byte order mark, a Unicode space (NBSP, U+3000), a
//! zero-width or bidirectional format character, a line separator, a control character — is
//! a copy-and-paste accident, and is refused (never silently stripped: smv does not guess
//! which part belongs to the secret). A server that decodes a header as Latin-1 would echo
//! such an edge as `ï»¿TOKEN`, and the ASCII token would escape redaction (issue 23). The
//! refusal names the field, the character's position and its class, never the character of
//! a secret.
//!
//! Each shape adds its structure: X's `key=value` lines (the OAuth 1.0a set or the OAuth 2.0
//! set), Telegram's `DIGITS:TOKEN`, Slack's `xox…` tokens, webhook URLs (https, or http to
//! this machine; Discord's and Slack's paths).

use crate::secret::Secret;

/// The shape of a provider's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretShape {
    /// No secret (the outbox).
    None,
    /// One bearer token, visible ASCII; `prefixes`: what the network's tokens start with
    /// (any, when empty).
    Token { prefixes: &'static [&'static str] },
    /// A password sent in a JSON body (Bluesky's app password), visible ASCII.
    Password,
    /// Telegram's bot token: the bot's numeric id, `:`, and letters, digits, `-`, `_`.
    TelegramBot,
    /// X: `key=value` lines (or a JSON object) holding one of [`X_FORMS`].
    XCredential,
    /// A webhook URL: https, or http to this machine only.
    Webhook(Hook),
}

/// Which webhook a URL is for: the networks' documented paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Any https URL.
    Generic,
    /// `…/services/T…/B…/SECRET` (Slack incoming webhooks), or a workflow `…/triggers/…`.
    Slack,
    /// `…/api/[vN/]webhooks/ID/TOKEN` (Discord).
    Discord,
}

/// A multi-field credential's form: the fields it needs, and those it may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Form {
    pub name: &'static str,
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

/// X's two forms of credential (see `providers/x.rs`).
pub const X_FORMS: &[Form] = &[
    Form {
        name: "OAuth 1.0a user context",
        required: &[
            "consumer_key",
            "consumer_secret",
            "access_token",
            "access_token_secret",
        ],
        optional: &[],
    },
    Form {
        name: "OAuth 2.0 user token",
        required: &["access_token", "refresh_token", "client_id"],
        optional: &["client_secret", "token_url"],
    },
];

impl SecretShape {
    /// The forms a person is asked for field by field (X); empty for one-line secrets.
    pub fn forms(self) -> &'static [Form] {
        match self {
            SecretShape::XCredential => X_FORMS,
            _ => &[],
        }
    }

    /// In words, for errors and `smv providers`.
    pub fn describe(self) -> &'static str {
        match self {
            SecretShape::None => "no secret",
            SecretShape::Token { .. } => {
                "one line of visible ASCII (the token as the network shows it)"
            }
            SecretShape::Password => {
                "one line of visible ASCII (an app password: xxxx-xxxx-xxxx-xxxx)"
            }
            SecretShape::TelegramBot => "the bot token from @BotFather: DIGITS:LETTERS-DIGITS-_",
            SecretShape::XCredential => {
                "key=value lines: consumer_key, consumer_secret, access_token, access_token_secret (OAuth 1.0a), or access_token, refresh_token, client_id [client_secret, token_url] (OAuth 2.0)"
            }
            SecretShape::Webhook(Hook::Generic) => "an https URL (plain http only to this machine)",
            SecretShape::Webhook(Hook::Slack) => "https://hooks.slack.com/services/T…/B…/…",
            SecretShape::Webhook(Hook::Discord) => "https://discord.com/api/webhooks/ID/TOKEN",
        }
    }
}

/// Why a secret does not fit its shape: the field (`access token`, `line 2`,
/// `consumer_secret`) and what is wrong, in smv's words — never a character of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misfit {
    pub field: String,
    pub why: String,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.why)
    }
}

fn misfit(field: impl Into<String>, why: impl Into<String>) -> Misfit {
    Misfit {
        field: field.into(),
        why: why.into(),
    }
}

/// The class of a character that is not visible ASCII, in words (with its code point where
/// the character is invisible: naming it cannot reveal a secret, and `od -c` finds it).
pub fn class_of(c: char) -> String {
    let cp = c as u32;
    let named = match cp {
        0x20 => return "a space".into(),
        0x00..=0x1f | 0x7f => "a control character",
        0x80..=0x9f => "a control character (C1)",
        0xfeff => "a byte order mark",
        0xa0 => "a no-break space",
        0x2028 => "a line separator",
        0x2029 => "a paragraph separator",
        0x200b => "a zero-width space",
        0x200c | 0x200d | 0x2060..=0x2064 | 0xad | 0x180e => "an invisible format character",
        0x200e | 0x200f | 0x202a..=0x202e | 0x2066..=0x2069 | 0x061c => {
            "a bidirectional format character"
        }
        0x1680 | 0x2000..=0x200a | 0x202f | 0x205f | 0x3000 => "a Unicode space",
        0xfff0..=0xffff | 0xe000..=0xf8ff => "a special-use character",
        _ => return "a non-ASCII character".into(),
    };
    format!("{named} (U+{cp:04X})")
}

/// Visible ASCII (0x21–0x7E) only, plus the `allowed` separators: the first other
/// character, by its 1-based position and class.
fn visible_ascii(text: &str, field: &str, allowed: &[char]) -> Result<(), Misfit> {
    for (i, c) in text.chars().enumerate() {
        if ('\u{21}'..='\u{7e}').contains(&c) || allowed.contains(&c) {
            continue;
        }
        let edge = if i == 0 {
            " (its first)"
        } else if i + 1 == text.chars().count() {
            " (its last)"
        } else {
            ""
        };
        return Err(misfit(
            field,
            format!(
                "character {}{edge} is {}, and a credential is visible ASCII only",
                i + 1,
                class_of(c)
            ),
        ));
    }
    Ok(())
}

fn as_text<'a>(secret: &'a Secret, field: &str) -> Result<&'a str, Misfit> {
    std::str::from_utf8(secret.expose_to_provider()).map_err(|e| {
        misfit(
            field,
            format!("it is not UTF-8 text (at byte {})", e.valid_up_to() + 1),
        )
    })
}

fn one_line(text: &str, field: &str) -> Result<(), Misfit> {
    if text.contains('\n') {
        return Err(misfit(
            field,
            "it has a line break inside, and it is one line",
        ));
    }
    Ok(())
}

/// Checks `secret` against `shape` (`what`: the network's name for it, the field of a
/// one-line secret).
pub fn check(shape: SecretShape, what: &str, secret: &Secret) -> Result<(), Misfit> {
    let text = as_text(secret, what)?;
    match shape {
        SecretShape::None => Err(misfit("secret", "this provider takes no secret")),
        SecretShape::Token { prefixes } => {
            one_line(text, what)?;
            visible_ascii(text, what, &[])?;
            if !prefixes.is_empty() && !prefixes.iter().any(|p| text.starts_with(p)) {
                return Err(misfit(
                    what,
                    format!("it does not start with {}", prefixes.join(" or ")),
                ));
            }
            Ok(())
        }
        SecretShape::Password => {
            one_line(text, what)?;
            visible_ascii(text, what, &[])
        }
        SecretShape::TelegramBot => {
            one_line(text, what)?;
            visible_ascii(text, what, &[])?;
            let Some((id, token)) = text.split_once(':') else {
                return Err(misfit(
                    what,
                    "it has no `:` (a bot token is the bot's id, `:`, then the token)",
                ));
            };
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(misfit(
                    what,
                    "the part before `:` is not the bot's numeric id",
                ));
            }
            if let Some(i) = token
                .bytes()
                .position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            {
                return Err(misfit(
                    what,
                    format!(
                        "character {} is punctuation a bot token never has (only letters, digits, `-`, `_` follow the `:`)",
                        id.len() + 2 + i
                    ),
                ));
            }
            if token.len() < 8 {
                return Err(misfit(
                    what,
                    "the part after `:` is too short for a bot token",
                ));
            }
            Ok(())
        }
        SecretShape::Webhook(hook) => {
            one_line(text, what)?;
            visible_ascii(text, what, &[])?;
            webhook(hook, text, what)
        }
        SecretShape::XCredential => x_credential(text).map(|_| ()),
    }
}

/// Discord's own hosts (discord.com, discordapp.com, their canary and ptb subdomains).
fn discord_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    ["discord.com", "discordapp.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

fn webhook(hook: Hook, text: &str, what: &str) -> Result<(), Misfit> {
    let url = super::common::checked_url(text, what).map_err(|e| match e {
        super::ProviderError::Invalid(m) => misfit(what, m),
        other => misfit(what, other.to_string()),
    })?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(misfit(what, "it has no host"));
    }
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|p| !p.is_empty()).collect())
        .unwrap_or_default();
    match hook {
        Hook::Generic => Ok(()),
        Hook::Slack => {
            let ok = match segments.as_slice() {
                ["services", a, b, c] => !a.is_empty() && !b.is_empty() && !c.is_empty(),
                ["triggers", rest @ ..] => !rest.is_empty(),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(misfit(
                    what,
                    "its path is not a Slack incoming webhook's (/services/T…/B…/…)",
                ))
            }
        }
        Hook::Discord => {
            let tail = match segments.as_slice() {
                ["api", "webhooks", rest @ ..] => rest,
                ["api", v, "webhooks", rest @ ..] if v.starts_with('v') => rest,
                // Under a base that already holds the API prefix: another host than
                // Discord's own (an API gateway, or the published spec served by a test
                // server at its root). Discord's own hosts serve webhooks under /api only.
                ["webhooks", rest @ ..] if !discord_host(url.host_str().unwrap_or("")) => rest,
                _ => &[][..],
            };
            match tail {
                [id, token, ..] if id.bytes().all(|b| b.is_ascii_digit()) && !token.is_empty() => {
                    Ok(())
                }
                _ => Err(misfit(
                    what,
                    "its path is not a Discord webhook's (/api/webhooks/ID/TOKEN)",
                )),
            }
        }
    }
}

/// Which of [`X_FORMS`] a stored X credential holds, after checking every field.
pub fn x_credential(text: &str) -> Result<&'static Form, Misfit> {
    let known = |k: &str| {
        X_FORMS
            .iter()
            .any(|f| f.required.contains(&k) || f.optional.contains(&k))
    };
    let mut keys: Vec<String> = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    if text.trim_start_matches([' ', '\t']).starts_with('{') {
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| {
                misfit(
                    "X credential",
                    format!(
                        "it starts with `{{` but is not a JSON object (line {}, column {})",
                        e.line(),
                        e.column()
                    ),
                )
            })?;
        for (k, v) in map {
            if !known(&k) {
                return Err(misfit(
                    format!("JSON key {}", keys.len() + 1),
                    "it is not a field of an X credential",
                ));
            }
            let serde_json::Value::String(v) = v else {
                return Err(misfit(k, "its value is not a string"));
            };
            keys.push(k.clone());
            fields.push((k, v));
        }
    } else {
        for (n, line) in text.split('\n').enumerate() {
            let line_no = format!("line {}", n + 1);
            if line.trim_matches([' ', '\t']).is_empty() {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(misfit(
                    line_no,
                    "it is not key=value (an X credential is key=value lines)",
                ));
            };
            let k = k.trim_matches([' ', '\t']);
            if !known(k) {
                // The key is not quoted: a line without a known key may be a pasted secret.
                return Err(misfit(line_no, "its key is not a field of an X credential"));
            }
            if keys.iter().any(|seen| seen == k) {
                return Err(misfit(k, format!("it is given twice ({line_no})")));
            }
            keys.push(k.to_string());
            fields.push((k.to_string(), v.trim_matches([' ', '\t']).to_string()));
        }
    }
    for (k, v) in &fields {
        if v.is_empty() {
            return Err(misfit(k.as_str(), "it is empty"));
        }
        visible_ascii(v, k, &[])?;
        if k == "token_url" {
            super::common::checked_url(v, "token_url").map_err(|e| match e {
                super::ProviderError::Invalid(m) => misfit("token_url", m),
                other => misfit("token_url", other.to_string()),
            })?;
        }
    }
    let has = |k: &&str| keys.iter().any(|seen| seen == k);
    if let Some(form) = X_FORMS.iter().find(|f| f.required.iter().all(&has)) {
        return Ok(form);
    }
    // The nearest form: the one with the most of its fields given.
    let nearest = X_FORMS
        .iter()
        .max_by_key(|f| {
            (
                f.required.iter().filter(|k| has(k)).count(),
                usize::MAX - f.required.len(),
            )
        })
        .expect("X has forms");
    let missing: Vec<&str> = nearest
        .required
        .iter()
        .copied()
        .filter(|k| !has(k))
        .collect();
    Err(misfit(
        "X credential",
        format!(
            "{} {} missing for the {} form",
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
            nearest.name
        ),
    ))
}

/// The edit distance between two short names (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Names people use for the networks smv knows under another name.
const ALIASES: &[(&str, &str)] = &[
    ("twitter", "x"),
    ("tweet", "x"),
    ("x.com", "x"),
    ("bsky", "bluesky"),
    ("atproto", "bluesky"),
    ("fediverse", "mastodon"),
    ("pleroma", "mastodon"),
    ("akkoma", "mastodon"),
    ("gotosocial", "mastodon"),
    ("misskey", "mastodon"),
    ("fb", "facebook"),
    ("meta", "facebook"),
    ("tg", "telegram"),
    ("slack-hook", "slack-webhook"),
    ("slackwebhook", "slack-webhook"),
    ("discord-webhook", "discord"),
    ("http", "webhook"),
    ("https", "webhook"),
    ("file", "outbox"),
];

/// The provider a mistyped or other name most likely means.
pub fn nearest<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    let names: Vec<&str> = names.collect();
    if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == lower) {
        return names.iter().copied().find(|n| n == to);
    }
    if let Some(n) = names.iter().copied().find(|n| *n == lower) {
        return Some(n);
    }
    names
        .iter()
        .copied()
        .map(|n| (distance(&lower, n), n))
        .filter(|(d, n)| {
            // Short names are only suggested by an alias: `y` is not a typo of `x`.
            let max = match n.len() {
                0..=2 => 0,
                3..=5 => 1,
                _ => 2,
            };
            *d <= max
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Secret {
        Secret::from_bytes(text.as_bytes().to_vec())
    }

    const TOKEN: SecretShape = SecretShape::Token { prefixes: &[] };

    #[test]
    fn a_token_is_visible_ascii_on_one_line() {
        assert!(check(TOKEN, "access token", &s("abc-DEF_123.~+/=")).is_ok());
        let e = check(TOKEN, "access token", &s("abc def")).unwrap_err();
        assert_eq!(e.field, "access token");
        assert!(e.why.contains("character 4 is a space"), "{e}");
        let e = check(TOKEN, "access token", &s("abc\ndef")).unwrap_err();
        assert!(e.why.contains("line break"), "{e}");
        let slack = SecretShape::Token {
            prefixes: &["xoxb-", "xoxp-"],
        };
        assert!(check(slack, "bot token", &s("xoxb-1-2-abc")).is_ok());
        let e = check(slack, "bot token", &s("abcd-1-2")).unwrap_err();
        assert!(e.why.contains("xoxb-"), "{e}");
        assert!(!e.why.contains("abcd"), "{e}");
    }

    /// Issue 23: every Unicode space, format and control character at either edge (and
    /// inside) is refused with its position and class, never the secret.
    #[test]
    fn every_invisible_edge_is_refused_by_position_and_class() {
        let cases = [
            ('\u{feff}', "byte order mark"),
            ('\u{a0}', "no-break space"),
            ('\u{200b}', "zero-width space"),
            ('\u{3000}', "Unicode space"),
            ('\u{2028}', "line separator"),
            ('\u{2029}', "paragraph separator"),
            ('\u{202e}', "bidirectional"),
            ('\u{2060}', "invisible format"),
            ('\u{1b}', "control character"),
            ('\u{85}', "control character"),
            ('\u{7f}', "control character"),
        ];
        for (c, class) in cases {
            for (text, at) in [
                (format!("{c}SECRET-tok-1234"), "character 1 (its first) is"),
                (format!("SECRET-tok-1234{c}"), "character 16 (its last) is"),
                (format!("SECRET-{c}tok-1234"), "character 8 is"),
            ] {
                for shape in [
                    TOKEN,
                    SecretShape::Password,
                    SecretShape::TelegramBot,
                    SecretShape::Webhook(Hook::Generic),
                ] {
                    let e = check(shape, "token", &s(&text)).unwrap_err();
                    assert!(e.why.contains(at), "{c:?} {shape:?}: {e}");
                    assert!(e.why.contains(class), "{c:?}: {e}");
                    assert!(!e.to_string().contains("SECRET"), "{e}");
                }
            }
            let x = format!(
                "consumer_key=ck\nconsumer_secret={c}SECRET\naccess_token=at\naccess_token_secret=ats"
            );
            let e = check(SecretShape::XCredential, "credential", &s(&x)).unwrap_err();
            assert_eq!(e.field, "consumer_secret", "{c:?}");
            assert!(e.why.contains("character 1 (its first)"), "{e}");
            assert!(!e.to_string().contains("SECRET"), "{e}");
        }
        // A visible non-ASCII letter is named by class only.
        let e = check(TOKEN, "token", &s("SECRETé-1234")).unwrap_err();
        assert!(
            e.why.contains("character 7 is a non-ASCII character"),
            "{e}"
        );
        assert!(!e.why.contains('é'));
    }

    #[test]
    fn telegram_bot_tokens() {
        let t = SecretShape::TelegramBot;
        assert!(
            check(
                t,
                "bot token",
                &s("123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11")
            )
            .is_ok()
        );
        for (bad, why) in [
            ("ABC-DEF1234ghIkl", "no `:`"),
            ("12a:ABC-DEF1234ghIkl", "numeric id"),
            (":ABC-DEF1234ghIkl", "numeric id"),
            ("123:ABC/DEF1234ghIkl", "character 8 is punctuation"),
            ("123:ABC?x=1234ghIkl", "character 8 is punctuation"),
            ("123:abc", "too short"),
        ] {
            let e = check(t, "bot token", &s(bad)).unwrap_err();
            assert!(e.why.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn webhook_urls() {
        let g = SecretShape::Webhook(Hook::Generic);
        assert!(check(g, "webhook URL", &s("https://hooks.example/in/abc?k=1")).is_ok());
        assert!(check(g, "webhook URL", &s("http://127.0.0.1:8080/hook/x")).is_ok());
        for (bad, why) in [
            ("not a url", "character 4 is a space"),
            ("notaurl", "not a URL"),
            ("http://hooks.example/x", "https"),
            ("ftp://hooks.example/x", "https"),
        ] {
            let e = check(g, "webhook URL", &s(bad)).unwrap_err();
            assert!(e.why.contains(why), "{bad}: {e}");
            assert_eq!(e.field, "webhook URL");
        }
        let slack = SecretShape::Webhook(Hook::Slack);
        assert!(
            check(
                slack,
                "webhook URL",
                &s("https://hooks.slack.com/services/T0/B0/xyz")
            )
            .is_ok()
        );
        assert!(
            check(
                slack,
                "webhook URL",
                &s("https://hooks.slack.com/triggers/T0/1/abc")
            )
            .is_ok()
        );
        let e = check(
            slack,
            "webhook URL",
            &s("https://hooks.slack.com/services/T0/xyz"),
        )
        .unwrap_err();
        assert!(e.why.contains("/services/"), "{e}");
        let discord = SecretShape::Webhook(Hook::Discord);
        assert!(
            check(
                discord,
                "webhook URL",
                &s("https://discord.com/api/webhooks/123/tok")
            )
            .is_ok()
        );
        assert!(
            check(
                discord,
                "webhook URL",
                &s("https://discord.com/api/v10/webhooks/123/tok")
            )
            .is_ok()
        );
        for bad in [
            "https://discord.com/api/webhooks/abc/tok",
            "https://discord.com/api/webhooks/123",
            "https://discord.com/webhooks/123/tok",
        ] {
            let e = check(discord, "webhook URL", &s(bad)).unwrap_err();
            assert!(e.why.contains("/api/webhooks/ID/TOKEN"), "{bad}: {e}");
        }
        // Elsewhere (a gateway, a test server serving the published spec at its root) the
        // API prefix may be in the base: /webhooks/ID/TOKEN, still with a numeric id.
        assert!(
            check(
                discord,
                "webhook URL",
                &s("https://gateway.example/webhooks/123/tok")
            )
            .is_ok()
        );
        assert!(
            check(
                discord,
                "webhook URL",
                &s("https://gateway.example/webhooks/abc/tok")
            )
            .is_err()
        );
    }

    #[test]
    fn x_credentials_have_one_of_two_forms() {
        let x = |t: &str| x_credential(t);
        let o1 =
            "consumer_key=ck-1\nconsumer_secret=cs/+=\naccess_token=1-at\naccess_token_secret=ats";
        assert_eq!(x(o1).unwrap().name, "OAuth 1.0a user context");
        assert_eq!(
            x(" consumer_key = ck-1\n\nconsumer_secret=cs\naccess_token=at\naccess_token_secret=ats\n")
                .unwrap()
                .name,
            "OAuth 1.0a user context"
        );
        let o2 = "access_token=A0\nrefresh_token=R0\nclient_id=client-1";
        assert_eq!(x(o2).unwrap().name, "OAuth 2.0 user token");
        assert!(
            x(&format!(
                "{o2}\nclient_secret=cs\ntoken_url=https://api.x.com/2/oauth2/token"
            ))
            .is_ok()
        );
        let json = r#"{"access_token":"A0","refresh_token":"R0","client_id":"c"}"#;
        assert_eq!(x(json).unwrap().name, "OAuth 2.0 user token");

        let e = x("garbage").unwrap_err();
        assert_eq!(e.field, "line 1");
        assert!(e.why.contains("not key=value"), "{e}");
        let e = x("example-token").unwrap_err();
        assert_eq!(e.field, "line 1");
        // An unknown key is not quoted (it may be a pasted secret with `=` padding).
        let e = x("c2VjcmV0Zm9vYmFy==").unwrap_err();
        assert_eq!(e.field, "line 1");
        assert!(!e.to_string().contains("c2Vj"), "{e}");
        // Each missing field of the nearest form is named.
        for field in [
            "consumer_key",
            "consumer_secret",
            "access_token",
            "access_token_secret",
        ] {
            let partial: String = o1
                .lines()
                .filter(|l| !l.starts_with(&format!("{field}=")))
                .collect::<Vec<_>>()
                .join("\n");
            let e = x(&partial).unwrap_err();
            assert!(e.why.contains(&format!("{field} is missing")), "{e}");
            assert!(e.why.contains("OAuth 1.0a"), "{e}");
            // Each field empty.
            let empty: String = o1
                .lines()
                .map(|l| {
                    if l.starts_with(&format!("{field}=")) {
                        format!("{field}=")
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let e = x(&empty).unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.why.contains("empty"), "{e}");
        }
        for field in ["access_token", "refresh_token", "client_id"] {
            let partial: String = o2
                .lines()
                .filter(|l| !l.starts_with(&format!("{field}=")))
                .collect::<Vec<_>>()
                .join("\n");
            let e = x(&partial).unwrap_err();
            assert!(e.why.contains(field), "{e}");
        }
        let e = x(&format!("{o2}\ntoken_url=http://api.example/t")).unwrap_err();
        assert_eq!(e.field, "token_url");
        let e = x(&format!("{o2}\nclient_id=again")).unwrap_err();
        assert!(e.why.contains("twice"), "{e}");
        let e = x(r#"{"access_token":"A0","refresh_token":1,"client_id":"c"}"#).unwrap_err();
        assert_eq!(e.field, "refresh_token");
        let e = x(r#"{"access_token":"A0""#).unwrap_err();
        assert!(e.why.contains("JSON"), "{e}");
        let e = x(&o1.replace("ats", "a ts")).unwrap_err();
        assert_eq!(e.field, "access_token_secret");
        assert!(e.why.contains("character 2 is a space"), "{e}");
    }

    #[test]
    fn unknown_provider_names_suggest_the_nearest() {
        let names = [
            "outbox",
            "x",
            "mastodon",
            "bluesky",
            "slack",
            "slack-webhook",
            "discord",
            "telegram",
            "webhook",
            "linkedin",
            "facebook",
        ];
        let n = |q: &str| nearest(q, names.iter().copied());
        assert_eq!(n("twitter"), Some("x"));
        assert_eq!(n("Twitter"), Some("x"));
        assert_eq!(n("mastadon"), Some("mastodon"));
        assert_eq!(n("bsky"), Some("bluesky"));
        assert_eq!(n("blusky"), Some("bluesky"));
        assert_eq!(n("linkdin"), Some("linkedin"));
        assert_eq!(n("Slack"), Some("slack"));
        assert_eq!(n("myspace"), None);
        assert_eq!(n("y"), None);
    }
}
