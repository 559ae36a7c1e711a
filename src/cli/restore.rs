//! Rendering of `smv restore`: what the restore undoes, asked before it is done.

use std::path::PathBuf;

use super::backend::Backend;
use super::input;
use super::output::{Out, Render};
use super::table::{keep, time};
use crate::Result;
use crate::ops::{self, Authority, Replayed, RestoreOptions, RestoreReport};

pub struct Args {
    pub from: Option<PathBuf>,
    pub reason: String,
    pub dry_run: bool,
    pub accept_lost_history: bool,
    pub yes: bool,
}

pub fn run(b: &mut Backend, args: Args, out: &Out) -> Result<()> {
    let ctx = b.local("smv restore")?;
    let opts = |dry_run| RestoreOptions {
        from: args.from.as_deref(),
        reason: &args.reason,
        dry_run,
        accept_lost_history: args.accept_lost_history,
    };
    if !args.dry_run && !args.yes {
        // Show what it undoes before asking; a restore over lost history without the flag
        // is refused before anyone is asked.
        let preview = ops::restore(ctx, opts(true))?;
        out.preview(&preview);
        if let Some(refusal) = preview.lost_history_refusal() {
            return Err(refusal);
        }
        input::confirm("Restore the vault from this copy?", "restore")?;
    }
    let report = ops::restore(ctx, opts(args.dry_run))?;
    out.show(&report);
    Ok(())
}

impl Render for RestoreReport {
    fn human(&self, out: &Out) {
        render(out, self);
    }
}

fn render(out: &Out, r: &RestoreReport) {
    let copy = match &r.from {
        Some(f) => format!("the backup {f}"),
        None => format!("the vault file at {}", r.vault),
    };
    let generation = r
        .restored_generation
        .map_or("from before smv kept generations".to_string(), |g| {
            format!("generation {g}")
        });
    if r.dry_run {
        out.say(format!("Would restore {copy} ({generation}) as the vault."));
    } else {
        out.say(format!(
            "Restored {copy} ({generation}) as the vault: generation {}, restore {}. Recorded in the audit log.",
            r.generation, r.epoch
        ));
    }
    if r.undone.is_empty() {
        out.say("The audit log records no vault change after this copy was made.");
    } else {
        out.say(format!(
            "The audit log records {} vault change(s) after this copy was made{}; the restore {} them, except the removals made again below:",
            r.undone.len(),
            if r.undone_complete {
                ""
            } else {
                " (the log does not record the copy itself: there may be older ones)"
            },
            if r.dry_run { "undoes" } else { "undid" }
        ));
        let rows = r
            .undone
            .iter()
            .map(|u| {
                vec![
                    u.seq.to_string(),
                    u.time.clone(),
                    u.actor.clone(),
                    u.action.clone(),
                    u.target.clone(),
                ]
            })
            .collect();
        out.table(
            &[
                keep("seq"),
                time("time"),
                keep("by"),
                keep("action"),
                keep("target"),
            ],
            rows,
        );
    }
    out.say(match r.authority {
        Authority::LiveVault => "Authorised by the vault in place (the latest).".to_string(),
        Authority::ReplayedCopy => "No usable vault in place: authorised by the copy, with the removals the audit log records since it made again.".to_string(),
    });
    let made: Vec<&Replayed> = r
        .replayed
        .iter()
        .filter(|p| p.skipped.is_none() && !p.removed.is_empty())
        .collect();
    if !made.is_empty() {
        out.say(format!(
            "{} {} removal(s) the audit log records after this copy was made:",
            if r.dry_run {
                "Makes again"
            } else {
                "Made again"
            },
            made.len()
        ));
        for p in made {
            out.say(format!(
                "  entry {} {} {} by {}{}: {}",
                p.seq,
                p.action,
                p.target,
                p.actor,
                if p.interrupted {
                    " (interrupted: may have happened)"
                } else {
                    ""
                },
                p.removed.join("; ")
            ));
        }
    }
    for p in r.replayed.iter().filter(|p| p.skipped.is_some()) {
        out.say(format!(
            "  entry {} {} {}: not made again, {}",
            p.seq,
            p.action,
            p.target,
            p.skipped.as_deref().unwrap_or_default()
        ));
    }
    if let Some(lost) = &r.lost_history {
        out.warn(format!(
            "the audit log is older than this machine has seen ({}): removals recorded there cannot be made again. The copy brings back these members: {} (custodians: {}){}",
            lost.missing,
            if lost.members.is_empty() { "none".to_string() } else { lost.members.join(", ") },
            if lost.custodians.is_empty() { "none".to_string() } else { lost.custodians.join(", ") },
            if lost.accepted { "; accepted with --accept-lost-history (recorded in the audit log)" } else { "; `--accept-lost-history` is needed to proceed" }
        ));
    }
    if r.log_entries_missing > 0 {
        out.warn(format!(
            "the audit log has {} entries, {} fewer than this machine had seen: those entries are gone; only checkpoints and exports kept elsewhere still show them",
            r.log_entries, r.log_entries_missing
        ));
    }
    if !r.follow_up.is_empty() {
        out.say(format!(
            "{}: run",
            if r.dry_run {
                "The restore undoes more than the replay makes again (or revokes CI tokens to re-issue)"
            } else {
                "The restore undid more than the replay made again (or revoked CI tokens to re-issue)"
            }
        ));
        for line in &r.follow_up {
            out.say(format!("  {line}"));
        }
    }
}
