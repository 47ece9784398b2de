//! The data resource catalogue (数据资源目录), SPEC §1, WH §10–§25: what an entry says, the
//! classes that restrict sharing and opening, the review workflow, and the one rule the sandbox
//! asks before anything is authorized for operation (WX §2, YXO §18).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::calendar::WorkingCalendar;
use crate::industry::IndustryCode;
use crate::profile;
use crate::workflow::{Expiry, Step, Timer, WorkflowError};
use crate::CoreError;

named_enum!(
    /// Share class (共享属性) and open class (开放属性): ordered from least to most restrictive.
    AccessClass, "access class" {
        Unconditional => "unconditional",
        Conditional => "conditional",
        NotAllowed => "not_allowed",
    }
);

named_enum!(
    /// GB/T 43697-2024 grade.
    SecurityGrade, "security grade" {
        General => "general",
        Important => "important",
        Core => "core",
    }
);

named_enum!(
    UpdateFrequency, "update frequency" {
        Realtime => "realtime",
        Daily => "daily",
        Weekly => "weekly",
        Monthly => "monthly",
        Quarterly => "quarterly",
        Yearly => "yearly",
        Irregular => "irregular",
    }
);

named_enum!(
    /// How the data is obtained, as the national registry records it.
    AcquisitionMode, "acquisition mode" {
        Open => "open",
        AuthorizedOperation => "authorized_operation",
        ApplyToUse => "apply_to_use",
    }
);

named_enum!(
    /// A field's value type.
    FieldType, "field type" {
        String => "string",
        Integer => "integer",
        Decimal => "decimal",
        Date => "date",
        Datetime => "datetime",
        Boolean => "boolean",
        Binary => "binary",
    }
);

named_enum!(
    /// What kind of personal information a field holds, if any.
    PiiType, "PII type" {
        Name => "name",
        ResidentId => "resident_id",
        Mobile => "mobile",
        Address => "address",
        BankCard => "bank_card",
        Plate => "plate",
        Email => "email",
        Biometric => "biometric",
        Health => "health",
        Location => "location",
        Other => "other",
    }
);

/// One field of the entry's structure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: FieldType,
    #[serde(default)]
    pub format: String,
    #[serde(default)]
    pub description: String,
    /// 1–4; 3 and above are sensitive and never leave the sandbox in plain (SPEC §4).
    pub sensitivity: u8,
    #[serde(default)]
    pub pii: Option<PiiType>,
}

/// How "not open" data may become open (WH §17, §23): anonymised, or with the consent of
/// the right holders; either way a recorded document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningBasis {
    /// `anonymisation` or `consent`.
    pub kind: String,
    /// The attachment (report or consent) that records it.
    pub attachment_id: String,
}

/// Everything an entry says (SPEC §1.1). The holder is the organisation that drafts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryMetadata {
    pub name: String,
    /// Theme and purpose.
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub industry: String,
    #[serde(default)]
    pub scenarios: Vec<String>,
    /// Where the data comes from, and the proof it was obtained lawfully.
    pub source: String,
    #[serde(default)]
    pub compliance_proof: Option<String>,
    pub fields: Vec<FieldSpec>,
    #[serde(default)]
    pub records: u64,
    #[serde(default)]
    pub bytes: u64,
    /// GB/T 2260 code of the region the data covers.
    pub region: String,
    #[serde(default)]
    pub co_owners: Vec<String>,
    pub update_frequency: UpdateFrequency,
    pub share_class: AccessClass,
    pub open_class: AccessClass,
    pub acquisition_mode: AcquisitionMode,
    /// Where and how it is stored (system, database, location).
    pub storage: String,
    pub grade: SecurityGrade,
    /// Why a class was restricted, required when a change restricts one.
    #[serde(default)]
    pub restriction_reason: Option<String>,
    /// Required when "not open" becomes open.
    #[serde(default)]
    pub opening_basis: Option<OpeningBasis>,
}

/// One problem with submitted metadata, for the validation error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub problem: String,
    pub basis: Option<&'static str>,
}

impl EntryMetadata {
    /// The entry's level: its most sensitive field (1 when it has none).
    pub fn level(&self) -> u8 {
        self.fields.iter().map(|f| f.sensitivity).max().unwrap_or(1)
    }

    /// Checks the metadata on its own and, for a change, against the published version.
    pub fn check(&self, published: Option<&EntryMetadata>) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut p = |field: &str, problem: &str, basis: Option<&'static str>| {
            out.push(Problem { field: field.into(), problem: problem.into(), basis })
        };
        for (field, value, max) in [
            ("name", &self.name, 200),
            ("description", &self.description, 5000),
            ("source", &self.source, 2000),
            ("storage", &self.storage, 1000),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                p(field, &format!("required, at most {max} characters"), None);
            }
        }
        if self.industry.parse::<IndustryCode>().is_err() {
            p("industry", "not a GB/T 4754-2017 code (section letter, optional division/group/class)", None);
        }
        if self.region.len() != 6 || !self.region.bytes().all(|b| b.is_ascii_digit()) {
            p("region", "a 6-digit GB/T 2260 division code", None);
        }
        if self.fields.is_empty() {
            p("fields", "list at least one field of the structure", None);
        }
        let mut names = std::collections::HashSet::new();
        for (i, f) in self.fields.iter().enumerate() {
            if f.name.trim().is_empty() || !names.insert(f.name.trim().to_string()) {
                p(&format!("fields[{i}].name"), "required and unique", None);
            }
            if !(1..=4).contains(&f.sensitivity) {
                p(&format!("fields[{i}].sensitivity"), "a level from 1 to 4", None);
            }
            if f.pii.is_some() && f.sensitivity < 3 {
                p(&format!("fields[{i}].sensitivity"), "personal information is at least level 3 (sensitive)", None);
            }
        }
        if self.grade == SecurityGrade::Core && self.open_class != AccessClass::NotAllowed {
            p("open_class", "core data (GB/T 43697) is never opened", Some("WH §23"));
        }
        if let Some(old) = published {
            let restricted = self.share_class > old.share_class || self.open_class > old.open_class;
            if restricted && self.restriction_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                p("restriction_reason", "a restricted class needs a reason for the authority", Some("WH §17"));
            }
            if old.open_class == AccessClass::NotAllowed && self.open_class != AccessClass::NotAllowed {
                match &self.opening_basis {
                    Some(b) if matches!(b.kind.as_str(), "anonymisation" | "consent") => {}
                    _ => p(
                        "opening_basis",
                        "not-open data opens only after anonymisation or with the right holders' consent, recorded",
                        Some("WH §23"),
                    ),
                }
            }
        }
        out
    }

    /// True when this version restricts a class compared with `old`.
    pub fn restricts(&self, old: &EntryMetadata) -> bool {
        self.share_class > old.share_class || self.open_class > old.open_class
    }
}

named_enum!(
    EntryState, "catalogue entry state" {
        Draft => "draft",
        UnderReview => "under_review",
        Published => "published",
        ChangeUnderReview => "change_under_review",
        Retired => "retired",
    }
);

impl EntryState {
    /// True while a published version is public: published, or published with a change under
    /// review (the published version stays public until the change is approved).
    pub fn is_public(&self) -> bool {
        matches!(self, EntryState::Published | EntryState::ChangeUnderReview)
    }
}

/// The workflow facts of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub state: EntryState,
    pub submitted_on: Option<NaiveDate>,
    /// When the resource itself changed (WH §10: submit the change within 15 working days).
    pub changed_on: Option<NaiveDate>,
    pub has_pending: bool,
    pub ever_published: bool,
}

/// Commands on an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryCommand {
    /// The holder edits the draft or the pending change.
    Edit,
    Submit,
    Approve,
    Reject,
    Retire,
}

impl EntryCommand {
    pub fn name(&self) -> &'static str {
        match self {
            EntryCommand::Edit => "edit",
            EntryCommand::Submit => "submit",
            EntryCommand::Approve => "approve",
            EntryCommand::Reject => "reject",
            EntryCommand::Retire => "retire",
        }
    }
}

impl Entry {
    pub fn new() -> Self {
        Self {
            state: EntryState::Draft,
            submitted_on: None,
            changed_on: None,
            has_pending: true,
            ever_published: false,
        }
    }

    /// The authority's review deadline while a version is under review (WH §10: 2 working days).
    pub fn timer(&self, cal: &WorkingCalendar, rules: &profile::Catalogue) -> Result<Option<Timer>, CoreError> {
        match (self.state, self.submitted_on) {
            (EntryState::UnderReview | EntryState::ChangeUnderReview, Some(on)) => Ok(Some(Timer {
                due_on: cal.add_working_days(on, rules.change_review_days)?,
                awaiting: "authority",
                expiry: Expiry::Escalate,
            })),
            _ => Ok(None),
        }
    }

    /// The last day a change to the resource may be submitted on time.
    pub fn change_due(
        &self,
        cal: &WorkingCalendar,
        rules: &profile::Catalogue,
    ) -> Result<Option<NaiveDate>, CoreError> {
        self.changed_on.map(|d| cal.add_working_days(d, rules.change_submit_days)).transpose()
    }

    pub fn allowed_actions(&self, holder: bool, authority: bool) -> Vec<&'static str> {
        use EntryState as S;
        let mut out = Vec::new();
        if holder {
            match self.state {
                S::Draft => out.extend(["edit", "submit"]),
                S::Published => out.extend(["edit", "retire"]),
                _ => {}
            }
            if self.state == S::Published && self.has_pending {
                out.push("submit");
            }
        }
        if authority && matches!(self.state, S::UnderReview | S::ChangeUnderReview) {
            out.extend(["approve", "reject"]);
        }
        out
    }

    pub fn apply(
        &self,
        command: EntryCommand,
        today: NaiveDate,
        cal: &WorkingCalendar,
        rules: &profile::Catalogue,
    ) -> Result<Step<Entry>, WorkflowError> {
        use EntryState as S;
        let mut next = self.clone();
        let not_allowed = || WorkflowError::NotAllowed {
            action: command.name().into(),
            state: self.state.as_str(),
            basis: Some("WH §10".into()),
        };
        let event = match (command, self.state) {
            (EntryCommand::Edit, S::Draft) => "catalogue.edited",
            (EntryCommand::Edit, S::Published) => {
                next.has_pending = true;
                "catalogue.change_drafted"
            }
            (EntryCommand::Submit, S::Draft) => {
                next.state = S::UnderReview;
                next.submitted_on = Some(today);
                "catalogue.submitted"
            }
            (EntryCommand::Submit, S::Published) if self.has_pending => {
                next.state = S::ChangeUnderReview;
                next.submitted_on = Some(today);
                "catalogue.change_submitted"
            }
            (EntryCommand::Approve, S::UnderReview | S::ChangeUnderReview) => {
                next.state = S::Published;
                next.has_pending = false;
                next.ever_published = true;
                next.changed_on = None;
                "catalogue.published"
            }
            (EntryCommand::Reject, S::UnderReview) => {
                next.state = S::Draft;
                "catalogue.rejected"
            }
            (EntryCommand::Reject, S::ChangeUnderReview) => {
                // The published version stays; the change goes back to the holder.
                next.state = S::Published;
                "catalogue.change_rejected"
            }
            (EntryCommand::Retire, S::Published) => {
                next.state = S::Retired;
                "catalogue.retired"
            }
            _ => return Err(not_allowed()),
        };
        let timer = next.timer(cal, rules)?;
        Ok(Step { object: next, timer, event })
    }
}

impl Default for Entry {
    fn default() -> Self {
        Self::new()
    }
}

/// Why an entry cannot be authorized for operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAuthorizable {
    #[error("the entry is not published in the catalogue")]
    NotInCatalogue,
    #[error("the entry's open class is 'not allowed'")]
    NotOpen,
}

/// WX §2, YXO §18: only published entries whose open class is not "not allowed" may ever be
/// requested for authorized operation. The sandbox calls this before granting anything.
pub fn authorizable(state: EntryState, published: Option<&EntryMetadata>) -> Result<(), NotAuthorizable> {
    let Some(meta) = published.filter(|_| state.is_public()) else {
        return Err(NotAuthorizable::NotInCatalogue);
    };
    if meta.open_class == AccessClass::NotAllowed {
        return Err(NotAuthorizable::NotOpen);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) fn sample() -> EntryMetadata {
    EntryMetadata {
        name: "企业登记信息".into(),
        description: "市场主体登记、变更、注销信息".into(),
        tags: vec!["市场监管".into()],
        industry: "S92".into(),
        scenarios: vec!["普惠金融".into()],
        source: "市场监督管理局登记系统".into(),
        compliance_proof: None,
        fields: vec![
            FieldSpec {
                name: "uscc".into(),
                data_type: FieldType::String,
                format: "GB 32100".into(),
                description: "统一社会信用代码".into(),
                sensitivity: 1,
                pii: None,
            },
            FieldSpec {
                name: "legal_rep_id".into(),
                data_type: FieldType::String,
                format: "GB 11643".into(),
                description: "法定代表人身份证号".into(),
                sensitivity: 4,
                pii: Some(PiiType::ResidentId),
            },
        ],
        records: 1_200_000,
        bytes: 0,
        region: "320200".into(),
        co_owners: vec![],
        update_frequency: UpdateFrequency::Daily,
        share_class: AccessClass::Unconditional,
        open_class: AccessClass::Conditional,
        acquisition_mode: AcquisitionMode::AuthorizedOperation,
        storage: "政务云数据库".into(),
        grade: SecurityGrade::General,
        restriction_reason: None,
        opening_basis: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::PolicyProfile;

    #[test]
    fn a_valid_entry_has_no_problems_and_its_level_is_its_most_sensitive_field() {
        let m = sample();
        assert!(m.check(None).is_empty(), "{:?}", m.check(None));
        assert_eq!(m.level(), 4);
    }

    #[test]
    fn restricting_a_class_needs_a_reason_and_opening_needs_a_basis() {
        let old = sample();
        let mut new = old.clone();
        new.share_class = AccessClass::Conditional;
        let problems = new.check(Some(&old));
        assert!(problems.iter().any(|p| p.field == "restriction_reason" && p.basis == Some("WH §17")));
        assert!(new.restricts(&old));
        new.restriction_reason = Some("涉及个人信息".into());
        assert!(new.check(Some(&old)).is_empty());

        let mut closed = old.clone();
        closed.open_class = AccessClass::NotAllowed;
        let mut reopened = closed.clone();
        reopened.open_class = AccessClass::Conditional;
        let problems = reopened.check(Some(&closed));
        assert!(problems.iter().any(|p| p.field == "opening_basis" && p.basis == Some("WH §23")));
        reopened.opening_basis = Some(OpeningBasis { kind: "anonymisation".into(), attachment_id: "a".into() });
        assert!(reopened.check(Some(&closed)).is_empty());
    }

    #[test]
    fn personal_information_is_sensitive_and_core_data_is_never_open() {
        let mut m = sample();
        m.fields[1].sensitivity = 2;
        m.grade = SecurityGrade::Core;
        let fields: Vec<_> = m.check(None).into_iter().map(|p| p.field).collect();
        assert!(fields.contains(&"fields[1].sensitivity".to_string()));
        assert!(fields.contains(&"open_class".to_string()));
    }

    #[test]
    fn review_deadline_and_publication() {
        let cal = WorkingCalendar::shipped().unwrap();
        let rules = PolicyProfile::builtin("weihai").unwrap().catalogue;
        let e = Entry::new();
        let s = e.apply(EntryCommand::Submit, "2026-09-30".parse().unwrap(), &cal, &rules).unwrap();
        assert_eq!(s.timer.unwrap().due_on, "2026-10-09".parse().unwrap(), "2 working days over National Day");
        let p = s.object.apply(EntryCommand::Approve, "2026-10-08".parse().unwrap(), &cal, &rules).unwrap();
        assert_eq!(p.object.state, EntryState::Published);
        assert!(p.timer.is_none());
        assert_eq!(p.object.allowed_actions(true, true), vec!["edit", "retire"]);
        assert!(p.object.apply(EntryCommand::Approve, "2026-10-08".parse().unwrap(), &cal, &rules).is_err());
    }

    #[test]
    fn only_published_open_entries_are_authorizable() {
        let m = sample();
        assert_eq!(authorizable(EntryState::Draft, Some(&m)), Err(NotAuthorizable::NotInCatalogue));
        assert_eq!(authorizable(EntryState::Published, None), Err(NotAuthorizable::NotInCatalogue));
        assert!(authorizable(EntryState::Published, Some(&m)).is_ok());
        let mut closed = m.clone();
        closed.open_class = AccessClass::NotAllowed;
        assert_eq!(authorizable(EntryState::Published, Some(&closed)), Err(NotAuthorizable::NotOpen));
        assert_eq!(authorizable(EntryState::Retired, Some(&m)), Err(NotAuthorizable::NotInCatalogue));
    }
}
