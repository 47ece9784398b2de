//! Shuyu's tamper-evident audit log.
//!
//! Every state change and data access is an [`AuditEvent`]; its canonical bytes are a leaf of
//! an RFC 6962 Merkle tree ([`MerkleTree`]). The platform signs tree heads ([`TreeSigner`]),
//! committing to the whole log so far; inclusion and consistency proofs let anyone check, with
//! [`verify_inclusion`] and [`verify_consistency`], that an event is in the log and that the
//! log only ever grew. [`Verifier`] recomputes a stored log offline and names the first event
//! that was altered, deleted or moved.
//!
//! Old events leave the database only into [archive](ArchiveWriter) files that stay verifiable
//! against the signed tree heads ([`verify_chain`]).
//!
//! Pure code: no database, no network, no clock. The byte formats are specified in
//! `docs/audit-log.md`.
//!
//! ```
//! use shuyu_audit::{leaf_hash, verify_consistency, verify_inclusion, verify_tree_head};
//! use shuyu_audit::{MerkleTree, TreeHead, TreeSigner};
//!
//! let mut tree = MerkleTree::new();
//! for i in 0u32..10 {
//!     tree.append(leaf_hash(&i.to_be_bytes()));
//! }
//! let signer = TreeSigner::generate();
//! let head = TreeHead { size: tree.size(), root: tree.root(), timestamp: chrono::Utc::now() };
//! let sth = signer.sign(&head);
//!
//! // What an outside auditor does with the public key, a signed head and a proof:
//! verify_tree_head(&signer.verifying_key(), &sth)?;
//! let path = tree.inclusion_proof(3, sth.head.size)?;
//! verify_inclusion(&tree.leaf(3)?, 3, sth.head.size, &path, &sth.head.root)?;
//! let proof = tree.consistency_proof(6, 10)?;
//! verify_consistency(6, 10, &tree.root_at(6)?, &sth.head.root, &proof)?;
//! # Ok::<(), shuyu_audit::AuditError>(())
//! ```

mod archive;
mod error;
mod event;
mod hash;
mod merkle;
mod proof;
mod tree_head;
mod verify;

pub use archive::{archive_file_name, verify_chain, ArchiveHeader, ArchiveReader, ArchiveWriter, ARCHIVE_FORMAT};
pub use error::AuditError;
pub use event::{write_canonical_json, AuditEvent, Outcome, StoredEvent, EVENT_TAG};
pub use hash::{empty_root, leaf_hash, node_hash, Hash};
pub use merkle::MerkleTree;
pub use proof::{verify_consistency, verify_inclusion, ConsistencyProof, InclusionProof};
pub use tree_head::{
    verify_tree_head, verifying_key_from_hex, verifying_key_from_pem, verifying_key_to_pem, SignedTreeHead, TreeHead,
    TreeSigner, TREE_HEAD_TAG,
};
pub use verify::{verify_log, Verifier, VerifyReport};

/// The Ed25519 types in this crate's API, so callers need not depend on ed25519-dalek.
pub use ed25519_dalek::{Signature, VerifyingKey};
