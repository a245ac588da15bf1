//! RFC 9162 inclusion proofs in a tree of one million audit events: the
//! cost of `GET /api/v1/audit/events/{id}`'s proof, and of checking it.
//!
//! `cargo bench -p daas-core --bench audit`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use daas_core::audit::merkle::leaf_hash;
use daas_core::audit::{MerkleTree, verify_inclusion};

const SIZE: u64 = 1_000_000;

fn tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    for i in 0..SIZE {
        tree.push_hash(leaf_hash(&i.to_le_bytes()));
    }
    tree
}

fn bench(c: &mut Criterion) {
    let started = std::time::Instant::now();
    let tree = tree();
    println!(
        "built a tree of {SIZE} leaves in {:?} ({:.0} leaves/s)",
        started.elapsed(),
        SIZE as f64 / started.elapsed().as_secs_f64()
    );
    let root = tree.root();
    let mut index = 0u64;
    c.bench_function("inclusion proof, 1,000,000 leaves", |b| {
        b.iter(|| {
            index = (index + 7_919) % SIZE;
            tree.inclusion_proof(index, SIZE).unwrap()
        });
    });
    let proof = tree.inclusion_proof(123_456, SIZE).unwrap();
    let leaf = tree.leaf(123_456).unwrap();
    c.bench_function("verify inclusion, 1,000,000 leaves", |b| {
        b.iter(|| verify_inclusion(&leaf, 123_456, SIZE, &proof, &root).unwrap());
    });
    c.bench_function("consistency proof 999,000 -> 1,000,000", |b| {
        b.iter(|| tree.consistency_proof(999_000, SIZE).unwrap());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
