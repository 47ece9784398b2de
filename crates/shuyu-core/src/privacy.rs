//! A grant's privacy settings (SPEC §4.5, YXO §3 隐私计算, JS §13 "usable but invisible"):
//! how results may leave its tables. Proposed with the data request, set by the reviewers, shown
//! to the operator and enforced in every query of every workspace the grant is attached to.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative decimal amount held as an integer number of `1/SCALE` units, so budgets add
/// up exactly (ε in millionths, δ in trillionths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fixed<const SCALE: u64>(pub u64);

pub type Epsilon = Fixed<1_000_000>;
pub type Delta = Fixed<1_000_000_000_000>;

impl<const SCALE: u64> Fixed<SCALE> {
    /// From a decimal, rounded to the nearest unit; `None` for a negative, huge or non-number.
    pub fn from_f64(v: f64) -> Option<Self> {
        let units = (v * SCALE as f64).round();
        (v.is_finite() && v >= 0.0 && units <= (i64::MAX / 4) as f64).then_some(Fixed(units as u64))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / SCALE as f64
    }

    pub fn units(self) -> u64 {
        self.0
    }
}

impl<const SCALE: u64> Serialize for Fixed<SCALE> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de, const SCALE: u64> Deserialize<'de> for Fixed<SCALE> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Fixed::from_f64(v).ok_or_else(|| serde::de::Error::custom(format!("{v} is not an amount of budget")))
    }
}

/// How noise is drawn for a differentially private answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// Discrete Laplace: pure ε-DP, δ = 0.
    #[default]
    Laplace,
    /// Discrete Gaussian: (ε, δ)-DP; each query spends δ too.
    Gaussian,
}

/// The settings of a differential-privacy grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpSettings {
    /// The budget over the grant's whole life; only the authority adds to it, with a reason.
    pub epsilon: Epsilon,
    #[serde(default)]
    pub delta: Delta,
    /// What one query costs unless it asks for less.
    pub query_epsilon: Epsilon,
    /// δ one query costs under the Gaussian mechanism.
    #[serde(default)]
    pub query_delta: Delta,
    #[serde(default)]
    pub mechanism: Mechanism,
    /// The interval each summed or averaged column is clamped to, by column (whole units).
    #[serde(default)]
    pub bounds: BTreeMap<String, (i64, i64)>,
    /// Columns a result may be grouped by, each with every value it may take: the histogram's
    /// public domain. Groups outside it are not released; groups inside it always are (a group
    /// with no rows gets a noisy zero), so that which groups appear reveals nothing.
    #[serde(default)]
    pub public_keys: BTreeMap<String, Vec<String>>,
    /// Rows of one subject a query may count (contribution bounding); the rest are left out.
    #[serde(default = "one")]
    pub max_rows_per_subject: u32,
}

fn one() -> u32 {
    1
}

/// How results may leave a grant's tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Privacy {
    /// Rows may be read (through the column modes); exports pass the usual checks.
    #[default]
    Standard,
    /// Every query must aggregate, and every group it returns must cover at least `k` distinct
    /// subjects; `k` defaults to the profile's minimum group size.
    AggregationOnly {
        #[serde(default)]
        k: Option<u32>,
    },
    /// Only noisy aggregates, each charged to the grant's budget before it is released.
    DifferentialPrivacy(DpSettings),
}

impl Privacy {
    fn rank(&self) -> u8 {
        match self {
            Privacy::Standard => 0,
            Privacy::AggregationOnly { .. } => 1,
            Privacy::DifferentialPrivacy(_) => 2,
        }
    }

    /// The stricter of two settings: a reviewer may tighten what was asked, never loosen it.
    pub fn stricter(self, other: Privacy, default_k: u32) -> Privacy {
        match (self, other) {
            (Privacy::AggregationOnly { k: a }, Privacy::AggregationOnly { k: b }) => {
                Privacy::AggregationOnly { k: Some(a.unwrap_or(default_k).max(b.unwrap_or(default_k))) }
            }
            (Privacy::DifferentialPrivacy(a), Privacy::DifferentialPrivacy(b)) => {
                Privacy::DifferentialPrivacy(if b.epsilon <= a.epsilon { b } else { a })
            }
            (a, b) => {
                if b.rank() > a.rank() {
                    b
                } else {
                    a
                }
            }
        }
    }

    /// Whether queries may read rows of the grant's tables as they are.
    pub fn reads_rows(&self) -> bool {
        matches!(self, Privacy::Standard)
    }

    /// Checks the settings make sense: a problem to show the reviewer, or `None`.
    pub fn problem(&self, max_k: u32) -> Option<String> {
        match self {
            Privacy::Standard => None,
            Privacy::AggregationOnly { k: Some(k) } if *k < 2 || *k > max_k => {
                Some(format!("k must be from 2 to {max_k}: 1 would let a group describe one person"))
            }
            Privacy::AggregationOnly { .. } => None,
            Privacy::DifferentialPrivacy(dp) => {
                if dp.epsilon.0 == 0 || dp.query_epsilon.0 == 0 {
                    return Some("ε must be above 0, both the budget and the cost of a query".into());
                }
                if dp.query_epsilon > dp.epsilon {
                    return Some("one query may not cost more than the whole budget".into());
                }
                if dp.epsilon.as_f64() > 100.0 {
                    return Some("a budget above ε = 100 protects nobody".into());
                }
                if dp.mechanism == Mechanism::Gaussian
                    && (dp.query_delta.0 == 0 || dp.query_delta > dp.delta || dp.delta.as_f64() >= 1e-3)
                {
                    return Some(
                        "the Gaussian mechanism needs δ: a budget below 0.001 and a per-query δ within it".into(),
                    );
                }
                if dp.mechanism == Mechanism::Laplace && (dp.delta.0 != 0 || dp.query_delta.0 != 0) {
                    return Some("the Laplace mechanism spends no δ: leave δ out or choose gaussian".into());
                }
                if let Some((c, (lo, hi))) = dp.bounds.iter().find(|(_, (lo, hi))| lo > hi) {
                    return Some(format!("the bounds of {c} are reversed: {lo} > {hi}"));
                }
                if dp.max_rows_per_subject == 0 || dp.max_rows_per_subject > 1000 {
                    return Some("rows per subject must be from 1 to 1000".into());
                }
                if let Some((c, _)) = dp.public_keys.iter().find(|(_, v)| v.is_empty() || v.len() > 10_000) {
                    return Some(format!("list from 1 to 10000 public values of {c}"));
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_and_never_negative() {
        assert_eq!(Epsilon::from_f64(0.1).map(|e| e.units()), Some(100_000));
        assert_eq!(Delta::from_f64(1e-6).map(|d| d.units()), Some(1_000_000));
        assert!(Epsilon::from_f64(-0.5).is_none());
        assert!(Epsilon::from_f64(f64::NAN).is_none());
        let p: Privacy = serde_json::from_str(
            r#"{"mode":"differential_privacy","epsilon":1.0,"query_epsilon":0.1,"bounds":{"income":[0,50000]}}"#,
        )
        .unwrap();
        let Privacy::DifferentialPrivacy(dp) = &p else { panic!("{p:?}") };
        assert_eq!(dp.epsilon.units(), 1_000_000);
        assert_eq!(p.problem(10_000), None);
        assert!(serde_json::from_str::<Privacy>(r#"{"mode":"differential_privacy","epsilon":-1,"query_epsilon":0.1}"#)
            .is_err());
    }

    #[test]
    fn a_reviewer_tightens_never_loosens() {
        let agg = Privacy::AggregationOnly { k: Some(20) };
        assert_eq!(Privacy::Standard.stricter(agg.clone(), 10), agg);
        assert_eq!(agg.clone().stricter(Privacy::Standard, 10), agg);
        assert_eq!(
            Privacy::AggregationOnly { k: None }.stricter(Privacy::AggregationOnly { k: Some(5) }, 10),
            Privacy::AggregationOnly { k: Some(10) }
        );
        assert!(Privacy::AggregationOnly { k: Some(1) }.problem(100).is_some());
    }
}
