//! Exports for SIEMs and e-discovery, and their verification.
//!
//! JSON lines (`smv-audit-export/1`), verifiable offline with the log's public key. The
//! header carries the log's latest signed checkpoint; then either
//! - a contiguous range (no filter but time): the tree's right edge before the first entry,
//!   each entry with the tree root after it, and an RFC 6962 consistency proof from the
//!   range's end to the signed checkpoint; or
//! - a selection (filtered by account, member or action): each entry with its RFC 6962
//!   inclusion proof in the signed checkpoint. A selection proves that each entry it shows
//!   is in the log, not that it shows every entry that matches: the header names the filter,
//!   and verification says so.
//!
//! Optionally (`smv audit export --checkpoint FILE`) the header also carries a consistency
//! proof from a checkpoint the auditor kept to the one in the header, so that any export
//! shows the log still extends that checkpoint.
//!
//! Verification checks the bytes as written: every line must be exactly the canonical JSON
//! smv writes (an entry's bytes are what is hashed, so a duplicated key, an escape or extra
//! whitespace that parses to the same entry is refused, not normalised away).
//!
//! CSV is for spreadsheets and SIEM ingestion only: it carries no proofs, and a cell a
//! spreadsheet would run as a formula is written as text (see [`neutralise`]).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::entry::Entry;
use super::key::checkpoint_note;
use super::ledger::Ledger;
use super::merkle::{self, Frontier, Hash};
use super::note::NoteVerifier;
use super::store::{Filter, Stored};
use super::verify::{self, Failure, Proves, Report, Verifier};
use crate::{Error, Result};

pub const FORMAT: &str = "smv-audit-export/1";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub origin: String,
    pub pubkey: String,
    /// The log's latest signed checkpoint at export time.
    pub checkpoint: String,
    /// Range exports: the first entry's sequence number, the tree's right edge before it,
    /// and the consistency proof from the range's end to the checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontier: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Vec<String>>,
    /// Selections: the filter that chose the entries (what the selection claims to be).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<Filter>,
    /// A consistency proof from an earlier checkpoint (given at export) to `checkpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<Extends>,
}

/// A consistency proof from the tree of `size` entries to the header's checkpoint.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extends {
    pub size: u64,
    pub proof: Vec<String>,
}

/// An export line: the entry's canonical JSON exactly as stored, and its proof material.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub entry: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<Vec<String>>,
}

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h)
}

fn unb64(s: &str) -> Option<Hash> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .ok()?
        .try_into()
        .ok()
}

fn io(e: std::io::Error) -> Error {
    Error::io("write", "the export", e)
}

/// The stored bytes of an entry, as they go into an export line: exactly what is hashed.
fn raw_entry(row: &Stored) -> Result<Box<RawValue>> {
    let text = String::from_utf8(row.body.clone()).ok();
    text.and_then(|t| RawValue::from_string(t).ok())
        .ok_or_else(|| {
            Error::Internal(format!(
                "entry {} is unreadable; run `smv audit verify`",
                row.seq
            ))
        })
}

/// Writes a JSON-lines export; returns the number of entries. `since`: a checkpoint the
/// reader kept (its size and root), for a consistency proof in the header. `progress(written,
/// total)` is told how far it is.
pub fn write_jsonl(
    log: &dyn Ledger,
    pubkey: &str,
    filter: &Filter,
    since: Option<&verify::External>,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    let key_name = pubkey.split('+').next().unwrap_or_default();
    let latest = log
        .latest()?
        .ok_or_else(|| Error::not_found("audit entry", "any"))?;
    let rows = log.select(filter)?;
    let leaves = log.leaves(latest.size)?;
    let mut header = Header {
        format: FORMAT.into(),
        origin: log.origin().to_string(),
        pubkey: pubkey.to_string(),
        checkpoint: checkpoint_note(
            log.origin(),
            latest.size,
            &latest.root,
            key_name,
            &latest.sig,
        ),
        first: None,
        frontier: None,
        consistency: None,
        selection: None,
        extends: None,
    };
    if let Some(ext) = since {
        if ext.size > latest.size || ext.size == 0 {
            return Err(Error::invalid(
                "--checkpoint",
                format!(
                    "the checkpoint counts {} entries and the log {}",
                    ext.size, latest.size
                ),
            )
            .with_hint("give a checkpoint of this log taken earlier (`smv audit checkpoint`)"));
        }
        if leaves.get(ext.size as usize - 1).is_none() || log.root_at(ext.size)? != Some(ext.root) {
            return Err(Error::Tampered {
                path: format!("the audit log of {}", log.origin()).into(),
                failure: format!(
                    "the log does not extend the given checkpoint: its first {} entries were rewritten",
                    ext.size
                ),
            });
        }
        let proof = merkle::consistency_proof(&leaves, ext.size, latest.size)
            .ok_or_else(|| Error::Internal("consistency proof".into()))?;
        header.extends = Some(Extends {
            size: ext.size,
            proof: proof.iter().map(b64).collect(),
        });
    }
    let contiguous = filter.is_contiguous();
    if !contiguous {
        header.selection = Some(filter.clone());
    }
    if contiguous {
        let first = rows.first().map_or(latest.size + 1, |r| r.seq);
        let end = rows.last().map_or(first - 1, |r| r.seq);
        let mut frontier = Frontier::new();
        for leaf in &leaves[..(first - 1) as usize] {
            frontier.push(*leaf);
        }
        header.first = Some(first);
        header.frontier = Some(frontier.hashes().iter().map(b64).collect());
        let proof = merkle::consistency_proof(&leaves, end, latest.size)
            .ok_or_else(|| Error::Internal("consistency proof".into()))?;
        header.consistency = Some(proof.iter().map(b64).collect());
    }
    writeln!(
        out,
        "{}",
        serde_json::to_string(&header).expect("header serialises")
    )
    .map_err(io)?;
    let total = rows.len() as u64;
    let mut n = 0;
    for row in rows {
        let line = if contiguous {
            Line {
                entry: raw_entry(&row)?,
                root: Some(b64(&row.root)),
                proof: None,
            }
        } else {
            let proof = merkle::inclusion_proof(&leaves, row.seq - 1, latest.size)
                .ok_or_else(|| Error::Internal("inclusion proof".into()))?;
            Line {
                entry: raw_entry(&row)?,
                root: None,
                proof: Some(proof.iter().map(b64).collect()),
            }
        };
        writeln!(
            out,
            "{}",
            serde_json::to_string(&line).expect("line serialises")
        )
        .map_err(io)?;
        n += 1;
        progress(n, total);
    }
    Ok(n)
}

/// A CSV cell a spreadsheet would run as a formula (`=HYPERLINK(…)`, `+cmd|…`, `-2+3`,
/// `@SUM(…)`, or one of those after a tab or carriage return) gets a leading `'`, which
/// spreadsheets show as text (OWASP's "CSV injection" advice). Only the CSV: the JSON-lines
/// export keeps every entry's exact bytes, which is what is verified.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// Writes a CSV export (no proofs: for spreadsheets); returns the number of entries.
pub fn write_csv(
    log: &dyn Ledger,
    filter: &Filter,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<u64> {
    fn field(s: &str) -> String {
        let s = neutralise(s);
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.into_owned()
        }
    }
    writeln!(
        out,
        "seq,time,actor,channel,action,target,outcome,reason,request_id,details"
    )
    .map_err(io)?;
    let entries = log.entries(filter)?;
    let total = entries.len() as u64;
    for (i, e) in entries.iter().enumerate() {
        let details = if e.details.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&e.details).expect("details serialise")
        };
        let cells = [
            e.seq.to_string(),
            e.time.clone(),
            e.actor.clone(),
            e.channel.to_string(),
            e.action.clone(),
            e.target.clone(),
            e.outcome.as_str().to_string(),
            e.reason.clone().unwrap_or_default(),
            e.request_id.clone(),
            details,
        ];
        let row: Vec<String> = cells.iter().map(|c| field(c)).collect();
        writeln!(out, "{}", row.join(",")).map_err(io)?;
        progress(i as u64 + 1, total);
    }
    Ok(total)
}

fn hashes(list: &[String]) -> Option<Vec<Hash>> {
    list.iter().map(|h| unb64(h)).collect()
}

/// Why an export was not verified: it does not verify, or it cannot answer the question
/// asked of it (a checkpoint it carries no proof for).
#[derive(Debug)]
pub enum Rejected {
    Failure(Failure),
    /// The question cannot be answered with this export: what is wrong, and what to do.
    Unanswerable {
        why: String,
        hint: String,
    },
}

impl From<Failure> for Rejected {
    fn from(f: Failure) -> Rejected {
        Rejected::Failure(f)
    }
}

fn bad(line: usize, why: impl Into<String>) -> Failure {
    Failure {
        seq: None,
        reason: format!("export line {line}: {}", why.into()),
    }
}

/// Parses one line, which must be exactly the canonical JSON smv writes, and its entry
/// exactly the entry's canonical bytes.
fn read_line(n: usize, text: std::io::Result<String>) -> Result<(Line, Entry), Failure> {
    let text = text.map_err(|e| bad(n, e.to_string()))?;
    let line: Line =
        serde_json::from_str(&text).map_err(|e| bad(n, format!("unreadable ({e})")))?;
    let entry: Entry = serde_json::from_str(line.entry.get())
        .map_err(|e| bad(n, format!("unreadable (its entry: {e})")))?;
    if entry.to_bytes() != line.entry.get().as_bytes() {
        return Err(Failure {
            seq: Some(entry.seq),
            reason: format!(
                "export line {n}: the entry is not written in canonical form (its bytes were edited: a duplicated key, an escape, whitespace or a field added), so it is not the entry the log hashed"
            ),
        });
    }
    if serde_json::to_string(&line).ok().as_deref() != Some(text.as_str()) {
        return Err(bad(
            n,
            "the line is not written as smv writes it (its bytes were edited)",
        ));
    }
    Ok((line, entry))
}

/// The entries of a JSON-lines export (after its header), as they are written. Read after
/// [`verify_jsonl`] accepted the same bytes.
pub fn entries(bytes: &[u8]) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for (n, line) in bytes.split(|b| *b == b'\n').enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        let unreadable = |e: serde_json::Error| {
            Error::invalid("--log", format!("export line {}: unreadable ({e})", n + 1))
        };
        let line: Line = serde_json::from_slice(line).map_err(unreadable)?;
        out.push(serde_json::from_str(line.entry.get()).map_err(unreadable)?);
    }
    Ok(out)
}

/// Verifies a JSON-lines export with the log's public key (and optionally a checkpoint kept
/// elsewhere, which the export must show the log extends). `progress` gets the entries read.
pub fn verify_jsonl(
    input: &mut dyn BufRead,
    verifier: &NoteVerifier,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> std::result::Result<Report, Rejected> {
    verify_jsonl_chain(
        input,
        &verify::KeyChain::single(verifier),
        external,
        progress,
    )
}

/// [`verify_jsonl`] with every key of the log (`smv audit pubkey --all`): the export's key
/// must be one of them, in force when it signed; rotations inside the range are followed.
pub fn verify_jsonl_chain(
    input: &mut dyn BufRead,
    chain: &verify::KeyChain,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> std::result::Result<Report, Rejected> {
    let mut lines = input.lines();
    let header_text = lines
        .next()
        .ok_or_else(|| bad(1, "the export is empty"))?
        .map_err(|e| bad(1, e.to_string()))?;
    let header: Header = serde_json::from_str(&header_text)
        .map_err(|e| bad(1, format!("not an export header ({e})")))?;
    if header.format != FORMAT {
        return Err(bad(1, format!("unknown format {}", header.format)).into());
    }
    if serde_json::to_string(&header).ok().as_deref() != Some(header_text.as_str()) {
        return Err(bad(
            1,
            "the header is not written as smv writes it (its bytes were edited)",
        )
        .into());
    }
    if !chain.eras.iter().any(|e| e.key.vkey() == header.pubkey) {
        return Err(bad(1, "the export names another public key than the one given").into());
    }
    let signed = verify::external_checkpoint_chain(&header.checkpoint, chain, &header.origin)?;
    let external = external
        .map(|text| verify::external_checkpoint_chain(text, chain, &header.origin))
        .transpose()?;
    // A checkpoint kept elsewhere, answered by the header's own proof where there is one.
    let mut answered = false;
    if let Some(ext) = &external {
        if ext.size > signed.size {
            return Err(Failure {
                seq: None,
                reason: format!(
                    "the exported log is shorter than the given checkpoint ({} entries, the checkpoint {}): entries were cut off, or the export is older than the checkpoint",
                    signed.size, ext.size
                ),
            }
            .into());
        }
        if ext.size == signed.size {
            if ext.root != signed.root {
                return Err(Failure {
                    seq: None,
                    reason: format!(
                        "the log does not extend the given checkpoint: its first {} entries were rewritten",
                        ext.size
                    ),
                }
                .into());
            }
            answered = true;
        } else if let Some(extends) = header.extends.as_ref().filter(|x| x.size == ext.size) {
            let proof = hashes(&extends.proof).ok_or_else(|| bad(1, "bad consistency hash"))?;
            if !merkle::verify_consistency(ext.size, signed.size, &ext.root, &signed.root, &proof) {
                return Err(Failure {
                    seq: None,
                    reason: format!(
                        "the log does not extend the given checkpoint: its first {} entries were rewritten",
                        ext.size
                    ),
                }
                .into());
            }
            answered = true;
        }
    }

    if let (Some(first), Some(frontier), Some(consistency)) =
        (header.first, &header.frontier, &header.consistency)
    {
        let start_hashes = hashes(frontier).ok_or_else(|| bad(1, "bad frontier hash"))?;
        let before = first
            .checked_sub(1)
            .ok_or_else(|| bad(1, "the first entry is numbered from 1"))?;
        let start = Frontier::from_parts(before, start_hashes)
            .ok_or_else(|| bad(1, "the frontier does not fit its size"))?;
        let proof = hashes(consistency).ok_or_else(|| bad(1, "bad consistency hash"))?;
        // A checkpoint inside the range is checked entry by entry; one before it or after
        // it only by the header's proof.
        let inside = external
            .as_ref()
            .filter(|e| !answered && e.size >= first && e.size <= signed.size)
            .cloned();
        if let Some(ext) = &external
            && !answered
            && inside.is_none()
        {
            return Err(unanswerable(ext.size, "range"));
        }
        let mut v = Verifier::with_chain(
            chain.clone(),
            &header.origin,
            start,
            BTreeMap::new(),
            inside,
            false,
        );
        for (i, text) in lines.enumerate() {
            let (line, entry) = read_line(i + 2, text)?;
            let body = entry.to_bytes();
            let root = line
                .root
                .as_deref()
                .and_then(unb64)
                .ok_or_else(|| bad(i + 2, "a range export line needs its root"))?;
            v.push(Stored {
                seq: entry.seq,
                leaf: merkle::leaf_hash(&body),
                body,
                root,
                columns: None,
            })?;
            progress(i as u64 + 1);
        }
        let end = v.size();
        let consistent = end <= signed.size
            && if end == 0 {
                proof.is_empty()
            } else {
                merkle::verify_consistency(end, signed.size, &v.root(), &signed.root, &proof)
            };
        if !consistent {
            return Err(Failure {
                seq: None,
                reason: "the exported range is not part of the signed log: its entries, hashes or starting point were changed".into(),
            }
            .into());
        }
        let mut report = v.report(Some(header.checkpoint.clone()))?;
        report.signatures_checked += 1;
        if answered {
            report.extends_checkpoint = external.map(|e| e.size);
        }
        return Ok(report);
    }

    // A selection: each entry proven by inclusion in the signed checkpoint.
    if let Some(ext) = &external
        && !answered
    {
        return Err(unanswerable(ext.size, "selection"));
    }
    // The header's claim is checked: every entry must be one the named filter selects (a
    // header edited to name another account over this account's entries fails here). An
    // export written before headers named their selection claims none, and is shown so.
    let selection = header.selection.as_ref();
    if selection.is_some_and(Filter::is_contiguous) {
        return Err(bad(
            1,
            "the header names a selection without an account, member or action filter: a range export carries a range proof instead",
        )
        .into());
    }
    let mut count = 0;
    let mut prev = 0;
    for (i, text) in lines.enumerate() {
        let (line, entry) = read_line(i + 2, text)?;
        let seq = entry.seq;
        if let Some(selection) = selection
            && !selection.matches(&entry)
        {
            return Err(Failure {
                seq: Some(seq),
                reason: format!(
                    "export line {}: the entry is not one the header's selection chooses ({}): the header claims another selection than the entries it carries",
                    i + 2,
                    selection.describe()
                ),
            }
            .into());
        }
        if seq <= prev || seq > signed.size {
            return Err(Failure {
                seq: Some(seq),
                reason: "out of order, or beyond the signed checkpoint".into(),
            }
            .into());
        }
        prev = seq;
        let proof = line
            .proof
            .as_deref()
            .and_then(hashes)
            .ok_or_else(|| bad(i + 2, "a selection line needs its proof"))?;
        let leaf = merkle::leaf_hash(&entry.to_bytes());
        if !merkle::verify_inclusion(seq - 1, signed.size, &leaf, &proof, &signed.root) {
            return Err(Failure {
                seq: Some(seq),
                reason: "not in the signed log: its content or position was changed".into(),
            }
            .into());
        }
        count += 1;
        progress(count);
    }
    Ok(Report {
        origin: header.origin,
        proves: Proves::Inclusion,
        first: 0,
        entries: count,
        signatures_checked: 1 + u64::from(answered),
        incomplete: Vec::new(),
        checkpoint: Some(header.checkpoint),
        extends_checkpoint: if answered {
            external.map(|e| e.size)
        } else {
            None
        },
        selection: header.selection,
    })
}

fn unanswerable(size: u64, kind: &str) -> Rejected {
    Rejected::Unanswerable {
        why: format!(
            "this {kind} export carries no proof that the log extends a checkpoint of {size} entries"
        ),
        hint: "export again with `smv audit export --checkpoint FILE` (the header then carries that proof), or verify the log file itself (`smv audit backup FILE`, then `smv audit verify --log FILE`)".into(),
    }
}
