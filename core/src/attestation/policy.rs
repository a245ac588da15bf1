//! What a verified document must also satisfy: freshness (nonce, age) and
//! the measurements of the enclave image (PCRs).

use std::time::Duration;

use super::document::{AttestationDocument, Pcr};
use super::error::AttestationError;

/// Default maximum age of a document at verification time.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Default tolerance for a document timestamp ahead of the verifier's clock.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(30);

/// The PCR values an enclave image must have.
///
/// PCR0 is the enclave image, PCR1 the kernel and boot ramdisk, PCR2 the
/// application; PCR8, when set, the certificate that signed the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedPcrs {
    /// Expected PCR0 (enclave image file).
    pub pcr0: Pcr,
    /// Expected PCR1 (Linux kernel and bootstrap).
    pub pcr1: Pcr,
    /// Expected PCR2 (application).
    pub pcr2: Pcr,
    /// Expected PCR8 (signing certificate of the image), if pinned.
    pub pcr8: Option<Pcr>,
}

impl ExpectedPcrs {
    /// PCR0, PCR1 and PCR2 (and optionally PCR8) from `index → hex` pairs as
    /// configuration files write them (`"0": "ab12…"`, a leading `0x` is
    /// allowed). Shared by every client's configuration (console, agent).
    ///
    /// # Errors
    /// [`PcrConfigError`] naming the entry (`pcrs.<index>`) and the problem.
    pub fn from_indexed<'a>(
        pcrs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PcrConfigError> {
        let mut parsed: std::collections::BTreeMap<u8, Pcr> = std::collections::BTreeMap::new();
        for (index, value) in pcrs {
            let error = |reason: &str| PcrConfigError {
                field: format!("pcrs.{index}"),
                reason: reason.to_owned(),
            };
            let number = match index.trim().parse::<u8>() {
                Ok(n @ (0 | 1 | 2 | 8)) => n,
                _ => return Err(error("a master is pinned by PCR 0, 1, 2 and 8 only")),
            };
            let pcr = Pcr::from_hex(value.trim().trim_start_matches("0x"))
                .map_err(|_| error("not 96 hex digits"))?;
            parsed.insert(number, pcr);
        }
        let required = |index: u8| {
            parsed.get(&index).copied().ok_or_else(|| PcrConfigError {
                field: format!("pcrs.{index}"),
                reason: "missing (give 0, 1 and 2)".to_owned(),
            })
        };
        Ok(Self {
            pcr0: required(0)?,
            pcr1: required(1)?,
            pcr2: required(2)?,
            pcr8: parsed.get(&8).copied(),
        })
    }

    fn iter(&self) -> impl Iterator<Item = (u8, &Pcr)> {
        [(0, &self.pcr0), (1, &self.pcr1), (2, &self.pcr2)]
            .into_iter()
            .chain(self.pcr8.as_ref().map(|pcr| (8, pcr)))
    }
}

/// A configured PCR entry is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PcrConfigError {
    /// The entry, e.g. `pcrs.0`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

/// How PCRs are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PcrPolicy {
    /// PCR0, PCR1, PCR2 (and PCR8 if given) must equal these values. What
    /// every client that talks to a master uses.
    Expect(ExpectedPcrs),
    /// Accept any measurement (debug PCRs still need `allow_debug`). Only
    /// for inspecting a document, e.g. `daas-console attest verify`, where
    /// the PCRs are shown to the operator instead of being compared.
    AnyMeasurement,
}

/// Everything besides signature and chain that a document must satisfy.
///
/// Built with [`Policy::new`] and refined with the `with_*` methods:
///
/// ```
/// use std::time::Duration;
/// use daas_core::attestation::{Policy, PcrPolicy};
///
/// let policy = Policy::new(PcrPolicy::AnyMeasurement)
///     .with_nonce(b"client nonce".to_vec())
///     .with_max_age(Duration::from_secs(60));
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pcrs: PcrPolicy,
    nonce: Option<Vec<u8>>,
    max_age: Duration,
    max_future_skew: Duration,
    allow_debug: bool,
}

impl Policy {
    /// A policy with the given PCR check, no nonce, the default maximum age
    /// ([`DEFAULT_MAX_AGE`]) and future skew ([`DEFAULT_MAX_FUTURE_SKEW`]),
    /// debug enclaves refused.
    pub fn new(pcrs: PcrPolicy) -> Self {
        Self {
            pcrs,
            nonce: None,
            max_age: DEFAULT_MAX_AGE,
            max_future_skew: DEFAULT_MAX_FUTURE_SKEW,
            allow_debug: false,
        }
    }

    /// Requires the document's nonce to equal `nonce`.
    pub fn with_nonce(mut self, nonce: impl Into<Vec<u8>>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Sets the maximum age of the document at verification time.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// Sets how far the document's timestamp may be ahead of the
    /// verification time (clock skew).
    pub fn with_max_future_skew(mut self, skew: Duration) -> Self {
        self.max_future_skew = skew;
        self
    }

    /// Accepts debug-mode enclaves (all-zero PCR0/1/2). Insecure: the
    /// parent instance can read a debug enclave's memory.
    pub fn allow_debug(mut self, allow: bool) -> Self {
        self.allow_debug = allow;
        self
    }

    /// The PCR check.
    pub fn pcrs(&self) -> &PcrPolicy {
        &self.pcrs
    }

    /// Checks freshness, debug mode and PCRs, in that order.
    pub(crate) fn check(
        &self,
        document: &AttestationDocument,
        at: Duration,
    ) -> Result<(), AttestationError> {
        self.check_freshness(document, at)?;
        self.check_pcrs(document)
    }

    fn check_freshness(
        &self,
        document: &AttestationDocument,
        at: Duration,
    ) -> Result<(), AttestationError> {
        if let Some(expected) = &self.nonce {
            match document.nonce() {
                None => {
                    return Err(AttestationError::NonceMissing {
                        expected: hex::encode(expected),
                    });
                }
                Some(got) if got != expected.as_slice() => {
                    return Err(AttestationError::NonceMismatch {
                        expected: hex::encode(expected),
                        got: hex::encode(got),
                    });
                }
                Some(_) => {}
            }
        }
        let created = Duration::from_millis(document.timestamp_ms());
        if let Some(age) = at.checked_sub(created) {
            if age > self.max_age {
                return Err(AttestationError::TooOld {
                    age_ms: age.as_millis(),
                    max_ms: self.max_age.as_millis(),
                });
            }
        } else {
            let ahead = created.saturating_sub(at);
            if ahead > self.max_future_skew {
                return Err(AttestationError::FromTheFuture {
                    ahead_ms: ahead.as_millis(),
                    max_ms: self.max_future_skew.as_millis(),
                });
            }
        }
        Ok(())
    }

    fn check_pcrs(&self, document: &AttestationDocument) -> Result<(), AttestationError> {
        let pcrs = document.pcrs();
        if !self.allow_debug {
            for index in 0..=2 {
                match pcrs.get(index) {
                    Some(pcr) if pcr.is_zero() => {
                        return Err(AttestationError::DebugMode { index });
                    }
                    Some(_) => {}
                    None => return Err(AttestationError::PcrMissing { index }),
                }
            }
        }
        if let PcrPolicy::Expect(expected) = &self.pcrs {
            for (index, want) in expected.iter() {
                let got = pcrs
                    .get(index)
                    .ok_or(AttestationError::PcrMissing { index })?;
                if got != want {
                    return Err(AttestationError::PcrMismatch {
                        index,
                        expected: want.to_string(),
                        got: got.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}
