//! Our attestation verifier against an independent one, `nitro_attest`
//! (x509-parser, coset and ring), over the real AWS Nitro documents in
//! `shared/fixtures/nitro` (or `$DAAS_NITRO_FIXTURES`) and over every
//! single-bit flip of them: both must make the same accept/refuse decision.
//!
//! Every flip costs `nitro_attest` a full chain verification (about 11
//! minutes of CPU for all 158,160): the suite checks every 7th bit (7 is
//! coprime to 8, so every bit position of a byte is covered);
//! `DAAS_CROSSCHECK_STRIDE=1` checks them all.
//!
//! Both verify at the document's own timestamp; ours with any PCRs and
//! debug documents allowed, because `nitro_attest` checks neither (our
//! policy checks have their own tests in `attestation.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, UNIX_EPOCH};

use daas_core::attestation::{
    PcrPolicy, Policy, TrustRoots, Verifier, decode_document_file, parse_unverified,
};
use nitro_attest::UnparsedAttestationDoc;
use time::OffsetDateTime;

const DOCUMENTS: [&str; 3] = [
    "prod-2024-09-07-blocky.b64",
    "debug-2024-09-07-blocky.b64",
    "prod-2021-03-24-anjuna-publickey.cbor",
];

fn fixtures_dir() -> PathBuf {
    let dir = std::env::var_os("DAAS_NITRO_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/nitro"
            ))
        });
    assert!(
        dir.is_dir(),
        "Nitro attestation fixtures not found at {}: put shared/fixtures/nitro beside the \
         checkout or set DAAS_NITRO_FIXTURES",
        dir.display()
    );
    dir
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    let contents = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("cannot read fixture {}: {error}", path.display()));
    decode_document_file(&contents).unwrap().1
}

/// The two verifiers, pinned to one document's timestamp.
struct Judges {
    ours: Verifier,
    policy: Policy,
    at_ms: u64,
}

impl Judges {
    fn new(document: &[u8]) -> Self {
        Self {
            ours: Verifier::new(TrustRoots::aws()),
            policy: Policy::new(PcrPolicy::AnyMeasurement).allow_debug(true),
            at_ms: parse_unverified(document).unwrap().timestamp_ms(),
        }
    }

    fn ours(&self, bytes: &[u8]) -> bool {
        let at = UNIX_EPOCH + Duration::from_millis(self.at_ms);
        self.ours.verify(bytes, &self.policy, at).is_ok()
    }

    fn theirs(&self, bytes: &[u8]) -> bool {
        let seconds = i64::try_from(self.at_ms / 1000).unwrap();
        let now = OffsetDateTime::from_unix_timestamp(seconds).unwrap();
        UnparsedAttestationDoc::from(bytes)
            .parse_and_verify(now)
            .is_ok()
    }
}

/// What flipping some bits gave.
#[derive(Default)]
struct Outcome {
    /// Flips where the verifiers disagree: bit index, our decision.
    disagreements: Vec<(usize, bool)>,
    /// Flips both accepted (bits no signature covers).
    both_accepted: usize,
}

/// Flips each of `bits` of `document` in turn (bit index = byte × 8 + bit)
/// and asks both verifiers.
fn flip_each(judges: &Judges, document: &[u8], bits: &[usize]) -> Outcome {
    let mut copy = document.to_vec();
    let mut outcome = Outcome::default();
    for &bit in bits {
        copy[bit / 8] ^= 1 << (bit % 8);
        let ours = judges.ours(&copy);
        if ours != judges.theirs(&copy) {
            outcome.disagreements.push((bit, ours));
        } else if ours {
            outcome.both_accepted += 1;
        }
        copy[bit / 8] ^= 1 << (bit % 8);
    }
    outcome
}

#[test]
fn real_documents_are_accepted_by_both_verifiers() {
    for name in DOCUMENTS {
        let document = fixture(name);
        let judges = Judges::new(&document);
        assert!(judges.ours(&document), "{name}: ours refused");
        assert!(judges.theirs(&document), "{name}: nitro_attest refused");
    }
}

/// Every how many bits a flip is checked (`DAAS_CROSSCHECK_STRIDE`, default
/// 7).
fn stride() -> usize {
    std::env::var("DAAS_CROSSCHECK_STRIDE")
        .ok()
        .and_then(|value| value.parse().ok())
        .filter(|stride| *stride > 0)
        .unwrap_or(7)
}

/// Flips every [`stride`]th bit of fixture `name` in turn, over all cores, and requires
/// both verifiers to decide alike on each.
fn every_single_bit_flip_gets_the_same_decision(name: &str) {
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let document = fixture(name);
    let judges = Judges::new(&document);
    let bits: Vec<usize> = (0..document.len() * 8).step_by(stride()).collect();
    let chunk = bits.len().div_ceil(threads);
    let outcome = thread::scope(|scope| {
        let workers: Vec<_> = bits
            .chunks(chunk)
            .map(|part| scope.spawn(|| flip_each(&judges, &document, part)))
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .fold(Outcome::default(), |mut all, part| {
                all.disagreements.extend(part.disagreements);
                all.both_accepted += part.both_accepted;
                all
            })
    });
    let found = &outcome.disagreements;
    println!(
        "{name}: {} single-bit flips, {} accepted by both, {} disagreements",
        bits.len(),
        outcome.both_accepted,
        found.len()
    );
    assert!(
        found.is_empty(),
        "{name}: the verifiers disagree on {} flips (bit, ours accepts): {:?}",
        found.len(),
        &found[..found.len().min(20)]
    );
}

#[test]
fn every_flip_of_the_production_blocky_document_gets_the_same_decision() {
    every_single_bit_flip_gets_the_same_decision(DOCUMENTS[0]);
}

#[test]
fn every_flip_of_the_debug_blocky_document_gets_the_same_decision() {
    every_single_bit_flip_gets_the_same_decision(DOCUMENTS[1]);
}

#[test]
fn every_flip_of_the_production_anjuna_document_gets_the_same_decision() {
    every_single_bit_flip_gets_the_same_decision(DOCUMENTS[2]);
}
