//! The key that opens the vault, and where it is kept.
//!
//! An identity is an age X25519 key. Whose key it is decides which member acts in local mode.
//! It is looked for, in order: `--identity FILE`, `SMV_IDENTITY` (the key itself, for CI),
//! `SMV_IDENTITY_FILE`, `identity_file` in config.toml, the OS keyring, and the default
//! identity file that `smv init` writes when no keyring that survives a reboot is usable
//! (on Linux always: the kernel keyring is only read, for keys an older smv put there). The first source that
//! exists is used; a source that exists but is broken is an error, never skipped, so that a
//! typo cannot make smv act as somebody else.

mod file;
pub(crate) mod keyring;
pub mod token_file;

use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};

use crate::settings::Settings;
use crate::{Error, Result};

pub use file::{IdentityFileKind, write_identity_file};

/// Asks a person for a passphrase. The CLI implements it with a hidden terminal prompt; the
/// server has none and refuses passphrase-protected identities.
pub trait PassphrasePrompt {
    fn passphrase(&self, prompt: &str) -> Result<SecretString>;
}

/// A prompt that always refuses: for contexts with no person at a terminal.
pub struct NoPrompt;

impl PassphrasePrompt for NoPrompt {
    fn passphrase(&self, _prompt: &str) -> Result<SecretString> {
        Err(Error::BadIdentity {
            path: "passphrase".into(),
            why: "a passphrase is needed but there is no terminal to ask it on".into(),
            hint: Some("use an unprotected identity file with restricted permissions, the keyring, or SMV_IDENTITY".into()),
        })
    }
}

/// Where an identity came from; shown by `smv whoami` and named in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `SMV_IDENTITY`.
    Env,
    /// A file, with the setting that named it and whether it is passphrase-protected.
    File {
        path: PathBuf,
        origin: &'static str,
        protected: bool,
    },
    /// The OS keyring entry `smv` / `identity`.
    Keyring,
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Env => "SMV_IDENTITY".into(),
            Source::File {
                path,
                origin,
                protected,
            } => format!(
                "{}file {} (from {origin})",
                if *protected {
                    "passphrase-protected "
                } else {
                    ""
                },
                path.display()
            ),
            Source::Keyring => format!("OS keyring ({})", keyring::BACKEND),
        }
    }
}

pub struct Identity {
    key: age::x25519::Identity,
    pub source: Source,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("recipient", &self.recipient_string())
            .field("source", &self.source)
            .finish()
    }
}

impl Identity {
    pub fn generate(source: Source) -> Identity {
        Identity {
            key: age::x25519::Identity::generate(),
            source,
        }
    }

    /// Parses the text of an age identity (file contents or the bare key).
    pub fn parse(text: &str, source: Source) -> Result<Identity> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'));
        let what = match &source {
            Source::File { path, .. } => path.display().to_string(),
            other => other.describe(),
        };
        let bad = |why: &str| {
            Error::BadIdentity {
            path: what.clone(),
            why: why.into(),
            hint: Some("an identity is an age X25519 key (AGE-SECRET-KEY-1…), as written by `smv init` or `age-keygen`".into()),
        }
        };
        let line = line.ok_or_else(|| bad("it contains no key"))?;
        if !line.starts_with("AGE-SECRET-KEY-1") {
            return Err(bad(
                "it is not an age X25519 secret key (plugin and SSH keys are not supported)",
            ));
        }
        // The parse error of age would not echo the key, but its text adds nothing for a
        // user either: say what is wrong in our words.
        let key = line
            .parse::<age::x25519::Identity>()
            .map_err(|_| bad("the key is malformed (bad characters or checksum)"))?;
        Ok(Identity { key, source })
    }

    pub fn recipient(&self) -> age::x25519::Recipient {
        self.key.to_public()
    }

    pub fn recipient_string(&self) -> String {
        self.key.to_public().to_string()
    }

    pub fn age_identity(&self) -> &dyn age::Identity {
        &self.key
    }

    /// The secret key's text. Only for writing it to its store (file, keyring).
    pub(crate) fn secret_key_text(&self) -> SecretString {
        self.key.to_string()
    }
}

/// Finds the identity to act with (see the module docs for the order).
pub fn resolve(settings: &Settings, prompt: &dyn PassphrasePrompt) -> Result<Identity> {
    let mut looked = Vec::new();
    if let Some((path, "--identity")) = &settings.identity_file {
        return file::load(path, "--identity", prompt);
    }
    if let Some(key) = settings.env.identity() {
        return Identity::parse(key.expose_secret(), Source::Env);
    }
    looked.push("SMV_IDENTITY".to_string());
    if let Some((path, origin)) = &settings.identity_file {
        return file::load(path, origin, prompt);
    }
    looked.push("SMV_IDENTITY_FILE".to_string());
    if settings.keyring {
        match keyring::load()? {
            keyring::Lookup::Found(text) => {
                return Identity::parse(text.expose_secret(), Source::Keyring);
            }
            keyring::Lookup::Missing => looked.push("OS keyring".into()),
            keyring::Lookup::Unusable(why) => looked.push(format!("OS keyring (unusable: {why})")),
        }
    } else {
        looked.push("OS keyring (disabled)".into());
    }
    let default = &settings.default_identity_file;
    if default.exists() {
        return file::load(default, "default location", prompt);
    }
    looked.push(default.display().to_string());
    Err(Error::NoIdentity {
        looked: looked.join(", "),
    })
}

/// Like [`resolve`], but "no identity anywhere" is not an error (for `smv init`).
pub fn resolve_existing(
    settings: &Settings,
    prompt: &dyn PassphrasePrompt,
) -> Result<Option<Identity>> {
    // A named identity file that does not exist yet (--identity, or SMV_IDENTITY_FILE /
    // identity_file when SMV_IDENTITY does not come first): init creates the new key there.
    let named_missing = settings.identity_file.as_ref().is_some_and(|(path, origin)| {
        (*origin == "--identity" || settings.env.identity().is_none())
            && matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    });
    if named_missing {
        return Ok(None);
    }
    match resolve(settings, prompt) {
        Ok(id) => Ok(Some(id)),
        Err(Error::NoIdentity { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where `smv init` put a newly created identity, and what the user should know about it.
pub struct Stored {
    pub source: Source,
    pub notice: Option<String>,
}

/// Stores a new identity: in the named file, else in the OS keyring when it is usable and
/// keeps keys across logins and reboots (proved by a new process reading it back), else in
/// the default identity file (saying why). The Linux kernel keyring is never the only store:
/// it forgets keys at logout and reboot, and a vault whose only key is gone is lost.
pub fn store_new(
    settings: &Settings,
    identity: &Identity,
    file_kind: IdentityFileKind,
) -> Result<Stored> {
    if let Some((path, origin)) = &settings.identity_file {
        write_identity_file(path, identity, file_kind)?;
        return Ok(Stored {
            source: Source::File {
                path: path.clone(),
                origin,
                protected: file_kind.is_protected(),
            },
            notice: None,
        });
    }
    let keyring_problem = if !settings.keyring {
        "the keyring is disabled (SMV_KEYRING=off or keyring = false)".to_string()
    } else if matches!(file_kind, IdentityFileKind::Passphrase(_)) {
        "a passphrase was asked for, which applies to identity files".to_string()
    } else if !keyring::PERSISTENT {
        format!(
            "the OS keyring ({}) forgets keys at logout and reboot, so it never holds the only key",
            keyring::BACKEND
        )
    } else {
        match keyring::store(&identity.secret_key_text(), &identity.recipient_string()) {
            Ok(()) => {
                return Ok(Stored {
                    source: Source::Keyring,
                    notice: None,
                });
            }
            Err(why) => format!("no usable OS keyring ({why})"),
        }
    };
    let path = &settings.default_identity_file;
    write_identity_file(path, identity, file_kind)?;
    let protect = if file_kind.is_protected() {
        String::new()
    } else {
        " (it is not passphrase-protected: `--passphrase` protects a new one)".to_string()
    };
    Ok(Stored {
        source: Source::File {
            path: path.clone(),
            origin: "default location",
            protected: file_kind.is_protected(),
        },
        notice: Some(format!(
            "{keyring_problem}: the identity was written to {} (mode 0600){protect}; keep a copy elsewhere (`smv identity backup FILE --passphrase`) and add a second custodian",
            path.display()
        )),
    })
}

/// A warning for an identity found only in a keyring that forgets keys (the Linux kernel
/// keyring, where an older smv kept it): copy it to a file before a logout loses it.
pub fn fragile_store_warning(settings: &Settings, identity: &Identity) -> Option<String> {
    if identity.source != Source::Keyring
        || keyring::PERSISTENT
        || settings.default_identity_file.exists()
    {
        return None;
    }
    Some(format!(
        "your identity is only in the OS keyring ({}), which forgets it at logout and reboot: copy it to a file now with `smv identity backup {}` (or add `--passphrase`)",
        keyring::BACKEND,
        settings.default_identity_file.display()
    ))
}

pub fn display_path(p: &Path) -> String {
    p.display().to_string()
}
