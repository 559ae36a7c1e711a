//! The one type that holds an account's secret, and the canonical form a secret is kept in.
//!
//! [`Secret`] has no `Clone`, `Serialize` or `Display`, its `Debug` prints a placeholder, and
//! its bytes are wiped when it is dropped. The only way to the raw bytes is
//! [`Secret::expose_to_provider`], whose name is meant to stand out in review.
//!
//! **One form, decided at input.** What a person gives (prompt, stdin, file) is turned into
//! the secret's canonical form once, by [`Secret::from_input`]: trailing CR, LF, spaces and
//! tabs are removed, and any other control character is refused. That form is what the vault
//! stores, what the network receives and what redaction looks for — so a value read with a
//! stray newline can no longer be sent in one form and redacted in another. A vault written
//! before this rule may still hold a secret with surrounding whitespace:
//! [`Secret::from_stored`] gives its canonical form and keeps the stored one for redaction
//! only, until the vault's next write stores the canonical form (`vault::accounts`).
//!
//! Redaction of text that came from a network is in [`crate::redact`].

use secrecy::{ExposeSecret, SecretBox};
use zeroize::{Zeroize, Zeroizing};

/// Upper bound on a secret's size: tokens, app passwords and webhook URLs are small; a larger
/// input is almost certainly the wrong file.
pub const MAX_SECRET_LEN: usize = 64 * 1024;
/// Lower bound, so that every stored secret can be redacted (see [`crate::redact`]).
pub const MIN_SECRET_LEN: usize = 4;

/// What a secret looks like: one line (a token, a password, a webhook URL), or several
/// `key=value` lines (an X credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Line,
    Lines,
}

pub struct Secret {
    bytes: SecretBox<[u8]>,
    /// The form a vault written by an older smv stored, when it differs from the canonical
    /// one: never sent anywhere, only redacted (see [`Secret::from_stored`]).
    stored: Option<SecretBox<[u8]>>,
}

/// Moves the bytes into an exactly-sized box and wipes the vector (whose spare capacity may
/// hold a copy that `into_boxed_slice` would free without wiping).
fn boxed(mut bytes: Vec<u8>) -> SecretBox<[u8]> {
    let b: Box<[u8]> = if bytes.len() == bytes.capacity() {
        bytes.into_boxed_slice()
    } else {
        let copy: Box<[u8]> = bytes.as_slice().into();
        bytes.zeroize();
        copy
    };
    SecretBox::new(b)
}

fn is_trailing_blank(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b' ' | b'\t')
}

impl Secret {
    /// The canonical form of bytes read from a prompt, stdin or a file: trailing CR, LF,
    /// spaces and tabs removed (what `echo`, editors and password managers add); refused if
    /// empty, too short or too long, if it starts with a space, or if any control character
    /// is left inside. Line breaks inside are kept only as the separators of a several-line
    /// credential (normalised to LF, each line's trailing blanks removed); whether the
    /// account's network takes one is checked with [`Secret::require_shape`].
    pub fn from_input(bytes: Vec<u8>) -> crate::Result<Secret> {
        let bytes = Zeroizing::new(bytes);
        let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
        for line in bytes.split(|b| *b == b'\n') {
            let end = line
                .iter()
                .rposition(|b| !is_trailing_blank(*b))
                .map_or(0, |i| i + 1);
            out.extend_from_slice(&line[..end]);
            out.push(b'\n');
        }
        while out.last().is_some_and(|b| is_trailing_blank(*b)) {
            out.pop();
        }
        let secret = Secret::from_bytes(out);
        let raw = secret.expose_to_provider();
        if raw.is_empty() {
            return Err(crate::Error::invalid("secret", "it is empty"));
        }
        if let Some(c) = control_character(raw) {
            return Err(crate::Error::invalid(
                "secret",
                format!("it contains a control character ({c}) inside"),
            )
            .with_hint(
                "a token, a password or a URL never contains one: check the input (`od -c FILE` shows it), remove the character and give the secret again",
            ));
        }
        if raw[0] == b' ' {
            return Err(
                crate::Error::invalid("secret", "it starts with a space").with_hint(
                    "remove the space: smv does not guess whether it belongs to the secret",
                ),
            );
        }
        // No real token is this short, and a value this short could not be redacted from
        // error texts without mangling ordinary words.
        if raw.len() < MIN_SECRET_LEN {
            return Err(crate::Error::invalid(
                "secret",
                format!("it is shorter than {MIN_SECRET_LEN} bytes"),
            ));
        }
        if raw.len() > MAX_SECRET_LEN {
            return Err(crate::Error::invalid(
                "secret",
                format!("it is longer than {MAX_SECRET_LEN} bytes"),
            ));
        }
        Ok(secret)
    }

    /// This secret in its canonical form, refused as [`Secret::from_input`] refuses. The
    /// operations call it on whatever they are given, so the rule holds whichever way a
    /// secret came in (idempotent: a canonical secret comes back unchanged).
    pub fn canonical(&self) -> crate::Result<Secret> {
        Secret::from_input(self.expose_to_provider().to_vec())
    }

    /// Refuses a several-line secret where the network takes one line (`what`: the
    /// network's name for its secret, for the message).
    pub fn require_shape(&self, shape: Shape, what: &str) -> crate::Result<()> {
        if shape == Shape::Line && self.expose_to_provider().contains(&b'\n') {
            return Err(crate::Error::invalid(
                "secret",
                format!("it has a line break inside, and a {what} is one line"),
            )
            .with_hint("give the value alone, on one line"));
        }
        Ok(())
    }

    /// Bytes that already are a secret (made by smv or by a network, or read from the vault
    /// as they are).
    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret {
            bytes: boxed(bytes),
            stored: None,
        }
    }

    /// A secret as a vault stores it. Vaults written before the canonical form existed may
    /// hold surrounding whitespace that the providers trimmed before sending: the secret is
    /// that trimmed form, and the stored form is kept for redaction only.
    pub fn from_stored(bytes: Vec<u8>) -> Secret {
        let trimmed = bytes.trim_ascii();
        if trimmed.len() == bytes.len() || trimmed.is_empty() {
            return Secret::from_bytes(bytes);
        }
        let canonical = trimmed.to_vec();
        Secret {
            bytes: boxed(canonical),
            stored: Some(boxed(bytes)),
        }
    }

    /// Whether the vault holds this secret in an older, non-canonical form.
    pub fn is_stored_differently(&self) -> bool {
        self.stored.is_some()
    }

    pub fn len(&self) -> usize {
        self.bytes.expose_secret().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw bytes. Call only where the bytes go to the provider's network call, into the
    /// encrypted vault or into the keyed fingerprint — never into output, logs, errors or
    /// audit entries.
    pub fn expose_to_provider(&self) -> &[u8] {
        self.bytes.expose_secret()
    }

    /// The bytes as text, for networks whose secrets are text (all of them). Same rules as
    /// [`Secret::expose_to_provider`].
    pub fn expose_text_to_provider(&self) -> Option<&str> {
        std::str::from_utf8(self.expose_to_provider()).ok()
    }

    /// Every form of this secret redaction must look for: the canonical one, and the one an
    /// older vault stored.
    pub(crate) fn forms(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.expose_to_provider())
            .chain(self.stored.as_ref().map(|s| s.expose_secret() as &[u8]))
    }

    /// A second `Secret` with the same bytes (both are wiped when dropped). Deliberately not
    /// `Clone`: every copy is written out where it is made.
    pub fn duplicate(&self) -> Secret {
        Secret {
            bytes: boxed(self.expose_to_provider().to_vec()),
            stored: self
                .stored
                .as_ref()
                .map(|s| boxed(s.expose_secret().to_vec())),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// The first control character other than a line break in `bytes`, described (never the
/// secret around it).
fn control_character(bytes: &[u8]) -> Option<String> {
    for (i, b) in bytes.iter().enumerate() {
        if *b != b'\n' && (*b < 0x20 || *b == 0x7f) {
            return Some(format!("byte 0x{b:02x}"));
        }
        // C1 controls, as UTF-8 (U+0080..U+009F are C2 80..C2 9F).
        if *b == 0xc2 && bytes.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)) {
            return Some(format!("U+00{:02X}", bytes[i + 1]));
        }
    }
    None
}

/// Text borrowed from a secret's bytes, or, where it had to be unescaped (JSON), an owned
/// copy that is wiped on drop. For the parts of a structured credential or of a network
/// session (X's tokens, Bluesky's JWTs): no `Clone`, no `Debug` of the value.
pub enum SecretStr<'a> {
    Borrowed(&'a str),
    Owned(Zeroizing<String>),
}

impl SecretStr<'_> {
    /// The text. Same rules as [`Secret::expose_to_provider`].
    pub fn expose(&self) -> &str {
        match self {
            SecretStr::Borrowed(s) => s,
            SecretStr::Owned(s) => s,
        }
    }

    /// An owned copy (wiped on drop), for a value that must outlive the bytes it came from.
    pub fn to_owned_secret(&self) -> SecretStr<'static> {
        SecretStr::Owned(Zeroizing::new(self.expose().to_string()))
    }
}

impl std::fmt::Debug for SecretStr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretStr([REDACTED])")
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for SecretStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = SecretStr<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(SecretStr::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SecretStr::Owned(Zeroizing::new(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(SecretStr::Owned(Zeroizing::new(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_bytes(b"canary-123456".to_vec());
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert!(!format!("{:#?}", Some(&s)).contains("canary"));
        let legacy = Secret::from_stored(b"canary-123456\n".to_vec());
        assert!(!format!("{legacy:?}").contains("canary"));
        let t = SecretStr::Borrowed("canary-123456");
        assert!(!format!("{t:?}").contains("canary"));
    }

    #[test]
    fn input_has_one_canonical_form() {
        for raw in [
            &b"token-1234"[..],
            b"token-1234\n",
            b"token-1234\r\n",
            b"token-1234\n\n",
            b"token-1234 ",
            b"token-1234\t \r\n \n",
        ] {
            let s = Secret::from_input(raw.to_vec()).unwrap();
            assert_eq!(s.expose_to_provider(), b"token-1234", "{raw:?}");
        }
        // Several lines (an X credential): separators normalised, each line's tail trimmed.
        let s = Secret::from_input(b"a=1234 \r\nb=5678\t\r\n\r\n".to_vec()).unwrap();
        assert_eq!(s.expose_to_provider(), b"a=1234\nb=5678");
        assert!(s.require_shape(Shape::Lines, "credential").is_ok());
        let err = s.require_shape(Shape::Line, "access token").unwrap_err();
        assert_eq!(err.class(), crate::Class::Usage);
        assert!(err.to_string().contains("line break"), "{err}");
        assert!(
            Secret::from_input(b"tok-1234".to_vec())
                .unwrap()
                .require_shape(Shape::Line, "token")
                .is_ok()
        );
    }

    #[test]
    fn control_characters_inside_are_refused() {
        for raw in [
            &b"tok\x00en-1234"[..],
            b"tok\ten-1234",
            b"tok\ren-1234",
            b"tok\x1ben-1234",
            b"tok\x7fen-1234",
            "tok\u{85}en-1234".as_bytes(),
            b"\ttoken-1234",
        ] {
            let err = Secret::from_input(raw.to_vec()).unwrap_err();
            assert_eq!(err.class(), crate::Class::Usage, "{raw:?}");
            assert!(err.to_string().contains("control character"), "{err}");
            assert!(err.hint().is_some());
            // The error names the character, never the secret.
            assert!(!err.to_string().contains("tok"), "{err}");
        }
        let err = Secret::from_input(b" token-1234".to_vec()).unwrap_err();
        assert!(err.to_string().contains("starts with a space"), "{err}");
        // Spaces inside are part of a password.
        assert!(Secret::from_input(b"correct horse battery".to_vec()).is_ok());
    }

    #[test]
    fn input_refuses_empty_short_and_huge() {
        assert!(Secret::from_input(b"abc".to_vec()).is_err());
        assert!(Secret::from_input(b"abc\n\n \t".to_vec()).is_err());
        assert!(Secret::from_input(b"\n".to_vec()).is_err());
        assert!(Secret::from_input(b" \r\n\t".to_vec()).is_err());
        assert!(Secret::from_input(vec![]).is_err());
        assert!(Secret::from_input(vec![b'a'; MAX_SECRET_LEN + 1]).is_err());
        assert!(Secret::from_input(vec![b'a'; MAX_SECRET_LEN]).is_ok());
    }

    #[test]
    fn a_legacy_stored_form_is_kept_for_redaction_only() {
        let s = Secret::from_stored(b"TOKEN-1234\n\n".to_vec());
        assert_eq!(s.expose_to_provider(), b"TOKEN-1234");
        assert!(s.is_stored_differently());
        let forms: Vec<&[u8]> = s.forms().collect();
        assert_eq!(forms, [&b"TOKEN-1234"[..], b"TOKEN-1234\n\n"]);
        let d = s.duplicate();
        assert_eq!(d.forms().count(), 2);
        let clean = Secret::from_stored(b"TOKEN-1234".to_vec());
        assert!(!clean.is_stored_differently());
        assert_eq!(clean.forms().count(), 1);
    }

    #[test]
    fn secret_str_borrows_when_it_can() {
        let json = br#"{"a":"plain-value","b":"with\/escape"}"#;
        let m: std::collections::BTreeMap<String, SecretStr> =
            serde_json::from_slice(json).unwrap();
        assert!(matches!(m["a"], SecretStr::Borrowed("plain-value")));
        assert!(matches!(m["b"], SecretStr::Owned(_)));
        assert_eq!(m["b"].expose(), "with/escape");
    }
}
