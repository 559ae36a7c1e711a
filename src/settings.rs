//! Where things are, and the few settings smv has.
//!
//! Each setting comes from exactly one place, the first of: a command-line flag, an
//! environment variable, `config.toml`, the built-in default. docs/configuration.md has the
//! table. The environment is read once, here, into [`Env`], so that the rest of the library
//! is a function of its inputs (and tests can build settings without touching the process).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use serde::Deserialize;

use crate::secret::Secret;
use crate::{Error, Result};

/// File names inside the data directory and beside the vault.
pub const VAULT_FILE: &str = "vault.smv";
pub const IDENTITY_FILE: &str = "identity.txt";

/// A snapshot of the environment variables smv reads. The two that hold secrets —
/// `SMV_IDENTITY` (a private key) and `SMV_TOKEN` (an API token) — are kept apart, in types
/// that are wiped on drop and never print their value: [`Env::get`] does not return them.
#[derive(Default)]
pub struct Env {
    vars: HashMap<String, String>,
    identity: Option<SecretString>,
    token: Option<Secret>,
}

/// The variables that hold secrets.
const SECRET_KEYS: [&str; 2] = ["SMV_IDENTITY", "SMV_TOKEN"];

impl Env {
    pub fn from_process() -> Env {
        // Only the variables smv knows are kept: nothing else can leak through this type.
        const KEYS: &[&str] = &[
            "HOME",
            "XDG_CONFIG_HOME",
            "XDG_DATA_HOME",
            "XDG_STATE_HOME",
            "SMV_CONFIG",
            "SMV_VAULT",
            "SMV_IDENTITY",
            "SMV_IDENTITY_FILE",
            "SMV_KEYRING",
            "SMV_LOCK_TIMEOUT_MS",
            "SMV_SERVER",
            "SMV_SERVER_CA",
            "SMV_TOKEN",
            "SMV_LOG",
            "USER",
            "NO_COLOR",
            "COLUMNS",
            // Debug builds only (cli::output::Look::detect): pins what a person sees.
            "SMV_TEST_TERMINAL",
        ];
        Env::from_pairs(
            KEYS.iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v))),
        )
    }

    pub fn from_pairs<I: IntoIterator<Item = (S, S)>, S: Into<String>>(pairs: I) -> Env {
        let mut env = Env::default();
        for (k, v) in pairs {
            let (k, v) = (k.into(), v.into());
            // An empty variable counts as unset, as in most Unix tools.
            match k.as_str() {
                "SMV_IDENTITY" if !v.is_empty() => env.identity = Some(SecretString::from(v)),
                "SMV_TOKEN" if !v.is_empty() => {
                    env.token = Some(Secret::from_bytes(v.into_bytes()))
                }
                "SMV_IDENTITY" | "SMV_TOKEN" => {}
                _ => {
                    env.vars.insert(k, v);
                }
            }
        }
        env
    }

    /// A non-empty value (an empty variable counts as unset, as in most Unix tools). Not
    /// for `SMV_IDENTITY` or `SMV_TOKEN`: see [`Env::identity`] and [`Env::token`].
    pub fn get(&self, key: &str) -> Option<&str> {
        debug_assert!(
            !SECRET_KEYS.contains(&key),
            "{key} is read with Env::identity / Env::token"
        );
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `SMV_IDENTITY`: the text of an age identity, for CI.
    pub fn identity(&self) -> Option<&SecretString> {
        self.identity.as_ref()
    }

    /// `SMV_TOKEN`: the API token for the proxy, as given.
    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // List only which variables are set, never a value.
        f.debug_set()
            .entries(self.vars.keys().map(String::as_str))
            .entries(self.identity.as_ref().map(|_| "SMV_IDENTITY"))
            .entries(self.token.as_ref().map(|_| "SMV_TOKEN"))
            .finish()
    }
}

/// `config.toml`. Unknown keys are an error, so that a typo does not silently fall back to a
/// default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub vault: Option<PathBuf>,
    pub identity_file: Option<PathBuf>,
    pub keyring: Option<bool>,
    /// The proxy to use instead of a local vault (`smv serve`).
    pub server: Option<String>,
    pub server_ca: Option<PathBuf>,
    /// `[api_versions]`: the API version to use per network (`linkedin = "202607"`,
    /// `facebook = "v25.0"`), over smv's pinned one (an account's own setting wins).
    pub api_versions: Option<std::collections::BTreeMap<String, String>>,
}

/// Flags given on the command line that override everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub vault: Option<PathBuf>,
    pub identity_file: Option<PathBuf>,
}

/// Resolved once per process and shared (`Arc`): a server hands the same settings to every
/// request rather than a copy (they hold `SMV_IDENTITY` and `SMV_TOKEN`), so they are not
/// `Clone`.
#[derive(Debug)]
pub struct Settings {
    pub vault: PathBuf,
    /// `--identity FILE`, `SMV_IDENTITY_FILE` or `identity_file` in config, with its origin.
    pub identity_file: Option<(PathBuf, &'static str)>,
    /// Where `smv init` keeps a new identity when no keyring is usable.
    pub default_identity_file: PathBuf,
    /// This machine's record of the vaults it has opened (trust on first use), keyed by
    /// vault id: `$XDG_STATE_HOME/smv/pins.json`, never beside the vault (whoever can
    /// replace the vault must not be able to delete what this machine remembers of it).
    pub known_vaults: PathBuf,
    /// Where versions before issue 23 kept the pins (`$XDG_DATA_HOME/smv/known-vaults.json`,
    /// beside the default vault): read once into [`Settings::known_vaults`].
    pub legacy_known_vaults: PathBuf,
    /// API tokens kept by `smv login SERVER --file` where no keyring is usable (0600).
    pub server_tokens: PathBuf,
    pub keyring: bool,
    pub lock_timeout_ms: u64,
    pub config_path: PathBuf,
    /// `SMV_SERVER` or `server` in config: commands go to this proxy (see [`crate::client`]).
    pub server: Option<String>,
    /// `SMV_SERVER_CA` or `server_ca`: the only CA trusted for an https server.
    pub server_ca: Option<PathBuf>,
    /// `[api_versions]` in config.toml, checked: network name → version.
    pub api_versions: std::collections::BTreeMap<String, String>,
    pub env: Env,
}

impl Settings {
    pub fn resolve(overrides: &Overrides, env: Env) -> Result<Settings> {
        let home = env.get("HOME").map(PathBuf::from);
        let xdg = |var: &str, fallback: &str| -> Result<PathBuf> {
            if let Some(dir) = env.get(var) {
                return Ok(PathBuf::from(dir));
            }
            home.as_ref().map(|h| h.join(fallback)).ok_or_else(|| {
                Error::invalid("environment", format!("neither {var} nor HOME is set"))
                    .with_hint("set HOME (or both XDG_CONFIG_HOME and XDG_DATA_HOME)")
            })
        };
        let config_path = match env.get("SMV_CONFIG") {
            Some(p) => PathBuf::from(p),
            None => xdg("XDG_CONFIG_HOME", ".config")?.join("smv/config.toml"),
        };
        let config = read_config(&config_path)?;
        let api_versions = config.api_versions.clone().unwrap_or_default();
        for (network, version) in &api_versions {
            let why = match crate::providers::versions::pinned(network) {
                None => Some(format!(
                    "[api_versions] {network}: smv pins no API version of `{network}` (it does for: {})",
                    crate::providers::versions::PINNED
                        .iter()
                        .map(|p| p.provider)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Some(p) if !crate::providers::versions::well_formed(network, version) => {
                    Some(format!(
                        "[api_versions] {network}: `{version}` is not a version; expected {}",
                        p.shape
                    ))
                }
                Some(_) => None,
            };
            if let Some(why) = why {
                return Err(Error::Config {
                    path: config_path.clone(),
                    why,
                });
            }
        }
        let data_dir = xdg("XDG_DATA_HOME", ".local/share")?.join("smv");
        let state_dir = xdg("XDG_STATE_HOME", ".local/state")?.join("smv");

        let vault = overrides
            .vault
            .clone()
            .or_else(|| env.get("SMV_VAULT").map(PathBuf::from))
            .or(config.vault)
            .unwrap_or_else(|| data_dir.join(VAULT_FILE));
        let identity_file = overrides
            .identity_file
            .clone()
            .map(|p| (p, "--identity"))
            .or_else(|| {
                env.get("SMV_IDENTITY_FILE")
                    .map(|p| (PathBuf::from(p), "SMV_IDENTITY_FILE"))
            })
            .or_else(|| config.identity_file.map(|p| (p, "config identity_file")));
        let keyring = match env.get("SMV_KEYRING") {
            Some(v) => parse_bool("SMV_KEYRING", v)?,
            None => config.keyring.unwrap_or(true),
        };
        let lock_timeout_ms = match env.get("SMV_LOCK_TIMEOUT_MS") {
            Some(v) => v.parse().map_err(|_| {
                Error::invalid(
                    "SMV_LOCK_TIMEOUT_MS",
                    "expected a whole number of milliseconds",
                )
            })?,
            None => 10_000,
        };
        Ok(Settings {
            vault,
            identity_file,
            default_identity_file: data_dir.join(IDENTITY_FILE),
            known_vaults: state_dir.join("pins.json"),
            legacy_known_vaults: data_dir.join("known-vaults.json"),
            server_tokens: data_dir.join("server-tokens.json"),
            keyring,
            lock_timeout_ms,
            config_path,
            server: env.get("SMV_SERVER").map(str::to_string).or(config.server),
            server_ca: env
                .get("SMV_SERVER_CA")
                .map(PathBuf::from)
                .or(config.server_ca),
            api_versions,
            env,
        })
    }

    /// The audit log lives beside the vault, always: one place an auditor can rely on.
    /// Where providers keep their own state (the outbox file, cached instance limits):
    /// beside the vault.
    pub fn provider_state_dir(&self) -> PathBuf {
        crate::providers::state_dir(&self.vault)
    }

    pub fn audit_log(&self) -> PathBuf {
        sibling(&self.vault, "audit")
    }

    /// The lock file guarding read-modify-write of the vault (the vault itself is replaced
    /// by rename, so it cannot carry the lock).
    pub fn lock_file(&self) -> PathBuf {
        sibling(&self.vault, "lock")
    }

    /// The posting gate: held while a post is authorized and its intent written, and while
    /// a change to the vault is saved, so that a freeze or a revocation is never overtaken
    /// by a post that loaded the vault before it (see ops::send).
    pub fn gate_file(&self) -> PathBuf {
        sibling(&self.vault, "gate")
    }

    /// Held by `smv queue run` for its whole run: one runner sends the due posts at a time.
    pub fn queue_lock_file(&self) -> PathBuf {
        sibling(&self.vault, "queue.lock")
    }

    /// Post outcomes that could not be appended to the audit log when they happened (a lock
    /// timeout after the network answered): kept here (0600) and appended by the next smv
    /// process that writes to the log (see store::journal).
    pub fn pending_outcomes_file(&self) -> PathBuf {
        sibling(&self.vault, "outcomes")
    }
}

/// `dir/vault.smv` → `dir/vault.smv.EXT`.
pub fn sibling(path: &Path, ext: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(ext);
    path.with_file_name(name)
}

fn parse_bool(name: &'static str, v: &str) -> Result<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(Error::invalid(name, format!("`{v}` is not on/off"))
            .with_hint(format!("set {name} to on or off"))),
    }
}

fn read_config(path: &Path) -> Result<ConfigFile> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            why: e.message().to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_follow_xdg() {
        let s = Settings::resolve(&Overrides::default(), env(&[("HOME", "/h")])).unwrap();
        assert_eq!(s.vault, PathBuf::from("/h/.local/share/smv/vault.smv"));
        assert_eq!(
            s.audit_log(),
            PathBuf::from("/h/.local/share/smv/vault.smv.audit")
        );
        assert_eq!(s.config_path, PathBuf::from("/h/.config/smv/config.toml"));
        // Pins live in the state directory, never beside the (default) vault.
        assert_eq!(
            s.known_vaults,
            PathBuf::from("/h/.local/state/smv/pins.json")
        );
        assert_eq!(
            s.legacy_known_vaults,
            PathBuf::from("/h/.local/share/smv/known-vaults.json")
        );
        assert!(s.keyring);
        let s = Settings::resolve(
            &Overrides::default(),
            env(&[
                ("HOME", "/h"),
                ("XDG_DATA_HOME", "/d"),
                ("XDG_CONFIG_HOME", "/c"),
            ]),
        )
        .unwrap();
        assert_eq!(s.vault, PathBuf::from("/d/smv/vault.smv"));
        assert_eq!(s.config_path, PathBuf::from("/c/smv/config.toml"));
        let s = Settings::resolve(
            &Overrides::default(),
            env(&[("HOME", "/h"), ("XDG_STATE_HOME", "/s")]),
        )
        .unwrap();
        assert_eq!(s.known_vaults, PathBuf::from("/s/smv/pins.json"));
    }

    #[test]
    fn flag_beats_env_beats_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "vault = \"/from/config\"\nkeyring = false\n").unwrap();
        let cfg_s = cfg.to_str().unwrap();
        let e = || env(&[("HOME", "/h"), ("SMV_CONFIG", cfg_s)]);
        let s = Settings::resolve(&Overrides::default(), e()).unwrap();
        assert_eq!(s.vault, PathBuf::from("/from/config"));
        assert!(!s.keyring);
        let e2 = || {
            env(&[
                ("HOME", "/h"),
                ("SMV_CONFIG", cfg_s),
                ("SMV_VAULT", "/from/env"),
            ])
        };
        let s = Settings::resolve(&Overrides::default(), e2()).unwrap();
        assert_eq!(s.vault, PathBuf::from("/from/env"));
        let o = Overrides {
            vault: Some("/from/flag".into()),
            identity_file: None,
        };
        assert_eq!(
            Settings::resolve(&o, e2()).unwrap().vault,
            PathBuf::from("/from/flag")
        );
    }

    #[test]
    fn bad_config_is_an_error_not_a_default() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "vualt = \"typo\"\n").unwrap();
        let e = env(&[("HOME", "/h"), ("SMV_CONFIG", cfg.to_str().unwrap())]);
        let err = Settings::resolve(&Overrides::default(), e).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        assert!(err.to_string().contains("vualt"), "{err}");
    }

    #[test]
    fn env_debug_does_not_show_values() {
        let e = env(&[
            ("SMV_IDENTITY", "AGE-SECRET-KEY-1XYZ"),
            ("SMV_TOKEN", "smv_canary_token_1234"),
            ("HOME", "/h"),
        ]);
        let shown = format!("{e:?}");
        assert!(
            !shown.contains("AGE-SECRET") && !shown.contains("canary"),
            "{shown}"
        );
        assert!(
            shown.contains("SMV_IDENTITY") && shown.contains("SMV_TOKEN"),
            "{shown}"
        );
        let s = Settings::resolve(&Overrides::default(), e).unwrap();
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("AGE-SECRET") && !shown.contains("canary"),
            "{shown}"
        );
    }

    #[test]
    fn secret_variables_are_kept_in_secret_types() {
        use age::secrecy::ExposeSecret;
        let e = env(&[
            ("SMV_IDENTITY", "AGE-SECRET-KEY-1XYZ"),
            ("SMV_TOKEN", "smv_canary_token_1234"),
        ]);
        assert_eq!(
            e.identity().map(|s| s.expose_secret()),
            Some("AGE-SECRET-KEY-1XYZ")
        );
        assert_eq!(
            e.token().map(|t| t.expose_to_provider()),
            Some(&b"smv_canary_token_1234"[..])
        );
        // Empty counts as unset, like every other variable.
        let e = env(&[("SMV_IDENTITY", ""), ("SMV_TOKEN", "")]);
        assert!(e.identity().is_none() && e.token().is_none());
    }
}
