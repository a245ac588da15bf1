//! Fuzzes the attestation document parser: the COSE_Sign1 envelope, the
//! strict CBOR document decoder and the file-format detection must return
//! an error, never panic, hang or allocate without bound, on any input.
//! When the input parses, full verification (chain and signature) runs too.
//!
//! One [`Verifier`] serves every input, as one serves every document in the
//! master and the console: a mutated document usually keeps the seed's
//! certificate chain, and re-proving its four P-384 certificate signatures
//! for every input (the free `verify`) took nearly all of the target's time.
//! Parsing, validity, names, constraints, the COSE signature and the policy
//! are still checked on every input; a new certificate is still verified.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use daas_core::attestation::{
    PcrPolicy, Policy, TrustRoots, Verifier, decode_document_file, parse_unverified,
};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| Verifier::new(TrustRoots::aws()));

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = parse_unverified(data) {
        let at = UNIX_EPOCH + Duration::from_millis(document.timestamp_ms());
        let policy = Policy::new(PcrPolicy::AnyMeasurement).allow_debug(true);
        let _ = VERIFIER.verify(data, &policy, at);
    }
    if let Ok((_, bytes)) = decode_document_file(data) {
        let _ = parse_unverified(&bytes);
    }
});
