//! Organisations of the kinds in the SPEC glossary.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_core::clock::format_instant;
use shuyu_core::ids::OrgId;
use shuyu_core::roles::OrgKind;
use shuyu_core::validators::Uscc;
use shuyu_store::organisations::{self, Organisation};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrganisationView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub uscc: Option<String>,
    pub created_at: String,
}

impl From<&Organisation> for OrganisationView {
    fn from(o: &Organisation) -> Self {
        Self {
            id: o.id.to_string(),
            name: o.name.clone(),
            kind: o.kind.as_str().to_string(),
            uscc: o.uscc.clone(),
            created_at: format_instant(o.created_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/organisations", tag = "organisations",
    responses((status = 200, body = [OrganisationView]), (status = 401, body = ErrorBody)))]
pub async fn list(State(app): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<OrganisationView>>> {
    app.authorize(&caller, Action::OrganisationList, &Resource::platform()).await?;
    let mut conn = app.store.acquire().await?;
    let all = organisations::list(&mut conn).await?;
    drop(conn);
    app.record_access(&caller, Action::OrganisationList, "platform:shuyu", json!({"count": all.len()})).await?;
    Ok(Json(all.iter().map(OrganisationView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/organisations/{id}", tag = "organisations", params(("id" = String, Path)),
    responses((status = 200, body = OrganisationView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<OrgId>,
) -> ApiResult<Json<OrganisationView>> {
    app.authorize(&caller, Action::OrganisationRead, &Resource::organisation(id)).await?;
    let mut conn = app.store.acquire().await?;
    let org = organisations::get(&mut conn, id).await?.ok_or_else(|| ApiError::not_found("organisation"))?;
    drop(conn);
    app.record_access(&caller, Action::OrganisationRead, &id.resource(), json!({})).await?;
    Ok(Json(OrganisationView::from(&org)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganisation {
    pub name: String,
    /// One of the organisation kinds: authority, source_department, operator, …
    pub kind: String,
    pub uscc: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/organisations", tag = "organisations", request_body = NewOrganisation,
    responses((status = 201, body = OrganisationView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<NewOrganisation>,
) -> ApiResult<(StatusCode, Json<OrganisationView>)> {
    app.authorize(&caller, Action::OrganisationCreate, &Resource::platform()).await?;
    let mut problems = Vec::new();
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 128 {
        problems.push(FieldProblem::new("name", "1–128 characters", "1 至 128 个字符"));
    }
    let kind = req.kind.parse::<OrgKind>().ok();
    if kind.is_none() {
        problems.push(FieldProblem::new("kind", format!("unknown organisation kind {:?}", req.kind), "未知的机构类型"));
    }
    let uscc = match req.uscc.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => match Uscc::parse(v) {
            Ok(code) => Some(code.as_str().to_string()),
            Err(e) => {
                problems.push(FieldProblem::new("uscc", e.to_string(), format!("统一社会信用代码无效：{e}")));
                None
            }
        },
        None => None,
    };
    let Some(kind) = kind.filter(|_| problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let mut tx = app.begin().await?;
    let org = Organisation { id: OrgId::new(), name, kind, uscc, created_at: tx.now() };
    organisations::insert(tx.conn(), &org).await?;
    tx.audit(
        &caller.ctx,
        Action::OrganisationCreate.as_str(),
        &org.id.resource(),
        Outcome::Success,
        json!({"name": org.name, "kind": org.kind}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(OrganisationView::from(&org))))
}
