//! Exports for SIEMs and e-discovery, and their verification.
//!
//! JSON lines (`smv-audit-export/1`), verifiable offline with the log's public key. The
//! header carries the log's latest signed checkpoint; then either
//! - a contiguous range (no filter but time): the tree's right edge before the first entry,
//!   each entry with the tree root after it, and an RFC 6962 consistency proof from the
//!   range's end to the signed checkpoint; or
//! - a selection (filtered by account, member or action): each entry with its RFC 6962
//!   inclusion proof in the signed checkpoint.
//!
//! CSV is for spreadsheets and SIEM ingestion only: it carries no proofs.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::entry::Entry;
use super::key::checkpoint_note;
use super::merkle::{self, Frontier, Hash};
use super::note::NoteVerifier;
use super::store::{AuditLog, Filter, Stored};
use super::verify::{self, Failure, Report, Verifier};
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
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub entry: Entry,
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

fn parse_entry(row: &Stored) -> Result<Entry> {
    serde_json::from_slice(&row.body).map_err(|e| {
        Error::Internal(format!(
            "entry {} is unreadable ({e}); run `smv audit verify`",
            row.seq
        ))
    })
}

/// Writes a JSON-lines export; returns the number of entries.
pub fn write_jsonl(
    log: &AuditLog,
    pubkey: &str,
    filter: &Filter,
    out: &mut dyn Write,
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
    };
    let contiguous = filter.is_contiguous();
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
    let mut n = 0;
    for row in rows {
        let line = if contiguous {
            Line {
                entry: parse_entry(&row)?,
                root: Some(b64(&row.root)),
                proof: None,
            }
        } else {
            let proof = merkle::inclusion_proof(&leaves, row.seq - 1, latest.size)
                .ok_or_else(|| Error::Internal("inclusion proof".into()))?;
            Line {
                entry: parse_entry(&row)?,
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
    }
    Ok(n)
}

pub fn write_csv(log: &AuditLog, filter: &Filter, out: &mut dyn Write) -> Result<u64> {
    fn field(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    writeln!(
        out,
        "seq,time,actor,channel,action,target,outcome,reason,request_id,details"
    )
    .map_err(io)?;
    let entries = log.entries(filter)?;
    for e in &entries {
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
    }
    Ok(entries.len() as u64)
}

fn hashes(list: &[String]) -> Option<Vec<Hash>> {
    list.iter().map(|h| unb64(h)).collect()
}

/// Verifies a JSON-lines export with the log's public key (and optionally a checkpoint kept
/// elsewhere, which must fall inside a range export). `progress` gets the entries read.
pub fn verify_jsonl(
    input: &mut dyn BufRead,
    verifier: &NoteVerifier,
    external: Option<&str>,
    progress: &mut dyn FnMut(u64),
) -> std::result::Result<Report, Failure> {
    let bad = |line: usize, why: String| Failure {
        seq: None,
        reason: format!("export line {line}: {why}"),
    };
    let mut lines = input.lines();
    let header_text = lines
        .next()
        .ok_or_else(|| bad(1, "the export is empty".into()))?
        .map_err(|e| bad(1, e.to_string()))?;
    let header: Header = serde_json::from_str(&header_text)
        .map_err(|e| bad(1, format!("not an export header ({e})")))?;
    if header.format != FORMAT {
        return Err(bad(1, format!("unknown format {}", header.format)));
    }
    if header.pubkey != verifier.vkey() {
        return Err(bad(
            1,
            "the export names another public key than the one given".into(),
        ));
    }
    let signed = verify::external_checkpoint(&header.checkpoint, verifier, &header.origin)?;
    let external = external
        .map(|text| verify::external_checkpoint(text, verifier, &header.origin))
        .transpose()?;
    let read_line =
        |i: usize, text: std::io::Result<String>| -> std::result::Result<Line, Failure> {
            let text = text.map_err(|e| bad(i + 2, e.to_string()))?;
            serde_json::from_str(&text).map_err(|e| bad(i + 2, format!("unreadable ({e})")))
        };

    if let (Some(first), Some(frontier), Some(consistency)) =
        (header.first, &header.frontier, &header.consistency)
    {
        let start_hashes = hashes(frontier).ok_or_else(|| bad(1, "bad frontier hash".into()))?;
        let before = first
            .checked_sub(1)
            .ok_or_else(|| bad(1, "the first entry is numbered from 1".into()))?;
        let start = Frontier::from_parts(before, start_hashes)
            .ok_or_else(|| bad(1, "the frontier does not fit its size".into()))?;
        let proof = hashes(consistency).ok_or_else(|| bad(1, "bad consistency hash".into()))?;
        let mut v = Verifier::new(verifier, &header.origin, start, BTreeMap::new(), external);
        for (i, text) in lines.enumerate() {
            let line = read_line(i, text)?;
            let body = line.entry.to_bytes();
            let root = line
                .root
                .as_deref()
                .and_then(unb64)
                .ok_or_else(|| bad(i + 2, "a range export line needs its root".into()))?;
            v.push(Stored {
                seq: line.entry.seq,
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
            });
        }
        let mut report = v.report(Some(header.checkpoint.clone()))?;
        report.signatures_checked += 1;
        return Ok(report);
    }

    // A selection: each entry proven by inclusion in the signed checkpoint.
    let mut count = 0;
    let mut prev = 0;
    for (i, text) in lines.enumerate() {
        let line = read_line(i, text)?;
        let seq = line.entry.seq;
        if seq <= prev || seq > signed.size {
            return Err(Failure {
                seq: Some(seq),
                reason: "out of order, or beyond the signed checkpoint".into(),
            });
        }
        prev = seq;
        let proof = line
            .proof
            .as_deref()
            .and_then(hashes)
            .ok_or_else(|| bad(i + 2, "a selection line needs its proof".into()))?;
        let leaf = merkle::leaf_hash(&line.entry.to_bytes());
        if !merkle::verify_inclusion(seq - 1, signed.size, &leaf, &proof, &signed.root) {
            return Err(Failure {
                seq: Some(seq),
                reason: "not in the signed log: its content or position was changed".into(),
            });
        }
        count += 1;
        progress(count);
    }
    if let Some(ext) = external
        && ext.size > signed.size
    {
        return Err(Failure {
            seq: None,
            reason: "the export is older than the given checkpoint".into(),
        });
    }
    Ok(Report {
        origin: header.origin,
        first: 0,
        entries: count,
        signatures_checked: 1,
        incomplete: Vec::new(),
        checkpoint: Some(header.checkpoint),
        extends_checkpoint: None,
    })
}
