//! Vault-wide values: its id, the keys that never leave it (the fingerprint HMAC key and
//! the audit log's signing key), and where this copy stands in the vault's history (its
//! generation and restore epoch, see `store::fresh`).

use rusqlite::{Connection, OptionalExtension};
use zeroize::Zeroizing;

use super::Vault;
use crate::{Error, Result, ids};

const VAULT_ID: &str = "vault_id";
const CREATED_AT: &str = "created_at";
const HMAC_KEY: &str = "fingerprint_hmac_key";
const AUDIT_KEY: &str = "audit_signing_key";
/// The MAC key of the outcomes journal (`store::journal`): only a holder of the vault key
/// can add a line that the next command appends to the signed log. Random, made by
/// `smv init`; a vault made before it existed uses a key derived from its audit signing key
/// (as secret, and rotated with it) until [`Vault::new_journal_key`] sets one.
const JOURNAL_KEY: &str = "journal_mac_key";
/// How many times the vault has been written (1 for `smv init`'s file). Absent in vaults
/// written before smv recorded it: the first write sets it.
const GENERATION: &str = "generation";
/// How many times an admin restored the vault from a backup (`smv restore`); absent = 0.
const EPOCH: &str = "restore_epoch";
/// The key era: how many times the audit and fingerprint keys were rotated; absent = 0.
const KEY_ERA: &str = "key_era";
/// The audit log's retired verifier keys (public), oldest first, as JSON text.
const RETIRED_AUDIT_KEYS: &str = "retired_audit_keys";
/// The retired fingerprint keys, oldest first, 32 bytes each: entries and blob names written
/// in an earlier era keep the HMACs made with them.
const RETIRED_FINGERPRINT_KEYS: &str = "retired_fingerprint_keys";

pub fn initialise(conn: &Connection) -> Result<()> {
    let mut insert = conn.prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
    insert.execute((VAULT_ID, ids::random_hex(16).into_bytes()))?;
    insert.execute((CREATED_AT, super::now().into_bytes()))?;
    insert.execute((HMAC_KEY, ids::random_bytes::<32>().to_vec()))?;
    insert.execute((AUDIT_KEY, ids::random_bytes::<32>().to_vec()))?;
    insert.execute((JOURNAL_KEY, ids::random_bytes::<32>().to_vec()))?;
    Ok(())
}

/// The vault's keys, copied out of the database; wiped on drop, never printed.
pub struct VaultKeys {
    pub fingerprint: Zeroizing<[u8; 32]>,
    pub audit_signing: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for VaultKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKeys([REDACTED])")
    }
}

impl Vault {
    fn meta(&self, key: &str) -> Result<Vec<u8>> {
        self.conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::Corrupt {
                path: self.path.clone(),
                why: format!("meta value `{key}` is missing"),
            })
    }

    fn meta_number(&self, key: &str) -> Result<Option<u64>> {
        let value: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        value
            .map(|v| {
                std::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| Error::Corrupt {
                        path: self.path.clone(),
                        why: format!("meta value `{key}` is not a number"),
                    })
            })
            .transpose()
    }

    fn set_meta_number(&self, key: &str, value: u64) -> Result<()> {
        self.put_meta(key, &value.to_string().into_bytes())
    }

    /// Sets one meta value (inserted, or replacing the one there).
    fn put_meta(&self, key: &str, value: &[u8]) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute((key, value))?;
        Ok(())
    }

    /// The generation of this copy: how many writes made it. None for a vault written before
    /// smv recorded generations.
    pub fn generation(&self) -> Result<Option<u64>> {
        self.meta_number(GENERATION)
    }

    /// How many deliberate restores from backup this vault has been through.
    pub fn epoch(&self) -> Result<u64> {
        Ok(self.meta_number(EPOCH)?.unwrap_or(0))
    }

    pub(super) fn set_generation(&self, generation: u64, epoch: u64) -> Result<()> {
        self.set_meta_number(GENERATION, generation)?;
        if epoch > 0 || self.meta_number(EPOCH)?.is_some() {
            self.set_meta_number(EPOCH, epoch)?;
        }
        Ok(())
    }

    pub fn id(&self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.meta(VAULT_ID)?).into_owned())
    }

    pub fn keys(&self) -> Result<VaultKeys> {
        let key32 = |name: &str| -> Result<Zeroizing<[u8; 32]>> {
            let v = Zeroizing::new(self.meta(name)?);
            let arr: [u8; 32] = v[..].try_into().map_err(|_| Error::Corrupt {
                path: self.path.clone(),
                why: format!("meta value `{name}` has the wrong length"),
            })?;
            Ok(Zeroizing::new(arr))
        };
        Ok(VaultKeys {
            fingerprint: key32(HMAC_KEY)?,
            audit_signing: key32(AUDIT_KEY)?,
        })
    }

    /// The key era (0 until the first rotation).
    pub fn key_era(&self) -> Result<u64> {
        Ok(self.meta_number(KEY_ERA)?.unwrap_or(0))
    }

    /// The audit log's retired verifier keys, oldest first (the current key is not among
    /// them: it is the vault's signing key's).
    pub fn retired_audit_keys(&self) -> Result<Vec<String>> {
        let value: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([RETIRED_AUDIT_KEYS], |r| r.get(0))
            .optional()?;
        match value {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_slice(&v).map_err(|_| Error::Corrupt {
                path: self.path.clone(),
                why: format!("meta value `{RETIRED_AUDIT_KEYS}` is malformed"),
            }),
        }
    }

    /// Replaces the audit signing key and the fingerprint key with new ones (a new key era):
    /// `retiring` is the current signing key's verifier key, kept in the list of retired
    /// keys; the current fingerprint key is kept for the HMACs made with it. Every account's
    /// fingerprint is recomputed under the new key in the same change. Returns the new era.
    pub fn replace_keys(
        &self,
        audit_signing: &[u8; 32],
        fingerprint: &[u8; 32],
        retiring: &str,
    ) -> Result<u64> {
        let mut retired = self.retired_audit_keys()?;
        retired.push(retiring.to_string());
        let era = self.key_era()? + 1;
        self.adopt_keys(audit_signing, fingerprint, &retired, era)?;
        Ok(era)
    }

    /// Takes keys of a later key era from the audit log (a restore of a copy older than a
    /// rotation): the copy's own fingerprint key is kept as retired, the log's list of
    /// retired verifier keys replaces the copy's, and fingerprints are recomputed.
    pub fn adopt_keys(
        &self,
        audit_signing: &[u8; 32],
        fingerprint: &[u8; 32],
        retired: &[String],
        era: u64,
    ) -> Result<()> {
        let old = self.keys()?;
        let mut old_fps = Zeroizing::new(self.meta_or_empty(RETIRED_FINGERPRINT_KEYS)?);
        old_fps.extend_from_slice(&old.fingerprint[..]);
        self.put_meta(AUDIT_KEY, audit_signing)?;
        self.put_meta(HMAC_KEY, fingerprint)?;
        self.put_meta(RETIRED_FINGERPRINT_KEYS, &old_fps)?;
        self.put_meta(
            RETIRED_AUDIT_KEYS,
            &serde_json::to_vec(retired).map_err(|e| Error::Internal(e.to_string()))?,
        )?;
        self.set_meta_number(KEY_ERA, era)?;
        self.refingerprint_accounts()?;
        Ok(())
    }

    fn meta_or_empty(&self, key: &str) -> Result<Vec<u8>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?
            .unwrap_or_default())
    }

    /// Whether `name` is the keyed hash of `bytes` under the current fingerprint key or a
    /// retired one (a blob named in an earlier key era).
    pub fn fingerprint_in_any_era(&self, bytes: &[u8], name: &str) -> Result<bool> {
        if self.fingerprint(bytes)? == name {
            return Ok(true);
        }
        let old = Zeroizing::new(self.meta_or_empty(RETIRED_FINGERPRINT_KEYS)?);
        for key in old.chunks(32) {
            if hmac_hex(key, bytes)? == name {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The key that authenticates lines of the outcomes journal (`store::journal`): the
    /// stored random key, or for a vault made before there was one, a key derived from the
    /// audit signing key (HMAC-SHA-256 of a fixed label), so that every process computes the
    /// same key before the vault is next written.
    pub fn journal_key(&self) -> Result<Zeroizing<[u8; 32]>> {
        use hmac::{Mac, SimpleHmac};
        let stored: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
            .query_row([JOURNAL_KEY], |r| r.get(0))
            .optional()?;
        if let Some(v) = stored {
            let v = Zeroizing::new(v);
            let arr: [u8; 32] = v[..].try_into().map_err(|_| Error::Corrupt {
                path: self.path.clone(),
                why: format!("meta value `{JOURNAL_KEY}` has the wrong length"),
            })?;
            return Ok(Zeroizing::new(arr));
        }
        let keys = self.keys()?;
        let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(&keys.audit_signing[..])
            .map_err(|_| Error::Internal("HMAC key length".into()))?;
        mac.update(b"smv journal key v1");
        Ok(Zeroizing::new(mac.finalize().into_bytes().into()))
    }

    /// Sets a new random journal key, to be saved with the change that calls it (the audit
    /// key's rotation). Lines kept under the old key are refused afterwards (their intents
    /// stay unknown until a person resolves them), so rotate when the journal is empty.
    pub fn new_journal_key(&self) -> Result<()> {
        self.set_journal_key(&ids::random_bytes::<32>())
    }

    /// Sets the journal key to `key` (a restore taking a later era's keys from the log).
    pub fn set_journal_key(&self, key: &[u8; 32]) -> Result<()> {
        self.put_meta(JOURNAL_KEY, key)
    }

    /// The keyed fingerprint of a secret: HMAC-SHA-256 under the vault's fingerprint key, in
    /// hex. Keyed, so that a leaked audit log or listing does not let anyone test guesses of
    /// a low-entropy password offline.
    pub fn fingerprint(&self, secret: &[u8]) -> Result<String> {
        let keys = self.keys()?;
        hmac_hex(&keys.fingerprint[..], secret)
    }
}

fn hmac_hex(key: &[u8], bytes: &[u8]) -> Result<String> {
    use hmac::{Mac, SimpleHmac};
    let mut mac = SimpleHmac::<sha2::Sha256>::new_from_slice(key)
        .map_err(|_| Error::Internal("HMAC key length".into()))?;
    mac.update(bytes);
    Ok(ids::hex(&mac.finalize().into_bytes()))
}
