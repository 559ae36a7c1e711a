//! What a process holding every account's secret does before it listens: no core dumps,
//! TLS with rustls, a Unix socket that is never put over another file, logs without secrets.

use std::path::Path;
use std::sync::Arc;

use crate::settings::Settings;
use crate::{Error, Result};

/// A core dump would write the decrypted vault to disk. `PR_SET_DUMPABLE = 0` also stops
/// other processes of the same uid from attaching a debugger or reading /proc/PID/mem.
#[allow(unsafe_code)] // setrlimit and prctl have no safe wrapper
pub fn no_core_dumps() {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls with valid arguments; failure leaves the defaults.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &zero);
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |path: &Path, why: String| {
        Error::invalid("TLS file", format!("{}: {why}", path.display())).with_hint(
            "give a PEM certificate chain with --tls-cert and its PEM private key with --tls-key",
        )
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(cert, e.to_string()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(cert, "no certificate in the file".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| Error::Internal(format!("TLS setup: {e}")))?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)
    .map_err(|e| bad(key, e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Binds the socket. An existing socket file is replaced only if nothing answers on it (a
/// server that died); any other file at the path is left alone and refused. Mode 0600
/// unless uids are mapped, in which case others must be able to connect (0666): the server
/// then checks every peer's uid itself.
pub fn bind_unix(path: &Path, others_connect: bool) -> Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Error::invalid(
                "socket path",
                format!("{} exists and is not a socket", path.display()),
            )
            .with_hint("choose another --socket path; smv does not replace other files"));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::Conflict(
                format!("another server is listening on {}", path.display()),
                Some("stop it first, or choose another --socket path".into()),
            ));
        }
        std::fs::remove_file(path).map_err(|e| Error::io("remove stale socket", path, e))?;
    }
    let listener =
        tokio::net::UnixListener::bind(path).map_err(|e| Error::io("listen on", path, e))?;
    let mode = if others_connect { 0o666 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io("set permissions of", path, e))?;
    Ok(listener)
}

/// One JSON line per event on stderr. The level comes from `SMV_LOG` (default `info`).
/// Nothing logged carries a secret: request lines name the route, the status, the request id
/// and the principal's non-secret accessor, never headers or bodies.
pub fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_new(settings.env.get("SMV_LOG").unwrap_or("info"))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The HTTP libraries log URLs and connection details at debug level, and a webhook URL
    // is a secret: whatever SMV_LOG says, they say only warnings.
    for quiet in [
        "reqwest=warn",
        "hyper=warn",
        "hyper_util=warn",
        "rustls=warn",
        "h2=warn",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(false)
        .try_init();
}
