//! What happened to each attempt to post, as the ledger (the audit log) says: one matcher.
//!
//! A send ends in one of three ways (docs/audit-log.md, "Outcomes of a post"):
//! - **published**: an `ok` outcome with the network's receipt;
//! - **not published**: a `failed` outcome, when the network certainly did nothing;
//! - **unknown**: the request left and no trustworthy answer came back (an `unknown`
//!   outcome), or no outcome was recorded at all (a crash, an outcome that could not be
//!   written, or a send still under way).
//!
//! An unknown attempt stays unknown until a `post.resolve` entry names its intent and says
//! what a person found (published at a URL, or not published, and why). Until then it blocks
//! a retry of the same idempotency key and of the same scheduled post: nothing is posted
//! twice because an answer was lost.
//!
//! Everything that asks "is this attempt settled?" asks here: `send` (idempotency), the queue
//! (its `queue:ID` key), `smv status` (every unknown attempt), `smv posts resolve`. The
//! matcher itself ([`pair`], [`settle`]) is pure: entries in, states out. The later
//! `smv reconcile` will resolve unknown attempts by matching them against what the network
//! shows, through the same functions, appending the same `post.resolve` entries.
//!
//! How entries belong together: an outcome names its intent (`intent_seq` in its details);
//! outcomes written before that detail existed are paired with the earliest open intent of
//! the same request, target and scheduled post. A resolution names its intent the same way.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::{Entry, Filter, Ledger, Outcome};
use crate::{Error, Result};

/// The action of a post's intent and outcome entries.
pub const POST: &str = "post";
/// The action of a resolution entry.
pub const RESOLVE: &str = "post.resolve";

/// What a person (or, later, `smv reconcile`) found out about an unknown attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "resolution", rename_all = "snake_case")]
pub enum Resolution {
    /// It is live, at this URL.
    Published { url: String },
    /// It is not on the network (and will not appear): why a person says so.
    NotPublished { reason: String },
}

impl Resolution {
    /// The details a `post.resolve` entry carries (besides the intent it names).
    pub fn details(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    fn from_details(details: &Map<String, Value>) -> Option<Resolution> {
        serde_json::from_value(Value::Object(details.clone())).ok()
    }
}

/// Who settled an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    /// The network's own answer (an `ok` or `failed` outcome).
    Network,
    /// A `post.resolve` entry.
    Resolution,
}

/// Why an attempt's outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Why {
    /// It was sent and no trustworthy answer came back: the `unknown` outcome's entry.
    NoAnswer { outcome_seq: u64 },
    /// No outcome is recorded: interrupted (a crash, an outcome that could not be written —
    /// it may be waiting in the vault's `.outcomes` file), or still being sent.
    NoOutcome,
}

impl Why {
    /// In smv's words, for people.
    pub fn describe(self) -> String {
        match self {
            Why::NoAnswer { outcome_seq } => format!(
                "it was sent and no trustworthy answer came back (audit entry {outcome_seq})"
            ),
            Why::NoOutcome => {
                "no outcome is recorded: it was interrupted, or is still being sent".into()
            }
        }
    }
}

/// How an attempt ended, as the ledger says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Settled {
    Published {
        /// The network's id (None when a person resolved it by its URL).
        post_id: Option<String>,
        url: Option<String>,
        /// The entry that says so.
        seq: u64,
        by: By,
    },
    NotPublished {
        seq: u64,
        by: By,
        reason: Option<String>,
    },
    Unknown(Why),
}

impl Settled {
    pub fn is_unknown(&self) -> bool {
        matches!(self, Settled::Unknown(_))
    }
}

/// One attempt: its intent, and what the ledger holds about it.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub intent: Entry,
    pub outcome: Option<Entry>,
    pub resolution: Option<Entry>,
    pub settled: Settled,
}

impl Attempt {
    /// The account it was sent to (`account:NAME` → `NAME`).
    pub fn account(&self) -> &str {
        self.intent
            .target
            .strip_prefix("account:")
            .unwrap_or(&self.intent.target)
    }

    pub fn detail(&self, key: &str) -> Option<&str> {
        self.intent.details.get(key).and_then(Value::as_str)
    }
}

/// What the ledger says about an attempt, from its intent, its outcome (if any) and its
/// resolution (if any). The network's own answer wins over a person's: an outcome written
/// late (from the `.outcomes` file, or by a send that was still running) settles it even if
/// someone resolved it meanwhile.
pub fn settle(outcome: Option<&Entry>, resolution: Option<&Entry>) -> Settled {
    let text = |e: &Entry, k: &str| e.details.get(k).and_then(Value::as_str).map(str::to_string);
    match outcome {
        Some(o) if o.outcome == Outcome::Ok => {
            return Settled::Published {
                post_id: text(o, "post_id"),
                url: text(o, "url"),
                seq: o.seq,
                by: By::Network,
            };
        }
        Some(o) if o.outcome == Outcome::Failed => {
            return Settled::NotPublished {
                seq: o.seq,
                by: By::Network,
                reason: o.reason.clone(),
            };
        }
        _ => {}
    }
    if let Some(r) = resolution
        && let Some(found) = Resolution::from_details(&r.details)
    {
        return match found {
            Resolution::Published { url } => Settled::Published {
                post_id: None,
                url: Some(url),
                seq: r.seq,
                by: By::Resolution,
            },
            Resolution::NotPublished { reason } => Settled::NotPublished {
                seq: r.seq,
                by: By::Resolution,
                reason: Some(reason),
            },
        };
    }
    Settled::Unknown(match outcome {
        Some(o) => Why::NoAnswer { outcome_seq: o.seq },
        None => Why::NoOutcome,
    })
}

fn intent_seq(e: &Entry) -> Option<u64> {
    e.details.get("intent_seq").and_then(Value::as_u64)
}

/// Groups `post` and `post.resolve` entries into attempts (other entries are ignored), in
/// the order of their intents. Pure: the matcher every caller shares.
pub fn pair(entries: &[Entry]) -> Vec<Attempt> {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by_key(|e| e.seq);
    sorted.dedup_by_key(|e| e.seq);
    let mut attempts: Vec<Attempt> = sorted
        .iter()
        .filter(|e| e.action == POST && e.outcome == Outcome::Intent)
        .map(|e| Attempt {
            intent: (*e).clone(),
            outcome: None,
            resolution: None,
            settled: Settled::Unknown(Why::NoOutcome),
        })
        .collect();
    for e in &sorted {
        let is_outcome = e.action == POST
            && matches!(e.outcome, Outcome::Ok | Outcome::Failed | Outcome::Unknown);
        let is_resolution = e.action == RESOLVE && e.outcome == Outcome::Ok;
        if !is_outcome && !is_resolution {
            continue;
        }
        let named = intent_seq(e);
        let slot = attempts.iter_mut().find(|a| {
            let open = if is_outcome {
                a.outcome.is_none()
            } else {
                a.resolution.is_none()
            };
            open && a.intent.seq < e.seq
                && match named {
                    Some(n) => a.intent.seq == n,
                    // Outcomes written before `intent_seq`: the earliest open intent of the
                    // same request, target and scheduled post. Resolutions always name one.
                    None => {
                        is_outcome
                            && a.intent.request_id == e.request_id
                            && a.intent.target == e.target
                            && a.intent.details.get("queue_id") == e.details.get("queue_id")
                    }
                }
        });
        if let Some(a) = slot {
            if is_outcome {
                a.outcome = Some((*e).clone());
            } else {
                a.resolution = Some((*e).clone());
            }
        }
    }
    for a in &mut attempts {
        a.settled = settle(a.outcome.as_ref(), a.resolution.as_ref());
    }
    attempts
}

/// What the attempts under one idempotency key mean for a new send with that key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// No attempt, or every one certainly not published: send.
    Free,
    /// Published: answer with its receipt, send nothing.
    Published {
        post_id: Option<String>,
        url: Option<String>,
        /// The entry that says so (the outcome, or the resolution).
        seq: u64,
    },
    /// An attempt's outcome is unknown: send nothing until it is resolved.
    Blocked { intent_seq: u64, why: Why },
}

/// The key's state from its attempts: a published one wins (its receipt); otherwise an
/// unknown one blocks; otherwise the key is free.
pub fn key_state(attempts: &[Attempt]) -> KeyState {
    if let Some((post_id, url, seq)) = attempts.iter().find_map(|a| match &a.settled {
        Settled::Published {
            post_id, url, seq, ..
        } => Some((post_id.clone(), url.clone(), *seq)),
        _ => None,
    }) {
        return KeyState::Published { post_id, url, seq };
    }
    match attempts.iter().find_map(|a| match a.settled {
        Settled::Unknown(why) => Some((a.intent.seq, why)),
        _ => None,
    }) {
        Some((intent_seq, why)) => KeyState::Blocked { intent_seq, why },
        None => KeyState::Free,
    }
}

/// A detail's value as the entries' canonical JSON holds it, to find entries by it (each
/// entry found is checked exactly after).
fn needle(key: &str, value: &Value) -> Vec<u8> {
    format!("\"{key}\":{value}").into_bytes()
}

/// Every attempt to post to `account` under idempotency key `key`, with its outcome and
/// resolution. `log` may be the open group's (its own appends are seen).
pub fn attempts_with_key(log: &dyn Ledger, account: &str, key: &str) -> Result<Vec<Attempt>> {
    let filter = Filter {
        account: Some(account.to_string()),
        ..Filter::default()
    };
    let value = Value::from(key);
    let entries: Vec<Entry> = log
        .entries_mentioning(&filter, &needle("idempotency_key", &value))?
        .into_iter()
        .filter(|e| {
            (e.action == POST || e.action == RESOLVE)
                && e.details.get("idempotency_key") == Some(&value)
        })
        .collect();
    Ok(pair(&entries))
}

/// The attempt entry `seq` belongs to: the post's intent, or its outcome (the seq a post's
/// report and `smv posts` show), which names its intent. Unambiguous: each seq is one entry,
/// and an outcome names exactly one intent. An error if there is no such entry, or it is
/// neither (a resolution, another action), or an outcome too old to name its intent.
pub fn attempt_at(log: &dyn Ledger, seq: u64) -> Result<Attempt> {
    let not_post = |why: String| {
        Error::invalid("SEQ", why).with_hint(
            "give the audit seq of the post (its report's audit column) or of its intent: `smv status` lists the unknown ones",
        )
    };
    let read = |seq: u64| -> Result<Option<Entry>> {
        let Some(row) = log.stored(seq)? else {
            return Ok(None);
        };
        serde_json::from_slice(&row.body).map(Some).map_err(|e| {
            Error::Internal(format!(
                "entry {seq} is unreadable ({e}); run `smv audit verify`"
            ))
        })
    };
    let entry = read(seq)?.ok_or_else(|| {
        Error::not_found("audit entry", seq.to_string())
            .with_hint("`smv status` lists the posts whose outcome is unknown, with their SEQ")
    })?;
    // (What other entries are is not said: the caller may not read the audit log.)
    if entry.action != POST {
        return Err(not_post(format!("entry {seq} is not a post")));
    }
    let entry = if entry.outcome == Outcome::Intent {
        entry
    } else {
        // An outcome: the attempt is its intent's. The intent must be what it names: a
        // post's intent to the same account, before it.
        let named = intent_seq(&entry).ok_or_else(|| {
            not_post(format!(
                "entry {seq} is the outcome of a post recorded before outcomes named their intent"
            ))
        })?;
        match read(named)? {
            Some(i)
                if i.action == POST
                    && i.outcome == Outcome::Intent
                    && i.target == entry.target
                    && i.seq < seq =>
            {
                i
            }
            _ => {
                return Err(Error::Internal(format!(
                    "entry {seq} names entry {named} as its intent, which is not; run `smv audit verify`"
                )));
            }
        }
    };
    let seq = entry.seq;
    let account = entry
        .target
        .strip_prefix("account:")
        .unwrap_or(&entry.target)
        .to_string();
    let filter = Filter {
        account: Some(account),
        ..Filter::default()
    };
    // Its request's entries (outcomes, also those written before `intent_seq`), and the
    // entries that name it (resolutions).
    let mut entries = log.entries_mentioning(
        &filter,
        &needle("request_id", &Value::from(entry.request_id.as_str())),
    )?;
    entries.extend(log.entries_mentioning(&filter, &needle("intent_seq", &Value::from(seq)))?);
    entries.push(entry);
    pair(&entries)
        .into_iter()
        .find(|a| a.intent.seq == seq)
        .ok_or_else(|| Error::Internal(format!("entry {seq} lost its attempt")))
}

/// Every attempt whose outcome is unknown and not resolved, oldest first. The log's index on
/// (action, target, request, outcome) finds the few requests whose intents outnumber their
/// definite outcomes without reading the others' bodies.
pub fn unresolved(log: &dyn Ledger) -> Result<Vec<Attempt>> {
    let mut out = Vec::new();
    for (target, request_id) in log.unsettled_post_requests()? {
        let filter = Filter {
            account: target.strip_prefix("account:").map(str::to_string),
            ..Filter::default()
        };
        if filter.account.is_none() {
            continue;
        }
        let mut entries = log.entries_mentioning(
            &filter,
            &needle("request_id", &Value::from(request_id.as_str())),
        )?;
        let intents: Vec<u64> = entries
            .iter()
            .filter(|e| e.action == POST && e.outcome == Outcome::Intent)
            .map(|e| e.seq)
            .collect();
        for seq in intents {
            entries
                .extend(log.entries_mentioning(&filter, &needle("intent_seq", &Value::from(seq)))?);
        }
        out.extend(
            pair(&entries)
                .into_iter()
                .filter(|a| a.settled.is_unknown() && a.intent.target == target),
        );
    }
    out.sort_by_key(|a| a.intent.seq);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Channel;

    fn entry(seq: u64, action: &str, outcome: Outcome, rid: &str, details: Value) -> Entry {
        Entry {
            seq,
            time: "2026-01-01T00:00:00Z".into(),
            actor: "alice".into(),
            channel: Channel::Local,
            action: action.into(),
            target: "account:demo".into(),
            outcome,
            reason: None,
            request_id: rid.into(),
            details: match details {
                Value::Object(m) => m,
                _ => Map::new(),
            },
        }
    }

    #[test]
    fn three_outcomes_and_a_resolution() {
        use serde_json::json as j;
        let entries = vec![
            entry(1, POST, Outcome::Intent, "r1", j!({})),
            entry(
                2,
                POST,
                Outcome::Ok,
                "r1",
                j!({"intent_seq": 1, "post_id": "p", "url": "u"}),
            ),
            entry(3, POST, Outcome::Intent, "r2", j!({})),
            entry(4, POST, Outcome::Failed, "r2", j!({"intent_seq": 3})),
            entry(5, POST, Outcome::Intent, "r3", j!({})),
            entry(6, POST, Outcome::Unknown, "r3", j!({"intent_seq": 5})),
            entry(7, POST, Outcome::Intent, "r4", j!({})),
            entry(8, POST, Outcome::Intent, "r5", j!({})),
            entry(9, POST, Outcome::Unknown, "r5", j!({"intent_seq": 8})),
            entry(
                10,
                RESOLVE,
                Outcome::Ok,
                "r6",
                j!({"intent_seq": 8, "resolution": "published", "url": "https://x/1"}),
            ),
            // A resolution of an attempt the network settled itself changes nothing.
            entry(
                11,
                RESOLVE,
                Outcome::Ok,
                "r7",
                j!({"intent_seq": 3, "resolution": "published", "url": "https://x/2"}),
            ),
        ];
        let a = pair(&entries);
        assert_eq!(a.len(), 5);
        assert!(matches!(
            a[0].settled,
            Settled::Published {
                seq: 2,
                by: By::Network,
                ..
            }
        ));
        assert!(matches!(
            a[1].settled,
            Settled::NotPublished {
                seq: 4,
                by: By::Network,
                ..
            }
        ));
        assert_eq!(
            a[2].settled,
            Settled::Unknown(Why::NoAnswer { outcome_seq: 6 })
        );
        assert_eq!(a[3].settled, Settled::Unknown(Why::NoOutcome));
        assert_eq!(
            a[4].settled,
            Settled::Published {
                post_id: None,
                url: Some("https://x/1".into()),
                seq: 10,
                by: By::Resolution
            }
        );
        // A published attempt answers for the key; otherwise an unknown one blocks it.
        assert!(matches!(key_state(&a), KeyState::Published { seq: 2, .. }));
        assert_eq!(
            key_state(&a[1..4]),
            KeyState::Blocked {
                intent_seq: 5,
                why: Why::NoAnswer { outcome_seq: 6 }
            }
        );
        assert_eq!(key_state(&a[1..2]), KeyState::Free);
        assert_eq!(key_state(&[]), KeyState::Free);
    }

    #[test]
    fn outcomes_without_intent_seq_pair_by_request_target_and_queue_entry() {
        use serde_json::json as j;
        // A queue run of an older smv: one request, two posts to one account.
        let entries = vec![
            entry(1, POST, Outcome::Intent, "r", j!({"queue_id": "q1"})),
            entry(2, POST, Outcome::Intent, "r", j!({"queue_id": "q2"})),
            entry(
                3,
                POST,
                Outcome::Ok,
                "r",
                j!({"queue_id": "q2", "post_id": "b"}),
            ),
            entry(4, "post.dry-run", Outcome::Ok, "r", j!({})),
        ];
        let a = pair(&entries);
        assert_eq!(a[0].settled, Settled::Unknown(Why::NoOutcome));
        assert!(matches!(&a[1].settled, Settled::Published { post_id: Some(p), .. } if p == "b"));
    }

    #[test]
    fn a_network_outcome_written_late_wins_over_a_resolution() {
        use serde_json::json as j;
        let entries = vec![
            entry(1, POST, Outcome::Intent, "r", j!({})),
            entry(
                2,
                RESOLVE,
                Outcome::Ok,
                "x",
                j!({"intent_seq": 1, "resolution": "not_published", "reason": "not seen"}),
            ),
            entry(
                3,
                POST,
                Outcome::Ok,
                "r",
                j!({"intent_seq": 1, "post_id": "late", "recorded_late": true}),
            ),
        ];
        assert!(matches!(
            &pair(&entries)[0].settled,
            Settled::Published { post_id: Some(p), by: By::Network, .. } if p == "late"
        ));
        // A resolution that does not parse resolves nothing.
        let bad = vec![
            entry(1, POST, Outcome::Intent, "r", j!({})),
            entry(
                2,
                RESOLVE,
                Outcome::Ok,
                "x",
                j!({"intent_seq": 1, "resolution": "maybe"}),
            ),
        ];
        assert_eq!(pair(&bad)[0].settled, Settled::Unknown(Why::NoOutcome));
    }
}
