//! Checking proofs without the tree, as an outside party would (RFC 9162 §2.1.3.2 and
//! §2.1.4.2), and the JSON shapes in which the API hands proofs out.

use serde::{Deserialize, Serialize};

use crate::{node_hash, AuditError, Hash, TreeHead};

/// Checks that `leaf` is the leaf at `index` of the tree of `tree_size` leaves whose root is
/// `root`, given the audit path `proof` (sibling first).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), AuditError> {
    // fn and sn of the RFC: the leaf's index and the last index, walked up level by level.
    let Some(mut sn) = tree_size.checked_sub(1).filter(|last| index <= *last) else {
        return Err(AuditError::ProofInvalid("the leaf index is not inside the tree"));
    };
    let mut fnode = index;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(AuditError::ProofInvalid("the audit path is longer than the tree is deep"));
        }
        if fnode & 1 == 1 || fnode == sn {
            r = node_hash(p, &r);
            // A left child on the right edge has no sibling at the levels it skips.
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(AuditError::ProofInvalid("the audit path is too short"));
    }
    if r != *root {
        return Err(AuditError::ProofInvalid("the recomputed root differs"));
    }
    Ok(())
}

/// Checks that the tree of `new_size` leaves with root `new_root` extends the tree of
/// `old_size` leaves with root `old_root`, given the RFC 6962 consistency proof `proof`.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), AuditError> {
    if old_size == 0 || old_size > new_size {
        return Err(AuditError::ConsistencyRange { first: old_size, second: new_size });
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(AuditError::ProofInvalid("trees of equal size need equal roots and an empty proof"))
        };
    }
    // When the old tree is a perfect subtree, RFC 6962 leaves its root out of the proof.
    let seed = old_size.is_power_of_two().then_some(*old_root);
    let mut nodes = seed.into_iter().chain(proof.iter().copied());
    let Some(first) = nodes.next() else {
        return Err(AuditError::ProofInvalid("the consistency proof is empty"));
    };
    // Both sizes are at least 1 here.
    let mut fnode = old_size.saturating_sub(1);
    let mut sn = new_size.saturating_sub(1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in nodes {
        if sn == 0 {
            return Err(AuditError::ProofInvalid("the consistency proof is too long"));
        }
        if fnode & 1 == 1 || fnode == sn {
            fr = node_hash(&c, &fr);
            sr = node_hash(&c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, &c);
        }
        fnode >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(AuditError::ProofInvalid("the consistency proof is too short"));
    }
    if fr != *old_root {
        return Err(AuditError::ProofInvalid("the recomputed old root differs"));
    }
    if sr != *new_root {
        return Err(AuditError::ProofInvalid("the recomputed new root differs"));
    }
    Ok(())
}

/// An inclusion proof as the API returns it:
/// `{"leaf_index", "tree_size", "leaf_hash", "audit_path": [hex…], "root"}`.
/// Unknown fields (such as an attached signed tree head) are ignored when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub leaf_index: u64,
    pub tree_size: u64,
    pub leaf_hash: Hash,
    pub audit_path: Vec<Hash>,
    pub root: Hash,
}

impl InclusionProof {
    /// Checks the path against the root carried in the proof. On its own this only shows
    /// internal consistency; compare the root with a signed tree head ([`Self::verify_with_head`]).
    pub fn verify(&self) -> Result<(), AuditError> {
        verify_inclusion(&self.leaf_hash, self.leaf_index, self.tree_size, &self.audit_path, &self.root)
    }

    /// Checks the proof against a tree head the caller trusts (signature already checked).
    pub fn verify_with_head(&self, head: &TreeHead) -> Result<(), AuditError> {
        if head.size != self.tree_size || head.root != self.root {
            return Err(AuditError::ProofInvalid("the proof is for a different tree head"));
        }
        self.verify()
    }
}

/// A consistency proof as the API returns it: `{"first", "second", "proof": [hex…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    pub proof: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks that the tree with `second_root` extends the tree with `first_root`.
    pub fn verify(&self, first_root: &Hash, second_root: &Hash) -> Result<(), AuditError> {
        verify_consistency(self.first, self.second, first_root, second_root, &self.proof)
    }

    /// Checks the proof between two tree heads the caller trusts.
    pub fn verify_heads(&self, older: &TreeHead, newer: &TreeHead) -> Result<(), AuditError> {
        if older.size != self.first || newer.size != self.second {
            return Err(AuditError::ProofInvalid("the proof is for different tree sizes"));
        }
        self.verify(&older.root, &newer.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{reference, tests::leaves};
    use crate::{leaf_hash, MerkleTree};
    use chrono::Utc;
    use proptest::prelude::*;

    fn flip(h: &Hash) -> Hash {
        let mut b = h.0;
        b[0] ^= 1;
        Hash(b)
    }

    #[test]
    fn reference_proofs_of_every_small_tree_verify_and_tampering_fails() {
        let all = leaves(70);
        // (A proof need not pin the tree size by itself: for a leaf in the left part the path of
        // size n can equal that of n + 1. The size is bound by the root, which is signed with it.)
        for n in 1..=70usize {
            let d = &all[..n];
            let root = reference::mth(d);
            let (nu, wrong_root) = (n as u64, flip(&root));
            for m in 0..n {
                let p = reference::path(m, d);
                let (mu, leaf) = (m as u64, d[m]);
                verify_inclusion(&leaf, mu, nu, &p, &root).unwrap();
                assert!(verify_inclusion(&flip(&leaf), mu, nu, &p, &root).is_err());
                assert!(verify_inclusion(&leaf, mu, nu, &p, &wrong_root).is_err());
                assert!(verify_inclusion(&leaf, nu, nu, &p, &root).is_err());
                if m + 1 < n {
                    assert!(verify_inclusion(&leaf, mu + 1, nu, &p, &root).is_err(), "index {m}+1 of {n}");
                }
                for i in 0..p.len() {
                    let mut bad = p.clone();
                    bad[i] = flip(&bad[i]);
                    assert!(verify_inclusion(&leaf, mu, nu, &bad, &root).is_err());
                    let mut short = p.clone();
                    short.remove(i);
                    assert!(verify_inclusion(&leaf, mu, nu, &short, &root).is_err());
                }
                let mut long = p.clone();
                long.push(root);
                assert!(verify_inclusion(&leaf, mu, nu, &long, &root).is_err());
            }
            for m in 1..=n {
                let p = reference::proof(m, d);
                let old = reference::mth(&d[..m]);
                let mu = m as u64;
                verify_consistency(mu, nu, &old, &root, &p).unwrap();
                assert!(verify_consistency(mu, nu, &flip(&old), &root, &p).is_err());
                assert!(verify_consistency(mu, nu, &old, &wrong_root, &p).is_err());
                if m < n {
                    assert!(verify_consistency(mu + 1, nu, &old, &root, &p).is_err());
                }
                for i in 0..p.len() {
                    let mut bad = p.clone();
                    bad[i] = flip(&bad[i]);
                    assert!(verify_consistency(mu, nu, &old, &root, &bad).is_err(), "flip {i} of {m}->{n}");
                    let mut short = p.clone();
                    short.remove(i);
                    assert!(verify_consistency(mu, nu, &old, &root, &short).is_err());
                }
                let mut long = p.clone();
                long.push(root);
                assert!(verify_consistency(mu, nu, &old, &root, &long).is_err());
            }
        }
    }

    #[test]
    fn degenerate_inputs() {
        let h = leaf_hash(b"a");
        // A one-leaf tree: the root is the leaf and the path is empty.
        verify_inclusion(&h, 0, 1, &[], &h).unwrap();
        assert!(verify_inclusion(&h, 0, 0, &[], &h).is_err());
        assert!(verify_inclusion(&h, 0, 1, &[h], &h).is_err());
        assert_eq!(verify_consistency(0, 3, &h, &h, &[]), Err(AuditError::ConsistencyRange { first: 0, second: 3 }));
        assert_eq!(verify_consistency(4, 3, &h, &h, &[]), Err(AuditError::ConsistencyRange { first: 4, second: 3 }));
        verify_consistency(3, 3, &h, &h, &[]).unwrap();
        assert!(verify_consistency(3, 3, &h, &h, &[h]).is_err());
        assert!(verify_consistency(3, 3, &h, &flip(&h), &[]).is_err());
        assert!(verify_consistency(3, 5, &h, &h, &[]).is_err());
        assert!(verify_inclusion(&h, u64::MAX - 1, u64::MAX, &[h; 70], &h).is_err());
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &h, &h, &[h; 70]).is_err());
    }

    #[test]
    fn proof_json_shapes() {
        let tree = MerkleTree::from_leaves(leaves(11));
        let p = tree.prove_inclusion(3, 11).unwrap();
        let json = serde_json::to_value(&p).unwrap();
        let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        for k in ["leaf_index", "tree_size", "leaf_hash", "audit_path", "root"] {
            assert!(keys.contains(&k), "{k}");
        }
        assert_eq!(json["audit_path"][0], serde_json::json!(p.audit_path[0].to_string()));
        // What the server sends carries more; it still parses and verifies.
        let mut served = json.clone();
        served["tree_head"] = serde_json::json!(null);
        let back: InclusionProof = serde_json::from_value(served).unwrap();
        back.verify().unwrap();
        let head = TreeHead { size: 11, root: tree.root(), timestamp: Utc::now() };
        back.verify_with_head(&head).unwrap();
        let other = TreeHead { size: 10, root: tree.root_at(10).unwrap(), timestamp: Utc::now() };
        assert!(back.verify_with_head(&other).is_err());

        let c = tree.prove_consistency(4, 11).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.starts_with(r#"{"first":4,"second":11,"proof":[""#));
        let back: ConsistencyProof = serde_json::from_str(&json).unwrap();
        let old = TreeHead { size: 4, root: tree.root_at(4).unwrap(), timestamp: Utc::now() };
        back.verify_heads(&old, &head).unwrap();
        assert!(back.verify_heads(&other, &head).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn tree_proofs_verify_in_larger_trees(n in 2u64..5000, a in any::<u64>(), b in any::<u64>(), bit in 0usize..256) {
            let tree = MerkleTree::from_leaves((0..n).map(|i| leaf_hash(&i.to_be_bytes())));
            let index = a % n;
            let old = 1 + b % n;
            let root = tree.root();
            let leaf = tree.leaf(index).unwrap();
            let path = tree.inclusion_proof(index, n).unwrap();
            prop_assert!(verify_inclusion(&leaf, index, n, &path, &root).is_ok());
            let old_root = tree.root_at(old).unwrap();
            let proof = tree.consistency_proof(old, n).unwrap();
            prop_assert!(verify_consistency(old, n, &old_root, &root, &proof).is_ok());
            // Any single flipped bit in a proof is caught.
            if !path.is_empty() {
                let mut bad = path.clone();
                let i = bit % bad.len();
                bad[i].0[bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(&leaf, index, n, &bad, &root).is_err());
            }
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let i = bit % bad.len();
                bad[i].0[bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_consistency(old, n, &old_root, &root, &bad).is_err());
            }
        }
    }
}
