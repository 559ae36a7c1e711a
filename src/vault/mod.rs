//! The vault: one file holding the whole SQLite database, age-encrypted to the custodians.
//!
//! In memory it is an ordinary SQLite connection (deserialized from the decrypted image); on
//! disk it is only ever replaced whole, atomically (see [`file`]). The domain tables live in
//! the sibling modules named after them.

mod accounts;
mod drafts;
mod file;
mod groups;
pub mod lock;
mod members;
mod meta;
pub mod pins;
mod policy;
mod queue;
mod schema;
mod status;
mod tokens;

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use zeroize::Zeroizing;

use crate::envelope::{self, DecryptFailure};
use crate::identity::Identity;
use crate::{Error, Result};

pub(crate) use accounts::former_name;
pub use accounts::{Account, NewAccount, NewSecret};
pub use drafts::{Approval, Draft, text_hash};
pub use members::{Grant, Member, NewMember, TokenCap};
pub use meta::VaultKeys;
pub use policy::{Freeze, Policy};
pub use queue::Queued;
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};
pub use status::{DraftStatus, QueueStatus};
pub use tokens::{NewToken, Token, TokenKind, TokenRefusal};

pub struct Vault {
    conn: Connection,
    path: PathBuf,
    /// Which file this was read from: every save replaces the file by rename, so another
    /// inode at the path means someone changed the vault since. The change time and length
    /// are kept too: a long-running server could otherwise see a later version that
    /// happens to reuse a freed inode number as the one it read.
    file_id: Option<FileId>,
    /// SHA-256 (hex) of the file's bytes as read or last written: what the audit log records
    /// for each write, so that the log can tell whether this file is the latest vault.
    file_sha256: Option<String>,
    /// The generation the next write takes: set by whoever checked this copy against the
    /// audit log (which may record generations beyond this copy's, by writes that failed).
    next_generation: Option<u64>,
}

/// A vault encrypted for writing, not yet on disk: the audit log records its generation and
/// hash before the file is replaced ([`Vault::install`]).
pub struct Sealed {
    pub generation: u64,
    pub epoch: u64,
    /// SHA-256 of `ciphertext`, hex.
    pub sha256: String,
    ciphertext: Vec<u8>,
    image: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("generation", &self.generation)
            .field("epoch", &self.epoch)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

/// How [`Vault::install`] puts the file in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace the existing vault.
    Replace,
    /// Create a vault where none may exist yet (`smv init`).
    CreateNew,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";

/// Compiled statements a vault keeps for reuse (`prepare_cached`): a long-lived vault (the
/// server's) runs the same few dozen queries for every request, and compiling SQL was a
/// fifth of the server's CPU (benches/proxy.rs, docs/performance.md).
pub const STATEMENTS_KEPT: usize = 96;

/// From this size on, a vault file is hashed on a second thread while it is decrypted.
const HASH_BESIDE: usize = 1 << 20;

impl Vault {
    /// A new, empty vault in memory (not yet on disk: call [`Vault::save_new`]).
    pub fn create(path: &Path) -> Result<Vault> {
        let conn = Connection::open_in_memory()?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        schema::initialise(&conn)?;
        meta::initialise(&conn)?;
        Ok(Vault {
            conn,
            path: path.to_path_buf(),
            file_id: None,
            file_sha256: None,
            next_generation: None,
        })
    }

    /// Reads, decrypts and checks the vault file. Nothing is written: a file that fails any
    /// check is reported and left exactly as it is.
    pub fn load(path: &Path, identity: &Identity) -> Result<Vault> {
        Self::load_known(path, identity, None)
    }

    /// [`Vault::load`], but a file whose SHA-256 is `sound` (one whose database image this
    /// machine has checked page by page before: `vault::pins`) is not checked again. The
    /// check reads every page: 28 ms of a 10,000-account vault's 40 ms open.
    pub fn load_known(path: &Path, identity: &Identity, sound: Option<&str>) -> Result<Vault> {
        let (bytes, file_id) = read_with_id(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NoVault(path.to_path_buf()),
            _ => Error::io("read vault", path, e),
        })?;
        let foreign = |why: &str| Error::Foreign {
            path: path.to_path_buf(),
            why: why.into(),
        };
        if bytes.is_empty() {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                why: "the file is empty".into(),
            });
        }
        if !envelope::looks_like_age(&bytes) {
            return Err(foreign("it is not an age-encrypted file"));
        }
        // The file's SHA-256 (for freshness: the log records each write's) is computed
        // beside the decryption on a big file: 3 ms of a 10,000-account vault's open.
        let (image, sha256) = if bytes.len() > HASH_BESIDE {
            std::thread::scope(|s| {
                let hashing = s.spawn(|| sha256_hex(&bytes));
                let image = envelope::decrypt_with(identity.age_identity(), &bytes);
                (image, hashing.join().ok())
            })
        } else {
            (
                envelope::decrypt_with(identity.age_identity(), &bytes),
                None,
            )
        };
        let image = match image {
            Ok(image) => image,
            Err(DecryptFailure::NotForUs) => {
                return Err(Error::NotCustodian {
                    recipient: identity.recipient_string(),
                    source_name: identity.source.describe(),
                    path: path.to_path_buf(),
                });
            }
            Err(DecryptFailure::Damaged(why)) => {
                return Err(Error::Corrupt {
                    path: path.to_path_buf(),
                    why: format!("decryption failed: {why}"),
                });
            }
        };
        let sha256 = sha256.unwrap_or_else(|| sha256_hex(&bytes));
        let check = sound != Some(sha256.as_str());
        let mut vault = Self::from_image(path, &image, check)?;
        vault.file_id = Some(file_id);
        vault.file_sha256 = Some(sha256);
        Ok(vault)
    }

    /// Whether the file at the path is still the one this vault was read from (or last
    /// wrote). A cheap `stat`: the posting gate uses it to notice a freeze, a revoked grant
    /// or a policy change made since this process loaded the vault.
    pub fn is_current(&self) -> bool {
        match (self.file_id, file_id_of(&self.path)) {
            (Some(mine), Ok(theirs)) => mine == theirs,
            _ => false,
        }
    }

    /// A vault from a plaintext database image (checked like a file's): for stores that keep
    /// the state unencrypted in their own memory (`store::memory`).
    pub fn from_plain_image(path: &Path, image: &[u8]) -> Result<Vault> {
        Self::from_image(path, image, true)
    }

    /// `check`: whether to check every page of the image (see [`Vault::load_known`]).
    fn from_image(path: &Path, image: &[u8], check: bool) -> Result<Vault> {
        if !image.starts_with(SQLITE_MAGIC) {
            return Err(Error::Foreign {
                path: path.to_path_buf(),
                why: "it decrypts, but to something other than a SQLite database".into(),
            });
        }
        let corrupt = |why: String| Error::Corrupt {
            path: path.to_path_buf(),
            why,
        };
        let mut conn = Connection::open_in_memory()?;
        conn.set_prepared_statement_cache_capacity(STATEMENTS_KEPT);
        conn.deserialize_read_exact(rusqlite::MAIN_DB, image, image.len(), false)
            .map_err(|e| corrupt(format!("the database image is unreadable: {e}")))?;
        // The age MAC proves the file is what a custodian wrote, not that what they wrote
        // was sound (a damaged image re-encrypted with `age`): check every page once, here,
        // rather than fail on whichever query reaches the damage first.
        if check {
            let said: String = conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))
                .map_err(|e| corrupt(format!("the database image is damaged: {e}")))?;
            if said != "ok" {
                return Err(corrupt(format!("the database image is damaged: {said}")));
            }
        }
        schema::check_and_migrate(&conn, path).map_err(|e| match e {
            Error::Internal(why) => corrupt(why),
            other => other,
        })?;
        Ok(Vault {
            conn,
            path: path.to_path_buf(),
            file_id: None,
            file_sha256: None,
            next_generation: None,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes this copy the vault at `path`: the next write goes there (`smv restore`, which
    /// reads a backup copy and writes it as the vault).
    pub fn relocate(&mut self, path: &Path) {
        self.path = path.to_path_buf();
        self.file_id = None;
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The plaintext database image. Zeroized on drop.
    pub fn plain_image(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        self.image()
    }

    /// Sets this copy's generation and epoch without sealing it: for stores that keep the
    /// state in memory (the file store's [`Vault::seal`] does this itself).
    pub fn set_written_as(&mut self, generation: u64, epoch: u64) -> Result<()> {
        self.set_generation(generation, epoch)
    }

    fn image(&mut self) -> Result<Zeroizing<Vec<u8>>> {
        let data = self.conn.serialize(rusqlite::MAIN_DB)?;
        Ok(Zeroizing::new(data.to_vec()))
    }

    /// SHA-256 (hex) of the file this copy was read from or last written to.
    pub fn file_sha256(&self) -> Option<&str> {
        self.file_sha256.as_deref()
    }

    /// The generation the next write takes: one past this copy's, or past what the caller
    /// knows was recorded (see [`Vault::set_next_generation`]).
    pub fn next_generation(&self) -> Result<u64> {
        let own = self.generation()?.unwrap_or(0) + 1;
        Ok(self.next_generation.map_or(own, |n| n.max(own)))
    }

    /// Raises the generation the next write takes (never lowers it).
    pub fn set_next_generation(&mut self, at_least: u64) {
        self.next_generation = Some(self.next_generation.map_or(at_least, |n| n.max(at_least)));
    }

    /// Encrypts the vault to its current custodians as generation `generation` of restore
    /// epoch `epoch`. Nothing is written yet: the caller records the result's generation and
    /// hash in the audit log, then calls [`Vault::install`]. The writer's identity must remain
    /// a custodian: it is used to prove that the new file opens before it replaces the old one.
    pub fn seal(&mut self, writer: &Identity, generation: u64, epoch: u64) -> Result<Sealed> {
        let recipients = self.custodian_recipients()?;
        let me = writer.recipient_string();
        if !recipients.iter().any(|r| r.to_string() == me) {
            return Err(Error::Conflict(
                "this change would leave the vault encrypted to keys that do not include yours, so smv could not verify the new file".into(),
                Some("ask another custodian to make this change".into()),
            ));
        }
        // Secrets an older smv stored with surrounding whitespace: canonical from this write.
        self.normalise_stored_secrets()?;
        self.set_generation(generation, epoch)?;
        let image = self.image()?;
        let ciphertext = envelope::encrypt_to(&recipients, &image)
            .map_err(|e| Error::Internal(format!("encryption failed: {e}")))?;
        Ok(Sealed {
            generation,
            epoch,
            sha256: sha256_hex(&ciphertext),
            ciphertext,
            image,
        })
    }

    /// Atomically puts a sealed vault in place (see [`file`]): read back and decrypted with
    /// the writer's key before it replaces the old file.
    pub fn install(&mut self, sealed: Sealed, writer: &Identity, mode: WriteMode) -> Result<()> {
        let path = self.path.clone();
        self.file_id = None;
        self.file_sha256 = None;
        let image = &sealed.image;
        let mode = match mode {
            WriteMode::Replace => file::Mode::Replace,
            WriteMode::CreateNew => file::Mode::CreateNew,
        };
        file::write_atomically(&path, &sealed.ciphertext, mode, |written| {
            match envelope::decrypt_with(writer.age_identity(), written) {
                Ok(back) if back[..] == image[..] => Ok(()),
                Ok(_) => Err("the file read back differs from what was written".to_string()),
                Err(DecryptFailure::NotForUs) => {
                    Err("the new file does not open with the writer's key".into())
                }
                Err(DecryptFailure::Damaged(why)) => {
                    Err(format!("the new file does not decrypt: {why}"))
                }
            }
        })?;
        self.file_id = file_id_of(&path).ok();
        self.file_sha256 = Some(sealed.sha256);
        self.next_generation = None;
        Ok(())
    }

    /// Seals and installs without recording anything: for the vault's own unit tests only.
    /// Every real write goes through `ops`, which records it in the audit log.
    #[cfg(test)]
    pub fn save(&mut self, writer: &Identity) -> Result<()> {
        let (generation, epoch) = (self.next_generation()?, self.epoch()?);
        let sealed = self.seal(writer, generation, epoch)?;
        self.install(sealed, writer, WriteMode::Replace)
    }

    /// See [`Vault::save`].
    #[cfg(test)]
    pub fn save_new(&mut self, writer: &Identity) -> Result<()> {
        let sealed = self.seal(writer, 1, 0)?;
        self.install(sealed, writer, WriteMode::CreateNew)
    }

    /// The age recipients of all active custodians, parsed.
    pub fn custodian_recipients(&self) -> Result<Vec<age::x25519::Recipient>> {
        self.custodians()?
            .into_iter()
            .filter_map(|m| m.recipient)
            .map(|r| {
                r.parse::<age::x25519::Recipient>()
                    .map_err(|_| Error::Internal(format!("stored recipient {r} is malformed")))
            })
            .collect()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    crate::ids::hex(&sha2::Sha256::digest(bytes))
}

/// See [`Vault::file_id`].
type FileId = (u64, u64, i64, i64, u64);

fn read_with_id(path: &Path) -> std::io::Result<(Vec<u8>, FileId)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let id = id_of(&file.metadata()?);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok((bytes, id))
}

fn file_id_of(path: &Path) -> std::io::Result<FileId> {
    Ok(id_of(&std::fs::metadata(path)?))
}

#[cfg(unix)]
fn id_of(m: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (m.dev(), m.ino(), m.ctime(), m.ctime_nsec(), m.size())
}

#[cfg(not(unix))]
fn id_of(m: &std::fs::Metadata) -> FileId {
    // No inode: the modification time and length stand in (coarser, still a change signal).
    let t = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64);
    (t, m.len(), 0, 0, 0)
}

/// Record timestamps: UTC, RFC 3339, whole seconds.
pub(crate) fn now() -> String {
    crate::clock::now_stamp()
}

/// Audit timestamps: UTC, RFC 3339, microseconds (entries of one command are ordered by
/// sequence number anyway; the precision is for people correlating with other logs).
pub(crate) fn now_precise() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests;
