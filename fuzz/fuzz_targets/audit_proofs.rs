//! Fuzzes what `daas-console audit verify` reads from a master it does not
//! trust: the checkpoint note (C2SP signed note), the served event with its
//! inclusion proof, a stored leaf, and the RFC 9162 proof checks themselves
//! on arbitrary sizes, indexes and paths. The first byte picks the input;
//! nothing may panic or loop.
#![no_main]

use daas_core::api::audit::AuditEventProof;
use daas_core::audit::verify::parse_hash;
use daas_core::audit::{
    AuditLeaf, Hash, SignedCheckpoint, verify_consistency, verify_inclusion,
};
use libfuzzer_sys::fuzz_target;

const KEY_NAME: &str = "k3s-daas/audit";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            if let Ok(note) = std::str::from_utf8(rest) {
                let _ = SignedCheckpoint::verify_note(note, KEY_NAME, &key());
            }
        }
        1 => {
            if let Ok(served) = serde_json::from_slice::<AuditEventProof>(rest) {
                served_proof(&served);
            }
        }
        2 => {
            let _ = AuditLeaf::from_bytes(rest);
        }
        _ => raw_proofs(rest),
    }
});

fn key() -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key()
}

/// The steps of `verify_event_proof` that read the served values.
fn served_proof(served: &AuditEventProof) {
    let _ = SignedCheckpoint::verify_note(&served.checkpoint.note, KEY_NAME, &key());
    let Ok(root) = parse_hash(&served.checkpoint.root, "root") else {
        return;
    };
    let proof: Result<Vec<Hash>, _> = served
        .inclusion_proof
        .iter()
        .map(|hash| parse_hash(hash, "proof"))
        .collect();
    if let Ok(proof) = proof {
        let leaf = served.event.hash();
        let _ = verify_inclusion(
            &leaf,
            served.leaf_index,
            served.checkpoint.tree_size,
            &proof,
            &root,
        );
    }
}

/// Two sizes, then 32-byte hashes: the last two are roots, the rest a path.
fn raw_proofs(bytes: &[u8]) {
    let Some((first, rest)) = bytes.split_first_chunk::<8>() else {
        return;
    };
    let Some((second, rest)) = rest.split_first_chunk::<8>() else {
        return;
    };
    let (first, second) = (u64::from_le_bytes(*first), u64::from_le_bytes(*second));
    let hashes: Vec<Hash> = rest
        .chunks_exact(32)
        .filter_map(|chunk| chunk.try_into().ok())
        .collect();
    let [path @ .., a, b] = hashes.as_slice() else {
        return;
    };
    let _ = verify_inclusion(a, first, second, path, b);
    let _ = verify_consistency(first, second, path, a, b);
}
