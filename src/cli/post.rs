//! `smv post`: the results of a post or a publication, each target's line as it completes on
//! a terminal, one table piped.

use super::args::PostArgs;
use super::backend::Backend;
use super::input;
use super::output::{Out, Render, escape, opt};
use super::table::{flex, keep};
use crate::ops;
use crate::{Error, Result};

pub fn run(b: &mut Backend, a: PostArgs, out: &Out) -> Result<()> {
    // Ctrl-C and SIGTERM stop the sends in order and the report tells the truth
    // (`crate::interrupt`), where this process sends; through a proxy, the server finishes.
    if matches!(b, Backend::Local(_)) && !a.dry_run && a.at.is_none() {
        crate::interrupt::watch();
    }
    if let Some(key) = a.retry {
        let mut live = LiveResults::new(out);
        let results = b.retry_post(&key, a.dry_run, &mut |r| live.sent(r))?;
        return render_results(out, &results, Some(retry_hint(&key)), &live);
    }
    let targets = a.targets.unwrap_or_default();
    let text = input::read_text(a.text, a.file, "smv post ACCOUNT \"text\"")?;
    if let Some(at) = a.at {
        // Resolved here, in this shell's time zone: the proxy is sent the instant.
        let when = crate::clock::parse_when(&at, crate::clock::Toward::Future)?;
        let queued = b.schedule_post(&targets, &text, &crate::clock::stamp(when.at))?;
        out.show(&super::governance::QueueView::said(&queued, "Scheduled"));
        return Ok(());
    }
    // Through a proxy, the key is made here: if the answer is lost (exit 12), the person
    // still knows it, and `--retry KEY` or the key answers from the server's ledger.
    let remote_key = match (&a.idempotency_key, &*b) {
        (None, Backend::Remote(_)) if !a.dry_run => Some(ops::generated_key()),
        _ => None,
    };
    let opts = ops::PostOptions {
        dry_run: a.dry_run,
        idempotency_key: a.idempotency_key.or(remote_key.clone()),
    };
    let mut live = LiveResults::new(out);
    let results = match b.post(&targets, &text, &opts, &mut |r| live.sent(r)) {
        Ok(results) => results,
        Err(e) => {
            if let Some(k) = remote_key.filter(|_| e.class() == crate::error::Class::Unknown) {
                out.note(format!(
                    "idempotency key: {}   (`{}` answers from the server's ledger once the post is settled: it never posts twice)",
                    escape(&k),
                    escape(&retry_command(&k))
                ));
            }
            return Err(e);
        }
    };
    let retry = results
        .iter()
        .find_map(|r| r.idempotency_key.as_deref())
        .map(retry_hint);
    render_results(out, &results, retry, &live)
}

/// `smv post --retry KEY`, the key quoted for a POSIX shell when it needs to be.
pub(crate) fn retry_command(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@+=,".contains(&b));
    if plain {
        format!("smv post --retry {key}")
    } else {
        format!("smv post --retry '{}'", key.replace('\'', "'\\''"))
    }
}

/// What a partial failure's hint says: the command that sends to the failed targets only.
fn retry_hint(key: &str) -> String {
    format!(
        "`{}` sends the same text again to the targets that failed, never to the ones published (or whose outcome is unknown)",
        retry_command(key)
    )
}

/// A post's results as they come: on a terminal, each target's line as soon as its network
/// answered (a slow network does not hide the others' receipts); elsewhere nothing until
/// the table at the end.
pub(crate) struct LiveResults<'o> {
    out: &'o Out,
    live: bool,
    shown: Vec<String>,
}

impl<'o> LiveResults<'o> {
    pub(crate) fn new(out: &'o Out) -> LiveResults<'o> {
        LiveResults {
            out,
            live: out.look().terminal && !out.json,
            shown: Vec::new(),
        }
    }

    pub(crate) fn sent(&mut self, r: &ops::PostResult) {
        if self.live {
            self.out.say(result_line(r));
            self.shown.push(r.account.clone());
        }
    }
}

fn status_word(s: ops::PostStatus) -> &'static str {
    match s {
        ops::PostStatus::Posted => "posted",
        ops::PostStatus::AlreadyPosted => "already posted",
        ops::PostStatus::Valid => "valid",
        ops::PostStatus::Failed => "FAILED",
        ops::PostStatus::Unknown => "UNKNOWN",
        ops::PostStatus::NotSent => "not sent",
    }
}

/// One target's result, one line: status, account, receipt or error, audit entry.
fn result_line(r: &ops::PostResult) -> String {
    let mut line = format!(
        "{:<14}  {} ({})",
        status_word(r.status),
        escape(&r.account),
        escape(&r.provider)
    );
    for part in [&r.post_id, &r.error, &r.url].into_iter().flatten() {
        line.push_str("  ");
        line.push_str(&escape(part));
    }
    if let Some(seq) = r.audit_seq {
        line.push_str(&format!("  audit {seq}"));
    }
    line
}

/// The receipts of a post or a publication; an error (exit 11) if any post failed, whose
/// hint is `retry` (how the command that was run retries the failed targets). On a
/// terminal the lines `live` showed already are not repeated.
pub(crate) fn render_results(
    out: &Out,
    results: &[ops::PostResult],
    retry: Option<String>,
    live: &LiveResults,
) -> Result<()> {
    out.show(&Results { results, live });
    // The key, once per post, for people (on stderr: piped, stdout stays one table; the
    // JSON holds it in each result).
    if let Some(key) = results.iter().find_map(|r| r.idempotency_key.as_deref())
        && !out.json
    {
        out.note(format!(
            "idempotency key: {}   (`{}` retries the targets that failed)",
            escape(key),
            escape(&retry_command(key))
        ));
    }
    outcome(results, retry)
}

/// The results (their JSON: the list), and the live lines' record of what is shown.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct Results<'a, 'o> {
    results: &'a [ops::PostResult],
    #[serde(skip)]
    live: &'a LiveResults<'o>,
}

impl Render for Results<'_, '_> {
    fn human(&self, out: &Out) {
        let (results, live) = (self.results, self.live);
        if live.live {
            for r in results.iter().filter(|r| !live.shown.contains(&r.account)) {
                out.say(result_line(r));
            }
            return;
        }
        let rows = results
            .iter()
            .map(|r| {
                vec![
                    r.account.clone(),
                    r.provider.clone(),
                    serde_json::to_value(r.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    r.post_id
                        .clone()
                        .or_else(|| r.error.clone())
                        .unwrap_or_else(|| "-".into()),
                    opt(&r.url),
                    r.audit_seq.map_or("-".into(), |s| s.to_string()),
                ]
            })
            .collect();
        out.table(
            &[
                keep("account"),
                keep("provider"),
                keep("status"),
                flex("post id / error"),
                flex("url"),
                keep("audit"),
            ],
            rows,
        );
    }
}

/// An error (exit 11) if any post failed, with `retry` as its hint; exit 12 first if any
/// outcome is unknown.
fn outcome(results: &[ops::PostResult], retry: Option<String>) -> Result<()> {
    // Interrupted (exit 130) first: the report says what became of each target.
    if crate::interrupt::requested() {
        let count = |s| results.iter().filter(|r| r.status == s).count();
        let unknown: Vec<u64> = results
            .iter()
            .filter(|r| r.status == ops::PostStatus::Unknown)
            .filter_map(|r| r.intent_seq)
            .collect();
        return Err(Error::Interrupted {
            not_sent: count(ops::PostStatus::NotSent),
            unknown: count(ops::PostStatus::Unknown),
            total: results.len(),
            intents: unknown,
            retry,
        });
    }
    let failed = results
        .iter()
        .filter(|r| r.status == ops::PostStatus::Failed)
        .count();
    // Unknown first (exit 12): it may be live; the hint is to resolve it, never to retry.
    let unknown: Vec<&ops::PostResult> = results
        .iter()
        .filter(|r| r.status == ops::PostStatus::Unknown)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::PostsUnknown {
            unknown: unknown.len(),
            failed,
            total: results.len(),
            intents: unknown.iter().filter_map(|r| r.intent_seq).collect(),
        });
    }
    if failed > 0 {
        return Err(Error::PostsFailed {
            failed,
            total: results.len(),
            retry,
        });
    }
    Ok(())
}
