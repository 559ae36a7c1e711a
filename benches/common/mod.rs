//! Timing helpers shared by the benchmarks: medians and percentiles of many runs, no
//! external harness (so `cargo test` builds stay lean). Figures are reported, never asserted.
#![allow(dead_code)]

use std::time::{Duration, Instant};

pub struct Stats {
    pub median: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub runs: usize,
}

pub fn measure(runs: usize, mut f: impl FnMut()) -> Stats {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    Stats {
        median: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        runs,
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

pub fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// A small deterministic generator (xorshift64*), so runs are comparable.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes a vault filled through the library the way smv writes one: the audit log records
/// the new file (its generation and hash) before it is put in place, so that the commands
/// measured accept it as the latest (an unrecorded file is refused as not the vault the log
/// knows). The fixture is not what is measured.
pub fn save_recorded(
    v: &mut smv::vault::Vault,
    me: &smv::identity::Identity,
    audit: &std::path::Path,
) {
    use smv::audit::{AuditLog, Channel, LogKey, Outcome, Record, VaultFile};
    let generation = v.next_generation().unwrap();
    let sealed = v.seal(me, generation, v.epoch().unwrap()).unwrap();
    let file = VaultFile {
        generation: sealed.generation,
        epoch: sealed.epoch,
        sha256: sealed.sha256.clone(),
    };
    let mut log = AuditLog::open_signing(audit, LogKey::from_vault(v).unwrap()).unwrap();
    let intent = Record {
        actor: "bench".into(),
        channel: Channel::Local,
        action: "bench.fill".into(),
        target: "vault".into(),
        outcome: Outcome::Intent,
        reason: None,
        request_id: "bench".into(),
        details: Default::default(),
    };
    log.append_batch(&[intent.clone(), file.record(&intent, Outcome::Intent, None)])
        .unwrap();
    v.install(sealed, me, smv::vault::WriteMode::Replace)
        .unwrap();
    let done = Record {
        outcome: Outcome::Ok,
        ..intent.clone()
    };
    log.append_batch(&[done, file.record(&intent, Outcome::Ok, None)])
        .unwrap();
}
