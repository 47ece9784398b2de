//! Operators and authorization (SPEC §3; WX §7–§11, JS §7–§12, YXO §12–§19): programmes
//! (实施方案), eligibility of applicants, the agreement's term and renewal window, and the
//! standing of an authorized organisation (suspended with a rectification deadline, or
//! terminated). Pure rules; the server persists and audits them.

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::profile;

/// WX §8, YXO §12: how broadly data is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorizationMode {
    Comprehensive,
    Domain,
    Scenario,
}

/// The shares of revenue (percent) between the data's owner, the operator and processors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevenueSplit {
    pub owner: u8,
    pub operator: u8,
    pub processor: u8,
}

/// YXO §14: the necessity and feasibility argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feasibility {
    pub lifecycle_services: String,
    pub social_demand: String,
    pub market_size: String,
    pub expected_outcomes: String,
    pub benefits: String,
    pub risk_control: String,
}

/// A programme's content: the fields of YXO §13.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammeContent {
    pub name: String,
    /// Who may operate: the criteria applicants are checked against.
    pub operator_criteria: String,
    pub mode: AuthorizationMode,
    /// Catalogue entries in scope; each must be authorizable (WX §2, YXO §18).
    pub data_scope: Vec<String>,
    pub term_years: u32,
    /// Products for public governance and welfare (conditionally free, YXO §27).
    #[serde(default)]
    pub public_products: Vec<String>,
    /// Products for industry (priced under government guidance).
    #[serde(default)]
    pub industry_products: Vec<String>,
    pub cost_accounting: String,
    pub revenue_split: RevenueSplit,
    pub security_measures: String,
    pub evaluation_rules: String,
    pub exit_arrangements: String,
    pub feasibility: Feasibility,
}

/// One problem with submitted content or an application, with the article behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    pub rule: &'static str,
    pub field: &'static str,
    pub problem: String,
    pub basis: Option<String>,
}

impl ProgrammeContent {
    /// Checks the content on its own; the data scope's entries are checked by the caller,
    /// who can read the catalogue.
    pub fn check(&self, rules: &profile::Agreement) -> Vec<Failed> {
        let mut out = Vec::new();
        let mut fail = |rule, field, problem: String, basis: Option<&str>| {
            out.push(Failed { rule, field, problem, basis: basis.map(str::to_string) })
        };
        for (field, value) in [
            ("name", &self.name),
            ("operator_criteria", &self.operator_criteria),
            ("cost_accounting", &self.cost_accounting),
            ("security_measures", &self.security_measures),
            ("evaluation_rules", &self.evaluation_rules),
            ("exit_arrangements", &self.exit_arrangements),
            ("feasibility.lifecycle_services", &self.feasibility.lifecycle_services),
            ("feasibility.social_demand", &self.feasibility.social_demand),
            ("feasibility.market_size", &self.feasibility.market_size),
            ("feasibility.expected_outcomes", &self.feasibility.expected_outcomes),
            ("feasibility.benefits", &self.feasibility.benefits),
            ("feasibility.risk_control", &self.feasibility.risk_control),
        ] {
            if value.trim().is_empty() {
                fail("content", field, "required (YXO §13, §14)".into(), Some("YXO §13"));
            }
        }
        if self.data_scope.is_empty() {
            fail("content", "data_scope", "name at least one catalogue entry".into(), Some("YXO §13"));
        }
        if self.public_products.is_empty() && self.industry_products.is_empty() {
            fail("content", "products", "list the products, public-welfare and industry".into(), Some("YXO §13"));
        }
        let split = &self.revenue_split;
        if u32::from(split.owner) + u32::from(split.operator) + u32::from(split.processor) != 100 {
            fail("content", "revenue_split", "the shares must add up to 100".into(), Some("YXO §13"));
        }
        if self.term_years == 0 || self.term_years > rules.term_max_years {
            fail("term", "term_years", format!("from 1 to {} years under this profile", rules.term_max_years), None);
        }
        out
    }
}

/// Where a programme stands (YXO §15–§16): approved by the implementing agency, then the
/// authority with the collective decision record (三重一大); an approved programme never
/// changes, a material change is a new version approved again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgrammeState {
    Draft,
    AgencyReview,
    AuthorityReview,
    Approved,
    Superseded,
}

impl ProgrammeState {
    pub fn as_str(&self) -> &'static str {
        match self {
            ProgrammeState::Draft => "draft",
            ProgrammeState::AgencyReview => "agency_review",
            ProgrammeState::AuthorityReview => "authority_review",
            ProgrammeState::Approved => "approved",
            ProgrammeState::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => ProgrammeState::Draft,
            "agency_review" => ProgrammeState::AgencyReview,
            "authority_review" => ProgrammeState::AuthorityReview,
            "approved" => ProgrammeState::Approved,
            "superseded" => ProgrammeState::Superseded,
            _ => return None,
        })
    }

    /// The state after `action`, or `None` when the action does not apply here.
    pub fn after(&self, action: &str) -> Option<ProgrammeState> {
        use ProgrammeState as S;
        Some(match (self, action) {
            (S::Draft, "submit") => S::AgencyReview,
            (S::AgencyReview, "approve") => S::AuthorityReview,
            (S::AuthorityReview, "approve") => S::Approved,
            (S::AgencyReview | S::AuthorityReview, "reject") => S::Draft,
            _ => return None,
        })
    }
}

/// What an applicant declares (JS §12, WX §7), and what the platform knows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declarations {
    /// The named data-security officer (数据安全负责人).
    pub security_officer: String,
    /// Experience developing and running systems at MLPS level 3 (等保三级).
    pub mlps_level3_experience: bool,
    /// The last network or data security incident, if any.
    #[serde(default)]
    pub last_security_incident: Option<NaiveDate>,
    /// Any major violation of law on record.
    pub major_violations: bool,
}

/// What the authority's lists and records say about the applicant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    pub dishonest_debtor: bool,
    pub major_tax_violation: bool,
    /// When an authorization of this organisation was last revoked for violations.
    pub last_revocation: Option<NaiveDate>,
}

fn years_before(date: NaiveDate, years: u32) -> Option<NaiveDate> {
    date.checked_sub_months(Months::new(years.checked_mul(12)?))
}

/// Every eligibility rule the applicant fails, each with its article; empty when eligible.
pub fn eligibility(
    d: &Declarations,
    s: &Standing,
    today: NaiveDate,
    rules: &profile::Operators,
    citation: impl Fn(&str) -> Option<String>,
) -> Vec<Failed> {
    let eligibility_basis = citation("operators.eligibility");
    let mut out = Vec::new();
    let mut fail = |rule, field, problem: &str, basis: Option<String>| {
        out.push(Failed { rule, field, problem: problem.into(), basis })
    };
    if s.dishonest_debtor {
        fail(
            "dishonest_debtor",
            "organisation",
            "listed as a dishonest judgment debtor (失信被执行人)",
            eligibility_basis.clone(),
        );
    }
    if s.major_tax_violation {
        fail("major_tax_violation", "organisation", "listed in a major tax violation case", eligibility_basis.clone());
    }
    if d.major_violations {
        fail(
            "major_violations",
            "major_violations",
            "a major violation of law is on record",
            eligibility_basis.clone(),
        );
    }
    if d.security_officer.trim().is_empty() {
        fail("security_officer", "security_officer", "name the data-security officer", eligibility_basis.clone());
    }
    if !d.mlps_level3_experience {
        fail(
            "mlps_level3",
            "mlps_level3_experience",
            "MLPS level-3 development and operation experience is required",
            eligibility_basis.clone(),
        );
    }
    if let (Some(incident), Some(since)) = (d.last_security_incident, years_before(today, rules.incident_free_years)) {
        if incident > since {
            fail(
                "security_incident",
                "last_security_incident",
                &format!("a security incident within the last {} years", rules.incident_free_years),
                citation("operators.incident_free_years"),
            );
        }
    }
    if let (Some(revoked), Some(since)) = (s.last_revocation, years_before(today, rules.revoked_bar_years)) {
        if revoked > since {
            fail(
                "revocation_bar",
                "organisation",
                &format!("an authorization was revoked within the last {} years", rules.revoked_bar_years),
                citation("operators.revoked_bar_years"),
            );
        }
    }
    out
}

/// The last day of an agreement of `years` starting `from`.
pub fn term_end(from: NaiveDate, years: u32) -> Option<NaiveDate> {
    from.checked_add_months(Months::new(years.checked_mul(12)?))?.pred_opt()
}

/// WX §10: renewal (re-application) is possible only in the months before expiry.
pub fn renewal_opens(valid_until: NaiveDate, rules: &profile::Agreement) -> Option<NaiveDate> {
    valid_until.checked_sub_months(Months::new(rules.reapply_months_before_expiry))?.succ_opt()
}

pub fn in_renewal_window(today: NaiveDate, valid_until: NaiveDate, rules: &profile::Agreement) -> bool {
    renewal_opens(valid_until, rules).is_some_and(|open| today >= open && today <= valid_until)
}

/// An authorized organisation's standing (WX §10, YXO §35, JS §23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgStatus {
    Active,
    /// Access stopped until the authority accepts the rectification.
    Suspended,
    /// Authorization ended; barred from applying for the profile's barring period.
    Terminated,
}

impl OrgStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrgStatus::Active => "active",
            OrgStatus::Suspended => "suspended",
            OrgStatus::Terminated => "terminated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => OrgStatus::Active,
            "suspended" => OrgStatus::Suspended,
            "terminated" => OrgStatus::Terminated,
            _ => return None,
        })
    }
}

/// An annual evaluation grade (WX §29). Operators are graded excellent / good / pass / poor;
/// processors pass / fail (CS §19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Excellent,
    Good,
    Pass,
    Poor,
    Fail,
}

impl Grade {
    pub fn as_str(&self) -> &'static str {
        match self {
            Grade::Excellent => "excellent",
            Grade::Good => "good",
            Grade::Pass => "pass",
            Grade::Poor => "poor",
            Grade::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "excellent" => Grade::Excellent,
            "good" => Grade::Good,
            "pass" => Grade::Pass,
            "poor" => Grade::Poor,
            "fail" => Grade::Fail,
            _ => return None,
        })
    }

    /// Poor for an operator, fail for a processor.
    pub fn is_bad(&self) -> bool {
        matches!(self, Grade::Poor | Grade::Fail)
    }
}

/// How many of the most recent consecutive years ending at `year` are bad, given `(year, grade)`
/// pairs in any order. A missing year breaks the run: consecutive means consecutive years.
pub fn consecutive_bad(grades: &[(i32, Grade)], year: i32) -> u32 {
    let mut n = 0;
    let mut y = year;
    while let Some((_, g)) = grades.iter().find(|(gy, _)| *gy == y) {
        if !g.is_bad() {
            break;
        }
        n += 1;
        y -= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::PolicyProfile;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn declarations() -> Declarations {
        Declarations {
            security_officer: "王安全".into(),
            mlps_level3_experience: true,
            last_security_incident: None,
            major_violations: false,
        }
    }

    #[test]
    fn an_eligible_applicant_fails_no_rule_and_a_barred_one_fails_with_its_article() {
        let p = PolicyProfile::builtin("wuxi").unwrap();
        let cite = |k: &str| p.citation(k).map(str::to_string);
        let today = d("2026-10-12");
        assert!(eligibility(&declarations(), &Standing::default(), today, &p.operators, cite).is_empty());
        let barred = Standing { last_revocation: Some(d("2024-03-01")), ..Default::default() };
        let failed = eligibility(&declarations(), &barred, today, &p.operators, cite);
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].rule, "revocation_bar");
        assert_eq!(failed[0].basis.as_deref(), Some("WX §10"));
        // Barred for 3 years: a revocation on 2023-10-11 no longer counts on 2026-10-12.
        let old = Standing { last_revocation: Some(d("2023-10-11")), ..Default::default() };
        assert!(eligibility(&declarations(), &old, today, &p.operators, cite).is_empty());
        let mut bad = declarations();
        bad.security_officer = " ".into();
        bad.mlps_level3_experience = false;
        bad.last_security_incident = Some(d("2025-01-01"));
        let listed = Standing { dishonest_debtor: true, major_tax_violation: true, ..Default::default() };
        let rules: Vec<_> = eligibility(&bad, &listed, today, &p.operators, cite).iter().map(|f| f.rule).collect();
        assert_eq!(
            rules,
            vec!["dishonest_debtor", "major_tax_violation", "security_officer", "mlps_level3", "security_incident"]
        );
    }

    #[test]
    fn agreement_terms_and_the_renewal_window_follow_the_profile() {
        let wuxi = PolicyProfile::builtin("wuxi").unwrap().agreement;
        let yuxi = PolicyProfile::builtin("yuxi").unwrap().agreement;
        assert_eq!((wuxi.term_max_years, yuxi.term_max_years), (2, 5));
        let until = term_end(d("2026-11-01"), 2).unwrap();
        assert_eq!(until, d("2028-10-31"));
        assert_eq!(renewal_opens(until, &wuxi), Some(d("2028-08-01")));
        assert!(!in_renewal_window(d("2028-06-30"), until, &wuxi), "4 months before expiry");
        assert!(in_renewal_window(d("2028-08-31"), until, &wuxi), "2 months before expiry");
        assert!(!in_renewal_window(d("2028-11-01"), until, &wuxi));
    }

    #[test]
    fn two_consecutive_bad_years_count_and_a_gap_or_good_year_breaks_the_run() {
        let g = [(2026, Grade::Poor), (2027, Grade::Poor), (2024, Grade::Poor)];
        assert_eq!(consecutive_bad(&g, 2027), 2);
        assert_eq!(consecutive_bad(&[(2025, Grade::Poor), (2027, Grade::Poor)], 2027), 1, "2026 missing");
        assert_eq!(consecutive_bad(&[(2026, Grade::Good), (2027, Grade::Fail)], 2027), 1);
        assert_eq!(consecutive_bad(&[(2027, Grade::Pass)], 2027), 0);
    }

    #[test]
    fn programme_states_move_only_forward_through_both_approvals() {
        let s = ProgrammeState::Draft;
        assert_eq!(s.after("approve"), None);
        let s = s.after("submit").unwrap();
        let s = s.after("approve").unwrap();
        assert_eq!(s, ProgrammeState::AuthorityReview);
        assert_eq!(s.after("reject"), Some(ProgrammeState::Draft));
        let s = s.after("approve").unwrap();
        assert_eq!(s, ProgrammeState::Approved);
        assert_eq!(s.after("submit"), None, "an approved programme is immutable");
    }
}
