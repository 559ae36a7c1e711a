//! Who is calling: a bearer token, or a mapped Unix uid; and the brake on guessing.
//!
//! The brake counts failed authentications per address (or uid) and never forgets them on a
//! success (a success would otherwise open a new budget of guesses). A blocked address is
//! not shut out: a request from it whose credentials the vault accepts is served as usual
//! (see `routes::gate`), so valid tokens behind one NAT keep working while the guesses
//! from it are refused, with 429 and `Retry-After`, unheard and unaudited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::ops::Principal;
use crate::secret::Secret;
use crate::{Error, Result};

/// The other end of a connection, as the kernel reports it (never as the client claims).
#[derive(Debug, Clone)]
pub enum Peer {
    Tcp(IpAddr),
    /// SO_PEERCRED's uid (None if the kernel would not say).
    Unix(Option<u32>),
}

impl Peer {
    /// The key failed authentications are counted under.
    pub fn key(&self) -> String {
        match self {
            Peer::Tcp(ip) => ip.to_string(),
            Peer::Unix(Some(uid)) => format!("uid:{uid}"),
            Peer::Unix(None) => "uid:?".into(),
        }
    }
}

/// A token in `Authorization: Bearer …` wins; otherwise a Unix peer whose uid is mapped to a
/// member. Anything else is refused before the vault is opened.
pub fn principal(
    headers: &HeaderMap,
    peer: &Peer,
    uids: &HashMap<u32, String>,
) -> Result<Principal> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Error::Unauthenticated)?;
        return Ok(Principal::Token(Secret::from_bytes(
            token.as_bytes().to_vec(),
        )));
    }
    match peer {
        Peer::Unix(Some(uid)) => match uids.get(uid) {
            Some(member) => Ok(Principal::Peer {
                uid: *uid,
                member: member.clone(),
            }),
            None => Err(Error::Unauthenticated),
        },
        _ => Err(Error::Unauthenticated),
    }
}

/// After `max` failed authentications within `window` from one peer, its requests with
/// credentials the vault does not accept are refused, unaudited, until the window has
/// passed. Slows guessing and keeps a flood of bad tokens from filling the audit log.
pub struct Throttle {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    pub fn new(max: u32, window: Duration) -> Throttle {
        Throttle {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long the peer must wait, if it is blocked now.
    pub fn blocked(&self, key: &str) -> Option<Duration> {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let (count, since) = map.get(key)?;
        let elapsed = since.elapsed();
        (*count >= self.max && elapsed < self.window).then(|| self.window - elapsed)
    }

    pub fn failed(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded memory: forget the expired windows when the table grows.
        if map.len() > 10_000 {
            let window = self.window;
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let entry = map.entry(key.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_blocks_after_max_failures_until_the_window_ends() {
        let t = Throttle::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            t.failed("a");
        }
        assert!(t.blocked("a").is_none());
        t.failed("a");
        assert!(t.blocked("a").is_some());
        assert!(t.blocked("b").is_none(), "other peers are not affected");
        let short = Throttle::new(1, Duration::from_millis(1));
        short.failed("a");
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            short.blocked("a").is_none(),
            "the block ends with the window"
        );
    }

    #[test]
    fn principal_comes_from_the_token_or_a_mapped_uid_only() {
        let uids = HashMap::from([(1000, "alice".to_string())]);
        let mut h = HeaderMap::new();
        assert!(matches!(
            principal(&h, &Peer::Unix(Some(1000)), &uids),
            Ok(Principal::Peer { uid: 1000, .. })
        ));
        assert!(principal(&h, &Peer::Unix(Some(1001)), &uids).is_err());
        assert!(principal(&h, &Peer::Unix(None), &uids).is_err());
        assert!(principal(&h, &Peer::Tcp([127, 0, 0, 1].into()), &uids).is_err());
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert!(
            principal(&h, &Peer::Unix(Some(1000)), &uids).is_err(),
            "a bad header is not ignored"
        );
        h.insert("authorization", "Bearer smv_x".parse().unwrap());
        assert!(matches!(
            principal(&h, &Peer::Tcp([127, 0, 0, 1].into()), &uids),
            Ok(Principal::Token(_))
        ));
    }
}
