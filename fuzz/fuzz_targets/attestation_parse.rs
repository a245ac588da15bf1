//! Fuzzes the attestation document parser: the COSE_Sign1 envelope, the
//! strict CBOR document decoder and the file-format detection must return
//! an error, never panic, hang or allocate without bound, on any input.
//! When the input parses, full verification (chain and signature) runs too.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use daas_core::attestation::{
    PcrPolicy, Policy, TrustRoots, decode_document_file, parse_unverified, verify,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = parse_unverified(data) {
        let at = UNIX_EPOCH + Duration::from_millis(document.timestamp_ms());
        let policy = Policy::new(PcrPolicy::AnyMeasurement).allow_debug(true);
        let _ = verify(data, &TrustRoots::aws(), &policy, at);
    }
    if let Ok((_, bytes)) = decode_document_file(data) {
        let _ = parse_unverified(&bytes);
    }
});
