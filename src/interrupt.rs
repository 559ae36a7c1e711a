//! Ctrl-C (SIGINT) and SIGTERM while `smv post` sends (issue 24: an interrupted post tells
//! the truth).
//!
//! Without this, a signal ends the process where it stands: the targets not yet sent keep an
//! intent without an outcome, which the ledger must call unknown ("may be live") though
//! nothing was sent, and nothing is printed. With it, for the rest of the process:
//! - the first signal is remembered ([`requested`]): `ops::send` starts no new send, records
//!   the targets not yet sent as not sent (a `failed` outcome: certainly not published),
//!   waits up to [`GRACE`] for the answer to the one in flight (published, failed, or, with
//!   no answer in time, unknown), and the CLI prints one line per target and exits 130;
//! - a second signal ends the wait at once ([`count`] is 2): the one in flight is recorded
//!   unknown right away. If the process is somewhere that does not wait on a send, it
//!   exits (130) [`FORCE_AFTER`] after the second signal.
//!
//! Only the CLI's `smv post` (on the local vault) watches: `smv serve` has its own shutdown
//! (it finishes posts in flight), and a proxy client is ended by the signal as before (the
//! server finishes and records the post).
//!
//! How: tokio's signal support (already a dependency for the server; it registers through
//! signal-hook-registry, whose handler only writes to a pipe) on one small thread that
//! counts signals in an atomic. No `unsafe` here.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long the one send in flight is given to answer after the first signal.
pub const GRACE: Duration = Duration::from_secs(5);

/// After a second signal, the process ends this long after, whatever it is doing (it has
/// recorded what it knows by then when it was sending).
pub const FORCE_AFTER: Duration = Duration::from_secs(2);

/// The exit code of an interrupted command (128 + SIGINT, as shells report it).
pub const EXIT_CODE: i32 = 130;

static SIGNALS: AtomicUsize = AtomicUsize::new(0);
static WATCHING: OnceLock<bool> = OnceLock::new();

/// Starts catching SIGINT and SIGTERM for the rest of this process (once; later calls do
/// nothing). Returns whether they are caught: false if the handler could not be set up (the
/// signals then end the process as before).
pub fn watch() -> bool {
    *WATCHING.get_or_init(|| {
        let (ready, is_ready) = std::sync::mpsc::channel();
        let started = std::thread::Builder::new()
            .name("smv-signals".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(_) => {
                        let _ = ready.send(false);
                        return;
                    }
                };
                rt.block_on(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let (Ok(mut int), Ok(mut term)) = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                    ) else {
                        let _ = ready.send(false);
                        return;
                    };
                    let _ = ready.send(true);
                    loop {
                        tokio::select! {
                            _ = int.recv() => {}
                            _ = term.recv() => {}
                        }
                        if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
                            // The second: whoever waits on a send stops waiting now; if
                            // nothing does, end the process shortly.
                            tokio::time::sleep(FORCE_AFTER).await;
                            std::process::exit(EXIT_CODE);
                        }
                    }
                });
            });
        started.is_ok() && is_ready.recv().unwrap_or(false)
    })
}

/// Whether signals are caught in this process ([`watch`] was called and succeeded).
pub fn watching() -> bool {
    WATCHING.get().copied().unwrap_or(false)
}

/// How many signals arrived since [`watch`].
pub fn count() -> usize {
    SIGNALS.load(Ordering::SeqCst)
}

/// Whether a signal asked this process to stop.
pub fn requested() -> bool {
    count() > 0
}
