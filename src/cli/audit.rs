//! Rendering of `smv audit …`.

use std::io::Write;

use super::args::{AuditCmd, AuditFilter, ExportArg};
use super::backend::Backend;
use super::input;
use super::output::{Out, Render, Said, progress};
use super::table::{flex, keep, time};
use crate::audit::{Filter, Proves, Report};
use crate::ops::{self, ExportFormat};
use crate::{Error, Result, clock};

/// Turns a user's time into the log's format (UTC, RFC 3339, microseconds), which sorts as
/// text. A relative time (`2d`, `yesterday`) is resolved against now in the local time zone
/// and printed back on stderr, so the reader knows which instant was meant.
pub(crate) fn normalise_time(out: &Out, flag: &'static str, s: &str) -> Result<String> {
    use chrono::SecondsFormat;
    let when = clock::parse_when(s, clock::Toward::Past).map_err(|e| match e {
        // Named by the flag that took it.
        Error::Invalid { why, hint, .. } => Error::Invalid {
            what: flag,
            why,
            hint,
        },
        other => other,
    })?;
    if when.relative && !out.json {
        out.note(format!(
            "{flag} {s}: {}",
            super::output::show_time(when.at, out.look().terminal)
        ));
    }
    Ok(when.at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

pub(crate) fn filter(out: &Out, f: AuditFilter) -> Result<Filter> {
    Ok(Filter {
        account: f.account,
        member: f.member,
        action: f.action,
        since: f
            .since
            .map(|s| normalise_time(out, "--since", &s))
            .transpose()?,
        until: f
            .until
            .map(|s| normalise_time(out, "--until", &s))
            .transpose()?,
    })
}

impl Render for Report {
    fn human(&self, out: &Out) {
        out.say(format!(
            "ok: {} entries verified, {} checkpoint signatures checked ({})",
            self.entries, self.signatures_checked, self.origin
        ));
        out.say(match self.proves {
        Proves::Log => "this proves: every entry from the first to the latest checkpoint, none changed, reordered or missing".to_string(),
        Proves::Range => format!(
            "this proves: entries {} to {}, none changed, reordered or missing between them, and that they are part of the signed log",
            self.first,
            self.first + self.entries.saturating_sub(1)
        ),
        Proves::Inclusion => "this proves: each entry shown is in the signed log (inclusion); it does not prove that no other entry matches the export's filter (completeness): verify a range export or the log for that".to_string(),
    });
        if let Some(sel) = &self.selection {
            out.say(format!(
                "selection: {} (checked: every entry shown is one it chooses)",
                super::output::escape(&sel.describe())
            ));
        }
        if let Some(size) = self.extends_checkpoint {
            out.say(format!(
                "the log extends the given checkpoint (size {size})"
            ));
        }
        if !self.incomplete.is_empty() {
            let seqs: Vec<_> = self.incomplete.iter().map(u64::to_string).collect();
            out.say(format!(
            "incomplete: {} intent(s) without an outcome (an interrupted action, not tampering): entries {}",
            self.incomplete.len(),
            seqs.join(", ")
        ));
        }
        if let Some(cp) = &self.checkpoint {
            out.say(format!("latest checkpoint:\n{cp}"));
        }
    }
}

fn read_checkpoint(path: Option<&std::path::Path>) -> Result<Option<String>> {
    path.map(|p| std::fs::read_to_string(p).map_err(|e| Error::io("read checkpoint", p, e)))
        .transpose()
}

/// `smv audit verify --log FILE --pubkey KEY`: needs no vault and no identity.
pub fn verify_offline(
    cmd: &AuditCmd,
    out: &Out,
    default_log: &std::path::Path,
) -> Option<Result<()>> {
    let AuditCmd::Verify {
        checkpoint,
        log,
        pubkey: Some(pubkey),
    } = cmd
    else {
        return None;
    };
    Some((|| {
        let external = read_checkpoint(checkpoint.as_deref())?;
        let log = log.clone().unwrap_or_else(|| default_log.to_path_buf());
        let report =
            ops::audit_verify_offline(&log, pubkey, external.as_deref(), &mut progress(out))?;
        out.show(&report);
        Ok(())
    })())
}

pub fn run(b: &mut Backend, cmd: AuditCmd, out: &Out) -> Result<()> {
    match cmd {
        AuditCmd::Log { filter: f, .. } => {
            let entries = b.audit_log(&filter(out, f)?)?;
            out.show(&entries);
        }
        AuditCmd::Show { seq } => {
            let shown = ops::audit_show(b.local("smv audit show")?, seq)?;
            out.show(&shown);
            if !shown.proof_verified {
                return Err(Error::Tampered {
                    path: b.local("smv audit show")?.settings.audit_log(),
                    failure: format!("entry {seq} is not proven by the latest checkpoint"),
                });
            }
        }
        AuditCmd::Verify { checkpoint, .. } => {
            let external = read_checkpoint(checkpoint.as_deref())?;
            let report = ops::audit_verify(
                b.local("smv audit verify")?,
                external.as_deref(),
                &mut progress(out),
            )?;
            out.show(&report);
        }
        AuditCmd::Checkpoint => {
            let cp = ops::audit_checkpoint(b.local("smv audit checkpoint")?)?;
            out.show(&Said::exact(&serde_json::json!({ "checkpoint": cp }), &cp));
        }
        AuditCmd::Pubkey { all: true } => {
            let keys = ops::audit_pubkeys(b.local("smv audit pubkey")?)?;
            // Each key on its own line as `verify --log --pubkey` reads it; what people
            // want to know of it in a comment line above.
            let mut text = String::new();
            for k in &keys {
                let until = k.until.map(|u| u.to_string()).unwrap_or_default();
                match (&k.until, &k.retired_by, &k.retired_at) {
                    (Some(u), Some(by), Some(at)) => text.push_str(&format!(
                        "# era {}: checkpoints {}..={u}, retired at entry {u} ({at}) by {by}\n",
                        k.era, k.from
                    )),
                    _ => text.push_str(&format!(
                        "# era {}: checkpoints from {} on (current)\n",
                        k.era, k.from
                    )),
                }
                if until.is_empty() {
                    text.push_str(&format!("{} era={}\n", k.key, k.era));
                } else {
                    text.push_str(&format!("{} era={} until={until}\n", k.key, k.era));
                }
            }
            out.show(&Said::exact(&serde_json::json!({ "keys": keys }), text));
        }
        AuditCmd::RotateKey { reason } => {
            let r = ops::audit_rotate_key(b.local("smv audit rotate-key")?, &reason)?;
            out.show(&Said::new(
                &r,
                format!(
                    "audit key rotated: era {} signs from now on; the old key is listed by `smv audit pubkey --all`",
                    r.era
                ),
            ));
        }
        AuditCmd::Pubkey { all: false } => {
            let key = ops::audit_pubkey(b.local("smv audit pubkey")?)?;
            out.show(&Said::exact(
                &serde_json::json!({ "pubkey": key }),
                format!("{key}\n"),
            ));
        }
        AuditCmd::Backup { file } => {
            let verified = ops::audit_backup(b.local("smv audit backup")?, &file)?;
            out.show(&Backup { file, verified });
        }
        AuditCmd::Export {
            format,
            out: file,
            checkpoint,
            filter: f,
        } => {
            let since = read_checkpoint(checkpoint.as_deref())?;
            let format = match format {
                ExportArg::Jsonl => ExportFormat::Jsonl,
                ExportArg::Csv => ExportFormat::Csv,
            };
            let f = filter(out, f)?;
            let n = match &file {
                Some(path) => {
                    let mut w = std::io::BufWriter::new(
                        crate::fsutil::create_new_private(path)
                            .map_err(|e| Error::io("create", path, e))?,
                    );
                    let n = ops::audit_export(
                        b.local("smv audit export")?,
                        format,
                        &f,
                        since.as_deref(),
                        &mut w,
                        &mut progress(out),
                    )?;
                    w.flush().map_err(|e| Error::io("write", path, e))?;
                    n
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut w = std::io::BufWriter::new(stdout.lock());
                    let written = ops::audit_export(
                        b.local("smv audit export")?,
                        format,
                        &f,
                        since.as_deref(),
                        &mut w,
                        &mut progress(out),
                    )
                    .and_then(|n| {
                        w.flush()
                            .map_err(|e| Error::io("write", "standard output", e))?;
                        Ok(n)
                    });
                    match written {
                        // The reader went away (`| head`): done, quietly.
                        Err(e) if super::output::is_broken_pipe(&e) => return Ok(()),
                        // Any other write failure (a full disk): an error with its hint.
                        Err(Error::Io {
                            op: "write",
                            source,
                            ..
                        }) => {
                            return Err(super::output::stdout_error(source));
                        }
                        other => other?,
                    }
                }
            };
            if let Some(path) = file {
                out.note(format!("exported {n} entries to {}", path.display()));
            }
        }
        AuditCmd::Hash { stdin } => {
            let ctx = b.local("smv audit hash")?;
            let value = input::read_secret(stdin, None, "Value to hash")?;
            let h = ops::audit_hash(ctx, &value)?;
            out.show(&Said::exact(
                &serde_json::json!({ "hmac": h }),
                format!("{h}\n"),
            ));
        }
    }
    Ok(())
}

/// `smv audit show SEQ`: the entry as stored, its leaf hash and its inclusion proof.
impl Render for ops::Shown {
    fn human(&self, out: &Out) {
        out.say(super::output::json_text(&self.entry));
        out.say(format!("leaf hash: {}", self.leaf));
        out.say(format!(
            "hashed bytes (base64; leaf hash = SHA-256 of 0x00 then these bytes): {}",
            self.leaf_bytes
        ));
        out.say(format!(
            "inclusion proof in the tree of {} entries ({}):",
            self.size,
            if self.proof_verified {
                "verified"
            } else {
                "DOES NOT VERIFY"
            }
        ));
        for h in &self.proof {
            out.say(format!("  {h}"));
        }
        out.say(format!("checkpoint:\n{}", self.checkpoint));
    }
}

/// `smv audit backup FILE`: where the copy went, and that it verified.
#[derive(serde::Serialize)]
struct Backup {
    file: std::path::PathBuf,
    verified: Report,
}

impl Render for Backup {
    fn human(&self, out: &Out) {
        out.say(format!(
            "copied the audit log to {} ({} entries, verified)",
            self.file.display(),
            self.verified.entries
        ));
        if let Some(cp) = &self.verified.checkpoint {
            out.say(format!("latest checkpoint:\n{cp}"));
        }
    }
}

/// `smv audit log`: the entries, oldest first.
impl Render for Vec<crate::audit::Entry> {
    fn human(&self, out: &Out) {
        render_entries(out, self);
    }
}

fn render_entries(out: &Out, entries: &[crate::audit::Entry]) {
    let rows = entries
        .iter()
        .map(|e| {
            let mut details = if e.details.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&e.details).unwrap_or_default()
            };
            // Why it was refused or failed comes first: what a reader looks for.
            if let Some(r) = &e.reason {
                details = if details.is_empty() {
                    r.clone()
                } else {
                    format!("{r}; {details}")
                };
            }
            // Whole: on a terminal the column is cut to fit (--json and `audit show` have
            // everything); piped, a value is never cut.
            vec![
                e.seq.to_string(),
                e.time.clone(),
                e.actor.clone(),
                e.channel.to_string(),
                e.action.clone(),
                e.target.clone(),
                e.outcome.as_str().to_string(),
                details,
            ]
        })
        .collect();
    out.table(
        &[
            keep("seq"),
            time("time"),
            keep("actor"),
            keep("via"),
            keep("action"),
            flex("target"),
            keep("outcome"),
            flex("details"),
        ],
        rows,
    );
}
