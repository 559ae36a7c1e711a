//! `smv whoami`: which identity this shell acts with, and which member that makes it.

use serde::{Deserialize, Serialize};

use super::{Ctx, Principal};
use crate::Result;
use crate::access::Role;

#[derive(Debug, Serialize, Deserialize)]
pub struct WhoAmI {
    pub member: String,
    pub role: Role,
    pub custodian: bool,
    /// The member's own vault key (custodians only): through the proxy, not the server's.
    pub recipient: Option<String>,
    /// What proved who you are: the identity's source, a token's accessor, a Unix uid.
    pub identity: String,
    /// The vault's path; through the proxy, where the proxy is (the server's file layout
    /// is not the caller's business).
    pub vault: String,
    pub grants: usize,
    /// How the request reached smv, as the audit log records it (`local`, `token:t…`,
    /// `proxy`).
    pub channel: String,
}

pub fn whoami(ctx: &mut Ctx) -> Result<WhoAmI> {
    let vault = match ctx.principal() {
        Principal::Key => ctx.store.describe(),
        Principal::Token(_) | Principal::Peer { .. } => "held by the proxy".to_string(),
    };
    let mut me = ctx.read("whoami", "self", |tx| {
        Ok(WhoAmI {
            member: tx.actor.name.clone(),
            role: tx.actor.role,
            custodian: tx.actor.is_custodian(),
            recipient: tx.actor.recipient.clone(),
            identity: String::new(),
            vault,
            // Through a token: the grants it can use.
            grants: {
                let mut usable = 0;
                for g in tx.vault.grants(Some(tx.actor))? {
                    let id = tx.vault.account(&g.account)?.id;
                    usable += usize::from(tx.vault.grant_level(tx.actor, id)?.is_some());
                }
                usable
            },
            channel: String::new(),
        })
    })?;
    me.channel = ctx.channel().to_string();
    me.identity = match ctx.principal() {
        Principal::Key => ctx.identity().source.describe(),
        Principal::Token(_) => format!("API token {}", me.channel.trim_start_matches("token:")),
        Principal::Peer { uid, .. } => format!("Unix uid {uid} on the server's socket"),
    };
    Ok(me)
}
