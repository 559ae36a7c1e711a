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

/// What a user must be told after storing a key in this backend.
#[cfg(target_os = "linux")]
pub const NOTICE: Option<&str> = Some(
    "the Linux kernel keyring does not survive a reboot (and forgets a key after a few idle days): \
     keep a copy now with `smv identity backup FILE --passphrase`, and add a second custodian",
);
#[cfg(not(target_os = "linux"))]
pub const NOTICE: Option<&str> = None;

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

/// Stores the key and reads it back: a keyring that accepts a write but cannot return it
/// (seen with keyutils outside a session keyring) must not be trusted with the only key.
pub fn store(key: &SecretString) -> Result<(), String> {
    crate::failpoint::hit("keyring-store").map_err(|e| e.to_string())?;
    let entry = entry()?;
    entry
        .set_password(key.expose_secret())
        .map_err(|e| e.to_string())?;
    match entry.get_password() {
        Ok(back) if back == key.expose_secret() => Ok(()),
        Ok(_) => {
            let _ = entry.delete_credential();
            Err("the keyring returned a different value than was stored".into())
        }
        Err(e) => {
            let _ = entry.delete_credential();
            Err(format!("the key could not be read back ({e})"))
        }
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
