//! `/__emulator/*`: observing and steering the emulator, outside the Databricks API.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::faults::FaultRule;
use super::{ApiJson, ApiResult, AppState, principals};

/// The admin routes, nested under `/__emulator`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/stats", get(stats).delete(reset_stats))
        .route(
            "/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/reset", post(reset))
}

async fn stats(State(ws): State<AppState>) -> Json<Value> {
    let (routes, total) = ws.stats();
    Json(json!({"total": total, "routes": routes, "faults_injected": ws.faults.injected()}))
}

async fn reset_stats(State(ws): State<AppState>) -> Json<Value> {
    ws.reset_stats();
    Json(json!({}))
}

async fn list_faults(State(ws): State<AppState>) -> Json<Value> {
    Json(json!({"rules": ws.faults.rules()}))
}

async fn add_fault(
    State(ws): State<AppState>,
    ApiJson(rule): ApiJson<FaultRule>,
) -> ApiResult<Json<Value>> {
    ws.faults.add(rule);
    Ok(Json(json!({})))
}

async fn clear_faults(State(ws): State<AppState>) -> Json<Value> {
    ws.faults.clear();
    Json(json!({}))
}

async fn reset(State(ws): State<AppState>) -> Json<Value> {
    ws.store.replace(principals::seeded_db(&ws.principals));
    ws.faults.clear();
    ws.reset_stats();
    Json(json!({}))
}
