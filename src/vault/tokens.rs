//! API tokens: what the proxy accepts instead of a custodian key.
//!
//! A token reads `smv_<accessor>_<secret>`. The accessor (`t` + 8 hex digits) is its public
//! name: listings, the audit log and `smv token revoke` use it. Only the SHA-256 of the
//! secret part is stored (it is 256 random bits, so a plain hash is enough: there is nothing
//! to brute-force), and a presented token is compared with it in constant time.

use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{Account, Member, TokenCap, Vault, now};
use crate::access::Level;
use crate::secret::Secret;
use crate::{Error, Result, ids};

/// Personal tokens are a person's daily login to the proxy; CI tokens serve a job, and are
/// handed over rather than revoked when their owner leaves (`smv offboard --to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Personal,
    Ci,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal",
            TokenKind::Ci => "ci",
        }
    }
}

/// A token's record: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    #[serde(skip)]
    pub row: i64,
    pub accessor: String,
    pub name: String,
    pub owner: String,
    #[serde(skip)]
    pub owner_id: i64,
    pub kind: TokenKind,
    pub level: Level,
    pub accounts: Vec<String>,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub revoked_by: Option<String>,
    pub reason: Option<String>,
}

impl Token {
    pub fn is_live(&self, at: &str) -> bool {
        self.revoked_at.is_none() && self.expires_at.as_str() > at
    }
}

pub struct NewToken<'a> {
    pub name: &'a str,
    pub owner: &'a Member,
    pub kind: TokenKind,
    pub level: Level,
    pub accounts: &'a [Account],
    pub expires_at: &'a str,
    pub created_by: &'a str,
}

const TOKEN_COLUMNS: &str = "t.id, t.accessor, t.name, m.name, t.owner_id, t.kind, t.level, t.created_at, t.created_by, t.expires_at, t.revoked_at, t.revoked_by, t.reason";

fn token_from_row(r: &Row) -> rusqlite::Result<Token> {
    let kind: String = r.get(5)?;
    let level: String = r.get(6)?;
    Ok(Token {
        row: r.get(0)?,
        accessor: r.get(1)?,
        name: r.get(2)?,
        owner: r.get(3)?,
        owner_id: r.get(4)?,
        // The CHECK constraints keep these to known values.
        kind: if kind == "ci" {
            TokenKind::Ci
        } else {
            TokenKind::Personal
        },
        level: level.parse().unwrap_or(Level::Draft),
        accounts: Vec::new(),
        created_at: r.get(7)?,
        created_by: r.get(8)?,
        expires_at: r.get(9)?,
        revoked_at: r.get(10)?,
        revoked_by: r.get(11)?,
        reason: r.get(12)?,
    })
}

fn secret_hash(secret_part: &str) -> String {
    use sha2::Digest;
    ids::hex(&sha2::Sha256::digest(secret_part.as_bytes()))
}

/// Splits `smv_<accessor>_<secret>`; None for anything else.
fn parse(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix("smv_")?;
    let (accessor, secret) = rest.split_once('_')?;
    let ok = accessor.len() == 9
        && accessor.starts_with('t')
        && accessor[1..].bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == 64
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some((accessor, secret))
}

/// Why a presented token is not accepted. Deliberately coarse towards the caller (the proxy
/// answers 401 for all of them); precise in the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRefusal {
    Malformed,
    Unknown,
    WrongSecret,
    Revoked,
    Expired,
    OwnerRemoved,
}

impl TokenRefusal {
    pub fn describe(&self) -> &'static str {
        match self {
            TokenRefusal::Malformed => "not an smv token",
            TokenRefusal::Unknown => "no such token",
            TokenRefusal::WrongSecret => "the token's secret does not match",
            TokenRefusal::Revoked => "the token was revoked",
            TokenRefusal::Expired => "the token has expired",
            TokenRefusal::OwnerRemoved => "the token's owner was removed",
        }
    }
}

/// A token's record and its owner acting through it (capped by the token), or the accessor (when the token named one) and why it was
/// refused.
pub type Authentication = std::result::Result<(Token, Member), (Option<String>, TokenRefusal)>;

impl Vault {
    /// Stores a new token and returns its record and the whole token, which exists nowhere
    /// else: the caller shows it once.
    pub fn insert_token(&self, t: NewToken) -> Result<(Token, Secret)> {
        let accessor = format!("t{}", ids::random_hex(4));
        let secret_part = ids::random_hex(32);
        self.conn.prepare_cached("INSERT INTO tokens (accessor, name, owner_id, kind, level, secret_sha256, created_at, created_by, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?.execute((
                &accessor,
                t.name,
                t.owner.id,
                t.kind.as_str(),
                t.level.as_str(),
                secret_hash(&secret_part),
                now(),
                t.created_by,
                t.expires_at,
            ),
        )?;
        let row = self.conn.last_insert_rowid();
        for a in t.accounts {
            self.conn
                .prepare_cached(
                    "INSERT INTO token_accounts (token_id, account_id) VALUES (?1, ?2)",
                )?
                .execute((row, a.id))?;
        }
        let whole = Secret::from_bytes(format!("smv_{accessor}_{secret_part}").into_bytes());
        Ok((self.token(&accessor)?, whole))
    }

    pub fn token(&self, accessor: &str) -> Result<Token> {
        let t = self
            .conn
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens t JOIN members m ON m.id = t.owner_id
                     WHERE t.accessor = ?1"
            ))?
            .query_row([accessor], token_from_row)
            .optional()?
            .ok_or_else(|| {
                Error::not_found("token", accessor)
                    .with_hint("`smv token list` shows the accessors")
            })?;
        self.fill_token(t)
    }

    /// All tokens, newest first.
    pub fn tokens(&self) -> Result<Vec<Token>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens t JOIN members m ON m.id = t.owner_id ORDER BY t.id DESC"
        ))?;
        let rows: Vec<Token> = stmt
            .query_map([], token_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(|t| self.fill_token(t)).collect()
    }

    /// Unrevoked tokens `member` owns or created (a creator saw the token once).
    pub fn open_tokens_of(&self, member: &Member) -> Result<Vec<Token>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens t JOIN members m ON m.id = t.owner_id
             WHERE t.revoked_at IS NULL AND (t.owner_id = ?1 OR t.created_by = ?2) ORDER BY t.id"
        ))?;
        let rows: Vec<Token> = stmt
            .query_map((member.id, &member.name), token_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(|t| self.fill_token(t)).collect()
    }

    fn fill_token(&self, mut t: Token) -> Result<Token> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.name FROM token_accounts ta JOIN accounts a ON a.id = ta.account_id
             WHERE ta.token_id = ?1 ORDER BY a.name",
        )?;
        t.accounts = stmt
            .query_map([t.row], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(t)
    }

    /// Revokes the token, and holds the posts scheduled through it that have not gone out
    /// yet (their authority is gone): returns the held posts' ids.
    pub fn revoke_token(&self, t: &Token, by: &str, reason: &str) -> Result<Vec<String>> {
        self.conn.prepare_cached("UPDATE tokens SET revoked_at = ?2, revoked_by = ?3, reason = ?4 WHERE id = ?1 AND revoked_at IS NULL")?.execute((t.row, now(), by, reason),
        )?;
        self.hold_queued_of_token(
            t.row,
            &format!(
                "held: token {} that scheduled it was revoked ({reason})",
                t.accessor
            ),
        )
    }

    /// Gives the token a new secret (the old one stops working with this change) and, if
    /// `owner` is another member, a new owner. `by` is who receives the new secret: it is
    /// recorded as the token's creator (the one who has seen it). Returns the whole new
    /// token, which exists nowhere else.
    pub fn reissue_token(&self, t: &Token, owner: &Member, by: &str) -> Result<Secret> {
        let secret_part = ids::random_hex(32);
        self.conn.prepare_cached("UPDATE tokens SET owner_id = ?2, secret_sha256 = ?3, created_by = ?4, created_at = ?5
             WHERE id = ?1")?.execute((t.row, owner.id, secret_hash(&secret_part), by, now()),
        )?;
        Ok(Secret::from_bytes(
            format!("smv_{}_{secret_part}", t.accessor).into_bytes(),
        ))
    }

    /// The token with this row id (queue entries refer to tokens by row).
    pub fn token_by_row(&self, row: i64) -> Result<Token> {
        let accessor: String = self
            .conn
            .prepare_cached("SELECT accessor FROM tokens WHERE id = ?1")?
            .query_row([row], |r| r.get(0))?;
        self.token(&accessor)
    }

    /// The token and its (active) owner for a presented token string, or why not. `at` is
    /// the current time in the stored form.
    pub fn authenticate_token(&self, presented: &str, at: &str) -> Result<Authentication> {
        let Some((accessor, secret_part)) = parse(presented.trim()) else {
            return Ok(Err((None, TokenRefusal::Malformed)));
        };
        let stored: Option<String> = self
            .conn
            .prepare_cached("SELECT secret_sha256 FROM tokens WHERE accessor = ?1")?
            .query_row([accessor], |r| r.get(0))
            .optional()?;
        let refuse = |why| Ok(Err((Some(accessor.to_string()), why)));
        let Some(stored) = stored else {
            return refuse(TokenRefusal::Unknown);
        };
        let presented_hash = secret_hash(secret_part);
        if !bool::from(presented_hash.as_bytes().ct_eq(stored.as_bytes())) {
            return refuse(TokenRefusal::WrongSecret);
        }
        self.token_authority(self.token(accessor)?, at)
    }

    /// The token's owner acting through it (capped by it), if the token is valid at `at`
    /// (not revoked, not expired, its owner active); or why not. The secret is not checked:
    /// for authority granted earlier through the token (a scheduled post).
    pub fn token_authority(&self, token: Token, at: &str) -> Result<Authentication> {
        let refuse = |why| Ok(Err((Some(token.accessor.clone()), why)));
        if token.revoked_at.is_some() {
            return refuse(TokenRefusal::Revoked);
        }
        if token.expires_at.as_str() <= at {
            return refuse(TokenRefusal::Expired);
        }
        let owner = self.member(&token.owner)?;
        if !owner.active {
            return refuse(TokenRefusal::OwnerRemoved);
        }
        let account_ids = self
            .conn
            .prepare_cached("SELECT account_id FROM token_accounts WHERE token_id = ?1")?
            .query_map([token.row], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let cap = TokenCap {
            accessor: token.accessor.clone(),
            level: token.level,
            account_ids,
        };
        Ok(Ok((token, owner.capped_by(cap))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::vault::{NewAccount, NewMember};

    fn vault() -> (Vault, Member, Account) {
        let v = Vault::create(std::path::Path::new("/nonexistent/v.smv")).unwrap();
        let m = v
            .insert_member(NewMember {
                name: "ci",
                role: Role::Member,
                recipient: None,
                created_by: "alice",
            })
            .unwrap();
        let a = v
            .insert_account(
                NewAccount {
                    name: "demo",
                    provider: "outbox",
                    handle: None,
                    url: None,
                    created_by: "alice",
                },
                None,
            )
            .unwrap();
        (v, m, a)
    }

    fn mint(v: &Vault, m: &Member, a: &Account, expires_at: &str) -> (Token, String) {
        let (t, s) = v
            .insert_token(NewToken {
                name: "release",
                owner: m,
                kind: TokenKind::Ci,
                level: Level::Post,
                accounts: std::slice::from_ref(a),
                expires_at,
                created_by: "alice",
            })
            .unwrap();
        (
            t,
            String::from_utf8(s.expose_to_provider().to_vec()).unwrap(),
        )
    }

    const NOW: &str = "2026-06-01T00:00:00Z";

    #[test]
    fn a_token_is_accepted_only_whole_live_and_owned() {
        let (v, m, a) = vault();
        let (t, whole) = mint(&v, &m, &a, "2026-09-01T00:00:00Z");
        assert!(whole.starts_with(&format!("smv_{}_", t.accessor)));
        assert_eq!(t.accounts, ["demo"]);
        let (got, owner) = v.authenticate_token(&whole, NOW).unwrap().unwrap();
        assert_eq!(
            (got.accessor.as_str(), owner.name.as_str()),
            (t.accessor.as_str(), "ci")
        );

        let refusal =
            |presented: &str, at: &str| v.authenticate_token(presented, at).unwrap().unwrap_err().1;
        // Only the hash is stored: the table never holds the secret part.
        let stored: String = v
            .conn
            .query_row("SELECT secret_sha256 FROM tokens", [], |r| r.get(0))
            .unwrap();
        assert!(!whole.contains(&stored));
        let secret_part = whole.rsplit('_').next().unwrap();
        assert_eq!(stored, secret_hash(secret_part));

        let mut flipped = whole.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            refusal(std::str::from_utf8(&flipped).unwrap(), NOW),
            TokenRefusal::WrongSecret
        );
        assert_eq!(
            refusal("smv_t00000000_".to_string().as_str(), NOW),
            TokenRefusal::Malformed
        );
        assert_eq!(refusal("Bearer nonsense", NOW), TokenRefusal::Malformed);
        let unknown = format!("smv_t00000000_{}", "a".repeat(64));
        assert_eq!(refusal(&unknown, NOW), TokenRefusal::Unknown);
        assert_eq!(
            refusal(&whole, "2026-09-01T00:00:00Z"),
            TokenRefusal::Expired
        );

        v.disable_member(&m).unwrap();
        assert_eq!(refusal(&whole, NOW), TokenRefusal::OwnerRemoved);
        v.revoke_token(&t, "alice", "test").unwrap();
        assert_eq!(refusal(&whole, NOW), TokenRefusal::Revoked);
    }

    /// Every (member's grant, token level) pair, on the token's account and off it, and an
    /// admin owner: the token never adds, only takes away.
    #[test]
    fn a_token_caps_grants_and_role() {
        let (v, m, a) = vault();
        let b = v
            .insert_account(
                NewAccount {
                    name: "other",
                    provider: "outbox",
                    handle: None,
                    url: None,
                    created_by: "alice",
                },
                None,
            )
            .unwrap();
        let admin = v
            .insert_member(NewMember {
                name: "root",
                role: Role::Admin,
                recipient: None,
                created_by: "alice",
            })
            .unwrap();
        for owner in [&m, &admin] {
            for token_level in Level::ALL {
                for own in [
                    None,
                    Some(Level::Draft),
                    Some(Level::Post),
                    Some(Level::Approve),
                    Some(Level::Manage),
                ] {
                    match own {
                        Some(l) => {
                            v.set_grant(owner, a.id, l, "alice").unwrap();
                            v.set_grant(owner, b.id, l, "alice").unwrap();
                        }
                        None => {
                            v.remove_grant(owner, a.id).unwrap();
                            v.remove_grant(owner, b.id).unwrap();
                        }
                    }
                    let (_, whole) = v
                        .insert_token(NewToken {
                            name: "t",
                            owner,
                            kind: TokenKind::Personal,
                            level: token_level,
                            accounts: std::slice::from_ref(&a),
                            expires_at: "2026-09-01T00:00:00Z",
                            created_by: "alice",
                        })
                        .unwrap();
                    let whole = String::from_utf8(whole.expose_to_provider().to_vec()).unwrap();
                    let (_, acting) = v.authenticate_token(&whole, NOW).unwrap().unwrap();
                    let case = format!("{} own {own:?} token {token_level:?}", owner.name);
                    assert_eq!(
                        v.grant_level(&acting, a.id).unwrap(),
                        own.map(|l| l.min(token_level)),
                        "{case}"
                    );
                    assert_eq!(v.grant_level(&acting, b.id).unwrap(), None, "{case}");
                    // The uncapped member keeps the grant on both.
                    assert_eq!(v.grant_level(owner, b.id).unwrap(), own, "{case}");
                    assert_eq!(acting.role, Role::Member, "{case}");
                }
            }
        }
    }
}
