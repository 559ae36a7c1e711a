//! Rendering of `smv restore`: what the restore undoes, asked before it is done.

use std::path::PathBuf;

use super::backend::Backend;
use super::input;
use super::output::{Out, Render};
use super::table::{keep, time};
use crate::Result;
use crate::ops::{self, RestoreOptions, RestoreReport};

pub fn run(
    b: &mut Backend,
    from: Option<PathBuf>,
    reason: String,
    dry_run: bool,
    yes: bool,
    out: &Out,
) -> Result<()> {
    let ctx = b.local("smv restore")?;
    let opts = |dry_run| RestoreOptions {
        from: from.as_deref(),
        reason: &reason,
        dry_run,
    };
    if !dry_run && !yes {
        // Show what it undoes before asking.
        let preview = ops::restore(ctx, opts(true))?;
        out.preview(&preview);
        input::confirm("Restore the vault from this copy?", "restore")?;
    }
    let report = ops::restore(ctx, opts(dry_run))?;
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
            "{} the {} vault change(s) the audit log records after this copy was made{}:",
            if r.dry_run {
                "This undoes"
            } else {
                "This undid"
            },
            r.undone.len(),
            if r.undone_complete {
                ""
            } else {
                " (the log does not record the copy itself: there may be older ones)"
            }
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
    if r.log_entries_missing > 0 {
        out.warn(format!(
            "the audit log has {} entries, {} fewer than this machine had seen: those entries are gone; only checkpoints and exports kept elsewhere still show them",
            r.log_entries, r.log_entries_missing
        ));
    }
    if !r.follow_up.is_empty() {
        out.say(format!(
            "{} access that was taken away since: run again",
            if r.dry_run {
                "The restore brings back"
            } else {
                "The restore brought back"
            }
        ));
        for line in &r.follow_up {
            out.say(format!("  {line}"));
        }
    }
}
