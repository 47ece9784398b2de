//! Registration (登记) API: applications, the uniform workflow endpoints
//! (`GET …/{id}` with state, deadline and allowed actions; `POST …/{id}/actions/{action}`),
//! objections, statistics for the authority, and the public publicity list and status query.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::certificate::{CertificateCode, SubjectKind};
use shuyu_core::clock::format_instant;
use shuyu_core::ids::{AttachmentId, ObjectionId, RegistrationId};
use shuyu_core::registration::{
    required_materials, CancellationReason, Command, Objection, ObjectionCommand, Party, RefusalGround, Registration,
    RegistrationState, RegistrationType, OPTIONAL_MATERIALS,
};
use shuyu_store::certificates::{self, CertificateStatus};
use shuyu_store::registrations::{self, Material, ObjectionRecord, RegistrationFilter, RegistrationRecord};
use shuyu_store::users::UserRecord;
use shuyu_store::{attachments, organisations, timers};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiPath, ApiQuery};
use crate::registry::{self, OBJECTION, REGISTRATION};
use crate::state::AppState;

fn resource(rec: &RegistrationRecord) -> Resource {
    Resource::owned("Registration", rec.id.to_string(), rec.applicant_org)
}

async fn load(app: &AppState, id: RegistrationId) -> ApiResult<RegistrationRecord> {
    let mut conn = app.store.acquire().await?;
    registrations::get(&mut conn, id).await?.ok_or_else(|| ApiError::not_found("registration"))
}

fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// The parties the caller may act as on this registration, as the policies decide.
fn parties(app: &AppState, caller: &Caller, rec: &RegistrationRecord) -> Vec<Party> {
    let res = resource(rec);
    let mut out = Vec::new();
    if app.authz.authorize(&caller.principal, Action::RegistrationReview, &res).is_ok() {
        out.push(Party::Registry);
    }
    if app.authz.authorize(&caller.principal, Action::RegistrationApplicantAct, &res).is_ok() {
        out.push(Party::Applicant);
    }
    if app.authz.authorize(&caller.principal, Action::RegistrationObject, &res).is_ok() && has_real_name(caller) {
        out.push(Party::RealNamePerson);
    }
    out
}

fn has_real_name(caller: &Caller) -> bool {
    caller.user.as_ref().is_some_and(UserRecord::has_real_name)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectionView {
    pub id: String,
    pub state: String,
    pub objector_name: String,
    pub statement: String,
    #[schema(value_type = Object)]
    pub evidence: Value,
    pub filed_on: String,
    pub forwarded_on: Option<String>,
    pub deadline: Option<String>,
    pub answer: Option<String>,
    pub decision_reason: Option<String>,
    pub overdue_since: Option<String>,
    pub allowed_actions: Vec<String>,
}

/// A registration as its workflow shows it: state, current deadline, and what the caller
/// may do next.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RegistrationView {
    pub id: String,
    /// Given to the applicant only: the public status query code (查询码).
    pub query_code: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject_kind: String,
    pub state: String,
    /// The last day on which the awaited answer is on time.
    pub deadline: Option<String>,
    /// Who the deadline is for: `registry`, `applicant`, `public`.
    pub awaiting: Option<String>,
    pub overdue_since: Option<String>,
    pub allowed_actions: Vec<String>,
    pub applicant_org: String,
    pub certificate_code: Option<String>,
    pub catalogue_entry_id: Option<String>,
    pub subject_name: String,
    pub summary: String,
    pub industry: String,
    pub region: String,
    #[schema(value_type = Object)]
    pub facts: Value,
    #[schema(value_type = Object)]
    pub materials: Value,
    pub missing_materials: Vec<String>,
    /// The single supplement notice's list, once sent.
    pub supplement_notice: Vec<String>,
    pub received_on: String,
    pub accepted_on: Option<String>,
    pub publicity_from: Option<String>,
    pub publicity_until: Option<String>,
    pub decision_ground: Option<String>,
    pub decision_reason: Option<String>,
    pub objections: Vec<ObjectionView>,
    pub created_at: String,
    pub updated_at: String,
}

fn missing_materials(rec: &RegistrationRecord) -> Vec<String> {
    required_materials(rec.workflow.kind)
        .iter()
        .filter(|k| !rec.materials.iter().any(|m| m.key == **k))
        .map(|k| k.to_string())
        .collect()
}

async fn view(app: &AppState, caller: &Caller, rec: &RegistrationRecord) -> ApiResult<RegistrationView> {
    let today = app.clock.today();
    let parties = parties(app, caller, rec);
    let mut allowed: Vec<String> = Vec::new();
    for p in &parties {
        for a in rec.workflow.allowed_actions(*p, today) {
            if !allowed.iter().any(|x| x == a) {
                allowed.push(a.to_string());
            }
        }
    }
    let mut conn = app.store.acquire().await?;
    let objections = registrations::objections(&mut conn, rec.id).await?;
    drop(conn);
    let rules = &app.profile.registration;
    let mut views = Vec::new();
    for o in &objections {
        let mut actions: Vec<String> = Vec::new();
        for p in &parties {
            for a in o.workflow.allowed_actions(*p) {
                actions.push(a.to_string());
                if !allowed.iter().any(|x| x == a) {
                    allowed.push(a.to_string());
                }
            }
        }
        views.push(ObjectionView {
            id: o.id.to_string(),
            state: o.workflow.state.as_str().into(),
            objector_name: o.objector_name.clone(),
            statement: o.statement.clone(),
            evidence: json!(o.evidence),
            filed_on: o.workflow.filed_on.to_string(),
            forwarded_on: o.workflow.forwarded_on.map(|d| d.to_string()),
            deadline: o.workflow.timer(&app.calendar, rules)?.map(|t| t.due_on.to_string()),
            answer: o.answer.clone(),
            decision_reason: o.decision_reason.clone(),
            overdue_since: o.overdue_since.map(|d| d.to_string()),
            allowed_actions: actions,
        });
    }
    let timer = registry::registration_timer(app, rec)?;
    let sees_code = parties.contains(&Party::Applicant) || parties.contains(&Party::Registry);
    Ok(RegistrationView {
        id: rec.id.to_string(),
        query_code: sees_code.then(|| rec.query_code.clone()),
        kind: rec.workflow.kind.as_str().into(),
        subject_kind: rec.subject_kind.as_str().into(),
        state: rec.workflow.state.as_str().into(),
        deadline: timer.map(|t| t.due_on.to_string()),
        awaiting: timer.map(|t| t.awaiting.to_string()),
        overdue_since: rec.overdue_since.map(|d| d.to_string()),
        allowed_actions: allowed,
        applicant_org: rec.applicant_org.to_string(),
        certificate_code: rec.certificate_code.clone(),
        catalogue_entry_id: rec.catalogue_entry_id.clone(),
        subject_name: rec.subject_name.clone(),
        summary: rec.summary.clone(),
        industry: rec.industry.clone(),
        region: rec.region.clone(),
        facts: rec.facts.clone(),
        materials: json!(rec.materials),
        missing_materials: missing_materials(rec),
        supplement_notice: rec.missing.clone(),
        received_on: rec.workflow.received_on.to_string(),
        accepted_on: rec.workflow.accepted_on.map(|d| d.to_string()),
        publicity_from: rec.workflow.publicity_from.map(|d| d.to_string()),
        publicity_until: rec.workflow.publicity_until.map(|d| d.to_string()),
        decision_ground: rec.decision_ground.clone(),
        decision_reason: rec.decision_reason.clone(),
        objections: views,
        created_at: format_instant(rec.created_at),
        updated_at: format_instant(rec.updated_at),
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterialRef {
    /// Which material this is, e.g. `application_form`, `identity_proof`.
    pub key: String,
    pub attachment_id: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRegistration {
    /// `first`, `change`, `correction` or `cancellation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `data_resource` or `product`.
    pub subject_kind: String,
    /// The data name (数据名称) with its theme and purpose.
    pub subject_name: String,
    /// The data content summary shown in publicity (数据内容简介).
    pub summary: String,
    /// GB/T 4754 industry code, e.g. `I64` or `L7212`.
    pub industry: String,
    /// GB/T 2260 code of the region the data covers.
    pub region: String,
    pub catalogue_entry_id: Option<String>,
    /// For a product (YXO §25): the product and its reviewed version.
    pub product_id: Option<String>,
    pub product_version: Option<i64>,
    /// For change, correction and cancellation: the certificate concerned.
    pub certificate_code: Option<String>,
    /// Last day of the authorized operation term, when shorter validity applies (YXR §23).
    pub operation_term_end: Option<String>,
    /// For cancellation (YXR §21): `lost_or_irrecoverable`, `rights_waived_or_expired`,
    /// `holder_dissolved`, `other_legal_grounds`.
    pub cancellation_reason: Option<String>,
    /// The rest of the basic information of YXR §12: application scenarios, data source,
    /// structure, scale, co-owners, update frequency.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub facts: Value,
    #[serde(default)]
    pub materials: Vec<MaterialRef>,
}

async fn resolve_materials(
    app: &AppState,
    caller: &Caller,
    kind: RegistrationType,
    refs: &[MaterialRef],
    problems: &mut Vec<FieldProblem>,
) -> ApiResult<Vec<Material>> {
    let user = caller.require_user()?;
    let mut out = Vec::new();
    let mut conn = app.store.acquire().await?;
    for (i, m) in refs.iter().enumerate() {
        let field = format!("materials[{i}]");
        if !required_materials(kind).contains(&m.key.as_str()) && !OPTIONAL_MATERIALS.contains(&m.key.as_str()) {
            problems.push(FieldProblem::new(
                &format!("{field}.key"),
                format!("{:?} is not a material of a {} registration", m.key, kind.as_str()),
                "该材料不属于此类登记的申请材料",
            ));
            continue;
        }
        let found = match m.attachment_id.parse::<AttachmentId>() {
            Ok(id) => attachments::get(&mut conn, id).await?,
            Err(_) => None,
        };
        match found {
            Some(a) if a.org_id == user.org_id => out.push(Material {
                key: m.key.clone(),
                attachment_id: a.id,
                filename: a.filename,
                size: a.size,
                sha256: a.sha256,
            }),
            _ => problems.push(FieldProblem::new(
                &format!("{field}.attachment_id"),
                "no attachment uploaded by your organisation has this id",
                "未找到本单位上传的该附件",
            )),
        }
    }
    Ok(out)
}

/// A status query code (查询码): 12 characters without look-alikes (no I, O, 0, 1).
pub fn new_query_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..12).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

#[utoipa::path(post, path = "/api/v1/registrations", tag = "registration", request_body = NewRegistration,
    responses((status = 201, body = RegistrationView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn apply(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<RegistrationView>)> {
    // The body is read only after authorization: a refused caller learns nothing about it.
    app.authorize(&caller, Action::RegistrationApply, &Resource::platform()).await?;
    let req: NewRegistration = parse_body(body)?;
    let user = caller.require_user()?.clone();
    let mut problems = Vec::new();
    let kind = req.kind.parse::<RegistrationType>().map_err(|_| {
        problems.push(FieldProblem::new(
            "type",
            "use first, change, correction or cancellation",
            "登记类型应为首次、变更、更正或注销",
        ))
    });
    let subject_kind = SubjectKind::parse(&req.subject_kind).map_err(|_| {
        problems.push(FieldProblem::new(
            "subject_kind",
            "use data_resource or product",
            "登记对象应为数据资源或产品和服务",
        ))
    });
    for (field, value, zh) in
        [("subject_name", &req.subject_name, "请填写数据名称"), ("summary", &req.summary, "请填写数据内容简介")]
    {
        if blank(value) || value.chars().count() > 2000 {
            problems.push(FieldProblem::new(field, "required, at most 2000 characters", zh));
        }
    }
    if req.industry.trim().parse::<shuyu_core::industry::IndustryCode>().is_err() {
        problems.push(FieldProblem::new(
            "industry",
            "a GB/T 4754-2017 code: a section letter A–T, optionally a division of that section (2 digits), group (3) or class (4)",
            "应为国民经济行业分类代码，如 I64",
        ));
    }
    if req.region.len() != 6 || !req.region.bytes().all(|b| b.is_ascii_digit()) {
        problems.push(FieldProblem::new("region", "a 6-digit GB/T 2260 division code", "应为6位行政区划代码"));
    }
    if !req.facts.is_object() && !req.facts.is_null() {
        problems.push(FieldProblem::new("facts", "must be an object", "基本信息应为对象"));
    }
    let operation_term_end = match req.operation_term_end.as_deref() {
        None => None,
        Some(s) => match s.parse::<chrono::NaiveDate>() {
            Ok(d) => Some(d),
            Err(_) => {
                problems.push(FieldProblem::new("operation_term_end", "a date YYYY-MM-DD", "应为日期，如 2028-12-31"));
                None
            }
        },
    };
    let mut facts = if req.facts.is_object() { req.facts.clone() } else { json!({}) };
    let mut certificate_code = None;
    let (Ok(kind), Ok(subject_kind)) = (kind, subject_kind) else {
        return Err(ApiError::validation(problems));
    };
    if kind == RegistrationType::Cancellation {
        match req.cancellation_reason.as_deref().map(str::parse::<CancellationReason>) {
            Some(Ok(r)) => {
                facts["cancellation_reason"] = json!(r.as_str());
            }
            _ => problems.push(FieldProblem::new(
                "cancellation_reason",
                "one of lost_or_irrecoverable, rights_waived_or_expired, holder_dissolved, other_legal_grounds",
                "请选择注销原因（YXR §21）",
            )),
        }
    }
    if kind != RegistrationType::First {
        let code = req.certificate_code.as_deref().map(str::parse::<CertificateCode>);
        match code {
            Some(Ok(code)) => {
                let mut conn = app.store.acquire().await?;
                match certificates::get(&mut conn, code.as_str()).await? {
                    Some(c) if c.holder_org == user.org_id && c.status == CertificateStatus::Valid => {
                        certificate_code = Some(code.to_string());
                    }
                    _ => problems.push(FieldProblem::new(
                        "certificate_code",
                        "no valid certificate held by your organisation has this code",
                        "未找到本单位持有的有效电子凭证",
                    )),
                }
            }
            Some(Err(e)) => problems.push(FieldProblem::new("certificate_code", e.to_string(), "电子凭证编码有误")),
            None => problems.push(FieldProblem::new(
                "certificate_code",
                "required for change, correction and cancellation",
                "变更、更正、注销登记须填写原电子凭证编码",
            )),
        }
    }
    // The subject, when named, is one of the applicant's own published catalogue entries.
    let catalogue_entry_id = req.catalogue_entry_id.clone().filter(|s| !blank(s));
    if let Some(entry_id) = &catalogue_entry_id {
        let mut conn = app.store.acquire().await?;
        let entry = shuyu_store::catalogue::get(&mut conn, entry_id).await?;
        let ok = entry.is_some_and(|e| e.holder_org == user.org_id && e.workflow.state.is_public());
        if !ok {
            problems.push(FieldProblem::new(
                "catalogue_entry_id",
                "not a published catalogue entry of your organisation",
                "不是本单位已发布的数据目录",
            ));
        }
    }
    // A product registration names the reviewed version it registers (YXO §25).
    let product = match (&req.product_id, req.product_version) {
        (Some(p), Some(v)) if subject_kind == SubjectKind::Product => {
            let mut conn = app.store.acquire().await?;
            let found = shuyu_store::products::get_product(&mut conn, p).await?;
            let version = shuyu_store::products::get_version(&mut conn, p, v).await?;
            let ok = found.is_some_and(|f| f.operator_org == user.org_id)
                && version.is_some_and(|x| {
                    matches!(
                        x.state,
                        shuyu_core::products::VersionState::Approved | shuyu_core::products::VersionState::Published
                    ) && x.certificate_code.is_none()
                });
            if !ok {
                problems.push(FieldProblem::new(
                    "product_id",
                    "not a reviewed, unregistered version of your organisation's product",
                    "不是本单位已审核通过且尚未登记的产品版本",
                ));
            }
            Some((p.clone(), v))
        }
        (None, None) => None,
        _ => {
            problems.push(FieldProblem::new(
                "product_id",
                "a product registration gives product_id and product_version, with subject_kind product",
                "产品登记须同时填写产品编号和版本，且登记对象为产品",
            ));
            None
        }
    };
    let materials = resolve_materials(&app, &caller, kind, &req.materials, &mut problems).await?;
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let today = app.clock.today();
    let now = app.clock.now();
    let rec = RegistrationRecord {
        id: RegistrationId::new(),
        query_code: new_query_code(),
        workflow: Registration::new(kind, today),
        subject_kind,
        applicant_org: user.org_id,
        applicant_user: user.id,
        certificate_code,
        catalogue_entry_id,
        product,
        subject_name: req.subject_name.trim().to_string(),
        summary: req.summary.trim().to_string(),
        industry: req.industry.trim().to_string(),
        region: req.region.clone(),
        facts,
        materials,
        operation_term_end,
        missing: Vec::new(),
        decision_ground: None,
        decision_reason: None,
        overdue_since: None,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let timer = registry::registration_timer(&app, &rec)?;
    let mut tx = app.begin().await?;
    registrations::insert(tx.conn(), &rec).await?;
    timers::set(tx.conn(), REGISTRATION, &rec.id.to_string(), timer.as_ref()).await?;
    tx.audit(
        &caller.ctx,
        "registration.submitted",
        &rec.id.resource(),
        Outcome::Success,
        json!({ "type": kind.as_str(), "subject_name": rec.subject_name, "deadline": timer.map(|t| t.due_on.to_string()) }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&app, &caller, &rec).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Comma-separated states, e.g. `submitted,accepted`.
    pub state: Option<String>,
    /// Only registrations whose registry deadline passed unanswered.
    pub overdue: Option<bool>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/registrations", tag = "registration", params(ListParams),
    responses((status = 200, body = [RegistrationView]), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Vec<RegistrationView>>> {
    let scope = app.list_scope(&caller, Action::RegistrationList, Action::RegistrationListAll).await?;
    let mut states = Vec::new();
    for s in params.state.as_deref().unwrap_or("").split(',').filter(|s| !s.is_empty()) {
        let parsed = s
            .parse::<RegistrationState>()
            .map_err(|e| ApiError::validation(vec![FieldProblem::new("state", e.to_string(), "未知的登记状态")]))?;
        states.push(parsed.as_str().to_string());
    }
    let filter = RegistrationFilter {
        applicant_org: scope,
        states,
        overdue_only: params.overdue.unwrap_or(false),
        limit: params.limit.unwrap_or(200),
    };
    let mut conn = app.store.acquire().await?;
    let recs = registrations::list(&mut conn, &filter).await?;
    drop(conn);
    app.record_access(&caller, Action::RegistrationList, "platform:shuyu", json!({ "count": recs.len() })).await?;
    let mut out = Vec::with_capacity(recs.len());
    for r in &recs {
        out.push(view(&app, &caller, r).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/v1/registrations/{id}", tag = "registration", params(("id" = String, Path)),
    responses((status = 200, body = RegistrationView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<RegistrationId>,
) -> ApiResult<Json<RegistrationView>> {
    let rec = load(&app, id).await?;
    app.authorize(&caller, Action::RegistrationRead, &resource(&rec)).await?;
    app.record_access(&caller, Action::RegistrationRead, &id.resource(), json!({})).await?;
    Ok(Json(view(&app, &caller, &rec).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithdrawBody {
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SupplementNotice {
    missing: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SupplementBody {
    #[serde(default)]
    materials: Vec<MaterialRef>,
    #[serde(default)]
    explanation: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Refusal {
    ground: String,
    reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectionFiling {
    statement: String,
    #[serde(default)]
    evidence: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectionRef {
    objection_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectionAnswer {
    objection_id: String,
    answer: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectionDecision {
    objection_id: String,
    upheld: bool,
    reason: String,
}

fn need_text(field: &str, value: &str, zh: &str) -> ApiResult<()> {
    if blank(value) || value.chars().count() > 5000 {
        return Err(ApiError::validation(vec![FieldProblem::new(field, "required, at most 5000 characters", zh)]));
    }
    Ok(())
}

fn objection_id(s: &str) -> ApiResult<ObjectionId> {
    s.parse().map_err(|_| {
        ApiError::validation(vec![FieldProblem::new("objection_id", "not an objection id", "异议编号有误")])
    })
}

/// Which party an action belongs to, and the policy action that guards it.
fn guard(action: &str) -> Option<(Party, Action)> {
    Some(match action {
        "accept"
        | "not_accept"
        | "request_supplement"
        | "refuse"
        | "start_publicity"
        | "complete_cancellation"
        | "forward_objection"
        | "decide_objection" => (Party::Registry, Action::RegistrationReview),
        "supplement" | "withdraw" | "answer_objection" => (Party::Applicant, Action::RegistrationApplicantAct),
        "object" => (Party::RealNamePerson, Action::RegistrationObject),
        _ => return None,
    })
}

const ACTIONS: &[&str] = &[
    "accept",
    "not_accept",
    "request_supplement",
    "supplement",
    "withdraw",
    "refuse",
    "start_publicity",
    "complete_cancellation",
    "object",
    "forward_objection",
    "answer_objection",
    "decide_objection",
];

#[utoipa::path(post, path = "/api/v1/registrations/{id}/actions/{action}", tag = "registration",
    params(("id" = String, Path), ("action" = String, Path, description = "accept, not_accept, request_supplement, supplement, withdraw, refuse, start_publicity, complete_cancellation, object, forward_objection, answer_objection, decide_objection")),
    request_body = Object,
    responses((status = 200, body = RegistrationView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn act(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<RegistrationView>> {
    let id: RegistrationId = id.parse().map_err(|_| ApiError::not_found("registration"))?;
    let Some((party, policy_action)) = guard(&action) else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action").with_details(json!({ "allowed": ACTIONS })));
    };
    let rec = load(&app, id).await?;
    app.authorize(&caller, policy_action, &resource(&rec)).await?;
    if party == Party::RealNamePerson && !has_real_name(&caller) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "real_name_required").with_basis("YXR §22"));
    }
    let ctx = caller.ctx.clone();
    let mut tx = app.begin().await?;
    let rec = match action.as_str() {
        "accept" => {
            parse_body::<Empty>(body)?;
            registry::transition(&app, &mut tx, &ctx, id, &Command::Accept, json!({}), |_| {}).await?
        }
        "not_accept" => {
            let b: Reason = parse_body(body)?;
            need_text("reason", &b.reason, "不予受理须说明理由（YXR §16）")?;
            let reason = b.reason.trim().to_string();
            registry::transition(&app, &mut tx, &ctx, id, &Command::NotAccept, json!({ "reason": reason }), |r| {
                r.decision_reason = Some(reason.clone());
            })
            .await?
        }
        "request_supplement" => {
            let b: SupplementNotice = parse_body(body)?;
            let missing: Vec<String> =
                b.missing.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            let cmd = Command::RequestSupplement { missing: missing.clone() };
            registry::transition(&app, &mut tx, &ctx, id, &cmd, json!({ "missing": missing }), |r| {
                r.missing = missing.clone();
            })
            .await?
        }
        "supplement" => {
            let b: SupplementBody = parse_body(body)?;
            let mut problems = Vec::new();
            let added = resolve_materials(&app, &caller, rec.workflow.kind, &b.materials, &mut problems).await?;
            if !problems.is_empty() {
                return Err(ApiError::validation(problems));
            }
            let keys: Vec<String> = added.iter().map(|m| m.key.clone()).collect();
            let explanation = b.explanation.clone();
            registry::transition(&app, &mut tx, &ctx, id, &Command::Supplement, json!({ "materials": keys }), |r| {
                r.materials.retain(|m| !added.iter().any(|a| a.key == m.key));
                r.materials.extend(added.iter().cloned());
                if let Some(e) = explanation {
                    r.facts["supplement_explanation"] = json!(e);
                }
            })
            .await?
        }
        "withdraw" => {
            let b: WithdrawBody = parse_body(body)?;
            registry::transition(&app, &mut tx, &ctx, id, &Command::Withdraw, json!({ "reason": b.reason }), |_| {})
                .await?
        }
        "refuse" => {
            let b: Refusal = parse_body(body)?;
            let ground = b.ground.parse::<RefusalGround>().map_err(|_| {
                ApiError::validation(vec![FieldProblem::new(
                    "ground",
                    format!(
                        "one of the YXR §17 grounds: {}",
                        RefusalGround::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    "不予登记只能依据《登记管理办法》第十七条所列情形",
                )])
                .with_basis(app.profile.citation("registration.refusal").unwrap_or("YXR §17"))
            })?;
            need_text("reason", &b.reason, "不予登记须说明理由（YXR §17）")?;
            let reason = b.reason.trim().to_string();
            let d = json!({ "ground": ground.as_str(), "reason": reason });
            registry::transition(&app, &mut tx, &ctx, id, &Command::Refuse { ground }, d, |r| {
                r.decision_ground = Some(ground.as_str().into());
                r.decision_reason = Some(reason.clone());
            })
            .await?
        }
        "start_publicity" => {
            parse_body::<Empty>(body)?;
            registry::transition(&app, &mut tx, &ctx, id, &Command::StartPublicity, json!({}), |_| {}).await?
        }
        "complete_cancellation" => {
            parse_body::<Empty>(body)?;
            registry::transition(&app, &mut tx, &ctx, id, &Command::CompleteCancellation, json!({}), |_| {}).await?
        }
        "object" => {
            let b: ObjectionFiling = parse_body(body)?;
            need_text("statement", &b.statement, "请写明异议理由")?;
            let user = caller.require_user()?.clone();
            let mut evidence = Vec::new();
            let mut problems = Vec::new();
            for (i, e) in b.evidence.iter().enumerate() {
                let found = match e.parse::<AttachmentId>() {
                    Ok(aid) => attachments::get(tx.conn(), aid).await?,
                    Err(_) => None,
                };
                match found {
                    Some(a) if a.uploaded_by == user.id => evidence.push(Material {
                        key: "evidence".into(),
                        attachment_id: a.id,
                        filename: a.filename,
                        size: a.size,
                        sha256: a.sha256,
                    }),
                    _ => problems.push(FieldProblem::new(
                        &format!("evidence[{i}]"),
                        "no attachment of yours has this id",
                        "未找到您上传的该证据材料",
                    )),
                }
            }
            if !problems.is_empty() {
                return Err(ApiError::validation(problems));
            }
            let today = app.clock.today();
            let objection = Objection::new(today);
            let timer = objection.timer(&app.calendar, &app.profile.registration)?;
            let o = ObjectionRecord {
                id: ObjectionId::new(),
                registration_id: id,
                objector_user: user.id,
                objector_name: user.real_name.clone().unwrap_or_default(),
                statement: b.statement.trim().to_string(),
                evidence,
                workflow: objection,
                answer: None,
                decision_reason: None,
                overdue_since: None,
                created_at: app.clock.now(),
            };
            let rec = registry::transition(
                &app,
                &mut tx,
                &ctx,
                id,
                &Command::ObjectionFiled,
                json!({ "objection": o.id.to_string() }),
                |_| {},
            )
            .await?;
            registrations::insert_objection(tx.conn(), &o).await?;
            timers::set(tx.conn(), OBJECTION, &o.id.to_string(), timer.as_ref()).await?;
            tx.audit(
                &ctx,
                "objection.filed",
                &o.id.resource(),
                Outcome::Success,
                json!({ "registration": id.to_string() }),
            )
            .await?;
            rec
        }
        "forward_objection" | "answer_objection" | "decide_objection" => {
            let (oid, command, details, answer, reason) = match action.as_str() {
                "forward_objection" => {
                    let b: ObjectionRef = parse_body(body)?;
                    (objection_id(&b.objection_id)?, ObjectionCommand::Forward, json!({}), None, None)
                }
                "answer_objection" => {
                    let b: ObjectionAnswer = parse_body(body)?;
                    need_text("answer", &b.answer, "请提交异议申辩意见")?;
                    (objection_id(&b.objection_id)?, ObjectionCommand::Answer, json!({}), Some(b.answer), None)
                }
                _ => {
                    let b: ObjectionDecision = parse_body(body)?;
                    need_text("reason", &b.reason, "请写明异议处理理由")?;
                    let d = json!({ "upheld": b.upheld, "reason": b.reason });
                    (
                        objection_id(&b.objection_id)?,
                        ObjectionCommand::Decide { upheld: b.upheld },
                        d,
                        None,
                        Some(b.reason),
                    )
                }
            };
            let o = registrations::get_objection(tx.conn(), oid).await?;
            if o.as_ref().map(|o| o.registration_id) != Some(id) {
                return Err(ApiError::not_found("objection"));
            }
            registry::objection_transition(&app, &mut tx, &ctx, oid, command, details, |o| {
                if answer.is_some() {
                    o.answer = answer;
                }
                if reason.is_some() {
                    o.decision_reason = reason;
                }
            })
            .await?;
            registrations::get(tx.conn(), id).await?.ok_or_else(|| ApiError::not_found("registration"))?
        }
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_action")),
    };
    tx.commit().await?;
    Ok(Json(view(&app, &caller, &rec).await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatisticsRow {
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    pub count: i64,
}

#[utoipa::path(get, path = "/api/v1/registrations/statistics", tag = "registration",
    responses((status = 200, body = [StatisticsRow]), (status = 403, body = ErrorBody)))]
pub async fn statistics(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<StatisticsRow>>> {
    app.authorize(&caller, Action::RegistrationStatistics, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let rows = registrations::statistics(&mut conn).await?;
    drop(conn);
    app.record_access(&caller, Action::RegistrationStatistics, "platform:shuyu", json!({})).await?;
    Ok(Json(rows.into_iter().map(|(kind, state, count)| StatisticsRow { kind, state, count }).collect()))
}

/// What publicity shows (YXR §22): applicant, type, data name, summary, and the period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PublicityNotice {
    pub registration_id: String,
    pub applicant: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject_name: String,
    pub summary: String,
    pub publicity_from: Option<String>,
    pub publicity_until: Option<String>,
    /// True while an objection is being examined (registration suspended).
    pub suspended: bool,
}

#[utoipa::path(get, path = "/api/v1/public/publicity", tag = "registration",
    responses((status = 200, body = [PublicityNotice])))]
pub async fn publicity(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<PublicityNotice>>> {
    app.authorize(&caller, Action::RegistrationPublicity, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let filter =
        RegistrationFilter { states: vec!["publicity".into(), "suspended".into()], limit: 500, ..Default::default() };
    let recs = registrations::list(&mut conn, &filter).await?;
    let orgs = organisations::list(&mut conn).await?;
    drop(conn);
    Ok(Json(
        recs.iter()
            .map(|r| PublicityNotice {
                registration_id: r.id.to_string(),
                applicant: orgs.iter().find(|o| o.id == r.applicant_org).map(|o| o.name.clone()).unwrap_or_default(),
                kind: r.workflow.kind.as_str().into(),
                subject_name: r.subject_name.clone(),
                summary: r.summary.clone(),
                publicity_from: r.workflow.publicity_from.map(|d| d.to_string()),
                publicity_until: r.workflow.publicity_until.map(|d| d.to_string()),
                suspended: r.workflow.state == RegistrationState::Suspended,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatusParams {
    pub query_code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusView {
    #[serde(rename = "type")]
    pub kind: String,
    pub subject_name: String,
    pub state: String,
    pub deadline: Option<String>,
    pub certificate_code: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/public/registrations/status", tag = "registration", params(StatusParams),
    responses((status = 200, body = StatusView), (status = 404, body = ErrorBody)))]
pub async fn status(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<StatusParams>,
) -> ApiResult<Json<StatusView>> {
    app.authorize(&caller, Action::RegistrationStatusQuery, &Resource::platform()).await?;
    let code = params.query_code.trim().to_ascii_uppercase();
    let mut conn = app.store.acquire().await?;
    let rec = registrations::find_by_query_code(&mut conn, &code)
        .await?
        .ok_or_else(|| ApiError::not_found("registration"))?;
    drop(conn);
    let timer = registry::registration_timer(&app, &rec)?;
    Ok(Json(StatusView {
        kind: rec.workflow.kind.as_str().into(),
        subject_name: rec.subject_name.clone(),
        state: rec.workflow.state.as_str().into(),
        deadline: timer.map(|t| t.due_on.to_string()),
        certificate_code: rec.certificate_code.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_guard() {
        for a in ACTIONS {
            assert!(guard(a).is_some(), "{a}");
        }
        assert!(guard("approve").is_none(), "approval is the scheduler's, after publicity");
    }
}
