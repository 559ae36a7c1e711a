//! Rotation of the vault's audit signing key and fingerprint key (issue 23: the audit key
//! leaves with its custodian).
//!
//! A change that removes a custodian (offboard, member remove) or `smv audit rotate-key`
//! gives the vault new keys ([`rotate`]). When the store appends that change's intent
//! ([`append_change`]), it sees that the vault being written signs with another key than the
//! log, and appends a rotation entry ([`super::KEY_ROTATED`]) that names the new verifier
//! key and carries both new keys age-encrypted to the remaining custodians. The checkpoint
//! after that entry is kept, signed by the retiring key and by the new one; every checkpoint
//! after it by the new key alone. A verifier follows the chain ([`super::KeyChain`]); a
//! checkpoint signed by a retired key after its retirement fails. A restore from a copy
//! older than a rotation takes the current keys from the log ([`current_keys_from_log`],
//! [`adopt`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::key::{LogKey, origin_for, signature_holds};
use super::verify::{Era, KEY_ROTATED, KeyChain};
use super::{Filter, Ledger, Record};
use crate::vault::Vault;
use crate::{Error, Result, ids};

/// Gives the vault new audit signing and fingerprint keys (a new key era), in the open
/// change. Call it after the custodian who leaves is removed: the new keys are sealed to
/// the custodians that remain when the change is written. Returns the new era.
pub fn rotate(vault: &Vault) -> Result<u64> {
    let retiring = LogKey::from_vault(vault)?.verifier_key();
    let audit = Zeroizing::new(ids::random_bytes::<32>());
    let fingerprint = Zeroizing::new(ids::random_bytes::<32>());
    // The outcomes journal's key leaves with the audit key (issue 23): a former custodian
    // can no longer authenticate a line for the trail.
    vault.new_journal_key()?;
    vault.replace_keys(&audit, &fingerprint, &retiring)
}

/// Every key of this vault's log, oldest first, with the entry at which each retired key
/// was retired (from the log's rotation entries; `until` is None where the log records no
/// rotation yet).
pub fn chain(vault: &Vault, log: &dyn Ledger) -> Result<KeyChain> {
    let mut keys = vault.retired_audit_keys()?;
    keys.push(LogKey::from_vault(vault)?.verifier_key());
    chain_of(&keys, log)
}

/// [`chain`] from the vault's verifier keys (retired ones, then the current one).
pub fn chain_of(keys: &[String], log: &dyn Ledger) -> Result<KeyChain> {
    let rotations = rotations(log)?;
    let mut eras = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let key = super::note::NoteVerifier::from_vkey(k)
            .map_err(|e| Error::Internal(format!("audit key: {e}")))?;
        let until = (i + 1 < keys.len())
            .then(|| rotations.get(i).map(|r| r.seq))
            .flatten();
        eras.push(Era { key, until });
    }
    Ok(KeyChain { eras })
}

/// One rotation entry as the log records it.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub seq: u64,
    pub time: String,
    pub era: u64,
    pub key: String,
    pub previous_key: String,
    pub cause: String,
}

/// The rotation entries of the log, in order.
pub fn rotations(log: &dyn Ledger) -> Result<Vec<Rotated>> {
    let filter = Filter {
        action: Some(KEY_ROTATED.to_string()),
        ..Filter::default()
    };
    let text = |e: &super::Entry, k: &str| {
        e.details
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Ok(log
        .entries(&filter)?
        .into_iter()
        .filter(|e| e.outcome == super::Outcome::Ok)
        .map(|e| Rotated {
            seq: e.seq,
            time: e.time.clone(),
            era: e.details.get("era").and_then(|v| v.as_u64()).unwrap_or(0),
            key: text(&e, "key"),
            previous_key: text(&e, "previous_key"),
            cause: text(&e, "cause"),
        })
        .collect())
}

/// The new keys as sealed in a rotation entry (to the custodians that remain).
#[derive(serde::Serialize, serde::Deserialize)]
struct Sealed {
    era: u64,
    audit_signing: String,
    fingerprint: String,
    /// The outcomes journal's key of the new era (absent in rotations made before it was
    /// sealed with them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    journal: Option<String>,
}

/// Appends a change's intent records: when the vault being written signs with another key
/// than the log (its keys were rotated in this change), with the rotation entry after them.
pub fn append_change(log: &mut dyn Ledger, records: &[Record], vault: &Vault) -> Result<()> {
    let next = LogKey::from_vault(vault)?;
    let current = log.signing_key();
    if current.is_none() || current.as_deref() == Some(next.verifier_key().as_str()) {
        return log.append_batch(records).map(|_| ());
    }
    let cause = records
        .first()
        .ok_or_else(|| Error::Internal("a change without an intent".into()))?;
    let keys = vault.keys()?;
    let plain = Zeroizing::new(
        serde_json::to_vec(&Sealed {
            era: vault.key_era()?,
            audit_signing: ids::hex(&keys.audit_signing[..]),
            fingerprint: ids::hex(&keys.fingerprint[..]),
            journal: Some(ids::hex(&vault.journal_key()?[..])),
        })
        .map_err(|e| Error::Internal(e.to_string()))?,
    );
    let sealed = crate::envelope::encrypt_to(&vault.custodian_recipients()?, &plain)
        .map_err(|e| Error::Internal(format!("encryption failed: {e}")))?;
    let mut details = serde_json::Map::new();
    details.insert("era".into(), vault.key_era()?.into());
    details.insert("key".into(), next.verifier_key().into());
    details.insert("previous_key".into(), current.unwrap_or_default().into());
    details.insert(
        "cause".into(),
        format!("{} {}", cause.action, cause.target).into(),
    );
    details.insert("sealed_keys".into(), STANDARD.encode(sealed).into());
    let rotation = Record {
        actor: cause.actor.clone(),
        channel: cause.channel.clone(),
        action: KEY_ROTATED.into(),
        target: "audit-key".into(),
        outcome: super::Outcome::Ok,
        reason: cause.reason.clone(),
        request_id: cause.request_id.clone(),
        details,
    };
    let mut all = records.to_vec();
    all.push(rotation);
    log.append_rotating(&all, Some(next)).map(|_| ())
}

/// Follows the log's rotations from the key `from` (what this machine pinned) to the key
/// `to` (what the vault says now): each rotation's kept checkpoint must be signed by the
/// key it retires and by the key it names. The keys after `from`, in order, or None when
/// the log holds no such chain.
pub fn follow(log: &dyn Ledger, from: &str, to: &str) -> Result<Option<Vec<String>>> {
    let retained = log.retained()?;
    let mut current = from.to_string();
    let mut out = Vec::new();
    for r in rotations(log)? {
        if r.previous_key != current {
            continue;
        }
        let (Ok(old), Ok(new)) = (
            super::note::NoteVerifier::from_vkey(&current),
            super::note::NoteVerifier::from_vkey(&r.key),
        ) else {
            return Ok(None);
        };
        let Some(cp) = retained.get(&r.seq) else {
            return Ok(None);
        };
        if !signature_holds(&old, log.origin(), cp.size, &cp.root, &cp.sig)
            || !signature_holds(&new, log.origin(), cp.size, &cp.root, &cp.sig)
        {
            return Ok(None);
        }
        current = r.key.clone();
        out.push(r.key);
        if current == to {
            return Ok(Some(out));
        }
    }
    Ok(None)
}

/// The keys of the log's latest key era, as the last rotation entry carries them sealed to
/// the custodians of its time.
pub struct CurrentKeys {
    pub era: u64,
    pub verifier_key: String,
    pub audit_signing: Zeroizing<[u8; 32]>,
    pub fingerprint: Zeroizing<[u8; 32]>,
    /// The outcomes journal's key of that era, where the rotation sealed one.
    pub journal: Option<Zeroizing<[u8; 32]>>,
    /// Every verifier key before it, oldest first, as far as the log names them.
    pub retired: Vec<String>,
}

impl std::fmt::Debug for CurrentKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentKeys")
            .field("era", &self.era)
            .field("verifier_key", &self.verifier_key)
            .finish_non_exhaustive()
    }
}

/// The current keys from the log's last rotation, opened with a custodian's identity (for
/// a restore from a copy older than the rotation). None when the log records no rotation.
/// The keys must be the ones the entry names, and the rotation's checkpoint must be signed
/// by them.
pub fn current_keys_from_log(
    log: &dyn Ledger,
    identity: &dyn age::Identity,
) -> Result<Option<CurrentKeys>> {
    let all = rotations(log)?;
    let Some(last) = all.last() else {
        return Ok(None);
    };
    let entry = log
        .entry(last.seq)?
        .ok_or_else(|| Error::Internal("a rotation entry vanished".into()))?;
    let sealed = entry
        .details
        .get("sealed_keys")
        .and_then(|v| v.as_str())
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or_else(|| {
            super::store::audit_error(
                std::path::Path::new(log.origin()),
                format!("the key rotation at entry {} carries no keys", last.seq),
            )
        })?;
    // Not sealed to this identity: it was not a custodian after that rotation (a leaver's
    // key, say) — an identity refusal (exit 6), as for a vault it cannot open.
    let plain = crate::envelope::decrypt_with(identity, &sealed).map_err(|_| Error::BadIdentity {
        path: "this identity".into(),
        why: format!(
            "the audit keys of the rotation at entry {} were not sealed to it: it was not a custodian after that rotation",
            last.seq
        ),
        hint: Some("act with the identity of a custodian who remained after that rotation".into()),
    })?;
    let keys: Sealed =
        serde_json::from_slice(&plain).map_err(|e| Error::Internal(format!("sealed keys: {e}")))?;
    let key32 = |hex: &str| -> Result<Zeroizing<[u8; 32]>> {
        let bytes = Zeroizing::new(
            ids::unhex(hex).ok_or_else(|| Error::Internal("sealed keys: not hex".into()))?,
        );
        let arr: [u8; 32] = bytes[..]
            .try_into()
            .map_err(|_| Error::Internal("sealed keys: wrong length".into()))?;
        Ok(Zeroizing::new(arr))
    };
    let audit_signing = key32(&keys.audit_signing)?;
    let fingerprint = key32(&keys.fingerprint)?;
    let journal = keys.journal.as_deref().map(key32).transpose()?;
    let origin = log.origin().to_string();
    let key = LogKey::from_seed(&origin, &audit_signing)?;
    if key.verifier_key() != last.key {
        return Err(super::store::audit_error(
            std::path::Path::new(&origin),
            format!(
                "the keys sealed in the rotation at entry {} are not the key it names",
                last.seq
            ),
        ));
    }
    let retained = log.retained()?;
    let verifier = key.verifier()?;
    let signed = retained
        .get(&last.seq)
        .is_some_and(|cp| signature_holds(&verifier, &origin, cp.size, &cp.root, &cp.sig));
    if !signed {
        return Err(super::store::audit_error(
            std::path::Path::new(&origin),
            format!(
                "the rotation at entry {} is not signed by the key it names",
                last.seq
            ),
        ));
    }
    let mut retired: Vec<String> = all.iter().map(|r| r.previous_key.clone()).collect();
    retired.dedup();
    Ok(Some(CurrentKeys {
        era: keys.era,
        verifier_key: last.key.clone(),
        audit_signing,
        fingerprint,
        journal,
        retired,
    }))
}

/// Gives an older copy of the vault (a backup from before a rotation) the log's current
/// keys, so that it signs where the log goes on. Returns the era adopted, or None when the
/// copy already has the log's current key (or the log never rotated). For `smv restore`.
pub fn adopt(vault: &Vault, log: &dyn Ledger, identity: &dyn age::Identity) -> Result<Option<u64>> {
    if origin_for(&vault.id()?) != log.origin() {
        return Err(Error::invalid(
            "vault",
            "the copy is of another vault than the log",
        ));
    }
    let Some(keys) = current_keys_from_log(log, identity)? else {
        return Ok(None);
    };
    if LogKey::from_vault(vault)?.verifier_key() == keys.verifier_key {
        return Ok(None);
    }
    vault.adopt_keys(
        &keys.audit_signing,
        &keys.fingerprint,
        &keys.retired,
        keys.era,
    )?;
    match &keys.journal {
        Some(k) => vault.set_journal_key(k)?,
        // A rotation sealed before the journal key was: a new one (lines kept under the
        // retired key are refused, their posts stay unknown until resolved).
        None => vault.new_journal_key()?,
    }
    Ok(Some(keys.era))
}
