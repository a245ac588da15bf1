//! Checkpoints in the C2SP `tlog-checkpoint` format, as signed notes.
//!
//! A checkpoint body is three lines, each ending in `\n`: the log's
//! origin, the tree size in decimal, and the root hash in standard base64.
//! The signed note (C2SP `signed-note`) is the body, an empty line, and one
//! signature line per signer: `— <key name> <base64(key id ‖ signature)>`,
//! where the key id is the first four bytes of
//! `SHA-256(key name ‖ "\n" ‖ 0x01 ‖ Ed25519 public key)` and the signature
//! is Ed25519 over the body bytes.
//!
//! The master signs with its enclave key (the attested, chain-registered
//! Ed25519 key); the key name is the origin.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};
use sui_sdk_types::Address;

use super::merkle::Hash;

/// The signature algorithm byte of Ed25519 in C2SP signed notes.
const ED25519_ALGORITHM: u8 = 0x01;
/// The em dash and space that start a signature line.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a checkpoint or note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The note is not a well-formed signed checkpoint.
    #[error("malformed checkpoint note: {0}")]
    Malformed(&'static str),
    /// The origin is empty or holds a newline.
    #[error("a checkpoint origin must be one non-empty line")]
    BadOrigin,
    /// No signature line is by the expected key.
    #[error("the checkpoint carries no signature by key {key_name} ({key_id})")]
    NoSignatureByKey {
        /// The expected key's name.
        key_name: String,
        /// Its key id, hex.
        key_id: String,
    },
    /// The signature by the expected key does not verify.
    #[error("the checkpoint signature by {key_name} does not verify")]
    BadSignature {
        /// The key's name.
        key_name: String,
    },
    /// The public key is not an Ed25519 key.
    #[error("not an Ed25519 public key")]
    BadKey,
}

/// The origin line of the audit log anchored in the `AuditLog` `log_id`.
pub fn origin_for(log_id: Address) -> String {
    format!("k3s-daas.audit/{log_id}")
}

/// A checkpoint: the log's origin, size and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The RFC 9162 root of those leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note body: `origin\nsize\nbase64(root)\n`.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    /// Signs the body with `key` under the key name `origin`.
    ///
    /// # Errors
    /// [`CheckpointError::BadOrigin`] for an empty or multi-line origin.
    pub fn sign(&self, key: &SigningKey) -> Result<SignedCheckpoint, CheckpointError> {
        if self.origin.is_empty() || self.origin.contains('\n') || self.origin.contains(' ') {
            return Err(CheckpointError::BadOrigin);
        }
        let signature = key.sign(self.body().as_bytes()).to_bytes();
        Ok(SignedCheckpoint {
            checkpoint: self.clone(),
            key_name: self.origin.clone(),
            key_id: key_id(&self.origin, &key.verifying_key()),
            signature,
        })
    }
}

/// The C2SP key id of Ed25519 key `key` named `name`.
pub fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ED25519_ALGORITHM]);
    hasher.update(key.as_bytes());
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A checkpoint with one Ed25519 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What was signed.
    pub checkpoint: Checkpoint,
    /// The signer's key name.
    pub key_name: String,
    /// The signer's key id.
    pub key_id: [u8; 4],
    /// Ed25519 over the body.
    pub signature: [u8; 64],
}

impl SignedCheckpoint {
    /// The signed note text.
    pub fn to_note(&self) -> String {
        let mut signed = self.key_id.to_vec();
        signed.extend_from_slice(&self.signature);
        format!(
            "{}\n{SIGNATURE_PREFIX}{} {}\n",
            self.checkpoint.body(),
            self.key_name,
            STANDARD.encode(signed)
        )
    }

    /// Parses a signed note, taking the first signature line named
    /// `key_name` whose key id matches `key` and checking it.
    ///
    /// # Errors
    /// [`CheckpointError`] naming what is wrong: the format, no signature
    /// by that key, or a signature that does not verify.
    pub fn verify_note(
        note: &str,
        key_name: &str,
        key: &VerifyingKey,
    ) -> Result<Self, CheckpointError> {
        let (checkpoint, signatures) = parse_note(note)?;
        let wanted = key_id(key_name, key);
        let Some(signature) = signatures
            .into_iter()
            .find(|(name, id, _)| name == key_name && *id == wanted)
            .map(|(_, _, signature)| signature)
        else {
            return Err(CheckpointError::NoSignatureByKey {
                key_name: key_name.to_owned(),
                key_id: hex::encode(wanted),
            });
        };
        key.verify(
            checkpoint.body().as_bytes(),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| CheckpointError::BadSignature {
            key_name: key_name.to_owned(),
        })?;
        Ok(Self {
            checkpoint,
            key_name: key_name.to_owned(),
            key_id: wanted,
            signature,
        })
    }
}

type SignatureLine = (String, [u8; 4], [u8; 64]);

/// Splits a note into its checkpoint and Ed25519-sized signature lines
/// (other signature lines are skipped, as C2SP asks).
fn parse_note(note: &str) -> Result<(Checkpoint, Vec<SignatureLine>), CheckpointError> {
    let malformed = CheckpointError::Malformed;
    let (body, signatures) = note
        .split_once("\n\n")
        .ok_or(malformed("no blank line before the signatures"))?;
    let mut lines = body.split('\n');
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or(malformed("no origin"))?;
    let size = lines.next().ok_or(malformed("no tree size"))?;
    if size.is_empty()
        || (size.len() > 1 && size.starts_with('0'))
        || !size.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(malformed("the tree size is not a decimal number"));
    }
    let size: u64 = size
        .parse()
        .map_err(|_| malformed("the tree size is out of range"))?;
    let root = lines.next().ok_or(malformed("no root hash"))?;
    let root: Hash = STANDARD
        .decode(root)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(malformed("the root hash is not 32 bytes of base64"))?;
    let checkpoint = Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
    };
    // Extension lines are not part of our checkpoints: the signed body
    // must be exactly the three lines, or a signature would cover text the
    // reader did not check.
    if lines.next().is_some() {
        return Err(malformed("unexpected lines after the root hash"));
    }
    let signatures = signatures
        .strip_suffix('\n')
        .ok_or(malformed("the note does not end with a newline"))?;
    let mut parsed = Vec::new();
    for line in signatures.split('\n') {
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(malformed("a signature line does not start with an em dash"))?;
        let (name, encoded) = rest
            .rsplit_once(' ')
            .ok_or(malformed("a signature line has no key name"))?;
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| malformed("a signature is not base64"))?;
        if bytes.len() != 4 + 64 {
            continue;
        }
        let (id, signature) = bytes.split_at(4);
        let (Ok(id), Ok(signature)) = (id.try_into(), signature.try_into()) else {
            continue;
        };
        parsed.push((name.to_owned(), id, signature));
    }
    Ok((checkpoint, parsed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "k3s-daas.audit/0xdaa50002".into(),
            size: 7,
            root: [0x11; 32],
        }
    }

    #[test]
    fn the_body_is_three_lines() {
        assert_eq!(
            checkpoint().body(),
            "k3s-daas.audit/0xdaa50002\n7\nERERERERERERERERERERERERERERERERERERERERERE=\n"
        );
    }

    #[test]
    fn a_signed_note_round_trips_and_verifies() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let signed = checkpoint().sign(&key).unwrap();
        let note = signed.to_note();
        assert!(note.contains("\n\n\u{2014} k3s-daas.audit/0xdaa50002 "));
        let verified =
            SignedCheckpoint::verify_note(&note, &signed.key_name, &key.verifying_key()).unwrap();
        assert_eq!(verified, signed);
    }

    #[test]
    fn another_key_or_a_changed_body_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let note = checkpoint().sign(&key).unwrap().to_note();
        let name = "k3s-daas.audit/0xdaa50002";
        assert!(matches!(
            SignedCheckpoint::verify_note(&note, name, &other.verifying_key()),
            Err(CheckpointError::NoSignatureByKey { .. })
        ));
        let bumped = note.replacen("\n7\n", "\n8\n", 1);
        assert!(matches!(
            SignedCheckpoint::verify_note(&bumped, name, &key.verifying_key()),
            Err(CheckpointError::BadSignature { .. })
        ));
    }

    #[test]
    fn malformed_notes_are_refused() {
        let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
        for note in [
            "",
            "origin\n7\n",
            "origin\n07\nERERERERERERERERERERERERERERERERERERERERERE=\n\n",
            "origin\nx\nERERERERERERERERERERERERERERERERERERERERERE=\n\n",
            "origin\n7\nAAAA\n\n\u{2014} origin AAAA\n",
            "origin\n7\nERERERERERERERERERERERERERERERERERERERERERE=\nextra\n\n\u{2014} o AAAA\n",
            "origin\n7\nERERERERERERERERERERERERERERERERERERERERERE=\n\n- origin AAAA\n",
        ] {
            assert!(
                matches!(
                    SignedCheckpoint::verify_note(note, "origin", &key),
                    Err(CheckpointError::Malformed(_))
                ),
                "{note:?}"
            );
        }
        let bad_origin = Checkpoint {
            origin: "two\nlines".into(),
            ..checkpoint()
        };
        assert_eq!(
            bad_origin.sign(&SigningKey::from_bytes(&[7; 32])),
            Err(CheckpointError::BadOrigin)
        );
    }
}
