//! Rendering of offboarding and the secrets' lifecycle: `offboard`, `member remove`,
//! `member list`, `rotate`, `secrets`.

use std::path::Path;

use super::args::{Command, MemberCmd, TokenCmd};
use super::backend::Backend;
use super::input;
use super::output::{Busy, Out, Render, Said, escape, opt};
use super::table::{flex, keep, time};
use crate::ops::{self, Disposition, NewCredential, OffboardReport, SecretState, TokenFate};
use crate::{Error, Result, clock};
use serde::Serialize;

pub fn run(b: &mut Backend, command: Command, out: &Out) -> Result<()> {
    match command {
        Command::Offboard {
            member,
            to,
            dry_run,
            yes,
            handover_dir,
        } => {
            // Through a proxy this says so before asking anything.
            let ctx = b.local("smv offboard")?;
            if let Some(dir) = &handover_dir {
                check_handover_dir(dir)?;
            }
            // Someone to receive the CI tokens' new secrets: a directory, or a person at a
            // terminal (never the JSON output).
            let terminal = !out.json && out.look().terminal;
            if !yes && !dry_run {
                input::confirm(
                    &format!("Offboard `{member}` (disable, remove all access)?"),
                    &member,
                )?;
            }
            let busy = Busy::start(out, &format!("offboarding {member}…"));
            let report = ops::offboard(
                ctx,
                ops::OffboardOptions {
                    member: &member,
                    to: to.as_deref(),
                    dry_run,
                    require_active: false,
                    // A dry run says what the real run does when someone receives the new
                    // secrets (a terminal or --handover-dir): it re-issues them. Its report
                    // says what happens with nobody to receive them.
                    reissue: dry_run || handover_dir.is_some() || terminal,
                },
            );
            drop(busy);
            let mut report = report?;
            let shown = hand_over_secrets(out, &mut report, handover_dir.as_deref());
            out.show(&report);
            shown?;
        }
        Command::Member(MemberCmd::Remove { name, yes }) => {
            let ctx = b.local("smv member remove")?;
            if !yes {
                input::confirm(&format!("Remove member `{name}`?"), &name)?;
            }
            let report = ops::offboard(
                ctx,
                ops::OffboardOptions {
                    member: &name,
                    to: None,
                    dry_run: false,
                    require_active: true,
                    reissue: false,
                },
            )?;
            out.show(&report);
        }
        Command::Member(MemberCmd::List { stale }) => {
            let limit = stale
                .as_deref()
                .map(clock::parse_duration)
                .transpose()?
                .map(chrono::Duration::seconds);
            let list = ops::member_activity(b.local("smv member list")?, limit)?;
            out.show(&Members { list, stale });
        }
        Command::Rotate {
            account,
            auto,
            secret,
            no_check,
        } => {
            // Through a proxy this says so before asking for a secret.
            let ctx = b.local("smv rotate")?;
            let credential = if auto {
                NewCredential::Auto
            } else {
                // On a terminal, a several-field secret (X) is asked field by field: its
                // provider's forms, from the accounts the caller sees.
                let prompted = !secret.secret_stdin && secret.secret_file.is_none();
                let forms = if prompted {
                    ops::account_list(ctx)
                        .ok()
                        .and_then(|l| l.into_iter().find(|v| v.account.name == account))
                        .and_then(|v| crate::providers::lookup(&v.account.provider).ok())
                        .map_or(&[][..], |p| p.shape.forms())
                } else {
                    &[]
                };
                NewCredential::Given(input::read_secret_fields(
                    secret.secret_stdin,
                    secret.secret_file.as_deref(),
                    &format!("New secret for {account}"),
                    forms,
                )?)
            };
            out.show(&ops::rotate(ctx, &account, credential, !no_check)?);
        }
        Command::Secrets => {
            out.show(&ops::secrets(b.local("smv secrets")?)?);
        }
        Command::Token(cmd) => tokens(b, cmd, out)?,
        other => unreachable!("not an offboarding command: {other:?}"),
    }
    Ok(())
}

/// `smv rotate`: the new version, how it was proved, who no longer sees it.
impl Render for ops::RotateReport {
    fn human(&self, out: &Out) {
        out.say(format!(
            "Rotated the secret of {} (version {} → {}{})",
            self.account,
            self.previous_version,
            self.secret_version,
            if self.auto { ", made by smv" } else { "" }
        ));
        match &self.checked {
            Some(saw) => out.say(format!("  proved with a read-only call: {saw}")),
            None => out.say("  not checked (--no-check)"),
        }
        if !self.no_longer_exposed_to.is_empty() {
            out.say(format!(
                "  no longer exposed to: {}",
                self.no_longer_exposed_to.join(", ")
            ));
        }
        if let Some(l) = &self.label {
            out.say(format!("  the network knows it as: {l}"));
        }
        if let Some(e) = &self.expires_at {
            out.say(format!("  expires: {e}"));
        }
        if let Some(n) = &self.note {
            out.warn(n);
        }
    }
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
            let token = String::from_utf8_lossy(whole.expose_to_provider()).into_owned();
            out.show(&NewToken { token, record: t });
        }
        TokenCmd::List { all } => {
            out.show(&b.token_list(all)?);
        }
        TokenCmd::Revoke { accessor, reason } => {
            let t = b.token_revoke(&accessor, reason.as_deref())?;
            let said = format!(
                "Revoked token {} ({}, owned by {})",
                escape(&t.accessor),
                escape(&t.name),
                escape(&t.owner)
            );
            out.show(&Said::new(&t, said));
        }
    }
    Ok(())
}

/// `smv token create`: the one place smv prints a credential (the token exists nowhere
/// else). No `Debug`: it holds the token.
#[derive(Serialize)]
struct NewToken {
    token: String,
    record: crate::vault::Token,
}

impl Render for NewToken {
    fn human(&self, out: &Out) {
        let t = &self.record;
        out.say(format!(
            "Created token {} ({}) for {}: {} on {}, expires {}",
            escape(&t.name),
            escape(&t.accessor),
            escape(&t.owner),
            t.level,
            escape(&t.accounts.join(", ")),
            escape(&t.expires_at)
        ));
        out.say("");
        out.say(escape(&self.token));
        out.say("");
        out.say("It is shown once and smv keeps only its hash: put it in the secret store now (SMV_TOKEN in CI).");
    }
}

/// `smv token list`: each token's effective scope and state.
impl Render for Vec<ops::TokenView> {
    fn human(&self, out: &Out) {
        if self.is_empty() {
            out.say("No tokens.");
            return;
        }
        let rows = self
            .iter()
            .map(|v| {
                let t = &v.token;
                vec![
                    t.accessor.clone(),
                    t.name.clone(),
                    t.owner.clone(),
                    t.kind.as_str().into(),
                    scope_cell(v),
                    t.created_by.clone(),
                    t.created_at.clone(),
                    opt(&v.last_used),
                    match (&t.revoked_at, v.live) {
                        (Some(at), _) => format!("revoked {}", out.time(at)),
                        (None, false) => format!("expired {}", out.time(&t.expires_at)),
                        (None, true) => out.time(&t.expires_at),
                    },
                ]
            })
            .collect();
        out.table(
            &[
                keep("accessor"),
                keep("name"),
                keep("owner"),
                keep("kind"),
                flex("scope"),
                keep("created by"),
                time("created"),
                time("last used"),
                keep("expires"),
            ],
            rows,
        );
    }
}

/// The token's scope as it acts now: per account, the effective level (the lower of the
/// token's and its owner's grant), with the token's own level where that is higher.
fn scope_cell(v: &ops::TokenView) -> String {
    let t = &v.token;
    if v.effective.iter().all(|e| e.level == Some(t.level)) {
        return format!("{} on {}", t.level, t.accounts.join(", "));
    }
    let each: Vec<String> = v
        .effective
        .iter()
        .map(|e| match e.level {
            Some(l) if l == t.level => format!("{}: {l}", e.account),
            Some(l) => format!(
                "{}: {l} (token {}, owner's grant lower)",
                e.account, t.level
            ),
            None => format!(
                "{}: nothing (token {}, owner has no grant)",
                e.account, t.level
            ),
        })
        .collect();
    each.join("; ")
}

/// `--handover-dir`: an existing directory of the user's, closed to group and others (the
/// new secrets go in it). Checked before anything changes.
fn check_handover_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        let missing = e.kind() == std::io::ErrorKind::NotFound;
        let err = Error::io("use --handover-dir", dir, e);
        if missing {
            err.with_hint(format!(
                "create it first: `mkdir -m 700 {}`; nothing was changed",
                dir.display()
            ))
        } else {
            err
        }
    })?;
    if !meta.is_dir() {
        return Err(Error::invalid(
            "--handover-dir",
            format!("{} is not a directory", dir.display()),
        )
        .with_hint("create it first: `mkdir -m 700 DIR`"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode() & 0o777;
        // SAFETY: getuid has no preconditions and cannot fail.
        #[allow(unsafe_code)]
        let me = unsafe { libc::getuid() };
        if mode & 0o077 != 0 || meta.uid() != me {
            return Err(Error::invalid(
                "--handover-dir",
                format!(
                    "{} is open to other users (mode {mode:o}) or not yours: the new token secrets would be readable by them",
                    dir.display()
                ),
            )
            .with_hint(format!(
                "`chmod 700 {}`, or use a directory of your own",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// Gives the CI tokens' new secrets to the person offboarding: one file each in the
/// handover directory (mode 0600, never over an existing file), or printed once on the
/// terminal. Never in `--json` output. A secret that could not be written is lost: the
/// error says which token to revoke and replace.
fn hand_over_secrets(out: &Out, r: &mut OffboardReport, dir: Option<&Path>) -> Result<()> {
    let issued = std::mem::take(&mut r.issued);
    let mut lost = Vec::new();
    for t in &issued {
        let shown = String::from_utf8_lossy(t.token.expose_to_provider()).into_owned();
        match dir {
            Some(dir) => {
                let path = dir.join(format!("{}-{}.token", t.name, t.accessor));
                let written = crate::fsutil::create_new_private(&path).and_then(|mut f| {
                    use std::io::Write;
                    f.write_all(format!("{shown}\n").as_bytes())?;
                    f.sync_all()
                });
                match written {
                    Ok(()) => {
                        if let Some(m) = r.tokens.iter_mut().find(|m| m.accessor == t.accessor) {
                            m.handover_file = Some(path.display().to_string());
                        }
                    }
                    Err(e) => lost.push(format!("{} ({}: {e})", t.accessor, path.display())),
                }
            }
            None => {
                out.say(format!(
                    "New secret of token {} ({}), now {}'s; shown once, smv keeps only its hash; give it to the job (SMV_TOKEN):",
                    escape(&t.accessor),
                    escape(&t.name),
                    escape(&t.owner)
                ));
                out.say(format!("  {}", escape(&shown)));
            }
        }
    }
    if lost.is_empty() {
        return Ok(());
    }
    Err(Error::Conflict(
        format!(
            "the offboarding is done, but the new secret of {} could not be written, and exists nowhere else",
            lost.join(", ")
        ),
        Some("revoke each of them (`smv token revoke ACCESSOR`) and create a replacement (`smv token create … --ci`)".into()),
    ))
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The report a manager can file: what was taken away, what moved, what to rotate.
impl Render for OffboardReport {
    fn human(&self, out: &Out) {
        render_report(out, self);
    }
}

fn render_report(out: &Out, r: &OffboardReport) {
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
        out.table(&[keep("account"), keep("level"), keep("granted by")], rows);
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
            let owner = escape(&t.owner);
            let mut what = match t.fate {
                TokenFate::Revoked => "revoked".to_string(),
                TokenFate::HandedOver => {
                    format!("moved to {owner} with a new secret (the old one no longer works)")
                }
                TokenFate::Kept => {
                    format!("kept by {owner} with a new secret (the old one no longer works)")
                }
            };
            if let Some(f) = &t.handover_file {
                what.push_str(&format!("; new secret in {}", escape(f)));
            }
            out.say(format!(
                "    {} ({}, {}): {what}",
                escape(&t.accessor),
                escape(&t.name),
                t.kind.as_str()
            ));
            if r.dry_run && t.new_secret {
                out.say(
                    "      the real run shows the new secret once on a terminal, or writes it to --handover-dir DIR; run with neither (no terminal, or --json), it revokes the token instead and prints the command that replaces it",
                );
            }
            if let Some(cmd) = &t.reissue {
                out.say(format!(
                    "      nobody was there to receive a new secret: re-issue it for {owner} with `{}`",
                    escape(cmd)
                ));
            }
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
        out.table(
            &[
                keep("account"),
                keep("provider"),
                time("secret set"),
                flex("command"),
            ],
            rows,
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `smv member list [--stale D]` (its JSON: the list).
#[derive(Serialize)]
#[serde(transparent)]
struct Members {
    list: Vec<ops::MemberActivity>,
    #[serde(skip)]
    stale: Option<String>,
}

impl Render for Members {
    fn human(&self, out: &Out) {
        if let (true, Some(stale)) = (self.list.is_empty(), &self.stale) {
            out.say(format!("No active member has been idle for {stale}."));
            return;
        }
        let rows = self
            .list
            .iter()
            .map(|a| {
                let m = &a.member;
                vec![
                    m.name.clone(),
                    m.role.to_string(),
                    yes_no(m.is_custodian()).into(),
                    if m.active { "active" } else { "removed" }.into(),
                    match &a.last_action {
                        Some(t) => out.time(t),
                        None => "never".into(),
                    },
                    format!("{}d", a.idle_days),
                    m.created_by.clone(),
                    m.created_at.clone(),
                ]
            })
            .collect();
        out.table(
            &[
                keep("member"),
                keep("role"),
                keep("custodian"),
                keep("status"),
                keep("last action"),
                keep("idle"),
                keep("added by"),
                time("added"),
            ],
            rows,
        );
    }
}

/// `smv secrets`: each secret's age, use, exposure and what to do about it.
impl Render for Vec<ops::SecretView> {
    fn human(&self, out: &Out) {
        let list = self;
        if list.is_empty() {
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
                    keep("account"),
                    keep("provider"),
                    keep("version"),
                    keep("age"),
                    time("last rotated"),
                    time("last used"),
                    flex("exposed to"),
                    time("expires"),
                    keep("state"),
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
}
