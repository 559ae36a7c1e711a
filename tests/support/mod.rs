//! Shared test harness: every test gets its own temporary HOME, the keyring switched off (the
//! developer's real keyring is never touched), and a log of every output so that the canary
//! sweep can search it.
#![allow(dead_code)]

pub mod echo;
pub mod fake_http;
pub mod serve;

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_smv");

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn fails(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Run {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Run {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    extra_env: RefCell<Vec<(String, String)>>,
    /// Every stdout and stderr of every command run here, for the canary sweep.
    pub transcript: RefCell<Vec<String>>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
            extra_env: RefCell::new(Vec::new()),
            transcript: RefCell::new(Vec::new()),
        }
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home().join(".local/share/smv")
    }

    pub fn vault(&self) -> PathBuf {
        self.data_dir().join("vault.smv")
    }

    pub fn audit(&self) -> PathBuf {
        self.data_dir().join("vault.smv.audit")
    }

    /// This machine's pins (keyed by vault id), in the state directory.
    pub fn pins_file(&self) -> PathBuf {
        self.home().join(".local/state/smv/pins.json")
    }

    pub fn identity_file(&self) -> PathBuf {
        self.data_dir().join("identity.txt")
    }

    pub fn set_env(&self, key: &str, value: &str) {
        self.extra_env.borrow_mut().push((key.into(), value.into()));
    }

    /// A `Command` for smv with a clean, sandboxed environment.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SMV_KEYRING", "off")
            .env("USER", "tester")
            .env("NO_COLOR", "1")
            .current_dir(self.home());
        for (k, v) in self.extra_env.borrow().iter() {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run_cmd(&self, mut cmd: Command, stdin: Option<&[u8]>) -> Run {
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn smv");
        if let Some(input) = stdin {
            // smv may refuse before reading its input: a broken pipe is not a test failure.
            let _ = child.stdin.take().unwrap().write_all(input);
        }
        let out = child.wait_with_output().unwrap();
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.transcript
            .borrow_mut()
            .push(format!("{}\n{}", run.stdout, run.stderr));
        run
    }

    pub fn smv(&self, args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        self.run_cmd(cmd, None)
    }

    /// With extra environment for this one command (e.g. the test clock's offset).
    pub fn smv_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.envs(env.iter().copied()).args(args);
        self.run_cmd(cmd, None)
    }

    pub fn smv_env_as(&self, key: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut full = vec!["--identity", key.to_str().unwrap()];
        full.extend_from_slice(args);
        self.smv_env(env, &full)
    }

    pub fn smv_in(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut cmd = self.command();
        cmd.args(args);
        self.run_cmd(cmd, Some(stdin))
    }

    /// `smv init` as alice, the first admin.
    pub fn init(&self) -> Run {
        self.smv(&["init", "--name", "alice"]).ok()
    }

    /// Makes a second custodian with role `role`: a fresh key file under HOME, added by alice.
    /// Returns the path of the key file to pass with --identity.
    pub fn add_custodian(&self, name: &str, role: &str) -> PathBuf {
        self.add_custodian_as(None, name, role)
    }

    /// Like [`Sandbox::add_custodian`], added by the holder of `by` (alice when None).
    pub fn add_custodian_as(&self, by: Option<&Path>, name: &str, role: &str) -> PathBuf {
        let key = self.home().join(format!("{name}.key"));
        let id = age::x25519::Identity::generate();
        let text = format!(
            "# test fixture key for {name}\n{}\n",
            age::secrecy::ExposeSecret::expose_secret(&id.to_string())
        );
        std::fs::write(&key, text).unwrap();
        chmod(&key, 0o600);
        let recipient = id.to_public().to_string();
        let args = [
            "member",
            "add",
            name,
            "--role",
            role,
            "--custodian",
            &recipient,
        ];
        match by {
            Some(by) => self.smv_as(by, &args).ok(),
            None => self.smv(&args).ok(),
        };
        key
    }

    /// Runs smv as another custodian.
    pub fn smv_as(&self, key: &Path, args: &[&str]) -> Run {
        let mut full = vec!["--identity", key.to_str().unwrap()];
        full.extend_from_slice(args);
        self.smv(&full)
    }

    pub fn audit_entries(&self) -> Vec<smv::audit::Entry> {
        smv::audit::AuditLog::open_read_only(&self.audit())
            .unwrap()
            .entries(&Default::default())
            .unwrap()
    }

    pub fn vault_bytes(&self) -> Vec<u8> {
        std::fs::read(self.vault()).unwrap()
    }

    /// Every file under HOME, recursively, except the named ones.
    pub fn files_except(&self, skip: &[&Path]) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut all = Vec::new();
        walk(self.home(), &mut all);
        all.retain(|p| !skip.iter().any(|s| s == p));
        all
    }
}

pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The forms of a secret that must never appear: raw, URL-encoded, base64.
pub fn canary_forms(canary: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut forms = vec![canary.to_string()];
    forms.push(base64::engine::general_purpose::STANDARD.encode(canary));
    forms.push(base64::engine::general_purpose::STANDARD_NO_PAD.encode(canary));
    let url: String = canary
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    forms.push(url);
    forms.sort();
    forms.dedup();
    forms
}

/// Whether a tool is on PATH; in CI a missing tool is a failure, elsewhere a skip.
pub fn require_tool(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{tool} is required in CI (.ci/run installs it)");
        }
        eprintln!("SKIPPED: {tool} is not installed (CI installs it)");
    }
    found
}

/// Runs a shell script in a new user namespace with a new session keyring: the keyutils
/// persistent keyring is per user namespace, so nothing reaches the real user's keyrings.
pub fn in_private_keyring(s: &Sandbox, script: &str) -> Run {
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "keyctl",
        "session",
        "smv-test",
        "sh",
        "-c",
        script,
    ]);
    let base = s.command();
    cmd.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env_remove("SMV_KEYRING").current_dir(s.home());
    s.run_cmd(cmd, None)
}

/// Runs a shell script in a private user namespace (so its keyrings are not the
/// developer's) with smv's sandboxed environment and the keyring on. Inside, each
/// `keyctl session NAME …` or `setsid …` is a new login session of the same user: what
/// one session stored must be found by the next, as after a logout and login.
pub fn in_user_namespace(s: &Sandbox, script: &str) -> Run {
    let mut cmd = Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "sh", "-c", script]);
    let base = s.command();
    cmd.env_clear();
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env_remove("SMV_KEYRING").current_dir(s.home());
    s.run_cmd(cmd, None)
}

/// Records the vault file now at `s.vault()` in its audit log as the latest write, as smv
/// does for every write: for tests that make a vault file by hand (an older smv's, a
/// custodian's edit) and then use it as the vault. `v` is that vault, loaded.
pub fn record_vault_file(s: &Sandbox, v: &smv::vault::Vault) {
    use sha2::Digest;
    use smv::audit::{AuditLog, Channel, LogKey, Outcome, Record, VaultFile};
    let bytes = std::fs::read(s.vault()).unwrap();
    let file = VaultFile {
        generation: v.generation().unwrap().unwrap_or(0),
        epoch: v.epoch().unwrap(),
        sha256: sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    };
    let mut log = AuditLog::open_signing(&s.audit(), LogKey::from_vault(v).unwrap()).unwrap();
    let intent = Record {
        actor: "test".into(),
        channel: Channel::Local,
        action: "test.vault-by-hand".into(),
        target: "vault".into(),
        outcome: Outcome::Intent,
        reason: None,
        request_id: "by-hand".into(),
        details: Default::default(),
    };
    log.append_batch(&[
        intent.clone(),
        file.record(&intent, Outcome::Intent, None),
        Record {
            outcome: Outcome::Ok,
            ..intent.clone()
        },
        file.record(&intent, Outcome::Ok, None),
    ])
    .unwrap();
}

/// A post to `fast,slow,later` (in that order) interrupted by real signals while `slow`
/// waits on `network`: `signals` are sent to the smv process in turn (each after waiting its
/// delay), the first once the network has the request. `slow` must be a Mastodon account on
/// `network`; `fast` and `later` any accounts. Returns the run and how long smv took after
/// the first signal.
pub fn interrupted_post(
    s: &Sandbox,
    network: &fake_http::FakeServer,
    env: &[(&str, &str)],
    args: &[&str],
    signals: &[(&str, std::time::Duration)],
) -> (Run, std::time::Duration) {
    interrupted_at(s, network, "/api/v1/statuses", env, args, signals)
}

/// [`interrupted_post`], the first signal once the network has a request for `path`.
pub fn interrupted_at(
    s: &Sandbox,
    network: &fake_http::FakeServer,
    path: &str,
    env: &[(&str, &str)],
    args: &[&str],
    signals: &[(&str, std::time::Duration)],
) -> (Run, std::time::Duration) {
    use std::time::{Duration, Instant};
    let mut cmd = s.command();
    cmd.envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn smv");
    let start = Instant::now();
    while !network.requests().iter().any(|r| r.path == path) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the post never reached the network"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child.id().to_string();
    let mut first = None;
    for (signal, delay) in signals {
        std::thread::sleep(*delay);
        let sent = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        first.get_or_insert_with(Instant::now);
    }
    let out = child.wait_with_output().unwrap();
    let took = first.unwrap().elapsed();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    s.transcript
        .borrow_mut()
        .push(format!("{}\n{}", run.stdout, run.stderr));
    (run, took)
}

/// An X credential (OAuth 1.0a user context, the shape `smv account add --provider x`
/// takes) whose two secret fields are `secret`: for tests that need some X secret.
#[allow(dead_code)]
pub fn x_cred(secret: &str) -> Vec<u8> {
    format!(
        "consumer_key=ck-public-1\nconsumer_secret={secret}\naccess_token=1-at-public\naccess_token_secret={secret}\n"
    )
    .into_bytes()
}
