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
//! milliseconds: no network call happens under it. What validation needs from a network (a
//! Mastodon instance's limits) is fetched before the gate (`Provider::prepare`).
//!
//! Each send ends `ok`, `failed` (the network certainly did nothing) or `unknown` (it was
//! sent and no trustworthy answer came back; or its outcome could not be recorded): see
//! `ops::outcomes`. An idempotency key whose earlier attempt is unknown sends nothing more
//! until a person resolves it (`smv posts resolve`); the target's result says so.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::outcomes::{self, KeyState};
use super::{Ctx, Refusal};
use crate::access::{self, Action, Decision, Deny, Frozen, Guard, Level, Rate};
use crate::audit::{Ledger, Outcome};
use crate::providers::{self, Effect, Limits, Provider, Target};
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
    /// The network certainly did not publish it.
    Failed,
    /// It may be live: sent without a trustworthy answer, or its outcome could not be
    /// recorded, or (a retry) an earlier attempt under the same key is still unknown and
    /// nothing was sent. `intent_seq` is the attempt to resolve (`smv posts resolve`).
    Unknown,
    /// A signal (Ctrl-C, SIGTERM) stopped the post before this target's turn: it was never
    /// sent (its outcome is recorded `failed`: `smv post --retry KEY` sends it).
    NotSent,
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
    /// The audit entry of the attempt's intent: what `smv posts resolve SEQ` takes when the
    /// outcome is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_seq: Option<u64>,
    pub error: Option<String>,
    /// The post's idempotency key (the one given, or the one generated for it): what
    /// `smv post --retry KEY` takes. Set by `smv post`; publications and scheduled posts
    /// have their own retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
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
    /// The key was made for this post now (random): no earlier attempt can have it, so the
    /// log is not searched for one.
    pub fresh_key: bool,
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
pub(crate) fn guard(vault: &Vault, log: Option<&dyn Ledger>, account: &Account) -> Result<Guard> {
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

/// What each account's provider needs to validate a post (`Provider::prepare`: a Mastodon
/// instance's limits), fetched now, with no lock held: the accounts are read in a short look
/// at the vault, then each provider may wait on its network. Accounts that cannot be read
/// here get no limits (the defaults); the checks under the gate decide about them.
pub(crate) fn prepare_limits(
    ctx: &Ctx,
    names: &[String],
) -> std::collections::HashMap<String, Limits> {
    let state_dir = ctx.settings.provider_state_dir();
    let accounts: Vec<Account> = ctx
        .store
        .view(|vault| Ok(names.iter().filter_map(|n| vault.account(n).ok()).collect()))
        .unwrap_or_default();
    accounts
        .iter()
        .filter_map(|a| {
            let provider = providers::implementation(&a.provider).ok()?;
            let target = Target {
                account: a,
                secret: None,
                state_dir: state_dir.clone(),
                sessions: None,
                api_version: None,
            };
            Some((a.name.clone(), provider.prepare(&target)))
        })
        .collect()
}

/// [`prepare_limits`] for the accounts `names` picks from the vault as it is now (a group,
/// a draft's accounts); nothing if it cannot (the checks under the lock will say why).
pub(crate) fn prepare_limits_of(
    ctx: &Ctx,
    names: impl FnOnce(&Vault) -> Result<Vec<String>>,
) -> std::collections::HashMap<String, Limits> {
    let names = ctx.store.view(|v| names(v)).unwrap_or_default();
    prepare_limits(ctx, &names)
}

/// Checks every post against its network's rules (length, media…) before any is sent. No
/// I/O: `limits` were fetched before any lock ([`prepare_limits`]).
pub(crate) fn validate_all(
    vault: &Vault,
    accounts: &[Account],
    text: &str,
    state_dir: &std::path::Path,
    limits: &std::collections::HashMap<String, Limits>,
) -> Result<()> {
    let mut invalid = Vec::new();
    for a in accounts {
        let provider = providers::implementation(&a.provider)?;
        let secret = vault.account_secret(a)?;
        if let Some(s) = &secret {
            providers::check_stored_secret(a, s)?;
        }
        let target = Target {
            account: a,
            secret: secret.as_ref(),
            state_dir: state_dir.to_path_buf(),
            sessions: None,
            api_version: None,
        };
        let none = Limits::default();
        let limits = limits.get(&a.name).unwrap_or(&none);
        if let Err(e) = provider.validate(&target, text, limits) {
            // "invalid post: demo: the text is empty", not "invalid post: demo: invalid
            // post: the text is empty": the error's own words say it once.
            let why = match e {
                crate::providers::ProviderError::Invalid(m) => m,
                other => other.to_string(),
            };
            invalid.push(format!("{}: {why}", a.name));
        }
    }
    if invalid.is_empty() {
        Ok(())
    } else {
        Err(Error::invalid(
            "post",
            format!("{}; nothing was sent", invalid.join("; ")),
        )
        .with_hint(
            "change the text so that every target takes it (the message names each account and what it refused), then run the command again",
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
    /// The audit entry of its intent.
    intent_seq: u64,
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
    // Before the gate: what validation needs from the networks (never fetched under it).
    let limits = prepare_limits(ctx, &job.accounts);
    crate::failpoint::hit("post-before-gate")?;
    if !job.dry_run {
        interrupted_before(job)?;
    }
    let store = ctx.store.clone();
    // Under the gate, the store reads the vault again if it changed since this process
    // last did.
    let admitted = store.grouped(|log| store.view(|vault| admit(ctx, vault, log, job, &limits)))?;
    if job.dry_run {
        return Ok(admitted.results);
    }
    crate::failpoint::hit("post-after-intent")?;
    Ok(deliver(ctx, job, admitted, sent))
}

/// Stopped by a signal before anything was admitted: nothing recorded, nothing sent.
fn interrupted_before(job: &Job) -> Result<()> {
    if crate::interrupt::requested() {
        return Err(Error::Interrupted {
            not_sent: job.accounts.len(),
            unknown: 0,
            total: job.accounts.len(),
            intents: Vec::new(),
            retry: None,
        });
    }
    Ok(())
}

/// Appends a refusal's entry in the open group and returns the refusal.
fn refuse<T>(log: &mut dyn Ledger, refusal: Refusal) -> Result<T> {
    log.append(&refusal.record)?;
    Err(refusal.error)
}

/// Steps 1 to 4, under the gate, on the vault as it is now. Refusals and intents (or a dry
/// run's records) are appended in `log`'s open group: durable before `send` goes on.
fn admit(
    ctx: &mut Ctx,
    vault: &Vault,
    log: &mut dyn Ledger,
    job: &Job,
    limits: &std::collections::HashMap<String, Limits>,
) -> Result<Admitted> {
    let state_dir = ctx.settings.provider_state_dir();
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
    if let Err(e) = validate_all(vault, &accounts, job.text, &state_dir, limits) {
        return refuse(log, failed(ctx, &all, e));
    }

    // 3. Idempotency: smv's own record (the audit log) decides, through the one matcher of
    //    outcomes: a published attempt answers with its receipt, an unknown one blocks.
    let earlier = match &job.idempotency_key {
        Some(key) if !job.fresh_key => accounts
            .iter()
            .map(|a| earlier_post(log, vault, a, key, &text_hash))
            .collect::<Result<Vec<_>>>()?,
        _ => vec![KeyState::Free; accounts.len()],
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
            intent_seq: None,
            error: None,
            idempotency_key: None,
        };
        match earlier {
            KeyState::Free => {}
            KeyState::Published { post_id, url, seq } => {
                result.status = PostStatus::AlreadyPosted;
                result.post_id = post_id;
                result.url = url;
                result.audit_seq = Some(seq);
                results.push(result);
                continue;
            }
            KeyState::Blocked { intent_seq, why } => {
                // Sent before, and nobody knows whether it went out: nothing is sent again.
                result.status = PostStatus::Unknown;
                result.intent_seq = Some(intent_seq);
                result.error = Some(format!(
                    "not sent again: an earlier post with this idempotency key (audit entry {intent_seq}) has an unknown outcome: {}",
                    why.describe()
                ));
                results.push(result);
                continue;
            }
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
            (outcomes::POST, Outcome::Intent)
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
                intent_seq: 0,
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
    } else {
        // One intent per prepared post, in order.
        for (p, seq) in prepared.iter_mut().zip(seqs) {
            p.intent_seq = seq;
            if let Some(r) = results
                .iter_mut()
                .find(|r| r.account == p.account.name && r.status == PostStatus::Valid)
            {
                r.intent_seq = Some(seq);
            }
        }
    }
    Ok(Admitted {
        author: author.name,
        results,
        prepared,
    })
}

/// Step 5, outside the gate: send each post, and record its outcome: `ok`, `failed` or
/// `unknown` (typed by the provider: [`Effect`]). An outcome that cannot be appended is kept
/// for a later commit (`Store::keep_outcome`), and the post is reported unknown: never
/// success while the log does not say so.
fn deliver(
    ctx: &mut Ctx,
    job: &Job,
    admitted: Admitted,
    on_sent: &mut dyn FnMut(&PostResult),
) -> Vec<PostResult> {
    let state_dir = ctx.settings.provider_state_dir();
    let Admitted {
        author,
        mut results,
        prepared,
    } = admitted;
    let mut prepared = prepared.into_iter();
    while let Some(p) = prepared.next() {
        // A signal: no new send starts; the rest are recorded as not sent.
        if crate::interrupt::requested() {
            let rest: Vec<Prepared> = std::iter::once(p).chain(prepared.by_ref()).collect();
            not_sent(ctx, &author, &mut results, rest, on_sent);
            break;
        }
        let Prepared {
            account: a,
            provider,
            secret,
            session,
            mut details,
            intent_seq,
        } = p;
        let result = results
            .iter_mut()
            .find(|r| r.account == a.name && r.status == PostStatus::Valid)
            .expect("every prepared post has its result");
        let api_version = super::api_version(&ctx.settings, &a);
        let sessions = super::sessions::VaultSessions::new(ctx, &a.name, &author, session);
        let key = job
            .idempotency_key
            .as_deref()
            .map(|k| network_key(k, &a.name));
        let (sent, abandoned) = if crate::interrupt::watching() {
            drop(provider);
            send_watched(
                a.clone(),
                secret,
                sessions,
                state_dir.clone(),
                api_version,
                job.text.to_string(),
                key,
            )
        } else {
            let target = Target {
                account: &a,
                secret: secret.as_ref(),
                state_dir: state_dir.clone(),
                sessions: Some(&sessions),
                api_version,
            };
            (provider.post(&target, job.text, key.as_deref()), false)
        };
        // (A crash here leaves the intent without an outcome: unknown, never retried blindly.)
        let _ = crate::failpoint::hit("post-after-send");
        details.insert("intent_seq".into(), intent_seq.into());
        if abandoned {
            details.insert("interrupted".into(), true.into());
        }
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
                let outcome = match e.effect() {
                    Effect::Unknown => Outcome::Unknown,
                    Effect::None => Outcome::Failed,
                };
                (outcome, Some(e.to_string()))
            }
        };
        let rec = ctx.record(
            &author,
            outcomes::POST,
            &format!("account:{}", a.name),
            outcome,
            reason,
            details,
        );
        let appended = crate::failpoint::hit("post-outcome").and_then(|()| ctx.store.append(&rec));
        result.intent_seq = Some(intent_seq);
        let unrecorded = match appended {
            Ok(seq) => {
                result.audit_seq = Some(seq);
                None
            }
            Err(e) => {
                let kept = match ctx.store.keep_outcome(&rec) {
                    Ok(place) => format!(
                        "it is kept in {place} and written to the log by the next smv command"
                    ),
                    Err(k) => format!("it could not be kept either ({k})"),
                };
                ctx.warnings.push(format!(
                    "the outcome of the post to {} could not be logged: {e}; {kept}",
                    a.name
                ));
                Some(format!(
                    "its outcome could not be recorded in the audit log ({e}); {kept}"
                ))
            }
        };
        match (sent, unrecorded) {
            (Ok(receipt), None) => {
                result.status = PostStatus::Posted;
                result.post_id = Some(receipt.post_id);
                result.url = receipt.url;
            }
            // Published, but the log does not say so yet: unknown until it does.
            (Ok(receipt), Some(why)) => {
                result.status = PostStatus::Unknown;
                result.error = Some(format!(
                    "the network accepted it (post id {}), but {why}",
                    receipt.post_id
                ));
                result.post_id = Some(receipt.post_id);
                result.url = receipt.url;
            }
            (Err(e), unrecorded) => {
                result.status = match (e.effect(), &unrecorded) {
                    (Effect::None, None) => PostStatus::Failed,
                    _ => PostStatus::Unknown,
                };
                result.error = Some(match unrecorded {
                    None => e.to_string(),
                    Some(why) => format!("{e}; {why}"),
                });
            }
        }
        on_sent(result);
    }
    results
}

/// Sends one post on a thread of its own while this one watches for signals
/// (`crate::interrupt`): the answer as it comes, or — after a first signal, once
/// [`crate::interrupt::GRACE`] has passed without one, or at a second signal — an unknown
/// outcome (`true`: abandoned; the request may still be answered, and published, after
/// this process ends). The thread is left behind then: the process is about to exit.
fn send_watched(
    account: Account,
    secret: Option<Secret>,
    sessions: super::sessions::VaultSessions,
    state_dir: std::path::PathBuf,
    api_version: Option<String>,
    text: String,
    key: Option<String>,
) -> (
    std::result::Result<providers::Receipt, providers::ProviderError>,
    bool,
) {
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::{Duration, Instant};
    let (answer, answered) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("smv-send".into())
        .spawn(move || {
            let sent = providers::implementation(&account.provider)
                .map_err(|e| providers::ProviderError::Unreachable(e.to_string()))
                .and_then(|provider| {
                    let target = Target {
                        account: &account,
                        secret: secret.as_ref(),
                        state_dir,
                        sessions: Some(&sessions),
                        api_version,
                    };
                    provider.post(&target, &text, key.as_deref())
                });
            let _ = answer.send(sent);
        });
    if let Err(e) = spawned {
        // Nothing left this process.
        return (
            Err(providers::ProviderError::Unreachable(format!(
                "the send could not be started: {e}"
            ))),
            false,
        );
    }
    let mut deadline: Option<Instant> = None;
    loop {
        match answered.recv_timeout(Duration::from_millis(20)) {
            Ok(sent) => return (sent, false),
            Err(RecvTimeoutError::Disconnected) => {
                return (
                    Err(providers::ProviderError::Unknown(
                        "the send stopped without an answer".into(),
                    )),
                    false,
                );
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
        let why = match crate::interrupt::count() {
            0 => continue,
            1 => {
                let at = *deadline.get_or_insert_with(|| Instant::now() + crate::interrupt::GRACE);
                if Instant::now() < at {
                    continue;
                }
                format!(
                    "interrupted: no answer came within {} s of the signal; it may be published",
                    crate::interrupt::GRACE.as_secs()
                )
            }
            _ => "interrupted by a second signal before the network answered; it may be published"
                .to_string(),
        };
        return (Err(providers::ProviderError::Unknown(why.into())), true);
    }
}

/// The posts a signal stopped before their turn: each one's outcome is recorded `failed`
/// (it certainly was not published) and reported not sent.
fn not_sent(
    ctx: &mut Ctx,
    author: &str,
    results: &mut [PostResult],
    rest: Vec<Prepared>,
    on_sent: &mut dyn FnMut(&PostResult),
) {
    let why = "not sent: interrupted (SIGINT or SIGTERM) before its turn";
    for p in rest {
        let mut details = p.details;
        details.insert("intent_seq".into(), p.intent_seq.into());
        details.insert("error_kind".into(), "interrupted".into());
        let rec = ctx.record(
            author,
            outcomes::POST,
            &format!("account:{}", p.account.name),
            Outcome::Failed,
            Some(why.into()),
            details,
        );
        let Some(result) = results
            .iter_mut()
            .find(|r| r.account == p.account.name && r.status == PostStatus::Valid)
        else {
            continue;
        };
        result.status = PostStatus::NotSent;
        result.intent_seq = Some(p.intent_seq);
        result.error = Some(why.into());
        match ctx.store.append(&rec) {
            Ok(seq) => result.audit_seq = Some(seq),
            Err(e) => {
                let kept = match ctx.store.keep_outcome(&rec) {
                    Ok(place) => {
                        format!("it is kept in {place} and written by the next smv command")
                    }
                    Err(k) => format!(
                        "it could not be kept either ({k}): `smv status` will list it as unknown; resolve it as not published"
                    ),
                };
                ctx.warnings.push(format!(
                    "that the post to {} was not sent could not be logged: {e}; {kept}",
                    p.account.name
                ));
            }
        }
        on_sent(result);
    }
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

/// What the log says about earlier posts to `account` under `key` (the matcher of
/// `ops::outcomes`): published (its receipt), unknown (blocked), or free. An error if the key
/// was used for another text.
fn earlier_post(
    log: &dyn Ledger,
    vault: &Vault,
    account: &Account,
    key: &str,
    text_hash: &str,
) -> Result<KeyState> {
    // Under the account's name now and under the names it had (a post before a rename is
    // the same account's).
    let mut attempts = Vec::new();
    for name in vault
        .former_names(account)?
        .into_iter()
        .chain(std::iter::once(account.name.clone()))
    {
        attempts.extend(outcomes::attempts_with_key(log, &name, key)?);
    }
    if attempts
        .iter()
        .any(|a| a.detail("text_sha256") != Some(text_hash))
    {
        return Err(Error::Conflict(
            format!(
                "the idempotency key `{key}` was already used on {} for a different text",
                account.name
            ),
            Some("use a new key for a new post".into()),
        ));
    }
    Ok(outcomes::key_state(&attempts))
}
