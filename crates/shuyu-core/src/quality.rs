//! Data quality (JS §20, YXO §10, §23, WX §13, SPEC §1.6): the dimensions a stored dataset
//! version is scored on, how a field declares what is checked, and the score.
//!
//! A field is checked for identifier validity when its PII type is an identifier (resident ID,
//! mobile, bank card, plate) or its `format` names an identifier kind (`uscc`, `resident-id`,
//! …); it must be unique when its `format` carries the token `key` (tokens are separated by
//! commas or spaces, e.g. `"uscc, key"`). The standards' numbers count as names: a format
//! citing GB 32100 is a credit code, GB 11643 a resident ID. A token `ref:<entry id>/<field>`
//! asks for consistency across datasets: every value must be found in that entry's field.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalogue::{FieldSpec, PiiType, UpdateFrequency};
use crate::validators::IdentifierKind;

named_enum!(
    /// What a check measures.
    Dimension, "quality dimension" {
        Completeness => "completeness",
        Validity => "validity",
        Uniqueness => "uniqueness",
        Consistency => "consistency",
        Timeliness => "timeliness",
    }
);

/// One dimension's measurement: `passed` of `checked`, and the columns behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measure {
    pub dimension: Dimension,
    pub checked: u64,
    pub passed: u64,
    /// Per column: (column, checked, passed, first failing row numbers, 1-based). Values are
    /// never copied here: they may be personal data.
    #[serde(default)]
    pub columns: Vec<ColumnMeasure>,
    /// Why it was measured this way, for the holder reading the report.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnMeasure {
    pub column: String,
    pub checked: u64,
    pub passed: u64,
    pub failing_rows: Vec<u64>,
}

impl Measure {
    /// 0–100; a dimension with nothing to check scores 100.
    pub fn score(&self) -> u32 {
        if self.checked == 0 {
            return 100;
        }
        let s = (self.passed as f64 * 100.0 / self.checked as f64).floor();
        s.clamp(0.0, 100.0) as u32
    }
}

/// The identifier kind a field is checked as, if any.
pub fn identifier_kind(f: &FieldSpec) -> Option<IdentifierKind> {
    let from_pii = match f.pii {
        Some(PiiType::ResidentId) => Some(IdentifierKind::ResidentId),
        Some(PiiType::Mobile) => Some(IdentifierKind::Mobile),
        Some(PiiType::BankCard) => Some(IdentifierKind::BankCard),
        Some(PiiType::Plate) => Some(IdentifierKind::Plate),
        _ => None,
    };
    // The national standards name the identifiers too: GB 11643 (resident ID), GB 32100 (USCC).
    let from_standard = if f.format.contains("32100") {
        Some(IdentifierKind::Uscc)
    } else if f.format.contains("11643") {
        Some(IdentifierKind::ResidentId)
    } else {
        None
    };
    from_pii
        .or(from_standard)
        .or_else(|| format_tokens(f).find_map(|t| IdentifierKind::ALL.into_iter().find(|k| k.as_str() == t)))
}

/// A field whose values must be found in another entry's field (consistency across datasets):
/// its format carries `ref:<entry id>/<field>`, e.g. a legal representative's resident ID that
/// must be a resident of the population register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub entry: String,
    pub field: String,
}

/// The field's reference, if its format declares one.
pub fn reference(f: &FieldSpec) -> Option<Reference> {
    format_tokens(f).find_map(|t| {
        let (entry, field) = t.strip_prefix("ref:")?.split_once('/')?;
        (!entry.is_empty() && !field.is_empty()).then(|| Reference { entry: entry.into(), field: field.into() })
    })
}

/// True when the field's format marks it as a key whose values must be unique.
pub fn is_key(f: &FieldSpec) -> bool {
    format_tokens(f).any(|t| t == "key")
}

fn format_tokens(f: &FieldSpec) -> impl Iterator<Item = &str> {
    f.format.split([',', ' ', '，']).map(str::trim).filter(|t| !t.is_empty())
}

/// The longest a frequency allows between versions, in days (none for irregular updates).
pub fn period_days(f: UpdateFrequency) -> Option<i64> {
    match f {
        UpdateFrequency::Realtime | UpdateFrequency::Daily => Some(1),
        UpdateFrequency::Weekly => Some(7),
        UpdateFrequency::Monthly => Some(31),
        UpdateFrequency::Quarterly => Some(92),
        UpdateFrequency::Yearly => Some(366),
        UpdateFrequency::Irregular => None,
    }
}

/// Timeliness: did this version arrive within its frequency (plus grace) of the previous one?
pub fn timeliness(
    frequency: UpdateFrequency,
    previous: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    grace_days: u32,
) -> Measure {
    let (checked, passed, note) = match (period_days(frequency), previous) {
        (Some(days), Some(prev)) => {
            let gap = (now - prev).num_days();
            let allowed = days + i64::from(grace_days);
            (
                1,
                u64::from(gap <= allowed),
                format!("{gap} days after the previous version; the catalogue allows {allowed}"),
            )
        }
        (None, _) => (0, 0, "irregular updates have no deadline".to_string()),
        (Some(_), None) => (0, 0, "the first version has nothing to be late against".to_string()),
    };
    Measure { dimension: Dimension::Timeliness, checked, passed, columns: Vec::new(), note }
}

/// The version's score: the mean of the scores of the dimensions that had something to check,
/// 0–100 (100 when none had). An unmeasured dimension is left out rather than counted as
/// perfect, so declaring a new check never raises a score by itself.
pub fn score(measures: &[Measure]) -> u32 {
    let measured: Vec<u32> = measures.iter().filter(|m| m.checked > 0).map(Measure::score).collect();
    if measured.is_empty() {
        return 100;
    }
    measured.iter().sum::<u32>() / measured.len() as u32
}

/// The dimensions scoring below `threshold`: each becomes a finding for the holder.
pub fn failing(measures: &[Measure], threshold: u32) -> Vec<&Measure> {
    measures.iter().filter(|m| m.checked > 0 && m.score() < threshold).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::FieldType;
    use chrono::TimeZone;

    fn field(format: &str, pii: Option<PiiType>) -> FieldSpec {
        FieldSpec {
            name: "c".into(),
            data_type: FieldType::String,
            format: format.into(),
            description: String::new(),
            sensitivity: 2,
            pii,
        }
    }

    #[test]
    fn fields_declare_identifiers_and_keys() {
        assert_eq!(identifier_kind(&field("", Some(PiiType::ResidentId))), Some(IdentifierKind::ResidentId));
        assert_eq!(identifier_kind(&field("uscc, key", None)), Some(IdentifierKind::Uscc));
        assert!(is_key(&field("uscc, key", None)));
        assert!(!is_key(&field("keyword", None)));
        assert_eq!(identifier_kind(&field("YYYY-MM-DD", None)), None);
        assert_eq!(identifier_kind(&field("GB 32100", None)), Some(IdentifierKind::Uscc));
        assert_eq!(
            reference(&field("GB 11643, ref:0195-ab/resident_id", None)),
            Some(Reference { entry: "0195-ab".into(), field: "resident_id".into() })
        );
        assert_eq!(reference(&field("ref:/x", None)), None);
        assert_eq!(reference(&field("referee", None)), None);
    }

    #[test]
    fn scores_and_findings() {
        let m = |d, checked, passed| Measure { dimension: d, checked, passed, columns: vec![], note: String::new() };
        let all =
            [m(Dimension::Completeness, 100, 100), m(Dimension::Validity, 100, 80), m(Dimension::Uniqueness, 0, 0)];
        assert_eq!(score(&all), (100 + 80) / 2, "the unmeasured dimension is left out");
        assert_eq!(score(&all[2..]), 100);
        let f = failing(&all, 95);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].dimension, Dimension::Validity);
    }

    #[test]
    fn a_late_monthly_version_is_untimely() {
        let t = |d| Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap();
        assert_eq!(timeliness(UpdateFrequency::Weekly, Some(t(1)), t(9), 2).score(), 100);
        assert_eq!(timeliness(UpdateFrequency::Weekly, Some(t(1)), t(20), 2).score(), 0);
        assert_eq!(timeliness(UpdateFrequency::Irregular, Some(t(1)), t(20), 2).checked, 0);
    }
}
