//! A running `smv serve` on an ephemeral loopback port, for tests that need a member's view
//! through the proxy (the proxy's own tests, with signals and sockets, are in tests/proxy.rs).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

use super::Sandbox;

pub struct Server {
    child: Child,
    pub url: String,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(s: &Sandbox) -> Server {
        let mut cmd = s.command();
        cmd.args([
            "--json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--queue-every",
            "0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn smv serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let ready: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| {
            panic!("no ready line ({e}): {first:?}\n{}", stderr.lock().unwrap())
        });
        let url = ready["urls"][0].as_str().unwrap().to_string();
        Server { child, url, stderr }
    }

    /// What the server wrote to stderr (its request log).
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A client sandbox: no vault, no key, the member's token.
    pub fn client(&self, token: &str) -> Sandbox {
        let c = Sandbox::new();
        c.set_env("SMV_SERVER", &self.url);
        c.set_env("SMV_TOKEN", token);
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
