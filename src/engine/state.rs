//! The state record and the lock tandem keeps in each workspace (Workspace files API, under
//! `/Shared/.tandem/<env>/`). The record holds the workspace's role, the last applied config
//! commit, salted fingerprints of secret values (never values), the scopes tandem created and
//! pending fences; the lock file is created atomically (`overwrite: false`).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::client::{ClientError, WorkspaceClient};
use crate::model::Role;

/// Version of the state record's JSON.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// The folder of an environment's files in a workspace.
pub fn state_dir(environment: &str) -> String {
    format!("/Shared/.tandem/{environment}")
}

/// The last apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// Config commit (full SHA), or `working tree`.
    pub commit: String,
    /// Whether the work tree had uncommitted changes.
    #[serde(default)]
    pub dirty: bool,
    /// When, RFC 3339.
    pub at: String,
    /// Who (`user@host`).
    pub by: String,
}

/// What tandem last wrote to one secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretWrite {
    /// Salted SHA-256 of the value.
    pub fingerprint: String,
    /// The secret's `last_updated_timestamp` right after the write.
    pub last_updated: i64,
}

/// A workspace that must be made passive as soon as it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingFence {
    /// The workspace to fence.
    pub workspace: String,
    /// Since when, RFC 3339.
    pub since: String,
}

/// The record tandem keeps in each workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateRecord {
    /// Format version.
    pub format_version: u32,
    /// Environment name.
    pub environment: String,
    /// This workspace's name in the environment.
    pub workspace: String,
    /// Its role as last set by tandem.
    pub role: Role,
    /// The last apply.
    #[serde(default)]
    pub last_applied: Option<Applied>,
    /// Salt of the secret fingerprints (per workspace, random).
    pub salt: String,
    /// scope → key → last write.
    #[serde(default)]
    pub secrets: BTreeMap<String, BTreeMap<String, SecretWrite>>,
    /// Scopes tandem created (only these are ever deleted).
    #[serde(default)]
    pub managed_scopes: BTreeSet<String>,
    /// Workspaces to fence as soon as they answer.
    #[serde(default)]
    pub pending_fences: Vec<PendingFence>,
    /// When this workspace was last promoted, RFC 3339.
    #[serde(default)]
    pub promoted_at: Option<String>,
    /// Who promoted it.
    #[serde(default)]
    pub promoted_by: Option<String>,
}

impl StateRecord {
    /// A fresh record.
    pub fn new(environment: &str, workspace: &str, role: Role) -> Self {
        StateRecord {
            format_version: STATE_FORMAT_VERSION,
            environment: environment.into(),
            workspace: workspace.into(),
            role,
            last_applied: None,
            salt: random_hex(16),
            secrets: BTreeMap::new(),
            managed_scopes: BTreeSet::new(),
            pending_fences: Vec::new(),
            promoted_at: None,
            promoted_by: None,
        }
    }

    /// The salted fingerprint of a secret value.
    pub fn fingerprint(&self, value: &[u8]) -> String {
        fingerprint(&self.salt, value)
    }
}

/// Salted SHA-256, hex.
pub fn fingerprint(salt: &str, value: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(b":");
    hasher.update(value);
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex of `n` bytes that differ per call (salts and lock IDs; not key material).
pub fn random_hex(n: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = Sha256::new();
    for _ in 0..4 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        hasher.update(h.finish().to_le_bytes());
    }
    hex(&hasher.finalize()[..n.min(32)])
}

fn record_path(environment: &str) -> String {
    format!("{}/state.json", state_dir(environment))
}

fn lock_path(environment: &str) -> String {
    format!("{}/lock.json", state_dir(environment))
}

async fn read_json(client: &WorkspaceClient, path: &str) -> Result<Option<Value>, ClientError> {
    let answer = match client
        .get(
            "/api/2.0/workspace/export",
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
        .unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content)
        .unwrap_or_default();
    Ok(serde_json::from_slice(&bytes).ok())
}

async fn write_json(
    client: &WorkspaceClient,
    path: &str,
    value: &Value,
    overwrite: bool,
) -> Result<(), ClientError> {
    let content = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec_pretty(value).unwrap_or_default());
    let body = json!({"path": path, "content": content, "format": "AUTO", "overwrite": overwrite});
    let import = || async {
        if overwrite {
            client.post("/api/2.0/workspace/import", &body).await
        } else {
            // Creating the lock must not be repeated blindly: a lost answer may mean we hold it.
            client.create("/api/2.0/workspace/import", &body).await
        }
    };
    // The folder exists but for the first run in a workspace: make it only when it is missing.
    match import().await {
        Err(e) if e.is_not_found() => {
            let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
            client
                .post("/api/2.0/workspace/mkdirs", &json!({"path": dir}))
                .await?;
            import().await?;
        }
        other => {
            other?;
        }
    }
    Ok(())
}

/// Reads the state record (`None` when the workspace has none yet).
pub async fn read_state_record(
    client: &WorkspaceClient,
    environment: &str,
) -> Result<Option<StateRecord>, ClientError> {
    Ok(read_json(client, &record_path(environment))
        .await?
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// Writes the state record.
pub async fn write_state_record(
    client: &WorkspaceClient,
    record: &StateRecord,
) -> Result<(), ClientError> {
    let value = serde_json::to_value(record).unwrap_or(Value::Null);
    write_json(client, &record_path(&record.environment), &value, true).await
}

/// A lock held in one workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lock {
    /// Random ID of this holding.
    pub id: String,
    /// `user@host`.
    pub holder: String,
    /// What it is for (`apply`, `promote`).
    pub operation: String,
    /// Since when, RFC 3339.
    pub since: String,
    /// Expiry, epoch ms.
    pub expires_ms: i64,
    /// Since, epoch ms.
    pub since_ms: i64,
}

/// Why a lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Someone else holds it.
    Held(Lock),
    /// The workspace failed.
    Client(ClientError),
}

impl From<ClientError> for LockError {
    fn from(e: ClientError) -> Self {
        LockError::Client(e)
    }
}

/// Reads the lock, if any.
pub async fn read_lock(
    client: &WorkspaceClient,
    environment: &str,
) -> Result<Option<Lock>, ClientError> {
    Ok(read_json(client, &lock_path(environment))
        .await?
        .and_then(|v| serde_json::from_value(v).ok()))
}

/// Takes the lock; an expired lock is taken over.
pub async fn acquire_lock(
    client: &WorkspaceClient,
    environment: &str,
    operation: &str,
    ttl_ms: i64,
) -> Result<Lock, LockError> {
    let now = now_ms();
    let lock = Lock {
        id: random_hex(8),
        holder: operator(),
        operation: operation.into(),
        since: rfc3339(now),
        expires_ms: now + ttl_ms,
        since_ms: now,
    };
    let value = serde_json::to_value(&lock).unwrap_or(Value::Null);
    // As patient with a flaky create as with any other (see `apply`'s creates): a lock that
    // failed to be taken leaves the whole workspace out of the run.
    for attempt in 0..5u64 {
        match write_json(client, &lock_path(environment), &value, false).await {
            Ok(()) => return Ok(lock),
            Err(ClientError::OutcomeUnknown { .. }) => {
                // The create may have landed: it is ours if the file holds our ID.
                if read_lock(client, environment)
                    .await?
                    .is_some_and(|l| l.id == lock.id)
                {
                    return Ok(lock);
                }
                tokio::time::sleep(std::time::Duration::from_millis(100 * (attempt + 1))).await;
            }
            Err(ClientError::Api { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => {
                let Some(current) = read_lock(client, environment).await? else {
                    continue;
                };
                if current.expires_ms > now_ms() {
                    return Err(LockError::Held(current));
                }
                tracing::warn!(holder = %current.holder, since = %current.since, "taking over an expired lock");
                delete_lock(client, environment).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    match read_lock(client, environment).await? {
        Some(current) => Err(LockError::Held(current)),
        None => Err(LockError::Client(ClientError::Transport {
            workspace: client.name().into(),
            method: "POST".into(),
            path: "/api/2.0/workspace/import".into(),
            reason: "the lock could not be created".into(),
        })),
    }
}

/// Releases our lock (leaves someone else's alone).
pub async fn release_lock(
    client: &WorkspaceClient,
    environment: &str,
    lock: &Lock,
) -> Result<(), ClientError> {
    if read_lock(client, environment)
        .await?
        .is_some_and(|l| l.id == lock.id)
    {
        delete_lock(client, environment).await?;
    }
    Ok(())
}

/// Deletes the lock whoever holds it (`tandem unlock`).
pub async fn delete_lock(client: &WorkspaceClient, environment: &str) -> Result<(), ClientError> {
    match client
        .post(
            "/api/2.0/workspace/delete",
            &json!({"path": lock_path(environment)}),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// `user@host` of the person or CI job running tandem.
pub fn operator() -> String {
    let user = std::env::var("TANDEM_OPERATOR")
        .or_else(|_| std::env::var("GITHUB_ACTOR"))
        .or_else(|_| std::env::var("USER"))
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// `2026-11-22T01:38:27Z` for epoch milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_311_507_000), "2026-11-22T01:38:27Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn fingerprints_are_salted() {
        assert_ne!(fingerprint("a", b"v"), fingerprint("b", b"v"));
        assert_eq!(fingerprint("a", b"v"), fingerprint("a", b"v"));
        assert_eq!(fingerprint("a", b"v").len(), 64);
        assert_ne!(random_hex(16), random_hex(16));
    }
}
