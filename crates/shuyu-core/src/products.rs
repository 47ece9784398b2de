//! Public data products (公共数据产品), WX §3, §17, JS §19, WH §26: what a product declares, the
//! versions it goes through, the review before use, and the typed parameters of a generated
//! data interface (接口生成).
//!
//! ```text
//! draft ──submit──▶ in_review ──every reviewer passes──▶ approved ──publish (certificate)──▶ published
//!                      └──any reviewer fails──▶ rejected          published ──new version published──▶ superseded
//! draft | approved | published ──withdraw──▶ withdrawn
//! ```
//!
//! A version is immutable once submitted: a change to its query or data is a new version that is
//! reviewed again (WX §17).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::roles::OrgKind;

named_enum!(
    /// WX §3: the forms a product takes.
    ProductKind, "product kind" {
        Dataset => "dataset",
        DataInterface => "data_interface",
        AlgorithmModel => "algorithm_model",
        DataTool => "data_tool",
        DataApplication => "data_application",
        DataService => "data_service",
        DataReport => "data_report",
    }
);

named_enum!(
    /// Where one version stands.
    VersionState, "product version state" {
        Draft => "draft",
        InReview => "in_review",
        Approved => "approved",
        Rejected => "rejected",
        Published => "published",
        Superseded => "superseded",
        Withdrawn => "withdrawn",
    }
);

named_enum!(
    /// The product as a whole: the authority suspends it (every key stops), the operator withdraws it.
    ProductStatus, "product status" {
        Active => "active",
        Suspended => "suspended",
        Withdrawn => "withdrawn",
    }
);

named_enum!(
    /// WX §23, YXO §27: what a scenario serves decides whether use is paid.
    ScenarioCategory, "scenario category" {
        PublicGovernance => "public_governance",
        PublicWelfare => "public_welfare",
        Industry => "industry",
    }
);

impl ScenarioCategory {
    /// Public governance and public welfare use is free under conditions (有条件无偿使用).
    pub fn is_free(&self) -> bool {
        !matches!(self, ScenarioCategory::Industry)
    }
}

/// One application scenario (应用场景) a product is reviewed for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub category: ScenarioCategory,
}

/// WH §26: the public data a product uses, with its source and the date it was obtained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    pub entry_id: String,
    /// Filled from the catalogue: the resource's name and holder.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub holder: String,
    pub retrieved_on: NaiveDate,
}

named_enum!(
    /// A generated interface's parameter types.
    ParamType, "parameter type" {
        String => "string",
        Integer => "integer",
        Number => "number",
        Date => "date",
        Boolean => "boolean",
    }
);

/// One named, typed parameter of a generated interface. The query names it as `$name`; a call's
/// value is parsed to this type and bound to the plan, never spliced into SQL text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    /// Used when a call leaves the parameter out; also the example value at review.
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub max_length: Option<u32>,
    /// When given, the only values accepted.
    #[serde(default)]
    pub allowed: Vec<String>,
}

/// A parameter's value after parsing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    String(String),
    Integer(i64),
    Number(f64),
    Date(NaiveDate),
    Boolean(bool),
}

/// The query string keys a call may use besides the declared parameters.
pub const PAGING_KEYS: &[&str] = &["offset", "limit"];

/// A generated interface: an approved parameterised query over the workspace's governed tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceSpec {
    #[serde(default)]
    pub sql: String,
    #[serde(default)]
    pub parameters: Vec<ParamSpec>,
    /// The most rows one call can reach, across all its pages.
    pub max_rows: u32,
    /// Rows per page when the call does not ask.
    #[serde(default = "default_page")]
    pub page_size: u32,
}

fn default_page() -> u32 {
    100
}

/// Largest page and result any interface may serve.
pub const MAX_INTERFACE_ROWS: u32 = 10_000;

/// What a version declares (JS §19: pricing basis, scenarios, usage scope; WH §26: sources).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub description: String,
    pub scenarios: Vec<Scenario>,
    pub usage_scope: String,
    pub sources: Vec<DataSource>,
    pub pricing_basis: String,
    /// For data interfaces.
    #[serde(default)]
    pub interface: Option<InterfaceSpec>,
    /// For datasets and reports delivered as files: the approved export they are made of.
    #[serde(default)]
    pub export_id: Option<String>,
    /// For algorithm models: the workspace's model, scored in the domain.
    #[serde(default)]
    pub model: Option<String>,
    /// The processor (数据加工主体) that shares in the revenue (CS §21), if any.
    #[serde(default)]
    pub processor_org: Option<String>,
}

/// One problem with a definition, a review or a call, with the article behind it when there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub en: String,
    pub zh: String,
    pub basis: Option<&'static str>,
}

impl Problem {
    fn new(field: impl Into<String>, en: impl Into<String>, zh: impl Into<String>) -> Self {
        Self { field: field.into(), en: en.into(), zh: zh.into(), basis: None }
    }

    fn cite(mut self, basis: &'static str) -> Self {
        self.basis = Some(basis);
        self
    }
}

fn is_param_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z')) && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_')) && s.len() <= 40
}

impl Definition {
    /// An interface without a query is no interface (a form's empty fields).
    pub fn normalised(mut self) -> Self {
        if self.interface.as_ref().is_some_and(|i| i.sql.trim().is_empty()) {
            self.interface = None;
        }
        self
    }

    /// Checks a definition on its own; what needs the workspace (the query plans, the sources are
    /// granted) is checked by the caller.
    pub fn check(&self, kind: ProductKind) -> Vec<Problem> {
        let mut out = Vec::new();
        for (field, value) in [
            ("description", &self.description),
            ("usage_scope", &self.usage_scope),
            ("pricing_basis", &self.pricing_basis),
        ] {
            if value.trim().is_empty() {
                out.push(Problem::new(field, "required", "必填").cite("JS §19"));
            }
        }
        if self.scenarios.is_empty() {
            out.push(
                Problem::new("scenarios", "name at least one application scenario", "至少填写一个应用场景")
                    .cite("JS §19"),
            );
        }
        let mut seen = Vec::new();
        for (i, s) in self.scenarios.iter().enumerate() {
            let name = s.name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                out.push(Problem::new(format!("scenarios[{i}].name"), "1 to 100 characters", "场景名称为1至100个字符"));
            } else if seen.contains(&name) {
                out.push(Problem::new(format!("scenarios[{i}].name"), "listed twice", "场景重复"));
            }
            seen.push(name);
        }
        if self.sources.is_empty() {
            out.push(
                Problem::new(
                    "sources",
                    "name the public data used and when it was obtained",
                    "须注明公共数据来源和获取日期",
                )
                .cite("WH §26"),
            );
        }
        let needs = |what: &str| {
            Problem::new(what, format!("a {} product needs {what}", kind.as_str()), format!("该类产品须提供{what}"))
        };
        match kind {
            ProductKind::DataInterface if self.interface.is_none() => out.push(needs("interface")),
            ProductKind::AlgorithmModel if self.model.is_none() => out.push(needs("model")),
            ProductKind::Dataset if self.export_id.is_none() && self.interface.is_none() => {
                out.push(needs("export_id"))
            }
            _ => {}
        }
        if let Some(i) = &self.interface {
            out.extend(i.check());
        }
        out
    }

    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name.trim())
    }
}

impl InterfaceSpec {
    fn check(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        if self.sql.trim().is_empty() {
            out.push(Problem::new("interface.sql", "required", "必填"));
        }
        if self.max_rows == 0 || self.max_rows > MAX_INTERFACE_ROWS {
            out.push(Problem::new(
                "interface.max_rows",
                format!("from 1 to {MAX_INTERFACE_ROWS}"),
                format!("须在1至{MAX_INTERFACE_ROWS}之间"),
            ));
        }
        if self.page_size == 0 || self.page_size > self.max_rows.max(1) {
            out.push(Problem::new("interface.page_size", "from 1 to max_rows", "须在1至最大行数之间"));
        }
        let mut names: Vec<&str> = Vec::new();
        for (i, p) in self.parameters.iter().enumerate() {
            let field = format!("interface.parameters[{i}]");
            if !is_param_name(&p.name) || PAGING_KEYS.contains(&p.name.as_str()) {
                out.push(Problem::new(
                    format!("{field}.name"),
                    "lower-case letters, digits and _, starting with a letter; not offset or limit",
                    "须为小写字母、数字和下划线，以字母开头，且不得为 offset、limit",
                ));
            }
            if names.contains(&p.name.as_str()) {
                out.push(Problem::new(format!("{field}.name"), "declared twice", "参数重复"));
            }
            names.push(&p.name);
            if let Some(d) = &p.default {
                if let Err(e) = p.parse(d) {
                    out.push(Problem::new(format!("{field}.default"), e.en, e.zh));
                }
            }
            if p.required && p.default.is_some() {
                out.push(Problem::new(
                    format!("{field}.default"),
                    "a required parameter has no default",
                    "必填参数不设默认值",
                ));
            }
        }
        out
    }

    /// Parses a call's query string: every declared parameter (or its default), nothing
    /// undeclared. Paging keys are the caller's business.
    pub fn bind(&self, query: &BTreeMap<String, String>) -> Result<BTreeMap<String, ParamValue>, Vec<Problem>> {
        let mut problems = Vec::new();
        for k in query.keys() {
            if !PAGING_KEYS.contains(&k.as_str()) && !self.parameters.iter().any(|p| &p.name == k) {
                problems.push(Problem::new(k.clone(), "not a parameter of this interface", "该接口没有此参数"));
            }
        }
        let mut out = BTreeMap::new();
        for p in &self.parameters {
            let raw = query.get(&p.name).or(p.default.as_ref());
            match raw {
                None if p.required => problems.push(Problem::new(p.name.clone(), "required", "必填")),
                None => problems.push(Problem::new(
                    p.name.clone(),
                    "required (the interface gives no default)",
                    "必填（该参数没有默认值）",
                )),
                Some(raw) => match p.parse(raw) {
                    Ok(v) => {
                        out.insert(p.name.clone(), v);
                    }
                    Err(e) => problems.push(e),
                },
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// The values used to try the query at submission: every parameter's default.
    pub fn examples(&self) -> Result<BTreeMap<String, ParamValue>, Vec<Problem>> {
        let missing: Vec<Problem> = self
            .parameters
            .iter()
            .filter(|p| p.default.is_none())
            .map(|p| {
                Problem::new(
                    format!("interface.parameters.{}", p.name),
                    "give an example value as default so the query can be tried at review; a required parameter is tried with it too",
                    "请提供示例值（默认值），以便审核时试运行",
                )
            })
            .collect();
        if !missing.is_empty() {
            return Err(missing);
        }
        self.bind(&BTreeMap::new())
    }
}

impl ParamSpec {
    pub fn parse(&self, raw: &str) -> Result<ParamValue, Problem> {
        let bad = |en: String, zh: String| Problem::new(self.name.clone(), en, zh);
        if !self.allowed.is_empty() && !self.allowed.iter().any(|a| a == raw) {
            return Err(bad(
                format!("one of {}", self.allowed.join(", ")),
                format!("须为以下之一：{}", self.allowed.join("、")),
            ));
        }
        let in_range = |x: f64| -> Result<(), Problem> {
            if self.min.is_some_and(|m| x < m) || self.max.is_some_and(|m| x > m) {
                let (lo, hi) = (self.min.map(|m| m.to_string()), self.max.map(|m| m.to_string()));
                let range = format!("{}..{}", lo.unwrap_or_default(), hi.unwrap_or_default());
                return Err(bad(format!("out of range {range}"), format!("超出范围 {range}")));
            }
            Ok(())
        };
        match self.kind {
            ParamType::String => {
                let max = self.max_length.unwrap_or(200) as usize;
                if raw.chars().count() > max || raw.chars().any(char::is_control) {
                    return Err(bad(
                        format!("at most {max} characters, no control characters"),
                        format!("最多{max}个字符，且不含控制字符"),
                    ));
                }
                Ok(ParamValue::String(raw.to_string()))
            }
            ParamType::Integer => {
                let v: i64 = raw.trim().parse().map_err(|_| bad("an integer".into(), "须为整数".into()))?;
                in_range(v as f64)?;
                Ok(ParamValue::Integer(v))
            }
            ParamType::Number => {
                let v: f64 = raw.trim().parse().map_err(|_| bad("a number".into(), "须为数字".into()))?;
                if !v.is_finite() {
                    return Err(bad("a finite number".into(), "须为有限数字".into()));
                }
                in_range(v)?;
                Ok(ParamValue::Number(v))
            }
            ParamType::Date => NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                .map(ParamValue::Date)
                .map_err(|_| bad("a date as YYYY-MM-DD".into(), "须为日期 YYYY-MM-DD".into())),
            ParamType::Boolean => match raw.trim() {
                "true" => Ok(ParamValue::Boolean(true)),
                "false" => Ok(ParamValue::Boolean(false)),
                _ => Err(bad("true or false".into(), "须为 true 或 false".into())),
            },
        }
    }
}

/// A reviewer's conclusion on one version (WX §17): compliance, security and the scenarios.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub reviewer_kind: OrgKind,
    pub reviewer: String,
    pub passed: bool,
    pub compliance: String,
    pub security: String,
    pub scenario: String,
    /// The derived-data grade the reviewer sets (GB/T 43697 annex I); the strictest stands.
    pub grade: Option<u8>,
    pub reviewed_on: NaiveDate,
}

/// Why a transition is not allowed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    pub action: &'static str,
    pub state: VersionState,
    pub basis: Option<&'static str>,
}

fn not_allowed(action: &'static str, state: VersionState) -> NotAllowed {
    NotAllowed { action, state, basis: None }
}

/// The operator sends a draft to review.
pub fn submit(state: VersionState) -> Result<VersionState, NotAllowed> {
    match state {
        VersionState::Draft => Ok(VersionState::InReview),
        s => Err(not_allowed("submit", s)),
    }
}

/// Adds a review. A failed review rejects the version; once every required reviewer kind has
/// passed it, it is approved. A kind reviews once.
pub fn review(
    state: VersionState,
    reviews: &[Review],
    new: &Review,
    required: &[OrgKind],
) -> Result<VersionState, NotAllowed> {
    if state != VersionState::InReview {
        return Err(not_allowed("review", state));
    }
    if !required.contains(&new.reviewer_kind) || reviews.iter().any(|r| r.reviewer_kind == new.reviewer_kind) {
        return Err(NotAllowed { action: "review", state, basis: Some("WX §17") });
    }
    if !new.passed {
        return Ok(VersionState::Rejected);
    }
    let done =
        required.iter().all(|k| *k == new.reviewer_kind || reviews.iter().any(|r| r.reviewer_kind == *k && r.passed));
    Ok(if done { VersionState::Approved } else { VersionState::InReview })
}

/// Publication needs the review and the registration certificate (YXO §25, WX §21).
pub fn publish(state: VersionState, certificate: Option<&str>) -> Result<VersionState, NotAllowed> {
    match (state, certificate) {
        (VersionState::Approved, Some(_)) => Ok(VersionState::Published),
        (VersionState::Approved, None) => Err(NotAllowed { action: "publish", state, basis: Some("YXO §25") }),
        (s, _) => Err(NotAllowed { action: "publish", state: s, basis: Some("WX §17") }),
    }
}

pub fn withdraw(state: VersionState) -> Result<VersionState, NotAllowed> {
    match state {
        VersionState::Draft | VersionState::Approved | VersionState::Published | VersionState::InReview => {
            Ok(VersionState::Withdrawn)
        }
        s => Err(not_allowed("withdraw", s)),
    }
}

/// The derived-data grade (GB/T 43697 annex I): at least the highest level of what the product
/// reads, raised by any reviewer who grades it stricter (就高从严). Levels: 1 general … 4 core.
pub fn derived_grade(input_level: u8, reviews: &[Review]) -> u8 {
    reviews.iter().filter_map(|r| r.grade).fold(input_level.max(1), u8::max).min(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: ParamType) -> ParamSpec {
        ParamSpec {
            name: "p".into(),
            kind,
            description: String::new(),
            required: true,
            default: None,
            min: Some(0.0),
            max: Some(100.0),
            max_length: Some(4),
            allowed: vec![],
        }
    }

    #[test]
    fn parameters_are_parsed_to_their_types_and_bounds() {
        assert_eq!(spec(ParamType::Integer).parse("42"), Ok(ParamValue::Integer(42)));
        assert!(spec(ParamType::Integer).parse("4.2").is_err());
        assert!(spec(ParamType::Integer).parse("101").is_err());
        assert!(spec(ParamType::Integer).parse("1 OR 1=1").is_err());
        assert!(spec(ParamType::Number).parse("NaN").is_err());
        assert_eq!(
            spec(ParamType::Date).parse("2026-11-23"),
            Ok(ParamValue::Date(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()))
        );
        assert!(spec(ParamType::Date).parse("2026-13-01").is_err());
        assert!(spec(ParamType::String).parse("12345").is_err(), "longer than max_length");
        assert_eq!(spec(ParamType::String).parse("无锡"), Ok(ParamValue::String("无锡".into())));
        assert!(spec(ParamType::Boolean).parse("yes").is_err());
        let mut e = spec(ParamType::String);
        e.allowed = vec!["a".into(), "b".into()];
        assert!(e.parse("c").is_err());
    }

    #[test]
    fn a_call_binds_declared_parameters_only() {
        let i = InterfaceSpec {
            sql: "SELECT 1 WHERE $p > 0".into(),
            parameters: vec![ParamSpec { default: Some("1".into()), required: false, ..spec(ParamType::Integer) }],
            max_rows: 100,
            page_size: 10,
        };
        assert!(i.check().is_empty(), "{:?}", i.check());
        let q = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(i.bind(&q(&[])).unwrap()["p"], ParamValue::Integer(1), "default");
        assert_eq!(i.bind(&q(&[("p", "7"), ("offset", "10")])).unwrap()["p"], ParamValue::Integer(7));
        let e = i.bind(&q(&[("p", "x"), ("q", "1")])).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        let mut bad = i.clone();
        bad.parameters[0].name = "limit".into();
        assert!(!bad.check().is_empty());
    }

    fn r(kind: OrgKind, passed: bool) -> Review {
        Review {
            reviewer_kind: kind,
            reviewer: "u".into(),
            passed,
            compliance: "合规".into(),
            security: "安全".into(),
            scenario: "场景".into(),
            grade: None,
            reviewed_on: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        }
    }

    #[test]
    fn every_required_reviewer_must_pass() {
        let required = [OrgKind::SecurityAuditor, OrgKind::Authority];
        let s = submit(VersionState::Draft).unwrap();
        let first = r(OrgKind::SecurityAuditor, true);
        assert_eq!(review(s, &[], &first, &required), Ok(VersionState::InReview));
        assert!(review(s, std::slice::from_ref(&first), &first, &required).is_err(), "a kind reviews once");
        assert_eq!(
            review(s, std::slice::from_ref(&first), &r(OrgKind::Authority, true), &required),
            Ok(VersionState::Approved)
        );
        assert_eq!(review(s, &[first], &r(OrgKind::Authority, false), &required), Ok(VersionState::Rejected));
        assert!(review(s, &[], &r(OrgKind::Operator, true), &required).is_err());
        assert_eq!(publish(VersionState::Approved, None).unwrap_err().basis, Some("YXO §25"));
        assert_eq!(publish(VersionState::Approved, Some("c")), Ok(VersionState::Published));
        assert!(publish(VersionState::InReview, Some("c")).is_err());
    }

    #[test]
    fn the_strictest_grade_stands() {
        let mut a = r(OrgKind::Authority, true);
        a.grade = Some(3);
        assert_eq!(derived_grade(2, &[a.clone()]), 3);
        a.grade = Some(1);
        assert_eq!(derived_grade(2, &[a]), 2, "a reviewer cannot grade below the inputs");
        assert_eq!(derived_grade(0, &[]), 1);
    }

    #[test]
    fn definitions_name_scenarios_sources_and_pricing_basis() {
        let d = Definition {
            description: "企业信用评分".into(),
            scenarios: vec![],
            usage_scope: String::new(),
            sources: vec![],
            pricing_basis: "成本加合理利润".into(),
            interface: None,
            export_id: None,
            model: None,
            processor_org: None,
        };
        let p = d.check(ProductKind::DataInterface);
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["usage_scope", "scenarios", "sources", "interface"]);
        assert_eq!(p[2].basis, Some("WH §26"));
    }
}
