//! API tokens for the proxy kept in a file, for machines without a usable keyring
//! (`smv login SERVER --file`): `server-tokens.json` in smv's data directory, mode 0600 in a
//! 0700 directory, one token per server. It is read only if no other user can read it (like
//! an identity file). The token is as safe as that file: the keyring (or `SMV_TOKEN` from a
//! CI secret store) is the better place, and `smv logout SERVER` removes it.

use std::collections::BTreeMap;
use std::path::Path;

use zeroize::Zeroizing;

use crate::secret::Secret;
use crate::{Error, Result};

type Tokens = BTreeMap<String, Zeroizing<String>>;

fn read(path: &Path) -> Result<Tokens> {
    let bytes = match std::fs::read(path) {
        Ok(b) => Zeroizing::new(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tokens::new()),
        Err(e) => return Err(Error::io("read", path, e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| Error::io("inspect", path, e))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::BadIdentity {
                path: path.display().to_string(),
                why: format!(
                    "it holds API tokens and is readable by other users (mode {mode:04o})"
                ),
                hint: Some(format!(
                    "run `chmod 600 {}`, and revoke the tokens in it if others may have read them (`smv token revoke`)",
                    path.display()
                )),
            });
        }
    }
    serde_json::from_slice(&bytes).map_err(|_| Error::BadIdentity {
        path: path.display().to_string(),
        why: "it is not the token file smv writes".into(),
        hint: Some("remove it and log in again (`smv login SERVER --file`)".into()),
    })
}

fn write(path: &Path, tokens: &Tokens) -> Result<()> {
    if let Some(dir) = path.parent() {
        crate::fsutil::create_private_dir(dir)?;
    }
    let bytes =
        Zeroizing::new(serde_json::to_vec(tokens).map_err(|e| Error::Internal(e.to_string()))?);
    crate::fsutil::write_private(path, &bytes).map_err(|e| Error::io("write", path, e))
}

/// The token kept for `server`, if any.
pub fn load(path: &Path, server: &str) -> Result<Option<Secret>> {
    Ok(read(path)?
        .get(server)
        .map(|t| Secret::from_bytes(t.as_bytes().to_vec())))
}

pub fn store(path: &Path, server: &str, token: &Secret) -> Result<()> {
    let text = std::str::from_utf8(token.expose_to_provider())
        .map_err(|_| Error::invalid("token", "it is not text"))?;
    let mut tokens = read(path)?;
    tokens.insert(server.to_string(), Zeroizing::new(text.to_string()));
    write(path, &tokens)
}

/// Returns whether there was a token to forget.
pub fn delete(path: &Path, server: &str) -> Result<bool> {
    let mut tokens = read(path)?;
    let had = tokens.remove(server).is_some();
    if had {
        write(path, &tokens)?;
    }
    Ok(had)
}
