//! Policy profiles: every number the regulations set (deadlines in working days, terms,
//! validity, retention, thresholds) and which organisation kinds must approve each workflow,
//! one TOML file per jurisdiction under `profiles/` (keys in `profiles/README.md`). Workflows
//! read numbers only from here, so a city's measures become a data file, not code.
//!
//! A profile is validated when it loads; an error names the file, the dotted key (e.g.
//! `registration.acceptance_days`) and the problem. A `PolicyProfile` obtained from one of the
//! loaders is valid; code that builds or edits one by hand should call [`PolicyProfile::validate`].
//!
//! Conventions: `*_days` are working days unless the key says `_calendar_days`; `*_years`,
//! `*_months`, `*_minutes`, `*_hours` are what they say. `[citations.<section>]` maps a key of
//! that section, or a rule name from [`RULES`], to the article it comes from, which the server
//! puts into a refusal as `"basis"`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::roles::OrgKind;
use crate::CoreError;

const BUILTIN: [(&str, &str); 6] = [
    ("national", include_str!("../../../profiles/national.toml")),
    ("wuxi", include_str!("../../../profiles/wuxi.toml")),
    ("jiangsu-zone", include_str!("../../../profiles/jiangsu-zone.toml")),
    ("yuxi", include_str!("../../../profiles/yuxi.toml")),
    ("weihai", include_str!("../../../profiles/weihai.toml")),
    ("changsha", include_str!("../../../profiles/changsha.toml")),
];

/// Names of the built-in profiles, for `shuyu profile list`.
pub const BUILTIN_NAMES: [&str; 6] = ["national", "wuxi", "jiangsu-zone", "yuxi", "weihai", "changsha"];

/// Rules that refuse requests without being a number: `(section, rule, what it forbids)`. A
/// profile cites them as `[citations.<section>] <rule> = "…"`.
pub const RULES: [(&str, &str, &str); 16] = [
    ("catalogue", "outside_catalogue", "data outside the catalogue, or not open, is never authorized for operation"),
    ("catalogue", "class_restriction", "restricting a share or open class needs the authority's approval"),
    ("sharing", "purpose_limit", "shared data is used only for the stated purpose"),
    ("registration", "refusal", "grounds on which a registration is refused"),
    ("registration", "withdrawal", "an application may be withdrawn only until publicity starts"),
    ("registration", "objection", "registration pauses during an objection; an upheld objection ends it"),
    ("registration", "revocation", "a registration obtained falsely or misused is revoked"),
    ("operators", "eligibility", "conditions an applicant operator must meet"),
    ("operators", "suspension", "suspension with a rectification deadline, then termination"),
    ("agreement", "exit", "on exit: close access, keep logs, delete and hand over data"),
    ("sandbox", "sensitive_never_plain", "columns at the sensitive level or above are never granted in plain"),
    ("sandbox", "minimum_necessity", "a data request asks only for what its scenario needs"),
    ("sandbox", "raw_data_stays", "raw data never leaves the secure domain"),
    ("products", "reviewed_scenarios_only", "a product is used only in the scenarios it was reviewed for"),
    ("supervision", "kill_switch", "all use stops at once when a risk is found or an agreement is suspended"),
    ("audit", "traceability", "every action by every person is recorded and traceable"),
];

/// Organisation kinds that are parties to the requests they would review, so never reviewers.
const NOT_REVIEWERS: [OrgKind; 3] = [OrgKind::Operator, OrgKind::Processor, OrgKind::Consumer];

/// A jurisdiction's numbers and reviewers. Field docs give units; the profile files give each
/// value's source article.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyProfile {
    /// Short lowercase name, e.g. `wuxi`.
    pub name: String,
    pub display_name_zh: String,
    pub display_name_en: String,
    /// Title of the regulation(s) the profile follows.
    pub basis: String,
    pub catalogue: Catalogue,
    pub sharing: Sharing,
    pub registration: Registration,
    pub certificate: Certificate,
    pub operators: Operators,
    pub agreement: Agreement,
    pub sandbox: Sandbox,
    pub privacy: Privacy,
    pub products: Products,
    pub supervision: Supervision,
    pub security: Security,
    pub audit: Audit,
    /// Early-warning thresholds (JS §24, WH §33); Shuyu defaults where a profile is silent.
    #[serde(default)]
    pub monitoring: Monitoring,
    /// Data quality checks and their score (JS §20, YXO §10, §23, WX §13).
    #[serde(default)]
    pub quality: Quality,
    /// Section → (key or rule → article), e.g. `registration` → `acceptance_days` → `YXR §16`.
    #[serde(default)]
    pub citations: BTreeMap<String, BTreeMap<String, String>>,
    /// Where the profile was loaded from, for error messages and `profile show`.
    #[serde(skip)]
    origin: String,
}

/// SPEC §1: catalogue entries and data quality.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    /// Working days for a holder to submit a changed entry.
    pub change_submit_days: u32,
    /// Working days for the authority to review and publish a change.
    pub change_review_days: u32,
    /// Working days for a holder to answer a quality issue or objection.
    pub quality_answer_days: u32,
    /// Working days for a holder to decide an application for conditional open data.
    pub open_application_days: u32,
    /// Who approves an entry before it is published.
    pub reviewers: Vec<OrgKind>,
}

/// SPEC §1.4: sharing of conditional entries between agencies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sharing {
    pub authority_review_days: u32,
    pub provider_review_days: u32,
    pub reviewers: Vec<OrgKind>,
}

/// SPEC §2: registration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registration {
    /// Accept or refuse an application.
    pub acceptance_days: u32,
    /// Formal review, counted from acceptance.
    pub review_days: u32,
    /// The applicant supplements incomplete material; the acceptance clock then restarts.
    pub supplement_days: u32,
    pub publicity_days: u32,
    /// The registry forwards an objection to the applicant.
    pub objection_forward_days: u32,
    /// The applicant answers an objection.
    pub objection_answer_days: u32,
    /// Cancellation completed, counted from acceptance.
    pub cancellation_days: u32,
    /// First registration due after products are first delivered.
    pub first_registration_days: u32,
    pub reviewers: Vec<OrgKind>,
}

/// SPEC §2.7: registration certificates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// Validity, capped by the operation term when that is shorter.
    pub validity_years: u32,
    /// Calendar days before expiry in which renewal is requested.
    pub renewal_window_calendar_days: u32,
    pub renewal_max_years: u32,
    /// GB/T 2260 administrative division code of the registry's region: the first part of
    /// every certificate code, so codes stay unique when synchronised upward.
    pub region_code: String,
}

/// SPEC §3.3, §3.6: selecting and evaluating operators and processors.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operators {
    /// Working days the selection result is publicised.
    pub publicity_days: u32,
    /// Years without a network or data security incident before applying.
    pub incident_free_years: u32,
    /// Years an organisation whose authorization was revoked may not apply.
    pub revoked_bar_years: u32,
    /// Years of audit and financial reports an application includes.
    pub financial_report_years: u32,
    /// Consecutive poor annual grades that terminate an authorization.
    pub poor_grades_to_terminate: u32,
    /// Consecutive failed yearly evaluations that disqualify a processor.
    pub processor_fails_to_disqualify: u32,
    /// Processors are selected again every this many years.
    pub processor_selection_years: u32,
    pub application_reviewers: Vec<OrgKind>,
}

/// SPEC §3.4: the authorization agreement.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    pub term_max_years: u32,
    /// Months before expiry by which the operator re-applies. SPEC §3.4 reads it as "at least
    /// this long before expiry"; WX §10's wording (期限届满前3个月内) is a window that opens
    /// then, so a workflow should accept re-applications from this point on.
    pub reapply_months_before_expiry: u32,
}

/// SPEC §4: data requests, grants and exports.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sandbox {
    /// Security level (1–4) from which a column is sensitive: never granted in plain.
    pub sensitive_level: u8,
    pub request_review_days: u32,
    /// Who approves a data request, each with a reason ("one application, one list, one approval").
    pub request_reviewers: Vec<OrgKind>,
    /// Who approves importing an operator's own social data into the domain.
    pub social_data_reviewers: Vec<OrgKind>,
    pub export_review_days: u32,
    pub export_reviewers: Vec<OrgKind>,
    /// Most rows one export may carry.
    pub max_export_rows: u64,
    /// Longest a workspace query may run before it is stopped.
    pub query_seconds: u64,
    /// Memory one query may use; past it the query fails cleanly (nothing spills to disk).
    pub query_memory_mb: u64,
    /// Rows a query shows; results stay in the workspace as scratch tables.
    pub query_display_rows: u64,
}

/// SPEC §4.5: privacy computing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    /// Smallest group an aggregate result may describe.
    pub min_group_size: u32,
    /// Differential-privacy budget (ε) per grant.
    pub epsilon_per_grant: f64,
}

/// SPEC §5: products.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Products {
    pub review_days: u32,
    /// Who reviews a product's security and compliance before publication.
    pub reviewers: Vec<OrgKind>,
    /// Who approves a consumer's application for a product: the operator, and the authority
    /// where a deployment requires it.
    #[serde(default = "operator_only")]
    pub consumer_approvers: Vec<OrgKind>,
    /// Months after first publication during which prices are trial prices (SPEC §7.3).
    #[serde(default = "twelve")]
    pub trial_months: u32,
}

fn operator_only() -> Vec<OrgKind> {
    vec![OrgKind::Operator]
}

fn twelve() -> u32 {
    12
}

/// SPEC §3.6, §6, §7.4: reporting and evaluation cycles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Supervision {
    /// Months between an operator's operation reports.
    pub operation_report_months: u32,
    /// Months between evaluations of an operator.
    pub evaluation_months: u32,
    /// Months between the authority's security inspections.
    pub inspection_months: u32,
    /// Months between a processor's security reports.
    pub processor_security_report_months: u32,
    /// Annual disclosure of authorizations and prices is due by the end of this month (1–12).
    pub disclosure_due_month: u32,
}

/// Sign-in rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// Consecutive failed sign-ins that lock an account.
    pub lockout_threshold: u32,
    pub lockout_minutes: u32,
    pub session_hours: u32,
}

/// SPEC §6.4, §7.7: the audit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Audit {
    pub retention_years: u32,
    /// A signed tree head at least this often while the log grows.
    pub tree_head_interval_minutes: u32,
}

/// JS §24, WH §33: the thresholds of the monitoring rules over the audit stream. The seeds name
/// the risks but no numbers, so every number here is a Shuyu default a deployment may tune.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// Days of a consumer's calls that make its usual rate.
    pub baseline_days: u32,
    /// Minutes of history a consumer needs before its rate can be called inflated.
    pub min_history_minutes: u32,
    /// Calls in one minute above this multiple of the usual per-minute rate are inflated.
    pub inflated_rate_factor: u32,
    /// …and only when the minute holds at least this many calls.
    pub inflated_min_calls_per_minute: u32,
    /// Identical calls (same contract, same parameters) within `repeated_window_minutes`.
    pub repeated_calls: u32,
    pub repeated_window_minutes: u32,
    /// Queries or calls with empty results in one hour, per workspace or contract (idle runs).
    pub idle_runs_per_hour: u32,
    /// Rows returned to one organisation in one hour (bulk extraction).
    pub bulk_rows_per_hour: u64,
    /// Export requests by one operator in one hour.
    pub exports_per_hour: u32,
    /// Queries of the same shape (literals aside) in one workspace within `near_identical_window_minutes`.
    pub near_identical_queries: u32,
    pub near_identical_window_minutes: u32,
    /// Working hours, China time, as whole hours [start, end); non-working days are off hours.
    pub working_hours_start: u32,
    pub working_hours_end: u32,
    /// Data accesses a person makes from known networks before a new network is remarkable.
    pub new_network_min_history: u32,
    /// Failed sign-ins from one address within `failed_login_window_minutes`.
    pub failed_logins: u32,
    pub failed_login_window_minutes: u32,
    /// One alert per rule and subject within this many minutes; later evidence joins it.
    pub cooldown_minutes: u32,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            baseline_days: 7,
            min_history_minutes: 60,
            inflated_rate_factor: 10,
            inflated_min_calls_per_minute: 10,
            repeated_calls: 100,
            repeated_window_minutes: 10,
            idle_runs_per_hour: 100,
            bulk_rows_per_hour: 100_000,
            exports_per_hour: 10,
            near_identical_queries: 20,
            near_identical_window_minutes: 10,
            working_hours_start: 8,
            working_hours_end: 20,
            new_network_min_history: 20,
            failed_logins: 20,
            failed_login_window_minutes: 5,
            cooldown_minutes: 60,
        }
    }
}

/// JS §20, YXO §10, §23, WX §13: when an ingested version's quality needs its holder's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quality {
    /// A dimension scoring below this (0–100) opens a finding for the holding department.
    pub finding_below: u32,
    /// A version later than its update frequency by more than this many days is untimely.
    pub late_grace_days: u32,
}

impl Default for Quality {
    fn default() -> Self {
        Self { finding_below: 95, late_grace_days: 2 }
    }
}

fn profile_err(file: &str, key: &str, problem: impl Into<String>) -> CoreError {
    CoreError::Profile { file: file.to_string(), key: key.to_string(), problem: problem.into() }
}

impl PolicyProfile {
    /// The names of the profiles compiled into the binary.
    pub fn builtin_names() -> &'static [&'static str] {
        &BUILTIN_NAMES
    }

    /// A built-in profile by name, e.g. `wuxi`.
    pub fn builtin(name: &str) -> Result<Self, CoreError> {
        let (_, text) = BUILTIN.iter().find(|(n, _)| *n == name).ok_or_else(|| CoreError::UnknownName {
            kind: "built-in policy profile (national, wuxi, jiangsu-zone, yuxi, weihai, changsha)",
            value: name.chars().take(64).collect(),
        })?;
        Self::from_toml_str(text, &format!("profiles/{name}.toml"))
    }

    /// A deployment's own profile file.
    pub fn from_file(path: &Path) -> Result<Self, CoreError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| profile_err(&shown, "(file)", e.to_string()))?;
        Self::from_toml_str(&text, &shown)
    }

    /// Parses and validates `text`; `origin` (a file name) appears in every error.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, CoreError> {
        let mut profile: PolicyProfile = toml::from_str(text).map_err(|e| toml_error(text, origin, &e))?;
        profile.origin = origin.to_string();
        profile.validate()?;
        Ok(profile)
    }

    /// Where the profile was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The article behind a key or rule, e.g. `citation("registration.acceptance_days")` →
    /// `Some("YXR §16")`; `None` when the profile cites nothing (a platform default).
    pub fn citation(&self, key: &str) -> Option<&str> {
        let (section, entry) = key.split_once('.')?;
        self.citations.get(section)?.get(entry).map(String::as_str)
    }

    /// Checks every value's range, every reviewer list and every citation key.
    pub fn validate(&self) -> Result<(), CoreError> {
        let v = Validator { origin: &self.origin };
        for (key, value) in [
            ("name", &self.name),
            ("display_name_zh", &self.display_name_zh),
            ("display_name_en", &self.display_name_en),
            ("basis", &self.basis),
        ] {
            if value.trim().is_empty() {
                return Err(v.err(key, "must not be empty"));
            }
        }
        let name_ok = self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(v.err("name", format!("{:?} must be lowercase letters, digits and hyphens", self.name)));
        }

        let c = &self.catalogue;
        v.days("catalogue.change_submit_days", c.change_submit_days)?;
        v.days("catalogue.change_review_days", c.change_review_days)?;
        v.days("catalogue.quality_answer_days", c.quality_answer_days)?;
        v.days("catalogue.open_application_days", c.open_application_days)?;
        v.reviewers("catalogue.reviewers", &c.reviewers)?;

        let s = &self.sharing;
        v.days("sharing.authority_review_days", s.authority_review_days)?;
        v.days("sharing.provider_review_days", s.provider_review_days)?;
        v.reviewers("sharing.reviewers", &s.reviewers)?;

        let r = &self.registration;
        v.days("registration.acceptance_days", r.acceptance_days)?;
        v.days("registration.review_days", r.review_days)?;
        v.days("registration.supplement_days", r.supplement_days)?;
        v.days("registration.publicity_days", r.publicity_days)?;
        v.days("registration.objection_forward_days", r.objection_forward_days)?;
        v.days("registration.objection_answer_days", r.objection_answer_days)?;
        v.days("registration.cancellation_days", r.cancellation_days)?;
        v.days("registration.first_registration_days", r.first_registration_days)?;
        v.reviewers("registration.reviewers", &r.reviewers)?;

        let cert = &self.certificate;
        v.years("certificate.validity_years", cert.validity_years, "a certificate's validity")?;
        v.range(
            "certificate.renewal_window_calendar_days",
            cert.renewal_window_calendar_days.into(),
            1,
            365,
            "a window in calendar days",
        )?;
        v.years("certificate.renewal_max_years", cert.renewal_max_years, "a renewal")?;
        if cert.region_code.len() != 6 || !cert.region_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(v.err("certificate.region_code", "must be a 6-digit GB/T 2260 division code"));
        }

        let o = &self.operators;
        v.days("operators.publicity_days", o.publicity_days)?;
        v.years("operators.incident_free_years", o.incident_free_years, "a look-back")?;
        v.years("operators.revoked_bar_years", o.revoked_bar_years, "a bar")?;
        v.range("operators.financial_report_years", o.financial_report_years.into(), 1, 5, "years of reports")?;
        v.range("operators.poor_grades_to_terminate", o.poor_grades_to_terminate.into(), 1, 10, "a count of grades")?;
        v.range(
            "operators.processor_fails_to_disqualify",
            o.processor_fails_to_disqualify.into(),
            1,
            10,
            "a count of evaluations",
        )?;
        v.years("operators.processor_selection_years", o.processor_selection_years, "a selection cycle")?;
        v.reviewers("operators.application_reviewers", &o.application_reviewers)?;

        let a = &self.agreement;
        v.years("agreement.term_max_years", a.term_max_years, "an agreement term")?;
        v.range("agreement.reapply_months_before_expiry", a.reapply_months_before_expiry.into(), 1, 24, "months")?;

        let sb = &self.sandbox;
        v.range("sandbox.sensitive_level", sb.sensitive_level.into(), 1, 4, "a security level")?;
        v.days("sandbox.request_review_days", sb.request_review_days)?;
        v.reviewers("sandbox.request_reviewers", &sb.request_reviewers)?;
        v.reviewers("sandbox.social_data_reviewers", &sb.social_data_reviewers)?;
        v.days("sandbox.export_review_days", sb.export_review_days)?;
        v.reviewers("sandbox.export_reviewers", &sb.export_reviewers)?;
        v.range("sandbox.max_export_rows", sb.max_export_rows, 1, 10_000_000, "rows")?;
        v.range("sandbox.query_seconds", sb.query_seconds, 1, 86_400, "seconds")?;
        v.range("sandbox.query_memory_mb", sb.query_memory_mb, 64, 1_048_576, "MiB")?;
        v.range("sandbox.query_display_rows", sb.query_display_rows, 1, 1_000_000, "rows")?;

        let p = &self.privacy;
        // 1 would let an aggregate describe a single person.
        v.range("privacy.min_group_size", p.min_group_size.into(), 2, 10_000, "a group size")?;
        let eps = p.epsilon_per_grant;
        if !(eps.is_finite() && eps > 0.0 && eps <= 100.0) {
            return Err(v.err(
                "privacy.epsilon_per_grant",
                format!("{eps} is out of range: a budget is above 0 and at most 100"),
            ));
        }

        v.days("products.review_days", self.products.review_days)?;
        v.reviewers("products.reviewers", &self.products.reviewers)?;

        let sv = &self.supervision;
        v.range("supervision.operation_report_months", sv.operation_report_months.into(), 1, 12, "months")?;
        v.range("supervision.evaluation_months", sv.evaluation_months.into(), 1, 24, "months")?;
        v.range("supervision.inspection_months", sv.inspection_months.into(), 1, 24, "months")?;
        v.range(
            "supervision.processor_security_report_months",
            sv.processor_security_report_months.into(),
            1,
            12,
            "months",
        )?;
        v.range("supervision.disclosure_due_month", sv.disclosure_due_month.into(), 1, 12, "a month")?;

        let sec = &self.security;
        v.range("security.lockout_threshold", sec.lockout_threshold.into(), 1, 100, "failed sign-ins")?;
        v.range("security.lockout_minutes", sec.lockout_minutes.into(), 1, 7 * 24 * 60, "minutes")?;
        v.range("security.session_hours", sec.session_hours.into(), 1, 7 * 24, "hours")?;

        // SPEC §7.7: the seeds' 2 years (YXO §19) is stricter than the Cybersecurity Law's
        // 6 months and wins, so no profile may go below it.
        v.range(
            "audit.retention_years",
            self.audit.retention_years.into(),
            2,
            100,
            "years of log retention (at least 2, YXO §19)",
        )?;
        v.range("audit.tree_head_interval_minutes", self.audit.tree_head_interval_minutes.into(), 1, 1440, "minutes")?;

        let m = &self.monitoring;
        v.range("monitoring.baseline_days", m.baseline_days.into(), 1, 90, "days")?;
        v.range("monitoring.min_history_minutes", m.min_history_minutes.into(), 1, 7 * 24 * 60, "minutes")?;
        v.range("monitoring.inflated_rate_factor", m.inflated_rate_factor.into(), 2, 1000, "a multiple")?;
        v.range(
            "monitoring.inflated_min_calls_per_minute",
            m.inflated_min_calls_per_minute.into(),
            1,
            1_000_000,
            "calls",
        )?;
        v.range("monitoring.repeated_calls", m.repeated_calls.into(), 2, 1_000_000, "calls")?;
        v.range("monitoring.repeated_window_minutes", m.repeated_window_minutes.into(), 1, 1440, "minutes")?;
        v.range("monitoring.idle_runs_per_hour", m.idle_runs_per_hour.into(), 1, 1_000_000, "runs")?;
        v.range("monitoring.bulk_rows_per_hour", m.bulk_rows_per_hour, 1, u64::MAX, "rows")?;
        v.range("monitoring.exports_per_hour", m.exports_per_hour.into(), 1, 10_000, "exports")?;
        v.range("monitoring.near_identical_queries", m.near_identical_queries.into(), 2, 1_000_000, "queries")?;
        v.range(
            "monitoring.near_identical_window_minutes",
            m.near_identical_window_minutes.into(),
            1,
            1440,
            "minutes",
        )?;
        v.range("monitoring.working_hours_start", m.working_hours_start.into(), 0, 23, "an hour")?;
        v.range(
            "monitoring.working_hours_end",
            m.working_hours_end.into(),
            u64::from(m.working_hours_start) + 1,
            24,
            "an hour after the start",
        )?;
        v.range("monitoring.new_network_min_history", m.new_network_min_history.into(), 1, 1_000_000, "accesses")?;
        v.range("monitoring.failed_logins", m.failed_logins.into(), 2, 1_000_000, "failed sign-ins")?;
        v.range("monitoring.failed_login_window_minutes", m.failed_login_window_minutes.into(), 1, 1440, "minutes")?;
        v.range("monitoring.cooldown_minutes", m.cooldown_minutes.into(), 1, 7 * 24 * 60, "minutes")?;
        v.range("quality.finding_below", self.quality.finding_below.into(), 1, 100, "a score out of 100")?;
        v.range("quality.late_grace_days", self.quality.late_grace_days.into(), 0, 365, "days")?;

        self.validate_citations(&v)
    }

    fn validate_citations(&self, v: &Validator<'_>) -> Result<(), CoreError> {
        let sections = self.section_keys().map_err(|e| v.err("citations", e))?;
        for (section, entries) in &self.citations {
            let Some(keys) = sections.get(section.as_str()) else {
                let known: Vec<&str> = sections.keys().copied().collect();
                return Err(v.err(
                    &format!("citations.{section}"),
                    format!("not a section; expected one of {}", known.join(", ")),
                ));
            };
            for (entry, article) in entries {
                let key = format!("citations.{section}.{entry}");
                let is_rule = RULES.iter().any(|(s, r, _)| s == section && r == entry);
                if !keys.contains(entry.as_str()) && !is_rule {
                    return Err(v.err(&key, format!("[{section}] has no key or rule {entry:?}")));
                }
                if article.trim().is_empty() || article.chars().count() > 200 {
                    return Err(v.err(&key, "a citation is 1 to 200 characters, e.g. \"YXR §16\""));
                }
            }
        }
        Ok(())
    }

    /// Each section's key names, read from the serialised form so they cannot drift from the
    /// structs.
    fn section_keys(&self) -> Result<BTreeMap<&'static str, BTreeSet<String>>, String> {
        fn keys<T: Serialize>(section: &T) -> Result<BTreeSet<String>, String> {
            match toml::Value::try_from(section).map_err(|e| e.to_string())? {
                toml::Value::Table(t) => Ok(t.keys().cloned().collect()),
                _ => Err("a section is not a table".into()),
            }
        }
        Ok(BTreeMap::from([
            ("catalogue", keys(&self.catalogue)?),
            ("sharing", keys(&self.sharing)?),
            ("registration", keys(&self.registration)?),
            ("certificate", keys(&self.certificate)?),
            ("operators", keys(&self.operators)?),
            ("agreement", keys(&self.agreement)?),
            ("sandbox", keys(&self.sandbox)?),
            ("privacy", keys(&self.privacy)?),
            ("products", keys(&self.products)?),
            ("supervision", keys(&self.supervision)?),
            ("security", keys(&self.security)?),
            ("audit", keys(&self.audit)?),
            ("monitoring", keys(&self.monitoring)?),
            ("quality", keys(&self.quality)?),
        ]))
    }

    /// The effective profile as TOML, for `shuyu profile show` and the console. It loads
    /// again to the same profile.
    pub fn to_toml_string(&self) -> String {
        match toml::to_string_pretty(self) {
            Ok(body) => format!("# Effective policy profile {} (from {})\n{body}", self.name, self.origin),
            // Every field is a string, number, list or table, so this is not expected.
            Err(e) => format!("# the profile {} cannot be shown as TOML: {e}\n", self.name),
        }
    }
}

impl fmt::Display for PolicyProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_toml_string())
    }
}

struct Validator<'a> {
    origin: &'a str,
}

impl Validator<'_> {
    fn err(&self, key: &str, problem: impl Into<String>) -> CoreError {
        profile_err(self.origin, key, problem)
    }

    fn range(&self, key: &str, value: u64, lo: u64, hi: u64, what: &str) -> Result<(), CoreError> {
        if (lo..=hi).contains(&value) {
            Ok(())
        } else {
            Err(self.err(key, format!("{value} is out of range: {what} must be {lo} to {hi}")))
        }
    }

    /// A deadline in working days: 0 would be due before anyone could act, and more than a
    /// year is a typo.
    fn days(&self, key: &str, value: u32) -> Result<(), CoreError> {
        self.range(key, value.into(), 1, 365, "a deadline in working days")
    }

    fn years(&self, key: &str, value: u32, what: &str) -> Result<(), CoreError> {
        self.range(key, value.into(), 1, 10, &format!("{what} in years"))
    }

    fn reviewers(&self, key: &str, kinds: &[OrgKind]) -> Result<(), CoreError> {
        if kinds.is_empty() {
            return Err(self.err(key, "name at least one reviewing organisation kind"));
        }
        if let Some(party) = kinds.iter().find(|k| NOT_REVIEWERS.contains(k)) {
            return Err(self.err(key, format!("{party} cannot review: it is a party to what is reviewed")));
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = kinds.iter().find(|k| !seen.insert(**k)) {
            return Err(self.err(key, format!("{dup} is listed twice")));
        }
        Ok(())
    }
}

// --- Locating toml's errors ------------------------------------------------------------------

/// toml reports a byte span; people need the dotted key. This finds, for an offset, the line,
/// the table in effect and the key whose value is there, by a small scan of the text that
/// understands headers, `key = value` lines, strings, comments and values spread over lines
/// (enough for profile files; not a full TOML parser).
#[derive(Debug, PartialEq)]
struct Location {
    line: usize,
    table: String,
    key: Option<String>,
    in_header: bool,
}

/// Removes quotes from each segment of a dotted key: `"a".b` → `a.b`.
fn normalise_key(raw: &str) -> String {
    raw.split('.').map(|part| part.trim().trim_matches('"').trim_matches('\'')).collect::<Vec<_>>().join(".")
}

/// The part of a line before a comment, and the change in bracket depth it makes, ignoring
/// anything inside strings.
fn scan_line(line: &str) -> (&str, i32) {
    let mut depth = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => return (&line[..i], depth),
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                _ => {}
            },
        }
    }
    (line, depth)
}

/// The byte index of the first `=` outside strings.
fn key_value_split(code: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in code.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '=') => return Some(i),
            _ => {}
        }
    }
    None
}

fn locate(text: &str, offset: usize) -> Location {
    let mut table = String::new();
    let mut open: Option<(String, i32)> = None;
    let mut start = 0;
    let mut line_no = 0;
    for line in text.split_inclusive('\n') {
        line_no += 1;
        let end = start + line.len();
        let here = offset >= start && (offset < end || end == text.len());
        start = end;
        let (code, delta) = scan_line(line);
        if let Some((key, depth)) = open.take() {
            let depth = depth + delta;
            if here {
                return Location { line: line_no, table, key: Some(key), in_header: false };
            }
            if depth > 0 {
                open = Some((key, depth));
            }
            continue;
        }
        let trimmed = code.trim();
        if trimmed.starts_with('[') {
            table = normalise_key(trimmed.trim_start_matches('[').trim_end_matches(']'));
            if here {
                return Location { line: line_no, table, key: None, in_header: true };
            }
        } else if let Some(eq) = key_value_split(code) {
            let key = normalise_key(&code[..eq]);
            if here {
                return Location { line: line_no, table, key: Some(key), in_header: false };
            }
            if delta > 0 {
                open = Some((key, delta));
            }
        } else if here {
            return Location { line: line_no, table, key: None, in_header: false };
        }
    }
    Location { line: line_no.max(1), table, key: None, in_header: false }
}

fn join_key(table: &str, key: &str) -> String {
    match (table.is_empty(), key.is_empty()) {
        (true, true) => "(top level)".to_string(),
        (true, false) => key.to_string(),
        (false, true) => table.to_string(),
        (false, false) => format!("{table}.{key}"),
    }
}

/// The name between the first pair of backticks in one of serde's messages.
fn backticked(message: &str) -> Option<&str> {
    let rest = message.split_once('`')?.1;
    Some(rest.split_once('`')?.0)
}

/// Turns toml's error into one naming the file, the dotted key and the line.
fn toml_error(text: &str, origin: &str, e: &toml::de::Error) -> CoreError {
    let message = e.message().trim();
    let Some(span) = e.span() else {
        return profile_err(origin, "(top level)", message);
    };
    let at = locate(text, span.start);
    let key = if message.starts_with("missing field") || message.starts_with("unknown field") {
        let field = backticked(message).unwrap_or_default();
        if message.starts_with("unknown field") && at.in_header {
            // An unknown table: its header names it.
            at.table.clone()
        } else {
            join_key(&at.table, field)
        }
    } else {
        join_key(&at.table, at.key.as_deref().unwrap_or_default())
    };
    profile_err(origin, &key, format!("{message} (line {})", at.line))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wuxi_text() -> &'static str {
        BUILTIN[1].1
    }

    /// Loads `text` expecting failure; returns (key, problem).
    fn refused(text: &str) -> (String, String) {
        match PolicyProfile::from_toml_str(text, "mine.toml") {
            Err(CoreError::Profile { file, key, problem }) => {
                assert_eq!(file, "mine.toml");
                (key, problem)
            }
            other => panic!("expected a profile error, got {other:?}"),
        }
    }

    /// Replaces exactly one occurrence of `from`, so a test cannot silently edit nothing.
    fn edit(text: &str, from: &str, to: &str) -> String {
        assert_eq!(text.matches(from).count(), 1, "{from:?} should occur once");
        text.replacen(from, to, 1)
    }

    #[test]
    fn every_builtin_loads_and_shows_round_trip() {
        assert_eq!(PolicyProfile::builtin_names().len(), BUILTIN.len());
        for (name, _) in BUILTIN {
            assert!(PolicyProfile::builtin_names().contains(&name));
            let p = PolicyProfile::builtin(name).unwrap();
            assert_eq!(p.name, name);
            assert_eq!(p.origin(), format!("profiles/{name}.toml"));
            let shown = p.to_toml_string();
            let again = PolicyProfile::from_toml_str(&shown, "shown").unwrap();
            assert_eq!(
                again.to_toml_string().lines().skip(1).collect::<Vec<_>>(),
                shown.lines().skip(1).collect::<Vec<_>>()
            );
            assert_eq!(format!("{p}"), shown);
        }
    }

    /// Every number SPEC.md puts in brackets has a citation in every built-in profile.
    #[test]
    fn bracketed_numbers_are_cited_everywhere() {
        let cited = [
            "catalogue.change_submit_days",
            "catalogue.change_review_days",
            "sharing.authority_review_days",
            "sharing.provider_review_days",
            "registration.acceptance_days",
            "registration.review_days",
            "registration.supplement_days",
            "registration.publicity_days",
            "registration.objection_forward_days",
            "registration.objection_answer_days",
            "registration.cancellation_days",
            "registration.first_registration_days",
            "certificate.validity_years",
            "certificate.renewal_window_calendar_days",
            "certificate.renewal_max_years",
            "operators.incident_free_years",
            "operators.revoked_bar_years",
            "agreement.term_max_years",
            "agreement.reapply_months_before_expiry",
            "audit.retention_years",
            "registration.refusal",
            "catalogue.outside_catalogue",
            "sandbox.sensitive_never_plain",
        ];
        for name in BUILTIN_NAMES {
            let p = PolicyProfile::builtin(name).unwrap();
            for key in cited {
                assert!(p.citation(key).is_some(), "{name} does not cite {key}");
            }
        }
    }

    #[test]
    fn cities_differ_where_their_measures_do() {
        let p = |n: &str| PolicyProfile::builtin(n).unwrap();
        let term = |n: &str| p(n).agreement.term_max_years;
        assert_eq!((term("wuxi"), term("changsha"), term("jiangsu-zone"), term("yuxi")), (2, 3, 5, 5));
        assert_eq!(p("wuxi").citation("agreement.term_max_years"), Some("WX §11"));
        assert_eq!(p("changsha").citation("agreement.term_max_years"), Some("CS §22"));
        assert_eq!(p("yuxi").citation("registration.acceptance_days"), Some("YXR §16"));
        assert_eq!(p("yuxi").registration.acceptance_days, 3);
        assert_eq!(p("weihai").catalogue.change_submit_days, 15);
        assert_eq!(
            p("jiangsu-zone").sandbox.request_reviewers,
            vec![OrgKind::IndustryDepartment, OrgKind::SourceDepartment]
        );
        assert_eq!(p("yuxi").sandbox.request_reviewers, vec![OrgKind::Authority, OrgKind::IndustryDepartment]);
        assert_eq!(p("wuxi").products.reviewers, vec![OrgKind::SecurityAuditor, OrgKind::Authority]);
        assert_eq!(p("changsha").supervision.processor_security_report_months, 3);
        for name in BUILTIN_NAMES {
            assert_eq!(p(name).audit.retention_years, 2, "{name}");
            assert_eq!(p(name).registration.reviewers, vec![OrgKind::Registry], "{name}");
        }
        assert_eq!(p("national").citation("registration.nonexistent"), None);
        assert_eq!(p("national").citation("nodot"), None);
    }

    #[test]
    fn unknown_builtin_names_list_the_choices() {
        let e = PolicyProfile::builtin("atlantis").unwrap_err().to_string();
        for name in BUILTIN_NAMES {
            assert!(e.contains(name), "{e}");
        }
    }

    #[test]
    fn out_of_range_values_name_file_and_key() {
        let cases = [
            ("acceptance_days = 3", "acceptance_days = 0", "registration.acceptance_days", "0 is out of range"),
            ("review_days = 20", "review_days = 366", "registration.review_days", "366 is out of range"),
            ("term_max_years = 2", "term_max_years = 11", "agreement.term_max_years", "1 to 10"),
            ("lockout_threshold = 5", "lockout_threshold = 0", "security.lockout_threshold", "0 is out of range"),
            ("retention_years = 2", "retention_years = 1", "audit.retention_years", "at least 2"),
            ("sensitive_level = 3", "sensitive_level = 5", "sandbox.sensitive_level", "1 to 4"),
            ("min_group_size = 10", "min_group_size = 1", "privacy.min_group_size", "2 to 10000"),
            ("epsilon_per_grant = 1.0", "epsilon_per_grant = 0.0", "privacy.epsilon_per_grant", "above 0"),
            ("disclosure_due_month = 3", "disclosure_due_month = 13", "supervision.disclosure_due_month", "1 to 12"),
            ("name = \"wuxi\"", "name = \"Wu Xi\"", "name", "lowercase"),
        ];
        for (from, to, key, problem) in cases {
            let (k, p) = refused(&edit(wuxi_text(), from, to));
            assert_eq!(k, key);
            assert!(p.contains(problem), "{key}: {p}");
        }
        let e =
            PolicyProfile::from_toml_str(&edit(wuxi_text(), "acceptance_days = 3", "acceptance_days = 0"), "mine.toml")
                .unwrap_err()
                .to_string();
        assert!(e.starts_with("policy profile mine.toml: registration.acceptance_days: "), "{e}");
    }

    #[test]
    fn reviewer_lists_are_checked() {
        let cases = [
            (
                "reviewers = [\"registry\"]",
                "reviewers = [\"wizard\"]",
                "registration.reviewers",
                "unknown variant `wizard`",
            ),
            ("reviewers = [\"registry\"]", "reviewers = []", "registration.reviewers", "at least one"),
            (
                "reviewers = [\"registry\"]",
                "reviewers = [\"registry\", \"registry\"]",
                "registration.reviewers",
                "listed twice",
            ),
            (
                "reviewers = [\"registry\"]",
                "reviewers = [\"operator\"]",
                "registration.reviewers",
                "operator cannot review",
            ),
            (
                "reviewers = [\"registry\"]",
                "reviewers = [\n  \"registry\",\n  \"consumer\",\n]",
                "registration.reviewers",
                "consumer cannot review",
            ),
            (
                "reviewers = [\"registry\"]",
                "reviewers = [\n  \"registry\",\n  \"nobody\",\n]",
                "registration.reviewers",
                "line",
            ),
        ];
        for (from, to, key, problem) in cases {
            let (k, p) = refused(&edit(wuxi_text(), from, to));
            assert_eq!(k, key, "{to}");
            assert!(p.contains(problem), "{key}: {p}");
        }
    }

    #[test]
    fn unknown_missing_and_mistyped_keys_are_named() {
        let cases = [
            (
                "acceptance_days = 3",
                "acceptance_days = 3\naccept_days = 4",
                "registration.accept_days",
                "unknown field",
            ),
            ("acceptance_days = 3", "acceptance_days = \"three\"", "registration.acceptance_days", "invalid type"),
            ("acceptance_days = 3", "acceptance_days = -3", "registration.acceptance_days", "expected u32"),
            ("acceptance_days = 3\n", "", "registration.acceptance_days", "missing field"),
            ("[audit]", "[audits]", "audits", "unknown field"),
            ("display_name_en = \"Wuxi\"\n", "", "display_name_en", "missing field"),
            ("acceptance_days = 3", "acceptance_days = 3 3", "registration.acceptance_days", "line"),
        ];
        for (from, to, key, problem) in cases {
            let (k, p) = refused(&edit(wuxi_text(), from, to));
            assert_eq!(k, key, "{to}");
            assert!(p.contains(problem) && p.contains("(line "), "{key}: {p}");
        }
    }

    #[test]
    fn citations_must_point_at_real_keys() {
        let (k, p) = refused(&format!("{}\nacceptance_dayz = \"YXR §16\"\n", wuxi_text().trim_end()));
        // The last table in the file is [citations.audit]: the typo lands there.
        assert_eq!(k, "citations.audit.acceptance_dayz");
        assert!(p.contains("no key or rule"), "{p}");
        let (k, _) = refused(&format!("{}\n[citations.nowhere]\nx = \"WX §1\"\n", wuxi_text()));
        assert_eq!(k, "citations.nowhere");
        let (k, p) =
            refused(&edit(wuxi_text(), "reviewed_scenarios_only = \"WX §17\"", "reviewed_scenarios_only = \" \""));
        assert_eq!(k, "citations.products.reviewed_scenarios_only");
        assert!(p.contains("1 to 200"), "{p}");
    }

    #[test]
    fn files_are_read_and_named() {
        let path = std::env::temp_dir().join(format!("shuyu-profile-{}.toml", std::process::id()));
        std::fs::write(&path, edit(wuxi_text(), "session_hours = 8", "session_hours = 0")).unwrap();
        let e = PolicyProfile::from_file(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()) && e.contains("security.session_hours"), "{e}");
        std::fs::write(&path, wuxi_text()).unwrap();
        assert_eq!(PolicyProfile::from_file(&path).unwrap().origin(), path.display().to_string());
        std::fs::remove_file(&path).unwrap();
        let e = PolicyProfile::from_file(Path::new("/nonexistent/p.toml")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/p.toml"), "{e}");
    }

    #[test]
    fn locating_keys() {
        let text = "a = 1\n[t]\nb = [\n  \"x\", # [\n  \"y\",\n]\nc = \"=#[\" # c\n[\"q\".r]\nd = 2\n";
        let at = |needle: &str| locate(text, text.find(needle).unwrap());
        assert_eq!(at("1").key.as_deref(), Some("a"));
        assert_eq!(at("\"y\"").key.as_deref(), Some("b"));
        assert_eq!(at("\"y\"").line, 5);
        assert_eq!(at("\"y\"").table, "t");
        assert_eq!(at("\"=#[\"").key.as_deref(), Some("c"));
        assert_eq!(at("2").table, "q.r");
        assert!(at("[t]").in_header);
    }
}
