//! The proxy's HTTP API, as both sides see it: the routes and the request bodies.
//!
//! `smv serve` ([`crate::server`]) answers these routes by calling the operations layer;
//! the client ([`crate::client`]) sends them. Both use the types below, so the wire format is
//! written once. Responses are the operations' own result types (the ones `--json` prints),
//! wrapped in an [`Envelope`]; errors carry the CLI's class, message and hint, so a command
//! run through the proxy prints the same thing and exits with the same code as locally.

use serde::{Deserialize, Serialize};

/// The answers' types: the operations' own result types (what `--json` prints), named here
/// so that the client depends on this module only (a layering rule, tested in
/// tests/layering.rs).
pub use crate::audit::{Entry, Filter};
pub use crate::ops::{
    AccessReport, AccountView, DraftFilter, DraftView, PostOptions, PostRecord, PostResult,
    PostsFilter, Resolution, Resolved, Scope, Status, TokenView, WhoAmI,
};
pub use crate::vault::{Freeze, Queued, Token};

/// Every route: method, path (axum syntax), what it does, and whether it needs credentials.
/// The server registers exactly these (it refuses to start otherwise) and `openapi.json` is
/// generated from them, so the document cannot drift from the routes.
pub const ROUTES: &[Route] = &[
    route(
        "GET",
        "/v1/health",
        "Liveness: answers without credentials",
        None,
        false,
    ),
    route("GET", "/v1/openapi.json", "This document", None, false),
    route(
        "GET",
        "/v1/whoami",
        "The member the credentials act as",
        None,
        true,
    ),
    route(
        "GET",
        "/v1/status",
        "Freezes and the number of pending drafts and posts",
        None,
        true,
    ),
    route(
        "GET",
        "/v1/access",
        "Who may do what on which account (the caller's view)",
        None,
        true,
    ),
    route(
        "GET",
        "/v1/accounts",
        "Accounts and the caller's level on each",
        None,
        true,
    ),
    route(
        "POST",
        "/v1/posts",
        "Post now, or schedule with `at`",
        Some("PostRequest"),
        true,
    ),
    route(
        "POST",
        "/v1/posts/retry",
        "Send a post again by its idempotency key, with its recorded text, to its accounts where it certainly failed (never where it was published or may be live)",
        Some("RetryRequest"),
        true,
    ),
    route(
        "POST",
        "/v1/posts/{seq}/resolve",
        "Say what became of a post whose outcome is unknown (seq: the post's audit entry as its report shows it, or its intent's)",
        Some("ResolveRequest"),
        true,
    ),
    route(
        "GET",
        "/v1/posts",
        "What was posted, newest first, from the audit log (query: account, member, since, until, text, limit); the caller's accounts only unless they read the audit log",
        None,
        true,
    ),
    route(
        "GET",
        "/v1/posts/{seq}",
        "One post by its audit entry: the exact text and receipt",
        None,
        true,
    ),
    route(
        "GET",
        "/v1/drafts",
        "Drafts (query: account, mine, all)",
        None,
        true,
    ),
    route(
        "POST",
        "/v1/drafts",
        "Create a draft",
        Some("DraftRequest"),
        true,
    ),
    route("GET", "/v1/drafts/{id}", "One draft", None, true),
    route(
        "PUT",
        "/v1/drafts/{id}",
        "Edit a draft's text (clears its approvals)",
        Some("EditRequest"),
        true,
    ),
    route(
        "POST",
        "/v1/drafts/{id}/approve",
        "Approve a draft's current text",
        None,
        true,
    ),
    route(
        "POST",
        "/v1/drafts/{id}/reject",
        "Reject a draft",
        Some("RejectRequest"),
        true,
    ),
    route(
        "POST",
        "/v1/drafts/{id}/publish",
        "Publish an approved draft, or schedule it with `at`",
        Some("PublishRequest"),
        true,
    ),
    route(
        "POST",
        "/v1/freeze",
        "Stop all posting to one account or to every account",
        Some("FreezeRequest"),
        true,
    ),
    route(
        "POST",
        "/v1/unfreeze",
        "Lift a freeze",
        Some("UnfreezeRequest"),
        true,
    ),
    route(
        "GET",
        "/v1/queue",
        "Scheduled and held posts (query: all)",
        None,
        true,
    ),
    route(
        "POST",
        "/v1/queue/{id}/cancel",
        "Cancel a scheduled post",
        None,
        true,
    ),
    route(
        "POST",
        "/v1/queue/{id}/release",
        "Send a held post at the next run",
        None,
        true,
    ),
    route(
        "GET",
        "/v1/audit/entries",
        "Audit entries (query: account, member, action, since, until)",
        None,
        true,
    ),
    route(
        "GET",
        "/v1/tokens",
        "API tokens (query: all); never a token's secret",
        None,
        true,
    ),
    route(
        "POST",
        "/v1/tokens",
        "Mint a token (shown once, in this answer only); refused for a caller with a token or a mapped Unix peer: tokens never mint tokens",
        Some("TokenRequest"),
        true,
    ),
    route(
        "DELETE",
        "/v1/tokens/{accessor}",
        "Revoke a token",
        None,
        true,
    ),
];

pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub body: Option<&'static str>,
    pub auth: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    auth: bool,
) -> Route {
    Route {
        method,
        path,
        summary,
        body,
        auth,
    }
}

/// Every successful answer: the operation's result, the warnings the CLI would print on
/// stderr, and the request id that the audit entries and the server's log lines carry.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub request_id: String,
    #[serde(default)]
    pub warnings: Vec<String>,
    pub result: T,
}

/// Every error answer (4xx, 5xx).
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub request_id: String,
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The error class (`denied`, `not_found`…); its exit code is `code`.
    pub class: String,
    pub code: i32,
    pub message: String,
    pub hint: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostRequest {
    /// Accounts and groups, comma-separated (as `smv post ACCOUNTS`).
    pub targets: String,
    pub text: String,
    #[serde(default)]
    pub dry_run: bool,
    pub idempotency_key: Option<String>,
    /// Schedule instead of posting now: an RFC 3339 time, or as `--at` accepts.
    pub at: Option<String>,
}

/// `POST /v1/posts/retry`: `smv post --retry KEY`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    /// The idempotency key of the post (given, or printed with its results).
    pub key: String,
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /v1/posts/{seq}/resolve`: `{"resolution": "published", "url": …}` or
/// `{"resolution": "not_published", "reason": …}`.
pub type ResolveRequest = crate::ops::Resolution;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftRequest {
    pub targets: String,
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditRequest {
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// Needed for a rejection; optional when the author withdraws their own draft.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRequest {
    #[serde(default)]
    pub dry_run: bool,
    pub at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    /// None: every account.
    pub account: Option<String>,
    pub reason: String,
    /// How long, as `2h`, `3d`; None: until lifted.
    #[serde(rename = "for")]
    pub for_: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnfreezeRequest {
    pub account: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub name: String,
    pub accounts: String,
    pub level: crate::access::Level,
    /// As `90d`.
    pub expires: String,
    #[serde(default)]
    pub ci: bool,
    /// Mint for another member (admins only).
    pub owner: Option<String>,
}

impl TokenRequest {
    /// The operation's arguments (shared by the server route and the local CLI).
    pub fn spec(&self) -> crate::Result<crate::ops::TokenSpec<'_>> {
        Ok(crate::ops::TokenSpec {
            name: &self.name,
            accounts: &self.accounts,
            level: self.level,
            expires_in_secs: crate::clock::parse_duration(&self.expires)?,
            kind: if self.ci {
                crate::vault::TokenKind::Ci
            } else {
                crate::vault::TokenKind::Personal
            },
            owner: self.owner.as_deref(),
        })
    }
}

/// A minted token: the record and, once, the token itself. Its `Debug` shows the record
/// only.
#[derive(Serialize, Deserialize)]
pub struct Minted {
    #[serde(flatten)]
    pub record: crate::vault::Token,
    /// Wiped when dropped.
    pub token: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for Minted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted")
            .field("record", &self.record)
            .field("token", &"[REDACTED]")
            .finish()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct DraftQuery {
    pub account: Option<String>,
    #[serde(default)]
    pub mine: bool,
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct AllQuery {
    #[serde(default)]
    pub all: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RevokeQuery {
    pub reason: Option<String>,
}

/// The OpenAPI 3.1 document for [`ROUTES`].
pub fn openapi() -> serde_json::Value {
    use serde_json::{Map, Value, json};
    let mut paths = Map::new();
    for r in ROUTES {
        let mut op = Map::new();
        op.insert("summary".into(), r.summary.into());
        op.insert(
            "operationId".into(),
            format!("{} {}", r.method.to_lowercase(), r.path).into(),
        );
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), params.into());
        }
        if let Some(body) = r.body {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{body}")}}}}),
            );
        }
        if r.auth {
            op.insert("security".into(), json!([{"token": []}, {"peer": []}]));
        } else {
            op.insert("security".into(), json!([]));
        }
        op.insert(
            "responses".into(),
            json!({
                "200": {"description": "The operation's result in an envelope", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}},
                "default": {"description": "An error with its class, exit code and hint", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
            }),
        );
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[r.method.to_lowercase()] = Value::Object(op);
    }
    let string = json!({"type": "string"});
    let opt_string = json!({"type": ["string", "null"]});
    let boolean = json!({"type": "boolean"});
    let object = |props: Value, required: &[&str]| json!({"type": "object", "additionalProperties": false, "properties": props, "required": required});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "smv proxy", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Post to company social accounts through smv without holding their secrets. Every route answers as the smv CLI would: the same rules, the same audit entries."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "An smv API token (`smv token create`)"},
                "peer": {"type": "apiKey", "in": "header", "name": "X-Smv-Unix-Peer", "description": "Not a header: on a Unix socket, the peer's uid mapped with `smv serve --uid UID=MEMBER`"}
            },
            "schemas": {
                "Envelope": object(json!({"request_id": string, "warnings": {"type": "array", "items": string}, "result": {}}), &["request_id", "result"]),
                "ErrorBody": object(json!({"request_id": string, "error": object(json!({"class": string, "code": {"type": "integer"}, "message": string, "hint": opt_string}), &["class", "code", "message"])}), &["request_id", "error"]),
                "PostRequest": object(json!({"targets": string, "text": string, "dry_run": boolean, "idempotency_key": opt_string, "at": opt_string}), &["targets", "text"]),
                "RetryRequest": object(json!({"key": string, "dry_run": boolean}), &["key"]),
                "DraftRequest": object(json!({"targets": string, "text": string}), &["targets", "text"]),
                "ResolveRequest": {"oneOf": [
                    object(json!({"resolution": {"const": "published"}, "url": string}), &["resolution", "url"]),
                    object(json!({"resolution": {"const": "not_published"}, "reason": string}), &["resolution", "reason"]),
                ]},
                "EditRequest": object(json!({"text": string}), &["text"]),
                "RejectRequest": object(json!({"reason": opt_string}), &[]),
                "PublishRequest": object(json!({"dry_run": boolean, "at": opt_string}), &[]),
                "FreezeRequest": object(json!({"account": opt_string, "reason": string, "for": opt_string}), &["reason"]),
                "UnfreezeRequest": object(json!({"account": opt_string}), &[]),
                "TokenRequest": object(json!({"name": string, "accounts": string, "level": {"enum": ["draft", "post", "approve", "manage"]}, "expires": string, "ci": boolean, "owner": opt_string}), &["name", "accounts", "level", "expires"]),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minted_token_prints_its_record_only() {
        let minted: Minted = serde_json::from_value(serde_json::json!({
            "accessor": "t0123abcd",
            "name": "ci",
            "owner": "bob",
            "kind": "ci",
            "level": "post",
            "accounts": ["x-main"],
            "created_at": "2026-01-01T00:00:00Z",
            "created_by": "alice",
            "expires_at": "2026-02-01T00:00:00Z",
            "revoked_at": null,
            "revoked_by": null,
            "reason": null,
            "token": "smv_t0123abcd_CANARYsecretpart",
        }))
        .unwrap();
        assert_eq!(minted.token.as_str(), "smv_t0123abcd_CANARYsecretpart");
        let shown = format!("{minted:?} {minted:#?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(shown.contains("t0123abcd") && shown.contains("[REDACTED]"));
        // The wire format is unchanged: the token once, beside the record.
        let back = serde_json::to_value(&minted).unwrap();
        assert_eq!(back["token"], "smv_t0123abcd_CANARYsecretpart");
        assert_eq!(back["accessor"], "t0123abcd");
    }
}
