//! The one path by which anything reaches a network: direct posts, published drafts and
//! scheduled posts all come through [`send`], so a freeze, a rate guard, a revoked grant or
//! a missing approval stops every one of them the same way.
//!
//! Order of work:
//! 1. Under the posting gate (a file lock that every vault save also takes; see
//!    `ops::store`), on the vault as it is now: ask the rules for every target (with the
//!    account's freeze, policy and rate), validate every post, settle idempotency, and write
//!    every target's intent durably. One refusal or invalid post sends nothing to any target.
//! 2. Outside the gate: send each post and record its outcome.
//!
//! The gate makes "authorize + write intent" atomic against freezes, revocations and other
//! posters: a post whose intent is on disk was allowed by a vault state that was current at
//! that moment, and the rate guard counts intents (the ones of posts admitted before it in
//! the same group too), so parallel posts cannot together exceed it. The gate is held for
//! milliseconds: no network call happens under it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Ctx, Refusal};
use crate::access::{self, Action, Decision, Deny, Frozen, Guard, Level, Rate};
use crate::audit::{AuditLog, Filter, Outcome};
use crate::providers::{self, Provider, Receipt, Target};
use crate::secret::Secret;
use crate::vault::{Account, Draft, Member, Vault, text_hash};
use crate::{Error, Result, clock, ids};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostStatus {
    /// Published now.
    Posted,
    /// Published earlier under the same idempotency key: the original receipt.
    AlreadyPosted,
    /// `--dry-run`: would be sent.
    Valid,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostResult {
    pub account: String,
    pub provider: String,
    pub status: PostStatus,
    pub post_id: Option<String>,
    pub url: Option<String>,
    /// The audit entry that records the outcome.
    pub audit_seq: Option<u64>,
    pub error: Option<String>,
}

/// Which question the rules are asked for each target.
pub(crate) enum Rule {
    /// `smv post`: the author's own grant.
    Direct,
    /// Publishing a draft: it must still be pending, with this exact text, and approved.
    Draft { id: String },
}

/// Who a post is sent as.
pub(crate) enum Author {
    /// Whoever runs this command (through a token: within the token's limits).
    Caller,
    /// A scheduled post's author, when the queue runs it; with the row of the API token it
    /// was scheduled through, if any: then the post is sent within that token's limits, and
    /// only while the token is valid.
    Scheduled { member: String, token: Option<i64> },
}

/// One post to send to one or more accounts.
pub(crate) struct Job<'a> {
    /// The member the post is sent as: recorded as the actor and authorized as such.
    pub author: Author,
    pub accounts: Vec<String>,
    pub text: &'a str,
    pub rule: Rule,
    pub idempotency_key: Option<String>,
    pub dry_run: bool,
    /// Added to every entry this job writes (draft or queue id, who ran the queue…).
    pub details: Map<String, Value>,
}

/// The stable key passed to networks that support one: derived from the user's key and the
/// account, so one key used for several accounts gives each network its own.
fn network_key(key: &str, account: &str) -> String {
    use sha2::Digest;
    ids::hex(&sha2::Sha256::digest(format!("smv-idempotency\n{key}\n{account}").as_bytes())[..16])
}

/// The account's freeze, policy and rate right now.
pub(crate) fn guard(vault: &Vault, log: Option<&AuditLog>, account: &Account) -> Result<Guard> {
    let policy = vault.policy(account)?;
    let rate = match (policy.max_posts, policy.per_seconds, log) {
        (Some(max), Some(per), Some(log)) => {
            // Audit times are the real clock's, with microseconds: compare like with like.
            let since = (chrono::Utc::now() - chrono::Duration::seconds(per))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            // Posts made under the account's former names count too (a rename does not
            // empty the window).
            let mut used = 0;
            for name in std::iter::once(account.name.clone()).chain(vault.former_names(account)?) {
                used +=
                    log.count_since(&format!("account:{name}"), "post", Outcome::Intent, &since)?;
            }
            Some(Rate {
                max,
                used: u32::try_from(used).unwrap_or(u32::MAX),
                per: clock::format_duration(per),
            })
        }
        _ => None,
    };
    Ok(Guard {
        frozen: vault.freeze_on(account)?.map(|f| Frozen {
            all: f.account.is_none(),
            description: f.describe(),
        }),
        approvals_required: policy.approvals,
        strict: policy.strict,
        rate,
    })
}

/// The author of a post scheduled through the token at `row`, acting through it (capped by
/// it) if the token is still valid and still theirs; otherwise why the authority lapsed.
fn scheduled_authority(
    vault: &Vault,
    author: Member,
    row: i64,
) -> Result<std::result::Result<Member, (String, Deny)>> {
    let token = vault.token_by_row(row)?;
    let accessor = token.accessor.clone();
    let lapsed = |why: String| Ok(Err((author.name.clone(), Deny::AuthorityLapsed(why))));
    match vault.token_authority(token, &clock::now_stamp())? {
        Ok((_, owner)) if owner.id == author.id => Ok(Ok(owner)),
        Ok((_, owner)) => lapsed(format!(
            "the token {accessor} that scheduled it now acts for {}",
            owner.name
        )),
        Err((_, why)) => lapsed(format!(
            "token {accessor} that scheduled it: {}",
            why.describe()
        )),
    }
}

/// The approvals that count for publishing `draft` to `account`: of its current text, by
/// active members other than its author who hold `approve` on that account now.
pub(crate) fn valid_approvals(vault: &Vault, draft: &Draft, account: &Account) -> Result<u32> {
    let mut n = 0;
    for ap in &draft.approvals {
        if ap.text_sha256 != draft.text_sha256 || ap.member_id == draft.author_id {
            continue;
        }
        let member = vault.member(&ap.member)?;
        if member.active && vault.grant_level(&member, account.id)? >= Some(Level::Approve) {
            n += 1;
        }
    }
    Ok(n)
}

/// The question for one target under `rule`, asked of the vault as it is now.
fn question(
    vault: &Vault,
    rule: &Rule,
    author: &Member,
    account: &Account,
    text: &str,
    guard: Guard,
) -> Result<Action> {
    let grant = vault.grant_level(author, account.id)?;
    match rule {
        Rule::Direct => Ok(Action::Post { grant, guard }),
        Rule::Draft { id } => {
            let draft = vault.draft(id)?;
            if !draft.is_pending() {
                return Err(Error::Conflict(
                    format!("draft {id} is {}", draft.status),
                    Some("only pending drafts are published".into()),
                ));
            }
            if draft.text_sha256 != text_hash(text) || !draft.accounts.contains(&account.name) {
                return Err(Error::Conflict(
                    format!("draft {id} changed since this publication was prepared"),
                    Some(format!("`smv draft show {id}` shows it as it is now")),
                ));
            }
            Ok(Action::Publish {
                grant,
                author: draft.author_id == author.id,
                approvals: valid_approvals(vault, &draft, account)?,
                guard,
            })
        }
    }
}

/// What to do about a refusal of a post to `account`, from the rule that refused it.
fn refusal_hint(rule: &Deny, account: &str, author: &Member, job: &Rule) -> Option<String> {
    Some(match (rule, job) {
        (Deny::Frozen(Frozen { all: true, .. }), _) => {
            "every account is frozen: an admin lifts it with `smv unfreeze --all`; `smv status` shows every freeze".into()
        }
        (Deny::Frozen(_), _) => format!(
            "an admin lifts the freeze with `smv unfreeze {account}`; `smv status` shows every freeze"
        ),
        (Deny::RateGuard(_), _) => format!(
            "the rate guard lets posts through again as earlier ones leave its window; `smv policy list` shows it, and whoever manages {account} can change it"
        ),
        (Deny::NeedsApprovals { .. } | Deny::DraftOnly, Rule::Direct) => format!(
            "draft it: `smv draft {account} \"…\"`, then ask someone with `approve` on it"
        ),
        (Deny::MissingApprovals { .. }, Rule::Draft { id }) => format!(
            "ask a member with `approve` on {account} to run `smv approve {id}`; `smv draft show {id}` shows the approvals it has"
        ),
        (Deny::NoGrant | Deny::DraftOnly | Deny::PostOrAuthor, _)
            if author.role == access::Role::Admin && author.cap.is_none() =>
        {
            format!(
                "admins post through grants too: `smv grant {} {account} post`",
                author.name
            )
        }
        (Deny::NoGrant | Deny::DraftOnly | Deny::PostOrAuthor, _) => format!(
            "ask an admin or the manager of {account} for the grant it needs (`smv access` shows who holds what)"
        ),
        _ => return rule.hint(),
    })
}

/// Checks every post against its network's rules (length, media…) before any is sent.
pub(crate) fn validate_all(
    vault: &Vault,
    accounts: &[Account],
    text: &str,
    state_dir: &std::path::Path,
) -> Result<()> {
    let mut invalid = Vec::new();
    for a in accounts {
        let provider = providers::implementation(&a.provider)?;
        let secret = vault.account_secret(a)?;
        let target = Target {
            account: a,
            secret: secret.as_ref(),
            state_dir: state_dir.to_path_buf(),
            sessions: None,
        };
        if let Err(e) = provider.validate(&target, text) {
            invalid.push(format!("{}: {e}", a.name));
        }
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(
            "post",
            format!("{}; nothing was sent", invalid.join("; ")),
        ))
    }
}

/// A post the gate let through, ready to send.
struct Prepared {
    account: Account,
    provider: Box<dyn Provider>,
    secret: Option<Secret>,
    /// The network session as of the admission (see `sessions`).
    session: Option<Secret>,
    details: Map<String, Value>,
}

/// What the gate let through: the posts to send, and every target's result so far.
struct Admitted {
    author: String,
    results: Vec<PostResult>,
    prepared: Vec<Prepared>,
}

/// Sends `job`; `sent` is told each target's result as soon as its network answered.
pub(crate) fn send(
    ctx: &mut Ctx,
    job: &Job,
    sent: &mut dyn FnMut(&PostResult),
) -> Result<Vec<PostResult>> {
    crate::failpoint::hit("post-before-gate")?;
    let store = ctx.store.clone();
    // Under the gate, the store reads the vault again if it changed since this process
    // last did.
    let admitted = store.grouped(|log| store.view(|vault| admit(ctx, vault, log, job)))?;
    if job.dry_run {
        return Ok(admitted.results);
    }
    crate::failpoint::hit("post-after-intent")?;
    Ok(deliver(ctx, job, admitted, sent))
}

/// Appends a refusal's entry in the open group and returns the refusal.
fn refuse<T>(log: &mut AuditLog, refusal: Refusal) -> Result<T> {
    log.append(&refusal.record)?;
    Err(refusal.error)
}

/// Steps 1 to 4, under the gate, on the vault as it is now. Refusals and intents (or a dry
/// run's records) are appended in `log`'s open group: durable before `send` goes on.
fn admit(ctx: &mut Ctx, vault: &Vault, log: &mut AuditLog, job: &Job) -> Result<Admitted> {
    let state_dir = providers::state_dir(&ctx.settings.vault);
    let text_hash = text_hash(job.text);
    let mut base = job.details.clone();
    base.insert("text_sha256".into(), text_hash.clone().into());
    let all = format!("account:{}", job.accounts.join(","));
    // The caller is resolved again in the vault as it is now, under the gate: a token
    // revoked (or a member removed) after the first look posts nothing. A queued post is
    // sent as its author, authorized by the author's grants of today.
    let author = match &job.author {
        Author::Caller => match ctx.resolve(vault, "post", &all)? {
            Ok(m) => m,
            Err(refusal) => return refuse(log, refusal),
        },
        Author::Scheduled { member, token } => {
            let m = vault.member(member)?;
            match token {
                None => m,
                Some(row) => match scheduled_authority(vault, m, *row)? {
                    Ok(capped) => capped,
                    Err((name, lapsed)) => {
                        let error = Error::denied(&name, "post", lapsed);
                        return refuse(
                            log,
                            Refusal {
                                record: ctx.failure(&name, "post", &all, &error, base.clone()),
                                error,
                            },
                        );
                    }
                },
            }
        }
    };
    let failed = |ctx: &Ctx, target: &str, error: Error| Refusal {
        record: ctx.failure(&author.name, "post", target, &error, base.clone()),
        error,
    };
    let mut accounts = Vec::with_capacity(job.accounts.len());
    for name in &job.accounts {
        match vault.account(name) {
            Ok(a) => accounts.push(a),
            Err(e) => return refuse(log, failed(ctx, &format!("account:{name}"), e)),
        }
    }

    // 1. The rules, for every target.
    let mut refused = Vec::new();
    let mut first: Option<(Deny, String)> = None;
    for a in &accounts {
        let guard = guard(vault, Some(log), a)?;
        let action = match question(vault, &job.rule, &author, a, job.text, guard) {
            Ok(action) => action,
            Err(e) => return refuse(log, failed(ctx, &format!("account:{}", a.name), e)),
        };
        let rule = match access::decide(&author.actor(), action) {
            Decision::Allow => continue,
            Decision::Deny(rule) => rule,
        };
        let denied = Error::denied(&author.name, "post", rule.clone());
        log.append(&ctx.failure(
            &author.name,
            "post",
            &format!("account:{}", a.name),
            &denied,
            base.clone(),
        ))?;
        refused.push(format!("{}: {rule}", a.name));
        first.get_or_insert((rule, a.name.clone()));
    }
    if let Some((rule, account)) = first {
        // The hint follows the rule that refused the first target, typed.
        let hint = refusal_hint(&rule, &account, &author, &job.rule);
        return Err(Error::Denied {
            actor: author.name.clone(),
            action: "post".into(),
            reason: format!("refused for {}; nothing was sent", refused.join("; ")),
            rule: Box::new(rule),
            hint,
        });
    }

    // 2. Every post valid before any is sent.
    if let Err(e) = validate_all(vault, &accounts, job.text, &state_dir) {
        return refuse(log, failed(ctx, &all, e));
    }

    // 3. Idempotency: smv's own record (the audit log) decides.
    let earlier = match &job.idempotency_key {
        Some(key) => accounts
            .iter()
            .map(|a| earlier_post(log, vault, a, key, &text_hash))
            .collect::<Result<Vec<_>>>()?,
        None => vec![None; accounts.len()],
    };

    // 4. The intents (or the dry run's records), in one durable append.
    let mut records = Vec::new();
    let mut prepared = Vec::new();
    let mut results = Vec::with_capacity(accounts.len());
    for (a, earlier) in accounts.into_iter().zip(earlier) {
        let mut result = PostResult {
            account: a.name.clone(),
            provider: a.provider.clone(),
            status: PostStatus::Valid,
            post_id: None,
            url: None,
            audit_seq: None,
            error: None,
        };
        if let Some((receipt, seq)) = earlier {
            result.status = PostStatus::AlreadyPosted;
            result.post_id = Some(receipt.post_id);
            result.url = receipt.url;
            result.audit_seq = Some(seq);
            results.push(result);
            continue;
        }
        let mut details = base.clone();
        details.insert("provider".into(), a.provider.clone().into());
        details.insert("text".into(), job.text.into());
        if let Some(k) = &job.idempotency_key {
            details.insert("idempotency_key".into(), k.clone().into());
        }
        let (action, outcome) = if job.dry_run {
            ("post.dry-run", Outcome::Ok)
        } else {
            ("post", Outcome::Intent)
        };
        records.push(ctx.record(
            &author.name,
            action,
            &format!("account:{}", a.name),
            outcome,
            None,
            details.clone(),
        ));
        results.push(result);
        if !job.dry_run {
            prepared.push(Prepared {
                provider: providers::implementation(&a.provider)?,
                secret: vault.account_secret(&a)?,
                session: vault.account_session(&a)?,
                account: a,
                details,
            });
        }
    }
    // Fail closed: without durable intents, nothing is sent. (Durable when the group that
    // holds them is committed, before `send` goes on.)
    let seqs = log.append_batch(&records)?;
    if job.dry_run {
        let mut seqs = seqs.into_iter();
        for r in results.iter_mut().filter(|r| r.status == PostStatus::Valid) {
            r.audit_seq = seqs.next();
        }
    }
    Ok(Admitted {
        author: author.name,
        results,
        prepared,
    })
}

/// Step 5, outside the gate: send each post, and record its outcome.
fn deliver(
    ctx: &mut Ctx,
    job: &Job,
    admitted: Admitted,
    on_sent: &mut dyn FnMut(&PostResult),
) -> Vec<PostResult> {
    let state_dir = providers::state_dir(&ctx.settings.vault);
    let Admitted {
        author,
        mut results,
        prepared,
    } = admitted;
    for p in prepared {
        let Prepared {
            account: a,
            provider,
            secret,
            session,
            mut details,
        } = p;
        let result = results
            .iter_mut()
            .find(|r| r.account == a.name && r.status == PostStatus::Valid)
            .expect("every prepared post has its result");
        let sessions = super::sessions::VaultSessions::new(ctx, &a.name, &author, session);
        let target = Target {
            account: &a,
            secret: secret.as_ref(),
            state_dir: state_dir.clone(),
            sessions: Some(&sessions),
        };
        let key = job
            .idempotency_key
            .as_deref()
            .map(|k| network_key(k, &a.name));
        let sent = provider.post(&target, job.text, key.as_deref());
        let (outcome, reason) = match &sent {
            Ok(receipt) => {
                details.insert("post_id".into(), receipt.post_id.clone().into());
                if let Some(u) = &receipt.url {
                    details.insert("url".into(), u.clone().into());
                }
                (Outcome::Ok, None)
            }
            Err(e) => {
                details.insert("error_kind".into(), e.kind().into());
                record_answer(&mut details, e);
                (Outcome::Failed, Some(e.to_string()))
            }
        };
        let rec = ctx.record(
            &author,
            "post",
            &format!("account:{}", a.name),
            outcome,
            reason,
            details,
        );
        match ctx.store.append(&rec) {
            Ok(seq) => result.audit_seq = Some(seq),
            Err(e) => ctx.warnings.push(format!(
                "the outcome of the post to {} could not be logged: {e}",
                a.name
            )),
        }
        match sent {
            Ok(receipt) => {
                result.status = PostStatus::Posted;
                result.post_id = Some(receipt.post_id);
                result.url = receipt.url;
            }
            Err(e) => {
                result.status = PostStatus::Failed;
                result.error = Some(e.to_string());
            }
        }
        on_sent(result);
    }
    results
}

/// The network's answer as typed fields of the audit entry (already redacted and capped;
/// the reason holds the same words for people).
pub(crate) fn record_answer(details: &mut Map<String, Value>, e: &providers::ProviderError) {
    if let Some(a) = e.answer() {
        details.insert("http_status".into(), a.status.into());
        if let Some(c) = &a.code {
            details.insert("network_code".into(), c.clone().into());
        }
    }
}

/// What the log says about an earlier post to `account` under `key`: its receipt if it was
/// published; an error if the key was used for other text, or if the earlier attempt was
/// interrupted and smv cannot tell whether it went out.
fn earlier_post(
    log: &AuditLog,
    vault: &Vault,
    account: &Account,
    key: &str,
    text_hash: &str,
) -> Result<Option<(Receipt, u64)>> {
    // The key as the entries' canonical JSON holds it; each entry found is checked exactly.
    let needle = format!("\"idempotency_key\":{}", Value::from(key));
    // Under the account's name now and under the names it had (a post before a rename is
    // the same account's).
    let mut earlier = Vec::new();
    for name in vault
        .former_names(account)?
        .into_iter()
        .chain(std::iter::once(account.name.clone()))
    {
        let filter = Filter {
            account: Some(name),
            action: Some("post".into()),
            ..Filter::default()
        };
        earlier.extend(log.entries_mentioning(&filter, needle.as_bytes())?);
    }
    earlier.sort_by_key(|e| e.seq);
    let mut pending = false;
    let mut found = None;
    for e in earlier {
        if e.details.get("idempotency_key").and_then(Value::as_str) != Some(key) {
            continue;
        }
        if e.details.get("text_sha256").and_then(Value::as_str) != Some(text_hash) {
            return Err(Error::Conflict(
                format!(
                    "the idempotency key `{key}` was already used on {} for a different text",
                    account.name
                ),
                Some("use a new key for a new post".into()),
            ));
        }
        match e.outcome {
            Outcome::Intent => pending = true,
            Outcome::Ok => {
                pending = false;
                let receipt = Receipt {
                    post_id: e
                        .details
                        .get("post_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    url: e
                        .details
                        .get("url")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                };
                found = Some((receipt, e.seq));
            }
            _ => pending = false,
        }
    }
    if pending && found.is_none() {
        return Err(Error::Conflict(
            format!(
                "an earlier post to {} with the key `{key}` was interrupted, and smv cannot tell whether it was published",
                account.name
            ),
            Some(format!(
                "look at the account; then retry with a new key, or post without {}",
                account.name
            )),
        ));
    }
    Ok(found)
}
