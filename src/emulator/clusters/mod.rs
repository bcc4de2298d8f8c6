//! Clusters API 2.0 and 2.1 (`/api/2.0/clusters/*`, `/api/2.1/clusters/*`). The state machine
//! the handlers drive is [`super::cluster_lifecycle`]'s.

mod catalog;
mod compute;
mod events;
mod handlers;
mod listing;
mod rules;
mod views;

use axum::Router;
use axum::routing::{get, post};

use crate::emulator::AppState;
pub use catalog::{Cloud, NodeType};
use catalog::{list_node_types, list_zones, spark_versions};
pub use compute::{check_compute, check_job_clusters};
use handlers::{
    change_owner, create, delete, edit, get_cluster, list_v20, list_v21, permanent_delete, pin,
    resize, restart, start, unpin, update,
};
pub(crate) use rules::{lookup, set_path};

/// The clusters routes.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/2.0/clusters/list", get(list_v20))
        .route("/api/2.1/clusters/list", get(list_v21))
        .route("/api/2.1/clusters/update", post(update));
    for version in ["2.0", "2.1"] {
        let path = |op: &str| format!("/api/{version}/clusters/{op}");
        router = router
            .route(&path("create"), post(create))
            .route(&path("edit"), post(edit))
            .route(&path("get"), get(get_cluster))
            .route(&path("start"), post(start))
            .route(&path("restart"), post(restart))
            .route(&path("resize"), post(resize))
            .route(&path("delete"), post(delete))
            .route(&path("permanent-delete"), post(permanent_delete))
            .route(&path("pin"), post(pin))
            .route(&path("unpin"), post(unpin))
            .route(&path("change-owner"), post(change_owner))
            .route(&path("spark-versions"), get(spark_versions))
            .route(&path("list-node-types"), get(list_node_types))
            .route(&path("list-zones"), get(list_zones))
            .route(&path("events"), post(events::events));
    }
    router
}
