//! BIP-39 mnemonics and Sui's key derivation paths.
//!
//! Sui derives Ed25519 keys with SLIP-0010 along fully hardened paths under
//! purpose 44, and ECDSA keys with BIP-32 under purpose 54 (secp256k1) or 74
//! (secp256r1). Like the Sui CLI and the TypeScript SDK, secp256r1 keys use the
//! secp256k1 BIP-32 arithmetic and take the resulting 32 bytes as the P-256
//! secret.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use k256::elliptic_curve::PrimeField;
use k256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::Sha512;
use zeroize::Zeroizing;

use super::{KeyError, Scheme};

/// Sui's SLIP-44 coin type.
const SUI_COIN_TYPE: u32 = 784;
const HARDENED: u32 = 0x8000_0000;

/// A BIP-32 derivation path such as `m/44'/784'/0'/0'/0'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DerivationPath {
    /// Child indexes, with the hardened bit set where the path has `'`.
    indexes: Vec<u32>,
}

impl DerivationPath {
    /// Sui's default path for `scheme`, account 0, address 0.
    pub fn default_for(scheme: Scheme) -> Self {
        Self::sui(scheme, 0, 0, 0)
    }

    /// Sui's path for `scheme` with the given account, change and address indexes.
    pub fn sui(scheme: Scheme, account: u32, change: u32, address: u32) -> Self {
        let account = account & !HARDENED;
        let change = change & !HARDENED;
        let address = address & !HARDENED;
        let indexes = match scheme {
            Scheme::Ed25519 => vec![
                44 | HARDENED,
                SUI_COIN_TYPE | HARDENED,
                account | HARDENED,
                change | HARDENED,
                address | HARDENED,
            ],
            Scheme::Secp256k1 | Scheme::Secp256r1 => vec![
                purpose(scheme) | HARDENED,
                SUI_COIN_TYPE | HARDENED,
                account | HARDENED,
                change,
                address,
            ],
        };
        Self { indexes }
    }

    /// Checks that the path has the shape Sui requires for `scheme`.
    fn check_for(&self, scheme: Scheme) -> Result<(), KeyError> {
        let fail = |reason: String| KeyError::DerivationPath {
            path: self.to_string(),
            reason,
        };
        let [purpose_index, coin, account, change, address] = self.indexes[..] else {
            return Err(fail(format!(
                "Sui paths have 5 levels (m/purpose'/784'/account'/change/address), this one has {}",
                self.indexes.len()
            )));
        };
        if purpose_index != purpose(scheme) | HARDENED {
            return Err(fail(format!(
                "{scheme} keys use purpose {}'",
                purpose(scheme)
            )));
        }
        if coin != SUI_COIN_TYPE | HARDENED {
            return Err(fail("the coin type must be 784'".into()));
        }
        if account & HARDENED == 0 {
            return Err(fail("the account level must be hardened".into()));
        }
        let all_hardened = change & HARDENED != 0 && address & HARDENED != 0;
        match scheme {
            Scheme::Ed25519 if !all_hardened => Err(fail(
                "ed25519 (SLIP-0010) paths must be hardened at every level".into(),
            )),
            Scheme::Secp256k1 | Scheme::Secp256r1
                if change & HARDENED != 0 || address & HARDENED != 0 =>
            {
                Err(fail(format!(
                    "{scheme} paths have unhardened change and address levels"
                )))
            }
            _ => Ok(()),
        }
    }
}

fn purpose(scheme: Scheme) -> u32 {
    match scheme {
        Scheme::Ed25519 => 44,
        Scheme::Secp256k1 => 54,
        Scheme::Secp256r1 => 74,
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for index in &self.indexes {
            if index & HARDENED != 0 {
                write!(f, "/{}'", index & !HARDENED)?;
            } else {
                write!(f, "/{index}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for DerivationPath {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason: &str| KeyError::DerivationPath {
            path: s.to_owned(),
            reason: reason.to_owned(),
        };
        let mut parts = s.split('/');
        if parts.next() != Some("m") {
            return Err(fail("it must start with `m/`"));
        }
        let indexes = parts
            .map(|part| {
                let (digits, hardened) = match part.strip_suffix('\'') {
                    Some(digits) => (digits, HARDENED),
                    None => (part, 0),
                };
                match digits.parse::<u32>() {
                    Ok(n) if n < HARDENED && !digits.starts_with('+') => Ok(n | hardened),
                    _ => Err(fail(&format!("`{part}` is not an index below 2^31"))),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        if indexes.is_empty() {
            return Err(fail("it has no levels"));
        }
        Ok(Self { indexes })
    }
}

/// Derives the 32-byte secret for `scheme` from a BIP-39 mnemonic (no passphrase).
pub(super) fn derive_from_mnemonic(
    phrase: &str,
    scheme: Scheme,
    path: &DerivationPath,
) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    path.check_for(scheme)?;
    let normalized = phrase
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized)
        .map_err(|e| KeyError::Mnemonic(e.to_string()))?;
    let seed = Zeroizing::new(mnemonic.to_seed(""));
    match scheme {
        Scheme::Ed25519 => Ok(slip10_ed25519(seed.as_ref(), path)),
        Scheme::Secp256k1 | Scheme::Secp256r1 => bip32_secp256k1(seed.as_ref(), path),
    }
}

type HmacSha512 = Hmac<Sha512>;

/// HMAC-SHA512 split into the 32-byte key and chain code halves.
fn hmac_halves(key: &[u8], parts: &[&[u8]]) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha512 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    let out = Zeroizing::new(<[u8; 64]>::from(mac.finalize().into_bytes()));
    let mut left = Zeroizing::new([0u8; 32]);
    let mut right = Zeroizing::new([0u8; 32]);
    left.copy_from_slice(&out[..32]);
    right.copy_from_slice(&out[32..]);
    (left, right)
}

/// SLIP-0010 for Ed25519: hardened children only.
fn slip10_ed25519(seed: &[u8], path: &DerivationPath) -> Zeroizing<[u8; 32]> {
    let (mut key, mut chain) = hmac_halves(b"ed25519 seed", &[seed]);
    for index in &path.indexes {
        (key, chain) = hmac_halves(
            chain.as_ref(),
            &[&[0u8], key.as_ref(), &index.to_be_bytes()],
        );
    }
    key
}

/// BIP-32 over secp256k1.
fn bip32_secp256k1(seed: &[u8], path: &DerivationPath) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let failed = || KeyError::DerivationFailed(path.to_string());
    let (master, mut chain) = hmac_halves(b"Bitcoin seed", &[seed]);
    let mut scalar = scalar_from(&master).ok_or_else(failed)?;
    for index in &path.indexes {
        let secret = Zeroizing::new(<[u8; 32]>::from(scalar.to_repr()));
        let (tweak, next_chain) = if index & HARDENED != 0 {
            hmac_halves(
                chain.as_ref(),
                &[&[0u8], secret.as_ref(), &index.to_be_bytes()],
            )
        } else {
            let public = k256::ProjectivePoint::GENERATOR * scalar;
            let compressed = public.to_affine().to_encoded_point(true);
            hmac_halves(
                chain.as_ref(),
                &[compressed.as_bytes(), &index.to_be_bytes()],
            )
        };
        scalar += scalar_from(&tweak).ok_or_else(failed)?;
        if bool::from(scalar.is_zero()) {
            return Err(failed());
        }
        chain = next_chain;
    }
    Ok(Zeroizing::new(<[u8; 32]>::from(scalar.to_repr())))
}

/// A non-zero scalar below the group order, as BIP-32 requires of every step.
fn scalar_from(bytes: &[u8; 32]) -> Option<k256::Scalar> {
    let scalar: Option<k256::Scalar> = k256::Scalar::from_repr((*bytes).into()).into();
    scalar.filter(|s| !bool::from(s.is_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_and_parse() {
        for scheme in Scheme::ALL {
            let path = DerivationPath::default_for(scheme);
            assert_eq!(path.to_string().parse::<DerivationPath>().unwrap(), path);
            path.check_for(scheme).unwrap();
        }
        assert_eq!(
            DerivationPath::default_for(Scheme::Ed25519).to_string(),
            "m/44'/784'/0'/0'/0'"
        );
        assert_eq!(
            DerivationPath::default_for(Scheme::Secp256k1).to_string(),
            "m/54'/784'/0'/0/0"
        );
        assert_eq!(
            DerivationPath::default_for(Scheme::Secp256r1).to_string(),
            "m/74'/784'/0'/0/0"
        );
    }

    #[test]
    fn bad_paths_are_named() {
        for bad in ["", "44'/784'", "m/x'", "m/2147483648", "m/+1"] {
            let err = bad.parse::<DerivationPath>().unwrap_err();
            assert!(
                matches!(err, KeyError::DerivationPath { .. }),
                "{bad}: {err}"
            );
        }
        let k1 = DerivationPath::default_for(Scheme::Secp256k1);
        let err = k1.check_for(Scheme::Ed25519).unwrap_err();
        assert!(err.to_string().contains("purpose 44'"), "{err}");
        let unhardened: DerivationPath = "m/44'/784'/0'/0/0".parse().unwrap();
        let err = unhardened.check_for(Scheme::Ed25519).unwrap_err();
        assert!(err.to_string().contains("hardened"), "{err}");
    }

    /// SLIP-0010 test vector 1 for ed25519, chain m/0'/1'/2'/2'/1000000000'.
    #[test]
    fn slip10_test_vector() {
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let path: DerivationPath = "m/0'/1'/2'/2'/1000000000'".parse().unwrap();
        let key = slip10_ed25519(&seed, &path);
        assert_eq!(
            hex::encode(key.as_ref()),
            "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793"
        );
    }

    /// BIP-32 test vector 1, chain m/0'/1/2'/2/1000000000.
    #[test]
    fn bip32_test_vector() {
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let path: DerivationPath = "m/0'/1/2'/2/1000000000".parse().unwrap();
        let key = bip32_secp256k1(&seed, &path).unwrap();
        assert_eq!(
            hex::encode(key.as_ref()),
            "471b76e389e528d6de6d816857e012c5455051cad6660850e58372a6c3e6e7c8"
        );
    }

    #[test]
    fn bad_mnemonic_is_named() {
        let path = DerivationPath::default_for(Scheme::Ed25519);
        let err =
            derive_from_mnemonic("not a mnemonic at all", Scheme::Ed25519, &path).unwrap_err();
        assert!(matches!(err, KeyError::Mnemonic(_)), "{err}");
    }
}
