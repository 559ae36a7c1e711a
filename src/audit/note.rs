//! C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and the tlog
//! checkpoint body (https://c2sp.org/tlog-checkpoint), byte-compatible with Go's
//! golang.org/x/mod/sumdb/note so standard transparency tooling reads smv's checkpoints.
//!
//! A note is text ending in a newline, a blank line, then signature lines
//! `— <key name> <base64(key id [4] || signature [64])>`. The key id is the first four bytes
//! of SHA-256(name || "\n" || 0x01 || public key). A verifier key is written
//! `<name>+<key id, 8 hex>+<base64(0x01 || public key)>`.

use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

const ALG_ED25519: u8 = 1;
const MAX_SIGNATURES: usize = 100;
const SIG_PREFIX: &str = "\u{2014} ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteError {
    BadName,
    BadKey(&'static str),
    BadText(&'static str),
    Malformed(&'static str),
    InvalidSignature(String),
    Unverified,
    BadCheckpoint(&'static str),
}

impl std::fmt::Display for NoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NoteError::BadName => {
                f.write_str("key name is empty or contains a space, a newline or '+'")
            }
            NoteError::BadKey(why) => write!(f, "malformed verifier key: {why}"),
            NoteError::BadText(why) => write!(f, "note text is not valid: {why}"),
            NoteError::Malformed(why) => write!(f, "malformed note: {why}"),
            NoteError::InvalidSignature(name) => write!(f, "invalid signature by key {name}"),
            NoteError::Unverified => f.write_str("no signature by a known key"),
            NoteError::BadCheckpoint(why) => write!(f, "malformed checkpoint: {why}"),
        }
    }
}

impl std::error::Error for NoteError {}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

fn key_id(name: &str, public: &[u8; 32]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::BadText("it must end with a newline"));
    }
    if text.chars().any(|c| c.is_ascii_control() && c != '\n') {
        return Err(NoteError::BadText("it contains control characters"));
    }
    Ok(())
}

pub struct NoteSigner {
    name: String,
    key: SigningKey,
    id: u32,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<NoteSigner, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadName);
        }
        let id = key_id(name, key.verifying_key().as_bytes());
        Ok(NoteSigner {
            name: name.to_string(),
            key,
            id,
        })
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    pub fn verifier_key(&self) -> String {
        let mut raw = vec![ALG_ED25519];
        raw.extend_from_slice(self.key.verifying_key().as_bytes());
        format!("{}+{:08x}+{}", self.name, self.id, b64().encode(raw))
    }

    /// The signed note: `body`, a blank line, and this key's signature line.
    pub fn sign(&self, body: &str) -> Result<String, NoteError> {
        check_text(body)?;
        let sig = self.key.sign(body.as_bytes());
        let mut blob = self.id.to_be_bytes().to_vec();
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{body}\n{SIG_PREFIX}{} {}\n",
            self.name,
            b64().encode(blob)
        ))
    }
}

#[derive(Clone, Debug)]
pub struct NoteVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl NoteVerifier {
    pub fn from_vkey(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("expected name+id+key"));
        };
        if !valid_name(name) {
            return Err(NoteError::BadName);
        }
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(NoteError::BadKey(
                "the key id is not 8 lower-case hex digits",
            ));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| NoteError::BadKey("bad key id"))?;
        let raw = b64()
            .decode(key_b64)
            .map_err(|_| NoteError::BadKey("the key is not base64"))?;
        let (&alg, public) = raw
            .split_first()
            .ok_or(NoteError::BadKey("the key is empty"))?;
        if alg != ALG_ED25519 {
            return Err(NoteError::BadKey("not an Ed25519 key"));
        }
        let public: [u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::BadKey("an Ed25519 key is 32 bytes"))?;
        if key_id(name, &public) != id {
            return Err(NoteError::BadKey("the key id does not match the key"));
        }
        let key = VerifyingKey::from_bytes(&public)
            .map_err(|_| NoteError::BadKey("not a valid Ed25519 point"))?;
        Ok(NoteVerifier {
            name: name.to_string(),
            id,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.id
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedNote {
    pub body: String,
    pub verified_by: Vec<String>,
    pub unverified_sig_count: usize,
}

/// Opens a signed note: succeeds when at least one known key's signature verifies and no
/// known key's signature fails.
pub fn open(note: &str, verifiers: &[NoteVerifier]) -> Result<OpenedNote, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (body, sigs) = (&note[..split + 1], &note[split + 2..]);
    check_text(body)?;
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the signatures must end with a newline",
        ));
    }
    let mut verified_by = Vec::new();
    let mut unverified = 0;
    let mut seen = std::collections::HashSet::new();
    let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(NoteError::Malformed("too many signatures"));
    }
    for line in lines {
        let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
            "a signature line must start with an em dash",
        ))?;
        let (name, blob_b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line needs a name and a signature",
        ))?;
        if !valid_name(name) || blob_b64.contains(' ') {
            return Err(NoteError::Malformed("bad signature line"));
        }
        let blob = b64()
            .decode(blob_b64)
            .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
        if blob.len() < 5 {
            return Err(NoteError::Malformed("a signature is too short"));
        }
        let id = u32::from_be_bytes([blob[0], blob[1], blob[2], blob[3]]);
        if !seen.insert((name.to_string(), id)) {
            continue;
        }
        match verifiers.iter().find(|v| v.name == name && v.id == id) {
            Some(v) => {
                let sig = Signature::from_slice(&blob[4..])
                    .map_err(|_| NoteError::InvalidSignature(name.to_string()))?;
                v.key
                    .verify(body.as_bytes(), &sig)
                    .map_err(|_| NoteError::InvalidSignature(name.to_string()))?;
                verified_by.push(name.to_string());
            }
            None => unverified += 1,
        }
    }
    if verified_by.is_empty() {
        return Err(NoteError::Unverified);
    }
    Ok(OpenedNote {
        body: body.to_string(),
        verified_by,
        unverified_sig_count: unverified,
    })
}

/// The body of a C2SP tlog checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: [u8; 32],
    pub extensions: Vec<String>,
}

impl Checkpoint {
    pub fn to_body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            b64().encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    pub fn parse(body: &str) -> Result<Checkpoint, NoteError> {
        let body = body
            .strip_suffix('\n')
            .ok_or(NoteError::BadCheckpoint("it must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::BadCheckpoint("the origin is empty"))?;
        let size_text = lines
            .next()
            .ok_or(NoteError::BadCheckpoint("the size is missing"))?;
        if size_text.is_empty()
            || !size_text.bytes().all(|b| b.is_ascii_digit())
            || (size_text.len() > 1 && size_text.starts_with('0'))
        {
            return Err(NoteError::BadCheckpoint("the size is not a decimal number"));
        }
        let size = size_text
            .parse()
            .map_err(|_| NoteError::BadCheckpoint("the size is out of range"))?;
        let root_text = lines
            .next()
            .ok_or(NoteError::BadCheckpoint("the root hash is missing"))?;
        let root = b64()
            .decode(root_text)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or(NoteError::BadCheckpoint(
                "the root hash is not 32 bytes of base64",
            ))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::BadCheckpoint("an extension line is empty"));
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

    // The example of golang.org/x/mod/sumdb/note (note_test.go and its package docs).
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    // Not a secret: the published test signing key of that example.
    const SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    const SIGNED: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    fn go_signer() -> NoteSigner {
        let raw = b64().decode(SKEY_B64).unwrap();
        assert_eq!(raw[0], ALG_ED25519);
        NoteSigner::new(
            "PeterNeumann",
            SigningKey::from_bytes(&raw[1..].try_into().unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn go_reference_vectors() {
        let v = NoteVerifier::from_vkey(VKEY).unwrap();
        assert_eq!(v.key_id(), 0xc74f20a3);
        let opened = open(SIGNED, std::slice::from_ref(&v)).unwrap();
        assert_eq!(opened.body, TEXT);
        assert_eq!(opened.verified_by, ["PeterNeumann"]);
        let s = go_signer();
        assert_eq!(s.verifier_key(), VKEY);
        assert_eq!(
            s.sign(TEXT).unwrap(),
            SIGNED,
            "Ed25519 is deterministic: byte-identical to Go"
        );
    }

    #[test]
    fn every_flipped_byte_fails() {
        let v = NoteVerifier::from_vkey(VKEY).unwrap();
        let bytes = SIGNED.as_bytes();
        for i in 0..bytes.len() {
            let mut b = bytes.to_vec();
            b[i] ^= 0x01;
            if let Ok(text) = std::str::from_utf8(&b) {
                assert!(
                    open(text, std::slice::from_ref(&v)).is_err(),
                    "flip at {i} still verifies"
                );
            }
        }
    }

    #[test]
    fn other_keys_and_bad_keys() {
        let v = NoteVerifier::from_vkey(VKEY).unwrap();
        let other = NoteSigner::new("PeterNeumann", SigningKey::from_bytes(&[9; 32])).unwrap();
        let forged = other.sign(TEXT).unwrap();
        // Same name, other key id: not this verifier's signature at all.
        assert_eq!(
            open(&forged, std::slice::from_ref(&v)),
            Err(NoteError::Unverified)
        );
        for bad in [
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "PeterNeumann+c74f20a3",
            "PeterNeumann+c74f20a3+!!!!",
        ] {
            assert!(NoteVerifier::from_vkey(bad).is_err(), "{bad}");
        }
        assert!(NoteSigner::new("has space", SigningKey::from_bytes(&[1; 32])).is_err());
        assert!(go_signer().sign("no newline").is_err());
    }

    #[test]
    fn checkpoints_round_trip_and_reject_malformed() {
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 42,
            root: [7; 32],
            extensions: vec!["ext one".into()],
        };
        assert_eq!(Checkpoint::parse(&cp.to_body()).unwrap(), cp);
        for bad in [
            "o\n042\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n-1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n1\nBwcH\n",
            "\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }
}
