//! Commands that run before a vault is opened: completions, the man page and the catalogue
//! of networks (no settings needed); `init`, `serve`, `login`, `logout` and `identity` (no
//! vault needed).

use clap::CommandFactory;

use super::args::{Cli, Command, IdentityCmd, InitArgs};
use super::input;
use super::output::{Out, Render, Said};
use crate::identity::{self, IdentityFileKind, PassphrasePrompt};
use crate::settings::Settings;
use crate::{Error, Result, ops, providers};

/// The commands that need no settings; None for the others.
pub fn without_settings(command: &Command, out: &Out) -> Option<Result<()>> {
    match command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "smv", &mut buf);
            out.raw(&String::from_utf8_lossy(&buf));
            Some(Ok(()))
        }
        Command::Man => {
            let mut buf = Vec::new();
            Some(
                clap_mangen::Man::new(Cli::command())
                    .render(&mut buf)
                    .map_err(|e| Error::io("write", "standard output", e))
                    .map(|()| out.raw(&String::from_utf8_lossy(&buf))),
            )
        }
        Command::Providers => {
            out.show(&super::accounts::Catalogue(providers::CATALOGUE));
            Some(Ok(()))
        }
        _ => None,
    }
}

/// The commands that need settings but no vault; the others come back, to run on one.
pub fn without_vault(
    command: Command,
    settings: Settings,
    out: &Out,
) -> std::result::Result<Result<()>, Box<(Command, Settings)>> {
    let prompt = input::TerminalPrompt;
    Ok(match command {
        Command::Init(a) => init(a, &settings, &prompt, out),
        Command::Serve(a) => super::proxy::serve(settings, a, out, &prompt),
        Command::Login {
            server,
            token_stdin,
            file,
        } => super::proxy::login(&settings, &server, token_stdin, file, out),
        Command::Logout { server } => super::proxy::logout(&settings, &server, out),
        Command::Identity(cmd) => identity_cmd(cmd, &settings, &prompt, out),
        other => return Err(Box::new((other, settings))),
    })
}

fn init(a: InitArgs, settings: &Settings, prompt: &dyn PassphrasePrompt, out: &Out) -> Result<()> {
    let admin = a
        .name
        .or_else(|| settings.env.get("USER").map(str::to_string))
        .unwrap_or_else(|| "admin".into());
    let passphrase = if a.passphrase {
        Some(input::new_passphrase()?)
    } else {
        None
    };
    let report = ops::init(settings, ops::InitOptions { admin, passphrase }, prompt)?;
    out.show(&Said::lines(
        &report,
        vec![
            format!("Created vault {}", report.vault),
            format!("  audit log: {}", report.audit_log),
            format!("  you are:   {} (admin, custodian)", report.member),
            format!(
                "  identity:  {} {}",
                report.identity,
                if report.identity_created {
                    "(new)"
                } else {
                    "(existing)"
                }
            ),
            format!("  key:       {}", report.recipient),
        ],
    ));
    if let Some(n) = &report.notice {
        out.warn(n);
    }
    Ok(())
}

fn identity_cmd(
    cmd: IdentityCmd,
    settings: &Settings,
    prompt: &dyn PassphrasePrompt,
    out: &Out,
) -> Result<()> {
    match cmd {
        IdentityCmd::New { passphrase } => {
            // Never a second key over one that is already found: that one would be lost.
            if let Some(existing) = identity::resolve_existing(settings, prompt)? {
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
            let stored = identity::store_new(settings, &fresh, kind)?;
            fresh.source = stored.source;
            let recipient = fresh.recipient_string();
            let made =
                serde_json::json!({"recipient": recipient, "identity": fresh.source.describe()});
            out.show(&Said::lines(
                &made,
                vec![
                    format!("Made a new identity ({})", fresh.source.describe()),
                    format!("  recipient: {recipient}"),
                    format!(
                        "Hand the recipient (it is public) to an admin of the vault, who runs:\n  smv member add NAME --custodian {recipient}"
                    ),
                ],
            ));
            if let Some(n) = &stored.notice {
                out.warn(n);
            }
        }
        IdentityCmd::ProbeKeyring => match identity::keyring::probe()? {
            Some(recipient) => out.say(recipient),
            None => {
                return Err(Error::NoIdentity {
                    looked: "OS keyring".into(),
                });
            }
        },
        IdentityCmd::Show => {
            let id = identity::resolve(settings, prompt)?;
            out.show(&Recipient {
                recipient: id.recipient_string(),
                identity: id.source.describe(),
            });
        }
        IdentityCmd::Backup { file, passphrase } => {
            let id = identity::resolve(settings, prompt)?;
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
            let recipient = id.recipient_string();
            out.show(&Said::new(
                &serde_json::json!({"recipient": recipient, "file": file}),
                format!(
                    "Wrote a copy of {recipient} to {} (mode 0600)",
                    file.display()
                ),
            ));
        }
    }
    Ok(())
}

/// `smv identity show`: the recipient on stdout (for an admin's `member add --recipient`),
/// where it came from on stderr.
#[derive(serde::Serialize)]
struct Recipient {
    recipient: String,
    identity: String,
}

impl Render for Recipient {
    fn human(&self, out: &Out) {
        out.say(&self.recipient);
        out.note(format!("(from {})", self.identity));
    }
}
