//! The `smv` command line: parse, call the operations layer, render.

mod args;
mod audit;
mod backend;
mod governance;
mod input;
mod offboarding;
mod output;
mod posts;
mod proxy;
mod restore;
mod table;

use clap::CommandFactory;

pub use args::Cli;
use args::{AccountCmd, Command, GroupCmd, IdentityCmd, MemberCmd};
use output::{Look, Out, escape, opt, short_fingerprint};
use table::{flex, keep, time};

use crate::identity::{self, IdentityFileKind};
use crate::ops::{self, Ctx};
use crate::settings::{Env, Overrides, Settings};
use crate::{Error, Result, providers};
use backend::Backend;

/// Runs smv with the process's arguments and environment; returns the exit code.
pub fn main() -> i32 {
    let env = Env::from_process();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match parse(&args, &env) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let out = Out::new(Look::detect(cli.json, cli.color, &env));
    let result = run(cli, env, &out);
    match result {
        Ok(()) => 0,
        Err(e) => {
            out.error(&e);
            e.class().exit_code()
        }
    }
}

/// Parses the arguments. Clap's own answers go through [`Out`] too: `--help` and
/// `--version` to stdout (a closed pipe ends quietly), usage errors to stderr — as one JSON
/// object when `--json` was given, like every other error. Returns the exit code when there
/// is nothing to run.
fn parse(args: &[std::ffi::OsString], env: &Env) -> std::result::Result<Cli, i32> {
    use clap::error::ErrorKind;
    // Before parsing, the flags are only words: enough to choose how to report.
    let before_dashes = args.iter().skip(1).take_while(|a| *a != "--");
    let mut json = false;
    let mut color = output::ColorChoice::Auto;
    let mut words = before_dashes.filter_map(|a| a.to_str()).peekable();
    while let Some(w) = words.next() {
        match w {
            "--json" => json = true,
            "--color=always" => color = output::ColorChoice::Always,
            "--color=never" => color = output::ColorChoice::Never,
            "--color" => match words.peek().copied() {
                Some("always") => color = output::ColorChoice::Always,
                Some("never") => color = output::ColorChoice::Never,
                _ => {}
            },
            _ => {}
        }
    }
    let look = Look::detect(json, color, env);
    let clap_color = if look.color {
        clap::ColorChoice::Always
    } else {
        clap::ColorChoice::Never
    };
    let matches = Cli::command().color(clap_color).try_get_matches_from(args);
    let err = match matches.and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m)) {
        Ok(cli) => return Ok(cli),
        Err(e) => e,
    };
    let out = Out::new(look);
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            out.raw(&err.render().to_string());
            Err(0)
        }
        _ if out.json => {
            let (message, hint) = usage_parts(&err.render().to_string());
            out.error_parts(crate::Class::Usage.name(), 2, &message, hint);
            Err(2)
        }
        _ => {
            // Clap's own layout (usage, suggestions), on stderr.
            let _ = err.print();
            Err(err.exit_code())
        }
    }
}

/// Clap's rendered usage error, as smv's error and hint: the first paragraph (without its
/// `error: ` prefix) is the message, the usage and the tip are the hint.
fn usage_parts(rendered: &str) -> (String, Option<String>) {
    let mut paragraphs = rendered.trim().split("\n\n");
    let message = paragraphs
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let rest: Vec<String> = paragraphs
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    (message, (!rest.is_empty()).then(|| rest.join("; ")))
}

fn run(cli: Cli, env: Env, out: &Out) -> Result<()> {
    // Commands that need neither settings nor a vault.
    match &cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "smv", &mut buf);
            out.raw(&String::from_utf8_lossy(&buf));
            return Ok(());
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .map_err(|e| Error::io("write", "standard output", e))?;
            out.raw(&String::from_utf8_lossy(&buf));
            return Ok(());
        }
        Command::Providers => {
            if out.json {
                out.json(providers::CATALOGUE);
            } else {
                let rows = providers::CATALOGUE
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
            return Ok(());
        }
        _ => {}
    }
    let overrides = Overrides {
        vault: cli.vault.clone(),
        identity_file: cli.identity.clone(),
    };
    let settings = Settings::resolve(&overrides, env)?;
    let prompt = input::TerminalPrompt;

    match cli.command {
        Command::Init(a) => {
            let admin = a
                .name
                .or_else(|| settings.env.get("USER").map(str::to_string))
                .unwrap_or_else(|| "admin".into());
            let passphrase = if a.passphrase {
                Some(input::new_passphrase()?)
            } else {
                None
            };
            let report = ops::init(&settings, ops::InitOptions { admin, passphrase }, &prompt)?;
            if out.json {
                out.json(&report);
            } else {
                out.say(format!("Created vault {}", report.vault));
                out.say(format!("  audit log: {}", report.audit_log));
                out.say(format!("  you are:   {} (admin, custodian)", report.member));
                out.say(format!(
                    "  identity:  {} {}",
                    report.identity,
                    if report.identity_created {
                        "(new)"
                    } else {
                        "(existing)"
                    }
                ));
                out.say(format!("  key:       {}", report.recipient));
            }
            if let Some(n) = &report.notice {
                out.warn(n);
            }
            return Ok(());
        }
        Command::Serve(a) => return proxy::serve(settings, a, out, &prompt),
        Command::Login {
            server,
            token_stdin,
        } => return proxy::login(&settings, &server, token_stdin, out),
        Command::Logout { server } => return proxy::logout(&server, out),
        Command::Identity(IdentityCmd::New { passphrase }) => {
            // Never a second key over one that is already found: that one would be lost.
            if let Some(existing) = identity::resolve_existing(&settings, &prompt)? {
                return Err(Error::Conflict(
                    format!(
                        "you have an identity already ({}): {}",
                        existing.source.describe(),
                        existing.recipient_string()
                    ),
                    Some(
                        "hand that recipient to an admin; for another key, name a new file with --identity FILE"
                            .into(),
                    ),
                ));
            }
            let pass = if passphrase {
                Some(input::new_passphrase()?)
            } else {
                None
            };
            let kind = match &pass {
                Some(p) => IdentityFileKind::Passphrase(p),
                None => IdentityFileKind::Plain,
            };
            let mut fresh = identity::Identity::generate(identity::Source::Env);
            let stored = identity::store_new(&settings, &fresh, kind)?;
            fresh.source = stored.source;
            let recipient = fresh.recipient_string();
            if out.json {
                out.json(&serde_json::json!({"recipient": recipient, "identity": fresh.source.describe()}));
            } else {
                out.say(format!("Made a new identity ({})", fresh.source.describe()));
                out.say(format!("  recipient: {recipient}"));
                out.say(format!(
                    "Hand the recipient (it is public) to an admin of the vault, who runs:\n  smv member add NAME --custodian {recipient}"
                ));
            }
            if let Some(n) = &stored.notice {
                out.warn(n);
            }
            return Ok(());
        }
        Command::Identity(IdentityCmd::Show) => {
            let id = identity::resolve(&settings, &prompt)?;
            if out.json {
                out.json(&serde_json::json!({"recipient": id.recipient_string(), "identity": id.source.describe()}));
            } else {
                out.say(id.recipient_string());
                out.note(format!("(from {})", id.source.describe()));
            }
            return Ok(());
        }
        Command::Identity(IdentityCmd::Backup { file, passphrase }) => {
            let id = identity::resolve(&settings, &prompt)?;
            let pass = if passphrase {
                Some(input::new_passphrase()?)
            } else {
                None
            };
            let kind = match &pass {
                Some(p) => IdentityFileKind::Passphrase(p),
                None => IdentityFileKind::Plain,
            };
            identity::write_identity_file(&file, &id, kind)?;
            out.say(format!(
                "Wrote a copy of {} to {} (mode 0600)",
                id.recipient_string(),
                file.display()
            ));
            if out.json {
                out.json(&serde_json::json!({"recipient": id.recipient_string(), "file": file}));
            }
            return Ok(());
        }
        _ => {}
    }

    if let Command::Audit(cmd) = &cli.command
        && let Some(done) = audit::verify_offline(cmd, out, &settings.audit_log())
    {
        return done;
    }
    if let Some(done) = posts::offline(&cli.command, out) {
        return done;
    }
    let mut backend = match settings.server.clone() {
        // Through the proxy: no vault and no key on this machine.
        Some(server) => Backend::Remote(crate::client::Client::from_settings(&settings, &server)?),
        None => {
            let identity = identity::resolve(&settings, &prompt)?;
            Backend::Local(Box::new(Ctx::new(settings, identity)))
        }
    };
    let result = dispatch(&mut backend, cli.command, out);
    for w in backend.warnings() {
        out.warn(w);
    }
    result
}

fn dispatch(b: &mut Backend, command: Command, out: &Out) -> Result<()> {
    match command {
        Command::Account(AccountCmd::Add {
            name,
            provider,
            handle,
            url,
            secret,
        }) => {
            // Through a proxy this says so before asking for a secret.
            let ctx = b.local("smv account add")?;
            let info = providers::lookup(&provider)?;
            let secret = if info.needs_secret || secret.secret_stdin || secret.secret_file.is_some()
            {
                Some(input::read_secret(
                    secret.secret_stdin,
                    secret.secret_file.as_deref(),
                    &format!("{} for {name}", info.secret),
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
            let account = ops::account_add(ctx, spec, secret)?;
            if out.json {
                out.json(&account);
            } else {
                out.say(format!(
                    "Added account {} ({}), secret {}",
                    account.name,
                    account.provider,
                    short_fingerprint(&account.secret_fingerprint)
                ));
            }
        }
        Command::Post(a) => post(b, a, out)?,
        Command::Posts(a) => posts::run(b, a, out)?,
        cmd @ (Command::Draft(_)
        | Command::Drafts { .. }
        | Command::Approve { .. }
        | Command::Reject { .. }
        | Command::Publish { .. }
        | Command::Freeze { .. }
        | Command::Unfreeze { .. }
        | Command::Status
        | Command::Policy(_)
        | Command::Queue { .. }) => governance::run(b, cmd, out)?,
        Command::Restore {
            from,
            reason,
            dry_run,
            yes,
        } => restore::run(b, from, reason, dry_run, yes, out)?,
        cmd @ (Command::Offboard { .. }
        | Command::Rotate { .. }
        | Command::Secrets
        | Command::Token(_)
        | Command::Member(MemberCmd::List { .. } | MemberCmd::Remove { .. })) => {
            offboarding::run(b, cmd, out)?
        }
        Command::Group(GroupCmd::Add { name, accounts }) => {
            let g = ops::group_add(b.local("smv group add")?, &name, &accounts)?;
            if out.json {
                out.json(&g);
            } else {
                out.say(format!("Group {}: {}", g.name, g.accounts.join(", ")));
            }
        }
        Command::Group(GroupCmd::Remove { name }) => {
            ops::group_remove(b.local("smv group remove")?, &name)?;
            out.say(format!("Removed group {name}"));
        }
        Command::Group(GroupCmd::RemoveAccount { group, accounts }) => {
            let g =
                ops::group_remove_account(b.local("smv group remove-account")?, &group, &accounts)?;
            if out.json {
                out.json(&g);
            } else if g.accounts.is_empty() {
                out.say(format!("Group {} is empty now, and gone", g.name));
            } else {
                out.say(format!("Group {}: {}", g.name, g.accounts.join(", ")));
            }
        }
        Command::Account(AccountCmd::Set { name, handle, url }) => {
            let a = ops::account_set(
                b.local("smv account set")?,
                &name,
                handle.as_deref(),
                url.as_deref(),
            )?;
            if out.json {
                out.json(&a);
            } else {
                out.say(format!(
                    "Account {}: handle {}, url {}",
                    a.name,
                    escape(&opt(&a.handle)),
                    escape(&opt(&a.url))
                ));
            }
        }
        Command::Account(AccountCmd::Rename { old, new }) => {
            let a = ops::account_rename(b.local("smv account rename")?, &old, &new)?;
            if out.json {
                out.json(&a);
            } else {
                out.say(format!(
                    "Renamed account {old} to {}: its grants, groups, drafts, scheduled posts, policy, freezes and tokens follow it",
                    a.name
                ));
            }
        }
        Command::Group(GroupCmd::List) => {
            let groups = ops::group_list(b.local("smv group list")?)?;
            if out.json {
                out.json(&groups);
            } else {
                out.table(
                    &[keep("group"), flex("accounts")],
                    groups
                        .into_iter()
                        .map(|g| vec![g.name, g.accounts.join(", ")])
                        .collect(),
                );
            }
        }
        Command::Account(AccountCmd::Check { name }) => {
            let seen = ops::account_check(b.local("smv account check")?, &name)?;
            if out.json {
                out.json(&serde_json::json!({"account": name, "ok": true, "detail": seen}));
            } else {
                // What the network said: data from outside, one line.
                out.say(format!("{name}: the credential works ({})", escape(&seen)));
            }
        }
        Command::Account(AccountCmd::List) => {
            let accounts = b.account_list()?;
            if out.json {
                out.json(&accounts);
            } else {
                let rows = accounts
                    .into_iter()
                    .map(|v| {
                        let a = v.account;
                        vec![
                            a.name,
                            a.provider,
                            opt(&a.handle),
                            a.created_by,
                            a.created_at,
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
        Command::Account(AccountCmd::Remove { name, yes }) => {
            let ctx = b.local("smv account remove")?;
            if !yes {
                input::confirm(&format!("Remove account `{name}` and its secret?"), &name)?;
            }
            let account = ops::account_remove(ctx, &name)?;
            if out.json {
                out.json(&account);
            } else {
                out.say(format!("Removed account {}", account.name));
            }
        }
        Command::Member(MemberCmd::Add {
            name,
            role,
            custodian,
        }) => {
            let member = ops::member_add(
                b.local("smv member add")?,
                &name,
                role.into(),
                custodian.as_deref(),
            )?;
            if out.json {
                out.json(&member);
            } else {
                out.say(format!(
                    "Added member {} ({}{})",
                    member.name,
                    member.role,
                    if member.is_custodian() {
                        ", custodian"
                    } else {
                        ""
                    }
                ));
            }
        }
        Command::Grant {
            member,
            account,
            level,
        } => {
            let granted = ops::grant(b.local("smv grant")?, &member, &account, level.into())?;
            match &granted[..] {
                [one] if out.json => out.json(one),
                many if out.json => out.json(many),
                _ => {
                    for g in &granted {
                        out.say(format!(
                            "Granted {} on {} to {}",
                            g.level, g.account, g.member
                        ));
                    }
                }
            }
        }
        Command::Revoke { member, account } => {
            let revoked = ops::revoke(b.local("smv revoke")?, &member, &account)?;
            match &revoked[..] {
                [one] if out.json => out.json(one),
                many if out.json => out.json(many),
                _ => {
                    for r in &revoked {
                        out.say(format!(
                            "Revoked {}'s {} grant on {}",
                            r.member, r.revoked, r.account
                        ));
                    }
                }
            }
        }
        Command::Access => {
            let report = b.access()?;
            if out.json {
                out.json(&report);
            } else {
                let mut header = vec![keep("member"), keep("role"), keep("custodian")];
                header.extend(
                    report
                        .accounts
                        .iter()
                        .map(|a| table::Col::named(escape(a).into_owned(), table::Fit::Keep)),
                );
                let rows = report
                    .members
                    .iter()
                    .map(|row| {
                        let mut cells = vec![
                            if row.active {
                                row.member.clone()
                            } else {
                                format!("{} (removed)", row.member)
                            },
                            row.role.to_string(),
                            if row.custodian {
                                "yes".into()
                            } else {
                                "no".into()
                            },
                        ];
                        cells.extend(
                            report
                                .accounts
                                .iter()
                                .map(|a| row.grants.get(a).map_or("-".into(), |l| l.to_string())),
                        );
                        cells
                    })
                    .collect();
                out.table(&header, rows);
            }
        }
        Command::Audit(cmd) => audit::run(b, cmd, out)?,
        Command::Whoami => {
            let me = b.whoami()?;
            if out.json {
                out.json(&me);
            } else {
                out.say(format!("member:    {} ({})", escape(&me.member), me.role));
                out.say(format!(
                    "custodian: {}",
                    if me.custodian { "yes" } else { "no" }
                ));
                out.say(format!("identity:  {}", me.identity));
                if me.channel != "local" {
                    out.say(format!("via:       {}", escape(&me.channel)));
                }
                out.say(format!("key:       {}", opt(&me.recipient)));
                out.say(format!("vault:     {}", me.vault));
                out.say(format!("grants:    {}", me.grants));
            }
        }
        Command::Init(_)
        | Command::Serve(_)
        | Command::Login { .. }
        | Command::Logout { .. }
        | Command::Identity(_)
        | Command::Completions { .. }
        | Command::Man
        | Command::Providers => {
            unreachable!("handled before the vault is opened")
        }
    }
    Ok(())
}

fn post(b: &mut Backend, a: args::PostArgs, out: &Out) -> Result<()> {
    let text = input::read_text(a.text, a.file, "smv post ACCOUNT \"text\"")?;
    if let Some(at) = a.at {
        // Resolved here, in this shell's time zone: the proxy is sent the instant.
        let when = crate::clock::parse_when(&at, crate::clock::Toward::Future)?;
        let queued = b.schedule_post(&a.targets, &text, &crate::clock::stamp(when.at))?;
        governance::render_queue(out, &queued, "Scheduled");
        return Ok(());
    }
    let opts = ops::PostOptions {
        dry_run: a.dry_run,
        idempotency_key: a.idempotency_key,
    };
    let mut live = LiveResults::new(out);
    let results = b.post(&a.targets, &text, &opts, &mut |r| live.sent(r))?;
    render_results(out, &results, None, &live)
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
    if out.json {
        out.json(&results);
    } else if live.live {
        for r in results.iter().filter(|r| !live.shown.contains(&r.account)) {
            out.say(result_line(r));
        }
    } else {
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
    let failed = results
        .iter()
        .filter(|r| r.status == ops::PostStatus::Failed)
        .count();
    if failed > 0 {
        return Err(Error::PostsFailed {
            failed,
            total: results.len(),
            retry,
        });
    }
    Ok(())
}
