//! Uploading application materials and evidence: the raw body is the file; its SHA-256 is
//! computed here and recorded, so every later reference names exact bytes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_store::attachments::{self, Attachment};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UploadParams {
    /// The file's name as the uploader knows it.
    pub filename: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: String,
    pub filename: String,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
}

#[utoipa::path(post, path = "/api/v1/attachments", tag = "registration", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentView), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn upload(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<AttachmentView>)> {
    app.authorize(&caller, Action::AttachmentUpload, &Resource::platform()).await?;
    let user = caller.require_user()?.clone();
    let filename = params.filename.trim().to_string();
    let mut problems = Vec::new();
    if filename.is_empty() || filename.chars().count() > 200 || filename.contains(['/', '\\', '\0']) {
        problems.push(FieldProblem::new(
            "filename",
            "1–200 characters, no path separators",
            "文件名应为1至200个字符，不含路径",
        ));
    }
    if body.is_empty() {
        problems.push(FieldProblem::new("body", "the file is empty", "文件内容为空"));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .chars()
        .take(100)
        .collect::<String>();
    let a = Attachment::for_content(user.org_id, user.id, filename, media_type, &body, app.clock.now())?;
    let mut tx = app.begin().await?;
    attachments::insert(tx.conn(), &a, &body).await?;
    tx.audit(
        &caller.ctx,
        "attachment.uploaded",
        &a.id.resource(),
        Outcome::Success,
        json!({ "filename": a.filename, "size": a.size, "sha256": a.sha256 }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(AttachmentView {
            id: a.id.to_string(),
            filename: a.filename,
            media_type: a.media_type,
            size: a.size,
            sha256: a.sha256,
        }),
    ))
}
