//! Permissions API 2.0: an object's access control list, read and replaced.

use serde_json::{Value, json};

use crate::client::{ClientError, WorkspaceClient};

/// An object type as the Permissions API names it in its paths (`jobs`, `clusters`,
/// `instance-pools`): each kind says its own (`kinds::KindSpec::permissions_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectType(pub &'static str);

impl ObjectType {
    /// Jobs (the grants a promotion rewrites as their jobs are listed).
    pub const JOBS: ObjectType = ObjectType("jobs");

    /// The type's segment of the API path.
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

fn path(object: ObjectType, id: &str) -> String {
    format!("/api/2.0/permissions/{}/{id}", object.as_str())
}

/// The permissions of object `id` (direct and inherited, as the API answers them).
pub async fn get(
    client: &WorkspaceClient,
    object: ObjectType,
    id: &str,
) -> Result<Value, ClientError> {
    client.get(&path(object, id), &[]).await
}

/// Replaces the direct permissions of object `id` with `acl` (entries as the API takes them).
pub async fn set(
    client: &WorkspaceClient,
    object: ObjectType,
    id: &str,
    acl: Vec<Value>,
) -> Result<(), ClientError> {
    let body = access_control_list(acl);
    client.put(&path(object, id), &body).await.map(drop)
}

/// [`set`] in request slots nobody else waits for: a write that may wait for everything else.
pub async fn set_in_background(
    client: &WorkspaceClient,
    object: ObjectType,
    id: &str,
    acl: Vec<Value>,
) -> Result<(), ClientError> {
    let body = access_control_list(acl);
    client
        .put_in_background(&path(object, id), &body)
        .await
        .map(drop)
}

fn access_control_list(acl: Vec<Value>) -> Value {
    json!({"access_control_list": acl})
}
