//! Destruction certificates (封存销毁, WX §19, SPEC §4.7): what was destroyed in a workspace,
//! by hash, with the audit events that trace the data's use, signed by the platform.

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// One file that existed and was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestroyedObject {
    /// Relative to the workspace's directory.
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestructionCertificate {
    pub id: String,
    pub workspace_id: String,
    pub operator_org: String,
    /// `workspace` when everything went; otherwise the scratch tables destroyed.
    pub scope: Vec<String>,
    pub reason: String,
    pub basis: String,
    pub destroyed_at: String,
    pub objects: Vec<DestroyedObject>,
    /// Sequence numbers of the audit events about the workspace up to the destruction.
    pub audit_events: Vec<u64>,
}

impl DestructionCertificate {
    /// The signed bytes: a version line, then the certificate as JSON in field order.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = b"shuyu-destruction-certificate-v1\n".to_vec();
        // Serialising plain strings, numbers and vectors of them cannot fail.
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }

    /// True when `signature_hex` is the key's signature over exactly this certificate.
    pub fn verify(&self, key: &VerifyingKey, signature_hex: &str) -> bool {
        let mut sig = [0u8; 64];
        if signature_hex.len() != 128 {
            return false;
        }
        for (i, chunk) in signature_hex.as_bytes().chunks(2).enumerate() {
            let Ok(s) = std::str::from_utf8(chunk) else { return false };
            let Ok(b) = u8::from_str_radix(s, 16) else { return false };
            sig[i] = b;
        }
        key.verify(&self.canonical_bytes(), &Signature::from_bytes(&sig)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn signature_covers_every_object() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let mut c = DestructionCertificate {
            id: "c".into(),
            workspace_id: "w".into(),
            operator_org: "o".into(),
            scope: vec!["workspace".into()],
            reason: "目的已实现".into(),
            basis: "WX §19".into(),
            destroyed_at: "2026-11-01T00:00:00.000Z".into(),
            objects: vec![DestroyedObject { path: "scratch/t/data.parquet".into(), sha256: "ab".into(), bytes: 3 }],
            audit_events: vec![1, 2],
        };
        let sig: String = key.sign(&c.canonical_bytes()).to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(c.verify(&key.verifying_key(), &sig));
        c.objects[0].sha256 = "cd".into();
        assert!(!c.verify(&key.verifying_key(), &sig));
    }
}
