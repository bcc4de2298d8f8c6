//! Databricks-shaped error responses: `{"error_code": "...", "message": "..."}` with the status
//! the real service uses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error as the workspace API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `error_code`: usually a string (`INVALID_PARAMETER_VALUE`); a number for a bad token.
    pub error_code: Value,
    /// `message`.
    pub message: String,
    /// `Retry-After` seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a string code.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error_code: Value::String(code.to_string()),
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 INVALID_PARAMETER_VALUE.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    /// 400 INVALID_STATE.
    pub fn invalid_state(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_STATE", message)
    }

    /// 400 MALFORMED_REQUEST.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", message)
    }

    /// 404 RESOURCE_DOES_NOT_EXIST.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }

    /// 409 RESOURCE_ALREADY_EXISTS.
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS", message)
    }

    /// 403 PERMISSION_DENIED.
    pub fn permission_denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
    }

    /// 400 RESOURCE_LIMIT_EXCEEDED / QUOTA_EXCEEDED style limits.
    pub fn limit(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The 403 a missing or wrong token gets: numeric `error_code`, as the real gateway sends.
    pub fn bad_token() -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            error_code: json!(403),
            message: "Invalid access token.".into(),
            retry_after: None,
        }
    }

    /// The 401 a request without a bearer token gets, in the gateway's dialect (numeric
    /// `error_code`).
    pub fn no_credentials() -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error_code: json!(401),
            message: "Credential was not sent or was of an unsupported type for this API.".into(),
            retry_after: None,
        }
    }

    /// The 404 ENDPOINT_NOT_FOUND a workspace answers for a method and path it has no API for
    /// (the message names the path without its `/api/<version>` prefix).
    pub fn endpoint_not_found(method: &str, path: &str) -> Self {
        let short = path
            .strip_prefix("/api/")
            .and_then(|rest| rest.split_once('/'))
            .map_or(path, |(_, tail)| tail);
        let short = short.trim_start_matches('/');
        Self::new(
            StatusCode::NOT_FOUND,
            "ENDPOINT_NOT_FOUND",
            format!("No API found for '{method} /{short}'"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.error_code, "message": self.message});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert("retry-after", value);
        }
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_not_found_names_the_path_without_the_api_version() {
        let error = ApiError::endpoint_not_found("GET", "/api/2.0/repos");
        assert_eq!(error.status, StatusCode::NOT_FOUND);
        assert_eq!(error.error_code, json!("ENDPOINT_NOT_FOUND"));
        assert_eq!(error.message, "No API found for 'GET /repos'");
        assert_eq!(
            ApiError::endpoint_not_found("POST", "/api/2.1/unknown/thing").message,
            "No API found for 'POST /unknown/thing'"
        );
        assert_eq!(
            ApiError::endpoint_not_found("GET", "/elsewhere").message,
            "No API found for 'GET /elsewhere'"
        );
    }

    #[test]
    fn a_missing_credential_is_a_401_with_a_numeric_code() {
        let error = ApiError::no_credentials();
        assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        assert_eq!(error.error_code, json!(401));
        assert!(error.message.starts_with("Credential was not sent"));
    }
}
