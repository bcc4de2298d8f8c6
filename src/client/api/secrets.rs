//! Secrets API 2.0: scopes, the secrets of a scope (names and timestamps; values are never
//! read back) and scope ACLs.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{ClientError, Retry, WorkspaceClient};

const LIST_SCOPES: &str = "/api/2.0/secrets/scopes/list";
const CREATE_SCOPE: &str = "/api/2.0/secrets/scopes/create";
const DELETE_SCOPE: &str = "/api/2.0/secrets/scopes/delete";
const LIST: &str = "/api/2.0/secrets/list";
const PUT: &str = "/api/2.0/secrets/put";
const DELETE: &str = "/api/2.0/secrets/delete";
const LIST_ACLS: &str = "/api/2.0/secrets/acls/list";
const PUT_ACL: &str = "/api/2.0/secrets/acls/put";
const DELETE_ACL: &str = "/api/2.0/secrets/acls/delete";

/// A secret's value: text, or bytes (sent base64-encoded).
#[derive(Clone, Copy)]
pub enum SecretValue<'a> {
    /// UTF-8 text (`string_value`).
    Text(&'a str),
    /// Anything else (`bytes_value`).
    Bytes(&'a [u8]),
}

/// Every scope (`name`, `backend_type`).
pub async fn list_scopes(client: &WorkspaceClient) -> Result<Vec<Value>, ClientError> {
    let answer = client.get(LIST_SCOPES, &[]).await?;
    Ok(super::items(answer, "scopes"))
}

/// Creates scope `name`, the caller alone holding MANAGE. `retry` says whether a create whose
/// outcome is unknown may be sent again (when the caller accepts `RESOURCE_ALREADY_EXISTS`).
pub async fn create_scope(
    client: &WorkspaceClient,
    name: &str,
    retry: Retry,
) -> Result<(), ClientError> {
    let body = json!({"scope": name});
    client
        .call(Method::POST, CREATE_SCOPE, &[], Some(&body), retry)
        .await
        .map(drop)
}

/// Deletes scope `name` with its secrets.
pub async fn delete_scope(client: &WorkspaceClient, name: &str) -> Result<(), ClientError> {
    client
        .post(DELETE_SCOPE, &json!({"scope": name}))
        .await
        .map(drop)
}

/// The secrets of `scope` (`key`, `last_updated_timestamp`).
pub async fn list(client: &WorkspaceClient, scope: &str) -> Result<Vec<Value>, ClientError> {
    let answer = client.get(LIST, &[("scope", scope.to_string())]).await?;
    Ok(super::items(answer, "secrets"))
}

/// Writes secret `key` of `scope`.
pub async fn put(
    client: &WorkspaceClient,
    scope: &str,
    key: &str,
    value: SecretValue<'_>,
) -> Result<(), ClientError> {
    let body = match value {
        SecretValue::Text(text) => json!({"scope": scope, "key": key, "string_value": text}),
        SecretValue::Bytes(bytes) => {
            json!({"scope": scope, "key": key, "bytes_value": base64::engine::general_purpose::STANDARD.encode(bytes)})
        }
    };
    client.post(PUT, &body).await.map(drop)
}

/// Deletes secret `key` of `scope`.
pub async fn delete(client: &WorkspaceClient, scope: &str, key: &str) -> Result<(), ClientError> {
    client
        .post(DELETE, &json!({"scope": scope, "key": key}))
        .await
        .map(drop)
}

/// The ACL of `scope` (`principal`, `permission`); listing it takes MANAGE.
pub async fn list_acls(client: &WorkspaceClient, scope: &str) -> Result<Vec<Value>, ClientError> {
    let answer = client
        .get(LIST_ACLS, &[("scope", scope.to_string())])
        .await?;
    Ok(super::items(answer, "items"))
}

/// Gives `principal` `permission` (`READ`, `WRITE`, `MANAGE`) on `scope`.
pub async fn put_acl(
    client: &WorkspaceClient,
    scope: &str,
    principal: &str,
    permission: &str,
) -> Result<(), ClientError> {
    let body = json!({"scope": scope, "principal": principal, "permission": permission});
    client.post(PUT_ACL, &body).await.map(drop)
}

/// Removes `principal`'s entry from the ACL of `scope`.
pub async fn delete_acl(
    client: &WorkspaceClient,
    scope: &str,
    principal: &str,
) -> Result<(), ClientError> {
    client
        .post(DELETE_ACL, &json!({"scope": scope, "principal": principal}))
        .await
        .map(drop)
}
