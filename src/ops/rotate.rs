//! Secrets over time: replacing one (`smv rotate`), and the review of all of them
//! (`smv secrets`).

use serde::Serialize;

use super::Ctx;
use super::offboard::rotate_command;
use super::sessions::VaultSessions;

use crate::access::Action;
use crate::providers::{self, MemorySessions, Rotated, Target};
use crate::secret::Secret;
use crate::vault::NewSecret;
use crate::{Error, Result};

/// Where the new secret comes from.
pub enum NewCredential {
    /// Given by a person (prompt, stdin or file).
    Given(Secret),
    /// Made by smv at the network (`--auto`).
    Auto,
}

#[derive(Debug, Serialize)]
pub struct RotateReport {
    pub account: String,
    pub provider: String,
    pub auto: bool,
    pub previous_version: i64,
    pub secret_version: i64,
    /// Keyed fingerprint of the new secret (see `smv audit hash`).
    pub secret_fingerprint: Option<String>,
    /// Former custodians who could read the replaced secret: no longer a concern.
    pub no_longer_exposed_to: Vec<String>,
    /// What the network's read-only call saw with the new secret (None with --no-check).
    pub checked: Option<String>,
    pub label: Option<String>,
    pub expires_at: Option<String>,
    /// What a person still has to do.
    pub note: Option<String>,
}

pub fn rotate(
    ctx: &mut Ctx,
    name: &str,
    credential: NewCredential,
    check: bool,
) -> Result<RotateReport> {
    super::check_name("account", name)?;
    let target = format!("account:{name}");
    let state_dir = ctx.settings.provider_state_dir();
    // Authorize on a snapshot; the network calls happen outside any lock.
    let (actor, account, old_secret, snapshot) = ctx.read("account.rotate", &target, |tx| {
        let account = tx.vault.account(name)?;
        let grant = tx.vault.grant_level(tx.actor, account.id)?;
        tx.require(
            Action::RotateSecret { grant },
            &format!("rotate the secret of `{name}`"),
        )?;
        let info = providers::lookup(&account.provider)?;
        if !info.needs_secret {
            return Err(Error::invalid(
                "account",
                format!("a {} account has no secret to rotate", info.name),
            ));
        }
        let secret = tx.vault.account_secret(&account)?;
        let session = tx.vault.account_session(&account)?;
        Ok((tx.actor.name.clone(), account, secret, session))
    })?;
    let provider = providers::implementation(&account.provider)?;
    let api_version = super::api_version(&ctx.settings, &account);
    let provider_error = |e: providers::ProviderError, hint: String| Error::Provider {
        account: name.to_string(),
        kind: e.kind(),
        message: e.to_string(),
        hint: Some(hint),
    };

    let auto = matches!(credential, NewCredential::Auto);
    let info = providers::lookup(&account.provider)?;
    let made: Result<Rotated> = match credential {
        NewCredential::Given(secret) => secret.canonical().and_then(|secret| {
            providers::check_secret(info, &secret)?;
            providers::check_urls(info.name, None, Some(&secret))?;
            Ok(Rotated {
                secret,
                label: None,
                note: None,
            })
        }),
        NewCredential::Auto => {
            let sessions = VaultSessions::new(ctx, &account.name, &actor, snapshot);
            let t = Target {
                account: &account,
                secret: old_secret.as_ref(),
                state_dir: state_dir.clone(),
                sessions: Some(&sessions),
                api_version: api_version.clone(),
            };
            provider
                .rotate(&t)
                .map_err(|e| {
                    provider_error(
                        e,
                        format!(
                            "nothing was changed; rotate by hand: make a new credential at the network, then `smv rotate {name}`"
                        ),
                    )
                })
                .and_then(|mut r| {
                    // A secret a network made is kept in the same canonical form as one a
                    // person gives.
                    r.secret = r.secret.canonical()?;
                    providers::check_secret(info, &r.secret)?;
                    Ok(r)
                })
        }
    };

    // Prove the new secret before it replaces the old one; a new session starts in memory.
    let checked = match &made {
        Ok(r) if check => {
            let sessions = MemorySessions::default();
            let t = Target {
                account: &account,
                secret: Some(&r.secret),
                state_dir,
                sessions: Some(&sessions),
                api_version: api_version.clone(),
            };
            Some(provider.check_posting(&t).map(|c| match c.unproved {
                None => c.seen,
                Some(why) => format!("{} (posting is not proved: {why})", c.seen),
            }).map_err(|e| {
                provider_error(
                    e,
                    format!(
                        "the old secret is still in place; check the new one (or, if the network is unreachable from here, pass --no-check: `smv account check {name}` proves it later)"
                    ),
                )
            }))
        }
        _ => None,
    };

    ctx.change("account.rotate", &target, |tx| {
        tx.detail("auto", auto);
        tx.detail("checked", check);
        let rotated = made?;
        // Not secret, and the one thing needed to revoke a credential the network made if
        // this change fails after it.
        if let Some(l) = &rotated.label {
            tx.detail("label", l.as_str());
        }
        let checked = checked.transpose()?;
        let current = tx.vault.account(name)?;
        // Authorize again under the lock: grants can change while the network answered.
        let grant = tx.vault.grant_level(tx.actor, current.id)?;
        tx.require(
            Action::RotateSecret { grant },
            &format!("rotate the secret of `{name}`"),
        )?;
        if current.secret_version != account.secret_version {
            return Err(Error::Conflict(
                format!("the secret of `{name}` was replaced by someone else meanwhile"),
                Some("`smv secrets` shows its new version; run the rotation again if it is still needed".into()),
            ));
        }
        let no_longer_exposed_to = tx.vault.exposed_to_former(&current)?;
        let updated = tx.vault.replace_secret(
            &current,
            NewSecret {
                secret: &rotated.secret,
                label: rotated.label.as_deref(),
            },
        )?;
        let expires = crate::providers::lookup(&updated.provider)
            .ok()
            .and_then(super::accounts::expiry_for);
        let updated = tx.vault.set_secret_expiry(&updated, expires.as_deref())?;
        tx.detail("previous_version", current.secret_version);
        tx.detail("secret_version", updated.secret_version);
        if let Some(fp) = &updated.secret_fingerprint {
            tx.detail("secret_hmac", fp.as_str());
        }
        tx.detail("no_longer_exposed_to", no_longer_exposed_to.clone());
        Ok(RotateReport {
            account: updated.name.clone(),
            provider: updated.provider.clone(),
            auto,
            previous_version: current.secret_version,
            secret_version: updated.secret_version,
            secret_fingerprint: updated.secret_fingerprint.clone(),
            no_longer_exposed_to,
            checked,
            label: updated.secret_label.clone(),
            expires_at: updated.secret_expires_at.clone(),
            note: rotated.note,
        })
    })
}

/// Why a secret deserves attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretState {
    Ok,
    /// A former custodian could decrypt it.
    Exposed,
    /// It stops working within [`EXPIRY_WARNING_DAYS`].
    Expiring,
    Expired,
}

/// How early `smv secrets` warns about an expiring secret.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

#[derive(Debug, Serialize)]
pub struct SecretView {
    pub account: String,
    pub provider: String,
    pub version: i64,
    pub set_at: Option<String>,
    pub age_days: Option<i64>,
    /// When it was last replaced (None: never rotated since the account was added).
    pub rotated_at: Option<String>,
    pub last_used: Option<String>,
    pub exposed_to: Vec<String>,
    pub expires_at: Option<String>,
    pub label: Option<String>,
    pub state: SecretState,
    /// The command that deals with it, when something should be done.
    pub action: Option<String>,
}

/// Every stored secret's record (never the secret): admins and auditors.
pub fn secrets(ctx: &mut Ctx) -> Result<Vec<SecretView>> {
    let mut views = ctx.read("secrets", "accounts", |tx| {
        tx.require(Action::ViewAllAccess, "review the secrets")?;
        let now = crate::clock::now();
        let mut out = Vec::new();
        for a in tx.vault.accounts()? {
            if a.secret_fingerprint.is_none() {
                continue;
            }
            let exposed_to = tx.vault.exposed_to_former(&a)?;
            let expires = a
                .secret_expires_at
                .as_deref()
                .and_then(crate::clock::parse_stamp);
            let state = match expires {
                Some(t) if t <= now => SecretState::Expired,
                _ if !exposed_to.is_empty() => SecretState::Exposed,
                Some(t) if t - now <= chrono::Duration::days(EXPIRY_WARNING_DAYS) => {
                    SecretState::Expiring
                }
                _ => SecretState::Ok,
            };
            let action = (state != SecretState::Ok).then(|| rotate_command(&a.name));
            let set = a
                .secret_set_at
                .as_deref()
                .and_then(crate::clock::parse_stamp);
            out.push(SecretView {
                last_used: None,
                age_days: set.map(|t| (now - t).num_days()),
                rotated_at: (a.secret_version > 1)
                    .then(|| a.secret_set_at.clone())
                    .flatten(),
                account: a.name,
                provider: a.provider,
                version: a.secret_version,
                set_at: a.secret_set_at,
                exposed_to,
                expires_at: a.secret_expires_at,
                label: a.secret_label,
                state,
                action,
            });
        }
        Ok(out)
    })?;
    // API versions retired soon (or already): a warning per account, naming the setting.
    let versions = ctx.store.view(|vault| {
        let today = crate::clock::now().date_naive();
        Ok(vault
            .accounts()?
            .iter()
            .filter_map(|a| {
                let chosen = super::api_version(&ctx.settings, a);
                let v = providers::versions::chosen(&a.provider, chosen.as_deref(), None)?;
                providers::versions::warning(&a.provider, &a.name, v, today)
            })
            .collect::<Vec<_>>())
    })?;
    ctx.warnings.extend(versions);
    // From the log, after the look: a scan of the log does not hold the vault.
    let last_uses = ctx.store.reader()?.last_uses()?;
    for v in &mut views {
        v.last_used = last_uses.get(&v.account).cloned();
    }
    Ok(views)
}
