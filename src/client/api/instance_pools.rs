//! Instance Pools API 2.0: list (one answer, no paging), get, create, edit, delete.

use serde_json::{Value, json};

use super::created_id;
use crate::client::{ClientError, WorkspaceClient};

const LIST: &str = "/api/2.0/instance-pools/list";
const GET: &str = "/api/2.0/instance-pools/get";
const CREATE: &str = "/api/2.0/instance-pools/create";
const EDIT: &str = "/api/2.0/instance-pools/edit";
const DELETE: &str = "/api/2.0/instance-pools/delete";

/// Every pool.
pub async fn list(client: &WorkspaceClient) -> Result<Vec<Value>, ClientError> {
    let answer = client.get_page(LIST, &[]).await?;
    Ok(super::items(answer, "instance_pools"))
}

/// A pool as `instance-pools/get` answers it.
pub async fn get(client: &WorkspaceClient, id: &str) -> Result<Value, ClientError> {
    client
        .get(GET, &[("instance_pool_id", id.to_string())])
        .await
}

/// Creates a pool from its spec; its ID. Never repeated when the outcome is unknown.
pub async fn create(client: &WorkspaceClient, spec: &Value) -> Result<String, ClientError> {
    let answer = client.create(CREATE, spec).await?;
    Ok(created_id(&answer, "instance_pool_id"))
}

/// Changes a pool's editable fields (`spec` names the pool by `instance_pool_id`).
pub async fn edit(client: &WorkspaceClient, spec: &Value) -> Result<(), ClientError> {
    client.post(EDIT, spec).await.map(drop)
}

/// Deletes a pool.
pub async fn delete(client: &WorkspaceClient, id: &str) -> Result<(), ClientError> {
    client
        .post(DELETE, &json!({"instance_pool_id": id}))
        .await
        .map(drop)
}
