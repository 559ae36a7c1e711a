//! `smv serve`: the proxy. It holds the vault key; members and CI jobs hold only tokens (or
//! a mapped Unix uid) and reach the accounts through the routes in [`crate::api`].
//!
//! Shape: a tokio accept loop per listener (TCP, optionally TLS, or a Unix socket), a bound
//! on open connections, hyper's HTTP/1.1 with header and request time limits, and axum for
//! routing. Each request runs one operation of [`crate::ops`] on the blocking pool, with a
//! fresh [`Ctx`](crate::ops::Ctx) for its principal: the same functions and so the same rules
//! and audit entries as the local CLI. Shutdown (SIGINT, SIGTERM) stops accepting, lets every
//! in-flight request finish (a post in flight is sent and audited), then returns.

mod auth;
mod harden;
mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use crate::identity::Identity;
use crate::ops::{self, Ctx};
use crate::settings::Settings;
use crate::{Error, Result};

pub use auth::Peer;

pub struct ServeOptions {
    pub listen: Option<SocketAddr>,
    pub socket: Option<PathBuf>,
    /// Certificate chain and private key (PEM) for TLS on `listen`.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Unix-socket peers allowed without a token: uid → member name.
    pub uids: HashMap<u32, String>,
    pub max_connections: usize,
    pub request_timeout: Duration,
    /// How often the scheduled-post queue runs; None: never (another runner does it).
    pub queue_interval: Option<Duration>,
}

/// The addresses bound, printed once the server accepts connections.
#[derive(Debug, serde::Serialize)]
pub struct Listening {
    pub member: String,
    pub urls: Vec<String>,
}

/// State shared by every request.
pub(crate) struct App {
    /// One copy for the server's life, shared by every request.
    settings: Arc<Settings>,
    /// One decrypted vault and one audit log connection for all requests: appends of
    /// concurrent requests share their commits (see `store::file`).
    store: Arc<dyn crate::store::Store>,
    uids: HashMap<u32, String>,
    throttle: auth::Throttle,
    request_timeout: Duration,
}

/// Runs the proxy until SIGINT or SIGTERM. `ready` is called once every listener is bound.
pub fn serve(
    settings: Settings,
    identity: Identity,
    opts: ServeOptions,
    ready: impl FnOnce(&Listening),
) -> Result<()> {
    harden::no_core_dumps();
    if opts.listen.is_none() && opts.socket.is_none() {
        return Err(Error::invalid("listen address", "nothing to listen on")
            .with_hint("give --listen 127.0.0.1:7878 or --socket PATH"));
    }
    if let Some(addr) = opts.listen
        && !addr.ip().is_loopback()
        && opts.tls.is_none()
    {
        return Err(Error::invalid(
            "listen address",
            format!("{addr} is not a loopback address and there is no TLS"),
        )
        .with_hint("tokens would cross the network in clear: add --tls-cert FILE --tls-key FILE, or listen on 127.0.0.1"));
    }
    let tls = opts
        .tls
        .as_ref()
        .map(|(cert, key)| harden::tls_acceptor(cert, key))
        .transpose()?;
    harden::init_logging(&settings);
    let settings = Arc::new(settings);

    // The server's own identity must be a member: it runs the queue as itself, and a key
    // that opens the vault but is nobody's is refused here rather than at the first request.
    // This machine's pin follows the log as the server appends (see store::fresh).
    let store = crate::store::open_long_lived(settings.clone(), Arc::new(identity));
    let mut check = Ctx::acting(
        settings.clone(),
        store.clone(),
        ops::Principal::Key,
        crate::ids::random_hex(8),
    );
    let me = ops::whoami(&mut check)?;
    // Tokens a mapped Unix peer minted before peers were refused would outlive the mapping:
    // revoked here, once, on the record.
    let revoked = ops::revoke_peer_minted_tokens(&mut check)?;
    if !revoked.is_empty() {
        tracing::warn!(
            tokens = %revoked.join(", "),
            "revoked {} token(s) minted through the proxy by a mapped Unix user, which may not mint tokens (`smv token list --all` lists them; their owners make new ones with a custodian's key)",
            revoked.len()
        );
    }

    let app = Arc::new(App {
        settings,
        store,
        uids: opts.uids,
        throttle: auth::Throttle::new(10, Duration::from_secs(60)),
        request_timeout: opts.request_timeout,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("smv-serve")
        .max_blocking_threads(64)
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the server runtime: {e}")))?;
    runtime.block_on(run(
        app,
        opts.listen,
        opts.socket,
        tls,
        opts.max_connections,
        opts.queue_interval,
        me,
        ready,
    ))
}

#[allow(clippy::too_many_arguments)]
async fn run(
    app: Arc<App>,
    listen: Option<SocketAddr>,
    socket: Option<PathBuf>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    max_connections: usize,
    queue_interval: Option<Duration>,
    me: ops::WhoAmI,
    ready: impl FnOnce(&Listening),
) -> Result<()> {
    let router = routes::router(app.clone());
    let limit = Arc::new(Semaphore::new(max_connections.max(1)));
    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut urls = Vec::new();
    let mut loops = Vec::new();

    if let Some(addr) = listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io("listen on", addr.to_string(), e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::io("listen on", addr.to_string(), e))?;
        urls.push(format!(
            "{}://{bound}",
            if tls.is_some() { "https" } else { "http" }
        ));
        let (router, limit, graceful, stop) = (
            router.clone(),
            limit.clone(),
            graceful.clone(),
            stop_rx.clone(),
        );
        let tls = tls.clone();
        loops.push(tokio::spawn(async move {
            accept_tcp(listener, tls, router, limit, graceful, stop).await
        }));
    }
    let mut socket_path = None;
    if let Some(path) = socket {
        let listener = harden::bind_unix(&path, !app.uids.is_empty())?;
        urls.push(format!("unix:{}", path.display()));
        socket_path = Some(path);
        let (router, limit, graceful, stop) = (
            router.clone(),
            limit.clone(),
            graceful.clone(),
            stop_rx.clone(),
        );
        loops.push(tokio::spawn(async move {
            accept_unix(listener, router, limit, graceful, stop).await
        }));
    }
    let queue =
        queue_interval.map(|every| tokio::spawn(queue_runner(app.clone(), every, stop_rx.clone())));

    ready(&Listening {
        member: me.member,
        urls,
    });
    tracing::info!(event = "listening", "smv serve is accepting connections");

    shutdown_signal().await;
    tracing::info!(
        event = "shutdown",
        in_flight = graceful.count(),
        "stopping: finishing in-flight requests"
    );
    let _ = stop_tx.send(true);
    for l in loops {
        let _ = l.await;
    }
    // Every accepted connection finishes its request (posts are sent and audited); idle
    // keep-alive connections are closed.
    match Arc::try_unwrap(graceful) {
        Ok(g) => g.shutdown().await,
        Err(_) => tracing::error!(event = "shutdown", "connections could not be drained"),
    }
    if let Some(q) = queue {
        let _ = q.await;
    }
    if let Some(p) = socket_path {
        let _ = std::fs::remove_file(p);
    }
    tracing::info!(event = "stopped", "smv serve stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn accept_tcp(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: axum::Router,
    limit: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(event = "accept_failed", error = %e);
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let (router, watcher, tls) = (router.clone(), graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let peer = Peer::Tcp(addr.ip());
            match tls {
                None => serve_connection(stream, peer, router, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_connection(s, peer, router, watcher).await,
                        Ok(Err(e)) => {
                            tracing::info!(event = "tls_failed", peer = %addr.ip(), error = %e)
                        }
                        Err(_) => tracing::info!(event = "tls_timeout", peer = %addr.ip()),
                    }
                }
            }
            drop(permit);
        });
    }
}

async fn accept_unix(
    listener: UnixListener,
    router: axum::Router,
    limit: Arc<Semaphore>,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let Ok(permit) = limit.clone().acquire_owned().await else {
            return;
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(event = "accept_failed", error = %e);
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        // The kernel's word for who is at the other end (SO_PEERCRED), taken at connect time.
        let uid = stream.peer_cred().ok().map(|c| c.uid());
        let (router, watcher) = (router.clone(), graceful.watcher());
        tokio::spawn(async move {
            serve_connection(stream, Peer::Unix(uid), router, watcher).await;
            drop(permit);
        });
    }
}

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client must send its request head within this time (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve_connection<I>(io: I, peer: Peer, router: axum::Router, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = router.map_request(
        move |mut req: axum::extract::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(peer.clone());
            req
        },
    );
    let service = hyper_util::service::TowerToHyperService::new(service);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(event = "connection_error", error = %e);
    }
}

/// Runs the due scheduled posts every `every`, as the server's own member.
async fn queue_runner(app: Arc<App>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let app = app.clone();
        let rid = crate::ids::random_hex(8);
        let span_rid = rid.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut ctx = Ctx::acting(
                app.settings.clone(),
                app.store.clone(),
                ops::Principal::Key,
                rid,
            );
            ops::queue_run(&mut ctx).map(|sent| sent.len())
        })
        .await;
        match done {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(event = "queue_run", request_id = %span_rid, sent = n),
            Ok(Err(e)) => {
                tracing::warn!(event = "queue_run_failed", request_id = %span_rid, error = %e)
            }
            Err(e) => tracing::error!(event = "queue_run_panicked", error = %e),
        }
    }
}
