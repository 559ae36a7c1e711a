//! Reading what a person types: secrets, passphrases, confirmations. Secrets come from a
//! hidden prompt on the terminal, standard input or a file; never from argv.

use std::io::{IsTerminal, Read};
use std::path::Path;

use age::secrecy::SecretString;

use crate::identity::PassphrasePrompt;
use crate::secret::Secret;
use crate::{Error, Result};

fn no_terminal(what: &str, hint: &str) -> Error {
    Error::invalid(
        "input",
        format!("{what} must be typed, and there is no terminal to ask on"),
    )
    .with_hint(hint.to_string())
}

fn has_tty() -> bool {
    std::fs::File::open("/dev/tty").is_ok() || std::io::stdin().is_terminal()
}

pub fn read_secret(stdin: bool, file: Option<&Path>, label: &str) -> Result<Secret> {
    if stdin {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(crate::secret::MAX_SECRET_LEN as u64 + 3)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("read", "standard input", e))?;
        return Secret::from_input(buf);
    }
    if let Some(path) = file {
        let bytes = std::fs::read(path).map_err(|e| Error::io("read secret file", path, e))?;
        return Secret::from_input(bytes);
    }
    if !has_tty() {
        return Err(no_terminal(
            "the secret",
            "pass it with --secret-stdin or --secret-file FILE",
        ));
    }
    let typed = rpassword::prompt_password(format!("{label}: "))
        .map_err(|e| Error::io("read", "terminal", e))?;
    Secret::from_input(typed.into_bytes())
}

/// A secret of several fields (an X credential): from stdin or a file as `key=value` lines
/// (or JSON), as [`read_secret`] reads it; on a terminal, asked field by field, each hidden,
/// after asking which of the `forms` it is. The fields are joined into the `key=value`
/// form the provider's shape checks (`providers::shape`).
pub fn read_secret_fields(
    stdin: bool,
    file: Option<&Path>,
    label: &str,
    forms: &[crate::providers::shape::Form],
) -> Result<Secret> {
    if stdin || file.is_some() || forms.is_empty() {
        return read_secret(stdin, file, label);
    }
    if !has_tty() {
        return Err(no_terminal(
            "the secret",
            "pass it with --secret-stdin or --secret-file FILE (key=value lines)",
        ));
    }
    let form = if forms.len() == 1 {
        &forms[0]
    } else {
        let menu: Vec<String> = forms
            .iter()
            .enumerate()
            .map(|(i, f)| format!("{}) {}", i + 1, f.name))
            .collect();
        let answer =
            rpassword::prompt_password(format!("{label}: which form? {}: ", menu.join(", ")))
                .map_err(|e| Error::io("read", "terminal", e))?;
        let n: usize = answer.trim().parse().unwrap_or(0);
        forms.get(n.wrapping_sub(1)).ok_or_else(|| {
            Error::invalid(
                "input",
                format!("answer with a number from 1 to {}", forms.len()),
            )
        })?
    };
    // Sized up front: a vector that grows leaves copies behind in freed memory.
    let mut joined = zeroize::Zeroizing::new(Vec::with_capacity(16 * 1024));
    for (key, required) in form
        .required
        .iter()
        .map(|k| (k, true))
        .chain(form.optional.iter().map(|k| (k, false)))
    {
        let typed = zeroize::Zeroizing::new(
            rpassword::prompt_password(format!(
                "{key}{} (hidden): ",
                if required {
                    ""
                } else {
                    " (optional, Enter to skip)"
                }
            ))
            .map_err(|e| Error::io("read", "terminal", e))?,
        );
        let value = typed.trim_matches(|c| c == ' ' || c == '\t');
        if value.is_empty() {
            if required {
                return Err(Error::invalid("secret", format!("{key}: it is empty")));
            }
            continue;
        }
        joined.extend_from_slice(key.as_bytes());
        joined.push(b'=');
        joined.extend_from_slice(value.as_bytes());
        joined.push(b'\n');
    }
    Secret::from_input(std::mem::take(&mut *joined))
}

/// The terminal prompt for identity passphrases.
pub struct TerminalPrompt;

impl PassphrasePrompt for TerminalPrompt {
    fn passphrase(&self, prompt: &str) -> Result<SecretString> {
        if !has_tty() {
            return Err(no_terminal(
                "the identity's passphrase",
                "in CI, use SMV_IDENTITY or an unprotected identity file (mode 0600)",
            ));
        }
        let typed =
            rpassword::prompt_password(prompt).map_err(|e| Error::io("read", "terminal", e))?;
        Ok(SecretString::from(typed))
    }
}

/// Asks for a new passphrase twice.
pub fn new_passphrase() -> Result<SecretString> {
    use age::secrecy::ExposeSecret;
    let first = TerminalPrompt.passphrase("New passphrase for the identity: ")?;
    if first.expose_secret().chars().count() < 8 {
        return Err(Error::invalid(
            "passphrase",
            "it is shorter than 8 characters",
        ));
    }
    let second = TerminalPrompt.passphrase("Repeat the passphrase: ")?;
    if first.expose_secret() != second.expose_secret() {
        return Err(Error::invalid("passphrase", "the two entries differ"));
    }
    Ok(first)
}

/// Asks the user to type `expected` to confirm a destructive action.
pub fn confirm(question: &str, expected: &str) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(
            Error::invalid("confirmation", "there is no terminal to confirm on")
                .with_hint("pass --yes to confirm in scripts"),
        );
    }
    super::output::prompt(&format!("{question} Type `{expected}` to confirm: "));
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| Error::io("read", "standard input", e))?;
    if line.trim() == expected {
        Ok(())
    } else {
        Err(Error::invalid(
            "confirmation",
            "it did not match; nothing was changed",
        ))
    }
}

/// A post's text: the argument, a file, or standard input (when omitted or `-`). The one
/// newline a file or a pipe ends with is not part of the post, and a file or pipe written
/// with Windows line ends (CRLF) has them as `\n`: a stray `\r` would be posted (and
/// approved) as part of every line. A lone `\r`, or one typed in the argument, is kept.
pub fn read_text(
    text: Option<String>,
    file: Option<std::path::PathBuf>,
    usage: &str,
) -> Result<String> {
    // Bytes first: text that is not UTF-8 is bad input (exit 2), not a failed read.
    let utf8 = |bytes: Vec<u8>, from: &str| {
        String::from_utf8(bytes).map_err(|e| {
            Error::invalid(
                "text",
                format!(
                    "{from} is not valid UTF-8 (at byte {})",
                    e.utf8_error().valid_up_to()
                ),
            )
            .with_hint("save the text as UTF-8 (e.g. `iconv -t UTF-8`)")
        })
    };
    let from_file = |t: String| {
        if t.contains("\r\n") {
            t.replace("\r\n", "\n")
        } else {
            t
        }
    };
    let text = match (text, file) {
        (Some(t), None) if t != "-" => t,
        (None, Some(path)) => from_file(utf8(
            std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?,
            &path.display().to_string(),
        )?),
        _ => {
            if std::io::stdin().is_terminal() {
                return Err(Error::invalid("text", "no text given")
                    .with_hint(format!("{usage}, or --file FILE, or pipe the text in")));
            }
            let mut t = Vec::new();
            std::io::stdin()
                .read_to_end(&mut t)
                .map_err(|e| Error::io("read", "standard input", e))?;
            from_file(utf8(t, "standard input")?)
        }
    };
    Ok(text.strip_suffix('\n').unwrap_or(&text).to_string())
}
