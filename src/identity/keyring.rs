//! The OS keyring as an identity store, through the `keyring` crate.
//!
//! One entry per OS user: service `smv`, user `identity`, holding the age secret key text.
//! Like an SSH key, one identity serves every vault the user is a custodian of.

use age::secrecy::{ExposeSecret, SecretString};

const SERVICE: &str = "smv";
const USER: &str = "identity";

#[cfg(target_os = "linux")]
pub const BACKEND: &str = "kernel keyutils";
#[cfg(target_os = "macos")]
pub const BACKEND: &str = "macOS Keychain";
#[cfg(target_os = "windows")]
pub const BACKEND: &str = "Windows Credential Manager";
#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
pub const BACKEND: &str = "platform keyring";

/// Whether the backend keeps a key across logins and reboots. The Linux kernel keyring
/// (keyutils) does not: its session keyring ends with the login session, and its persistent
/// keyring (where the kernel offers one) expires after a few idle days and never survives a
/// reboot. smv therefore never makes it the only store of an identity (issue 24): on Linux
/// a new identity goes to a file, and the kernel keyring is only read, for keys an older smv
/// put there.
#[cfg(target_os = "linux")]
pub const PERSISTENT: bool = false;
#[cfg(not(target_os = "linux"))]
pub const PERSISTENT: bool = true;

pub enum Lookup {
    Found(SecretString),
    Missing,
    Unusable(String),
}

fn entry() -> Result<keyring::Entry, String> {
    keyring::Entry::new(SERVICE, USER).map_err(|e| e.to_string())
}

pub fn load() -> crate::Result<Lookup> {
    let entry = match entry() {
        Ok(e) => e,
        Err(why) => return Ok(Lookup::Unusable(why)),
    };
    Ok(match entry.get_password() {
        Ok(text) => Lookup::Found(SecretString::from(text)),
        Err(keyring::Error::NoEntry) => Lookup::Missing,
        Err(e) => Lookup::Unusable(e.to_string()),
    })
}

/// Stores the key and reads it back, here and in a new process: a keyring that accepts a
/// write but cannot return it (seen with keyutils outside a session keyring), or forgets it
/// when this process ends, must not be trusted with the only key.
pub fn store(key: &SecretString, expected_recipient: &str) -> Result<(), String> {
    crate::failpoint::hit("keyring-store").map_err(|e| e.to_string())?;
    let entry = entry()?;
    entry
        .set_password(key.expose_secret())
        .map_err(|e| e.to_string())?;
    match entry.get_password() {
        Ok(back) if back == key.expose_secret() => Ok(()),
        Ok(_) => {
            let _ = entry.delete_credential();
            Err("the keyring returned a different value than was stored".to_string())
        }
        Err(e) => {
            let _ = entry.delete_credential();
            Err(format!("the key could not be read back ({e})"))
        }
    }?;
    // The same process reading back what it wrote proves little (a session keyring is
    // there until this process ends): a new process must find it too.
    match prove_in_fresh_process(expected_recipient) {
        Ok(()) => Ok(()),
        Err(why) => {
            let _ = entry.delete_credential();
            Err(why)
        }
    }
}

/// The hidden `smv identity probe-keyring` prints the recipient of the key in the keyring
/// (public); this runs it as a new process and compares.
pub fn prove_in_fresh_process(expected_recipient: &str) -> Result<(), String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("smv cannot find its own program ({e})"))?;
    let out = std::process::Command::new(exe)
        .args(["identity", "probe-keyring"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("a new process could not be started to read it back ({e})"))?;
    let found = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && found.trim() == expected_recipient {
        Ok(())
    } else {
        Err("a new process could not read the key back".into())
    }
}

/// What `smv identity probe-keyring` prints: the recipient of the keyring's identity.
pub fn probe() -> crate::Result<Option<String>> {
    match load()? {
        Lookup::Found(text) => Ok(Some(
            super::Identity::parse(text.expose_secret(), super::Source::Keyring)?
                .recipient_string(),
        )),
        _ => Ok(None),
    }
}

/// API tokens for the proxy (`smv login SERVER`): service `smv-token`, user the server's
/// address, so that one user can be logged in to several servers.
const TOKEN_SERVICE: &str = "smv-token";

pub fn load_token(server: &str) -> crate::Result<Option<crate::secret::Secret>> {
    let Ok(entry) = keyring::Entry::new(TOKEN_SERVICE, server) else {
        return Ok(None);
    };
    match entry.get_password() {
        Ok(text) => Ok(Some(crate::secret::Secret::from_bytes(text.into_bytes()))),
        Err(keyring::Error::NoEntry) => Ok(None),
        // An unusable keyring is the same as no login: the caller says how to log in.
        Err(_) => Ok(None),
    }
}

/// Stores and reads back, as [`store`] does for identities.
pub fn store_token(server: &str, token: &crate::secret::Secret) -> Result<(), String> {
    let entry = keyring::Entry::new(TOKEN_SERVICE, server).map_err(|e| e.to_string())?;
    let text =
        std::str::from_utf8(token.expose_to_provider()).map_err(|_| "the token is not text")?;
    entry.set_password(text).map_err(|e| e.to_string())?;
    match entry.get_password() {
        Ok(back) if back == text => Ok(()),
        _ => {
            let _ = entry.delete_credential();
            Err("the keyring did not return the token it was given".into())
        }
    }
}

/// Returns whether there was a token to forget.
pub fn delete_token(server: &str) -> Result<bool, String> {
    let entry = keyring::Entry::new(TOKEN_SERVICE, server).map_err(|e| e.to_string())?;
    match entry.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}
