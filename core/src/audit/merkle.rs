//! RFC 9162 Merkle trees: hashing, inclusion and consistency proofs.
//!
//! Leaves hash as `SHA-256(0x00 ‖ leaf)`, interior nodes as
//! `SHA-256(0x01 ‖ left ‖ right)`, and the tree over `n` leaves splits at
//! the largest power of two below `n` (RFC 9162 §2.1.1). Proof generation
//! follows §2.1.3.1 (`PATH`) and §2.1.4.1 (`PROOF`/`SUBPROOF`); verification
//! is the iterative algorithm of §2.1.3.2 and §2.1.4.2.
//!
//! [`MerkleTree`] keeps every complete power-of-two subtree hash, so the
//! root and any proof at any earlier size cost `O(log n)` hashes: a tree of
//! one million leaves holds about two million hashes (64 MB).

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why a proof or tree operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf asked for.
        index: u64,
        /// The tree's size.
        size: u64,
    },
    /// A size is larger than the tree.
    #[error("tree size {asked} is larger than the tree ({size} leaves)")]
    SizeOutOfRange {
        /// The size asked for.
        asked: u64,
        /// The tree's size.
        size: u64,
    },
    /// The first size of a consistency proof is larger than the second.
    #[error("consistency from size {first} to the smaller size {second}")]
    SizesReversed {
        /// The older size.
        first: u64,
        /// The newer size.
        second: u64,
    },
    /// The proof has the wrong number of hashes for its sizes.
    #[error("the proof has {got} hashes where its sizes need {expected}")]
    WrongLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes call for.
        expected: usize,
    },
    /// The proof does not lead to the expected root.
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
}

/// `SHA-256(0x00 ‖ leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(leaf);
    hasher.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// An append-only Merkle tree over leaf hashes.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    /// `levels[k][i]` is the hash of the complete subtree of `2^k` leaves
    /// starting at leaf `i * 2^k`; `levels[0]` holds the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends the leaf whose hash is `hash` (see [`leaf_hash`]) and
    /// completes every subtree it closes.
    pub fn push_hash(&mut self, hash: Hash) {
        let mut level = 0;
        let mut carry = hash;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(carry);
            if !row.len().is_multiple_of(2) {
                return;
            }
            let right = row[row.len() - 1];
            let left = row[row.len() - 2];
            carry = node_hash(&left, &right);
            level += 1;
        }
    }

    /// Appends `leaf` (its bytes, hashed with [`leaf_hash`]).
    pub fn push(&mut self, leaf: &[u8]) {
        self.push_hash(leaf_hash(leaf));
    }

    /// The hash of leaf `index`.
    ///
    /// # Errors
    /// [`ProofError::IndexOutOfRange`].
    pub fn leaf(&self, index: u64) -> Result<Hash, ProofError> {
        self.levels
            .first()
            .and_then(|leaves| leaves.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(ProofError::IndexOutOfRange {
                index,
                size: self.size(),
            })
    }

    /// The root of the tree's first `size` leaves.
    ///
    /// # Errors
    /// [`ProofError::SizeOutOfRange`] if `size` exceeds the tree.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        Ok(if size == 0 {
            empty_root()
        } else {
            self.subtree(0, size)
        })
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        if self.size() == 0 {
            empty_root()
        } else {
            self.subtree(0, self.size())
        }
    }

    /// The inclusion proof (`PATH(index, D[size])`) of leaf `index` in the
    /// tree of the first `size` leaves.
    ///
    /// # Errors
    /// The size exceeds the tree or the index is not below the size.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut path = Vec::new();
        let (mut start, mut end, mut m) = (0, size, index);
        while end - start > 1 {
            let k = split_point(end - start);
            if m < k {
                path.push(self.subtree(start + k, end));
                end = start + k;
            } else {
                path.push(self.subtree(start, start + k));
                start += k;
                m -= k;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// The consistency proof (`PROOF(first, D[second])`) between the trees
    /// of the first `first` and `second` leaves. Empty when `first` is 0
    /// or equals `second`.
    ///
    /// # Errors
    /// The sizes are reversed or exceed the tree.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(second)?;
        if first > second {
            return Err(ProofError::SizesReversed { first, second });
        }
        if first == 0 || first == second {
            return Ok(Vec::new());
        }
        let mut proof = Vec::new();
        let (mut start, mut end, mut m, mut whole) = (0, second, first, true);
        while m != end - start {
            let k = split_point(end - start);
            if m <= k {
                proof.push(self.subtree(start + k, end));
                end = start + k;
            } else {
                proof.push(self.subtree(start, start + k));
                start += k;
                m -= k;
                whole = false;
            }
        }
        if !whole {
            proof.push(self.subtree(start, end));
        }
        proof.reverse();
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.size() {
            Err(ProofError::SizeOutOfRange {
                asked: size,
                size: self.size(),
            })
        } else {
            Ok(())
        }
    }

    /// `MTH(D[start..end])` for `start < end <= size`, where `start` is a
    /// multiple of the largest power of two not above `end - start` (true
    /// of every range RFC 9162's recursion visits).
    fn subtree(&self, start: u64, end: u64) -> Hash {
        let width = end - start;
        if width.is_power_of_two() && start.is_multiple_of(width) {
            let level = width.trailing_zeros() as usize;
            let index = (start >> level) as usize;
            if let Some(hash) = self.levels.get(level).and_then(|row| row.get(index)) {
                return *hash;
            }
        }
        if width == 1 {
            // Unreachable for ranges inside the tree; a defined value
            // keeps this total.
            return empty_root();
        }
        let k = split_point(width);
        node_hash(
            &self.subtree(start, start + k),
            &self.subtree(start + k, end),
        )
    }
}

/// Checks that `proof` shows leaf hash `leaf` at `index` in the tree of
/// `size` leaves whose root is `root` (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`ProofError`] naming why it does not.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Checks that `proof` shows the tree of `second` leaves with root
/// `second_root` extends the tree of `first` leaves with root `first_root`
/// (RFC 9162 §2.1.4.2).
///
/// # Errors
/// [`ProofError`] naming why it does not.
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> Result<(), ProofError> {
    if first > second {
        return Err(ProofError::SizesReversed { first, second });
    }
    if first == 0 || first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                expected: 0,
            });
        }
        return if first == 0 || first_root == second_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let expected = consistency_proof_len(first, second);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            expected,
        });
    }
    let mut path = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (first - 1, second - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let Some((head, rest)) = path.split_first() else {
        return Err(ProofError::RootMismatch);
    };
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if sn == 0 {
            return Err(ProofError::RootMismatch);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && fr == *first_root && sr == *second_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// Hashes in `PATH(index, D[size])`.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (mut start, mut end, mut m, mut len) = (0u64, size, index, 0);
    while end - start > 1 {
        let k = split_point(end - start);
        if m < k {
            end = start + k;
        } else {
            start += k;
            m -= k;
        }
        len += 1;
    }
    len
}

/// Hashes in `PROOF(first, D[second])` for `0 < first < second`.
fn consistency_proof_len(first: u64, second: u64) -> usize {
    let (mut start, mut end, mut m, mut whole, mut len) = (0u64, second, first, true, 0);
    while m != end - start {
        let k = split_point(end - start);
        if m <= k {
            end = start + k;
        } else {
            start += k;
            m -= k;
            whole = false;
        }
        len += 1;
    }
    len + usize::from(!whole)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    /// The eight leaves of Certificate Transparency's reference tests
    /// (RFC 6962 test vectors, `merkle_tree_test.cc`).
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// The roots of the first 1..=8 of those leaves.
    const CT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct_tree() -> MerkleTree {
        let mut tree = MerkleTree::new();
        for leaf in CT_LEAVES {
            tree.push(&hex::decode(leaf).unwrap());
        }
        tree
    }

    fn h(s: &str) -> Hash {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    /// A tree of `n` leaves `0u32..n` (big-endian).
    fn tree_of(n: u64) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for i in 0..n {
            tree.push(&(i as u32).to_be_bytes());
        }
        tree
    }

    #[test]
    fn empty_tree_root_is_the_hash_of_nothing() {
        assert_eq!(
            hex::encode(MerkleTree::new().root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn roots_match_the_ct_known_answers_at_every_size() {
        let tree = ct_tree();
        for (size, root) in CT_ROOTS.iter().enumerate() {
            assert_eq!(
                hex::encode(tree.root_at(size as u64 + 1).unwrap()),
                *root,
                "size {}",
                size + 1
            );
        }
        assert_eq!(hex::encode(tree.root()), CT_ROOTS[7]);
    }

    #[test]
    fn inclusion_proofs_match_the_ct_known_answers() {
        let tree = ct_tree();
        // From the CT / transparency-dev reference vectors.
        let cases: [(u64, u64, &[&str]); 4] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
        ];
        for (index, size, expected) in cases {
            let proof = tree.inclusion_proof(index, size).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|s| h(s)).collect();
            assert_eq!(proof, expected, "leaf {index} in {size}");
            verify_inclusion(
                &tree.leaf(index).unwrap(),
                index,
                size,
                &proof,
                &tree.root_at(size).unwrap(),
            )
            .unwrap();
        }
    }

    #[test]
    fn consistency_proofs_match_the_ct_known_answers() {
        let tree = ct_tree();
        let cases: [(u64, u64, &[&str]); 3] = [
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (first, second, expected) in cases {
            let proof = tree.consistency_proof(first, second).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|s| h(s)).collect();
            assert_eq!(proof, expected, "{first} -> {second}");
        }
    }

    #[test]
    fn bad_sizes_and_indexes_are_refused() {
        let tree = tree_of(5);
        assert_eq!(
            tree.inclusion_proof(5, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            tree.inclusion_proof(0, 6),
            Err(ProofError::SizeOutOfRange { asked: 6, size: 5 })
        );
        assert_eq!(
            tree.consistency_proof(4, 3),
            Err(ProofError::SizesReversed {
                first: 4,
                second: 3
            })
        );
        let root = tree.root();
        assert_eq!(
            verify_inclusion(&tree.leaf(0).unwrap(), 0, 5, &[], &root),
            Err(ProofError::WrongLength {
                got: 0,
                expected: 3
            })
        );
        assert!(verify_consistency(2, 1, &[], &root, &root).is_err());
        assert!(verify_consistency(3, 3, &[root], &root, &root).is_err());
    }

    #[test]
    fn every_proof_verifies_up_to_one_hundred_leaves() {
        let tree = tree_of(100);
        for size in 1..=100 {
            let root = tree.root_at(size).unwrap();
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).unwrap();
                verify_inclusion(&tree.leaf(index).unwrap(), index, size, &proof, &root).unwrap();
            }
            for first in 0..=size {
                let proof = tree.consistency_proof(first, size).unwrap();
                verify_consistency(first, size, &proof, &tree.root_at(first).unwrap(), &root)
                    .unwrap();
            }
        }
    }

    #[test]
    fn the_tree_root_matches_a_naive_recursive_root() {
        fn naive(leaves: &[Hash]) -> Hash {
            if leaves.len() == 1 {
                return leaves[0];
            }
            let k = split_point(leaves.len() as u64) as usize;
            node_hash(&naive(&leaves[..k]), &naive(&leaves[k..]))
        }
        let tree = tree_of(70);
        let leaves: Vec<Hash> = (0..70).map(|i| tree.leaf(i).unwrap()).collect();
        for size in 1..=70 {
            assert_eq!(tree.root_at(size).unwrap(), naive(&leaves[..size as usize]));
        }
    }

    proptest! {
        #[test]
        fn a_tampered_inclusion_proof_fails(
            size in 1u64..100, index_seed in any::<u64>(), flip in any::<u16>(), bit in 0u8..8
        ) {
            let tree = tree_of(size);
            let index = index_seed % size;
            let root = tree.root();
            let leaf = tree.leaf(index).unwrap();
            let mut proof = tree.inclusion_proof(index, size).unwrap();
            // A different leaf fails.
            let mut other = leaf;
            other[0] ^= 1;
            prop_assert!(verify_inclusion(&other, index, size, &proof, &root).is_err());
            // A different root fails.
            let mut wrong_root = root;
            wrong_root[31] ^= 1 << bit;
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &wrong_root).is_err());
            // A different index fails unless the tree has one leaf.
            if size > 1 {
                let moved = (index + 1) % size;
                prop_assert!(verify_inclusion(&leaf, moved, size, &proof, &root).is_err());
            }
            // A flipped proof hash fails.
            if !proof.is_empty() {
                let at = usize::from(flip) % proof.len();
                proof[at][usize::from(flip) % 32] ^= 1 << bit;
                prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
            }
        }

        #[test]
        fn a_tampered_consistency_proof_fails(
            second in 2u64..100, first_seed in any::<u64>(), flip in any::<u16>(), bit in 0u8..8
        ) {
            let tree = tree_of(second);
            let first = 1 + first_seed % (second - 1);
            let (r1, r2) = (tree.root_at(first).unwrap(), tree.root());
            let mut proof = tree.consistency_proof(first, second).unwrap();
            let mut bad = r1;
            bad[0] ^= 1 << bit;
            prop_assert!(verify_consistency(first, second, &proof, &bad, &r2).is_err());
            prop_assert!(verify_consistency(first, second, &proof, &r1, &bad).is_err());
            if !proof.is_empty() {
                let at = usize::from(flip) % proof.len();
                proof[at][usize::from(flip) % 32] ^= 1 << bit;
                prop_assert!(verify_consistency(first, second, &proof, &r1, &r2).is_err());
            }
        }
    }
}
