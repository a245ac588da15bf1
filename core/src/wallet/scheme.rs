//! The signature schemes a wallet key may use.

use std::fmt;
use std::str::FromStr;

use super::KeyError;

/// A signature scheme usable for a wallet key: the three "simple" Sui schemes.
///
/// The flag byte is the one Sui puts in front of keys and signatures
/// (`0x00` Ed25519, `0x01` Secp256k1, `0x02` Secp256r1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Ed25519 (flag `0x00`), the Sui default.
    Ed25519,
    /// ECDSA over secp256k1 (flag `0x01`).
    Secp256k1,
    /// ECDSA over secp256r1 / P-256 (flag `0x02`).
    Secp256r1,
}

impl Scheme {
    /// All schemes, in flag order.
    pub const ALL: [Scheme; 3] = [Scheme::Ed25519, Scheme::Secp256k1, Scheme::Secp256r1];

    /// The Sui flag byte of this scheme.
    pub fn flag(self) -> u8 {
        match self {
            Scheme::Ed25519 => 0x00,
            Scheme::Secp256k1 => 0x01,
            Scheme::Secp256r1 => 0x02,
        }
    }

    /// The scheme for a Sui flag byte.
    pub fn from_flag(flag: u8) -> Result<Self, KeyError> {
        match flag {
            0x00 => Ok(Scheme::Ed25519),
            0x01 => Ok(Scheme::Secp256k1),
            0x02 => Ok(Scheme::Secp256r1),
            other => Err(KeyError::UnknownFlag(other)),
        }
    }

    /// Length of a private key of this scheme in bytes.
    pub fn private_key_len(self) -> usize {
        32
    }

    /// Length of a public key of this scheme in bytes (compressed points for ECDSA).
    pub fn public_key_len(self) -> usize {
        match self {
            Scheme::Ed25519 => 32,
            Scheme::Secp256k1 | Scheme::Secp256r1 => 33,
        }
    }

    /// Length of a raw signature of this scheme in bytes.
    pub fn signature_len(self) -> usize {
        64
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scheme::Ed25519 => "ed25519",
            Scheme::Secp256k1 => "secp256k1",
            Scheme::Secp256r1 => "secp256r1",
        })
    }
}

impl FromStr for Scheme {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ed25519" => Ok(Scheme::Ed25519),
            "secp256k1" | "k1" => Ok(Scheme::Secp256k1),
            "secp256r1" | "r1" | "p256" => Ok(Scheme::Secp256r1),
            _ => Err(KeyError::UnknownScheme(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip() {
        for scheme in Scheme::ALL {
            assert_eq!(Scheme::from_flag(scheme.flag()).unwrap(), scheme);
            assert_eq!(scheme.to_string().parse::<Scheme>().unwrap(), scheme);
        }
    }

    #[test]
    fn unknown_flag_is_named() {
        let err = Scheme::from_flag(0x05).unwrap_err();
        assert!(err.to_string().contains("0x05"), "{err}");
    }
}
