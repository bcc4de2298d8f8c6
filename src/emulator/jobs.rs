//! Jobs API 2.1 and 2.2 (`/api/2.1/jobs/*`, `/api/2.2/jobs/*`) and job runs.

use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AppState;

/// A job as the workspace stores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobRecord {
    /// Job ID.
    pub job_id: i64,
    /// Who created it.
    pub creator_user_name: String,
    /// Who runs it (the owner).
    pub run_as_user_name: String,
    /// Creation time, epoch ms.
    pub created_time: i64,
    /// JobSettings, normalised as GET returns them.
    pub settings: Map<String, Value>,
}

/// A run of a job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunRecord {
    /// Run ID.
    pub run_id: i64,
    /// The job.
    pub job_id: i64,
    /// Start time, epoch ms.
    pub start_time: i64,
    /// Life-cycle state (`SKIPPED`, `TERMINATED`, ...).
    pub life_cycle_state: String,
    /// Result (`SUCCESS`, ...), when ended.
    pub result_state: Option<String>,
    /// Why, for skipped runs.
    pub state_message: String,
    /// Who started it.
    pub creator_user_name: String,
}

/// The jobs routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
