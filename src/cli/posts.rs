//! Rendering of `smv posts` (what was posted) and `smv posts show SEQ`, on the vault's log or
//! offline on a verified copy or export (`--log FILE --pubkey KEY`).

use super::args::{AuditCmd, Command, PostsArgs, PostsCmd};
use super::audit::{filter, normalise_time};
use super::backend::Backend;
use super::output::{Out, Render, escape, escape_lines, opt, progress};
use super::table::{flex, keep, time};
use crate::Result;
use crate::ops::{PostRecord, PostsFilter, Resolution, Resolved, Verified};

/// The listing's filters mean nothing to `posts show SEQ`: refused rather than ignored.
fn only_seq(a: &PostsArgs) -> Result<()> {
    if a.account.is_some()
        || a.member.is_some()
        || a.since.is_some()
        || a.until.is_some()
        || a.text.is_some()
    {
        return Err(crate::Error::invalid(
            "posts show",
            "--account, --member, --since, --until and --text choose posts to list; `posts show` shows one",
        )
        .with_hint("smv posts show SEQ (or `smv posts --account …` to list)"));
    }
    Ok(())
}

fn posts_filter(out: &Out, a: &PostsArgs) -> Result<PostsFilter> {
    Ok(PostsFilter {
        account: a.account.clone(),
        member: a.member.clone(),
        since: a
            .since
            .as_deref()
            .map(|s| normalise_time(out, "--since", s))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| normalise_time(out, "--until", s))
            .transpose()?,
        text: a.text.clone(),
        limit: a.limit,
    })
}

/// `posts --log FILE --pubkey KEY` and `audit log --log FILE --pubkey KEY`: no vault, no
/// identity. The file is verified first; one that does not verify is refused.
pub fn offline(cmd: &Command, out: &Out) -> Option<Result<()>> {
    match cmd {
        Command::Posts(a) => {
            let (log, key) = (a.offline.log.as_ref()?, a.offline.pubkey.as_ref()?);
            Some((|| {
                let v = Verified::open(log, key, &mut progress(out))?;
                match &a.cmd {
                    Some(PostsCmd::Show { seq }) => {
                        only_seq(a)?;
                        render_one(out, &v.post_show(*seq)?)
                    }
                    Some(PostsCmd::Resolve { .. }) => {
                        return Err(crate::Error::invalid(
                            "posts resolve",
                            "a copy of the log is read-only: a resolution is recorded in the vault's log",
                        )
                        .with_hint("run `smv posts resolve SEQ …` without --log, where the vault is"));
                    }
                    None => render_list(out, &v.posts(&posts_filter(out, a)?)?),
                }
                Ok(())
            })())
        }
        Command::Audit(AuditCmd::Log {
            filter: f, offline, ..
        }) => {
            let (log, key) = (offline.log.as_ref()?, offline.pubkey.as_ref()?);
            Some((|| {
                let v = Verified::open(log, key, &mut progress(out))?;
                let f = filter(out, f.clone())?;
                out.show(&v.audit_log(&f));
                Ok(())
            })())
        }
        _ => None,
    }
}

pub fn run(b: &mut Backend, mut a: PostsArgs, out: &Out) -> Result<()> {
    match a.cmd.take() {
        Some(PostsCmd::Show { seq }) => {
            only_seq(&a)?;
            render_one(out, &b.post_show(seq)?)
        }
        Some(PostsCmd::Resolve {
            seq,
            published,
            not_published: _,
            reason,
        }) => {
            only_seq(&a)?;
            // clap lets exactly one through: --published URL, or --not-published --reason.
            let resolution = match published {
                Some(url) => Resolution::Published { url },
                None => Resolution::NotPublished {
                    reason: reason.unwrap_or_default(),
                },
            };
            out.show(&b.resolve_post(seq, &resolution)?);
        }
        None => {
            let f = posts_filter(out, &a)?;
            render_list(out, &b.posts(&f, &mut progress(out))?);
        }
    }
    Ok(())
}

fn account_cell(p: &PostRecord) -> String {
    match &p.posted_as {
        Some(old) => format!("{} (as {old})", p.account),
        None => p.account.clone(),
    }
}

fn render_list(out: &Out, list: &[PostRecord]) {
    out.show(&Posts(list));
}

/// A listing of posts (its JSON: the list).
#[derive(serde::Serialize)]
#[serde(transparent)]
struct Posts<'a>(&'a [PostRecord]);

impl Render for Posts<'_> {
    fn human(&self, out: &Out) {
        render_table(out, self.0);
    }
}

impl Render for PostRecord {
    fn human(&self, out: &Out) {
        render_one_human(out, self);
    }
}

fn render_table(out: &Out, list: &[PostRecord]) {
    if list.is_empty() {
        out.say("No posts match.");
        return;
    }
    let cols = [
        keep("seq"),
        time("time"),
        keep("account"),
        keep("member"),
        flex("via"),
        flex("text"),
        flex("url"),
    ];
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|p| {
            vec![
                p.seq.to_string(),
                p.time.clone(),
                account_cell(p),
                p.member.clone(),
                p.via.clone(),
                p.text.clone(),
                opt(&p.url),
            ]
        })
        .collect();
    // A table only when every text and URL is whole in it; otherwise a block per post.
    if out.table_fits(&cols, &rows) {
        out.table(&cols, rows);
    } else {
        render_blocks(out, list);
    }
}

/// One block per post, for a terminal too narrow for the table: a line that says which post
/// (seq, time, account, member, how), then its whole text wrapped to the width (its line
/// breaks kept, every other control or bidirectional character escaped), then its URL on a
/// line of its own, never broken (a terminal soft-wraps it; a reader copies it whole).
fn render_blocks(out: &Out, list: &[PostRecord]) {
    const INDENT: &str = "    ";
    let room = out.width().saturating_sub(INDENT.len()).max(20);
    for (i, p) in list.iter().enumerate() {
        if i > 0 {
            out.say("");
        }
        out.say(format!(
            "{}  {}  {}  {}  via {}",
            p.seq,
            out.time(&p.time),
            escape(&account_cell(p)),
            escape(&p.member),
            escape(&p.via)
        ));
        let mut block = String::new();
        for line in escape_lines(&p.text).lines() {
            for part in super::table::wrap(line, room) {
                if !part.is_empty() {
                    block.push_str(INDENT);
                    block.push_str(&part);
                }
                block.push('\n');
            }
        }
        block.push_str(&format!("{INDENT}url: {}", escape(&opt(&p.url))));
        out.say(block);
    }
}

/// One post: where and how it went, then its exact text (line breaks kept, every other
/// control or bidirectional character escaped).
fn render_one(out: &Out, p: &PostRecord) {
    out.show(p);
}

fn render_one_human(out: &Out, p: &PostRecord) {
    out.say(format!(
        "Post {} to {} at {}",
        p.seq,
        escape(&account_cell(p)),
        out.time(&p.time)
    ));
    out.say(format!(
        "  by:       {} via {}",
        escape(&p.member),
        escape(&p.via)
    ));
    out.say(format!(
        "  network:  {}   post id: {}",
        escape(&opt(&p.provider)),
        escape(&opt(&p.post_id))
    ));
    out.say(format!("  url:      {}", escape(&opt(&p.url))));
    if let Some(d) = &p.draft {
        out.say(format!(
            "  draft:    {} approved by {}",
            escape(d),
            if p.approved_by.is_empty() {
                "nobody (no approval needed)".to_string()
            } else {
                escape(&p.approved_by.join(", ")).into_owned()
            }
        ));
    }
    out.say(format!("  sha256:   {}", opt(&p.text_sha256)));
    if let Some(k) = &p.idempotency_key {
        out.say(format!("  key:      {}", escape(k)));
    }
    out.say(format!(
        "  audit:    entry {} (request {}): `smv audit show {}` proves it",
        p.seq,
        escape(&p.request_id),
        p.seq
    ));
    out.say(format!("  text ({} characters):", p.text.chars().count()));
    out.say("");
    out.say(&p.text);
}

/// What a resolution recorded.
impl Render for Resolved {
    fn human(&self, out: &Out) {
        render_resolved(out, self);
    }
}

fn render_resolved(out: &Out, r: &Resolved) {
    match &r.resolution {
        Resolution::Published { url } => out.say(format!(
            "Resolved: the post of entry {} to {} is published at {} (audit entry {})",
            r.intent_seq,
            escape(&r.account),
            escape(url),
            r.audit_seq
        )),
        Resolution::NotPublished { reason } => out.say(format!(
            "Resolved: the post of entry {} to {} is not published ({}) (audit entry {}); {}",
            r.intent_seq,
            escape(&r.account),
            escape(reason),
            r.audit_seq,
            match &r.idempotency_key {
                Some(k) => format!("`{}` sends it again", super::post::retry_command(k)),
                None => "it had no idempotency key: post it again to send it".into(),
            }
        )),
    }
    if let Some(q) = &r.queued {
        out.say(format!(
            "Scheduled post {} is now {}{}",
            escape(&q.id),
            q.status,
            if q.status == crate::vault::QueueStatus::Held {
                format!(
                    ": `smv queue release {}` sends it again, `smv queue cancel {}` drops it",
                    q.id, q.id
                )
            } else {
                String::new()
            }
        ));
    }
}
