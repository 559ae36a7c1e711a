//! The one type that holds an account's secret, and the redaction of text that might echo it.
//!
//! [`Secret`] has no `Clone`, `Serialize` or `Display`, its `Debug` prints a placeholder, and
//! its bytes are wiped when it is dropped. The only way to the raw bytes is
//! [`Secret::expose_to_provider`], whose name is meant to stand out in review.

use secrecy::{ExposeSecret, SecretBox};

/// Upper bound on a secret's size: tokens, app passwords and webhook URLs are small; a larger
/// input is almost certainly the wrong file.
pub const MAX_SECRET_LEN: usize = 64 * 1024;
/// Lower bound, so that every stored secret can be redacted (see [`redact_all`]).
pub const MIN_SECRET_LEN: usize = 4;

pub struct Secret(SecretBox<[u8]>);

impl Secret {
    /// Wraps bytes read from a prompt, stdin or a file. One trailing newline (`\n` or `\r\n`)
    /// is removed, because that is what `echo`, editors and password managers add.
    pub fn from_input(mut bytes: Vec<u8>) -> crate::Result<Secret> {
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        let secret = Secret::from_bytes(bytes);
        if secret.is_empty() {
            return Err(crate::Error::invalid("secret", "it is empty"));
        }
        // No real token is this short, and a value this short could not be redacted from
        // error texts without mangling ordinary words.
        if secret.len() < MIN_SECRET_LEN {
            return Err(crate::Error::invalid(
                "secret",
                format!("it is shorter than {MIN_SECRET_LEN} bytes"),
            ));
        }
        if secret.len() > MAX_SECRET_LEN {
            return Err(crate::Error::invalid(
                "secret",
                format!("it is longer than {MAX_SECRET_LEN} bytes"),
            ));
        }
        Ok(secret)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Secret {
        Secret(SecretBox::new(bytes.into_boxed_slice()))
    }

    pub fn len(&self) -> usize {
        self.0.expose_secret().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw bytes. Call only where the bytes go to the provider's network call or into the
    /// encrypted vault — never into output, logs, errors or audit entries.
    pub fn expose_to_provider(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// Replaces every form of this secret that a network might echo back (raw, URL-encoded,
    /// base64) with `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        redact_all(text, std::slice::from_ref(&self))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// Redacts several secrets at once (a provider may hold a key pair, a token and a URL).
pub fn redact_all(text: &str, secrets: &[&Secret]) -> String {
    use base64::Engine as _;
    let mut out = text.to_string();
    for secret in secrets {
        let raw = secret.expose_to_provider();
        // Short values would redact ordinary words; `from_input` refuses them as secrets.
        if raw.len() < MIN_SECRET_LEN {
            continue;
        }
        let mut forms: Vec<String> = Vec::new();
        if let Ok(s) = std::str::from_utf8(raw) {
            forms.push(s.to_string());
            let encoded = percent_encode(s);
            // Servers echo either hex case.
            forms.push(lower_hex_escapes(&encoded));
            forms.push(encoded);
        }
        forms.push(base64::engine::general_purpose::STANDARD.encode(raw));
        forms.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw));
        forms.push(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
        for form in forms {
            if !form.is_empty() {
                out = out.replace(&form, "[REDACTED]");
            }
        }
    }
    out
}

/// `%2F` → `%2f`, leaving everything else as it is.
fn lower_hex_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3).unwrap_or(&rest[i..]);
        out.push_str(&esc.to_ascii_lowercase());
        rest = &rest[i + esc.len()..];
    }
    out.push_str(rest);
    out
}

/// RFC 3986 percent-encoding of everything but unreserved characters, upper-case hex (the
/// caller also redacts the lower-case form).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_bytes(b"canary-123456".to_vec());
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert!(!format!("{:#?}", Some(&s)).contains("canary"));
    }

    #[test]
    fn input_trims_one_newline_and_refuses_empty() {
        let s = Secret::from_input(b"token\r\n".to_vec()).unwrap();
        assert_eq!(s.expose_to_provider(), b"token");
        let s = Secret::from_input(b"token\n\n".to_vec()).unwrap();
        assert_eq!(s.expose_to_provider(), b"token\n");
        // Too short to be a token, and to be redacted safely.
        assert!(Secret::from_input(b"abc".to_vec()).is_err());
        assert!(Secret::from_input(b"\n".to_vec()).is_err());
        assert!(Secret::from_input(vec![]).is_err());
        assert!(Secret::from_input(vec![b'a'; MAX_SECRET_LEN + 1]).is_err());
    }

    #[test]
    fn redacts_raw_url_encoded_and_base64_forms() {
        let s = Secret::from_bytes(b"https://hooks.example/T0/B1?x=a b".to_vec());
        let echoed = format!(
            "error for https://hooks.example/T0/B1?x=a b, sent as {}, auth {}",
            percent_encode("https://hooks.example/T0/B1?x=a b"),
            {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .encode("https://hooks.example/T0/B1?x=a b")
            }
        );
        let red = s.redact(&echoed);
        assert!(!red.contains("hooks.example"), "{red}");
        assert_eq!(red.matches("[REDACTED]").count(), 3);
    }
}
