//! Personnel who touch data (WX §16, YXO §22, §32): a real-name record, filing with the
//! authority, a review, training, and a confidentiality agreement in force with its liability
//! clause. Only a person cleared on all of them may join a sandbox workspace; an expired
//! confidentiality agreement takes the clearance away by itself.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub course: String,
    pub completed_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confidentiality {
    pub signed_on: NaiveDate,
    pub valid_until: NaiveDate,
    /// The liability clause as agreed.
    pub liability_clause: String,
    /// The signed agreement (attachment id).
    pub attachment_id: String,
}

/// What the platform holds about one person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonnelRecord {
    pub filed_on: Option<NaiveDate>,
    /// `Some(true)` passed, `Some(false)` failed, `None` not yet reviewed.
    pub review_passed: Option<bool>,
    pub reviewed_on: Option<NaiveDate>,
    #[serde(default)]
    pub trainings: Vec<Training>,
    pub confidentiality: Option<Confidentiality>,
}

/// One thing missing for clearance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub item: &'static str,
    pub problem: &'static str,
    pub basis: &'static str,
}

/// Everything that keeps the person out of a workspace on `today`; empty when cleared.
pub fn clearance(has_real_name: bool, r: &PersonnelRecord, today: NaiveDate) -> Vec<Missing> {
    let mut out = Vec::new();
    let mut miss = |item, problem, basis| out.push(Missing { item, problem, basis });
    if !has_real_name {
        miss("real_name", "no real-name record (name and resident ID)", "WX §16");
    }
    if r.filed_on.is_none() {
        miss("filing", "not filed with the data authority", "WX §16");
    }
    match r.review_passed {
        Some(true) => {}
        Some(false) => miss("review", "the review was not passed", "YXO §22"),
        None => miss("review", "not reviewed", "YXO §22"),
    }
    if r.trainings.is_empty() {
        miss("training", "no training on record", "YXO §22");
    }
    match &r.confidentiality {
        None => miss("confidentiality", "no confidentiality agreement", "YXO §22"),
        Some(c) if c.liability_clause.trim().is_empty() => {
            miss("confidentiality", "the confidentiality agreement has no liability clause", "YXO §22")
        }
        Some(c) if today > c.valid_until || today < c.signed_on => {
            miss("confidentiality", "the confidentiality agreement is not in force today", "YXO §22")
        }
        Some(_) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cleared() -> PersonnelRecord {
        PersonnelRecord {
            filed_on: Some(d("2026-10-01")),
            review_passed: Some(true),
            reviewed_on: Some(d("2026-10-02")),
            trainings: vec![Training { course: "数据安全与保密".into(), completed_on: d("2026-10-03") }],
            confidentiality: Some(Confidentiality {
                signed_on: d("2026-10-01"),
                valid_until: d("2027-09-30"),
                liability_clause: "泄露数据承担法律责任并赔偿损失".into(),
                attachment_id: "a".into(),
            }),
        }
    }

    #[test]
    fn cleared_only_with_everything_and_an_agreement_in_force() {
        assert!(clearance(true, &cleared(), d("2026-11-01")).is_empty());
        let items: Vec<_> =
            clearance(false, &PersonnelRecord::default(), d("2026-11-01")).iter().map(|m| m.item).collect();
        assert_eq!(items, vec!["real_name", "filing", "review", "training", "confidentiality"]);
        let expired = clearance(true, &cleared(), d("2027-10-01"));
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].item, "confidentiality");
        let mut failed = cleared();
        failed.review_passed = Some(false);
        assert_eq!(clearance(true, &failed, d("2026-11-01"))[0].problem, "the review was not passed");
    }
}
