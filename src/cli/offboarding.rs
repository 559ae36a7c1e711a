//! Rendering of offboarding and the secrets' lifecycle: `offboard`, `member remove`,
//! `member list`, `rotate`, `secrets`.

use super::args::{Command, MemberCmd, TokenCmd};
use super::backend::Backend;
use super::input;
use super::output::{Out, opt};
use crate::ops::{self, Disposition, NewCredential, OffboardReport, SecretState, TokenFate};
use crate::{Result, clock};

pub fn run(b: &mut Backend, command: Command, out: &Out) -> Result<()> {
    match command {
        Command::Offboard {
            member,
            to,
            dry_run,
            yes,
        } => {
            if !yes && !dry_run {
                input::confirm(
                    &format!("Offboard `{member}` (disable, remove all access)?"),
                    &member,
                )?;
            }
            let report = ops::offboard(
                b.local("smv offboard")?,
                ops::OffboardOptions {
                    member: &member,
                    to: to.as_deref(),
                    dry_run,
                    require_active: false,
                },
            )?;
            render_report(out, &report);
        }
        Command::Member(MemberCmd::Remove { name, yes }) => {
            if !yes {
                input::confirm(&format!("Remove member `{name}`?"), &name)?;
            }
            let report = ops::offboard(
                b.local("smv member remove")?,
                ops::OffboardOptions {
                    member: &name,
                    to: None,
                    dry_run: false,
                    require_active: true,
                },
            )?;
            render_report(out, &report);
        }
        Command::Member(MemberCmd::List { stale }) => {
            let limit = stale
                .as_deref()
                .map(clock::parse_duration)
                .transpose()?
                .map(chrono::Duration::seconds);
            let list = ops::member_activity(b.local("smv member list")?, limit)?;
            if out.json {
                out.json(&list);
            } else if list.is_empty() && stale.is_some() {
                out.say(format!(
                    "No active member has been idle for {}.",
                    stale.unwrap_or_default()
                ));
            } else {
                let rows = list
                    .into_iter()
                    .map(|a| {
                        let m = a.member;
                        vec![
                            m.name.clone(),
                            m.role.to_string(),
                            yes_no(m.is_custodian()).into(),
                            if m.active { "active" } else { "removed" }.into(),
                            match &a.last_action {
                                Some(t) => format!("{t} ({}d ago)", a.idle_days),
                                None => format!("never ({}d since added)", a.idle_days),
                            },
                            format!("{} {}", m.created_by, m.created_at),
                        ]
                    })
                    .collect();
                out.table(
                    &[
                        "member",
                        "role",
                        "custodian",
                        "status",
                        "last action",
                        "added by / when",
                    ],
                    rows,
                );
            }
        }
        Command::Rotate {
            account,
            auto,
            secret,
            no_check,
        } => {
            let credential = if auto {
                NewCredential::Auto
            } else {
                NewCredential::Given(input::read_secret(
                    secret.secret_stdin,
                    secret.secret_file.as_deref(),
                    &format!("New secret for {account}"),
                )?)
            };
            let r = ops::rotate(b.local("smv rotate")?, &account, credential, !no_check)?;
            if out.json {
                out.json(&r);
            } else {
                out.say(format!(
                    "Rotated the secret of {} (version {} → {}{})",
                    r.account,
                    r.previous_version,
                    r.secret_version,
                    if r.auto { ", made by smv" } else { "" }
                ));
                match &r.checked {
                    Some(saw) => out.say(format!("  proved with a read-only call: {saw}")),
                    None => out.say("  not checked (--no-check)"),
                }
                if !r.no_longer_exposed_to.is_empty() {
                    out.say(format!(
                        "  no longer exposed to: {}",
                        r.no_longer_exposed_to.join(", ")
                    ));
                }
                if let Some(l) = &r.label {
                    out.say(format!("  the network knows it as: {l}"));
                }
                if let Some(e) = &r.expires_at {
                    out.say(format!("  expires: {e}"));
                }
                if let Some(n) = &r.note {
                    out.warn(n);
                }
            }
        }
        Command::Secrets => {
            let list = ops::secrets(b.local("smv secrets")?)?;
            if out.json {
                out.json(&list);
            } else if list.is_empty() {
                out.say("No account holds a secret.");
            } else {
                let attention = list.iter().filter(|s| s.state != SecretState::Ok).count();
                let rows = list
                    .iter()
                    .map(|s| {
                        vec![
                            s.account.clone(),
                            s.provider.clone(),
                            format!("v{}", s.version),
                            s.age_days.map_or("-".into(), |d| format!("{d}d")),
                            opt(&s.rotated_at),
                            opt(&s.last_used),
                            if s.exposed_to.is_empty() {
                                "-".into()
                            } else {
                                s.exposed_to.join(", ")
                            },
                            opt(&s.expires_at),
                            match s.state {
                                SecretState::Ok => "ok".into(),
                                SecretState::Exposed => "EXPOSED".into(),
                                SecretState::Expiring => "expiring".into(),
                                SecretState::Expired => "EXPIRED".into(),
                            },
                        ]
                    })
                    .collect();
                out.table(
                    &[
                        "account",
                        "provider",
                        "version",
                        "age",
                        "last rotated",
                        "last used",
                        "exposed to",
                        "expires",
                        "state",
                    ],
                    rows,
                );
                if attention > 0 {
                    out.say("");
                    for s in list.iter().filter(|s| s.state != SecretState::Ok) {
                        if let Some(cmd) = &s.action {
                            out.say(format!("  {cmd}"));
                        }
                    }
                }
            }
        }
        Command::Token(cmd) => tokens(b, cmd, out)?,
        other => unreachable!("not an offboarding command: {other:?}"),
    }
    Ok(())
}

fn tokens(b: &mut Backend, cmd: TokenCmd, out: &Out) -> Result<()> {
    match cmd {
        TokenCmd::Create {
            name,
            account,
            level,
            expires,
            ci,
            owner,
        } => {
            let (t, whole) = b.token_create(&crate::api::TokenRequest {
                name,
                accounts: account,
                level: level.into(),
                expires,
                ci,
                owner,
            })?;
            // The one place smv prints a credential: the token exists nowhere else.
            let shown = String::from_utf8_lossy(whole.expose_to_provider()).into_owned();
            if out.json {
                out.json(&serde_json::json!({"token": shown, "record": t}));
            } else {
                out.say(format!(
                    "Created token {} ({}) for {}: {} on {}, expires {}",
                    t.name,
                    t.accessor,
                    t.owner,
                    t.level,
                    t.accounts.join(", "),
                    t.expires_at
                ));
                out.say("");
                out.say(shown);
                out.say("");
                out.say("It is shown once and smv keeps only its hash: put it in the secret store now (SMV_TOKEN in CI).");
            }
        }
        TokenCmd::List { all } => {
            let list = b.token_list(all)?;
            if out.json {
                out.json(&list);
            } else if list.is_empty() {
                out.say("No tokens.");
            } else {
                let rows = list
                    .iter()
                    .map(|v| {
                        let t = &v.token;
                        vec![
                            t.accessor.clone(),
                            t.name.clone(),
                            t.owner.clone(),
                            t.kind.as_str().into(),
                            format!("{} on {}", t.level, t.accounts.join(", ")),
                            format!("{} {}", t.created_by, t.created_at),
                            opt(&v.last_used),
                            match (&t.revoked_at, v.live) {
                                (Some(at), _) => format!("revoked {at}"),
                                (None, false) => format!("expired {}", t.expires_at),
                                (None, true) => t.expires_at.clone(),
                            },
                        ]
                    })
                    .collect();
                out.table(
                    &[
                        "accessor",
                        "name",
                        "owner",
                        "kind",
                        "scope",
                        "created",
                        "last used",
                        "expires",
                    ],
                    rows,
                );
            }
        }
        TokenCmd::Revoke { accessor, reason } => {
            let t = b.token_revoke(&accessor, reason.as_deref())?;
            if out.json {
                out.json(&t);
            } else {
                out.say(format!(
                    "Revoked token {} ({}, owned by {})",
                    t.accessor, t.name, t.owner
                ));
            }
        }
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The report a manager can file: what was taken away, what moved, what to rotate.
fn render_report(out: &Out, r: &OffboardReport) {
    if out.json {
        out.json(r);
        return;
    }
    let who = &r.member;
    let verb = if r.dry_run {
        "Would offboard"
    } else {
        "Offboarded"
    };
    out.say(format!("{verb} {who} ({})", r.role));
    if r.already_disabled {
        out.say(format!(
            "  {who} was already disabled: this run finished what was left."
        ));
    }
    out.say(format!(
        "  Access: disabled; {} grant{} removed",
        r.grants_removed.len(),
        plural(r.grants_removed.len())
    ));
    if !r.grants_removed.is_empty() {
        let rows = r
            .grants_removed
            .iter()
            .map(|g| vec![g.account.clone(), g.level.to_string(), g.granted_by.clone()])
            .collect();
        out.table(&["account", "level", "granted by"], rows);
    }
    let heir = r.handed_to.as_deref().unwrap_or("-");
    if r.drafts.is_empty() {
        out.say("  Drafts: none pending");
    } else {
        out.say("  Drafts:");
        for d in &r.drafts {
            let what = match d.disposition {
                Disposition::HandedOver => format!("handed to {heir}, needs fresh approval"),
                Disposition::Cancelled => "cancelled".into(),
            };
            out.say(format!(
                "    {} ({}): {what}",
                d.draft,
                d.accounts.join(", ")
            ));
            if let Some(n) = &d.note {
                out.say(format!("      note: {n}"));
            }
        }
    }
    if r.scheduled.is_empty() {
        out.say("  Scheduled posts: none");
    } else {
        out.say("  Scheduled posts:");
        for q in &r.scheduled {
            let what = match q.disposition {
                Disposition::HandedOver => {
                    format!("held for {heir}: `smv queue release {}` sends it", q.id)
                }
                Disposition::Cancelled => "cancelled".into(),
            };
            out.say(format!(
                "    {} ({}, due {}): {what}",
                q.id, q.account, q.due_at
            ));
        }
    }
    if r.tokens.is_empty() {
        out.say("  API tokens: none");
    } else {
        out.say(format!(
            "  API tokens ({who} has seen each; replace any that live on):"
        ));
        for t in &r.tokens {
            let what = match t.fate {
                TokenFate::Revoked => "revoked".to_string(),
                TokenFate::HandedOver => format!("moved to {}: the job keeps working", t.owner),
                TokenFate::Kept => format!("kept: it is {}'s", t.owner),
            };
            out.say(format!(
                "    {} ({}, {}): {what}",
                t.accessor,
                t.name,
                t.kind.as_str()
            ));
        }
    }
    if !r.approvals_withdrawn.is_empty() {
        out.say(format!(
            "  Approvals withdrawn (these drafts need a new approval): {}",
            r.approvals_withdrawn.join(", ")
        ));
    }
    if !r.was_custodian {
        out.say(format!(
            "  Custodian: no. {who} never held a key to the vault: no secret was exposed and no password needs changing."
        ));
        return;
    }
    if r.key_removed {
        out.say(format!(
            "  Custodian: yes. The vault {} encrypted to {} only; {who}'s key no longer opens it.",
            if r.dry_run { "would be" } else { "is now" },
            r.remaining_custodians.join(", ")
        ));
    } else {
        out.say(format!(
            "  Custodian: formerly. {who}'s key was removed earlier."
        ));
    }
    if r.rotate.is_empty() {
        out.say("  No secret they could decrypt is still in use: nothing to rotate.");
    } else {
        out.say(format!(
            "  Secrets {who} could decrypt, now marked exposed; rotate each:"
        ));
        let rows = r
            .rotate
            .iter()
            .map(|x| {
                vec![
                    x.account.clone(),
                    x.provider.clone(),
                    opt(&x.secret_set_at),
                    x.command.clone(),
                ]
            })
            .collect();
        out.table(&["account", "provider", "secret set", "command"], rows);
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
