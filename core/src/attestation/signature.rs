//! ECDSA signature checks of a document (its certificates and its COSE
//! envelope), verified with `ring`.
//!
//! The checks of one document are independent of each other once the chain
//! is parsed (each needs only its issuer's public key, the signed bytes and
//! the signature), so they are collected first and then run together, split
//! over the machine's cores: on first sight of a chain the four certificate
//! signatures and the COSE signature cost about the time of two or three
//! checks instead of five. Every check runs; the error reported is the first
//! one in chain order, so results do not depend on scheduling.

use std::borrow::Cow;
use std::thread;

use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ECDSA_P384_SHA384_FIXED, UnparsedPublicKey,
    VerificationAlgorithm,
};

use super::chain::LinkCache;
use super::error::AttestationError;

/// Most threads one document's checks are split over.
const MAX_THREADS: usize = 4;

/// An elliptic curve of an accepted public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    /// NIST P-384 (secp384r1): Nitro certificates and every document.
    P384,
    /// NIST P-256 (prime256v1): accepted for development roots.
    P256,
}

/// An EC public key: its curve and its uncompressed SEC1 point, checked to
/// lie on the curve when it was parsed.
#[derive(Clone, Debug)]
pub(crate) struct EcKey {
    pub(crate) curve: Curve,
    pub(crate) point: Vec<u8>,
}

/// How a signature is encoded and what it covers.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scheme {
    /// X.509: DER `ECDSA-Sig-Value`, with the hash of the issuer key's curve
    /// (SHA-384 for P-384, SHA-256 for P-256).
    X509,
    /// COSE ES384: raw 96-byte r||s, P-384 with SHA-384.
    Es384,
}

/// One signature to verify.
pub(crate) struct SignatureCheck<'a> {
    pub(crate) key: EcKey,
    pub(crate) scheme: Scheme,
    pub(crate) message: Cow<'a, [u8]>,
    pub(crate) signature: Cow<'a, [u8]>,
    /// What to report when it does not verify.
    pub(crate) error: AttestationError,
    /// Where to remember a verified certificate link, if anywhere.
    pub(crate) cache_key: Option<[u8; 32]>,
}

impl SignatureCheck<'_> {
    fn algorithm(&self) -> Option<&'static dyn VerificationAlgorithm> {
        match (self.scheme, self.key.curve) {
            (Scheme::X509, Curve::P384) => Some(&ECDSA_P384_SHA384_ASN1),
            (Scheme::X509, Curve::P256) => Some(&ECDSA_P256_SHA256_ASN1),
            (Scheme::Es384, Curve::P384) => Some(&ECDSA_P384_SHA384_FIXED),
            (Scheme::Es384, Curve::P256) => None,
        }
    }

    fn holds(&self) -> bool {
        self.algorithm().is_some_and(|algorithm| {
            UnparsedPublicKey::new(algorithm, &self.key.point)
                .verify(&self.message, &self.signature)
                .is_ok()
        })
    }
}

/// Runs every check, in parallel when there is more than one core, and
/// returns the error of the first failing one in the given order. Verified
/// certificate links are remembered in `cache`.
pub(crate) fn verify_all(
    checks: Vec<SignatureCheck<'_>>,
    cache: Option<&LinkCache>,
) -> Result<(), AttestationError> {
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(checks.len());
    let outcomes: Vec<bool> = if threads <= 1 {
        checks.iter().map(SignatureCheck::holds).collect()
    } else {
        run_split(&checks, threads)
    };
    for (check, holds) in checks.into_iter().zip(outcomes) {
        if !holds {
            return Err(check.error);
        }
        if let (Some(cache), Some(key)) = (cache, check.cache_key) {
            cache.insert(key);
        }
    }
    Ok(())
}

/// Checks `checks` over `threads` threads (this one included), interleaved
/// so that each takes a similar share; outcomes come back in order.
fn run_split(checks: &[SignatureCheck<'_>], threads: usize) -> Vec<bool> {
    let share = |start: usize| -> Vec<(usize, bool)> {
        checks
            .iter()
            .enumerate()
            .skip(start)
            .step_by(threads)
            .map(|(index, check)| (index, check.holds()))
            .collect()
    };
    let mut outcomes = vec![false; checks.len()];
    thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .map(|start| scope.spawn(move || share(start)))
            .collect();
        let mut results = share(0);
        for helper in helpers {
            // A panicking helper leaves its checks failed (fail closed).
            results.extend(helper.join().unwrap_or_default());
        }
        for (index, holds) in results {
            outcomes[index] = holds;
        }
    });
    outcomes
}
