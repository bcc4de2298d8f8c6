//! Clusters API 2.0 and 2.1 (`/api/2.0/clusters/*`, `/api/2.1/clusters/*`) with the cluster state
//! machine.

use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AppState;

/// A cluster as the workspace stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterRecord {
    /// Cluster ID (`0101-120000-abcd1234`).
    pub cluster_id: String,
    /// The last create/edit spec (what `spec` echoes).
    pub spec: Map<String, Value>,
    /// `PENDING`, `RUNNING`, `RESTARTING`, `RESIZING`, `TERMINATING`, `TERMINATED`.
    pub state: String,
    /// When `state` was entered, epoch ms.
    pub state_since: i64,
    /// Who created it.
    pub creator_user_name: String,
    /// `API`, `UI`, `JOB`, ...
    pub cluster_source: String,
    /// Pinned clusters cannot be permanently deleted.
    pub pinned: bool,
    /// Start time, epoch ms.
    pub start_time: i64,
    /// Termination time, epoch ms.
    pub terminated_time: Option<i64>,
}

/// The clusters routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
