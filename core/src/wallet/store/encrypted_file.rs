//! The encrypted file backend: every key of the wallet in one file,
//! encrypted with XChaCha20-Poly1305 under a key derived from the passphrase
//! with Argon2id (memory-hard).

use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;
use zeroize::Zeroizing;

use super::Passphrase;
use crate::private_file;
use crate::wallet::{Keypair, StoreError};

const VERSION: u32 = 1;
/// OWASP's Argon2id recommendation: 19 MiB, 2 passes, 1 lane.
const M_COST_KIB: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;

#[derive(Serialize, Deserialize)]
struct Envelope {
    version: u32,
    kdf: Kdf,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Clone, Serialize, Deserialize)]
struct Kdf {
    algorithm: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
}

/// The decrypted content of `keys.enc`, kept in memory while the store is open.
pub(super) struct EncryptedFile {
    path: PathBuf,
    kdf: Kdf,
    key: Zeroizing<[u8; 32]>,
    keys: Vec<Keypair>,
}

impl EncryptedFile {
    /// Decrypts `path` with `passphrase`, or prepares a new file if absent.
    pub(super) fn open(path: &Path, passphrase: &Passphrase) -> Result<Self, StoreError> {
        let Some(bytes) = private_file::read_if_exists(path)? else {
            let mut salt = [0u8; SALT_LEN];
            rand::rngs::OsRng.fill_bytes(&mut salt);
            let kdf = Kdf {
                algorithm: "argon2id".into(),
                m_cost_kib: M_COST_KIB,
                t_cost: T_COST,
                p_cost: P_COST,
                salt: BASE64.encode(salt),
            };
            let key = derive_key(path, &kdf, passphrase)?;
            return Ok(Self {
                path: path.to_owned(),
                kdf,
                key,
                keys: Vec::new(),
            });
        };
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let envelope: Envelope =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if envelope.version != VERSION || envelope.cipher != "xchacha20poly1305" {
            return Err(corrupt(format!(
                "unsupported format version {} / cipher {}",
                envelope.version, envelope.cipher
            )));
        }
        let key = derive_key(path, &envelope.kdf, passphrase)?;
        let nonce = decode_fixed::<NONCE_LEN>(&envelope.nonce)
            .ok_or_else(|| corrupt("bad nonce".into()))?;
        let ciphertext = BASE64
            .decode(&envelope.ciphertext)
            .map_err(|e| corrupt(format!("ciphertext: {e}")))?;
        let plaintext = Zeroizing::new(
            XChaCha20Poly1305::new(key.as_ref().into())
                .decrypt(
                    XNonce::from_slice(&nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: &associated_data(&envelope.kdf),
                    },
                )
                .map_err(|_| StoreError::WrongPassphrase(path.to_owned()))?,
        );
        let encoded: Vec<Zeroizing<String>> =
            serde_json::from_slice(&plaintext).map_err(|e| corrupt(format!("content: {e}")))?;
        let keys = encoded
            .iter()
            .map(|s| Keypair::from_suiprivkey(s).map_err(|e| corrupt(format!("a stored key: {e}"))))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            path: path.to_owned(),
            kdf: envelope.kdf,
            key,
            keys,
        })
    }

    pub(super) fn load(&self, address: Address) -> Result<Keypair, StoreError> {
        self.keys
            .iter()
            .find(|k| k.address() == address)
            .cloned()
            .ok_or_else(|| StoreError::UnknownKey(address.to_string()))
    }

    pub(super) fn store(&mut self, key: &Keypair) -> Result<(), StoreError> {
        self.keys.push(key.clone());
        self.save().inspect_err(|_| {
            self.keys.pop();
        })
    }

    pub(super) fn delete(&mut self, address: Address) -> Result<(), StoreError> {
        let before = self.keys.clone();
        self.keys.retain(|k| k.address() != address);
        self.save().inspect_err(|_| self.keys = before)
    }

    fn save(&self) -> Result<(), StoreError> {
        let encoded: Vec<Zeroizing<String>> =
            self.keys.iter().map(Keypair::to_suiprivkey).collect();
        let plaintext =
            Zeroizing::new(
                serde_json::to_vec(&encoded).map_err(|e| StoreError::Corrupt {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?,
            );
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = XChaCha20Poly1305::new(self.key.as_ref().into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: &associated_data(&self.kdf),
                },
            )
            .map_err(|_| StoreError::Corrupt {
                path: self.path.clone(),
                reason: "encryption failed".into(),
            })?;
        let envelope = Envelope {
            version: VERSION,
            kdf: self.kdf.clone(),
            cipher: "xchacha20poly1305".into(),
            nonce: BASE64.encode(nonce),
            ciphertext: BASE64.encode(ciphertext),
        };
        let json = serde_json::to_vec_pretty(&envelope).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(private_file::write_atomic(&self.path, &json)?)
    }
}

/// Binds the ciphertext to the format version and KDF parameters.
fn associated_data(kdf: &Kdf) -> Vec<u8> {
    format!(
        "k3s-daas wallet v{VERSION}|{}|{}|{}|{}|{}",
        kdf.algorithm, kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, kdf.salt
    )
    .into_bytes()
}

fn derive_key(
    path: &Path,
    kdf: &Kdf,
    passphrase: &Passphrase,
) -> Result<Zeroizing<[u8; 32]>, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if kdf.algorithm != "argon2id" {
        return Err(corrupt(format!("unsupported KDF `{}`", kdf.algorithm)));
    }
    let salt = decode_fixed::<SALT_LEN>(&kdf.salt).ok_or_else(|| corrupt("bad salt".into()))?;
    let params = Params::new(kdf.m_cost_kib, kdf.t_cost, kdf.p_cost, Some(32))
        .map_err(|e| corrupt(format!("KDF parameters: {e}")))?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), &salt, key.as_mut())
        .map_err(|e| corrupt(format!("KDF: {e}")))?;
    Ok(key)
}

fn decode_fixed<const N: usize>(encoded: &str) -> Option<[u8; N]> {
    BASE64.decode(encoded).ok()?.try_into().ok()
}
