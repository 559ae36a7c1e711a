//! Rendering of `smv posts …`: what was sent. Each `PostsCmd` variant is one arm of [`run`]
//! (resolve today; listing and `show` join it).

use super::args::PostsCmd;
use super::backend::Backend;
use super::output::{Out, escape};
use crate::Result;
use crate::ops::Resolution;

pub fn run(b: &mut Backend, cmd: PostsCmd, out: &Out) -> Result<()> {
    match cmd {
        PostsCmd::Resolve {
            seq,
            published,
            not_published: _,
            reason,
        } => {
            // clap lets exactly one through: --published URL, or --not-published --reason.
            let resolution = match published {
                Some(url) => Resolution::Published { url },
                None => Resolution::NotPublished {
                    reason: reason.unwrap_or_default(),
                },
            };
            let r = b.resolve_post(seq, &resolution)?;
            if out.json {
                out.json(&r);
                return Ok(());
            }
            match &r.resolution {
                Resolution::Published { url } => out.say(format!(
                    "Resolved: the post of entry {} to {} is published at {} (audit entry {})",
                    r.intent_seq,
                    escape(&r.account),
                    escape(url),
                    r.audit_seq
                )),
                Resolution::NotPublished { reason } => out.say(format!(
                    "Resolved: the post of entry {} to {} is not published ({}) (audit entry {}); a retry with its idempotency key sends it again",
                    r.intent_seq,
                    escape(&r.account),
                    escape(reason),
                    r.audit_seq
                )),
            }
            if let Some(q) = &r.queued {
                out.say(format!(
                    "Scheduled post {} is now {}{}",
                    escape(&q.id),
                    escape(&q.status),
                    if q.status == "held" {
                        format!(": `smv queue release {}` sends it again, `smv queue cancel {}` drops it", q.id, q.id)
                    } else {
                        String::new()
                    }
                ));
            }
            Ok(())
        }
    }
}
