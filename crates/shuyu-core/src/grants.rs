//! Data requests and grants (SPEC §4.2–§4.3, WX §12 "one application, one list, one approval",
//! YXO §21 minimum necessity, JS §13 sensitive data never plain).
//!
//! An operator asks, under a filed agreement, for exact columns of catalogue entries, each with
//! the mode it needs and why. Every reviewer the profile names decides each column, with a
//! reason. What all reviewers approved, in the strictest mode any of them set, becomes the
//! grant. A grant lives pending → approved → provisioned → expired or revoked.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::catalogue::{EntryMetadata, FieldType, PiiType};
pub use crate::privacy::Privacy;
use crate::roles::OrgKind;
use crate::workflow::WorkflowError;

named_enum!(
    /// How a granted column is seen in a workspace. Ordered from least to most protective.
    ColumnMode, "column mode" {
        Plain => "plain",
        Masked => "masked",
        Hashed => "hashed",
        Invisible => "invisible",
    }
);

named_enum!(
    GrantState, "grant state" {
        Pending => "pending",
        Approved => "approved",
        Refused => "refused",
        Provisioned => "provisioned",
        Expired => "expired",
        Revoked => "revoked",
    }
);

impl GrantState {
    /// Queries may read the grant's tables only in this state.
    pub fn is_usable(self) -> bool {
        self == GrantState::Provisioned
    }
}

/// One column asked for, with the mode wanted and why it is necessary (YXO §21).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedColumn {
    pub name: String,
    pub mode: ColumnMode,
    pub necessity: String,
}

/// One catalogue entry's columns, under the table name the workspace will see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedTable {
    pub entry_id: String,
    /// The name the table has inside the workspace (letters, digits, underscore).
    pub table: String,
    pub columns: Vec<RequestedColumn>,
    /// A SQL predicate over the entry's columns limiting which rows are granted.
    #[serde(default)]
    pub row_filter: Option<String>,
    /// The column naming whose record a row is (a resident ID, a credit code), counted by
    /// aggregation-only and differential-privacy grants; it need not be among `columns`.
    #[serde(default)]
    pub subject_key: Option<String>,
}

/// The application: scenario, purpose, the exact list, and the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub agreement_id: String,
    pub scenario: String,
    pub purpose: String,
    pub tables: Vec<RequestedTable>,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    /// Results may leave only as aggregates over groups of at least the profile's minimum
    /// (kept for requests made before `privacy`; the same as `{"mode": "aggregation_only"}`).
    #[serde(default)]
    pub aggregation_only: bool,
    /// The privacy settings asked for; the reviewers may tighten them.
    #[serde(default)]
    pub privacy: Option<Privacy>,
}

impl GrantRequest {
    /// The settings as asked for.
    pub fn asked_privacy(&self) -> Privacy {
        match &self.privacy {
            Some(p) => p.clone(),
            None if self.aggregation_only => Privacy::AggregationOnly { k: None },
            None => Privacy::Standard,
        }
    }
}

/// One reviewer's decision on one column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDecision {
    pub table: String,
    pub column: String,
    pub approved: bool,
    /// A stricter mode than the one asked for, if the reviewer sets one.
    #[serde(default)]
    pub mode: Option<ColumnMode>,
    pub reason: String,
}

/// One reviewer's review of the whole list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer: OrgKind,
    pub org: String,
    pub user: String,
    pub decided_on: NaiveDate,
    pub decisions: Vec<ColumnDecision>,
    /// Privacy settings this reviewer requires (stricter ones win).
    #[serde(default)]
    pub privacy: Option<Privacy>,
}

/// A granted column as the sandbox enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedColumn {
    pub name: String,
    pub mode: ColumnMode,
    pub data_type: FieldType,
    pub sensitivity: u8,
    #[serde(default)]
    pub pii: Option<crate::catalogue::PiiType>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedTable {
    pub entry_id: String,
    pub table: String,
    pub columns: Vec<GrantedColumn>,
    #[serde(default)]
    pub row_filter: Option<String>,
    #[serde(default)]
    pub subject_key: Option<String>,
    #[serde(default)]
    pub privacy: Privacy,
}

fn invalid(field: &'static str, problem: String) -> WorkflowError {
    WorkflowError::Invalid { field, problem }
}

/// A name a workspace can use as an SQL identifier without quoting.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63
}

impl GrantRequest {
    /// Checks the list against the entries' published metadata. `entries` maps entry IDs to
    /// their published metadata; `scope` is the agreement's data scope and its term.
    pub fn check(
        &self,
        entries: &BTreeMap<String, EntryMetadata>,
        scope: &[String],
        agreement_term: (NaiveDate, NaiveDate),
        sensitive_level: u8,
    ) -> Result<(), WorkflowError> {
        if self.scenario.trim().is_empty() {
            return Err(invalid("scenario", "state the application scenario (WX §12)".into()));
        }
        if self.purpose.trim().is_empty() {
            return Err(invalid("purpose", "state the purpose (WX §12)".into()));
        }
        if self.tables.is_empty() {
            return Err(invalid("tables", "list at least one table and its columns (WX §12)".into()));
        }
        if self.valid_until < self.valid_from {
            return Err(invalid("valid_until", "the period ends before it starts".into()));
        }
        if self.valid_from < agreement_term.0 || self.valid_until > agreement_term.1 {
            return Err(invalid(
                "valid_until",
                format!("the period must lie within the agreement's term {} to {}", agreement_term.0, agreement_term.1),
            ));
        }
        let privacy = self.asked_privacy();
        if let Some(problem) = privacy.problem(MAX_K) {
            return Err(invalid("privacy", problem));
        }
        let mut names = BTreeSet::new();
        for t in &self.tables {
            if !is_identifier(&t.table) {
                return Err(invalid(
                    "tables",
                    format!("table name {:?}: use lower-case letters, digits and _", t.table),
                ));
            }
            if !names.insert(t.table.as_str()) {
                return Err(invalid("tables", format!("table name {} is used twice", t.table)));
            }
            if !scope.iter().any(|e| e == &t.entry_id) {
                return Err(invalid(
                    "tables",
                    format!("entry {} is outside the agreement's data scope (YXO §13)", t.entry_id),
                ));
            }
            let Some(meta) = entries.get(&t.entry_id) else {
                return Err(invalid("tables", format!("entry {} is not published in the catalogue", t.entry_id)));
            };
            if t.columns.is_empty() {
                return Err(invalid("tables", format!("{}: list the columns needed (WX §12)", t.table)));
            }
            if let Some(k) = &t.subject_key {
                if !meta.fields.iter().any(|f| &f.name == k) {
                    return Err(invalid("subject_key", format!("{}.{k}: the entry has no such column", t.table)));
                }
            } else if !privacy.reads_rows() && subject_key(meta, None).is_none() {
                return Err(invalid(
                    "subject_key",
                    format!("{}: name the column that identifies each person or enterprise (the subject key)", t.table),
                ));
            }
            let mut seen = BTreeSet::new();
            for c in &t.columns {
                let Some(field) = meta.fields.iter().find(|f| f.name == c.name) else {
                    return Err(invalid("columns", format!("{}.{}: the entry has no such column", t.table, c.name)));
                };
                if !seen.insert(c.name.as_str()) {
                    return Err(invalid("columns", format!("{}.{} is listed twice", t.table, c.name)));
                }
                if c.necessity.trim().is_empty() {
                    return Err(invalid(
                        "necessity",
                        format!("{}.{}: say why this column is necessary (YXO §21)", t.table, c.name),
                    ));
                }
                if c.mode == ColumnMode::Plain && field.sensitivity >= sensitive_level {
                    return Err(invalid(
                        "mode",
                        format!(
                            "{}.{} is level {}: level {} and above is never granted in plain (JS §13)",
                            t.table, c.name, field.sensitivity, sensitive_level
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The largest k an aggregation-only grant may set.
pub const MAX_K: u32 = 10_000;

/// The subject key of a table: the one named, else the entry's resident ID field.
fn subject_key(meta: &EntryMetadata, named: Option<&String>) -> Option<String> {
    named.cloned().or_else(|| meta.fields.iter().find(|f| f.pii == Some(PiiType::ResidentId)).map(|f| f.name.clone()))
}

/// The privacy settings all reviews together set: the strictest of what was asked and what
/// each reviewer required.
pub fn resolve_privacy(request: &GrantRequest, reviews: &[Review], default_k: u32) -> Privacy {
    let mut p = request.asked_privacy();
    for r in reviews {
        if let Some(q) = &r.privacy {
            p = p.stricter(q.clone(), default_k);
        }
    }
    match p {
        Privacy::AggregationOnly { k: None } => Privacy::AggregationOnly { k: Some(default_k) },
        other => other,
    }
}

/// Checks a review covers exactly the requested columns and gives a reason for each.
pub fn check_review(request: &GrantRequest, decisions: &[ColumnDecision]) -> Result<(), WorkflowError> {
    let asked: BTreeSet<(&str, &str)> = request
        .tables
        .iter()
        .flat_map(|t| t.columns.iter().map(move |c| (t.table.as_str(), c.name.as_str())))
        .collect();
    let mut answered = BTreeSet::new();
    for d in decisions {
        if !asked.contains(&(d.table.as_str(), d.column.as_str())) {
            return Err(invalid("decisions", format!("{}.{} was not requested", d.table, d.column)));
        }
        if !answered.insert((d.table.as_str(), d.column.as_str())) {
            return Err(invalid("decisions", format!("{}.{} is decided twice", d.table, d.column)));
        }
        if d.reason.trim().is_empty() {
            return Err(invalid(
                "reason",
                format!("{}.{}: give the reason for the decision (WX §12)", d.table, d.column),
            ));
        }
    }
    if let Some((t, c)) = asked.difference(&answered).next() {
        return Err(invalid("decisions", format!("{t}.{c} is not decided: decide every column")));
    }
    Ok(())
}

/// The reviewer kinds still to decide.
pub fn awaiting(required: &[OrgKind], reviews: &[Review]) -> Vec<OrgKind> {
    required.iter().copied().filter(|k| !reviews.iter().any(|r| r.reviewer == *k)).collect()
}

/// What all the reviews grant: columns every reviewer approved, each in the strictest mode
/// asked or set. Empty when nothing survives, which refuses the request.
pub fn resolve(
    request: &GrantRequest,
    reviews: &[Review],
    entries: &BTreeMap<String, EntryMetadata>,
    sensitive_level: u8,
    default_k: u32,
) -> Vec<GrantedTable> {
    let privacy = resolve_privacy(request, reviews, default_k);
    let mut out = Vec::new();
    for t in &request.tables {
        let Some(meta) = entries.get(&t.entry_id) else { continue };
        let mut columns = Vec::new();
        for c in &t.columns {
            let Some(field) = meta.fields.iter().find(|f| f.name == c.name) else { continue };
            let mut mode = c.mode;
            let mut approved = true;
            for r in reviews {
                match r.decisions.iter().find(|d| d.table == t.table && d.column == c.name) {
                    Some(d) if d.approved => mode = mode.max(d.mode.unwrap_or(mode)),
                    _ => approved = false,
                }
            }
            // A published change may have raised the level since the request was made.
            if mode == ColumnMode::Plain && field.sensitivity >= sensitive_level {
                mode = ColumnMode::Masked;
            }
            if approved {
                columns.push(GrantedColumn {
                    name: c.name.clone(),
                    mode,
                    data_type: field.data_type,
                    sensitivity: field.sensitivity,
                    pii: field.pii,
                });
            }
        }
        if !columns.is_empty() {
            out.push(GrantedTable {
                entry_id: t.entry_id.clone(),
                table: t.table.clone(),
                columns,
                row_filter: t.row_filter.clone(),
                subject_key: subject_key(meta, t.subject_key.as_ref()),
                privacy: privacy.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::sample;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap_or_default()
    }

    fn request(mode: ColumnMode) -> (GrantRequest, BTreeMap<String, EntryMetadata>) {
        let meta = sample();
        let sensitive = meta.fields.iter().find(|f| f.sensitivity >= 3).map(|f| f.name.clone()).unwrap_or_default();
        let req = GrantRequest {
            agreement_id: "a".into(),
            scenario: "普惠金融".into(),
            purpose: "企业信用评估".into(),
            tables: vec![RequestedTable {
                entry_id: "e1".into(),
                table: "enterprises".into(),
                columns: vec![
                    RequestedColumn { name: "uscc".into(), mode: ColumnMode::Plain, necessity: "关联企业".into() },
                    RequestedColumn { name: sensitive, mode, necessity: "关联法人".into() },
                ],
                row_filter: None,
                subject_key: None,
            }],
            valid_from: d(2026, 1, 1),
            valid_until: d(2026, 12, 31),
            aggregation_only: false,
            privacy: None,
        };
        (req, BTreeMap::from([("e1".to_string(), meta)]))
    }

    #[test]
    fn sensitive_columns_are_never_plain() {
        let (req, entries) = request(ColumnMode::Plain);
        let err = req.check(&entries, &["e1".into()], (d(2025, 1, 1), d(2028, 1, 1)), 3);
        assert!(
            matches!(err, Err(WorkflowError::Invalid { field: "mode", ref problem }) if problem.contains("JS §13"))
        );
        let (req, entries) = request(ColumnMode::Invisible);
        assert!(req.check(&entries, &["e1".into()], (d(2025, 1, 1), d(2028, 1, 1)), 3).is_ok());
        assert!(req.check(&entries, &["other".into()], (d(2025, 1, 1), d(2028, 1, 1)), 3).is_err());
        assert!(req.check(&entries, &["e1".into()], (d(2026, 6, 1), d(2028, 1, 1)), 3).is_err());
    }

    #[test]
    fn grant_is_what_every_reviewer_approved_in_the_strictest_mode() {
        let (req, entries) = request(ColumnMode::Masked);
        let cols: Vec<String> = req.tables[0].columns.iter().map(|c| c.name.clone()).collect();
        let review = |kind, approve_second: bool, mode| Review {
            reviewer: kind,
            org: "o".into(),
            user: "u".into(),
            decided_on: d(2026, 1, 2),
            decisions: vec![
                ColumnDecision {
                    table: "enterprises".into(),
                    column: cols[0].clone(),
                    approved: true,
                    mode: None,
                    reason: "必要".into(),
                },
                ColumnDecision {
                    table: "enterprises".into(),
                    column: cols[1].clone(),
                    approved: approve_second,
                    mode,
                    reason: "理由".into(),
                },
            ],
            privacy: None,
        };
        let a = review(OrgKind::Authority, true, Some(ColumnMode::Invisible));
        let s = review(OrgKind::SourceDepartment, true, None);
        assert!(check_review(&req, &a.decisions).is_ok());
        let granted = resolve(&req, &[a.clone(), s], &entries, 3, 10);
        assert_eq!(granted[0].columns[1].mode, ColumnMode::Invisible);
        let refused = review(OrgKind::SourceDepartment, false, None);
        let granted = resolve(&req, &[a, refused], &entries, 3, 10);
        assert_eq!(granted[0].columns.len(), 1);
        assert_eq!(awaiting(&[OrgKind::Authority, OrgKind::SourceDepartment], &[]).len(), 2);
    }
}
