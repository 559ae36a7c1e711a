//! The `smv` command line: parse, call the operations layer, render.

mod accounts;
mod args;
mod audit;
mod backend;
mod governance;
mod input;
mod members;
mod offboarding;
mod output;
mod post;
mod posts;
mod proxy;
mod restore;
mod setup;
mod table;

use clap::CommandFactory;

pub use args::Cli;
use args::Command;
use output::{Look, Out};

use crate::Result;
use crate::identity;
use crate::ops::Ctx;
use crate::settings::{Env, Overrides, Settings};
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
    // A failed write to stdout (not a closed pipe) ends the command once its action is
    // done; an error of the command itself comes first.
    let result = result.and_then(|()| out.take_write_error().map_or(Ok(()), Err));
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
    if let Some(done) = setup::without_settings(&cli.command, out) {
        return done;
    }
    let overrides = Overrides {
        vault: cli.vault.clone(),
        identity_file: cli.identity.clone(),
    };
    let settings = Settings::resolve(&overrides, env)?;
    let (command, settings) = match setup::without_vault(cli.command, settings, out) {
        Ok(done) => return done,
        Err(back) => *back,
    };
    if let Command::Audit(cmd) = &command
        && let Some(done) = audit::verify_offline(cmd, out, &settings.audit_log())
    {
        return done;
    }
    if let Some(done) = posts::offline(&command, out) {
        return done;
    }
    let mut backend = match settings.server.clone() {
        // Through the proxy: no vault and no key on this machine.
        Some(server) => Backend::Remote(crate::client::Client::from_settings(&settings, &server)?),
        None => {
            let identity = identity::resolve(&settings, &input::TerminalPrompt)?;
            if let Some(w) = identity::fragile_store_warning(&settings, &identity) {
                out.warn(w);
            }
            Backend::Local(Box::new(Ctx::new(settings, identity)))
        }
    };
    let result = dispatch(&mut backend, command, out);
    if let Backend::Local(ctx) = &mut backend {
        // Notices from the command's last steps (refused journal lines found by a group).
        ctx.take_notices();
    }
    for w in backend.warnings() {
        out.warn(w);
    }
    result
}

/// Each command group's own `run`.
fn dispatch(b: &mut Backend, command: Command, out: &Out) -> Result<()> {
    match command {
        Command::Account(cmd) => accounts::run(b, cmd, out),
        Command::Group(cmd) => accounts::group(b, cmd, out),
        Command::Member(cmd) => members::run(b, cmd, out),
        Command::Grant {
            member,
            account,
            level,
        } => members::grant(b, &member, &account, level, out),
        Command::Revoke { member, account } => members::revoke(b, &member, &account, out),
        Command::Access {
            member,
            account,
            all,
        } => {
            let report = b
                .access()?
                .filtered(member.as_deref(), account.as_deref(), all)?;
            out.show(&report);
            Ok(())
        }
        Command::Whoami => {
            out.show(&b.whoami()?);
            Ok(())
        }
        Command::Post(a) => post::run(b, a, out),
        Command::Posts(a) => posts::run(b, a, out),
        cmd @ (Command::Draft(_)
        | Command::Drafts { .. }
        | Command::Approve { .. }
        | Command::Reject { .. }
        | Command::Publish { .. }
        | Command::Freeze { .. }
        | Command::Unfreeze { .. }
        | Command::Status
        | Command::Policy(_)
        | Command::Queue { .. }) => governance::run(b, cmd, out),
        Command::Restore {
            from,
            reason,
            dry_run,
            accept_lost_history,
            yes,
        } => restore::run(
            b,
            restore::Args {
                from,
                reason,
                dry_run,
                accept_lost_history,
                yes,
            },
            out,
        ),
        cmd @ (Command::Offboard { .. }
        | Command::Rotate { .. }
        | Command::Secrets
        | Command::Token(_)) => offboarding::run(b, cmd, out),
        Command::Audit(cmd) => audit::run(b, cmd, out),
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
}
