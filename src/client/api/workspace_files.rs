//! Workspace API 2.0 for files: export, import, delete, mkdirs.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{ClientError, Retry, WorkspaceClient};

const EXPORT: &str = "/api/2.0/workspace/export";
const IMPORT: &str = "/api/2.0/workspace/import";
const DELETE: &str = "/api/2.0/workspace/delete";
const MKDIRS: &str = "/api/2.0/workspace/mkdirs";

/// The bytes of file `path` (`None` when there is none).
pub async fn export(client: &WorkspaceClient, path: &str) -> Result<Option<Vec<u8>>, ClientError> {
    let answer = match client
        .get(
            EXPORT,
            &[("path", path.to_string()), ("format", "SOURCE".to_string())],
        )
        .await
    {
        Ok(a) => a,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e),
    };
    let content = answer
        .get("content")
        .and_then(Value::as_str)
        .ok_or_else(|| unexpected_export(client, format!("{path}: the answer has no content")))?;
    base64::engine::general_purpose::STANDARD
        .decode(content)
        .map(Some)
        .map_err(|_| unexpected_export(client, format!("{path}: the content is not base64")))
}

/// An exported file that is not what its reader expects (`reason` names the file).
pub fn unexpected_export(client: &WorkspaceClient, reason: String) -> ClientError {
    ClientError::Decode {
        workspace: client.name().into(),
        method: "GET".into(),
        path: EXPORT.into(),
        reason,
    }
}

/// Writes file `path`. Without `overwrite` the import is a create that fails when the file
/// exists, and is never repeated blindly: a lost answer may mean it was made.
pub async fn import(
    client: &WorkspaceClient,
    path: &str,
    bytes: &[u8],
    overwrite: bool,
) -> Result<(), ClientError> {
    let content = base64::engine::general_purpose::STANDARD.encode(bytes);
    let body = json!({"path": path, "content": content, "format": "AUTO", "overwrite": overwrite});
    let retry = if overwrite {
        Retry::Idempotent
    } else {
        Retry::Unsafe
    };
    client
        .call(Method::POST, IMPORT, &[], Some(&body), retry)
        .await
        .map(drop)
}

/// An import that did not happen although the workspace answered (`reason` says why).
pub fn import_failed(client: &WorkspaceClient, reason: String) -> ClientError {
    ClientError::Transport {
        workspace: client.name().into(),
        method: "POST".into(),
        path: IMPORT.into(),
        reason,
    }
}

/// Deletes file `path`.
pub async fn delete(client: &WorkspaceClient, path: &str) -> Result<(), ClientError> {
    client.post(DELETE, &json!({"path": path})).await.map(drop)
}

/// Makes folder `path` and its parents.
pub async fn mkdirs(client: &WorkspaceClient, path: &str) -> Result<(), ClientError> {
    client.post(MKDIRS, &json!({"path": path})).await.map(drop)
}
