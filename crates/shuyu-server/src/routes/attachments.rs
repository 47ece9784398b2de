//! Uploading application materials and evidence: the raw body is the file; its SHA-256 is
//! computed here and recorded, so every later reference names exact bytes. The bytes go to
//! object storage before the row that names them commits, so a committed attachment always has
//! its file, and a process killed in between leaves at most an object no row names.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shuyu_audit::Outcome;
use shuyu_authz::{Action, Resource};
use shuyu_store::attachments::{self, Attachment, Content};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, FieldProblem};
use crate::extract::ApiQuery;
use crate::objects::unavailable;
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
    let stored = keep(&app, &a, body).await?;
    let committed = async {
        let mut tx = app.begin().await?;
        attachments::insert(tx.conn(), &a, &stored).await?;
        tx.audit(
            &caller.ctx,
            "attachment.uploaded",
            &a.id.resource(),
            Outcome::Success,
            json!({ "filename": a.filename, "size": a.size, "sha256": a.sha256 }),
        )
        .await?;
        tx.commit().await?;
        ApiResult::Ok(())
    }
    .await;
    if let Err(e) = committed {
        // No row names the object: remove it rather than leave it unowned.
        if let Content::Object(key) = &stored {
            if let Err(err) = app.objects.delete(key).await {
                tracing::warn!(error = %err, "removing the object of an attachment that did not commit");
            }
        }
        return Err(e);
    }
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

/// Stores an attachment's bytes in object storage, under its organisation; the returned
/// location goes into the row.
pub(crate) async fn keep(app: &AppState, a: &Attachment, bytes: Bytes) -> ApiResult<Content> {
    let key = format!("attachments/{}/{}", a.org_id, a.id);
    app.objects.put(&key, bytes).await.map_err(|err| unavailable("storing an attachment", &err))?;
    Ok(Content::Object(key))
}

/// An attachment's bytes, checked against the digest its row recorded: bytes changed in
/// storage are never served as the attachment.
pub(crate) async fn read(app: &AppState, a: &Attachment, content: Content) -> ApiResult<Vec<u8>> {
    let bytes = match content {
        Content::Inline(bytes) => bytes,
        Content::Object(key) => match app.objects.get(&key).await {
            Ok(Some(b)) => b.to_vec(),
            Ok(None) => return Err(unavailable("reading an attachment", &format!("its object {key} is missing"))),
            Err(err) => return Err(unavailable("reading an attachment", &err)),
        },
    };
    use sha2::Digest;
    if hex::encode(sha2::Sha256::digest(&bytes)) != a.sha256 {
        tracing::error!(attachment = %a.id, "an attachment's bytes do not match their recorded SHA-256");
        return Err(ApiError::new(StatusCode::CONFLICT, "attachment_altered"));
    }
    Ok(bytes)
}
