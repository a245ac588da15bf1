//! Import from a Sui CLI `sui.keystore` file: a JSON array of Base64
//! `flag || private key` strings.

use std::path::{Path, PathBuf};

use super::{KeyError, Keypair};

/// A `sui.keystore` file could not be imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeystoreError {
    /// The file could not be read.
    #[error("cannot read keystore {path}: {source}")]
    Read {
        /// The keystore file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a JSON array of strings.
    #[error("keystore {path} is not a JSON array of base64 strings: {reason}")]
    Malformed {
        /// The keystore file.
        path: PathBuf,
        /// What the parser found wrong (position, not content).
        reason: String,
    },
    /// One entry of the array is not a valid key.
    #[error("keystore {path}, entry {index}: {source}")]
    Entry {
        /// The keystore file.
        path: PathBuf,
        /// Zero-based index of the bad entry.
        index: usize,
        /// Why the entry is invalid.
        #[source]
        source: KeyError,
    },
}

/// Reads every key of a Sui CLI `sui.keystore` file.
pub fn read_sui_keystore(path: &Path) -> Result<Vec<Keypair>, KeystoreError> {
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
        KeystoreError::Read {
            path: path.to_owned(),
            source,
        }
    })?);
    parse_sui_keystore(&text, path)
}

/// Parses the text of a `sui.keystore` file; `path` names it in errors.
///
/// # Errors
/// [`KeystoreError::Malformed`] or [`KeystoreError::Entry`].
pub fn parse_sui_keystore(text: &str, path: &Path) -> Result<Vec<Keypair>, KeystoreError> {
    // serde_json's messages give line and column, never the offending key text.
    let entries: Vec<zeroize::Zeroizing<String>> =
        serde_json::from_str(text).map_err(|e| KeystoreError::Malformed {
            path: path.to_owned(),
            reason: format!(
                "{} at line {} column {}",
                classify(&e),
                e.line(),
                e.column()
            ),
        })?;
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            Keypair::from_flagged_base64(entry).map_err(|source| KeystoreError::Entry {
                path: path.to_owned(),
                index,
                source,
            })
        })
        .collect()
}

fn classify(error: &serde_json::Error) -> &'static str {
    match error.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "wrong type (expected an array of strings)",
        serde_json::error::Category::Eof => "unexpected end of file",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wallet::Scheme;

    fn parse(text: &str) -> Result<Vec<Keypair>, KeystoreError> {
        parse_sui_keystore(text, Path::new("sui.keystore"))
    }

    #[test]
    fn reads_all_schemes() {
        let keys: Vec<Keypair> = Scheme::ALL.iter().map(|s| Keypair::generate(*s)).collect();
        let entries: Vec<String> = keys
            .iter()
            .map(|k| {
                let k = Keypair::from_suiprivkey(&k.to_suiprivkey()).unwrap();
                let mut bytes = vec![k.scheme().flag()];
                bytes.extend(secret_bytes(&k));
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
            })
            .collect();
        let read = parse(&serde_json::to_string(&entries).unwrap()).unwrap();
        let got: Vec<_> = read.iter().map(Keypair::address).collect();
        let want: Vec<_> = keys.iter().map(Keypair::address).collect();
        assert_eq!(got, want);
    }

    fn secret_bytes(key: &Keypair) -> Vec<u8> {
        use bech32::primitives::decode::CheckedHrpstring;
        let encoded = key.to_suiprivkey();
        let parsed = CheckedHrpstring::new::<bech32::Bech32>(&encoded).unwrap();
        parsed.byte_iter().skip(1).collect()
    }

    #[test]
    fn malformed_json_is_named_without_content() {
        let err = parse("[\"AAAA\", ").unwrap_err();
        assert!(matches!(err, KeystoreError::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("end of file"), "{err}");
        let err = parse("{\"key\": 1}").unwrap_err();
        assert!(err.to_string().contains("wrong type"), "{err}");
    }

    #[test]
    fn bad_entries_are_located() {
        let err = parse("[\"AwEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB\"]").unwrap_err();
        assert!(
            matches!(
                err,
                KeystoreError::Entry {
                    index: 0,
                    source: KeyError::UnknownFlag(3),
                    ..
                }
            ),
            "{err}"
        );
        let short = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [0u8; 20]);
        let err = parse(&format!("[\"{short}\"]")).unwrap_err();
        assert!(
            err.to_string()
                .contains("entry 0: ed25519 private key must be 32 bytes, got 19"),
            "{err}"
        );
        let err = parse("[\"***\"]").unwrap_err();
        assert!(
            matches!(
                err,
                KeystoreError::Entry {
                    source: KeyError::Base64(_),
                    ..
                }
            ),
            "{err}"
        );
    }
}
