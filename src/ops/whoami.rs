//! `smv whoami`: which identity this shell acts with, and which member that makes it.

use serde::Serialize;

use super::Ctx;
use crate::Result;
use crate::access::Role;

#[derive(Debug, Serialize)]
pub struct WhoAmI {
    pub member: String,
    pub role: Role,
    pub custodian: bool,
    pub recipient: String,
    pub identity: String,
    pub vault: String,
    pub grants: usize,
}

pub fn whoami(ctx: &mut Ctx) -> Result<WhoAmI> {
    let identity = ctx.identity().source.describe();
    let recipient = ctx.identity().recipient_string();
    let vault = ctx.settings.vault.display().to_string();
    ctx.read("whoami", "self", |tx| {
        Ok(WhoAmI {
            member: tx.actor.name.clone(),
            role: tx.actor.role,
            custodian: tx.actor.is_custodian(),
            recipient,
            identity,
            vault,
            grants: tx.vault.grants(Some(tx.actor))?.len(),
        })
    })
}
