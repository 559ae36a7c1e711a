//! Identity files: the age identity text format, optionally wrapped in a passphrase
//! (age scrypt, armored), always written with mode 0600 and never over an existing file.

use std::io::Write;
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};

use super::{Identity, PassphrasePrompt, Source};
use crate::envelope::{self, DecryptFailure};
use crate::{Error, Result};

#[derive(Clone, Copy)]
pub enum IdentityFileKind<'a> {
    Plain,
    Passphrase(&'a SecretString),
}

impl IdentityFileKind<'_> {
    pub fn is_protected(&self) -> bool {
        matches!(self, IdentityFileKind::Passphrase(_))
    }
}

pub fn load(path: &Path, origin: &'static str, prompt: &dyn PassphrasePrompt) -> Result<Identity> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| {
        let missing = e.kind() == std::io::ErrorKind::NotFound;
        let err = Error::io("read identity file", path, e);
        if missing {
            // Exit 9 like every named file that is missing, with the way forward.
            err.with_hint(format!(
                "check the path given by {origin}: no file is there; without it, `smv identity show` says which key smv finds; `smv identity new` (or `smv init`) with the same {origin} makes a new key there"
            ))
        } else {
            err
        }
    })?);
    check_permissions(path)?;
    let bad = |why: String| Error::BadIdentity {
        path: path.display().to_string(),
        why,
        hint: None,
    };
    if envelope::looks_like_age(&bytes) {
        let pass = prompt.passphrase(&format!("Passphrase for {}: ", path.display()))?;
        let plain = match envelope::decrypt_with_passphrase(pass, &bytes) {
            Ok(p) => p,
            Err(DecryptFailure::NotForUs) => {
                return Err(bad("wrong passphrase".into())
                    .with_hint("type the passphrase again; it was set by `smv init --passphrase` or `smv identity backup --passphrase`"));
            }
            Err(DecryptFailure::Damaged(why)) => {
                return Err(bad(format!("the protected file is damaged: {why}")));
            }
        };
        let text =
            std::str::from_utf8(&plain).map_err(|_| bad("the protected key is not text".into()))?;
        return Identity::parse(
            text,
            Source::File {
                path: path.to_path_buf(),
                origin,
                protected: true,
            },
        );
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("the file is not text".into()))?;
    Identity::parse(
        text,
        Source::File {
            path: path.to_path_buf(),
            origin,
            protected: false,
        },
    )
}

/// Like ssh, refuse a key file that other users can read: it is the key to every secret.
#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::io("inspect identity file", path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::BadIdentity {
            path: path.display().to_string(),
            why: format!("it is readable by other users (mode {mode:04o})"),
            hint: Some(format!("run `chmod 600 {}`", path.display())),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<()> {
    Ok(())
}

/// Writes a new identity file (mode 0600). Refuses to replace an existing file: it may be the
/// only copy of another key.
pub fn write_identity_file(path: &Path, identity: &Identity, kind: IdentityFileKind) -> Result<()> {
    let key = identity.secret_key_text();
    let text = zeroize::Zeroizing::new(format!(
        "# created: {}\n# public key: {}\n{}\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        identity.recipient_string(),
        key.expose_secret()
    ));
    let bytes = match kind {
        IdentityFileKind::Plain => zeroize::Zeroizing::new(text.as_bytes().to_vec()),
        IdentityFileKind::Passphrase(pass) => zeroize::Zeroizing::new(
            envelope::encrypt_with_passphrase(pass.clone(), text.as_bytes())
                .map_err(|e| Error::io("encrypt identity file", path, e))?,
        ),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::fsutil::create_private_dir(dir)?;
    }
    let mut file = crate::fsutil::create_new_private(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Conflict(
                format!("an identity file already exists at {}", path.display()),
                Some("smv never overwrites a key file; choose another path, or use that one with --identity".into()),
            )
        } else {
            Error::io("create identity file", path, e)
        }
    })?;
    let written = file.write_all(&bytes).and_then(|_| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(path);
        return Err(Error::io("write identity file", path, e));
    }
    crate::fsutil::sync_parent(path)?;
    Ok(())
}
