//! The client side of the proxy: the same operations as [`crate::ops`], answered by an
//! `smv serve` that holds the vault. Each method returns the very type the local operation
//! returns, so the CLI renders both the same way; errors come back with the server's class,
//! message and hint, so the exit code is the same too.

use std::time::Duration;

use reqwest::Method;
use reqwest::blocking::{Client as Http, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{
    self, AccessReport, AccountView, DraftFilter, DraftView, Entry, Envelope, ErrorBody, Filter,
    Freeze, PostOptions, PostRecord, PostResult, PostsFilter, Queued, Resolution, Resolved, Scope,
    Status, Token, TokenView, WhoAmI,
};
use crate::secret::Secret;
use crate::settings::Settings;
use crate::{Class, Error, Result};

/// Where the proxy is: `http://127.0.0.1:7878`, `https://smv.example.com`, `unix:/run/smv.sock`.
pub struct Client {
    http: Http,
    base: String,
    server: String,
    token: Option<Secret>,
    /// The warnings the server's operation produced (the CLI prints them on stderr).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl Client {
    /// `server` as in `SMV_SERVER`; `ca`: a PEM file with the only CA to trust for https
    /// (`SMV_SERVER_CA`), for a server with its own certificate.
    pub fn new(
        server: &str,
        ca: Option<&std::path::Path>,
        token: Option<Secret>,
    ) -> Result<Client> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bad = |why: &str| {
            Error::invalid("server", format!("`{server}`: {why}")).with_hint(
                "set SMV_SERVER (or `server` in config.toml) to http://127.0.0.1:PORT, https://HOST or unix:/PATH",
            )
        };
        let mut builder = Http::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            // A post waits for the network behind the proxy: allow it the server's own limit.
            .timeout(Duration::from_secs(90))
            .user_agent(concat!("smv/", env!("CARGO_PKG_VERSION")));
        let base = if let Some(path) = server.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(bad("no socket path"));
            }
            builder = builder.unix_socket(path);
            "http://localhost".to_string()
        } else if server.starts_with("https://") {
            server.trim_end_matches('/').to_string()
        } else if let Some(rest) = server.strip_prefix("http://") {
            // Tokens in clear only to this machine.
            let host = rest.split(['/', ':']).next().unwrap_or("");
            let loopback = host == "localhost"
                || host == "[::1]"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if !loopback {
                return Err(bad(
                    "plain http is only for a server on this machine (a token would cross the network in clear)",
                ));
            }
            server.trim_end_matches('/').to_string()
        } else {
            return Err(bad("not an http://, https:// or unix: address"));
        };
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|e| Error::io("read", ca, e))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                Error::invalid("SMV_SERVER_CA", format!("{}: {e}", ca.display())).with_hint(
                    "give the PEM file of the CA (or self-signed certificate) the server uses",
                )
            })?;
            builder = builder.tls_certs_only([cert]);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            server: server.to_string(),
            token,
            warnings: Vec::new(),
        })
    }

    /// The client for these settings: `SMV_SERVER`/`server`, with `SMV_TOKEN` or the token
    /// `smv login` stored in the keyring for that server. On a Unix socket a token is
    /// optional (the server may know the caller by uid).
    pub fn from_settings(settings: &Settings, server: &str) -> Result<Client> {
        let token = match settings.env.token() {
            // The same canonical form as `smv login` keeps (a trailing newline from a
            // secret store removed; control characters refused).
            Some(t) => Some(
                Secret::from_input(t.expose_to_provider().to_vec())
                    .and_then(|t| {
                        t.require_shape(crate::secret::Shape::Line, "token")
                            .map(|()| t)
                    })
                    .map_err(|e| e.with_hint("check SMV_TOKEN: it holds the token alone"))?,
            ),
            None => match settings
                .keyring
                .then(|| crate::identity::keyring::load_token(server))
                .transpose()?
                .flatten()
            {
                Some(t) => Some(t),
                // `smv login SERVER --file`, where no keyring is usable.
                None => crate::identity::token_file::load(&settings.server_tokens, server)?,
            },
        };
        if token.is_none() && !server.starts_with("unix:") {
            return Err(
                Error::invalid("token", format!("no token for {server}")).with_hint(format!(
                    "log in with `smv login {server}` (`--file` where there is no keyring), or set SMV_TOKEN (CI)"
                )),
            );
        }
        Client::new(server, settings.server_ca.as_deref(), token)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            // The header value is built from the secret's bytes and handed to reqwest only.
            let mut value = b"Bearer ".to_vec();
            value.extend_from_slice(t.expose_to_provider());
            if let Ok(mut v) = reqwest::header::HeaderValue::from_bytes(&value) {
                v.set_sensitive(true);
                req = req.header(reqwest::header::AUTHORIZATION, v);
            }
            zeroize::Zeroize::zeroize(&mut value);
        }
        req
    }

    fn send<T: DeserializeOwned>(&mut self, req: RequestBuilder) -> Result<T> {
        self.send_as(req, false)
    }

    /// `sends`: the request makes the server post to a network. If it left and no answer
    /// came back (a timeout or a reset after connecting), the post may have gone out: an
    /// unknown outcome (exit 12), never "cannot reach the server".
    fn send_as<T: DeserializeOwned>(&mut self, req: RequestBuilder, sends: bool) -> Result<T> {
        let resp = req.send().map_err(|e| self.lost(e, sends))?;
        let status = resp.status();
        let bytes = resp.bytes().map_err(|e| self.lost(e, sends))?;
        if status.is_success() {
            let env: Envelope<T> = serde_json::from_slice(&bytes).map_err(|e| {
                Error::Internal(format!(
                    "the server's answer is not what this smv expects: {e}"
                ))
            })?;
            self.warnings.extend(env.warnings);
            return Ok(env.result);
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(remote_error(body)),
            // Throttled by something in front of the server: busy, try again later.
            Err(_) if status.as_u16() == 429 => Err(Error::Remote {
                class: Class::Busy,
                message: format!("the server at {} is refusing requests for now (429)", self.server),
                hint: Some("wait a minute and try again; check the token".into()),
            }),
            Err(_) => Err(Error::Remote {
                class: Class::Internal,
                message: format!("the server at {} answered {status}", self.server),
                hint: Some("is SMV_SERVER an smv server? `curl SERVER/v1/health` should answer {\"ok\":true}".into()),
            }),
        }
    }

    fn lost(&self, e: reqwest::Error, sends: bool) -> Error {
        if !sends || e.is_connect() || e.is_builder() {
            return self.unreachable(e);
        }
        Error::Remote {
            class: Class::Unknown,
            message: format!(
                "no answer from the smv server at {} after the post was sent ({}): it may have been published",
                self.server,
                if e.is_timeout() { "timed out" } else { "connection lost" }
            ),
            hint: Some(
                "do not post it again blindly: with an --idempotency-key, the same command again answers from the server's log and posts nothing twice; `smv status` lists unknown outcomes, `smv audit log --action post` shows what was sent".into(),
            ),
        }
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        // reqwest's message names the URL, which holds no secret (the token is a header).
        // The cause (refused, certificate unknown…) is in the source chain.
        let mut why = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            why.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Error::Remote {
            class: Class::Io,
            message: format!("cannot reach the smv server at {}: {why}", self.server),
            hint: Some(
                "is `smv serve` running there? check SMV_SERVER (and SMV_SERVER_CA for https)"
                    .into(),
            ),
        }
    }

    fn get<T: DeserializeOwned>(&mut self, path: &str) -> Result<T> {
        let req = self.request(Method::GET, path);
        self.send(req)
    }

    fn get_query<T: DeserializeOwned>(&mut self, path: &str, q: &impl Serialize) -> Result<T> {
        let req = self.request(Method::GET, path).query(q);
        self.send(req)
    }

    fn call<T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let req = self.request(method, path).json(body);
        self.send(req)
    }

    /// A request that makes the server post to a network (see [`Client::send_as`]).
    fn call_sending<T: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let req = self.request(Method::POST, path).json(body);
        self.send_as(req, true)
    }

    pub fn whoami(&mut self) -> Result<WhoAmI> {
        let mut me: WhoAmI = self.get("/v1/whoami")?;
        me.vault = format!("held by the proxy at {}", self.server);
        Ok(me)
    }

    pub fn status(&mut self) -> Result<Status> {
        self.get("/v1/status")
    }

    pub fn access(&mut self) -> Result<AccessReport> {
        self.get("/v1/access")
    }

    pub fn account_list(&mut self) -> Result<Vec<AccountView>> {
        self.get("/v1/accounts")
    }

    pub fn post(
        &mut self,
        targets: &str,
        text: &str,
        opts: &PostOptions,
    ) -> Result<Vec<PostResult>> {
        let body = api::PostRequest {
            targets: targets.into(),
            text: text.into(),
            dry_run: opts.dry_run,
            idempotency_key: opts.idempotency_key.clone(),
            at: None,
        };
        if opts.dry_run {
            self.call(Method::POST, "/v1/posts", &body)
        } else {
            self.call_sending("/v1/posts", &body)
        }
    }

    pub fn retry_post(&mut self, key: &str, dry_run: bool) -> Result<Vec<PostResult>> {
        let body = api::RetryRequest {
            key: key.into(),
            dry_run,
        };
        if dry_run {
            self.call(Method::POST, "/v1/posts/retry", &body)
        } else {
            self.call_sending("/v1/posts/retry", &body)
        }
    }

    pub fn schedule_post(&mut self, targets: &str, text: &str, at: &str) -> Result<Vec<Queued>> {
        let body = api::PostRequest {
            targets: targets.into(),
            text: text.into(),
            at: Some(at.into()),
            ..Default::default()
        };
        self.call(Method::POST, "/v1/posts", &body)
    }

    pub fn resolve_post(&mut self, seq: u64, r: &Resolution) -> Result<Resolved> {
        self.call(Method::POST, &format!("/v1/posts/{seq}/resolve"), r)
    }

    pub fn draft_create(&mut self, targets: &str, text: &str) -> Result<DraftView> {
        let body = api::DraftRequest {
            targets: targets.into(),
            text: text.into(),
        };
        self.call(Method::POST, "/v1/drafts", &body)
    }

    pub fn draft_edit(&mut self, id: &str, text: &str) -> Result<DraftView> {
        let body = api::EditRequest { text: text.into() };
        self.call(Method::PUT, &format!("/v1/drafts/{}", seg(id)), &body)
    }

    pub fn draft_show(&mut self, id: &str) -> Result<DraftView> {
        self.get(&format!("/v1/drafts/{}", seg(id)))
    }

    pub fn drafts(&mut self, f: &DraftFilter) -> Result<Vec<DraftView>> {
        let q = api::DraftQuery {
            account: f.account.clone(),
            mine: f.mine,
            all: f.all,
        };
        self.get_query("/v1/drafts", &q)
    }

    pub fn approve(&mut self, id: &str) -> Result<DraftView> {
        self.call(
            Method::POST,
            &format!("/v1/drafts/{}/approve", seg(id)),
            &(),
        )
    }

    pub fn reject(&mut self, id: &str, reason: Option<&str>) -> Result<DraftView> {
        let body = api::RejectRequest {
            reason: reason.map(str::to_string),
        };
        self.call(
            Method::POST,
            &format!("/v1/drafts/{}/reject", seg(id)),
            &body,
        )
    }

    pub fn publish(&mut self, id: &str, dry_run: bool) -> Result<Vec<PostResult>> {
        let body = api::PublishRequest { dry_run, at: None };
        let path = format!("/v1/drafts/{}/publish", seg(id));
        if dry_run {
            self.call(Method::POST, &path, &body)
        } else {
            self.call_sending(&path, &body)
        }
    }

    pub fn schedule_draft(&mut self, id: &str, at: &str) -> Result<Vec<Queued>> {
        let body = api::PublishRequest {
            dry_run: false,
            at: Some(at.into()),
        };
        self.call(
            Method::POST,
            &format!("/v1/drafts/{}/publish", seg(id)),
            &body,
        )
    }

    /// The freezes made: the server answers one freeze as an object, several as a list.
    pub fn freeze(
        &mut self,
        scope: &Scope,
        reason: &str,
        for_: Option<&str>,
    ) -> Result<Vec<Freeze>> {
        let body = api::FreezeRequest {
            account: scope_account(scope),
            reason: reason.into(),
            for_: for_.map(str::to_string),
        };
        let v: serde_json::Value = self.call(Method::POST, "/v1/freeze", &body)?;
        let parsed = if v.is_array() {
            serde_json::from_value(v)
        } else {
            serde_json::from_value(v).map(|f| vec![f])
        };
        parsed.map_err(|e| Error::Internal(format!("the server's answer: {e}")))
    }

    pub fn unfreeze(&mut self, scope: &Scope) -> Result<Vec<Freeze>> {
        let body = api::UnfreezeRequest {
            account: scope_account(scope),
        };
        self.call(Method::POST, "/v1/unfreeze", &body)
    }

    pub fn queue_list(&mut self, all: bool) -> Result<Vec<Queued>> {
        self.get_query("/v1/queue", &api::AllQuery { all })
    }

    pub fn queue_cancel(&mut self, id: &str) -> Result<Queued> {
        self.call(Method::POST, &format!("/v1/queue/{}/cancel", seg(id)), &())
    }

    pub fn queue_release(&mut self, id: &str) -> Result<Queued> {
        self.call(Method::POST, &format!("/v1/queue/{}/release", seg(id)), &())
    }

    pub fn posts(&mut self, f: &PostsFilter) -> Result<Vec<PostRecord>> {
        self.get_query("/v1/posts", f)
    }

    pub fn post_show(&mut self, seq: u64) -> Result<PostRecord> {
        self.get(&format!("/v1/posts/{seq}"))
    }

    pub fn audit_log(&mut self, f: &Filter) -> Result<Vec<Entry>> {
        self.get_query("/v1/audit/entries", f)
    }

    pub fn token_list(&mut self, all: bool) -> Result<Vec<TokenView>> {
        self.get_query("/v1/tokens", &api::AllQuery { all })
    }

    /// The record and the token (shown once).
    pub fn token_create(&mut self, req: &api::TokenRequest) -> Result<(Token, Secret)> {
        let minted: api::Minted = self.call(Method::POST, "/v1/tokens", req)?;
        Ok((
            minted.record,
            Secret::from_bytes(minted.token.as_bytes().to_vec()),
        ))
    }

    pub fn token_revoke(&mut self, accessor: &str, reason: Option<&str>) -> Result<Token> {
        let req = self
            .request(Method::DELETE, &format!("/v1/tokens/{}", seg(accessor)))
            .query(&api::RevokeQuery {
                reason: reason.map(str::to_string),
            });
        self.send(req)
    }
}

fn scope_account(scope: &Scope) -> Option<String> {
    match scope {
        Scope::Account(a) => Some(a.clone()),
        Scope::All => None,
    }
}

/// Ids are hex and accessors `t…`; anything else is refused here rather than spliced into
/// a path.
fn seg(id: &str) -> String {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        id.to_string()
    } else {
        "invalid-id".to_string()
    }
}

fn remote_error(body: ErrorBody) -> Error {
    let class = Class::from_name(&body.error.class).unwrap_or(Class::Internal);
    Error::Remote {
        class,
        message: body.error.message,
        hint: body.error.hint,
    }
}
