//! API errors: JSON `{code, message, message_zh, details, basis?}` with the right status.
//! Messages come from the catalogue by code; a refusal caused by a regulation names its
//! article in `basis`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};
use shuyu_authz::AuthzError;
use shuyu_core::CoreError;
use shuyu_store::StoreError;

use crate::i18n::{t, Lang};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `validation`, `forbidden`.
    pub code: String,
    pub message: String,
    pub message_zh: String,
    #[schema(value_type = Object)]
    pub details: Value,
    /// The regulation article behind a refusal, e.g. `YXR §16`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed so that `Result<_, ApiError>` stays small on the happy path.
    pub body: Box<ErrorBody>,
}

/// One bad field of a request, named so the person can fix it.
#[derive(Debug, Clone, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
    pub problem_zh: String,
}

impl FieldProblem {
    pub fn new(field: &str, problem: impl Into<String>, problem_zh: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into(), problem_zh: problem_zh.into() }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str) -> Self {
        let key = format!("error.{code}");
        Self {
            status,
            body: Box::new(ErrorBody {
                code: code.to_string(),
                message: t(Lang::En, &key),
                message_zh: t(Lang::Zh, &key),
                details: Value::Object(Default::default()),
                basis: None,
            }),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.body.details = details;
        self
    }

    pub fn with_basis(mut self, basis: impl Into<String>) -> Self {
        self.body.basis = Some(basis.into());
        self
    }

    /// Adds the specific reason to the catalogue's general message.
    pub fn with_reason(mut self, en: &str, zh: &str) -> Self {
        self.body.message = format!("{}: {en}", self.body.message);
        self.body.message_zh = format!("{}：{zh}", self.body.message_zh);
        self
    }

    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated")
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden")
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found").with_details(json!({ "resource": what }))
    }

    pub fn bad_request(reason: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request").with_details(json!({ "reason": reason }))
    }

    pub fn validation(problems: Vec<FieldProblem>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation").with_details(json!({ "fields": problems }))
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(*self.body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => {
                ApiError::new(StatusCode::CONFLICT, "conflict").with_details(json!({ "what": what }))
            }
            StoreError::NotFound { what } => ApiError::not_found(&what),
            other => {
                // The detail goes to the log with the request id, not to the caller.
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl From<AuthzError> for ApiError {
    fn from(e: AuthzError) -> Self {
        match e {
            AuthzError::Denied { .. } => ApiError::forbidden(),
            other => {
                tracing::error!(error = %other, "authorization error");
                ApiError::internal()
            }
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::CalendarYearMissing { year } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "calendar_year_missing")
                    .with_details(json!({ "year": year }))
            }
            other => ApiError::bad_request(&other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
