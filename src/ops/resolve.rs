//! `smv posts resolve SEQ --published URL | --not-published --reason …`: a person says what
//! became of a post whose outcome is unknown (ops::outcomes), after looking at the account.
//! SEQ is the post's audit entry as its report shows it (its outcome) or its intent's: an
//! outcome names its intent, so either finds the one attempt.
//!
//! The resolution is a `post.resolve` entry in the audit log that names the intent it
//! settles (`intent_seq`): the ledger is where outcomes live, so resolving writes no vault
//! (except the scheduled post it settles, below). It is decided and appended under the
//! posting gate, on the log as it is then, so two people resolving the same post, or a
//! resolution racing an outcome written late, cannot both count: the second is refused
//! (exit 5), and an outcome from the network, even written later, wins over a person's word.
//!
//! Who may: admins, and members with `approve` on the post's account (through a token,
//! within its limits). A refusal is audited. A resolved scheduled post leaves `unknown`: sent
//! (with the URL) when published, held when not (released, it is sent again; cancelled, not).

use serde::{Deserialize, Serialize};

use super::outcomes::{self, Attempt, By, Resolution, Settled};
use super::{Ctx, IdKind, Refusal, check_id};
use crate::access::{self, Action, Decision};
use crate::audit::{Ledger, Outcome};
use crate::vault::{QueueStatus, Queued, Vault};
use crate::{Error, Result};

/// What `smv posts resolve` did.
#[derive(Debug, Serialize, Deserialize)]
pub struct Resolved {
    /// The post's intent (`smv posts resolve` takes it, or the post's outcome entry).
    pub intent_seq: u64,
    /// The post's idempotency key: `smv post --retry KEY` sends it again once it is
    /// resolved as not published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    pub account: String,
    #[serde(flatten)]
    pub resolution: Resolution,
    /// The `post.resolve` entry.
    pub audit_seq: u64,
    /// The scheduled post it settled, as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<Queued>,
}

const MAX_URL: usize = 2048;
const MAX_REASON: usize = 500;

/// A resolution as a person typed it: a URL that is one, a reason that says something.
fn check(resolution: &Resolution) -> Result<()> {
    match resolution {
        Resolution::Published { url } => {
            let parsed = reqwest::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some());
            if parsed.is_none() || url.len() > MAX_URL || url.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "URL",
                    "it is not the http(s) address of a post",
                )
                .with_hint("give the post's address as the network shows it, e.g. https://social.example/@co/1099"));
            }
        }
        Resolution::NotPublished { reason } => {
            if reason.trim().is_empty() || reason.chars().count() > MAX_REASON {
                return Err(Error::invalid(
                    "reason",
                    format!("it must say why (1 to {MAX_REASON} characters)"),
                )
                .with_hint("e.g. --reason \"not on the account's timeline at 10:40\""));
            }
        }
    }
    Ok(())
}

pub fn resolve_post(ctx: &mut Ctx, seq: u64, resolution: Resolution) -> Result<Resolved> {
    check(&resolution)?;
    let store = ctx.store.clone();
    let (attempt, audit_seq) =
        store.grouped(|log| store.view(|vault| settle(ctx, vault, log, seq, &resolution)))?;
    let account = attempt.account().to_string();
    // `seq` may be the post's outcome (what its report shows): the intent is what settles.
    let intent_seq = attempt.intent.seq;
    let queued = match attempt.detail("queue_id") {
        Some(id) if check_id(IdKind::Queued, id).is_ok() => {
            Some(settle_queued(ctx, id, intent_seq, &account, &resolution)?)
        }
        _ => None,
    };
    Ok(Resolved {
        intent_seq,
        idempotency_key: attempt.detail("idempotency_key").map(str::to_string),
        account,
        resolution,
        audit_seq,
        queued,
    })
}

/// Under the gate, on the log as it is now: who asks, may they, is it still unknown; then
/// the `post.resolve` entry, in this group (durable when the group is).
fn settle(
    ctx: &mut Ctx,
    vault: &Vault,
    log: &mut dyn Ledger,
    seq: u64,
    resolution: &Resolution,
) -> Result<(Attempt, u64)> {
    let at = format!("audit:{seq}");
    let actor = match ctx.resolve(vault, outcomes::RESOLVE, &at)? {
        Ok(m) => m,
        Err(refusal) => return refuse(log, refusal),
    };
    let attempt = outcomes::attempt_at(log, seq)?;
    let target = attempt.intent.target.clone();
    let account = attempt.account().to_string();
    // A removed account's posts: admins only (there is no grant on it any more).
    let grant = match vault.account(&account) {
        Ok(a) => vault.grant_level(&actor, a.id)?,
        Err(Error::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    if let Decision::Deny(rule) = access::decide(&actor.actor(), Action::ResolvePost { grant }) {
        let error = Error::denied(&actor.name, "resolve a post's outcome", rule);
        let record = ctx.failure(
            &actor.name,
            outcomes::RESOLVE,
            &target,
            &error,
            Default::default(),
        );
        return refuse(log, Refusal { record, error });
    }
    match &attempt.settled {
        Settled::Unknown(_) => {}
        done => {
            return Err(Error::Conflict(
                format!("the post of entry {seq} is not unknown: {}", describe(done)),
                Some(
                    "only a post whose outcome is unknown is resolved; `smv status` lists them"
                        .into(),
                ),
            ));
        }
    }
    let mut details = resolution.details();
    details.insert("intent_seq".into(), attempt.intent.seq.into());
    // What finds the resolution again: the post's key, scheduled post, draft and text.
    for key in [
        "idempotency_key",
        "queue_id",
        "draft_id",
        "text_sha256",
        "provider",
    ] {
        if let Some(v) = attempt.intent.details.get(key) {
            details.insert(key.into(), v.clone());
        }
    }
    let record = ctx.record(
        &actor.name,
        outcomes::RESOLVE,
        &target,
        Outcome::Ok,
        None,
        details,
    );
    let audit_seq = log.append(&record)?;
    Ok((attempt, audit_seq))
}

fn refuse<T>(log: &mut dyn Ledger, refusal: Refusal) -> Result<T> {
    log.append(&refusal.record)?;
    Err(refusal.error)
}

fn describe(settled: &Settled) -> String {
    let by = |b: &By, seq: &u64| match b {
        By::Network => format!("the network's answer, entry {seq}"),
        By::Resolution => format!("resolved in entry {seq}"),
    };
    match settled {
        Settled::Published {
            url, seq, by: b, ..
        } => format!(
            "it was published{} ({})",
            url.as_deref()
                .map(|u| format!(" at {u}"))
                .unwrap_or_default(),
            by(b, seq)
        ),
        Settled::NotPublished { seq, by: b, .. } => {
            format!("it was not published ({})", by(b, seq))
        }
        Settled::Unknown(why) => why.describe(),
    }
}

/// The scheduled post the resolved attempt sent leaves `unknown` (or `pending`, when the
/// run that sent it was interrupted): sent when published, held when not.
fn settle_queued(
    ctx: &mut Ctx,
    id: &str,
    seq: u64,
    account: &str,
    resolution: &Resolution,
) -> Result<Queued> {
    ctx.change("queue.resolve", &format!("queue:{id}"), |tx| {
        let q = tx.vault.queued(id)?;
        let grant = match q.account_id {
            Some(a) => tx.vault.grant_level(tx.actor, a)?,
            None => None,
        };
        tx.require(Action::ResolvePost { grant }, &format!("resolve a post to {account}"))?;
        tx.detail("intent_seq", seq);
        tx.detail("was", q.status.as_str());
        if !matches!(q.status, QueueStatus::Unknown | QueueStatus::Pending) {
            // Settled otherwise meanwhile (cancelled, sent by a later run): left as it is.
            return Ok(q);
        }
        match resolution {
            Resolution::Published { url } => {
                let note = format!("published (resolved by {}, audit entry {seq})", tx.actor.name);
                tx.vault
                    .set_queued(&q, QueueStatus::Sent, Some(&note), Some((None, Some(url))))?;
            }
            Resolution::NotPublished { reason } => {
                let note = format!(
                    "not published (resolved by {}: {reason}); release it to send it again, or cancel it",
                    tx.actor.name
                );
                tx.vault.set_queued(&q, QueueStatus::Held, Some(&note), None)?;
            }
        }
        tx.detail("now", tx.vault.queued(id)?.status.as_str());
        tx.vault.queued(id)
    })
}
