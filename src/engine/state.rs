//! The state record and the lock tandem keeps in each workspace (Workspace files API, under
//! `/Shared/.tandem/<env>/`), and the seal that makes the record trustworthy.
//!
//! Any workspace user can write `/Shared`, so the record is trusted only when its SHA-256 is
//! named by a secret in the *seal scope* `tandem.<env>`: a secret scope tandem creates, whose
//! ACL gives MANAGE to the deploying principal only (workspace admins hold MANAGE on every scope
//! anyway). Workspace users can neither add a digest there nor read the scope's keys. The same
//! scope holds the *fingerprint key*: the secret fingerprints in the record are HMAC-SHA256 under
//! it, so the record's readers cannot test guesses against them. Both live in secret key
//! *names*, because a secret's value cannot be read back outside a notebook.
//!
//! A record that is missing while the seal names one, that does not match its seal, that cannot
//! be parsed or that a newer tandem wrote fails closed: [`EngineError::UntrustedRecord`], which
//! `tandem repair` resolves. The lock file is created atomically (`overwrite: false`); an expired
//! lock is taken over through a takeover marker that only one run can create.

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::EngineError;
use crate::client::api::secrets::{self, SecretValue};
use crate::client::api::workspace_files;
use crate::client::{ClientError, Retry, WorkspaceClient};
pub use crate::model::state::{
    Applied, DIGEST_PREFIX, FINGERPRINT_KEY_PREFIX, FingerprintKey, Lock, PendingFence,
    STATE_FORMAT_VERSION, Seal, SecretWrite, StateRecord, from_hex, hex,
};

/// The folder of an environment's files in a workspace.
pub fn state_dir(environment: &str) -> String {
    format!("/Shared/.tandem/{environment}")
}

/// The secret scope holding an environment's seal and fingerprint key.
pub fn seal_scope(environment: &str) -> String {
    format!("{}{environment}", crate::model::RESERVED_SCOPE_PREFIX)
}

/// Whether a scope is one of tandem's seal scopes (of any environment).
pub fn is_seal_scope(name: &str) -> bool {
    name.to_lowercase()
        .starts_with(crate::model::RESERVED_SCOPE_PREFIX)
}

/// Hex of `n` random bytes (lock IDs).
pub fn random_hex(n: usize) -> String {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut bytes = vec![0u8; n];
    if aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .is_err()
    {
        // Lock IDs only need to differ between runs; the clock and PID make them differ.
        let fallback = Sha256::digest(format!("{}:{}", now_ms(), std::process::id()));
        bytes = fallback.iter().copied().cycle().take(n).collect();
    }
    hex(&bytes)
}

fn record_path(environment: &str) -> String {
    format!("{}/state.json", state_dir(environment))
}

fn lock_path(environment: &str) -> String {
    format!("{}/lock.json", state_dir(environment))
}

/// The takeover marker of one lock (its ID and expiry: a renewed lock is another instance).
fn takeover_path(environment: &str, lock: &Lock) -> String {
    format!(
        "{}/lock.takeover.{}.{}.json",
        state_dir(environment),
        lock.id,
        lock.expires_ms
    )
}

/// Removes a takeover marker once it has served (best effort: a leftover blocks nothing but
/// the takeover of a lock instance that is gone).
async fn remove_marker(client: &WorkspaceClient, path: &str) {
    if let Err(e) = workspace_files::delete(client, path).await
        && !e.is_not_found()
    {
        tracing::debug!(error = %e, path, "takeover marker not removed");
    }
}

async fn read_json(client: &WorkspaceClient, path: &str) -> Result<Option<Value>, ClientError> {
    let Some(bytes) = workspace_files::export(client, path).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| workspace_files::unexpected_export(client, format!("{path} is not JSON: {e}")))
}

async fn write_bytes(
    client: &WorkspaceClient,
    path: &str,
    bytes: &[u8],
    overwrite: bool,
) -> Result<(), ClientError> {
    // Without `overwrite` (creating the lock) the import is never repeated blindly: a lost
    // answer may mean we hold it.
    let import = || workspace_files::import(client, path, bytes, overwrite);
    // The folder exists but for the first run in a workspace: make it only when it is missing.
    match import().await {
        Err(e) if e.is_not_found() => {
            let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("/");
            workspace_files::mkdirs(client, dir).await?;
            import().await?;
        }
        other => {
            other?;
        }
    }
    Ok(())
}

async fn write_json(
    client: &WorkspaceClient,
    path: &str,
    value: &impl Serialize,
    overwrite: bool,
) -> Result<(), ClientError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| ClientError::Local {
        workspace: client.name().into(),
        reason: format!("cannot serialise {path}: {e}"),
    })?;
    write_bytes(client, path, &bytes, overwrite).await
}

/// Reads the seal scope: whether it exists, its fingerprint key and the digests it names.
/// A scope every user can read or write seals nothing, and says so.
pub async fn read_seal(client: &WorkspaceClient, environment: &str) -> Result<Seal, EngineError> {
    let scope = seal_scope(environment);
    let (listed, acls) = tokio::join!(
        secrets::list(client, &scope),
        secrets::list_acls(client, &scope)
    );
    let listed = match listed {
        Ok(l) => l,
        Err(e) if e.is_not_found() => return Ok(Seal::default()),
        Err(e) if e.code() == Some("PERMISSION_DENIED") => {
            return Err(untrusted(
                client,
                format!(
                    "this principal cannot read tandem's seal scope {scope}, so the state record cannot be checked"
                ),
                format!(
                    "grant the principal tandem runs as READ on scope {scope} (`databricks secrets put-acl {scope} <principal> READ`), or run tandem as the principal that deploys"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let acls = match acls {
        Ok(a) => a,
        Err(e) if e.is_not_found() => return Ok(Seal::default()),
        // Listing ACLs takes MANAGE: a read-only principal (a pull request's plan) cannot look,
        // and the deployer's own runs, which can, check it every time.
        Err(e) if e.code() == Some("PERMISSION_DENIED") => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let everyone = acls
        .iter()
        .filter_map(|i| i.get("principal").and_then(Value::as_str))
        .any(|p| p.eq_ignore_ascii_case("users"));
    if everyone {
        return Err(untrusted(
            client,
            format!(
                "tandem's seal scope {scope} grants the group `users` access, so any workspace user could forge the state record"
            ),
            format!(
                "remove that grant (`databricks secrets delete-acl {scope} users`) and then run `tandem repair {}`",
                client.name()
            ),
        ));
    }
    let mut seal = Seal {
        scope_exists: true,
        ..Seal::default()
    };
    let names = listed
        .iter()
        .filter_map(|s| s.get("key").and_then(Value::as_str));
    for name in names {
        if let Some(digest) = name.strip_prefix(DIGEST_PREFIX) {
            seal.digests.insert(digest.to_string());
        } else if let Some(key) = FingerprintKey::from_secret_key(name) {
            // Two keys only if two first applies raced: the smallest wins, deterministically.
            if seal.key.as_ref().is_none_or(|k| key.precedes(k)) {
                seal.key = Some(key);
            }
        }
    }
    Ok(seal)
}

fn untrusted(client: &WorkspaceClient, reason: String, help: String) -> EngineError {
    EngineError::UntrustedRecord {
        workspace: client.name().into(),
        reason,
        help,
    }
}

/// The record as stored, before it is checked against its seal (what `tandem repair` shows).
#[derive(Debug)]
pub struct UncheckedRecord {
    /// The file's bytes, if there is a file whose content could be decoded.
    pub bytes: Option<Vec<u8>>,
    /// Why the file's content could not be decoded, if it could not.
    undecodable: Option<String>,
    /// The seal scope, or why it cannot be used.
    pub seal: Result<Seal, EngineError>,
}

impl UncheckedRecord {
    /// The record, parsed as well as it can be (`None` if it is not a record at all).
    pub fn parsed(&self) -> Option<StateRecord> {
        let value: Value = serde_json::from_slice(self.bytes.as_deref()?).ok()?;
        // Older records carry a salt; what is read here is shown, never trusted.
        let mut value = value;
        if let Some(map) = value.as_object_mut() {
            map.remove("salt");
        }
        serde_json::from_value(value).ok()
    }

    /// Judges the record against its seal: `None` for a workspace tandem never applied to.
    pub fn check(
        self,
        client: &WorkspaceClient,
        environment: &str,
    ) -> Result<Option<StateRecord>, EngineError> {
        if let Some(reason) = self.undecodable {
            return Err(untrusted(
                client,
                format!("the state record cannot be read: {reason}"),
                repair_help(client),
            ));
        }
        check_record(client, environment, self.bytes, self.seal?)
    }
}

/// Reads the record and its seal without judging them.
pub async fn read_unchecked(
    client: &WorkspaceClient,
    environment: &str,
) -> Result<UncheckedRecord, EngineError> {
    let path = record_path(environment);
    let (bytes, seal) = tokio::join!(
        workspace_files::export(client, &path),
        read_seal(client, environment)
    );
    let (bytes, undecodable) = match bytes {
        Ok(b) => (b, None),
        Err(ClientError::Decode { reason, .. }) => (None, Some(reason)),
        Err(e) => return Err(e.into()),
    };
    let seal = match seal {
        Err(EngineError::Client(e)) => return Err(EngineError::Client(e)),
        other => other,
    };
    Ok(UncheckedRecord {
        bytes,
        undecodable,
        seal,
    })
}

/// Reads the state record: `None` for a workspace tandem never applied to; an error for a
/// record that is unreadable, forged, replaced, deleted or written by a newer tandem.
pub async fn read_state_record(
    client: &WorkspaceClient,
    environment: &str,
) -> Result<Option<StateRecord>, EngineError> {
    read_unchecked(client, environment)
        .await?
        .check(client, environment)
}

fn repair_help(client: &WorkspaceClient) -> String {
    format!(
        "`tandem repair {0}` shows what the record claims and writes a new sealed one (the role from the environment file; scopes tandem may delete only with --keep-scopes after you checked them); or restore the previous record from {1}'s revision history in the workspace UI and run `tandem repair {0}` to seal it",
        client.name(),
        "/Shared/.tandem"
    )
}

/// Judges a record's bytes against its seal.
fn check_record(
    client: &WorkspaceClient,
    environment: &str,
    bytes: Option<Vec<u8>>,
    seal: Seal,
) -> Result<Option<StateRecord>, EngineError> {
    let path = record_path(environment);
    let Some(bytes) = bytes else {
        if seal.digests.is_empty() {
            return Ok(None);
        }
        return Err(untrusted(
            client,
            format!(
                "{path} is missing, but tandem's seal says a record was written: it was deleted outside tandem (or the very first apply here was interrupted between two requests)"
            ),
            repair_help(client),
        ));
    };
    let digest = hex(&Sha256::digest(&bytes));
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        untrusted(
            client,
            format!("{path} is not JSON ({e})"),
            repair_help(client),
        )
    })?;
    let version = value.get("format_version").and_then(Value::as_u64);
    match version {
        Some(v) if v > u64::from(STATE_FORMAT_VERSION) => {
            return Err(untrusted(
                client,
                format!(
                    "{path} has format_version {v}, written by a newer tandem (this one reads {STATE_FORMAT_VERSION})"
                ),
                "upgrade tandem to the version that wrote it".to_string(),
            ));
        }
        Some(v) if v < u64::from(STATE_FORMAT_VERSION) => {
            return Err(untrusted(
                client,
                format!(
                    "{path} has format_version {v}: an unsealed record of an older tandem, which anyone could have written"
                ),
                repair_help(client),
            ));
        }
        Some(_) => {}
        None => {
            return Err(untrusted(
                client,
                format!("{path} has no format_version"),
                repair_help(client),
            ));
        }
    }
    if !seal.digests.contains(&digest) {
        return Err(untrusted(
            client,
            format!(
                "{path} does not match tandem's seal: it was written outside tandem (any workspace user can write /Shared)"
            ),
            repair_help(client),
        ));
    }
    let mut record: StateRecord = serde_json::from_value(value).map_err(|e| {
        untrusted(
            client,
            format!("{path} is not a state record: {e}"),
            repair_help(client),
        )
    })?;
    if record.environment != environment || record.workspace != client.name() {
        return Err(untrusted(
            client,
            format!(
                "{path} is the record of workspace {} in environment {}",
                record.workspace, record.environment
            ),
            repair_help(client),
        ));
    }
    record.seal = seal;
    Ok(Some(record))
}

/// Makes sure the seal scope and the fingerprint key exist (the first apply to a workspace
/// that writes a secret or a record creates them); `seal` then holds the key.
pub async fn ensure_fingerprint_key(
    client: &WorkspaceClient,
    environment: &str,
    seal: &mut Seal,
) -> Result<(), ClientError> {
    if seal.key.is_some() {
        return Ok(());
    }
    let scope = seal_scope(environment);
    if !seal.scope_exists {
        // Re-read first: a record that is new to this run may meet a scope an interrupted run made.
        if let Ok(found) = read_seal(client, environment).await {
            *seal = found;
        }
    }
    if !seal.scope_exists {
        // No `initial_manage_principal`: the caller alone gets MANAGE (admins have it anyway).
        match secrets::create_scope(client, &scope, Retry::Idempotent).await {
            Ok(_) => {}
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => {}
            Err(e) => return Err(e),
        }
        seal.scope_exists = true;
    }
    if seal.key.is_some() {
        return Ok(());
    }
    let key = FingerprintKey::generate().map_err(|reason| ClientError::Local {
        workspace: client.name().into(),
        reason,
    })?;
    let note = "tandem: this secret's name is the key of the fingerprints in the state record";
    secrets::put(client, &scope, &key.secret_key(), SecretValue::Text(note)).await?;
    seal.key = Some(key);
    Ok(())
}

/// Writes the state record and seals it: the new digest first (a crash leaves the old record
/// valid), then the record, then the old digests go.
pub async fn write_state_record(
    client: &WorkspaceClient,
    record: &mut StateRecord,
) -> Result<(), ClientError> {
    record.format_version = STATE_FORMAT_VERSION;
    ensure_fingerprint_key(client, &record.environment, &mut record.seal).await?;
    let bytes = serde_json::to_vec_pretty(&record).map_err(|e| ClientError::Local {
        workspace: client.name().into(),
        reason: format!("cannot serialise the state record: {e}"),
    })?;
    let digest = hex(&Sha256::digest(&bytes));
    let scope = seal_scope(&record.environment);
    let note = "tandem: this secret's name is the SHA-256 of the current state record";
    let digest_key = format!("{DIGEST_PREFIX}{digest}");
    secrets::put(client, &scope, &digest_key, SecretValue::Text(note)).await?;
    write_bytes(client, &record_path(&record.environment), &bytes, true).await?;
    let stale: Vec<String> = std::mem::take(&mut record.seal.digests)
        .into_iter()
        .filter(|d| *d != digest)
        .collect();
    record.seal.digests.insert(digest);
    let deletes = stale.iter().map(|d| {
        let key = format!("{DIGEST_PREFIX}{d}");
        let scope = &scope;
        async move {
            match secrets::delete(client, scope, &key).await {
                Err(e) if !e.is_not_found() => Err(e),
                _ => Ok(()),
            }
        }
    });
    futures::future::try_join_all(deletes).await?;
    Ok(())
}

/// Removes the environment's state record and then its seal scope (`destroy`, once everything
/// tandem managed in the workspace is gone): the workspace is left as if tandem never ran there.
/// Stopped between the two, the seal names a record that is gone, which fails closed until
/// `tandem repair` (after which destroy finishes the job).
pub async fn remove_state_record(
    client: &WorkspaceClient,
    environment: &str,
) -> Result<(), ClientError> {
    match workspace_files::delete(client, &record_path(environment)).await {
        Err(e) if !e.is_not_found() => return Err(e),
        _ => {}
    }
    match secrets::delete_scope(client, &seal_scope(environment)).await {
        Err(e) if !e.is_not_found() => Err(e),
        _ => Ok(()),
    }
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
    let path = lock_path(environment);
    let Some(value) = read_json(client, &path).await? else {
        return Ok(None);
    };
    // Not a lock tandem wrote: nobody can tell whether it is held, so nobody takes it.
    serde_json::from_value(value).map(Some).map_err(|e| {
        workspace_files::unexpected_export(
            client,
            format!(
                "{path} is not a tandem lock ({e}); `tandem unlock {}` removes it",
                client.name()
            ),
        )
    })
}

/// Takes the lock. An expired lock is taken over as a compare-and-swap on its ID: only the run
/// that creates the takeover marker named after that ID (an atomic create) may remove it, so two
/// runs that both found it expired can never both hold the lock.
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
    // As patient with a flaky create as with any other (see `apply`'s creates): a lock that
    // failed to be taken leaves the whole workspace out of the run.
    let mut marker: Option<String> = None;
    for attempt in 0..8u64 {
        let pause = std::time::Duration::from_millis(100 * (attempt + 1));
        match write_json(client, &lock_path(environment), &lock, false).await {
            Ok(()) => {
                if let Some(marker) = &marker {
                    remove_marker(client, marker).await;
                }
                return Ok(lock);
            }
            Err(ClientError::OutcomeUnknown { .. }) => {
                // The create may have landed: it is ours if the file holds our ID.
                if read_lock(client, environment)
                    .await?
                    .is_some_and(|l| l.id == lock.id)
                {
                    return Ok(lock);
                }
                tokio::time::sleep(pause).await;
            }
            Err(ClientError::Api { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => {
                let Some(current) = read_lock(client, environment).await? else {
                    continue;
                };
                if current.expires_ms > now_ms() {
                    return Err(LockError::Held(current));
                }
                if claim_takeover(client, environment, &current, &lock).await? {
                    let path = takeover_path(environment, &current);
                    tracing::warn!(holder = %current.holder, since = %current.since, "taking over an expired lock");
                    // Only the expired lock goes: one that changed meanwhile is not ours to remove.
                    if read_lock(client, environment)
                        .await?
                        .is_some_and(|l| l.id == current.id && l.expires_ms == current.expires_ms)
                    {
                        delete_lock(client, environment).await?;
                        marker = Some(path);
                    } else {
                        remove_marker(client, &path).await;
                    }
                } else {
                    // Another run is taking it over: its lock will be there to see.
                    tokio::time::sleep(pause).await;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    match read_lock(client, environment).await? {
        Some(current) => Err(LockError::Held(current)),
        None => Err(LockError::Client(workspace_files::import_failed(
            client,
            "the lock could not be created".into(),
        ))),
    }
}

/// Creates the takeover marker of `expired` for `ours`; whether this run won it.
async fn claim_takeover(
    client: &WorkspaceClient,
    environment: &str,
    expired: &Lock,
    ours: &Lock,
) -> Result<bool, ClientError> {
    let path = takeover_path(environment, expired);
    let marker = json!({"taken_over_by": ours.id, "holder": ours.holder, "at": rfc3339(now_ms())});
    match write_json(client, &path, &marker, false).await {
        Ok(()) => Ok(true),
        Err(ClientError::Api { code, .. }) if code == "RESOURCE_ALREADY_EXISTS" => {
            // Ours all the same if an earlier attempt's answer was lost.
            Ok(read_json(client, &path)
                .await
                .ok()
                .flatten()
                .is_some_and(|m| {
                    m.get("taken_over_by").and_then(Value::as_str) == Some(ours.id.as_str())
                }))
        }
        Err(ClientError::OutcomeUnknown { .. }) => {
            Ok(read_json(client, &path).await?.is_some_and(|m| {
                m.get("taken_over_by").and_then(Value::as_str) == Some(ours.id.as_str())
            }))
        }
        Err(e) => Err(e),
    }
}

/// What renewing a lock found.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Still ours, now until the new expiry.
    Renewed,
    /// Someone else holds it or took it over: this run must stop writing.
    Lost,
}

/// Pushes our lock's expiry `ttl_ms` ahead, if it is still ours and nobody has started taking
/// it over.
pub async fn renew_lock(
    client: &WorkspaceClient,
    environment: &str,
    lock: &Lock,
    ttl_ms: i64,
) -> Result<Renewal, ClientError> {
    // A takeover is marked under the instance it found in the file (the last renewal's).
    let taken_over = |instance: Lock| async move {
        Ok::<_, ClientError>(
            read_json(client, &takeover_path(environment, &instance))
                .await
                .is_ok_and(|m| m.is_some()),
        )
    };
    let Some(current) = read_lock(client, environment).await? else {
        return Ok(Renewal::Lost);
    };
    if current.id != lock.id || taken_over(current.clone()).await? {
        return Ok(Renewal::Lost);
    }
    let renewed = Lock {
        expires_ms: now_ms() + ttl_ms,
        ..lock.clone()
    };
    write_json(client, &lock_path(environment), &renewed, true).await?;
    // A takeover that started while we wrote wins: it judged the lock expired first.
    if taken_over(current).await? {
        return Ok(Renewal::Lost);
    }
    Ok(Renewal::Renewed)
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
    match workspace_files::delete(client, &lock_path(environment)).await {
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
    fn fingerprints_are_keyed() {
        let key = |byte: &str| {
            FingerprintKey::from_secret_key(&format!("{FINGERPRINT_KEY_PREFIX}{}", byte.repeat(32)))
                .expect("a key name")
        };
        let (a, b) = (key("01"), key("02"));
        assert_ne!(a.fingerprint(b"v"), b.fingerprint(b"v"));
        assert_eq!(a.fingerprint(b"v"), a.fingerprint(b"v"));
        assert_eq!(a.fingerprint(b"v").len(), 64);
        // Not the plain SHA-256 of the value, which anyone could test guesses against.
        assert_ne!(a.fingerprint(b"123456"), hex(&Sha256::digest(b"123456")));
        assert_ne!(random_hex(16), random_hex(16));
    }

    #[test]
    fn the_fingerprint_key_travels_in_a_secret_name() {
        let key = FingerprintKey::generate().expect("random");
        let name = key.secret_key();
        assert!(name.len() <= 128, "secret keys are at most 128 characters");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(FingerprintKey::from_secret_key(&name), Some(key));
        assert_eq!(FingerprintKey::from_secret_key("fingerprint-key.zz"), None);
        assert_eq!(FingerprintKey::from_secret_key("record.00"), None);
        assert_eq!(
            format!("{:?}", FingerprintKey::generate().expect("random")),
            "FingerprintKey(***)"
        );
    }
}
