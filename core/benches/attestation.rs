//! Verification time of one real production attestation document (the
//! blocky/nitrite fixture: 4-certificate bundle, 1024-byte public key, user
//! data and nonce), pinned to the document's own timestamp.
//!
//! The reference, measured in the same run on the same document, is the
//! independent `nitro_attest` crate (x509-parser, coset, ring), which
//! checks the same five signatures one after the other.
//!
//! `cargo bench -p daas-core --bench attestation`; target ≤ 2 ms on first
//! sight of a chain.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use daas_core::attestation::{
    PcrPolicy, Policy, TrustRoots, Verifier, decode_document_file, parse_unverified, verify,
};
use nitro_attest::UnparsedAttestationDoc;

const TIMESTAMP_MS: u64 = 1_725_719_859_545;

fn document() -> Vec<u8> {
    let dir = std::env::var_os("DAAS_NITRO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/nitro"
            ))
        });
    let path = dir.join("prod-2024-09-07-blocky.b64");
    let contents = std::fs::read(&path).unwrap_or_else(|error| {
        panic!(
            "Nitro fixture {} not found ({error}); set DAAS_NITRO_FIXTURES",
            path.display()
        )
    });
    decode_document_file(&contents).unwrap().1
}

fn bench_verify(c: &mut Criterion) {
    let bytes = document();
    let at = UNIX_EPOCH + Duration::from_millis(TIMESTAMP_MS);
    let roots = TrustRoots::aws();
    let policy = Policy::new(PcrPolicy::AnyMeasurement);
    verify(&bytes, &roots, &policy, at).unwrap();

    // Cold: every certificate signature and the COSE signature (5 ECDSA
    // P-384 verifications).
    c.bench_function("attestation/verify prod blocky document (cold)", |b| {
        b.iter(|| verify(std::hint::black_box(&bytes), &roots, &policy, at).unwrap())
    });
    // Warm: a long-lived `Verifier` that has seen this enclave's chain.
    let verifier = Verifier::new(roots.clone());
    verifier.verify(&bytes, &policy, at).unwrap();
    c.bench_function(
        "attestation/verify prod blocky document (cached chain)",
        |b| {
            b.iter(|| {
                verifier
                    .verify(std::hint::black_box(&bytes), &policy, at)
                    .unwrap()
            })
        },
    );
    // Reference: the independent verifier on the same document and time.
    let now = time::OffsetDateTime::from_unix_timestamp((TIMESTAMP_MS / 1000) as i64).unwrap();
    UnparsedAttestationDoc::from(bytes.as_slice())
        .parse_and_verify(now)
        .unwrap();
    c.bench_function("attestation/reference nitro_attest (cold)", |b| {
        b.iter(|| {
            UnparsedAttestationDoc::from(std::hint::black_box(bytes.as_slice()))
                .parse_and_verify(now)
                .unwrap()
        })
    });
    c.bench_function("attestation/parse prod blocky document", |b| {
        b.iter(|| parse_unverified(std::hint::black_box(&bytes)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench_verify
}
criterion_main!(benches);
