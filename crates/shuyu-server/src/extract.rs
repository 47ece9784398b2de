//! Request extractors whose rejections are API errors (JSON with a stable code), not plain text.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldProblem};

/// A JSON body. A malformed body or a wrong field is answered with `validation` naming the
/// field, so the caller can fix it.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                let text = e.body_text();
                Err(ApiError::validation(vec![FieldProblem::new(
                    field_of(&text).as_str(),
                    text.clone(),
                    format!("字段内容不符合要求：{text}"),
                )]))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => {
                Err(ApiError::bad_request("send the body as JSON with Content-Type: application/json"))
            }
            Err(e) => Err(ApiError::bad_request(&e.body_text())),
        }
    }
}

/// Reads an action's JSON body (taken as a `Value` so it is parsed only after authorization)
/// into its type; a mismatch is a `validation` error naming the problem.
pub fn parse_body<T: DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        let text = e.to_string();
        ApiError::validation(vec![FieldProblem::new("body", text.clone(), format!("请求内容不符合要求：{text}"))])
    })
}

/// serde's messages start with the path of the bad field, e.g. `roles[0]: unknown variant …`.
fn field_of(text: &str) -> String {
    let rest = text.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(text);
    match rest.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_string(),
        _ => "body".to_string(),
    }
}

/// Query parameters with API-error rejections.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let text = e.body_text();
                Err(ApiError::validation(vec![FieldProblem::new(
                    "query",
                    text.clone(),
                    format!("查询参数不符合要求：{text}"),
                )]))
            }
            Err(e) => Err(ApiError::bad_request(&e.body_text())),
        }
    }
}

/// A path parameter parsed into its type; a malformed id is a 404, as it names nothing.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::not_found(&e.body_text())),
        }
    }
}
