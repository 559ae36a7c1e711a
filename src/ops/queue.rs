//! Scheduled posts: `smv post … --at`, `smv publish ID --at`, `smv queue` and `queue run`.
//!
//! Scheduling checks the author's right to post (so mistakes show at once), but what counts
//! is the check at send time: `queue run` sends each due post through [`super::send`] as
//! its author, with the author's rights, the account's freeze, policy and rate as they are
//! then. A removed member's posts do not go out; a frozen account's due posts are held and
//! wait for a person to release (or cancel) them, rather than firing when the freeze lifts.
//! Each send uses the idempotency key `queue:ID`, so a run interrupted after sending is
//! finished by the next run without posting twice.
//!
//! Scheduled posts follow their authority: a post scheduled through an API token records
//! the token, may not be due after the token expires, and is sent within the token's
//! limits and only while the token is valid. When the authority is gone — the token revoked
//! (the post is held at once) or expired, its owner removed, the author's grant taken — the
//! post is held with the reason, for a person to release or cancel. Released by its author,
//! it goes out under the author's credentials of that moment.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::outcomes::{self, KeyState};
use super::post::resolve_targets;
use super::send::{self, Author, Job, PostStatus, Rule};
use super::{Ctx, IdKind, Tx, check_id, check_targets};
use crate::access::{self, Action, Deny, Guard};
use crate::vault::{DraftStatus, QueueStatus, Queued, Vault};
use crate::{Error, Result, clock};

fn check_future(at: DateTime<Utc>) -> Result<String> {
    if at <= clock::now() {
        return Err(Error::invalid(
            "time",
            format!("{} is in the past", clock::stamp(at)),
        )
        .with_hint("give a future time with its UTC offset, e.g. 2026-12-01T09:00+01:00; to post now, leave out --at"));
    }
    Ok(clock::stamp(at))
}

/// The guard at scheduling time: the policy's approvals only. Freezes and the rate guard
/// are judged when the post is due.
fn schedule_guard(vault: &Vault, account: &crate::vault::Account) -> Result<Guard> {
    let policy = vault.policy(account)?;
    Ok(Guard {
        approvals_required: policy.approvals,
        strict: policy.strict,
        ..Guard::default()
    })
}

/// The token the actor acts through (its row), if any; a post through it may not be due
/// after it expires.
fn scheduling_token(tx: &Tx, due: &str) -> Result<Option<i64>> {
    let Some(cap) = &tx.actor.cap else {
        return Ok(None);
    };
    let token = tx.vault.token(&cap.accessor)?;
    if due >= token.expires_at.as_str() {
        return Err(Error::invalid(
            "time",
            format!(
                "{due} is after the token {} expires ({}): a scheduled post goes out only while the token that scheduled it is valid",
                token.accessor, token.expires_at
            ),
        )
        .with_hint(format!(
            "schedule it before {}, or ask for a token that lives longer",
            token.expires_at
        )));
    }
    Ok(Some(token.row))
}

pub fn schedule_post(
    ctx: &mut Ctx,
    targets: &str,
    text: &str,
    at: DateTime<Utc>,
) -> Result<Vec<Queued>> {
    check_targets(targets)?;
    let due = check_future(at)?;
    let state_dir = ctx.settings.provider_state_dir();
    // What validation needs from the networks, fetched before the vault's lock is taken.
    let limits = send::prepare_limits_of(ctx, |v| {
        Ok(resolve_targets(v, targets)?
            .into_iter()
            .map(|a| a.name)
            .collect())
    });
    let queued = ctx.change("post.schedule", &format!("account:{targets}"), |tx| {
        let accounts = resolve_targets(tx.vault, targets)?;
        let token = scheduling_token(tx, &due)?;
        for a in &accounts {
            let grant = tx.vault.grant_level(tx.actor, a.id)?;
            let guard = schedule_guard(tx.vault, a)?;
            tx.require(
                Action::Post { grant, guard },
                &format!("post to {}", a.name),
            )?;
        }
        send::validate_all(tx.vault, &accounts, text, &state_dir, &limits)?;
        let mut out = Vec::new();
        for a in &accounts {
            out.push(
                tx.vault
                    .insert_queued(a, tx.actor, token, None, text, &due)?,
            );
        }
        tx.detail("due_at", due.clone());
        tx.detail("text", text);
        tx.detail("text_sha256", crate::vault::text_hash(text));
        tx.detail(
            "queue_ids",
            out.iter().map(|q| q.id.clone()).collect::<Vec<_>>(),
        );
        Ok(out)
    })?;
    warn_if_frozen(ctx, &queued)?;
    Ok(queued)
}

pub fn schedule_draft(ctx: &mut Ctx, id: &str, at: DateTime<Utc>) -> Result<Vec<Queued>> {
    check_id(IdKind::Draft, id)?;
    let due = check_future(at)?;
    let queued = ctx.change("publish.schedule", &format!("draft:{id}"), |tx| {
        let draft = tx.vault.draft(id)?;
        let token = scheduling_token(tx, &due)?;
        if !draft.is_pending() {
            return Err(Error::Conflict(
                format!("draft {id} is {}", draft.status),
                Some("only pending drafts are published".into()),
            ));
        }
        let accounts = resolve_targets(tx.vault, &draft.accounts.join(","))?;
        for a in &accounts {
            let grant = tx.vault.grant_level(tx.actor, a.id)?;
            let action = Action::Publish {
                grant,
                author: draft.author_id == tx.actor.id,
                approvals: send::valid_approvals(tx.vault, &draft, a)?,
                guard: schedule_guard(tx.vault, a)?,
            };
            tx.require(action, &format!("publish to {}", a.name))?;
        }
        let mut out = Vec::new();
        for a in &accounts {
            out.push(tx.vault.insert_queued(
                a,
                tx.actor,
                token,
                Some(&draft),
                &draft.text,
                &due,
            )?);
        }
        tx.detail("due_at", due.clone());
        tx.detail("draft_id", id);
        tx.detail("text_sha256", draft.text_sha256.clone());
        tx.detail(
            "queue_ids",
            out.iter().map(|q| q.id.clone()).collect::<Vec<_>>(),
        );
        Ok(out)
    })?;
    warn_if_frozen(ctx, &queued)?;
    Ok(queued)
}

fn warn_if_frozen(ctx: &mut Ctx, queued: &[Queued]) -> Result<()> {
    let frozen = ctx.read("status", "vault", |tx| {
        let mut out = Vec::new();
        for q in queued {
            if let Some(f) = tx.vault.freeze_on(&tx.vault.account(&q.account)?)? {
                out.push(format!("{} is frozen ({})", q.account, f.describe()));
            }
        }
        Ok(out)
    })?;
    for f in frozen {
        ctx.warnings.push(format!(
            "{f}: if it still is when the post is due, the post is held"
        ));
    }
    Ok(())
}

/// The scheduled posts the member may see: on accounts they hold a grant on, their own, or
/// all of them for admins and auditors.
pub fn queue_list(ctx: &mut Ctx, all: bool) -> Result<Vec<Queued>> {
    ctx.read("queue", "queue", |tx| {
        let mut out = Vec::new();
        for q in tx.vault.queue(all)? {
            // A removed account's posts stay (cancelled): no grant on them any more.
            let grant = match q.account_id {
                Some(id) => tx.vault.grant_level(tx.actor, id)?,
                None => None,
            };
            if q.author_id == tx.actor.id
                || access::decide(&tx.actor.actor(), Action::ViewAccount { grant }).is_allowed()
            {
                out.push(q);
            }
        }
        Ok(out)
    })
}

fn manage(
    ctx: &mut Ctx,
    id: &str,
    verb: &str,
    from: &[QueueStatus],
    to: QueueStatus,
) -> Result<Queued> {
    check_id(IdKind::Queued, id)?;
    ctx.change(&format!("queue.{verb}"), &format!("queue:{id}"), |tx| {
        let q = tx.vault.queued(id)?;
        let grant = match q.account_id {
            Some(account) => tx.vault.grant_level(tx.actor, account)?,
            None => None,
        };
        tx.require(
            Action::ManageQueued {
                grant,
                author: q.author_id == tx.actor.id,
            },
            &format!("{verb} a scheduled post"),
        )?;
        if q.status == QueueStatus::Unknown {
            // It may be live: cancelling or releasing would hide or repeat it.
            return Err(Error::Conflict(
                format!(
                    "scheduled post {id} has an unknown outcome: it may have been published"
                ),
                Some(format!(
                    "look at {}, then resolve it: `smv posts resolve SEQ --published URL` or `--not-published --reason \"…\"` (its note and `smv status` give SEQ)",
                    q.account
                )),
            ));
        }
        if !from.contains(&q.status) {
            let words: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
            return Err(Error::Conflict(
                format!("scheduled post {id} is {}", q.status),
                Some(format!("only {} posts can be {verb}d", words.join(" or "))),
            ));
        }
        if verb == "release" {
            release_authority(tx, &q)?;
        }
        tx.vault.set_queued(&q, to, None, None)?;
        tx.detail("account", q.account.clone());
        tx.detail("was", q.status.as_str());
        tx.vault.queued(id)
    })
}

/// A held post scheduled through a token that is no longer valid goes out again only under
/// another authority: its author's, as they release it (their current token, or their key).
/// Anyone else may not release it on the lapsed token's behalf.
fn release_authority(tx: &mut Tx, q: &Queued) -> Result<()> {
    let Some(row) = q.token_id else {
        return Ok(());
    };
    let token = tx.vault.token_by_row(row)?;
    let valid = tx
        .vault
        .token_authority(token.clone(), &clock::now_stamp())?
        .is_ok_and(|(t, owner)| t.owner_id == q.author_id && owner.active);
    if valid {
        return Ok(());
    }
    if q.author_id != tx.actor.id {
        return Err(Error::Conflict(
            format!(
                "scheduled post {} was made through token {}, which is no longer valid",
                q.id, token.accessor
            ),
            Some(format!(
                "its author {} may release it under their own credentials; or `smv queue cancel {}`",
                q.author, q.id
            )),
        ));
    }
    let mine = match &tx.actor.cap {
        Some(cap) => Some(tx.vault.token(&cap.accessor)?.row),
        None => None,
    };
    tx.vault.set_queued_token(q, mine)?;
    tx.detail("was_token", token.accessor);
    Ok(())
}

pub fn queue_cancel(ctx: &mut Ctx, id: &str) -> Result<Queued> {
    manage(
        ctx,
        id,
        "cancel",
        &[QueueStatus::Pending, QueueStatus::Held],
        QueueStatus::Cancelled,
    )
}

/// A held post is still wanted: it goes back to pending, and out with the next run if it
/// is due (and no longer frozen).
pub fn queue_release(ctx: &mut Ctx, id: &str) -> Result<Queued> {
    manage(
        ctx,
        id,
        "release",
        &[QueueStatus::Held],
        QueueStatus::Pending,
    )
}

/// Sends every due post; returns them with their new status.
pub fn queue_run(ctx: &mut Ctx) -> Result<Vec<Queued>> {
    let _run = ctx.store.claim_queue()?;
    let (runner, due, unknown) = ctx.attempt("queue.run", "queue", |tx| {
        tx.require(Action::RunQueue, "run the queue")?;
        let unknown: Vec<Queued> = tx
            .vault
            .queue(false)?
            .into_iter()
            .filter(|q| q.status == QueueStatus::Unknown)
            .collect();
        Ok((
            tx.actor.name.clone(),
            tx.vault.due(&clock::now_stamp())?,
            unknown,
        ))
    })?;
    let mut done = settle_unknown(ctx, unknown)?;
    for mut q in due {
        let mut details = Map::new();
        details.insert("queue_id".into(), q.id.clone().into());
        details.insert("run_by".into(), runner.clone().into());
        if let Some(d) = &q.draft {
            details.insert("draft_id".into(), d.clone().into());
        }
        let job = Job {
            author: Author::Scheduled {
                member: q.author.clone(),
                token: q.token_id,
            },
            accounts: vec![q.account.clone()],
            text: &q.text,
            rule: match &q.draft {
                Some(d) => Rule::Draft { id: d.clone() },
                None => Rule::Direct,
            },
            idempotency_key: Some(format!("queue:{}", q.id)),
            fresh_key: false,
            dry_run: false,
            details,
        };
        let (status, note) = match send::send(ctx, &job, &mut |_| {}) {
            Ok(results) => {
                let r = &results[0];
                match r.status {
                    PostStatus::Posted | PostStatus::AlreadyPosted => {
                        q.post_id = r.post_id.clone();
                        q.url = r.url.clone();
                        (QueueStatus::Sent, None)
                    }
                    // It may be live: neither failed nor sent, and never sent again by a run
                    // until a person resolves it (`smv posts resolve SEQ`).
                    PostStatus::Unknown => {
                        q.post_id = r.post_id.clone();
                        q.url = r.url.clone();
                        (
                            QueueStatus::Unknown,
                            Some(format!(
                                "unknown outcome{}: {}",
                                r.intent_seq
                                    .map(|s| format!(" (resolve with `smv posts resolve {s}`)"))
                                    .unwrap_or_default(),
                                r.error.clone().unwrap_or_default()
                            )),
                        )
                    }
                    _ => (QueueStatus::Failed, r.error.clone()),
                }
            }
            // The authority it was scheduled under is gone (token, grant, member): held with
            // the reason, for a person to release (under new authority) or cancel.
            Err(Error::Denied { rule, .. })
                if matches!(
                    *rule,
                    Deny::AuthorityLapsed(_)
                        | Deny::NoGrant
                        | Deny::DraftOnly
                        | Deny::PostOrAuthor
                        | Deny::Disabled
                ) =>
            {
                (QueueStatus::Held, Some(format!("held: {rule}")))
            }
            Err(e @ Error::Denied { .. }) => {
                let log = ctx.store.reader()?;
                let guard = ctx
                    .store
                    .view(|vault| send::guard(vault, Some(&*log), &vault.account(&q.account)?))?;
                if let Some(f) = guard.frozen {
                    (QueueStatus::Held, Some(format!("frozen {}", f.description)))
                } else if guard.rate.is_some_and(|r| r.used >= r.max) {
                    // Not refused for good: it goes out with a later run, once the rate allows.
                    (
                        QueueStatus::Pending,
                        Some(format!("waiting for the rate guard: {e}")),
                    )
                } else {
                    (QueueStatus::Failed, Some(e.to_string()))
                }
            }
            // Busy or I/O trouble on this machine says nothing about the post: try again
            // with the next run.
            Err(e) if matches!(e.class(), crate::Class::Busy | crate::Class::Io) => {
                (QueueStatus::Pending, Some(format!("not sent yet: {e}")))
            }
            Err(e) => (QueueStatus::Failed, Some(e.to_string())),
        };
        q.status = status;
        q.note = note;
        done.push(q);
    }
    if !done.is_empty() {
        record_run(ctx, &done)?;
    }
    Ok(done)
}

/// Scheduled posts left `unknown` whose attempt the ledger has settled since — an outcome
/// recorded late (`store::journal`), or a resolution whose update of the queue did not happen —
/// follow the ledger: published → sent, not published → held (for a person to release or
/// cancel). Still unknown: left as they are. Nothing is sent here.
fn settle_unknown(ctx: &mut Ctx, unknown: Vec<Queued>) -> Result<Vec<Queued>> {
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if ctx.store.outcomes_pending() {
        // Outcomes kept for a later commit go into the log first (an empty group of ours).
        ctx.store.grouped(|_| Ok(()))?;
    }
    let log = ctx.store.reader()?;
    let mut settled = Vec::new();
    for mut q in unknown {
        let attempts = outcomes::attempts_with_key(&*log, &q.account, &format!("queue:{}", q.id))?;
        match outcomes::key_state(&attempts) {
            KeyState::Published { post_id, url, seq } => {
                q.status = QueueStatus::Sent;
                q.post_id = post_id;
                q.url = url;
                q.note = Some(format!("published (audit entry {seq})"));
            }
            KeyState::Free => {
                q.status = QueueStatus::Held;
                q.note = Some(
                    "not published, as the audit log now says: release it to send it again, or cancel it"
                        .into(),
                );
            }
            KeyState::Blocked { .. } => continue,
        }
        settled.push(q);
    }
    Ok(settled)
}

/// Writes the run's results to the vault (one change), and closes drafts whose every
/// account has been published by the queue.
fn record_run(ctx: &mut Ctx, done: &[Queued]) -> Result<()> {
    let saved = ctx.change("queue.run", "queue", |tx| {
        let mut summary: Map<String, Value> = Map::new();
        for q in done {
            let current = tx.vault.queued(&q.id)?;
            // Pending (due now), or unknown (settled from the ledger); anything else was
            // changed meanwhile (cancelled): the send, if any, is in the log.
            if !matches!(current.status, QueueStatus::Pending | QueueStatus::Unknown) {
                continue;
            }
            let receipt = (q.post_id.is_some() || q.url.is_some())
                .then_some((q.post_id.as_deref(), q.url.as_deref()));
            tx.vault
                .set_queued(&current, q.status, q.note.as_deref(), receipt)?;
            summary.insert(q.id.clone(), q.status.as_str().into());
        }
        let drafts: std::collections::BTreeSet<&String> =
            done.iter().filter_map(|q| q.draft.as_ref()).collect();
        for id in drafts {
            let d = tx.vault.draft(id)?;
            let sent: Vec<String> = tx
                .vault
                .queue(true)?
                .into_iter()
                .filter(|q| q.draft.as_ref() == Some(id) && q.status == QueueStatus::Sent)
                .map(|q| q.account)
                .collect();
            if d.is_pending() && d.accounts.iter().all(|a| sent.contains(a)) {
                tx.vault
                    .close_draft(&d, DraftStatus::Published, &tx.actor.name, None)?;
            }
        }
        tx.detail("results", summary);
        Ok(())
    });
    if let Err(e) = saved {
        // The posts that went out are in the audit log under `queue:ID`; the next run marks
        // them sent without posting again.
        ctx.warnings.push(format!(
            "the queue's results could not be saved: {e}; the next `smv queue run` records them without posting twice"
        ));
    }
    Ok(())
}
