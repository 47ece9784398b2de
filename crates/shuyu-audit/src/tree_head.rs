//! Signed tree heads: the platform's Ed25519 signature over (size, root, time). Once a head
//! is published, the platform is committed to every event it covers; rewriting any of them
//! changes the root, and only the holder of the signing key could sign a new one.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::{AuditError, Hash};

/// What the platform signs: the log had `size` events with root `root` at `timestamp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
    /// Only milliseconds are signed.
    pub timestamp: DateTime<Utc>,
}

/// Version tag opening the signed bytes.
pub const TREE_HEAD_TAG: &[u8] = b"shuyu-tree-head-v1";

impl TreeHead {
    /// `"shuyu-tree-head-v1" ‖ size (u64 BE) ‖ root (32 bytes) ‖ timestamp as milliseconds
    /// since 1970-01-01T00:00:00Z (64-bit BE two's complement; for any time after 1970 the
    /// same as u64 BE)` — 66 bytes.
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(TREE_HEAD_TAG.len() + 8 + 32 + 8);
        out.extend_from_slice(TREE_HEAD_TAG);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(self.root.as_bytes());
        out.extend_from_slice(&self.timestamp.timestamp_millis().to_be_bytes());
        out
    }
}

/// A tree head with the platform's signature.
///
/// JSON: `{"size": 123, "root": "<hex>", "timestamp": "2026-01-05T00:30:00.123Z",
/// "signature": "<base64 of the 64-byte Ed25519 signature>"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTreeHead {
    pub head: TreeHead,
    pub signature: Signature,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    size: u64,
    root: Hash,
    timestamp: String,
    signature: String,
}

fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

impl SignedTreeHead {
    /// Rebuilds a head from stored columns; the signature is base64.
    pub fn from_parts(head: TreeHead, signature_base64: &str) -> Result<Self, AuditError> {
        let bytes = BASE64.decode(signature_base64.trim()).map_err(|_| AuditError::SignatureFormat)?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| AuditError::SignatureFormat)?;
        Ok(Self { head, signature: Signature::from_bytes(&bytes) })
    }

    pub fn signature_base64(&self) -> String {
        BASE64.encode(self.signature.to_bytes())
    }

    /// The timestamp as it appears in JSON (RFC 3339, UTC, milliseconds).
    pub fn timestamp_rfc3339(&self) -> String {
        format_timestamp(&self.head.timestamp)
    }
}

impl Serialize for SignedTreeHead {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            size: self.head.size,
            root: self.head.root,
            timestamp: self.timestamp_rfc3339(),
            signature: self.signature_base64(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SignedTreeHead {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let timestamp = DateTime::parse_from_rfc3339(&w.timestamp)
            .map_err(|_| serde::de::Error::custom(AuditError::TimestampFormat(w.timestamp.chars().take(40).collect())))?
            .with_timezone(&Utc);
        SignedTreeHead::from_parts(TreeHead { size: w.size, root: w.root, timestamp }, &w.signature)
            .map_err(serde::de::Error::custom)
    }
}

/// The platform's tree-head signing key. Debug output shows only the public key.
pub struct TreeSigner {
    key: SigningKey,
}

impl std::fmt::Debug for TreeSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TreeSigner")
            .field("public_key", &self.verifying_key_hex())
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) }, followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

impl TreeSigner {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self { key: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    /// Reads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`), as OpenSSL's
    /// `genpkey -algorithm ed25519` writes it.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, AuditError> {
        // The parser's message never contains key material.
        SigningKey::from_pkcs8_pem(pem)
            .map(|key| Self { key })
            .map_err(|e| AuditError::Key(format!("not an Ed25519 PKCS#8 private key: {e}")))
    }

    /// The private key as PKCS#8 PEM, for the store's key file (mode 0600).
    pub fn to_pkcs8_pem(&self) -> Result<String, AuditError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.as_str().to_owned())
            .map_err(|e| AuditError::Key(format!("cannot encode the signing key: {e}")))
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn verifying_key_pem(&self) -> String {
        verifying_key_to_pem(&self.verifying_key())
    }

    /// The 32 raw public key bytes in lowercase hex.
    pub fn verifying_key_hex(&self) -> String {
        hex::encode(self.verifying_key().to_bytes())
    }

    /// Signs other canonical bytes with the same kind of key (registration certificates have a
    /// key of their own, held in this type); the signature as lowercase hex.
    pub fn sign_message(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }

    /// Signs `head`. The timestamp is cut to milliseconds first, so the head reads back from
    /// JSON or the database exactly as it was signed.
    pub fn sign(&self, head: &TreeHead) -> SignedTreeHead {
        let timestamp = DateTime::from_timestamp_millis(head.timestamp.timestamp_millis()).unwrap_or(head.timestamp);
        let head = TreeHead { size: head.size, root: head.root, timestamp };
        let signature = self.key.sign(&head.signing_bytes());
        SignedTreeHead { head, signature }
    }
}

/// SPKI PEM of an Ed25519 public key; built by hand because the encoding is fixed and this
/// way cannot fail.
pub fn verifying_key_to_pem(key: &VerifyingKey) -> String {
    let mut der = Vec::with_capacity(44);
    der.extend_from_slice(&ED25519_SPKI_PREFIX);
    der.extend_from_slice(key.as_bytes());
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", BASE64.encode(der))
}

/// Reads an SPKI PEM public key.
pub fn verifying_key_from_pem(pem: &str) -> Result<VerifyingKey, AuditError> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| AuditError::Key(format!("not an Ed25519 public key: {e}")))
}

/// Reads a public key given as 64 hex digits (the form the API's public-key endpoint shows).
pub fn verifying_key_from_hex(hex_key: &str) -> Result<VerifyingKey, AuditError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).map_err(|_| AuditError::Key("not 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| AuditError::Key("not a valid Ed25519 public key".into()))
}

/// Checks a signed tree head's signature. Strict verification: rejects non-canonical
/// signatures and weak keys, so a head cannot be re-encoded into a second valid form.
pub fn verify_tree_head(public_key: &VerifyingKey, sth: &SignedTreeHead) -> Result<(), AuditError> {
    public_key
        .verify_strict(&sth.head.signing_bytes(), &sth.signature)
        .map_err(|_| AuditError::TreeHeadSignature { size: sth.head.size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePublicKey;

    fn head() -> TreeHead {
        TreeHead {
            size: 3,
            root: crate::leaf_hash(b"r"),
            timestamp: DateTime::parse_from_rfc3339("2026-01-05T08:30:00.123456+08:00").unwrap().with_timezone(&Utc),
        }
    }

    /// RFC 8032 §7.1 test 1 secret key, so the signature below is a fixed vector.
    fn fixed_signer() -> TreeSigner {
        let mut seed = [0u8; 32];
        hex::decode_to_slice("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", &mut seed).unwrap();
        TreeSigner { key: SigningKey::from_bytes(&seed) }
    }

    #[test]
    fn signing_bytes_layout() {
        let bytes = head().signing_bytes();
        assert_eq!(bytes.len(), 66);
        let mut expected = b"shuyu-tree-head-v1".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]);
        expected.extend_from_slice(crate::leaf_hash(b"r").as_bytes());
        // 2026-01-05T00:30:00.123Z = 1767573000123 ms = 0x0000019b8b8f8fbb.
        expected.extend_from_slice(&1_767_573_000_123u64.to_be_bytes());
        assert_eq!(bytes, expected);
        assert_eq!(&bytes[58..], &[0x00, 0x00, 0x01, 0x9b, 0x8b, 0x8f, 0x8f, 0xbb]);
    }

    #[test]
    fn fixed_key_gives_fixed_public_key_and_signature() {
        let signer = fixed_signer();
        // RFC 8032 §7.1 test 1 public key.
        assert_eq!(signer.verifying_key_hex(), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let sth = signer.sign(&head());
        verify_tree_head(&signer.verifying_key(), &sth).unwrap();
        // Ed25519 is deterministic; the JSON form is stable too.
        let json = serde_json::to_value(&sth).unwrap();
        assert_eq!(json["size"], 3);
        assert_eq!(json["root"], crate::leaf_hash(b"r").to_string());
        assert_eq!(json["timestamp"], "2026-01-05T00:30:00.123Z");
        // Computed independently with Python's `cryptography` over the documented bytes.
        assert_eq!(
            json["signature"],
            "0o90X/7YGjnZOf2KyNp9cACg73fLMaY2RN5IolGOGBZG+oZY5uQkCb91DXKojKjOLMz5vuFLmlL8urY4aD23Ag=="
        );
        assert_eq!(
            signer.verifying_key_pem(),
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n"
        );
        assert_eq!(signer.sign(&head()).signature, sth.signature);
    }

    #[test]
    fn signs_verifies_and_round_trips() {
        let signer = TreeSigner::generate();
        let sth = signer.sign(&head());
        // Sub-millisecond digits are dropped before signing, so JSON round-trips exactly.
        assert_eq!(sth.head.timestamp.timestamp_subsec_nanos(), 123_000_000);
        let json = serde_json::to_string(&sth).unwrap();
        let back: SignedTreeHead = serde_json::from_str(&json).unwrap();
        assert_eq!(back, sth);
        verify_tree_head(&signer.verifying_key(), &back).unwrap();
        let again = SignedTreeHead::from_parts(back.head.clone(), &back.signature_base64()).unwrap();
        assert_eq!(again, sth);
        // A timestamp with an offset is the same instant.
        let shifted = json.replace("2026-01-05T00:30:00.123Z", "2026-01-05T08:30:00.123+08:00");
        let back: SignedTreeHead = serde_json::from_str(&shifted).unwrap();
        verify_tree_head(&signer.verifying_key(), &back).unwrap();
    }

    #[test]
    fn keys_round_trip_through_pem_and_hex() {
        let signer = TreeSigner::generate();
        let pem = signer.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = TreeSigner::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(again.verifying_key_hex(), signer.verifying_key_hex());
        let public_pem = signer.verifying_key_pem();
        // The hand-built PEM is what the pkcs8 crate writes.
        assert_eq!(public_pem, signer.verifying_key().to_public_key_pem(LineEnding::LF).unwrap());
        assert_eq!(verifying_key_from_pem(&public_pem).unwrap(), signer.verifying_key());
        assert_eq!(verifying_key_from_hex(&signer.verifying_key_hex()).unwrap(), signer.verifying_key());
        assert!(verifying_key_from_hex("abcd").is_err());
        assert!(verifying_key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
        assert!(matches!(TreeSigner::from_pkcs8_pem("not a key"), Err(AuditError::Key(_))));
        // An OpenSSL-style PKCS#8 v1 key (RFC 8410 §10.3 example) reads too.
        let openssl = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let k = TreeSigner::from_pkcs8_pem(openssl).unwrap();
        assert_eq!(k.verifying_key_hex().len(), 64);
    }

    #[test]
    fn altered_or_foreign_heads_fail() {
        let signer = TreeSigner::generate();
        let key = signer.verifying_key();
        let sth = signer.sign(&head());
        let mut bigger = sth.clone();
        bigger.head.size += 1;
        assert_eq!(verify_tree_head(&key, &bigger), Err(AuditError::TreeHeadSignature { size: 4 }));
        let mut moved = sth.clone();
        moved.head.timestamp += chrono::Duration::milliseconds(1);
        assert!(verify_tree_head(&key, &moved).is_err());
        let mut rerooted = sth.clone();
        rerooted.head.root = crate::leaf_hash(b"s");
        assert!(verify_tree_head(&key, &rerooted).is_err());
        assert!(verify_tree_head(&TreeSigner::generate().verifying_key(), &sth).is_err());
        assert_eq!(SignedTreeHead::from_parts(head(), "AAAA"), Err(AuditError::SignatureFormat));
        assert_eq!(SignedTreeHead::from_parts(head(), "not base64!"), Err(AuditError::SignatureFormat));
        let json = serde_json::to_string(&sth).unwrap().replace(".123Z", "yesterday");
        assert!(serde_json::from_str::<SignedTreeHead>(&json).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let signer = fixed_signer();
        let debug = format!("{signer:?}");
        assert!(debug.contains("<redacted>"));
        assert!(debug.contains(&signer.verifying_key_hex()));
        assert!(!debug.contains("9d61b19d"));
        let pem = signer.to_pkcs8_pem().unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!debug.contains(&body));
        let alt = format!("{signer:#?}");
        assert!(!alt.contains("9d61b19d") && !alt.contains("[157, 97"));
    }
}
