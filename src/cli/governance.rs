//! Rendering of the governance commands: drafts, approvals, freezes, policies, the queue.

use super::args::{Command, DraftCmd, PolicyCmd, QueueCmd};
use super::backend::Backend;
use super::input;
use super::output::{OneOrMany, Out, Render, escape, opt};
use super::table::{flex, keep, time};
use crate::ops::{self, DraftView, Scope};
use crate::vault::{Draft, DraftStatus, Freeze, Policy, QueueStatus, Queued};
use crate::{Result, clock};
use serde::Serialize;

pub fn run(b: &mut Backend, command: Command, out: &Out) -> Result<()> {
    match command {
        Command::Draft(a) => match a.cmd {
            Some(DraftCmd::Edit { id, text, file }) => {
                let text = input::read_text(text, file, "smv draft edit ID \"text\"")?;
                let d = b.draft_edit(&id, &text)?;
                out.show(&DraftLine::new(&d, "Edited draft").then(
                    "Its approvals were cleared: the new text needs approving again.".into(),
                ));
            }
            Some(DraftCmd::Show { id }) => {
                out.show(&b.draft_show(&id)?);
            }
            None => {
                let targets = a.targets.unwrap_or_default();
                let text = input::read_text(a.text, a.file, "smv draft ACCOUNT \"text\"")?;
                out.show(&DraftLine::new(
                    &b.draft_create(&targets, &text)?,
                    "Drafted",
                ));
            }
        },
        Command::Drafts { account, mine, all } => {
            out.show(&b.drafts(&ops::DraftFilter { account, mine, all })?);
        }
        Command::Approve { id } => {
            let d = b.approve(&id)?;
            // Who approved what, exactly: the approval binds to this text's hash.
            let me = d
                .draft
                .approvals
                .iter()
                .filter(|a| a.text_sha256 == d.draft.text_sha256)
                .max_by(|a, b| a.approved_at.cmp(&b.approved_at))
                .map_or("you".to_string(), |a| a.member.clone());
            let said = format!(
                "{} approved draft {} by {} for {} (sha256 {}): \"{}\"",
                escape(&me),
                escape(&d.draft.id),
                escape(&d.draft.author),
                escape(&d.draft.accounts.join(", ")),
                short_hash(&d.draft.text_sha256),
                excerpt(&d.draft.text)
            );
            out.show(&DraftLine::new(&d, "Draft").first(said));
        }
        Command::Reject { id, reason } => {
            let d = b.reject(&id, reason.as_deref())?;
            let closed = format!("  {}", escape(&status_cell(&d.draft)));
            out.show(&DraftLine::new(&d, &format!("Draft {}", d.draft.status)).then(closed));
        }
        Command::Publish { id, at, dry_run } => match at {
            Some(at) => {
                // Resolved here, in this shell's time zone: the proxy is sent the instant.
                let when = clock::parse_when(&at, clock::Toward::Future)?;
                let queued = b.schedule_draft(&id, &clock::stamp(when.at))?;
                out.show(&QueueView::said(&queued, "Scheduled"));
            }
            None => {
                let mut live = super::post::LiveResults::new(out);
                let results = b.publish(&id, dry_run, &mut |r| live.sent(r))?;
                super::post::render_results(
                    out,
                    &results,
                    Some(format!(
                        "the report above lists each target; the ones marked posted are published: `smv publish {id}` again sends the others and posts nothing twice"
                    )),
                    &live,
                )?;
            }
        },
        Command::Freeze {
            account,
            all: _,
            reason,
            for_,
        } => {
            let scope = scope(account);
            let frozen = b.freeze(&scope, &reason, for_.as_deref())?;
            out.show(&Frozen(&frozen));
        }
        Command::Unfreeze { account, all: _ } => {
            out.show(&Lifted(b.unfreeze(&scope(account))?));
        }
        Command::Status => {
            out.show(&b.status()?);
        }
        Command::Policy(PolicyCmd::Set {
            account,
            approvals,
            strict,
            no_strict,
            max_posts,
            per,
            no_rate_guard,
        }) => {
            let local = b.local("smv policy set")?;
            let rate = match (max_posts, per, no_rate_guard) {
                (_, _, true) => Some(None),
                (Some(max), Some(per), false) => {
                    if max == 0 {
                        return Err(crate::Error::invalid(
                            "max-posts",
                            "the rate guard needs at least 1 post per window",
                        )
                        .with_hint("to stop all posting, use `smv freeze`"));
                    }
                    Some(Some((max, clock::parse_duration(&per)?)))
                }
                _ => None,
            };
            let strict = match (strict, no_strict) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let p = ops::policy_set(
                local,
                &account,
                &ops::PolicyChange {
                    approvals,
                    strict,
                    rate,
                },
            )?;
            out.show(&p);
        }
        Command::Policy(PolicyCmd::List) => {
            out.show(&ops::policy_list(b.local("smv policy list")?)?);
        }
        Command::Queue { cmd, all } => match cmd.unwrap_or(QueueCmd::List { all }) {
            QueueCmd::List { all: all2 } => {
                out.show(&QueueView::table(&b.queue_list(all || all2)?));
            }
            QueueCmd::Run => {
                let done = ops::queue_run(b.local("smv queue run")?)?;
                out.show(&QueueView {
                    none: "Nothing is due.",
                    ..QueueView::table(&done)
                });
                let failed = done
                    .iter()
                    .filter(|q| q.status == QueueStatus::Failed)
                    .count();
                let unknown = done
                    .iter()
                    .filter(|q| q.status == QueueStatus::Unknown)
                    .count();
                if unknown > 0 {
                    // The seqs are in each one's note and in `smv status`.
                    return Err(crate::Error::PostsUnknown {
                        unknown,
                        failed,
                        total: done.len(),
                        intents: Vec::new(),
                    });
                }
                if failed > 0 {
                    return Err(crate::Error::PostsFailed {
                        failed,
                        total: done.len(),
                        retry: Some(
                            "the table above gives each failed post's reason; a failed scheduled post is not retried: schedule it again (`smv queue --all` lists them)".into(),
                        ),
                    });
                }
            }
            QueueCmd::Cancel { id } => {
                let q = b.queue_cancel(&id)?;
                out.show(&QueueView::said(std::slice::from_ref(&q), "Cancelled"));
            }
            QueueCmd::Release { id } => {
                let q = b.queue_release(&id)?;
                out.show(&QueueView::said(std::slice::from_ref(&q), "Released"));
            }
        },
        _ => unreachable!("dispatched here only for governance commands"),
    }
    Ok(())
}

/// Posts whose outcome is unknown: one line that says so, then a block each — seq,
/// account, time, who, the start of its text (escaped), why, and the exact commands that
/// settle it — so nothing is cut at any width.
fn render_unknown(out: &Out, unknown: &[ops::UnknownPost]) {
    if unknown.is_empty() {
        return;
    }
    out.say(format!(
        "Unknown outcomes: {} post{} may be live. Look at the account, then say what you found (retries of their key and scheduled post are refused until then):",
        unknown.len(),
        if unknown.len() == 1 { "" } else { "s" }
    ));
    for u in unknown {
        let mut about = format!(
            "  {}  {}  {}  by {}",
            u.intent_seq,
            escape(&u.account),
            out.time(&u.since),
            escape(&u.by)
        );
        if let Some(q) = u.queue_id.as_ref().or(u.draft_id.as_ref()) {
            about.push_str(&format!("  ({})", escape(q)));
        }
        out.say(about);
        out.say(format!("      text: \"{}\"", escape(&u.text_start)));
        out.say(format!("      why:  {}", u.why.describe()));
        out.say(format!(
            "      smv posts resolve {} --published URL",
            u.intent_seq
        ));
        out.say(format!(
            "      smv posts resolve {} --not-published --reason \"…\"",
            u.intent_seq
        ));
    }
}

fn scope(account: Option<String>) -> Scope {
    match account {
        Some(a) => Scope::Account(a),
        None => Scope::All,
    }
}

fn short_hash(h: &str) -> String {
    h[..h.len().min(16)].to_string()
}

/// A text in a sentence: escaped (its line breaks as `\n`), at most 100 characters; the
/// whole of it is in `smv draft show` and `--json`. Tables take the whole text (a terminal's
/// table cuts it to fit; piped output never cuts a value).
pub(crate) fn excerpt(text: &str) -> String {
    let shown = escape(text);
    if shown.chars().count() > 100 {
        shown.chars().take(99).chain(['…']).collect()
    } else {
        shown.into_owned()
    }
}

/// Per account, the approvals that count and the number needed, and who gave them
/// (`demo 1/1 by carol`).
fn approvals_cell(d: &DraftView) -> String {
    let counts = d
        .approval_state
        .iter()
        .map(|a| format!("{} {}/{}", a.account, a.have, a.need))
        .collect::<Vec<_>>()
        .join(", ");
    let by = current_approvers(&d.draft);
    if by.is_empty() {
        counts
    } else {
        format!("{counts} by {}", by.join(", "))
    }
}

/// Who approved the draft's current text.
fn current_approvers(d: &Draft) -> Vec<String> {
    d.approvals
        .iter()
        .filter(|a| a.text_sha256 == d.text_sha256)
        .map(|a| a.member.clone())
        .collect()
}

/// The status, and for a closed draft who closed it and why (`rejected by carol: off-brand`;
/// the author's own rejection is a withdrawal).
fn status_cell(d: &Draft) -> String {
    let word = match d.status {
        DraftStatus::Cancelled if d.closed_by.as_deref() == Some(d.author.as_str()) => "withdrawn",
        other => other.as_str(),
    };
    let mut cell = word.to_string();
    if let Some(by) = &d.closed_by {
        cell.push_str(&format!(" by {by}"));
    }
    if let Some(r) = &d.reason {
        cell.push_str(&format!(": {r}"));
    }
    cell
}

/// A draft after a change: what was done and where it stands, in two lines (with a line
/// before or after where the command has more to say). Its JSON: the draft.
#[derive(Serialize)]
#[serde(transparent)]
struct DraftLine<'a> {
    draft: &'a DraftView,
    #[serde(skip)]
    verb: String,
    #[serde(skip)]
    before: Option<String>,
    #[serde(skip)]
    after: Option<String>,
}

impl<'a> DraftLine<'a> {
    fn new(draft: &'a DraftView, verb: &str) -> Self {
        DraftLine {
            draft,
            verb: verb.to_string(),
            before: None,
            after: None,
        }
    }

    fn first(self, line: String) -> Self {
        DraftLine {
            before: Some(line),
            ..self
        }
    }

    fn then(self, line: String) -> Self {
        DraftLine {
            after: Some(line),
            ..self
        }
    }
}

impl Render for DraftLine<'_> {
    fn human(&self, out: &Out) {
        if let Some(l) = &self.before {
            out.say(l);
        }
        render_draft(out, self.draft, &self.verb);
        if let Some(l) = &self.after {
            out.say(l);
        }
    }
}

fn render_draft(out: &Out, d: &DraftView, verb: &str) {
    out.say(format!(
        "{verb} {} for {} by {} (sha256 {})",
        escape(&d.draft.id),
        escape(&d.draft.accounts.join(", ")),
        escape(&d.draft.author),
        short_hash(&d.draft.text_sha256)
    ));
    out.say(format!(
        "  status: {}   approvals: {}{}",
        d.draft.status,
        escape(&approvals_cell(d)),
        if d.draft.is_pending() && d.ready() {
            format!("   ready: `smv publish {}`", d.draft.id)
        } else {
            String::new()
        }
    ));
}

/// `smv draft show`: everything an approver needs, then the exact text — every control and
/// bidirectional character shown as an escape, line breaks kept.
impl Render for DraftView {
    fn human(&self, out: &Out) {
        render_draft_full(out, self);
    }
}

/// `smv drafts`: one row each, the text's excerpt last.
impl Render for Vec<DraftView> {
    fn human(&self, out: &Out) {
        let rows = self
            .iter()
            .map(|d| {
                vec![
                    d.draft.id.clone(),
                    d.draft.accounts.join(", "),
                    d.draft.author.clone(),
                    d.draft.created_at.clone(),
                    approvals_cell(d),
                    status_cell(&d.draft),
                    // Whole: a terminal's table cuts it to fit, piped it is never cut.
                    d.draft.text.clone(),
                ]
            })
            .collect();
        out.table(
            &[
                keep("id"),
                flex("accounts"),
                keep("author"),
                time("created"),
                flex("approvals"),
                flex("status"),
                flex("text"),
            ],
            rows,
        );
    }
}

/// `smv status`: what is frozen, what waits, what is strict, what may be live.
impl Render for ops::Status {
    fn human(&self, out: &Out) {
        if self.frozen.is_empty() {
            out.say("Nothing is frozen.");
        } else {
            render_freezes(out, &self.frozen);
        }
        out.say(format!(
            "Pending drafts: {}   scheduled: {}   held: {}",
            self.drafts_pending, self.queued, self.held
        ));
        if !self.strict.is_empty() {
            out.say(format!(
                "Strict (every post needs a second person, approvers and admins too): {}",
                escape(&self.strict.join(", "))
            ));
        }
        render_unknown(out, &self.unknown);
        if !self.rejected_outcomes.is_empty() {
            out.say(format!(
                "Refused lines of the outcomes journal ({}): not written with the vault's key, nothing in them was recorded; kept in <vault>.outcomes.rejected for inspection:",
                self.rejected_outcomes.len()
            ));
            for r in &self.rejected_outcomes {
                out.say(format!(
                    "  {}  {}: {}",
                    escape(&r.at),
                    escape(&r.why),
                    escape(&r.line)
                ));
            }
        }
    }
}

/// The freezes made by `smv freeze`: the freeze for one account (or every account), the
/// list for several.
struct Frozen<'a>(&'a [Freeze]);

impl Serialize for Frozen<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        OneOrMany(self.0).serialize(s)
    }
}

impl Render for Frozen<'_> {
    fn human(&self, out: &Out) {
        for f in self.0 {
            out.say(format!(
                "Frozen: {} ({})",
                escape(f.account.as_deref().unwrap_or("every account")),
                escape(&f.describe())
            ));
        }
        out.say("No post, publication or scheduled post goes out to it until an admin runs `smv unfreeze`.");
    }
}

/// The freezes `smv unfreeze` lifted (its JSON: always the list).
#[derive(Serialize)]
#[serde(transparent)]
struct Lifted(Vec<Freeze>);

impl Render for Lifted {
    fn human(&self, out: &Out) {
        for f in &self.0 {
            out.say(format!(
                "Lifted the freeze on {} ({})",
                escape(f.account.as_deref().unwrap_or("every account")),
                escape(&f.describe())
            ));
        }
        out.say("Posts held while it was frozen stay held: `smv queue` lists them, `smv queue release ID` sends one.");
    }
}

/// `smv policy set`: the policy as it now is, in words.
impl Render for Policy {
    fn human(&self, out: &Out) {
        out.say(format!(
            "Policy of {}: {}",
            self.account,
            describe_policy(self)
        ));
    }
}

/// `smv policy list`.
impl Render for Vec<Policy> {
    fn human(&self, out: &Out) {
        let rows = self
            .iter()
            .map(|p| {
                vec![
                    p.account.clone(),
                    p.approvals.to_string(),
                    if p.strict { "yes" } else { "no" }.into(),
                    p.exempt.into(),
                    rate_cell(p),
                    opt(&p.updated_by),
                ]
            })
            .collect();
        out.table(
            &[
                keep("account"),
                keep("approvals"),
                keep("strict"),
                keep("exempt"),
                keep("rate guard"),
                keep("set by"),
            ],
            rows,
        );
    }
}

fn render_draft_full(out: &Out, d: &DraftView) {
    let dr = &d.draft;
    out.say(format!(
        "Draft {} for {} by {}",
        escape(&dr.id),
        escape(&dr.accounts.join(", ")),
        escape(&dr.author)
    ));
    out.say(format!(
        "  created:   {}   edited: {}",
        out.time(&dr.created_at),
        out.time(&dr.updated_at)
    ));
    out.say(format!("  status:    {}", escape(&status_cell(dr))));
    if let Some(at) = &dr.closed_at {
        out.say(format!("  closed:    {}", out.time(at)));
    }
    out.say(format!("  sha256:    {}", dr.text_sha256));
    for a in &d.approval_state {
        out.say(format!(
            "  approvals: {} {}/{}",
            escape(&a.account),
            a.have,
            a.need
        ));
    }
    if dr.approvals.is_empty() {
        out.say("  approved by: nobody yet");
    }
    for a in &dr.approvals {
        let which = if a.text_sha256 == dr.text_sha256 {
            "this text".to_string()
        } else {
            format!(
                "an earlier text (sha256 {}): no longer counts",
                short_hash(&a.text_sha256)
            )
        };
        out.say(format!(
            "  approved by: {} at {} ({which})",
            escape(&a.member),
            out.time(&a.approved_at)
        ));
    }
    if dr.is_pending() && d.ready() {
        out.say(format!("  ready:     `smv publish {}`", dr.id));
    }
    out.say(format!("  text ({} characters):", dr.text.chars().count()));
    out.say("");
    out.say(&dr.text);
}

fn rate_cell(p: &Policy) -> String {
    match (p.max_posts, p.per_seconds) {
        (Some(m), Some(s)) => format!("{m} per {}", clock::format_duration(s)),
        _ => "-".into(),
    }
}

fn describe_policy(p: &Policy) -> String {
    let mut approvals = match p.approvals {
        0 => "direct posting allowed".to_string(),
        1 => "1 approval by a second person".to_string(),
        n => format!("{n} approvals by other members"),
    };
    if p.strict {
        approvals
            .push_str(" for everyone, approvers and admins included (strict: nobody is exempt)");
    } else if p.approvals > 0 {
        approvals.push_str(&format!(
            "; exempt: members holding `approve` on it (admins too) post directly (not strict; `smv policy set {} --strict` binds them too)",
            escape(&p.account)
        ));
    }
    match rate_cell(p).as_str() {
        "-" => format!("{approvals}, no rate guard"),
        r => format!("{approvals}, at most {r}"),
    }
}

fn render_freezes(out: &Out, freezes: &[Freeze]) {
    let rows = freezes
        .iter()
        .map(|f| {
            vec![
                f.account
                    .clone()
                    .unwrap_or_else(|| "* (every account)".into()),
                f.frozen_at.clone(),
                f.frozen_by.clone(),
                f.reason.clone(),
                f.until.clone().unwrap_or_else(|| "until lifted".into()),
            ]
        })
        .collect();
    out.table(
        &[
            keep("frozen"),
            time("since"),
            keep("by"),
            flex("reason"),
            time("until"),
        ],
        rows,
    );
}

/// Scheduled posts (their JSON: the list): one line each for what a command just did
/// (`Scheduled … for … at …`), or the table of them; `none` is said for an empty table.
#[derive(Serialize)]
#[serde(transparent)]
pub(crate) struct QueueView<'a> {
    list: &'a [Queued],
    #[serde(skip)]
    verb: &'a str,
    #[serde(skip)]
    none: &'a str,
}

impl<'a> QueueView<'a> {
    pub(crate) fn said(list: &'a [Queued], verb: &'a str) -> Self {
        QueueView {
            list,
            verb,
            none: "",
        }
    }

    pub(crate) fn table(list: &'a [Queued]) -> Self {
        QueueView::said(list, "")
    }
}

impl Render for QueueView<'_> {
    fn human(&self, out: &Out) {
        if self.list.is_empty() && !self.none.is_empty() {
            out.say(self.none);
            return;
        }
        render_queue(out, self.list, self.verb);
    }
}

fn render_queue(out: &Out, list: &[Queued], verb: &str) {
    if !verb.is_empty() {
        for q in list {
            out.say(format!(
                "{verb} {} for {} at {}",
                escape(&q.id),
                escape(&q.account),
                out.time(&q.due_at)
            ));
        }
        return;
    }
    let rows = list
        .iter()
        .map(|q| {
            vec![
                q.id.clone(),
                q.account.clone(),
                match &q.token {
                    Some(t) => format!("{} (token {t})", q.author),
                    None => q.author.clone(),
                },
                q.due_at.clone(),
                q.status.to_string(),
                q.draft.clone().unwrap_or_else(|| "-".into()),
                // Whole: a terminal's table cuts it to fit, piped it is never cut.
                q.text.clone(),
                q.post_id
                    .clone()
                    .or_else(|| q.note.clone())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out.table(
        &[
            keep("id"),
            keep("account"),
            keep("author"),
            time("due"),
            keep("status"),
            keep("draft"),
            flex("text"),
            flex("post id / note"),
        ],
        rows,
    );
}
