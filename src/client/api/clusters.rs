//! Clusters API 2.1: list (paged), get, create, edit, start, terminate, permanent delete.

use serde_json::{Value, json};

use super::{Listing, ObjectEndpoints, Page, paged};
use crate::client::{ClientError, WorkspaceClient};

const LIST: &str = "/api/2.1/clusters/list";
const GET: &str = "/api/2.1/clusters/get";
const START: &str = "/api/2.1/clusters/start";
const TERMINATE: &str = "/api/2.1/clusters/delete";

/// All-purpose clusters are created, edited (the whole spec replaced) and deleted for good by
/// `cluster_id`.
pub const OBJECTS: ObjectEndpoints = ObjectEndpoints {
    create: "/api/2.1/clusters/create",
    edit: "/api/2.1/clusters/edit",
    delete: "/api/2.1/clusters/permanent-delete",
    id_field: "cluster_id",
    listing: Listing::AllPurposeClusters,
};

/// Which clusters a listing asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// Those made through the API or the UI: the all-purpose ones.
    AllPurpose,
    /// Every cluster, job clusters too.
    Any,
}

/// One page of clusters (100 a page).
pub async fn list_page(
    client: &WorkspaceClient,
    sources: Sources,
    page_token: Option<String>,
) -> Result<Page, ClientError> {
    let query: &[(&str, &str)] = match sources {
        Sources::AllPurpose => &[
            ("page_size", "100"),
            ("filter_by.cluster_sources", "API"),
            ("filter_by.cluster_sources", "UI"),
        ],
        Sources::Any => &[("page_size", "100")],
    };
    let answer = client.get_page(LIST, &paged(query, page_token)).await?;
    Ok(Page::of(answer, "clusters"))
}

/// A cluster as `clusters/get` answers it (its `spec` is the spec as submitted, without the
/// service's defaults).
pub async fn get(client: &WorkspaceClient, id: &str) -> Result<Value, ClientError> {
    client.get(GET, &[("cluster_id", id.to_string())]).await
}

/// Starts a terminated cluster.
pub async fn start(client: &WorkspaceClient, id: &str) -> Result<(), ClientError> {
    client
        .post(START, &json!({"cluster_id": id}))
        .await
        .map(drop)
}

/// Terminates a cluster (`clusters/delete`: it can be started again).
pub async fn terminate(client: &WorkspaceClient, id: &str) -> Result<(), ClientError> {
    client
        .post(TERMINATE, &json!({"cluster_id": id}))
        .await
        .map(drop)
}
