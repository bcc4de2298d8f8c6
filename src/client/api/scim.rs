//! SCIM 2.0 (preview): the caller, and the workspace's users, groups and service principals.

use serde_json::Value;

use crate::client::{ClientError, WorkspaceClient};

/// The identity the client's token belongs to.
pub async fn me(client: &WorkspaceClient) -> Result<Value, ClientError> {
    client.get("/api/2.0/preview/scim/v2/Me", &[]).await
}

/// The workspace's users (a SCIM list response: `Resources`).
pub async fn users(client: &WorkspaceClient) -> Result<Value, ClientError> {
    list(client, "/api/2.0/preview/scim/v2/Users").await
}

/// The workspace's groups (a SCIM list response: `Resources`).
pub async fn groups(client: &WorkspaceClient) -> Result<Value, ClientError> {
    list(client, "/api/2.0/preview/scim/v2/Groups").await
}

/// The workspace's service principals (a SCIM list response: `Resources`).
pub async fn service_principals(client: &WorkspaceClient) -> Result<Value, ClientError> {
    list(client, "/api/2.0/preview/scim/v2/ServicePrincipals").await
}

/// Up to 10,000 resources in one answer: more than any workspace tandem checks has.
async fn list(client: &WorkspaceClient, path: &str) -> Result<Value, ClientError> {
    client.get(path, &[("count", "10000".to_string())]).await
}
