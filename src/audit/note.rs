//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, and the C2SP
//! transparency-log checkpoint body carried in them (<https://c2sp.org/tlog-checkpoint>),
//! byte-compatible with Go's `golang.org/x/mod/sumdb/note`.
//!
//! A signed note is UTF-8 text with no ASCII control characters other than newline: the
//! note text (ending in a newline), a blank line, then one or more signature lines
//!
//! ```text
//! — <key name> base64(key ID [4 bytes, big-endian] || Ed25519 signature of the text [64])
//! ```
//!
//! (em dash U+2014, space, name, space, signature, newline). The text is split from the
//! signatures at the *last* blank line, so it may itself contain blank lines. The key ID
//! is the first four bytes of `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`,
//! and a verifier key is written `<name>+<key ID, 8 hex digits>+base64(0x01 || public
//! key)`, as by Go's `note.NewEd25519VerifierKey`.
//!
//! [`open`] follows the spec's rules: signatures by unknown keys (name or key ID
//! different from every known key) are ignored and counted; every signature by a known
//! key must verify or the whole note is rejected; at least one must verify. It is
//! stricter than Go's `note.Open` in three ways: base64 must be canonical (Go accepts
//! non-zero trailing bits, so there a changed final character can leave the signature
//! the same), repeated signatures by a known key are each verified (Go checks only the
//! first), and Ed25519 verification uses `verify_strict` (rejects small-order keys and
//! points). Two known keys sharing a name and key ID but with different public keys are
//! an error; the same key given twice is not (Go rejects both).

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The most signature lines [`open`] accepts in one note (as Go's `note.Open`; the spec
/// requires at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The signature type byte of Ed25519 in key IDs and verifier keys.
const ALG_ED25519: u8 = 0x01;

/// Every signature line starts with an em dash (U+2014) and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a key, note or checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteError {
    /// A key name is empty or contains whitespace, a control character or '+'.
    InvalidKeyName,
    /// A verifier key is not `<name>+<8 hex digits>+<base64>`.
    MalformedVerifierKey(&'static str),
    /// A verifier key's key ID does not match its name and public key.
    KeyIdMismatch,
    /// A verifier key is for a signature type other than Ed25519 (0x01).
    UnsupportedAlgorithm(u8),
    /// A verifier key's public key is not a valid 32-byte Ed25519 key.
    InvalidPublicKey,
    /// The text to sign is empty.
    EmptyText,
    /// The text to sign, or a signed note, does not end with a newline.
    MissingFinalNewline,
    /// The text contains an ASCII control character other than newline.
    ControlCharacter,
    /// The note has no blank line between its text and its signatures.
    MissingSeparator,
    /// A signature line is malformed; says how.
    MalformedSignatureLine(&'static str),
    /// The note has more than [`MAX_SIGNATURES`] signature lines.
    TooManySignatures,
    /// More than one known key, with different public keys, has this name and key ID.
    AmbiguousKey { name: String, key_id: u32 },
    /// A signature by a known key (name and key ID) does not verify.
    InvalidSignature { name: String, key_id: u32 },
    /// No signature in the note is by a known key.
    Unverified,
    /// A checkpoint body does not end with a newline.
    CheckpointMissingFinalNewline,
    /// A checkpoint body contains an ASCII control character other than newline.
    CheckpointControlCharacter,
    /// A checkpoint body has fewer than three lines (origin, size, root hash).
    CheckpointTooShort,
    /// A checkpoint's origin line is empty.
    CheckpointEmptyOrigin,
    /// A checkpoint's size line is not ASCII decimal digits.
    CheckpointSizeNotDecimal,
    /// A checkpoint's size has a leading zero.
    CheckpointSizeLeadingZero,
    /// A checkpoint's size does not fit in 64 bits.
    CheckpointSizeTooLarge,
    /// A checkpoint's root hash line is not canonical base64.
    CheckpointRootNotBase64,
    /// A checkpoint's root hash is not 32 bytes; holds the length.
    CheckpointRootLength(usize),
    /// A checkpoint has an empty extension line.
    CheckpointEmptyExtension,
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoteError::InvalidKeyName => {
                f.write_str("key name is empty or contains whitespace, a control character or '+'")
            }
            NoteError::MalformedVerifierKey(why) => write!(f, "malformed verifier key: {why}"),
            NoteError::KeyIdMismatch => {
                f.write_str("verifier key id does not match its name and public key")
            }
            NoteError::UnsupportedAlgorithm(alg) => {
                write!(f, "verifier key has unsupported signature type 0x{alg:02x}")
            }
            NoteError::InvalidPublicKey => {
                f.write_str("verifier key is not a valid ed25519 public key")
            }
            NoteError::EmptyText => f.write_str("note text is empty"),
            NoteError::MissingFinalNewline => f.write_str("note does not end with a newline"),
            NoteError::ControlCharacter => {
                f.write_str("note contains a control character other than newline")
            }
            NoteError::MissingSeparator => {
                f.write_str("note has no blank line before its signatures")
            }
            NoteError::MalformedSignatureLine(why) => {
                write!(f, "malformed note signature line: {why}")
            }
            NoteError::TooManySignatures => {
                write!(f, "note has more than {MAX_SIGNATURES} signatures")
            }
            NoteError::AmbiguousKey { name, key_id } => {
                write!(f, "ambiguous key {name}+{key_id:08x}")
            }
            NoteError::InvalidSignature { name, key_id } => {
                write!(f, "invalid signature for key {name}+{key_id:08x}")
            }
            NoteError::Unverified => f.write_str("note has no signature by a known key"),
            NoteError::CheckpointMissingFinalNewline => {
                f.write_str("checkpoint does not end with a newline")
            }
            NoteError::CheckpointControlCharacter => {
                f.write_str("checkpoint contains a control character other than newline")
            }
            NoteError::CheckpointTooShort => {
                f.write_str("checkpoint has fewer than three lines (origin, size, root hash)")
            }
            NoteError::CheckpointEmptyOrigin => f.write_str("checkpoint origin is empty"),
            NoteError::CheckpointSizeNotDecimal => {
                f.write_str("checkpoint size is not a decimal number")
            }
            NoteError::CheckpointSizeLeadingZero => {
                f.write_str("checkpoint size has a leading zero")
            }
            NoteError::CheckpointSizeTooLarge => {
                f.write_str("checkpoint size does not fit in 64 bits")
            }
            NoteError::CheckpointRootNotBase64 => {
                f.write_str("checkpoint root hash is not valid base64")
            }
            NoteError::CheckpointRootLength(n) => {
                write!(f, "checkpoint root hash is {n} bytes, not 32")
            }
            NoteError::CheckpointEmptyExtension => {
                f.write_str("checkpoint has an empty extension line")
            }
        }
    }
}

impl std::error::Error for NoteError {}

/// Whether `name` may name a key: non-empty, without whitespace (Unicode White_Space, as
/// Go's `unicode.IsSpace`), '+' or control characters (a note could not carry those).
fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// Whether `text` has an ASCII control character other than newline.
fn has_control(text: &str) -> bool {
    text.bytes().any(|b| b < 0x20 && b != b'\n')
}

/// The key ID of a key with this name and encoded public key (type byte and key):
/// the first four bytes, big-endian, of SHA-256(name || "\n" || encoded key).
fn key_id_of(name: &str, encoded_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update(encoded_key);
    let digest = h.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// `0x01 || public key`, the encoding hashed into key IDs and written in verifier keys.
fn encode_key(key: &VerifyingKey) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[0] = ALG_ED25519;
    out[1..].copy_from_slice(key.as_bytes());
    out
}

/// Signs note texts with a named Ed25519 key. Its `Debug` shows the name and key ID only.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer for `key` under the key name `name` (non-empty, without whitespace,
    /// control characters or '+'; C2SP recommends a schema-less URL).
    pub fn new(name: &str, key: SigningKey) -> Result<NoteSigner, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key_id = key_id_of(name, &encode_key(&key.verifying_key()));
        Ok(NoteSigner {
            name: name.to_string(),
            key_id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID: the first four bytes, big-endian, of
    /// `SHA-256(name || "\n" || 0x01 || public key)`.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The verifier key text, `<name>+<key ID, 8 lower-case hex digits>+<base64(0x01 ||
    /// public key)>`, which [`NoteVerifier::from_vkey`] (and Go's `note.NewVerifier`) reads.
    pub fn verifier_key(&self) -> String {
        self.verifier().vkey()
    }

    /// The verifier of this signer's signatures.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` and returns the whole signed note: the text, a blank line and one
    /// signature line. The text must be non-empty, end with a newline and contain no
    /// ASCII control character other than newline. Ed25519 is deterministic, so the same
    /// key and text always give the same note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        if text.is_empty() {
            return Err(NoteError::EmptyText);
        }
        if !text.ends_with('\n') {
            return Err(NoteError::MissingFinalNewline);
        }
        if has_control(text) {
            return Err(NoteError::ControlCharacter);
        }
        let signature = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + Signature::BYTE_SIZE);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&signature.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(raw)
        ))
    }
}

/// A known Ed25519 key that signatures are checked against: its name, key ID and public
/// key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for `key` under the key name `name`, its key ID computed as recommended.
    pub fn new(name: &str, key: VerifyingKey) -> Result<NoteVerifier, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        Ok(NoteVerifier {
            name: name.to_string(),
            key_id: key_id_of(name, &encode_key(&key)),
            key,
        })
    }

    /// Parses a verifier key `<name>+<key ID, 8 hex digits>+<base64(0x01 || public
    /// key)>` and checks that the key ID matches the name and key, as Go's
    /// `note.NewVerifier`. The base64 must be canonical (padded, zero trailing bits).
    pub fn from_vkey(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let (name, rest) = vkey
            .split_once('+')
            .ok_or(NoteError::MalformedVerifierKey("no '+' after the key name"))?;
        let (hex, key64) = rest
            .split_once('+')
            .ok_or(NoteError::MalformedVerifierKey("no '+' after the key id"))?;
        if !is_valid_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NoteError::MalformedVerifierKey(
                "the key id is not 8 hex digits",
            ));
        }
        let key_id = u32::from_str_radix(hex, 16)
            .map_err(|_| NoteError::MalformedVerifierKey("the key id is not 8 hex digits"))?;
        let raw = STANDARD
            .decode(key64)
            .map_err(|_| NoteError::MalformedVerifierKey("the key is not valid base64"))?;
        let Some((&alg, key)) = raw.split_first() else {
            return Err(NoteError::MalformedVerifierKey("the key is empty"));
        };
        // Go checks the key ID over the encoded key before looking at its type.
        if key_id_of(name, &raw) != key_id {
            return Err(NoteError::KeyIdMismatch);
        }
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let key: [u8; 32] = key.try_into().map_err(|_| NoteError::InvalidPublicKey)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| NoteError::InvalidPublicKey)?;
        Ok(NoteVerifier {
            name: name.to_string(),
            key_id,
            key,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.key
    }

    /// The verifier key text, `<name>+<8 lower-case hex digits>+<base64(0x01 || key)>`.
    pub fn vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(encode_key(&self.key))
        )
    }

    /// Whether `signature` is this key's Ed25519 signature of `text`.
    fn verifies(&self, text: &str, signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; Signature::BYTE_SIZE]>::try_from(signature) else {
            return false;
        };
        self.key
            .verify_strict(text.as_bytes(), &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

/// A note [`open`] accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedNote {
    /// The note text, ending in a newline (without the blank line before the signatures).
    pub body: String,
    /// The names of the known keys whose signatures verified, in order of first
    /// appearance, once per key (a name appears twice only for two keys of that name).
    pub verified_by: Vec<String>,
    /// How many distinct signature lines are by keys not in the verifier list (ignored, as
    /// the spec requires; identical lines count once).
    pub unverified_sig_count: usize,
}

/// Parses a signed note and checks its signatures against `verifiers`.
///
/// Fails if the note is malformed (control characters, no blank line before the
/// signatures, a bad signature line or base64, more than [`MAX_SIGNATURES`] lines), if a
/// signature whose name and key ID both match a known key does not verify, if two known
/// keys with different public keys share a name and key ID, or if no signature by a
/// known key verifies. Signatures by other keys, even ones sharing a known key's name or
/// key ID (but not both), are ignored and counted.
pub fn open(note: &str, verifiers: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    if has_control(note) {
        return Err(NoteError::ControlCharacter);
    }
    let split = note.rfind("\n\n").ok_or(NoteError::MissingSeparator)?;
    let body = &note[..split + 1];
    let signatures = note[split + 2..]
        .strip_suffix('\n')
        .ok_or(NoteError::MissingFinalNewline)?;
    // Each line is one signature; the count is bounded before any is checked.
    if signatures.split('\n').count() > MAX_SIGNATURES {
        return Err(NoteError::TooManySignatures);
    }

    let mut verified: Vec<(&str, u32)> = Vec::new();
    let mut unverified: HashSet<&str> = HashSet::new();
    for line in signatures.split('\n') {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::MalformedSignatureLine(
                "it does not start with an em dash and a space",
            ))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or(NoteError::MalformedSignatureLine(
                "no space between key name and signature",
            ))?;
        if !is_valid_name(name) {
            return Err(NoteError::MalformedSignatureLine("invalid key name"));
        }
        let raw = STANDARD
            .decode(b64)
            .map_err(|_| NoteError::MalformedSignatureLine("the signature is not valid base64"))?;
        if raw.len() < 5 {
            return Err(NoteError::MalformedSignatureLine(
                "the signature is shorter than a key id and one byte",
            ));
        }
        let key_id = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let signature = &raw[4..];

        let mut known = verifiers
            .iter()
            .filter(|v| v.name == name && v.key_id == key_id);
        let Some(verifier) = known.next() else {
            unverified.insert(line);
            continue;
        };
        if known.any(|other| other.key != verifier.key) {
            return Err(NoteError::AmbiguousKey {
                name: name.to_string(),
                key_id,
            });
        }
        if !verifier.verifies(body, signature) {
            return Err(NoteError::InvalidSignature {
                name: name.to_string(),
                key_id,
            });
        }
        if !verified.contains(&(name, key_id)) {
            verified.push((name, key_id));
        }
    }
    if verified.is_empty() {
        return Err(NoteError::Unverified);
    }
    Ok(OpenedNote {
        body: body.to_string(),
        verified_by: verified
            .into_iter()
            .map(|(name, _)| name.to_string())
            .collect(),
        unverified_sig_count: unverified.len(),
    })
}

/// A transparency-log checkpoint (c2sp.org/tlog-checkpoint): the note text naming a log
/// (origin), a tree size and the RFC 6962 root hash of the tree of that size, plus
/// optional opaque extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Identifies the log; non-empty, one line (C2SP recommends a schema-less URL).
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The root hash of the tree of `size` leaves.
    pub root: [u8; 32],
    /// Extension lines, each non-empty and without a newline; their use is NOT
    /// RECOMMENDED.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: `<origin>\n<size>\n<base64 root>\n`, then each extension line and
    /// a newline. [`Checkpoint::parse`] reads it back if the fields are valid (origin and
    /// extensions non-empty, without newlines or other control characters).
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a checkpoint note text (such as [`OpenedNote::body`]) strictly: it ends with
    /// a newline and has no other control characters; the origin is non-empty; the size
    /// is ASCII decimal without leading zeros ("0" for the empty tree) and fits in a u64;
    /// the root hash is canonical base64 of exactly 32 bytes; extension lines are
    /// non-empty.
    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let text = body
            .strip_suffix('\n')
            .ok_or(NoteError::CheckpointMissingFinalNewline)?;
        if has_control(text) {
            return Err(NoteError::CheckpointControlCharacter);
        }
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::CheckpointTooShort);
        };
        if origin.is_empty() {
            return Err(NoteError::CheckpointEmptyOrigin);
        }
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NoteError::CheckpointSizeNotDecimal);
        }
        if size.len() > 1 && size.starts_with('0') {
            return Err(NoteError::CheckpointSizeLeadingZero);
        }
        // Only ASCII digits remain (no sign), so the only possible failure is overflow.
        let size: u64 = size
            .parse()
            .map_err(|_| NoteError::CheckpointSizeTooLarge)?;
        let root = STANDARD
            .decode(root)
            .map_err(|_| NoteError::CheckpointRootNotBase64)?;
        let root: [u8; 32] = root
            .as_slice()
            .try_into()
            .map_err(|_| NoteError::CheckpointRootLength(root.len()))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::CheckpointEmptyExtension);
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Vectors of golang.org/x/mod/sumdb/note (note_test.go and the package doc).
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    fn peter_note() -> String {
        format!("{TEXT}\n{PETER_SIG}")
    }

    /// The signing key of the Go signer key `PRIVATE+KEY+<name>+<hash>+base64(0x01 ||
    /// seed)`.
    fn signing_key_from_skey(skey: &str) -> SigningKey {
        // The base64 itself may contain '+': take everything after the fourth '+'.
        let key64 = skey.splitn(5, '+').nth(4).expect("five parts");
        let raw = STANDARD.decode(key64).expect("base64 key");
        assert_eq!(raw[0], ALG_ED25519);
        let seed: [u8; 32] = raw[1..].try_into().expect("32-byte seed");
        SigningKey::from_bytes(&seed)
    }

    fn peter() -> NoteVerifier {
        NoteVerifier::from_vkey(PETER_VKEY).expect("Go's vkey parses")
    }

    fn enoch() -> NoteVerifier {
        NoteVerifier::from_vkey(ENOCH_VKEY).expect("Go's vkey parses")
    }

    fn peter_signer() -> NoteSigner {
        NoteSigner::new("PeterNeumann", signing_key_from_skey(PETER_SKEY)).expect("valid name")
    }

    #[test]
    fn go_verifier_key() {
        let v = peter();
        assert_eq!(v.name(), "PeterNeumann");
        assert_eq!(v.key_id(), 0xc74f20a3);
        assert_eq!(v.vkey(), PETER_VKEY);
        assert_eq!(enoch().key_id(), 0xaf0cfe78);
        assert_eq!(
            NoteVerifier::new("PeterNeumann", v.public_key()).as_ref(),
            Ok(&v)
        );
        // Upper-case hex is accepted, as by Go's strconv.ParseUint.
        let upper = PETER_VKEY.replace("c74f20a3", "C74F20A3");
        assert_eq!(NoteVerifier::from_vkey(&upper).as_ref(), Ok(&v));
    }

    #[test]
    fn go_verifier_key_manglings_fail() {
        // TestNewVerifier: every proper substring and every single-byte increment fails.
        let b = PETER_VKEY.as_bytes();
        for i in 0..=b.len() {
            for j in i + 1..=b.len() {
                if i == 0 && j == b.len() {
                    continue;
                }
                let s = &PETER_VKEY[i..j];
                assert!(NoteVerifier::from_vkey(s).is_err(), "{s:?} parsed");
            }
        }
        for i in 0..b.len() {
            let mut m = b.to_vec();
            m[i] += 1;
            let s = String::from_utf8(m).expect("still ASCII");
            assert!(NoteVerifier::from_vkey(&s).is_err(), "{s:?} parsed");
        }
        // Wrong key length with an adjusted key hash (and non-canonical base64 here).
        assert!(
            NoteVerifier::from_vkey(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            )
            .is_err()
        );
        // Unknown algorithm, with an adjusted key hash: the hash matches, the type does not.
        assert_eq!(
            NoteVerifier::from_vkey(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnsupportedAlgorithm(0x65))
        );
        assert_eq!(
            NoteVerifier::from_vkey("Peter Neumann+c74f20a3+AA=="),
            Err(NoteError::InvalidKeyName)
        );
    }

    #[test]
    fn go_signer_reproduces_the_signed_note() {
        let signer = peter_signer();
        assert_eq!(signer.key_id(), 0xc74f20a3);
        assert_eq!(signer.verifier_key(), PETER_VKEY);
        assert_eq!(signer.verifier(), peter());
        assert_eq!(signer.sign(TEXT).as_deref(), Ok(peter_note().as_str()));
    }

    #[test]
    fn signer_debug_hides_the_key() {
        let shown = format!("{:?}", peter_signer());
        assert_eq!(
            shown,
            "NoteSigner { name: \"PeterNeumann\", key_id: c74f20a3, .. }"
        );
    }

    #[test]
    fn signer_names_and_texts_are_checked() {
        let key = || SigningKey::from_bytes(&[7; 32]);
        for bad in [
            "",
            "a b",
            "a+b",
            "a\tb",
            "a\nb",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\u{1}b",
        ] {
            assert_eq!(
                NoteSigner::new(bad, key()).map(|_| ()),
                Err(NoteError::InvalidKeyName),
                "{bad:?}"
            );
        }
        assert!(NoteSigner::new("example.com/log\u{e9}", key()).is_ok());
        let signer = peter_signer();
        assert_eq!(signer.sign(""), Err(NoteError::EmptyText));
        assert_eq!(signer.sign("abc"), Err(NoteError::MissingFinalNewline));
        assert_eq!(signer.sign("a\rb\n"), Err(NoteError::ControlCharacter));
        assert_eq!(signer.sign("a\tb\n"), Err(NoteError::ControlCharacter));
        // Blank lines inside the text are allowed: the last blank line splits.
        for text in ["\n", "a\n\nb\n", "a\n\n", "x\n\n\u{2014} A bcd\n"] {
            let note = signer.sign(text).expect("valid text");
            let opened = open(&note, &[peter()]).expect("opens");
            assert_eq!(opened.body, text);
        }
    }

    #[test]
    fn go_note_opens() {
        let opened = open(&peter_note(), &[peter()]).expect("verifies");
        assert_eq!(opened.body, TEXT);
        assert_eq!(opened.verified_by, vec!["PeterNeumann".to_string()]);
        assert_eq!(opened.unverified_sig_count, 0);
    }

    #[test]
    fn go_open_cases() {
        let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        // One verified, one unknown.
        let n = open(&both, &[peter()]).expect("peter verifies");
        assert_eq!(n.verified_by, vec!["PeterNeumann".to_string()]);
        assert_eq!(n.unverified_sig_count, 1);
        // Both verified.
        let n = open(&both, &[peter(), enoch()]).expect("both verify");
        assert_eq!(
            n.verified_by,
            vec!["PeterNeumann".to_string(), "EnochRoot".to_string()]
        );
        assert_eq!(n.unverified_sig_count, 0);
        // Neither known.
        assert_eq!(open(&both, &[]), Err(NoteError::Unverified));
        // The same key twice is not ambiguous here (Go says it is).
        let enoch_only = format!("{TEXT}\n{ENOCH_SIG}");
        assert!(open(&enoch_only, &[enoch(), peter(), enoch()]).is_ok());
        // Too many signatures, whether known or not; 100 is fine.
        let many = |n: usize| format!("{TEXT}\n{}", PETER_SIG.repeat(n));
        assert_eq!(
            open(&many(101), &[peter()]),
            Err(NoteError::TooManySignatures)
        );
        assert_eq!(open(&many(101), &[]), Err(NoteError::TooManySignatures));
        let n = open(&many(100), &[peter()]).expect("100 signatures");
        assert_eq!(n.verified_by.len(), 1);
        // A signature by a known key that does not verify.
        let note = peter_note();
        let (head, tail) = note.split_at(TEXT.len() + 1 + 60);
        let corrupt = format!("{head}ABCD{tail}");
        assert_eq!(
            open(&corrupt, &[peter()]),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
        // Duplicated verified and unverified signatures: identical lines count once.
        let enoch_abcd = {
            let (h, t) = ENOCH_SIG.split_at(60);
            format!("{h}ABCD{t}")
        };
        let dup = format!("{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{enoch_abcd}");
        let n = open(&dup, &[peter()]).expect("verifies");
        assert_eq!(n.verified_by, vec!["PeterNeumann".to_string()]);
        assert_eq!(n.unverified_sig_count, 2);
    }

    #[test]
    fn go_malformed_notes_fail() {
        let sig = PETER_SIG;
        let bad = [
            TEXT.to_string(),
            format!("{TEXT}\n"),
            format!("{TEXT}\n{}", &sig[..sig.len() - 1]),
            format!("\u{1}{TEXT}\n{sig}"),
            format!(
                "{TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{TEXT}\n{sig}Unexpected line.\n"),
            format!(
                "{TEXT}\n-- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            format!("{TEXT}\n\u{2014} PeterNeumann\n"),
            format!("{TEXT}\n\u{2014} PeterNeumann \n"),
            format!("{TEXT}\n\u{2014} PeterNeumann x08gAA==\n"),
            format!("{TEXT}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/Sf==\n"),
            format!(
                "{TEXT}\n\u{2014}  PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
            ),
            format!("{TEXT}\n{sig}\n"),
            format!("{TEXT}\r\n{sig}"),
        ];
        // Well-formed lines by the known key whose signatures are too short.
        for short in ["x08go/Y=", "x08go/ZJ"] {
            let note = format!("{TEXT}\n\u{2014} PeterNeumann {short}\n");
            assert!(matches!(
                open(&note, &[peter()]),
                Err(NoteError::InvalidSignature { .. })
            ));
        }
        for note in &bad {
            let got = open(note, &[peter()]);
            assert!(
                !matches!(
                    got,
                    Ok(_) | Err(NoteError::InvalidSignature { .. } | NoteError::Unverified)
                ),
                "{note:?} gave {got:?}"
            );
        }
    }

    /// Replaces the character at each position in turn by another one (flipping the
    /// lowest bit of ASCII characters; the em dash becomes an en dash), so that every
    /// byte of the note is changed once.
    fn each_char_changed(note: &str) -> Vec<String> {
        note.char_indices()
            .map(|(i, c)| {
                let replacement = if c.is_ascii() {
                    char::from(c as u8 ^ 1)
                } else {
                    '\u{2013}'
                };
                format!("{}{replacement}{}", &note[..i], &note[i + c.len_utf8()..])
            })
            .collect()
    }

    #[test]
    fn any_changed_character_fails() {
        for note in [
            peter_note(),
            peter_signer()
                .sign(
                    &Checkpoint {
                        origin: "example.com/log".into(),
                        size: 1234,
                        root: [0x5a; 32],
                        extensions: vec!["ext \u{e9}".into()],
                    }
                    .to_body(),
                )
                .expect("signs"),
        ] {
            assert!(open(&note, &[peter()]).is_ok());
            for changed in each_char_changed(&note) {
                assert!(open(&changed, &[peter()]).is_err(), "{changed:?} opened");
            }
        }
    }

    #[test]
    fn same_name_other_key() {
        // A different key named PeterNeumann: another key ID, so an unknown key.
        let impostor =
            NoteSigner::new("PeterNeumann", SigningKey::from_bytes(&[9; 32])).expect("valid");
        assert_ne!(impostor.key_id(), peter().key_id());
        let forged = impostor.sign(TEXT).expect("signs");
        assert_eq!(open(&forged, &[peter()]), Err(NoteError::Unverified));
        // Alongside the real signature it is ignored and counted.
        let forged_line = forged.rsplit_once("\n\n").expect("separator").1;
        let both = format!("{}{forged_line}", peter_note());
        let n = open(&both, &[peter()]).expect("peter verifies");
        assert_eq!(n.verified_by, vec!["PeterNeumann".to_string()]);
        assert_eq!(n.unverified_sig_count, 1);

        // An impostor key that also collides on the key ID is a known key whose
        // signature fails: the whole note is rejected.
        let colliding = NoteVerifier {
            name: "PeterNeumann".into(),
            key_id: peter().key_id(),
            key: impostor.verifier().public_key(),
        };
        assert_eq!(
            open(&peter_note(), std::slice::from_ref(&colliding)),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
        assert_eq!(
            open(&peter_note(), &[peter(), colliding]),
            Err(NoteError::AmbiguousKey {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            })
        );
        // Same key ID, other name: unknown.
        let renamed = peter_note().replace("PeterNeumann", "CarmenSandiego");
        assert_eq!(open(&renamed, &[peter()]), Err(NoteError::Unverified));
    }

    #[test]
    fn checkpoint_round_trip() {
        // The example of c2sp.org/tlog-checkpoint.
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse(body).expect("parses");
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20852163);
        assert_eq!(cp.root[..3], [0x0a, 0xc5, 0x18]);
        assert!(cp.extensions.is_empty());
        assert_eq!(cp.to_body(), body);

        let cp = Checkpoint {
            origin: "smv-audit/v1".into(),
            size: 0,
            root: [0; 32],
            extensions: vec!["a b".into(), "\u{2014} c".into()],
        };
        assert_eq!(Checkpoint::parse(&cp.to_body()).as_ref(), Ok(&cp));
        let signer = peter_signer();
        let opened = open(&signer.sign(&cp.to_body()).expect("signs"), &[peter()]).expect("opens");
        assert_eq!(Checkpoint::parse(&opened.body), Ok(cp));
    }

    #[test]
    fn malformed_checkpoints_fail() {
        let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
        let cases: Vec<(String, NoteError)> = vec![
            (
                format!("o\n1\n{root}"),
                NoteError::CheckpointMissingFinalNewline,
            ),
            ("o\n1\n".into(), NoteError::CheckpointTooShort),
            ("".into(), NoteError::CheckpointMissingFinalNewline),
            ("\n".into(), NoteError::CheckpointTooShort),
            (format!("\n1\n{root}\n"), NoteError::CheckpointEmptyOrigin),
            (
                format!("o\n\n{root}\n"),
                NoteError::CheckpointSizeNotDecimal,
            ),
            (
                format!("o\n+1\n{root}\n"),
                NoteError::CheckpointSizeNotDecimal,
            ),
            (
                format!("o\n-1\n{root}\n"),
                NoteError::CheckpointSizeNotDecimal,
            ),
            (
                format!("o\n 1\n{root}\n"),
                NoteError::CheckpointSizeNotDecimal,
            ),
            (
                format!("o\n1.0\n{root}\n"),
                NoteError::CheckpointSizeNotDecimal,
            ),
            (
                format!("o\n0x1\n{root}\n"),
                NoteError::CheckpointSizeNotDecimal,
            ),
            (
                format!("o\n\u{661}\n{root}\n"),
                NoteError::CheckpointSizeNotDecimal,
            ),
            (
                format!("o\n01\n{root}\n"),
                NoteError::CheckpointSizeLeadingZero,
            ),
            (
                format!("o\n00\n{root}\n"),
                NoteError::CheckpointSizeLeadingZero,
            ),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                NoteError::CheckpointSizeTooLarge,
            ),
            ("o\n1\n\n".into(), NoteError::CheckpointRootLength(0)),
            (
                "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n".into(),
                NoteError::CheckpointRootNotBase64,
            ),
            (
                "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".into(),
                NoteError::CheckpointRootNotBase64,
            ),
            ("o\n1\nAAAA\n".into(), NoteError::CheckpointRootLength(3)),
            (
                format!("o\n1\n{}\n", STANDARD.encode([0u8; 33])),
                NoteError::CheckpointRootLength(33),
            ),
            (
                format!("o\n1\n{root}\n\n"),
                NoteError::CheckpointEmptyExtension,
            ),
            (
                format!("o\n1\n{root}\na\n\nb\n"),
                NoteError::CheckpointEmptyExtension,
            ),
            (
                format!("o\r\n1\n{root}\n"),
                NoteError::CheckpointControlCharacter,
            ),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse(&body), Err(want), "{body:?}");
        }
        assert_eq!(
            Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).map(|c| c.size),
            Ok(u64::MAX)
        );
        assert_eq!(
            Checkpoint::parse(&format!("o\n0\n{root}\n")).map(|c| c.size),
            Ok(0)
        );
    }

    #[test]
    fn errors_display_lower_case() {
        let errors = [
            NoteError::InvalidKeyName,
            NoteError::MalformedVerifierKey("x"),
            NoteError::KeyIdMismatch,
            NoteError::UnsupportedAlgorithm(2),
            NoteError::InvalidPublicKey,
            NoteError::EmptyText,
            NoteError::MissingFinalNewline,
            NoteError::ControlCharacter,
            NoteError::MissingSeparator,
            NoteError::MalformedSignatureLine("x"),
            NoteError::TooManySignatures,
            NoteError::AmbiguousKey {
                name: "n".into(),
                key_id: 1,
            },
            NoteError::InvalidSignature {
                name: "n".into(),
                key_id: 1,
            },
            NoteError::Unverified,
            NoteError::CheckpointMissingFinalNewline,
            NoteError::CheckpointControlCharacter,
            NoteError::CheckpointTooShort,
            NoteError::CheckpointEmptyOrigin,
            NoteError::CheckpointSizeNotDecimal,
            NoteError::CheckpointSizeLeadingZero,
            NoteError::CheckpointSizeTooLarge,
            NoteError::CheckpointRootNotBase64,
            NoteError::CheckpointRootLength(3),
            NoteError::CheckpointEmptyExtension,
        ];
        for e in errors {
            let text = e.to_string();
            assert!(text.starts_with(|c: char| c.is_ascii_lowercase()), "{text}");
        }
        assert_eq!(
            NoteError::InvalidSignature {
                name: "PeterNeumann".into(),
                key_id: 0xc74f20a3
            }
            .to_string(),
            "invalid signature for key PeterNeumann+c74f20a3"
        );
        assert_eq!(
            NoteError::CheckpointSizeNotDecimal.to_string(),
            "checkpoint size is not a decimal number"
        );
    }

    proptest! {
        #[test]
        fn signed_texts_open(
            lines in proptest::collection::vec("[ -~\u{e9}\u{2014}\u{1f600}]{0,24}", 1..6),
            seed in any::<[u8; 32]>(),
        ) {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let signer = NoteSigner::new("example.com/log", SigningKey::from_bytes(&seed))
                .expect("valid name");
            let verifier = NoteVerifier::from_vkey(&signer.verifier_key()).expect("parses");
            let note = signer.sign(&text).expect("valid text");
            let opened = open(&note, &[verifier]).expect("opens");
            prop_assert_eq!(opened.body, text);
            prop_assert!(open(&note, &[peter()]).is_err());
        }

        #[test]
        fn checkpoints_round_trip(
            origin in "[!-*,-~]{1,30}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            extensions in proptest::collection::vec("[ -~]{1,20}", 0..3),
        ) {
            let cp = Checkpoint { origin, size, root, extensions };
            prop_assert_eq!(Checkpoint::parse(&cp.to_body()), Ok(cp));
        }
    }
}
