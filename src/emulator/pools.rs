//! Instance pools API 2.0 (`/api/2.0/instance-pools/*`).

use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AppState;

/// An instance pool as the workspace stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PoolRecord {
    /// Pool ID.
    pub instance_pool_id: String,
    /// The pool's settings, with server defaults filled in.
    pub spec: Map<String, Value>,
    /// `ACTIVE`, `STOPPED` or `DELETED`.
    pub state: String,
    /// Who created it.
    pub creator_user_name: String,
}

/// The instance pools routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
