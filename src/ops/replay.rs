//! A restore's replay: the removals the audit log records after a copy of the vault was
//! made, made again in the copy before it becomes the vault (issue 23, "Restore replays
//! removals").
//!
//! Replayed, in log order: offboardings and member removals (the member disabled, their key
//! removed so the vault is no longer encrypted to it, their grants gone, their pending
//! drafts and scheduled posts handed over or cancelled as the offboarding did, their
//! approvals withdrawn, every token they owned or created revoked — a CI token that lived
//! on with a new secret is listed for re-issue), grant revocations and lowered grants, and
//! token revocations. A grant revoked and later given back is skipped (the copy keeps no
//! more than the later grant gave). A removal whose intent is recorded without an outcome
//! (interrupted: it may have happened) is replayed too: taking access away is the safe side.
//! Nothing is added: member names are never reused, and additions since the copy are the
//! restore's to undo (the report lists them).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::access::{Level, Role};
use crate::audit::{Entry, Ledger, Outcome};
use crate::vault::{DraftStatus, Member, QueueStatus, TokenKind, Vault};
use crate::{Error, Result};

/// A removal the log records after the copy, and what making it again removed.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    /// The entry of the change (its intent).
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// What it took away from the copy again (empty: the copy did not hold it).
    pub removed: Vec<String>,
    /// Why it was not made again (access given back later in the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The log records its intent but no outcome: it may have happened, so it is replayed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

pub(super) struct Replay {
    pub replayed: Vec<Replayed>,
    /// `smv token create …` for each CI token revoked by the replay that lived on.
    pub reissue: Vec<String>,
}

const OFFBOARD: &[&str] = &["member.offboard", "member.remove"];
const ACTIONS: &[&str] = &[
    "member.offboard",
    "member.remove",
    "revoke",
    "grant",
    "token.revoke",
];

/// A change the log records: its intent, and whether its outcome is recorded.
struct Change {
    intent: Entry,
    interrupted: bool,
}

/// Makes again, in `copy`, the removals the log records after entry `after`.
pub(super) fn removals(copy: &Vault, log: &dyn Ledger, after: u64) -> Result<Replay> {
    let size = log.size()?;
    // Intents carry the details; a change happened if its outcome is ok, may have happened
    // if none is recorded, and did not if it failed.
    let mut open: HashMap<(String, String, String), Entry> = HashMap::new();
    let mut changes: Vec<Change> = Vec::new();
    log.each_after(after, size, ACTIONS, &mut |e| {
        let key = (e.request_id.clone(), e.action.clone(), e.target.clone());
        match e.outcome {
            Outcome::Intent => {
                open.insert(key, e);
            }
            Outcome::Ok => {
                if let Some(intent) = open.remove(&key) {
                    changes.push(Change {
                        intent,
                        interrupted: false,
                    });
                }
            }
            Outcome::Failed | Outcome::Denied | Outcome::Unknown => {
                open.remove(&key);
            }
        }
        Ok(())
    })?;
    // An interrupted grant gave nothing for sure: only interrupted removals count.
    changes.extend(
        open.into_values()
            .filter(|e| e.action != "grant")
            .map(|intent| Change {
                intent,
                interrupted: true,
            }),
    );
    changes.sort_by_key(|c| c.intent.seq);

    // The last grant or revocation of each (member, account) pair decides what it keeps.
    let mut last: BTreeMap<(String, String), (u64, Option<Level>)> = BTreeMap::new();
    let mut pairs_of: HashMap<u64, Vec<(String, String)>> = HashMap::new();
    for c in &changes {
        let e = &c.intent;
        if e.action != "grant" && e.action != "revoke" {
            continue;
        }
        let Some(member) = text(e, "member") else {
            continue;
        };
        let level = match e.action.as_str() {
            "grant" => match text(e, "level").and_then(|l| l.parse::<Level>().ok()) {
                Some(l) => Some(l),
                None => continue,
            },
            _ => None,
        };
        let pairs: Vec<(String, String)> = accounts_of(copy, e)?
            .into_iter()
            .map(|a| (member.clone(), a))
            .collect();
        for p in &pairs {
            last.insert(p.clone(), (e.seq, level));
        }
        pairs_of.insert(e.seq, pairs);
    }

    let mut replay = Replay {
        replayed: Vec::new(),
        reissue: Vec::new(),
    };
    for c in &changes {
        let e = &c.intent;
        let by = e.actor.as_str();
        let mut removed = Vec::new();
        let mut skipped = None;
        match e.action.as_str() {
            a if OFFBOARD.contains(&a) => {
                let name = e.target.strip_prefix("member:").unwrap_or(&e.target);
                let heir = text(e, "to");
                offboard(copy, name, heir.as_deref(), by, &mut removed, &mut replay)?;
            }
            "token.revoke" => {
                let accessor = e.target.strip_prefix("token:").unwrap_or(&e.target);
                match copy.token(accessor) {
                    Ok(t) if t.revoked_at.is_none() => {
                        copy.revoke_token(&t, by, "revoked again by a restore")?;
                        removed.push(format!("token {} ({}) of {}", t.accessor, t.name, t.owner));
                    }
                    Ok(_) | Err(Error::NotFound { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            "revoke" | "grant" => {
                let mut given_back = Vec::new();
                for (member, account) in pairs_of.get(&e.seq).into_iter().flatten() {
                    let Some(&(seq, level)) = last.get(&(member.clone(), account.clone())) else {
                        continue;
                    };
                    if seq != e.seq {
                        if e.action == "revoke" {
                            given_back.push(format!("{member} on {account} (entry {seq})"));
                        }
                        continue;
                    }
                    if let Some(what) = take_grant(copy, member, account, level, by)? {
                        removed.push(what);
                    }
                }
                if e.action == "grant" && removed.is_empty() {
                    // A grant that lowered nothing in the copy is not a removal.
                    continue;
                }
                if removed.is_empty() && !given_back.is_empty() {
                    skipped = Some(format!("granted again later: {}", given_back.join(", ")));
                }
            }
            _ => continue,
        }
        replay.replayed.push(Replayed {
            seq: e.seq,
            time: e.time.clone(),
            actor: e.actor.clone(),
            action: e.action.clone(),
            target: e.target.clone(),
            removed,
            skipped,
            interrupted: c.interrupted,
        });
    }
    Ok(replay)
}

fn text(e: &Entry, key: &str) -> Option<String> {
    e.details
        .get(key)
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The accounts a grant or revocation was about: as recorded when the entry names them,
/// else its targets (accounts and groups) as the copy knows them.
fn accounts_of(copy: &Vault, e: &Entry) -> Result<Vec<String>> {
    let listed = |key: &str, field: Option<&str>| -> Option<Vec<String>> {
        let items = e.details.get(key)?.as_array()?;
        Some(
            items
                .iter()
                .filter_map(|v| match field {
                    Some(f) => v.get(f)?.as_str(),
                    None => v.as_str(),
                })
                .map(str::to_string)
                .collect(),
        )
    };
    if let Some(names) = listed("accounts", None).or_else(|| listed("revoked", Some("account"))) {
        return Ok(names);
    }
    let targets = e.target.strip_prefix("account:").unwrap_or(&e.target);
    let mut out: Vec<String> = Vec::new();
    for name in targets.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let found = match copy.account(name) {
            Ok(a) => vec![a.name],
            Err(Error::NotFound { .. }) if copy.group_exists(name)? => {
                copy.group(name)?.into_iter().map(|a| a.name).collect()
            }
            Err(Error::NotFound { .. }) => Vec::new(),
            Err(err) => return Err(err),
        };
        for a in found {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    Ok(out)
}

/// Brings `member`'s grant on `account` in the copy down to `keep` (None: removed); what
/// it took away, if anything.
fn take_grant(
    copy: &Vault,
    member: &str,
    account: &str,
    keep: Option<Level>,
    by: &str,
) -> Result<Option<String>> {
    let (m, a) = match (copy.member(member), copy.account(account)) {
        (Ok(m), Ok(a)) => (m, a),
        (Err(Error::NotFound { .. }), _) | (_, Err(Error::NotFound { .. })) => return Ok(None),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let Some(held) = copy.grant_level(&m, a.id)? else {
        return Ok(None);
    };
    match keep {
        None => {
            copy.remove_grant(&m, a.id)?;
            Ok(Some(format!("grant of {member} on {account} ({held})")))
        }
        Some(level) if level < held => {
            copy.set_grant(&m, a.id, level, by)?;
            Ok(Some(format!(
                "grant of {member} on {account} lowered from {held} to {level}"
            )))
        }
        Some(_) => Ok(None),
    }
}

/// An offboarding made again in the copy (see the module's comment).
fn offboard(
    copy: &Vault,
    name: &str,
    heir: Option<&str>,
    by: &str,
    removed: &mut Vec<String>,
    replay: &mut Replay,
) -> Result<()> {
    let member = match copy.member(name) {
        Ok(m) => m,
        // Added after the copy: the restore does not bring them back at all.
        Err(Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let heir: Option<Member> = heir
        .and_then(|h| copy.member(h).ok())
        .filter(|h| h.active && h.role != Role::Auditor && h.id != member.id);
    if member.active {
        removed.push(format!("member {name}"));
    }
    if member.is_custodian() {
        removed.push(format!(
            "{name}'s key (the vault is no longer encrypted to it)"
        ));
    }
    let grants = copy.grants(Some(&member))?;
    if !grants.is_empty() {
        removed.push(format!("{} grant(s) of {name}", grants.len()));
    }
    copy.disable_member(&member)?;

    let why = format!("author {name} offboarded (made again by a restore)");
    for d in copy.pending_drafts_by(&member)? {
        match &heir {
            Some(h) => copy.hand_over_draft(&d, h)?,
            None => copy.close_draft(&d, DraftStatus::Cancelled, by, Some(&why))?,
        }
        removed.push(format!("{name}'s pending draft {}", d.id));
    }
    for q in copy.open_queued_by(&member)? {
        match &heir {
            Some(h) => copy.hand_over_queued(
                &q,
                h,
                &format!("handed over from {name} (offboarded): held until released"),
            )?,
            None => copy.set_queued(&q, QueueStatus::Cancelled, Some(&why), None)?,
        }
        removed.push(format!("{name}'s scheduled post {}", q.id));
    }
    for d in copy.withdraw_approvals(&member)? {
        removed.push(format!("{name}'s approval of draft {d}"));
    }
    let reason = format!("{name} offboarded (made again by a restore)");
    for t in copy.open_tokens_of(&member)? {
        copy.revoke_token(&t, by, &reason)?;
        removed.push(format!("token {} ({}) of {}", t.accessor, t.name, t.owner));
        // A CI token that lived on (handed over, or kept by its owner) had a new secret in
        // the live vault that the copy does not know: it is revoked, to be made again.
        if t.kind == TokenKind::Ci {
            let owner = if t.owner_id == member.id {
                heir.as_ref().map(|h| h.name.clone())
            } else {
                Some(t.owner.clone())
            };
            if let Some(owner) = owner {
                replay
                    .reissue
                    .push(super::offboard::reissue_command(&t, &owner));
            }
        }
    }
    Ok(())
}
