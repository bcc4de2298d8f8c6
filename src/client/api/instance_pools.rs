//! Instance Pools API 2.0: list (one answer, no paging), get, create, edit, delete.

use serde_json::Value;

use super::{Listing, ObjectEndpoints};
use crate::client::{ClientError, WorkspaceClient};

const LIST: &str = "/api/2.0/instance-pools/list";
const GET: &str = "/api/2.0/instance-pools/get";

/// Pools are created, edited (their editable fields) and deleted by `instance_pool_id`.
pub const OBJECTS: ObjectEndpoints = ObjectEndpoints {
    create: "/api/2.0/instance-pools/create",
    edit: "/api/2.0/instance-pools/edit",
    delete: "/api/2.0/instance-pools/delete",
    id_field: "instance_pool_id",
    listing: Listing::InstancePools,
};

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
