//! What an audit entry says.

use serde::{Deserialize, Serialize};

/// How the actor reached smv.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "id")]
pub enum Channel {
    /// The CLI opened the vault with a custodian's identity.
    Local,
    /// Through `smv serve`, authenticated by the peer's uid on a Unix socket.
    Proxy,
    /// Through `smv serve` with an API token (its non-secret accessor id).
    Token(String),
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Channel::Local => f.write_str("local"),
            Channel::Proxy => f.write_str("proxy"),
            Channel::Token(id) => write!(f, "token:{id}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Written before the action's effect; followed by an outcome with the same request id.
    Intent,
    Ok,
    Denied,
    Failed,
    /// A request was sent to a network and no trustworthy answer came back (a timeout or a
    /// reset after sending, a success without the post's id): it may have taken effect.
    /// Resolved later by a `post.resolve` entry that names its intent.
    Unknown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Intent => "intent",
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }
}

/// What the operations layer asks to record. Never holds a secret: where an entry must refer
/// to one, `details` carries its keyed fingerprint.
#[derive(Debug, Clone)]
pub struct Record {
    pub actor: String,
    pub channel: Channel,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub request_id: String,
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// An entry as stored: a record with its sequence number and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub channel: Channel,
    pub action: String,
    pub target: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl Entry {
    pub fn from_record(seq: u64, time: String, r: &Record) -> Entry {
        Entry {
            seq,
            time,
            actor: r.actor.clone(),
            channel: r.channel.clone(),
            action: r.action.clone(),
            target: r.target.clone(),
            outcome: r.outcome,
            reason: r.reason.clone(),
            request_id: r.request_id.clone(),
            details: r.details.clone(),
        }
    }

    /// The bytes that are stored and hashed: serde_json with the struct's field order, and
    /// `details` keys sorted (serde_json's Map is a BTreeMap). Deterministic for a given entry.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an audit entry always serialises")
    }
}
