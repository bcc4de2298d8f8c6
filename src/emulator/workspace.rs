//! Workspace files API (`/api/2.0/workspace/*`): where tandem keeps its state record and lock.

use axum::Router;
use serde::{Deserialize, Serialize};

use super::AppState;

/// A file or directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    /// Absolute path.
    pub path: String,
    /// `DIRECTORY` or `FILE`.
    pub object_type: String,
    /// Object ID.
    pub object_id: i64,
    /// Content, base64 (files only).
    pub content: Option<String>,
    /// Creation time, epoch ms.
    pub created_at: i64,
    /// Last change, epoch ms.
    pub modified_at: i64,
}

/// The workspace routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}
