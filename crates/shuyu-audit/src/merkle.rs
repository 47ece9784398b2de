//! An append-only RFC 6962 Merkle tree held in memory.
//!
//! Besides the leaf hashes it keeps every complete, aligned perfect subtree: `levels[k][i]` is
//! the hash of leaves `[i·2^k, (i+1)·2^k)`, stored as soon as the last of those leaves arrives.
//! That costs about one extra hash per leaf (2n hashes in all) and makes appends amortised O(1).
//!
//! Every range RFC 6962's recursive split produces for a tree of size n is either such a
//! perfect subtree or a suffix `[s, n)` of the tree's right edge, where `s` is the start of one
//! of n's "peaks" (the perfect subtrees given by the set bits of n, largest first). The few
//! suffix hashes are computed once per call, so roots and proofs for any earlier size are
//! O(log n).

use std::fmt;

use crate::proof::{ConsistencyProof, InclusionProof};
use crate::{empty_root, node_hash, AuditError, Hash};

#[derive(Clone, Default)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves; `levels[k][i]` is the perfect subtree described above.
    levels: Vec<Vec<Hash>>,
}

impl fmt::Debug for MerkleTree {
    // A million hashes are no use in a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerkleTree").field("size", &self.size()).finish()
    }
}

/// RFC 6962's split of `width` leaves: `k`, the largest power of two below `width`, and the
/// remainder `width − k`. `None` when there is nothing to split (`width` ≤ 1).
fn split(width: u64) -> Option<(u64, u64)> {
    let k = 1u64.checked_shl(width.checked_sub(1)?.checked_ilog2()?)?;
    Some((k, width.checked_sub(k)?))
}

fn add(a: u64, b: u64) -> Result<u64, AuditError> {
    a.checked_add(b).ok_or(AuditError::Internal("leaf position overflow"))
}

/// The hashes of the right-edge suffixes `[start, n)` of a tree of size n, one per peak.
struct RightEdge {
    suffixes: Vec<(u64, Hash)>,
}

impl RightEdge {
    fn suffix(&self, start: u64) -> Option<Hash> {
        self.suffixes.iter().find(|(s, _)| *s == start).map(|(_, h)| *h)
    }
}

impl MerkleTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tree with room for `leaves` leaves and their inner nodes.
    pub fn with_capacity(leaves: usize) -> Self {
        let mut levels = Vec::new();
        let mut n = leaves;
        while n > 0 {
            levels.push(Vec::with_capacity(n));
            n /= 2;
        }
        Self { levels }
    }

    pub fn from_leaves(leaves: impl IntoIterator<Item = Hash>) -> Self {
        let leaves = leaves.into_iter();
        let mut tree = Self::with_capacity(leaves.size_hint().0);
        for leaf in leaves {
            tree.append(leaf);
        }
        tree
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// Appends a leaf hash and returns its index.
    pub fn append(&mut self, leaf: Hash) -> u64 {
        let index = self.size();
        // Carry the new hash upwards: whenever a level gains a right child (even length), the
        // pair's parent is complete and goes one level up.
        let mut carry = Some(leaf);
        for row in self.levels.iter_mut() {
            let Some(hash) = carry.take() else { break };
            row.push(hash);
            if row.len() % 2 == 0 {
                if let [.., left, right] = row.as_slice() {
                    carry = Some(node_hash(left, right));
                }
            }
        }
        if let Some(hash) = carry {
            self.levels.push(vec![hash]);
        }
        index
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Result<Hash, AuditError> {
        let size = self.size();
        self.levels
            .first()
            .and_then(|leaves| leaves.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(AuditError::IndexOutOfRange { index, size })
    }

    /// The current root.
    pub fn root(&self) -> Hash {
        // The peaks of the current size are exactly the last entries of the odd-length levels;
        // fold them from the smallest (rightmost) to the largest.
        let mut acc: Option<Hash> = None;
        for row in &self.levels {
            if row.len() % 2 == 1 {
                if let Some(peak) = row.last() {
                    acc = Some(match acc {
                        None => *peak,
                        Some(right) => node_hash(peak, &right),
                    });
                }
            }
        }
        acc.unwrap_or_else(empty_root)
    }

    /// The root the tree had when it held `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, AuditError> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(empty_root());
        }
        let edge = self.right_edge(size)?;
        edge.suffix(0).ok_or(AuditError::Internal("no root on the right edge"))
    }

    /// RFC 6962 §2.1.1 audit path for leaf `index` in the tree of `tree_size` leaves, ordered
    /// from the leaf's sibling up to the root's child.
    pub fn inclusion_proof(&self, index: u64, tree_size: u64) -> Result<Vec<Hash>, AuditError> {
        self.check_size(tree_size)?;
        if index >= tree_size {
            return Err(AuditError::IndexOutOfRange { index, size: tree_size });
        }
        let edge = self.right_edge(tree_size)?;
        let mut path = Vec::with_capacity(64);
        // Walk down from the root towards the leaf, collecting the other side at each split.
        let (mut start, mut width) = (0u64, tree_size);
        while let Some((k, rest)) = split(width) {
            let mid = add(start, k)?;
            if index < mid {
                path.push(self.range(&edge, mid, rest)?);
                width = k;
            } else {
                path.push(self.range(&edge, start, k)?);
                start = mid;
                width = rest;
            }
        }
        path.reverse();
        Ok(path)
    }

    /// RFC 6962 §2.1.2 consistency proof `PROOF(old_size, D[0..new_size))`.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, AuditError> {
        if old_size == 0 || old_size > new_size {
            return Err(AuditError::ConsistencyRange { first: old_size, second: new_size });
        }
        self.check_size(new_size)?;
        let edge = self.right_edge(new_size)?;
        let mut proof = Vec::with_capacity(64);
        // SUBPROOF(m, D[start..start+width], whole), unrolled from the top down; each level
        // contributes its node after the deeper ones, hence the reversal at the end.
        let (mut m, mut start, mut width, mut whole) = (old_size, 0u64, new_size, true);
        while m != width {
            let (k, rest) = split(width).ok_or(AuditError::Internal("consistency split"))?;
            if m <= k {
                proof.push(self.range(&edge, add(start, k)?, rest)?);
                width = k;
            } else {
                proof.push(self.range(&edge, start, k)?);
                start = add(start, k)?;
                width = rest;
                m -= k;
                whole = false;
            }
        }
        // The old tree is a subtree here; its hash is needed unless it is the whole old tree,
        // which the verifier already holds.
        if !whole {
            proof.push(self.range(&edge, start, width)?);
        }
        proof.reverse();
        Ok(proof)
    }

    /// The audit path wrapped with what a verifier needs, as the API returns it.
    pub fn prove_inclusion(&self, index: u64, tree_size: u64) -> Result<InclusionProof, AuditError> {
        Ok(InclusionProof {
            leaf_index: index,
            tree_size,
            audit_path: self.inclusion_proof(index, tree_size)?,
            leaf_hash: self.leaf(index)?,
            root: self.root_at(tree_size)?,
        })
    }

    /// The consistency proof wrapped with its sizes, as the API returns it.
    pub fn prove_consistency(&self, first: u64, second: u64) -> Result<ConsistencyProof, AuditError> {
        Ok(ConsistencyProof { first, second, proof: self.consistency_proof(first, second)? })
    }

    fn check_size(&self, requested: u64) -> Result<(), AuditError> {
        let available = self.size();
        if requested > available {
            return Err(AuditError::SizeOutOfRange { requested, available });
        }
        Ok(())
    }

    /// A stored perfect subtree.
    fn node(&self, level: u32, index: u64) -> Result<Hash, AuditError> {
        usize::try_from(level)
            .ok()
            .and_then(|level| self.levels.get(level))
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(AuditError::Internal("a perfect subtree is not stored"))
    }

    /// The suffix hashes of the tree of `size` leaves (size ≥ 1, at most `self.size()`).
    fn right_edge(&self, size: u64) -> Result<RightEdge, AuditError> {
        let mut peaks = Vec::with_capacity(size.count_ones() as usize);
        let mut start = 0u64;
        for level in (0..u64::BITS).rev() {
            let width = 1u64 << level;
            if size & width != 0 {
                peaks.push((start, self.node(level, start >> level)?));
                // `start` only has bits above `level`, so this is an addition without carry.
                start |= width;
            }
        }
        let mut suffixes = Vec::with_capacity(peaks.len());
        let mut acc: Option<Hash> = None;
        for (start, peak) in peaks.into_iter().rev() {
            let hash = match acc {
                None => peak,
                Some(right) => node_hash(&peak, &right),
            };
            acc = Some(hash);
            suffixes.push((start, hash));
        }
        Ok(RightEdge { suffixes })
    }

    /// MTH of leaves `[start, start + width)` for a range produced by RFC 6962's split of the
    /// tree that `edge` belongs to.
    fn range(&self, edge: &RightEdge, start: u64, width: u64) -> Result<Hash, AuditError> {
        // Aligned: start is a multiple of width (start = 0 has 64 trailing zeros).
        if width.is_power_of_two() && start.trailing_zeros() >= width.trailing_zeros() {
            return self.node(width.trailing_zeros(), start >> width.trailing_zeros());
        }
        edge.suffix(start).ok_or(AuditError::Internal("range is neither perfect nor a right-edge suffix"))
    }
}

#[cfg(test)]
pub(crate) mod reference {
    //! RFC 6962 §2.1's recursive definitions, written as plainly as possible, to check the
    //! fast tree and the verifiers against.
    use crate::{empty_root, node_hash, Hash};

    fn k_for(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// `MTH(D[n])` over leaf hashes.
    pub fn mth(d: &[Hash]) -> Hash {
        match d {
            [] => empty_root(),
            [one] => *one,
            _ => {
                let k = k_for(d.len());
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    /// `PATH(m, D[n])`.
    pub fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
        if d.len() <= 1 {
            return Vec::new();
        }
        let k = k_for(d.len());
        if m < k {
            let mut p = path(m, &d[..k]);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = path(m - k, &d[k..]);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// `SUBPROOF(m, D[n], b)`.
    fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
        let n = d.len();
        if m == n {
            return if b { Vec::new() } else { vec![mth(d)] };
        }
        let k = k_for(n);
        if m <= k {
            let mut p = subproof(m, &d[..k], b);
            p.push(mth(&d[k..]));
            p
        } else {
            let mut p = subproof(m - k, &d[k..], false);
            p.push(mth(&d[..k]));
            p
        }
    }

    /// `PROOF(m, D[n])`.
    pub fn proof(m: usize, d: &[Hash]) -> Vec<Hash> {
        subproof(m, d, true)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::leaf_hash;
    use proptest::prelude::*;

    pub(crate) fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("event {i}").as_bytes())).collect()
    }

    fn hex(hashes: &[Hash]) -> Vec<String> {
        hashes.iter().map(|h| h.to_string()).collect()
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        assert_eq!(split(0), None);
        assert_eq!(split(1), None);
        assert_eq!(split(2), Some((1, 1)));
        assert_eq!(split(3), Some((2, 1)));
        assert_eq!(split(4), Some((2, 2)));
        assert_eq!(split(5), Some((4, 1)));
        assert_eq!(split(1 << 40), Some((1 << 39, 1 << 39)));
        assert_eq!(split(u64::MAX), Some((1 << 63, (1 << 63) - 1)));
    }

    #[test]
    fn agrees_with_the_rfc_definitions_for_every_small_tree() {
        let all = leaves(70);
        let mut tree = MerkleTree::new();
        assert_eq!(tree.root(), empty_root());
        assert_eq!(tree.root_at(0).unwrap(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            assert_eq!(tree.append(*leaf), i as u64);
            // The incremental root agrees at every size.
            assert_eq!(tree.root(), reference::mth(&all[..=i]), "root after {i}");
        }
        for n in 1..=70usize {
            let d = &all[..n];
            assert_eq!(tree.root_at(n as u64).unwrap(), reference::mth(d), "root_at {n}");
            for m in 0..n {
                assert_eq!(tree.inclusion_proof(m as u64, n as u64).unwrap(), reference::path(m, d), "path {m} of {n}");
            }
            for m in 1..=n {
                assert_eq!(
                    tree.consistency_proof(m as u64, n as u64).unwrap(),
                    reference::proof(m, d),
                    "proof {m} to {n}"
                );
            }
        }
    }

    /// The 8-leaf tree of Certificate Transparency's reference tests (RFC 6962 test data).
    fn ct_tree() -> MerkleTree {
        let data: [&[u8]; 8] = [
            b"",
            &[0x00],
            &[0x10],
            &[0x20, 0x21],
            &[0x30, 0x31],
            &[0x40, 0x41, 0x42, 0x43],
            &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            &[0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
        ];
        MerkleTree::from_leaves(data.iter().map(|d| leaf_hash(d)))
    }

    #[test]
    fn certificate_transparency_vectors() {
        let t = ct_tree();
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        for (i, root) in roots.iter().enumerate() {
            assert_eq!(t.root_at(i as u64 + 1).unwrap().to_string(), *root);
        }
        assert_eq!(
            hex(&t.inclusion_proof(0, 8).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hex(&t.inclusion_proof(5, 8).unwrap()),
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(hex(&t.consistency_proof(1, 8).unwrap()), hex(&t.inclusion_proof(0, 8).unwrap()));
        assert_eq!(
            hex(&t.consistency_proof(6, 8).unwrap()),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        assert_eq!(
            hex(&t.consistency_proof(2, 5).unwrap()),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
            ]
        );
        assert!(t.consistency_proof(8, 8).unwrap().is_empty());
    }

    #[test]
    fn refuses_what_is_out_of_range() {
        let tree = MerkleTree::from_leaves(leaves(5));
        assert_eq!(tree.inclusion_proof(5, 5), Err(AuditError::IndexOutOfRange { index: 5, size: 5 }));
        assert_eq!(tree.inclusion_proof(0, 6), Err(AuditError::SizeOutOfRange { requested: 6, available: 5 }));
        assert_eq!(tree.consistency_proof(0, 5), Err(AuditError::ConsistencyRange { first: 0, second: 5 }));
        assert_eq!(tree.consistency_proof(4, 3), Err(AuditError::ConsistencyRange { first: 4, second: 3 }));
        assert_eq!(tree.consistency_proof(3, 6), Err(AuditError::SizeOutOfRange { requested: 6, available: 5 }));
        assert_eq!(tree.root_at(6), Err(AuditError::SizeOutOfRange { requested: 6, available: 5 }));
        assert_eq!(tree.leaf(5), Err(AuditError::IndexOutOfRange { index: 5, size: 5 }));
        assert!(MerkleTree::new().inclusion_proof(0, 0).is_err());
        assert!(tree.inclusion_proof(u64::MAX, u64::MAX).is_err());
    }

    #[test]
    fn construction_paths_agree_and_debug_is_short() {
        let all = leaves(37);
        let a = MerkleTree::from_leaves(all.iter().copied());
        let mut b = MerkleTree::with_capacity(3);
        for h in &all {
            b.append(*h);
        }
        assert_eq!(a.root(), b.root());
        assert_eq!(a.leaf(36).unwrap(), all[36]);
        assert_eq!(format!("{a:?}"), "MerkleTree { size: 37 }");
        let p = a.prove_inclusion(7, 20).unwrap();
        assert_eq!((p.leaf_index, p.tree_size, p.leaf_hash, p.root), (7, 20, all[7], reference::mth(&all[..20])));
        assert_eq!(p.audit_path, reference::path(7, &all[..20]));
        let c = a.prove_consistency(9, 37).unwrap();
        assert_eq!((c.first, c.second, c.proof), (9, 37, reference::proof(9, &all)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn agrees_with_the_rfc_definitions_for_larger_trees(n in 71usize..2500, a in any::<usize>(), b in any::<usize>(), c in any::<usize>()) {
            let all = leaves(n);
            let tree = MerkleTree::from_leaves(all.iter().copied());
            let size = 1 + c % n;
            let index = a % size;
            let old = 1 + b % size;
            let d = &all[..size];
            prop_assert_eq!(tree.root_at(size as u64).unwrap(), reference::mth(d));
            prop_assert_eq!(tree.inclusion_proof(index as u64, size as u64).unwrap(), reference::path(index, d));
            prop_assert_eq!(tree.consistency_proof(old as u64, size as u64).unwrap(), reference::proof(old, d));
        }
    }
}
