//! Registration certificates (电子凭证), YXR §23: one certificate, one code (一证一码), its
//! validity and renewal window, and the canonical bytes its Ed25519 signature covers.
//!
//! Code scheme (docs/certificates.md): `RRRRRR-YYYY-T-NNNNNN-C`
//! - `RRRRRR` the registry's administrative division code (GB/T 2260), from the profile;
//! - `YYYY` the year of issue; `T` the subject type (`D` data resource, `P` product/service);
//! - `NNNNNN` a sequence per region, year and type;
//! - `C` an ISO/IEC 7064 MOD 37,36 check character over the 17 characters before it, so a
//!   mistyped code is caught before any lookup. Region + year + type + sequence keep codes
//!   unique when registrations are synchronised to provincial and national platforms.

use chrono::{Days, Months, NaiveDate};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::CoreError;

const ALPHABET: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn value_of(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase()).and_then(|p| u32::try_from(p).ok())
}

/// ISO/IEC 7064 hybrid MOD 37,36 check character for `payload` (digits and letters).
pub fn check_character(payload: &str) -> Option<char> {
    let m = 36u32;
    let mut p = m;
    for b in payload.bytes() {
        let mut s = (p + value_of(b)?) % m;
        if s == 0 {
            s = m;
        }
        p = (s * 2) % (m + 1);
    }
    let c = (m + 1 - p) % m;
    ALPHABET.get(usize::try_from(c).ok()?).map(|b| char::from(*b))
}

/// What was registered: a data resource or a product / service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    DataResource,
    Product,
}

impl SubjectKind {
    pub fn letter(&self) -> char {
        match self {
            SubjectKind::DataResource => 'D',
            SubjectKind::Product => 'P',
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            SubjectKind::DataResource => "data_resource",
            SubjectKind::Product => "product",
        }
    }

    pub fn parse(s: &str) -> Result<Self, CoreError> {
        match s {
            "data_resource" => Ok(SubjectKind::DataResource),
            "product" => Ok(SubjectKind::Product),
            other => Err(CoreError::UnknownName { kind: "subject kind", value: other.chars().take(64).collect() }),
        }
    }
}

/// A parsed certificate code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CertificateCode(String);

impl CertificateCode {
    pub fn new(region: &str, year: i32, kind: SubjectKind, sequence: u32) -> Result<Self, CoreError> {
        let bad = |reason: &str| CoreError::InvalidIdentifier { kind: "certificate code", reason: reason.into() };
        if region.len() != 6 || !region.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the region must be a 6-digit GB/T 2260 code"));
        }
        if !(1000..=9999).contains(&year) || sequence == 0 || sequence > 999_999 {
            return Err(bad("year or sequence out of range"));
        }
        let payload = format!("{region}{year}{}{sequence:06}", kind.letter());
        let check = check_character(&payload).ok_or_else(|| bad("unexpected character"))?;
        Ok(Self(format!("{region}-{year}-{}-{sequence:06}-{check}", kind.letter())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for CertificateCode {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, CoreError> {
        let bad = |reason: &str| CoreError::InvalidIdentifier { kind: "certificate code", reason: reason.into() };
        let s = s.trim().to_ascii_uppercase();
        let parts: Vec<&str> = s.split('-').collect();
        let [region, year, kind, seq, check] = parts.as_slice() else {
            return Err(bad("expected the form RRRRRR-YYYY-T-NNNNNN-C"));
        };
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(region, 6) || !digits(year, 4) || !digits(seq, 6) || !matches!(*kind, "D" | "P") || check.len() != 1
        {
            return Err(bad("expected the form RRRRRR-YYYY-T-NNNNNN-C"));
        }
        let expected = check_character(&format!("{region}{year}{kind}{seq}")).ok_or_else(|| bad("bad character"))?;
        if !check.starts_with(expected) {
            return Err(bad("the check character does not match: the code was mistyped"));
        }
        Ok(Self(s))
    }
}

impl TryFrom<String> for CertificateCode {
    type Error = CoreError;

    fn try_from(s: String) -> Result<Self, CoreError> {
        s.parse()
    }
}

impl From<CertificateCode> for String {
    fn from(c: CertificateCode) -> String {
        c.0
    }
}

impl std::fmt::Display for CertificateCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The last day of a validity of `years` starting on `from` (自发证之日起计算): the day before
/// the anniversary, capped by the operation term's last day when that is earlier.
pub fn valid_until(from: NaiveDate, years: u32, operation_term_end: Option<NaiveDate>) -> Option<NaiveDate> {
    let full = from.checked_add_months(Months::new(years.checked_mul(12)?))?.checked_sub_days(Days::new(1))?;
    Some(match operation_term_end {
        Some(end) if end < full => end,
        _ => full,
    })
}

/// True when `today` lies in the renewal window: the `window_days` calendar days up to and
/// including the last valid day (期满前60日内).
pub fn in_renewal_window(today: NaiveDate, valid_until: NaiveDate, window_days: u32) -> bool {
    valid_until
        .checked_sub_days(Days::new(u64::from(window_days)))
        .is_some_and(|start| today > start && today <= valid_until)
}

/// The registered facts a certificate attests, in the order they are signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateFacts {
    pub code: String,
    /// Increases with every change or correction registration and every renewal.
    pub version: u32,
    pub subject_kind: String,
    pub subject_name: String,
    pub summary: String,
    pub holder: String,
    pub holder_uscc: String,
    pub industry: String,
    pub region: String,
    pub registration_id: String,
    pub issuer: String,
    pub issued_on: NaiveDate,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
}

impl CertificateFacts {
    /// Canonical bytes: a header line, then one `key=value` line per fact in declaration order,
    /// each value as a JSON string (so newlines and quotes cannot forge a line).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
        let lines = [
            ("code", q(&self.code)),
            ("version", self.version.to_string()),
            ("subject_kind", q(&self.subject_kind)),
            ("subject_name", q(&self.subject_name)),
            ("summary", q(&self.summary)),
            ("holder", q(&self.holder)),
            ("holder_uscc", q(&self.holder_uscc)),
            ("industry", q(&self.industry)),
            ("region", q(&self.region)),
            ("registration_id", q(&self.registration_id)),
            ("issuer", q(&self.issuer)),
            ("issued_on", q(&self.issued_on.to_string())),
            ("valid_from", q(&self.valid_from.to_string())),
            ("valid_until", q(&self.valid_until.to_string())),
        ];
        let mut out = String::from("shuyu-certificate-v1\n");
        for (k, v) in lines {
            out.push_str(k);
            out.push('=');
            out.push_str(&v);
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Hex Ed25519 signature over the canonical bytes.
    pub fn sign(&self, key: &SigningKey) -> String {
        hex_encode(&key.sign(&self.canonical_bytes()).to_bytes())
    }

    /// True when `signature_hex` is the key's signature over exactly these facts.
    pub fn verify(&self, key: &VerifyingKey, signature_hex: &str) -> bool {
        let Some(bytes) = hex_decode(signature_hex) else { return false };
        let Ok(arr) = <[u8; 64]>::try_from(bytes.as_slice()) else { return false };
        key.verify(&self.canonical_bytes(), &Signature::from_bytes(&arr)).is_ok()
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn codes_carry_a_check_character() {
        // Worked by hand (and in docs/certificates.md) with the MOD 37,36 steps.
        let documented = CertificateCode::new("320200", 2026, SubjectKind::DataResource, 1).unwrap();
        assert_eq!(documented.as_str(), "320200-2026-D-000001-J");
        let code = CertificateCode::new("530400", 2026, SubjectKind::DataResource, 1).unwrap();
        assert!(code.as_str().starts_with("530400-2026-D-000001-"), "{code}");
        assert_eq!(code.as_str().parse::<CertificateCode>().unwrap(), code);
        // Lower case is read as upper case.
        assert!(code.as_str().to_lowercase().parse::<CertificateCode>().is_ok());
        let mut typo = code.as_str().to_string();
        typo.replace_range(15..16, if &typo[15..16] == "9" { "8" } else { "9" });
        assert!(typo.parse::<CertificateCode>().is_err(), "{typo}");
        assert!("530400-2026-X-000001-0".parse::<CertificateCode>().is_err());
        assert!(CertificateCode::new("5304", 2026, SubjectKind::Product, 1).is_err());
    }

    proptest! {
        #[test]
        fn any_single_substitution_is_caught(seq in 1u32..999_999, pos in 0usize..17, by in 1u32..36) {
            let code = CertificateCode::new("320200", 2026, SubjectKind::Product, seq).unwrap();
            let compact: Vec<u8> = code.as_str().bytes().filter(|b| *b != b'-').collect();
            let mut payload = compact[..17].to_vec();
            let old = value_of(payload[pos]).unwrap();
            payload[pos] = ALPHABET[((old + by) % 36) as usize];
            let altered = String::from_utf8(payload).unwrap();
            prop_assert_ne!(check_character(&altered), Some(char::from(compact[17])));
        }
    }

    #[test]
    fn validity_is_three_years_or_the_shorter_operation_term() {
        assert_eq!(valid_until(d("2026-05-08"), 3, None), Some(d("2029-05-07")));
        assert_eq!(valid_until(d("2026-05-08"), 3, Some(d("2027-12-31"))), Some(d("2027-12-31")));
        assert_eq!(valid_until(d("2026-05-08"), 3, Some(d("2030-12-31"))), Some(d("2029-05-07")));
    }

    #[test]
    fn renewal_window_is_the_last_sixty_days() {
        let until = d("2029-05-07");
        assert!(!in_renewal_window(d("2029-03-08"), until, 60));
        assert!(in_renewal_window(d("2029-03-09"), until, 60));
        assert!(in_renewal_window(until, until, 60));
        assert!(!in_renewal_window(d("2029-05-08"), until, 60));
    }

    #[test]
    fn signatures_cover_every_fact() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let facts = CertificateFacts {
            code: "530400-2026-D-000001-X".into(),
            version: 1,
            subject_kind: "data_resource".into(),
            subject_name: "企业登记信息\n伪造=行".into(),
            summary: "s".into(),
            holder: "h".into(),
            holder_uscc: "u".into(),
            industry: "I64".into(),
            region: "530400".into(),
            registration_id: "r".into(),
            issuer: "i".into(),
            issued_on: d("2026-05-08"),
            valid_from: d("2026-05-08"),
            valid_until: d("2029-05-07"),
        };
        let sig = facts.sign(&key);
        assert!(facts.verify(&key.verifying_key(), &sig));
        let mut edited = facts.clone();
        edited.valid_until = d("2039-05-07");
        assert!(!edited.verify(&key.verifying_key(), &sig));
        assert!(!facts.verify(&key.verifying_key(), "zz"));
        assert!(String::from_utf8(facts.canonical_bytes())
            .unwrap()
            .contains("subject_name=\"企业登记信息\\n伪造=行\""));
    }
}
