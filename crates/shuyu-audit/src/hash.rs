//! SHA-256 digests and the RFC 6962 hashing rules: leaves and interior nodes are hashed with
//! different one-byte prefixes, so a leaf can never be passed off as a node (second-preimage
//! resistance of the tree).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::AuditError;

/// A SHA-256 digest. Shown, serialized and parsed as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Hash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, AuditError> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| AuditError::InvalidHash)?;
        Ok(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl FromStr for Hash {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Hash::from_hex(s)
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hash::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ bytes).
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(bytes);
    Hash(h.finalize().into())
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

/// MTH({}) of RFC 6962: the SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_the_sha256_of_nothing() {
        assert_eq!(empty_root().to_string(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn rfc6962_leaf_and_node_vectors() {
        // The empty leaf (RFC 6962 test data, and Certificate Transparency's reference tests).
        assert_eq!(leaf_hash(b"").to_string(), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
        // Leaf of the single byte 0x00, also from CT's test data.
        assert_eq!(leaf_hash(&[0]).to_string(), "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7");
    }

    #[test]
    fn hex_display_serde_and_errors() {
        let h = leaf_hash(b"x");
        let hex = h.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, hex.to_lowercase());
        assert_eq!(hex.parse::<Hash>().unwrap(), h);
        assert_eq!(hex.to_uppercase().parse::<Hash>().unwrap(), h);
        assert_eq!(serde_json::to_string(&h).unwrap(), format!("\"{hex}\""));
        assert_eq!(serde_json::from_str::<Hash>(&format!("\"{hex}\"")).unwrap(), h);
        assert_eq!("zz".parse::<Hash>(), Err(AuditError::InvalidHash));
        assert_eq!(hex[..62].parse::<Hash>(), Err(AuditError::InvalidHash));
        assert!(serde_json::from_str::<Hash>("\"00\"").is_err());
        assert_eq!(format!("{h:?}"), format!("Hash({hex})"));
    }

    #[test]
    fn leaves_and_nodes_are_domain_separated() {
        let h = leaf_hash(b"x");
        let mut concat = Vec::new();
        concat.extend_from_slice(&h.0);
        concat.extend_from_slice(&h.0);
        assert_ne!(leaf_hash(&concat), node_hash(&h, &h));
        assert_ne!(node_hash(&h, &empty_root()), node_hash(&empty_root(), &h));
    }
}
