//! Secrets API 2.0: scopes, secrets and secret ACLs (`/api/2.0/secrets/*`).

use std::collections::BTreeMap;

use axum::Router;
use serde::{Deserialize, Serialize};

use super::AppState;

/// A secret: its value is kept only as a fingerprint, so no state file ever holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SecretRecord {
    /// Key.
    pub key: String,
    /// SHA-256 of the value, hex.
    pub sha256: String,
    /// Value size in bytes.
    pub size: usize,
    /// Last write, epoch ms.
    pub last_updated_timestamp: i64,
}

/// A secret scope with its secrets and ACLs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScopeRecord {
    /// Name as created.
    pub name: String,
    /// `DATABRICKS` or `AZURE_KEYVAULT`.
    pub backend_type: String,
    /// Secrets by key.
    pub secrets: BTreeMap<String, SecretRecord>,
    /// ACLs: principal → `READ` | `WRITE` | `MANAGE`.
    pub acls: BTreeMap<String, String>,
}

/// The secrets routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
