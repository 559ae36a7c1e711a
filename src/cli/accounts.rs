//! `smv account …` and `smv group …`.

use serde::Serialize;

use super::args::{AccountCmd, GroupCmd};
use super::backend::Backend;
use super::input;
use super::output::{Out, Render, Said, escape, opt, short_fingerprint};
use super::table::{flex, keep, time};
use crate::ops::{self, AccountView, Group};
use crate::{Result, providers};

pub fn run(b: &mut Backend, cmd: AccountCmd, out: &Out) -> Result<()> {
    match cmd {
        AccountCmd::Add {
            name,
            provider,
            handle,
            url,
            secret,
        } => {
            // Through a proxy this says so before asking for a secret.
            let ctx = b.local("smv account add")?;
            let info = providers::lookup(&provider)?;
            let secret = if info.needs_secret || secret.secret_stdin || secret.secret_file.is_some()
            {
                Some(input::read_secret_fields(
                    secret.secret_stdin,
                    secret.secret_file.as_deref(),
                    &format!("{} for {name}", info.secret),
                    info.shape.forms(),
                )?)
            } else {
                None
            };
            let spec = ops::AccountAdd {
                name: &name,
                provider: &provider,
                handle: handle.as_deref(),
                url: url.as_deref(),
            };
            let a = ops::account_add(ctx, spec, secret)?;
            out.show(&Said::new(
                &a,
                format!(
                    "Added account {} ({}), secret {}",
                    a.name,
                    a.provider,
                    short_fingerprint(&a.secret_fingerprint)
                ),
            ));
        }
        AccountCmd::List => out.show(&b.account_list()?),
        AccountCmd::Check { name } => {
            let c = ops::account_check(b.local("smv account check")?, &name)?;
            // `ok` is true only when posting is proved; what was proved is said either way.
            let v = serde_json::json!({
                "account": name,
                "ok": c.unproved.is_none(),
                "credential_works": true,
                "posting_proved": c.unproved.is_none(),
                "detail": c.seen,
                "not_proved": c.unproved,
            });
            // What the network said: data from outside, one line.
            match &c.unproved {
                None => out.show(&Said::new(
                    &v,
                    format!(
                        "{name}: the credential works and may post ({})",
                        escape(&c.seen)
                    ),
                )),
                Some(why) => {
                    out.show(&Said::new(
                        &v,
                        format!(
                            "{name}: the credential works ({}); posting is NOT proved: {}",
                            escape(&c.seen),
                            escape(why)
                        ),
                    ));
                    return Err(crate::Error::Unproved {
                        account: name,
                        seen: c.seen,
                        why: why.clone(),
                    });
                }
            }
        }
        AccountCmd::Set {
            name,
            handle,
            url,
            api_version,
        } => {
            let a = ops::account_set(
                b.local("smv account set")?,
                &name,
                handle.as_deref(),
                url.as_deref(),
                api_version.as_deref(),
            )?;
            out.show(&Said::new(
                &a,
                format!(
                    "Account {}: handle {}, url {}{}",
                    a.name,
                    escape(&opt(&a.handle)),
                    escape(&opt(&a.url)),
                    a.api_version
                        .as_deref()
                        .map(|v| format!(", API version {}", escape(v)))
                        .unwrap_or_default()
                ),
            ));
        }
        AccountCmd::Rename { old, new } => {
            let a = ops::account_rename(b.local("smv account rename")?, &old, &new)?;
            out.show(&Said::new(
                &a,
                format!(
                    "Renamed account {old} to {}: its grants, groups, drafts, scheduled posts, policy, freezes and tokens follow it",
                    a.name
                ),
            ));
        }
        AccountCmd::Remove { name, yes, dry_run } => {
            let ctx = b.local("smv account remove")?;
            if !yes && !dry_run {
                // On a terminal, what it changes first, then the question.
                if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    out.preview(&ops::account_remove(ctx, &name, true)?);
                }
                input::confirm(&format!("Remove account `{name}` and its secret?"), &name)?;
            }
            let report = ops::account_remove(ctx, &name, dry_run)?;
            out.show(&report);
        }
    }
    Ok(())
}

pub fn group(b: &mut Backend, cmd: GroupCmd, out: &Out) -> Result<()> {
    match cmd {
        GroupCmd::Add { name, accounts } => {
            out.show(&ops::group_add(
                b.local("smv group add")?,
                &name,
                &accounts,
            )?);
        }
        GroupCmd::Remove { name } => {
            ops::group_remove(b.local("smv group remove")?, &name)?;
            out.say(format!("Removed group {name}"));
        }
        GroupCmd::RemoveAccount { group, accounts } => {
            let g =
                ops::group_remove_account(b.local("smv group remove-account")?, &group, &accounts)?;
            if g.accounts.is_empty() {
                out.show(&Said::new(
                    &g,
                    format!("Group {} is empty now, and gone", g.name),
                ));
            } else {
                out.show(&g);
            }
        }
        GroupCmd::List => out.show(&ops::group_list(b.local("smv group list")?)?),
    }
    Ok(())
}

impl Render for Group {
    fn human(&self, out: &Out) {
        out.say(format!("Group {}: {}", self.name, self.accounts.join(", ")));
    }
}

impl Render for Vec<Group> {
    fn human(&self, out: &Out) {
        out.table(
            &[keep("group"), flex("accounts")],
            self.iter()
                .map(|g| vec![g.name.clone(), g.accounts.join(", ")])
                .collect(),
        );
    }
}

impl Render for Vec<AccountView> {
    fn human(&self, out: &Out) {
        let rows = self
            .iter()
            .map(|v| {
                let a = &v.account;
                vec![
                    a.name.clone(),
                    a.provider.clone(),
                    opt(&a.handle),
                    a.created_by.clone(),
                    a.created_at.clone(),
                    short_fingerprint(&a.secret_fingerprint),
                    v.your_level.map_or("-".into(), |l| l.to_string()),
                ]
            })
            .collect();
        out.table(
            &[
                keep("account"),
                keep("provider"),
                flex("handle"),
                keep("added by"),
                time("added"),
                keep("secret"),
                keep("your level"),
            ],
            rows,
        );
    }
}

/// The catalogue of networks (`smv providers`).
#[derive(Serialize)]
#[serde(transparent)]
pub struct Catalogue(pub &'static [providers::ProviderInfo]);

impl Render for Catalogue {
    fn human(&self, out: &Out) {
        let rows = self
            .0
            .iter()
            .map(|p| {
                vec![
                    p.name.to_string(),
                    p.title.to_string(),
                    p.secret.to_string(),
                ]
            })
            .collect();
        out.table(&[keep("provider"), keep("network"), flex("secret")], rows);
    }
}

/// What removing an account changed (or, dry, would change).
impl Render for ops::AccountRemoval {
    fn human(&self, out: &Out) {
        render_removal(out, self);
    }
}

fn render_removal(out: &Out, r: &ops::AccountRemoval) {
    let name = &r.account.name;
    out.say(if r.dry_run {
        format!("Removing account {name} would change (nothing is changed now):")
    } else {
        format!("Removed account {name} and its secret")
    });
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    out.say(format!(
        "  scheduled posts cancelled (kept as history): {}",
        list(&r.scheduled_cancelled)
    ));
    out.say(format!(
        "  drafts cancelled (kept as history): {}",
        list(&r.drafts_cancelled)
    ));
    let tokens: Vec<String> = r
        .tokens
        .iter()
        .map(|t| {
            format!(
                "{} of {}{}",
                t.accessor,
                t.owner,
                if t.revoked {
                    " (revoked: no account left)"
                } else {
                    " (loses it)"
                }
            )
        })
        .collect();
    out.say(format!("  tokens: {}", list(&tokens)));
    let groups: Vec<String> = r
        .groups
        .iter()
        .map(|g| {
            format!(
                "{}{}",
                g.group,
                if g.emptied { " (now empty: gone)" } else { "" }
            )
        })
        .collect();
    out.say(format!("  groups it leaves: {}", list(&groups)));
    let grants: Vec<String> = r
        .grants_removed
        .iter()
        .map(|g| format!("{} ({})", g.member, g.level))
        .collect();
    out.say(format!("  grants removed: {}", list(&grants)));
}
