//! API tokens: `smv token create | list | revoke`. The proxy (`smv serve`) accepts them in
//! place of a custodian key; here they are made, shown once, listed and revoked.
//!
//! Tokens never mint tokens: a token is made with a custodian's key, never through another
//! token nor as a Unix user the proxy maps to a member (`smv serve --uid UID=NAME`): a
//! mapping is the server's flag, not the vault's, and a token minted through it would outlive
//! its removal. So no credential can outlive the one that made it. Tokens minted through a
//! mapped peer before this rule are revoked when `smv serve` starts
//! ([`revoke_peer_minted_tokens`]). A token acts at its *effective* level: the lower of its own level and
//! its owner's grant at the time of use; `token list` shows both.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::post::resolve_targets;
use super::{Ctx, check_id, check_name, check_targets};
use crate::access::{self, Action, Level};
use crate::secret::Secret;
use crate::vault::{NewToken, Token, TokenKind};
use crate::{Error, Result, clock};

/// Tokens live at most a year: a credential that never expires is one nobody reviews.
pub const MAX_TOKEN_DAYS: i64 = 366;

pub struct TokenSpec<'a> {
    pub name: &'a str,
    /// Account names or groups, comma-separated.
    pub accounts: &'a str,
    pub level: Level,
    pub expires_in_secs: i64,
    pub kind: TokenKind,
    /// Who the token acts for; None: the caller.
    pub owner: Option<&'a str>,
}

/// Mints a token; returns its record and the token itself, which is shown once and stored
/// nowhere (only its hash is in the vault, and nothing of it in the audit log).
pub fn token_create(ctx: &mut Ctx, spec: TokenSpec) -> Result<(Token, Secret)> {
    check_name("token", spec.name)?;
    check_targets(spec.accounts)?;
    if let Some(owner) = spec.owner {
        check_name("member", owner)?;
    }
    // Only a custodian's own key mints: not a token, not a Unix peer the proxy maps.
    let without_key = !matches!(ctx.principal(), super::Principal::Key);
    let (token, whole) = ctx.change("token.create", &format!("token:{}", spec.name), |tx| {
        if tx.actor.cap.is_some() || without_key {
            // Through a token: refused whatever the scope, before anything is looked up.
            tx.require(
                Action::MintToken {
                    grant: None,
                    level: spec.level,
                    for_other: spec.owner.is_some(),
                    through_token: true,
                },
                "create a token",
            )?;
        }
        if spec.expires_in_secs > MAX_TOKEN_DAYS * 86_400 {
            return Err(Error::invalid(
                "--expires",
                format!("a token lives at most {MAX_TOKEN_DAYS} days"),
            )
            .with_hint("create a new one before it expires (`smv token list` shows when)"));
        }
        let owner = match spec.owner {
            Some(name) => tx.vault.member(name)?,
            None => tx.actor.clone(),
        };
        let for_other = owner.id != tx.actor.id;
        let accounts = resolve_targets(tx.vault, spec.accounts)?;
        for a in &accounts {
            let grant = tx.vault.grant_level(tx.actor, a.id)?;
            tx.require(
                Action::MintToken {
                    grant,
                    level: spec.level,
                    for_other,
                    through_token: tx.actor.cap.is_some(),
                },
                &format!("create a `{}` token for `{}`", spec.level, a.name),
            )?;
        }
        if !owner.active {
            return Err(Error::Conflict(
                format!("member `{}` is removed", owner.name),
                None,
            ));
        }
        let expires_at =
            clock::stamp(clock::now() + chrono::Duration::seconds(spec.expires_in_secs));
        let (token, whole) = tx.vault.insert_token(NewToken {
            name: spec.name,
            owner: &owner,
            kind: spec.kind,
            level: spec.level,
            accounts: &accounts,
            expires_at: &expires_at,
            created_by: &tx.actor.name,
        })?;
        tx.detail("accessor", token.accessor.as_str());
        tx.detail("owner", token.owner.as_str());
        tx.detail("kind", token.kind.as_str());
        tx.detail("level", token.level.as_str());
        tx.detail("accounts", token.accounts.clone());
        tx.detail("expires_at", token.expires_at.as_str());
        Ok((token, whole))
    })?;
    // An admin may mint above the owner's grant; the token acts at the lower of the two.
    let effective = ctx.read("token.create", &format!("token:{}", token.name), |tx| {
        effective_levels(tx.vault, &token)
    })?;
    let below: Vec<String> = effective
        .iter()
        .filter(|e| e.level < Some(token.level))
        .map(|e| {
            format!(
                "{} ({})",
                e.account,
                e.level.map_or("no grant", |l| l.as_str())
            )
        })
        .collect();
    if !below.is_empty() {
        ctx.warnings.push(format!(
            "{}'s grant is below the token's level `{}` on {}: the token acts at the lower level (`smv token list` shows it)",
            token.owner,
            token.level,
            below.join(", ")
        ));
    }
    Ok((token, whole))
}

/// What a token can do on one of its accounts now: the lower of its level and its owner's
/// grant (None: the owner has no grant there, so the token can do nothing on it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EffectiveLevel {
    pub account: String,
    pub level: Option<Level>,
}

fn effective_levels(vault: &crate::vault::Vault, t: &Token) -> Result<Vec<EffectiveLevel>> {
    let owner = vault.member(&t.owner)?;
    let mut out = Vec::with_capacity(t.accounts.len());
    for name in &t.accounts {
        let account = vault.account(name)?;
        let grant = if owner.active {
            vault.grant_level(&owner, account.id)?
        } else {
            None
        };
        out.push(EffectiveLevel {
            account: name.clone(),
            level: grant.map(|g| g.min(t.level)),
        });
    }
    Ok(out)
}

/// A token as listed: its record, whether it is usable now, and its last use.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenView {
    #[serde(flatten)]
    pub token: Token,
    /// Per account, what the token can do now: the lower of its level and its owner's
    /// grant. This, not `level`, is what it is allowed.
    #[serde(default)]
    pub effective: Vec<EffectiveLevel>,
    pub live: bool,
    /// The latest audit entry made with it (through the proxy).
    pub last_used: Option<String>,
}

/// Admins and auditors see every token; anyone else the tokens they own or created.
pub fn token_list(ctx: &mut Ctx, all: bool) -> Result<Vec<TokenView>> {
    let store = ctx.store.clone();
    ctx.read("token.list", "tokens", |tx| {
        let everyone = access::decide(&tx.actor.actor(), Action::ViewAllAccess).is_allowed();
        let now = clock::now_stamp();
        tx.vault
            .tokens()?
            .into_iter()
            .filter(|t| everyone || t.owner_id == tx.actor.id || t.created_by == tx.actor.name)
            .filter(|t| all || t.revoked_at.is_none())
            .map(|t| {
                Ok(TokenView {
                    live: t.is_live(&now),
                    effective: effective_levels(tx.vault, &t)?,
                    last_used: None,
                    token: t,
                })
            })
            .collect::<Result<Vec<_>>>()
    })
    .and_then(|mut views| {
        // From the log, after the look: a scan of the log does not hold the vault.
        let uses: HashMap<String, String> = store.reader()?.token_last_uses()?;
        for v in &mut views {
            v.last_used = uses.get(&v.token.accessor).cloned();
        }
        Ok(views)
    })
}

/// The reason recorded on a token revoked because a Unix peer minted it.
pub const PEER_MINTED: &str =
    "minted through the proxy by a mapped Unix user, which may not mint tokens";

/// Revokes every live token that a Unix peer mapped with `--uid` minted through the proxy
/// (before such peers were refused): a token whose `token.create` entry in the log came
/// through the proxy channel. Such a token would outlive the mapping that made it. In one
/// change, recorded as `token.revoke` entries' single change by this process's member (the
/// rule acts, not a person's choice: no role is needed); nothing is written when there is
/// none. Returns the accessors revoked. `smv serve` runs it at start.
pub fn revoke_peer_minted_tokens(ctx: &mut Ctx) -> Result<Vec<String>> {
    let filter = crate::audit::Filter {
        action: Some("token.create".into()),
        ..Default::default()
    };
    let minted: Vec<String> = ctx
        .store
        .reader()?
        .entries(&filter)?
        .into_iter()
        // The change's intent carries its details (the accessor); a token whose change did
        // not commit is not in the vault, so only those that are there are revoked below.
        .filter(|e| e.channel == crate::audit::Channel::Proxy)
        .filter_map(|e| e.details.get("accessor")?.as_str().map(str::to_string))
        .collect();
    if minted.is_empty() {
        return Ok(Vec::new());
    }
    let now = clock::now_stamp();
    let live: Vec<String> = ctx.read("token.revoke", "tokens", |tx| {
        Ok(tx
            .vault
            .tokens()?
            .into_iter()
            .filter(|t| t.is_live(&now) && minted.contains(&t.accessor))
            .map(|t| t.accessor)
            .collect())
    })?;
    if live.is_empty() {
        return Ok(Vec::new());
    }
    ctx.change("token.revoke", "tokens", |tx| {
        let mut held_all = Vec::new();
        for accessor in &live {
            let token = tx.vault.token(accessor)?;
            held_all.extend(tx.vault.revoke_token(&token, &tx.actor.name, PEER_MINTED)?);
        }
        tx.detail("revoked", live.clone());
        tx.detail("reason", PEER_MINTED);
        if !held_all.is_empty() {
            tx.detail("queue_held", held_all);
        }
        Ok(())
    })?;
    Ok(live)
}

/// Revokes a token; the posts scheduled through it that are still pending are held (see
/// `ops::queue`).
pub fn token_revoke(ctx: &mut Ctx, accessor: &str, reason: Option<&str>) -> Result<Token> {
    check_id(super::IdKind::Token, accessor)?;
    let (token, held) = ctx.change("token.revoke", &format!("token:{accessor}"), |tx| {
        let token = tx.vault.token(accessor)?;
        if token.owner_id != tx.actor.id {
            tx.require(Action::RevokeToken, &format!("revoke token {accessor}"))?;
        }
        if token.revoked_at.is_some() {
            return Err(Error::Conflict(
                format!("token {accessor} is already revoked"),
                None,
            ));
        }
        let reason = reason.unwrap_or("revoked");
        let held = tx.vault.revoke_token(&token, &tx.actor.name, reason)?;
        tx.detail("owner", token.owner.as_str());
        tx.detail("name", token.name.as_str());
        if !held.is_empty() {
            tx.detail("queue_held", held.clone());
        }
        Ok((tx.vault.token(accessor)?, held))
    })?;
    if !held.is_empty() {
        ctx.warnings.push(format!(
            "held the posts scheduled through it: {} (`smv queue release ID` by their author sends one under their own credentials, `smv queue cancel ID` drops it)",
            held.join(", ")
        ));
    }
    Ok(token)
}
