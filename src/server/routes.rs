//! The routes of [`crate::api::ROUTES`], each one call into the operations layer.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Extension, Json, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use serde::Serialize;

use super::{App, Peer, auth};
use crate::api::{self, Envelope, ErrorBody, ErrorDetail};
use crate::audit::Filter;
use crate::ops::{self, Ctx};
use crate::{Class, Error, Result, clock};

/// Requests are small: a post's text, a draft, a token's scope.
pub const MAX_BODY: usize = 64 * 1024;

type Shared = State<Arc<App>>;

/// The router, built from [`api::ROUTES`] in both directions: a route registered here that
/// the table lacks, or a table route not registered, stops the server at start (and fails
/// the unit test that builds it).
pub fn router(app: Arc<App>) -> axum::Router {
    Routes::default()
        .add("/v1/whoami", &["GET"], get(whoami))
        .add("/v1/status", &["GET"], get(status))
        .add("/v1/access", &["GET"], get(access))
        .add("/v1/accounts", &["GET"], get(accounts))
        .add("/v1/posts", &["GET", "POST"], get(posts).post(post_now))
        .add("/v1/posts/{seq}", &["GET"], get(post_show))
        .add("/v1/posts/retry", &["POST"], post(retry_post))
        .add("/v1/posts/{seq}/resolve", &["POST"], post(resolve_post))
        .add(
            "/v1/drafts",
            &["GET", "POST"],
            get(drafts).post(draft_create),
        )
        .add(
            "/v1/drafts/{id}",
            &["GET", "PUT"],
            get(draft_show).put(draft_edit),
        )
        .add("/v1/drafts/{id}/approve", &["POST"], post(approve))
        .add("/v1/drafts/{id}/reject", &["POST"], post(reject))
        .add("/v1/drafts/{id}/publish", &["POST"], post(publish))
        .add("/v1/freeze", &["POST"], post(freeze))
        .add("/v1/unfreeze", &["POST"], post(unfreeze))
        .add("/v1/queue", &["GET"], get(queue))
        .add("/v1/queue/{id}/cancel", &["POST"], post(queue_cancel))
        .add("/v1/queue/{id}/release", &["POST"], post(queue_release))
        .add("/v1/audit/entries", &["GET"], get(audit_entries))
        .add(
            "/v1/tokens",
            &["GET", "POST"],
            get(tokens).post(token_create),
        )
        .add("/v1/tokens/{accessor}", &["DELETE"], delete(token_revoke))
        // Before any body, query or path is looked at: a caller with no credentials, or one
        // that is throttled, learns nothing about the request's validity.
        .protect(axum::middleware::from_fn_with_state(app.clone(), gate))
        .add(
            "/v1/health",
            &["GET"],
            get(|| async { Json(serde_json::json!({"ok": true})) }),
        )
        .add(
            "/v1/openapi.json",
            &["GET"],
            get(|| async { Json(api::openapi()) }),
        )
        .finish()
        .fallback(|| async {
            failure(
                StatusCode::NOT_FOUND,
                "-",
                &Error::invalid("route", "no such route")
                    .with_hint("GET /v1/openapi.json lists the routes"),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

#[derive(Default)]
struct Routes {
    router: axum::Router<Arc<App>>,
    seen: HashSet<(&'static str, &'static str)>,
}

impl Routes {
    fn add(
        mut self,
        path: &'static str,
        methods: &[&'static str],
        h: MethodRouter<Arc<App>>,
    ) -> Routes {
        for &method in methods {
            assert!(
                api::ROUTES
                    .iter()
                    .any(|x| x.path == path && x.method == method),
                "{method} {path} is served but not in api::ROUTES"
            );
            self.seen.insert((method, path));
        }
        self.router = self.router.route(path, h);
        self
    }

    fn protect<L>(mut self, layer: L) -> Routes
    where
        L: tower::Layer<axum::routing::Route> + Clone + Send + Sync + 'static,
        L::Service: tower::Service<
                axum::extract::Request,
                Response = Response,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as tower::Service<axum::extract::Request>>::Future: Send + 'static,
    {
        self.router = self.router.route_layer(layer);
        self
    }

    fn finish(self) -> axum::Router<Arc<App>> {
        for route in api::ROUTES {
            assert!(
                self.seen.contains(&(route.method, route.path)),
                "{} {} is in api::ROUTES but not served",
                route.method,
                route.path
            );
        }
        self.router
    }
}

/// Who called, for the handlers: the shared state, the connection's peer and the headers
/// (for the credentials). Taken from the request parts, so it runs before the body is read.
struct Caller {
    app: Arc<App>,
    peer: Peer,
    headers: HeaderMap,
}

impl axum::extract::FromRequestParts<Arc<App>> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &Arc<App>,
    ) -> std::result::Result<Self, Response> {
        // Every connection's requests carry their peer (serve_connection inserts it).
        let peer = parts.extensions.get::<Peer>().cloned().ok_or_else(|| {
            failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "-",
                &Error::Internal("a request without its connection's peer".into()),
            )
        })?;
        Ok(Caller {
            app: app.clone(),
            peer,
            headers: parts.headers.clone(),
        })
    }
}

impl Caller {
    async fn run<T, F>(self, route: &'static str, f: F) -> Response
    where
        T: Serialize + Send + 'static,
        F: FnOnce(&mut Ctx) -> Result<T> + Send + 'static,
    {
        self.app.run(&self.peer, &self.headers, route, f).await
    }
}

/// Refuses, before extraction, a request with no credentials at all, and one from a
/// throttled peer whose credentials the vault does not accept (429, unaudited). Valid
/// credentials pass a throttled peer's gate, so guessing from an address does not lock out
/// the honest clients behind it. Otherwise whether a token is valid is for the vault to
/// say, inside the operation.
async fn gate(
    State(app): Shared,
    Extension(peer): Extension<Peer>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let key = peer.key();
    let principal = match auth::principal(req.headers(), &peer, &app.uids) {
        Ok(p) => p,
        Err(e) => {
            if let Some(wait) = app.throttle.blocked(&key) {
                return throttled(&key, req.uri().path(), wait);
            }
            app.throttle.failed(&key);
            tracing::info!(event = "request", path = req.uri().path(), peer = %key, status = 401, "no credentials");
            return failure(StatusCode::UNAUTHORIZED, "-", &e);
        }
    };
    if let Some(wait) = app.throttle.blocked(&key)
        && !app.accepts(principal).await
    {
        return throttled(&key, req.uri().path(), wait);
    }
    next.run(req).await
}

/// 429 with `Retry-After`: busy (exit 8 on the client), not a conflict.
fn throttled(key: &str, path: &str, wait: std::time::Duration) -> Response {
    tracing::warn!(event = "throttled", peer = %key, path);
    let wait_secs = wait.as_secs() + 1;
    let mut resp = failure(
        StatusCode::TOO_MANY_REQUESTS,
        "-",
        &Error::Throttled { wait_secs },
    );
    if let Ok(v) = HeaderValue::from_str(&wait_secs.to_string()) {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}

impl App {
    /// Whether the vault accepts these credentials now, recording nothing: asked only for a
    /// caller from a throttled address.
    async fn accepts(self: &Arc<Self>, principal: ops::Principal) -> bool {
        let (settings, store) = (self.settings.clone(), self.store.clone());
        tokio::task::spawn_blocking(move || {
            Ctx::acting(settings, store, principal, "-".into())
                .accepted()
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    /// Runs one operation for the caller on the blocking pool, logs one line, answers.
    async fn run<T, F>(
        self: &Arc<Self>,
        peer: &Peer,
        headers: &HeaderMap,
        route: &'static str,
        f: F,
    ) -> Response
    where
        T: Serialize + Send + 'static,
        F: FnOnce(&mut Ctx) -> Result<T> + Send + 'static,
    {
        let started = Instant::now();
        let request_id = crate::ids::random_hex(8);
        let key = peer.key();
        // The gate has checked that credentials are there and the peer is not throttled.
        let principal = match auth::principal(headers, peer, &self.uids) {
            Ok(p) => p,
            Err(e) => return failure(StatusCode::UNAUTHORIZED, &request_id, &e),
        };
        let (settings, store, rid) = (
            self.settings.clone(),
            self.store.clone(),
            request_id.clone(),
        );
        let job = tokio::task::spawn_blocking(move || {
            let mut ctx = Ctx::acting(settings, store, principal, rid);
            let result = f(&mut ctx);
            (
                result,
                ctx.channel().to_string(),
                std::mem::take(&mut ctx.warnings),
            )
        });
        // A request past its time gets 503; the operation itself runs to its end (a post
        // being sent is finished and audited), it only loses its answer.
        let (result, channel, warnings) = match tokio::time::timeout(self.request_timeout, job)
            .await
        {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                tracing::error!(event = "request", request_id, route, status = 500, error = %e);
                return failure(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &request_id,
                    &Error::Internal("the operation panicked".into()),
                );
            }
            Err(_) => {
                tracing::warn!(
                    event = "request",
                    request_id,
                    route,
                    status = 503,
                    "timed out"
                );
                // A post still under way may be published: its outcome is unknown to the
                // caller (exit 12), not a reason to try again.
                let sends = matches!(route, "posts" | "posts.retry" | "drafts.publish");
                let error = if sends {
                    Error::Remote {
                            class: Class::Unknown,
                            message: format!(
                                "the server did not finish this post within {} s: it is still being sent, and may be published",
                                self.request_timeout.as_secs()
                            ),
                            hint: Some(
                                "do not post it again blindly: with an --idempotency-key (or `smv post --retry KEY`), the same command again answers from the server's log once the post is done (and posts nothing twice); `smv status` lists unknown outcomes".into(),
                            ),
                        }
                } else {
                    Error::Remote {
                        class: Class::Busy,
                        message: format!(
                            "the server did not finish this request within {} s",
                            self.request_timeout.as_secs()
                        ),
                        hint: Some(
                            "it may still complete: check `smv audit log` before trying again"
                                .into(),
                        ),
                    }
                };
                return failure(status_of(&error), &request_id, &error);
            }
        };
        let ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(v) => {
                tracing::info!(
                    event = "request",
                    request_id,
                    route,
                    channel,
                    status = 200,
                    ms
                );
                Json(Envelope {
                    request_id,
                    warnings,
                    result: v,
                })
                .into_response()
            }
            Err(e) => {
                if matches!(e, Error::Unauthenticated) {
                    self.throttle.failed(&key);
                }
                let status = status_of(&e);
                tracing::info!(
                    event = "request",
                    request_id,
                    route,
                    channel,
                    status = status.as_u16(),
                    class = e.class().name(),
                    ms
                );
                failure(status, &request_id, &e)
            }
        }
    }
}

fn status_of(e: &Error) -> StatusCode {
    if matches!(e, Error::Unauthenticated) {
        return StatusCode::UNAUTHORIZED;
    }
    match e.class() {
        Class::Usage => StatusCode::BAD_REQUEST,
        Class::NotFound => StatusCode::NOT_FOUND,
        Class::Denied => StatusCode::FORBIDDEN,
        Class::Conflict => StatusCode::CONFLICT,
        Class::Busy => StatusCode::SERVICE_UNAVAILABLE,
        Class::Provider => StatusCode::BAD_GATEWAY,
        // A post's outcome is unknown, or a retry is blocked by one: a state to resolve, not
        // a transient failure (a 5xx could invite an HTTP client to retry the post).
        Class::Unknown => StatusCode::CONFLICT,
        // `account check` only, which does not run through the proxy.
        Class::Unproved => StatusCode::CONFLICT,
        // (The server does not watch signals this way; a stopped operation is unavailable.)
        Class::Interrupted => StatusCode::SERVICE_UNAVAILABLE,
        Class::Identity | Class::Vault | Class::Io | Class::Tampered | Class::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

fn failure(status: StatusCode, request_id: &str, e: &Error) -> Response {
    let class = e.class();
    (
        status,
        Json(ErrorBody {
            request_id: request_id.to_string(),
            error: ErrorDetail {
                class: class.name().to_string(),
                code: class.exit_code(),
                message: e.to_string(),
                hint: e.hint(),
            },
        }),
    )
        .into_response()
}

/// A body, query or path the extractor refused: the same error shape as everything else.
fn rejected(status: StatusCode, what: &'static str, why: String) -> Response {
    failure(
        status,
        "-",
        &Error::invalid(what, why).with_hint("GET /v1/openapi.json describes every request"),
    )
}

macro_rules! take {
    ($x:expr, $what:literal) => {
        match $x {
            Ok(v) => v.0,
            Err(e) => return rejected(e.status(), $what, e.body_text()),
        }
    };
}

/// A path's id, checked before anything else sees it (an id is all that may reach an audit
/// target or a log line): 400 otherwise.
macro_rules! id {
    ($x:expr, $kind:expr) => {
        match ops::check_id($kind, &$x) {
            Ok(()) => $x,
            Err(e) => return failure(StatusCode::BAD_REQUEST, "-", &e),
        }
    };
}

type Body<T> = std::result::Result<Json<T>, JsonRejection>;
type Q<T> = std::result::Result<Query<T>, QueryRejection>;
type P = std::result::Result<Path<String>, PathRejection>;

async fn whoami(c: Caller) -> Response {
    c.run("whoami", ops::whoami).await
}

async fn status(c: Caller) -> Response {
    c.run("status", ops::status).await
}

async fn access(c: Caller) -> Response {
    c.run("access", ops::access).await
}

async fn accounts(c: Caller) -> Response {
    c.run("accounts", ops::account_list).await
}

/// `at` set: schedule (answers the queued entries); otherwise post now (answers receipts).
#[derive(Serialize)]
#[serde(untagged)]
pub enum Posted {
    Sent(Vec<ops::PostResult>),
    Scheduled(Vec<crate::vault::Queued>),
}

async fn post_now(c: Caller, body: Body<api::PostRequest>) -> Response {
    let req = take!(body, "post request");
    c.run("posts", move |ctx| match &req.at {
        Some(at) => Ok(Posted::Scheduled(ops::schedule_post(
            ctx,
            &req.targets,
            &req.text,
            clock::parse_time(at)?,
        )?)),
        None => {
            let opts = ops::PostOptions {
                dry_run: req.dry_run,
                idempotency_key: req.idempotency_key.clone(),
            };
            Ok(Posted::Sent(ops::post(
                ctx,
                &req.targets,
                &req.text,
                &opts,
            )?))
        }
    })
    .await
}

async fn retry_post(c: Caller, body: Body<api::RetryRequest>) -> Response {
    let req = take!(body, "retry request");
    c.run("posts.retry", move |ctx| {
        ops::retry_post(ctx, &req.key, req.dry_run, &mut |_| {})
    })
    .await
}

async fn resolve_post(c: Caller, seq: P, body: Body<api::ResolveRequest>) -> Response {
    let seq = take!(seq, "audit seq");
    // Digits only, checked before anything sees it (like an id).
    let Some(seq) = seq
        .parse::<u64>()
        .ok()
        .filter(|_| !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()))
    else {
        return failure(
            StatusCode::BAD_REQUEST,
            "-",
            &Error::invalid("audit seq", "not a number")
                .with_hint("the post's audit seq (its report's audit column) or its intent's (`smv status` lists them)"),
        );
    };
    let req = take!(body, "resolve request");
    c.run("posts.resolve", move |ctx| ops::resolve_post(ctx, seq, req))
        .await
}

async fn posts(c: Caller, q: Q<ops::PostsFilter>) -> Response {
    let filter = take!(q, "query");
    c.run("posts.list", move |ctx| {
        ops::posts(ctx, &filter, &mut |_, _| {})
    })
    .await
}

async fn post_show(c: Caller, seq: P) -> Response {
    let seq = take!(seq, "post");
    let Ok(seq) = seq.parse::<u64>() else {
        return failure(
            StatusCode::BAD_REQUEST,
            "-",
            &crate::Error::invalid("post", "not an audit entry number"),
        );
    };
    c.run("posts.show", move |ctx| ops::post_show(ctx, seq))
        .await
}

async fn drafts(c: Caller, q: Q<api::DraftQuery>) -> Response {
    let q = take!(q, "query");
    c.run("drafts", move |ctx| {
        ops::drafts(
            ctx,
            &ops::DraftFilter {
                account: q.account,
                mine: q.mine,
                all: q.all,
            },
        )
    })
    .await
}

async fn draft_create(c: Caller, body: Body<api::DraftRequest>) -> Response {
    let req = take!(body, "draft request");
    c.run("drafts.create", move |ctx| {
        ops::draft_create(ctx, &req.targets, &req.text)
    })
    .await
}

async fn draft_show(c: Caller, id: P) -> Response {
    let id = take!(id, "draft id");
    let id = id!(id, ops::IdKind::Draft);
    c.run("drafts.show", move |ctx| ops::draft_show(ctx, &id))
        .await
}

async fn draft_edit(c: Caller, id: P, body: Body<api::EditRequest>) -> Response {
    let id = take!(id, "draft id");
    let id = id!(id, ops::IdKind::Draft);
    let req = take!(body, "edit request");
    c.run("drafts.edit", move |ctx| {
        ops::draft_edit(ctx, &id, &req.text)
    })
    .await
}

async fn approve(c: Caller, id: P) -> Response {
    let id = take!(id, "draft id");
    let id = id!(id, ops::IdKind::Draft);
    c.run("drafts.approve", move |ctx| ops::approve(ctx, &id))
        .await
}

async fn reject(c: Caller, id: P, body: Body<api::RejectRequest>) -> Response {
    let id = take!(id, "draft id");
    let id = id!(id, ops::IdKind::Draft);
    let req = take!(body, "reject request");
    c.run("drafts.reject", move |ctx| {
        ops::reject(ctx, &id, req.reason.as_deref())
    })
    .await
}

async fn publish(c: Caller, id: P, body: Body<api::PublishRequest>) -> Response {
    let id = take!(id, "draft id");
    let id = id!(id, ops::IdKind::Draft);
    let req = take!(body, "publish request");
    c.run("drafts.publish", move |ctx| match &req.at {
        Some(at) => Ok(Posted::Scheduled(ops::schedule_draft(
            ctx,
            &id,
            clock::parse_time(at)?,
        )?)),
        None => Ok(Posted::Sent(ops::publish(ctx, &id, req.dry_run)?)),
    })
    .await
}

fn scope(account: Option<String>) -> ops::Scope {
    account.map_or(ops::Scope::All, ops::Scope::Account)
}

async fn freeze(c: Caller, body: Body<api::FreezeRequest>) -> Response {
    let req = take!(body, "freeze request");
    c.run("freeze", move |ctx| {
        let secs = req.for_.as_deref().map(clock::parse_duration).transpose()?;
        let mut frozen = ops::freeze(ctx, &scope(req.account), &req.reason, secs)?;
        // One account (or every account): the freeze, as before; several: the list.
        match frozen.len() {
            1 => serde_json::to_value(frozen.remove(0)),
            _ => serde_json::to_value(frozen),
        }
        .map_err(|e| crate::Error::Internal(e.to_string()))
    })
    .await
}

async fn unfreeze(c: Caller, body: Body<api::UnfreezeRequest>) -> Response {
    let req = take!(body, "unfreeze request");
    c.run("unfreeze", move |ctx| {
        ops::unfreeze(ctx, &scope(req.account))
    })
    .await
}

async fn queue(c: Caller, q: Q<api::AllQuery>) -> Response {
    let q = take!(q, "query");
    c.run("queue", move |ctx| ops::queue_list(ctx, q.all)).await
}

async fn queue_cancel(c: Caller, id: P) -> Response {
    let id = take!(id, "queue id");
    let id = id!(id, ops::IdKind::Queued);
    c.run("queue.cancel", move |ctx| ops::queue_cancel(ctx, &id))
        .await
}

async fn queue_release(c: Caller, id: P) -> Response {
    let id = take!(id, "queue id");
    let id = id!(id, ops::IdKind::Queued);
    c.run("queue.release", move |ctx| ops::queue_release(ctx, &id))
        .await
}

async fn audit_entries(c: Caller, q: Q<Filter>) -> Response {
    let filter = take!(q, "query");
    c.run("audit.entries", move |ctx| ops::audit_log(ctx, &filter))
        .await
}

async fn tokens(c: Caller, q: Q<api::AllQuery>) -> Response {
    let q = take!(q, "query");
    c.run("tokens", move |ctx| ops::token_list(ctx, q.all))
        .await
}

async fn token_create(c: Caller, body: Body<api::TokenRequest>) -> Response {
    let req = take!(body, "token request");
    c.run("tokens.create", move |ctx| {
        let (record, whole) = ops::token_create(ctx, req.spec()?)?;
        // The one place a token crosses the wire: in the answer to its creator, once.
        let token = zeroize::Zeroizing::new(
            String::from_utf8_lossy(whole.expose_to_provider()).into_owned(),
        );
        Ok(api::Minted { record, token })
    })
    .await
}

async fn token_revoke(c: Caller, accessor: P, q: Q<api::RevokeQuery>) -> Response {
    let accessor = take!(accessor, "token accessor");
    let accessor = id!(accessor, ops::IdKind::Token);
    let q = take!(q, "query");
    c.run("tokens.revoke", move |ctx| {
        ops::token_revoke(ctx, &accessor, q.reason.as_deref())
    })
    .await
}
