//! Products (SPEC §5; WX §3, §17, §21, JS §19, WH §26, YXO §25, §27, CS §20): definition from a
//! workspace, versions, review before use, registration and publication, the authority's
//! suspension and price caps, the public marketplace, listing packages for a data exchange, and
//! the annual disclosure.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Datelike, NaiveDate};
use serde::Deserialize;
use serde_json::{json, Value};
use shuyu_authz::{Action, Resource};
use shuyu_core::pricing::PriceCap;
use shuyu_core::products::{self as rules, Definition, ProductKind, ProductStatus, Review, VersionState};
use shuyu_core::roles::OrgKind;
use shuyu_sandbox::engine::Limits;
use shuyu_store::products::{self as store, ProductRecord, VersionRecord};
use shuyu_store::sandbox::WorkspaceRecord;
use shuyu_store::{certificates, organisations};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{parse_body, ApiJson, ApiQuery};
use crate::routes::sandbox::{limits, readable, sandbox_error};
use crate::state::AppState;

pub(crate) fn product_resource(p: &ProductRecord) -> Resource {
    Resource::owned("Product", p.id.clone(), p.operator_org)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn problems_error(problems: Vec<rules::Problem>) -> ApiError {
    let basis = problems.iter().find_map(|p| p.basis);
    let e = ApiError::validation(problems.into_iter().map(|p| FieldProblem::new(&p.field, p.en, p.zh)).collect());
    match basis {
        Some(b) => e.with_basis(b),
        None => e,
    }
}

fn not_allowed(n: rules::NotAllowed) -> ApiError {
    let e = ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
        .with_details(json!({ "action": n.action, "state": n.state.as_str() }));
    match n.basis {
        Some(b) => e.with_basis(b),
        None => e,
    }
}

pub(crate) async fn load(app: &AppState, caller: &Caller, id: &str, action: Action) -> ApiResult<ProductRecord> {
    let mut conn = app.store.acquire().await?;
    let p = store::get_product(&mut conn, id).await?.ok_or_else(|| ApiError::not_found("product"))?;
    drop(conn);
    app.authorize(caller, action, &product_resource(&p)).await?;
    Ok(p)
}

async fn load_version(app: &AppState, p: &ProductRecord, version: i64) -> ApiResult<VersionRecord> {
    let mut conn = app.store.acquire().await?;
    store::get_version(&mut conn, &p.id, version).await?.ok_or_else(|| ApiError::not_found("product version"))
}

fn version_view(v: &VersionRecord) -> Value {
    json!({
        "version": v.version, "state": v.state, "definition": v.definition, "prepared": v.prepared,
        "input_level": v.input_level, "grade": rules::derived_grade(v.input_level, &v.reviews),
        "reviews": v.reviews, "certificate_code": v.certificate_code,
        "submitted_on": v.submitted_on, "published_on": v.published_on,
    })
}

fn interface_urls(p: &ProductRecord, v: &VersionRecord) -> Value {
    if v.definition.interface.is_none() {
        return Value::Null;
    }
    json!({
        "endpoint": format!("/data-api/v1/{}/{}", p.id, v.version),
        "openapi": format!("/data-api/v1/{}/{}/openapi.json", p.id, v.version),
    })
}

async fn view(app: &AppState, p: &ProductRecord) -> ApiResult<Value> {
    let mut conn = app.store.acquire().await?;
    let versions = store::versions(&mut conn, &p.id).await?;
    let operator = organisations::get(&mut conn, p.operator_org).await?.map(|o| o.name).unwrap_or_default();
    let published = versions.iter().find(|v| Some(v.version) == p.published_version);
    Ok(json!({
        "id": p.id, "name": p.name, "kind": p.kind, "status": p.status, "status_reason": p.status_reason,
        "operator_org": p.operator_org.to_string(), "operator_name": operator,
        "workspace_id": p.workspace_id, "agreement_id": p.agreement_id,
        "published_version": p.published_version, "first_published_on": p.first_published_on,
        "price_cap": p.price_cap,
        "interface": published.map(|v| interface_urls(p, v)).unwrap_or(Value::Null),
        "versions": versions.iter().map(version_view).collect::<Vec<_>>(),
        "created_at": p.created_at,
    }))
}

/// What a definition is checked against: the workspace's grants, its models and exports, the
/// catalogue (to fill each source's name and holder), and for an interface, the engine, which
/// plans the query with the example values under the grants' rules without running it.
pub(crate) async fn checked(
    app: &AppState,
    w: &WorkspaceRecord,
    kind: ProductKind,
    d: Definition,
) -> ApiResult<(Definition, Option<Value>, u8)> {
    let mut d = d.normalised();
    let mut problems = d.check(kind);
    let mut conn = app.store.acquire().await?;
    let grants = shuyu_store::sandbox::workspace_grants(&mut conn, &w.id).await?;
    let granted: Vec<_> =
        grants.iter().filter(|g| g.state.is_usable()).flat_map(|g| g.granted.iter().flatten()).collect();
    // Without a query to read, a product is as sensitive as the granted columns it draws on.
    let mut level = 1u8;
    let mut model_level = 1u8;
    for (i, s) in d.sources.iter_mut().enumerate() {
        let tables: Vec<_> = granted.iter().filter(|t| t.entry_id == s.entry_id).collect();
        if tables.is_empty() {
            problems.push(rules::Problem {
                field: format!("sources[{i}].entry_id"),
                en: "not data granted to this workspace: a product names the public data it really uses".into(),
                zh: "不是本工作空间获授权的数据：产品须注明其实际使用的公共数据".into(),
                basis: Some("WH §26"),
            });
            continue;
        }
        for t in &tables {
            level = level.max(t.columns.iter().map(|c| c.sensitivity).max().unwrap_or(1));
        }
        if let Some(e) = shuyu_store::catalogue::get(&mut conn, &s.entry_id).await? {
            s.name = e.published.as_ref().map(|m| m.name.clone()).unwrap_or_default();
            s.holder = organisations::get(&mut conn, e.holder_org).await?.map(|o| o.name).unwrap_or_default();
        }
    }
    if let Some(p) = &d.processor_org {
        let org = match p.parse() {
            Ok(id) => organisations::get(&mut conn, id).await?,
            Err(_) => None,
        };
        if org.is_none_or(|o| o.kind != OrgKind::Processor) {
            problems.push(rules::Problem {
                field: "processor_org".into(),
                en: "not a processor organisation".into(),
                zh: "不是数据加工主体".into(),
                basis: Some("CS §21"),
            });
        }
    }
    if let Some(e) = &d.export_id {
        let ok = shuyu_store::sandbox::get_export(&mut conn, e)
            .await?
            .is_some_and(|x| x.workspace_id == w.id && x.state == "approved");
        if !ok {
            problems.push(rules::Problem {
                field: "export_id".into(),
                en: "not an approved export of this workspace".into(),
                zh: "不是本工作空间已审核通过的导出结果".into(),
                basis: Some("WX §17"),
            });
        }
    }
    drop(conn);
    let dir = crate::sandbox::workspace_dir(app, &w.id);
    if let Some(m) = &d.model {
        match shuyu_sandbox::modelling::list(&dir).into_iter().find(|x| &x.name == m) {
            Some(model) => model_level = model.level,
            None => problems.push(rules::Problem {
                field: "model".into(),
                en: "no model of this name in the workspace".into(),
                zh: "工作空间中没有该名称的模型".into(),
                basis: None,
            }),
        }
    }
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    let Some(spec) = &d.interface else { return Ok((d, None, level.max(model_level))) };
    let named = shuyu_sandbox::interface::placeholders(&spec.sql).map_err(sandbox_error)?;
    let declared: BTreeSet<String> = spec.parameters.iter().map(|p| p.name.clone()).collect();
    if named != declared {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "interface.parameters",
            format!(
                "declare exactly the query's placeholders: the query names {:?}, the declaration {:?}",
                named, declared
            ),
            "参数声明须与查询中的占位符一致",
        )]));
    }
    let examples = spec.examples().map_err(problems_error)?;
    let ws = readable(app, w).await?;
    let lim = Limits { display_rows: spec.max_rows as usize, ..limits(app) };
    let prepared =
        ws.prepare(&spec.sql, &shuyu_sandbox::interface::values(&examples), &lim).await.map_err(sandbox_error)?;
    // An interface is as sensitive as what its query reads (and the model it scores with).
    let level = prepared.level.max(model_level);
    let prepared = json!({
        "columns": prepared.columns, "level": prepared.level, "touched": prepared.touched,
        "differential_privacy": prepared.private,
    });
    Ok((d, Some(prepared), level))
}

/// A new version as [`checked`] returns its definition, not yet submitted.
fn draft(
    product: &str,
    version: i64,
    (definition, prepared, level): (Definition, Option<Value>, u8),
    now: String,
) -> VersionRecord {
    VersionRecord {
        product_id: product.to_string(),
        version,
        state: VersionState::Draft,
        definition,
        prepared,
        input_level: level,
        reviews: Vec::new(),
        certificate_code: None,
        submitted_on: None,
        published_on: None,
        created_at: now.clone(),
        updated_at: now,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProduct {
    workspace_id: String,
    name: String,
    kind: ProductKind,
    definition: Definition,
}

#[utoipa::path(post, path = "/api/v1/products", tag = "products", request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user = caller.require_user()?.clone();
    app.authorize(&caller, Action::ProductCreate, &Resource::owned("Product", "new", user.org_id)).await?;
    let b: NewProduct = parse_body(body)?;
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::validation(vec![FieldProblem::new("name", "1 to 100 characters", "名称为1至100个字符")]));
    }
    let mut conn = app.store.acquire().await?;
    let w = shuyu_store::sandbox::get_workspace(&mut conn, &b.workspace_id)
        .await?
        .filter(|w| w.operator_org == user.org_id)
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    drop(conn);
    if w.state != "active" {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "workspace": w.state }))
            .with_basis("WX §19"));
    }
    let (definition, prepared, level) = checked(&app, &w, b.kind, b.definition).await?;
    let now = shuyu_core::clock::format_instant(app.clock.now());
    let p = ProductRecord {
        id: new_id(),
        operator_org: user.org_id,
        workspace_id: w.id.clone(),
        agreement_id: w.agreement_id.clone(),
        name,
        kind: b.kind,
        status: ProductStatus::Active,
        status_reason: None,
        published_version: None,
        first_published_on: None,
        price_cap: None,
        created_by: user.id.to_string(),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let v = draft(&p.id, 1, (definition, prepared, level), now);
    let mut tx = app.begin().await?;
    store::insert_product(tx.conn(), &p).await?;
    store::insert_version(tx.conn(), &v).await?;
    tx.audit(
        &caller.ctx,
        "product.created",
        &format!("product:{}", p.id),
        shuyu_audit::Outcome::Success,
        json!({ "name": p.name, "kind": p.kind, "workspace": p.workspace_id, "version": 1, "input_level": level }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&app, &p).await?)))
}

#[utoipa::path(get, path = "/api/v1/products", tag = "products",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let scope = app.list_scope(&caller, Action::ProductList, Action::ProductListAll).await?;
    if let Some(org) = scope {
        if app.authz.authorize(&caller.principal, Action::ProductRead, &Resource::owned("Product", "", org)).is_err() {
            // Those who make no products see them as the market shows them: never their queries
            // or workspaces.
            return market(State(app.clone()), caller.clone()).await;
        }
    }
    let mut conn = app.store.acquire().await?;
    let products = store::list_products(&mut conn, scope, false).await?;
    drop(conn);
    let mut out = Vec::new();
    for p in &products {
        out.push(view(&app, p).await?);
    }
    Ok(Json(json!({ "products": out })))
}

#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let p = load(&app, &caller, &id, Action::ProductRead).await?;
    Ok(Json(view(&app, &p).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewVersion {
    definition: Definition,
}

/// Any change to a product's query or data is a new version, reviewed again (WX §17).
#[utoipa::path(post, path = "/api/v1/products/{id}/versions", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn new_version(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = load(&app, &caller, &id, Action::ProductEdit).await?;
    let b: NewVersion = parse_body(body)?;
    let mut conn = app.store.acquire().await?;
    let versions = store::versions(&mut conn, &p.id).await?;
    let w = shuyu_store::sandbox::get_workspace(&mut conn, &p.workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    drop(conn);
    if let Some(open) = versions.iter().find(|v| matches!(v.state, VersionState::Draft | VersionState::InReview)) {
        return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_details(json!({ "open_version": open.version, "state": open.state })));
    }
    if p.status == ProductStatus::Withdrawn {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "action_not_allowed").with_details(json!({ "status": p.status }))
        );
    }
    let (definition, prepared, level) = checked(&app, &w, p.kind, b.definition).await?;
    let now = shuyu_core::clock::format_instant(app.clock.now());
    let next = versions.last().map(|v| v.version + 1).unwrap_or(1);
    let v = draft(&p.id, next, (definition, prepared, level), now);
    let mut tx = app.begin().await?;
    store::insert_version(tx.conn(), &v).await?;
    tx.audit(
        &caller.ctx,
        "product.versioned",
        &format!("product:{}", p.id),
        shuyu_audit::Outcome::Success,
        json!({ "version": v.version, "input_level": level }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&app, &p).await?)))
}

async fn save_version(
    app: &AppState,
    caller: &Caller,
    p: &ProductRecord,
    v: &mut VersionRecord,
    action: &str,
    details: Value,
) -> ApiResult<()> {
    let mut tx = app.begin().await?;
    v.updated_at = shuyu_core::clock::format_instant(tx.now());
    store::update_version(tx.conn(), v).await?;
    tx.audit(
        &caller.ctx,
        action,
        &format!("product:{}", p.id),
        shuyu_audit::Outcome::Success,
        json!({ "version": v.version, "state": v.state, "detail": details }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The operator's steps on a version: `submit`, `publish`, `withdraw`.
#[utoipa::path(post, path = "/api/v1/products/{id}/versions/{version}/actions/{action}", tag = "products", params(("id" = String, Path), ("version" = String, Path), ("action" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn act(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, version, action)): Path<(String, i64, String)>,
) -> ApiResult<Json<Value>> {
    let mut p = load(&app, &caller, &id, Action::ProductEdit).await?;
    let mut v = load_version(&app, &p, version).await?;
    let today = app.clock.today();
    match action.as_str() {
        "submit" => {
            v.state = rules::submit(v.state).map_err(not_allowed)?;
            v.submitted_on = Some(today);
            save_version(&app, &caller, &p, &mut v, "product.submitted", json!({})).await?;
        }
        "withdraw" => {
            v.state = rules::withdraw(v.state).map_err(not_allowed)?;
            let mut tx = app.begin().await?;
            let now = shuyu_core::clock::format_instant(tx.now());
            v.updated_at = now.clone();
            store::update_version(tx.conn(), &v).await?;
            if p.published_version == Some(v.version) {
                p.published_version = None;
                p.updated_at = now;
                store::update_product(tx.conn(), &p).await?;
            }
            tx.audit(
                &caller.ctx,
                "product.withdrawn",
                &format!("product:{}", p.id),
                shuyu_audit::Outcome::Success,
                json!({ "version": v.version }),
            )
            .await?;
            tx.commit().await?;
        }
        "publish" => {
            if p.status != ProductStatus::Active {
                return Err(ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
                    .with_details(json!({ "status": p.status })));
            }
            v.state = rules::publish(v.state, v.certificate_code.as_deref()).map_err(|n| {
                let missing = n.basis == Some("YXO §25");
                let e = not_allowed(n);
                if missing {
                    e.with_reason(
                        "register the reviewed version first: a product is published with its registration certificate",
                        "请先对审核通过的版本办理登记：产品凭登记电子凭证发布",
                    )
                } else {
                    e
                }
            })?;
            v.published_on = Some(today);
            let mut tx = app.begin().await?;
            let now = shuyu_core::clock::format_instant(tx.now());
            if let Some(old) = p.published_version {
                if let Some(mut o) = store::get_version(tx.conn(), &p.id, old).await? {
                    o.state = VersionState::Superseded;
                    o.updated_at = now.clone();
                    store::update_version(tx.conn(), &o).await?;
                }
            }
            v.updated_at = now.clone();
            store::update_version(tx.conn(), &v).await?;
            p.published_version = Some(v.version);
            p.first_published_on = p.first_published_on.or(Some(today));
            p.updated_at = now;
            store::update_product(tx.conn(), &p).await?;
            tx.audit(
                &caller.ctx,
                "product.published",
                &format!("product:{}", p.id),
                shuyu_audit::Outcome::Success,
                json!({ "version": v.version, "certificate_code": v.certificate_code }),
            )
            .await?;
            tx.commit().await?;
        }
        _ => return Err(ApiError::not_found("action")),
    }
    Ok(Json(view(&app, &p).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    passed: bool,
    compliance: String,
    security: String,
    scenario: String,
    #[serde(default)]
    grade: Option<u8>,
}

/// WX §17: the security authorities and the data authority review compliance, security and the
/// scenarios; each may grade the derived data stricter (GB/T 43697 annex I).
#[utoipa::path(post, path = "/api/v1/products/{id}/versions/{version}/reviews", tag = "products", params(("id" = String, Path), ("version" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn review(
    State(app): State<AppState>,
    caller: Caller,
    Path((id, version)): Path<(String, i64)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let p = load(&app, &caller, &id, Action::ProductReview).await?;
    let user = caller.require_user()?.clone();
    let kind = user.roles.first().map(|r| r.org_kind()).ok_or_else(ApiError::forbidden)?;
    let required = &app.profile.products.reviewers;
    if !required.contains(&kind) {
        return Err(ApiError::forbidden().with_basis(app.profile.citation("products.reviewers").unwrap_or("WX §17")));
    }
    let b: ReviewBody = parse_body(body)?;
    let mut problems = Vec::new();
    for (f, v) in [("compliance", &b.compliance), ("security", &b.security), ("scenario", &b.scenario)] {
        if v.trim().is_empty() {
            problems.push(FieldProblem::new(
                f,
                "required: the review's conclusion on this point",
                "必填：本项审核意见",
            ));
        }
    }
    if b.grade.is_some_and(|g| !(1..=4).contains(&g)) {
        problems.push(FieldProblem::new("grade", "1 (general) to 4 (core)", "分级为1（一般）至4（核心）"));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems).with_basis("WX §17"));
    }
    let mut v = load_version(&app, &p, version).await?;
    let r = Review {
        reviewer_kind: kind,
        reviewer: user.id.to_string(),
        passed: b.passed,
        compliance: b.compliance.trim().into(),
        security: b.security.trim().into(),
        scenario: b.scenario.trim().into(),
        grade: b.grade,
        reviewed_on: app.clock.today(),
    };
    v.state = rules::review(v.state, &v.reviews, &r, required).map_err(not_allowed)?;
    v.reviews.push(r);
    let grade = rules::derived_grade(v.input_level, &v.reviews);
    save_version(&app, &caller, &p, &mut v, "product.reviewed", json!({ "passed": b.passed, "grade": grade })).await?;
    Ok(Json(view(&app, &p).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

async fn set_status(
    app: &AppState,
    caller: &Caller,
    id: &str,
    status: ProductStatus,
    body: Value,
) -> ApiResult<Json<Value>> {
    let mut p = load(app, caller, id, Action::ProductSuspend).await?;
    let b: ReasonBody = parse_body(body)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new("reason", "required", "须说明理由")]));
    }
    let mut tx = app.begin().await?;
    change_status(&mut tx, &caller.ctx, &mut p, status, b.reason.trim(), json!({ "reason": b.reason })).await?;
    tx.commit().await?;
    Ok(Json(view(app, &p).await?))
}

/// Suspends or reinstates a product and audits it, inside the caller's transaction; also used
/// when the authority suspends from an alert.
pub(crate) async fn change_status(
    tx: &mut shuyu_store::WriteTx,
    ctx: &shuyu_store::AuditContext,
    p: &mut ProductRecord,
    status: ProductStatus,
    reason: &str,
    details: Value,
) -> ApiResult<()> {
    p.status = status;
    p.status_reason = Some(reason.into());
    p.updated_at = shuyu_core::clock::format_instant(tx.now());
    store::update_product(tx.conn(), p).await?;
    let action = if status == ProductStatus::Suspended { "product.suspended" } else { "product.reinstated" };
    tx.audit(ctx, action, &format!("product:{}", p.id), shuyu_audit::Outcome::Success, details).await?;
    Ok(())
}

/// The authority stops a product: every key for it stops at once.
#[utoipa::path(post, path = "/api/v1/products/{id}/suspend", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn suspend(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    set_status(&app, &caller, &id, ProductStatus::Suspended, body).await
}

#[utoipa::path(post, path = "/api/v1/products/{id}/reinstate", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reinstate(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    set_status(&app, &caller, &id, ProductStatus::Active, body).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapBody {
    cap: PriceCap,
    reason: String,
}

/// YXO §27, SPEC §7.3: the authority's price cap for one product (上限收费标准).
#[utoipa::path(post, path = "/api/v1/products/{id}/price-cap", tag = "products", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_price_cap(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let mut p = load(&app, &caller, &id, Action::ProductSetPriceCap).await?;
    let b: CapBody = parse_body(body)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "reason",
            "required: the cost basis",
            "须说明核定依据",
        )]));
    }
    let mut tx = app.begin().await?;
    p.price_cap = Some(b.cap);
    p.updated_at = shuyu_core::clock::format_instant(tx.now());
    store::update_product(tx.conn(), &p).await?;
    tx.audit(
        &caller.ctx,
        "product.price_cap_set",
        &format!("product:{}", p.id),
        shuyu_audit::Outcome::Success,
        json!({ "cap": b.cap, "reason": b.reason }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(view(&app, &p).await?))
}

// ---------------------------------------------------------------- marketplace and listing

fn market_entry(p: &ProductRecord, v: &VersionRecord, operator: &str) -> Value {
    json!({
        "id": p.id, "name": p.name, "kind": p.kind, "operator_name": operator, "version": v.version,
        "certificate_code": v.certificate_code, "description": v.definition.description,
        "scenarios": v.definition.scenarios, "usage_scope": v.definition.usage_scope,
        "sources": v.definition.sources, "pricing_basis": v.definition.pricing_basis,
        "grade": rules::derived_grade(v.input_level, &v.reviews), "price_cap": p.price_cap,
        "published_on": v.published_on, "interface": interface_urls(p, v),
    })
}

/// The public marketplace: published products with their certificate and scenarios (WX §21).
#[utoipa::path(get, path = "/api/v1/market/products", tag = "products",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn market(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::MarketRead, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let mut out = Vec::new();
    for p in store::list_products(&mut conn, None, true).await? {
        let Some(n) = p.published_version else { continue };
        let Some(v) = store::get_version(&mut conn, &p.id, n).await? else { continue };
        let operator = organisations::get(&mut conn, p.operator_org).await?.map(|o| o.name).unwrap_or_default();
        out.push(market_entry(&p, &v, &operator));
    }
    Ok(Json(json!({ "products": out })))
}

#[utoipa::path(get, path = "/api/v1/market/products/{id}", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn market_product(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::MarketRead, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let p = store::get_product(&mut conn, &id)
        .await?
        .filter(|p| p.status == ProductStatus::Active)
        .ok_or_else(|| ApiError::not_found("product"))?;
    let n = p.published_version.ok_or_else(|| ApiError::not_found("product"))?;
    let v = store::get_version(&mut conn, &p.id, n).await?.ok_or_else(|| ApiError::not_found("product"))?;
    let operator = organisations::get(&mut conn, p.operator_org).await?.map(|o| o.name).unwrap_or_default();
    Ok(Json(market_entry(&p, &v, &operator)))
}

/// CS §20: a listing package for a data exchange: the product as published, its signed
/// registration certificate and its review record.
#[utoipa::path(get, path = "/api/v1/products/{id}/listing", tag = "products", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn listing(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let p = load(&app, &caller, &id, Action::ProductListing).await?;
    let n = p.published_version.ok_or_else(|| {
        ApiError::new(StatusCode::CONFLICT, "action_not_allowed")
            .with_reason("only a published product is listed", "仅已发布的产品可挂牌")
            .with_basis("WX §21")
    })?;
    let mut conn = app.store.acquire().await?;
    let v = store::get_version(&mut conn, &p.id, n).await?.ok_or_else(|| ApiError::not_found("product version"))?;
    let code = v.certificate_code.clone().unwrap_or_default();
    let cert = certificates::get(&mut conn, &code).await?;
    let operator = organisations::get(&mut conn, p.operator_org).await?;
    drop(conn);
    let certificate = cert.map(|c| json!({ "facts": c.facts, "signature": c.signature, "status": c.status.as_str() }));
    let package = json!({
        "format": "shuyu-listing/1",
        "generated_at": shuyu_core::clock::format_instant(app.clock.now()),
        "product": market_entry(&p, &v, &operator.as_ref().map(|o| o.name.clone()).unwrap_or_default()),
        "operator": { "name": operator.as_ref().map(|o| o.name.clone()), "uscc": operator.and_then(|o| o.uscc) },
        "certificate": certificate,
        "certificate_public_key": { "algorithm": "Ed25519",
            "public_key": hex::encode(app.certificate_signer.verifying_key().to_bytes()) },
        "review": { "reviews": v.reviews, "grade": rules::derived_grade(v.input_level, &v.reviews),
                    "input_level": v.input_level, "submitted_on": v.submitted_on, "published_on": v.published_on },
        "definition": v.definition,
    });
    app.record_access(&caller, Action::ProductListing, &format!("product:{}", p.id), json!({ "version": n })).await?;
    Ok(Json(package))
}

// ---------------------------------------------------------------- annual disclosure

#[derive(Debug, Default, Deserialize)]
pub struct DisclosureQuery {
    pub year: Option<i32>,
}

/// SPEC §7.4 (2026 national notice): by the end of March, the previous year's authorizations,
/// price caps, authorized resources, products and actual prices, generated from the platform's
/// own records.
#[utoipa::path(get, path = "/api/v1/public/disclosure", tag = "products",
    responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn disclosure(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DisclosureQuery>,
) -> ApiResult<Json<Value>> {
    app.authorize(&caller, Action::DisclosureRead, &Resource::platform()).await?;
    let today = app.clock.today();
    let year = q.year.unwrap_or(today.year() - 1);
    if year >= today.year() {
        return Err(ApiError::validation(vec![FieldProblem::new(
            "year",
            "a year that has ended: the disclosure covers the previous year",
            "须为已结束的年度：公开披露上一年度情况",
        )]));
    }
    let (start, end) = match (NaiveDate::from_ymd_opt(year, 1, 1), NaiveDate::from_ymd_opt(year, 12, 31)) {
        (Some(s), Some(e)) => (s, e),
        _ => return Err(ApiError::validation(vec![FieldProblem::new("year", "a calendar year", "年份有误")])),
    };
    let due = NaiveDate::from_ymd_opt(year + 1, app.profile.supervision.disclosure_due_month, 1)
        .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
        .and_then(|d| d.pred_opt());
    let mut conn = app.store.acquire().await?;
    let agreements = shuyu_store::operators::list_agreements(&mut conn, None).await?;
    let products = store::list_products(&mut conn, None, false).await?;
    let contracts = store::list_contracts(&mut conn, None).await?;
    let mut rows = Vec::new();
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for a in agreements.iter().filter(|a| a.valid_from <= end && a.valid_until >= start && a.filed_on.is_some()) {
        let operator = organisations::get(&mut conn, a.operator_org).await?.map(|o| o.name).unwrap_or_default();
        names.insert(a.operator_org.to_string(), operator.clone());
        let programme = shuyu_store::operators::get_programme(&mut conn, &a.programme_id).await?;
        let mode = programme
            .as_ref()
            .and_then(|p| p.content.get("mode").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let entries: Vec<String> = a
            .content
            .get("catalogue_entries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        for e in entries {
            let entry = shuyu_store::catalogue::get(&mut conn, &e).await?;
            let name = entry.as_ref().and_then(|x| x.published.as_ref()).map(|m| m.name.clone()).unwrap_or(e.clone());
            let regs = shuyu_store::registrations::for_entry(&mut conn, &e).await?;
            let registration = regs
                .iter()
                .find_map(|r| r.certificate_code.clone())
                .map(|c| format!("registered {c}"))
                .or_else(|| regs.first().map(|r| r.workflow.state.as_str().to_string()))
                .unwrap_or_else(|| "unregistered".into());
            rows.push(json!({
                "resource": name, "registration_status": registration, "authorization_mode": mode,
                "price_cap": Value::Null, "operator": operator,
                "authorization_term": format!("{} – {}", a.valid_from, a.valid_until), "disclosure_date": today,
            }));
        }
    }
    let mut product_rows = Vec::new();
    for p in products.iter().filter(|p| p.first_published_on.is_some_and(|d| d <= end)) {
        let prices: Vec<Value> = contracts
            .iter()
            .filter(|c| c.product_id == p.id && c.terms.valid_from <= end && c.terms.valid_until >= start)
            .map(|c| json!({ "scenario": c.scenario, "category": c.category, "plan": c.terms.plan }))
            .collect();
        let operator = match names.get(&p.operator_org.to_string()) {
            Some(n) => n.clone(),
            None => organisations::get(&mut conn, p.operator_org).await?.map(|o| o.name).unwrap_or_default(),
        };
        product_rows.push(json!({
            "product": p.name, "kind": p.kind, "operator": operator, "price_cap": p.price_cap,
            "actual_prices": prices, "status": p.status,
        }));
    }
    Ok(Json(json!({
        "year": year, "disclosure_date": today, "due_by": due,
        "columns": ["resource", "registration_status", "authorization_mode", "price_cap", "operator", "authorization_term", "disclosure_date"],
        "authorizations": rows, "products": product_rows,
    })))
}
