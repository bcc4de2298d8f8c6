//! Secrets API 2.0: scopes, secrets and secret ACLs (`/api/2.0/secrets/*`).
//!
//! Values are write-only: the emulator keeps only a keyed fingerprint and the size of each value,
//! so neither the state file nor any response can leak one. The fingerprint is HMAC-SHA256 over
//! a random per-secret salt and the value, under a key that is not in the state file (see
//! [`super::store::ValueKey`]): a reader of the state file cannot test guesses against it, as it
//! could against a plain hash (a 6-digit value falls to a plain SHA-256 in under a second).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

use super::permissions::groups_of;
use super::principals;
use super::store::{Collection, Db, ScopeRecord, SecretRecord};
use super::{ApiError, ApiJson, ApiResult, AppState, Caller, QueryPairs};

const BASE: &str = "/api/2.0/secrets";
const MAX_NAME_LEN: usize = 128;
const MAX_VALUE_BYTES: usize = 128 * 1024;
const MAX_SECRETS_PER_SCOPE: usize = 1000;
const MAX_SCOPES: usize = 1000;

/// The secrets routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/scopes/create"), post(create_scope))
        .route(&format!("{BASE}/scopes/list"), get(list_scopes))
        .route(&format!("{BASE}/scopes/delete"), post(delete_scope))
        .route(&format!("{BASE}/put"), post(put_secret))
        .route(&format!("{BASE}/list"), get(list_secrets))
        .route(&format!("{BASE}/delete"), post(delete_secret))
        .route(&format!("{BASE}/get"), get(get_secret))
        .route(&format!("{BASE}/acls/put"), post(put_acl))
        .route(&format!("{BASE}/acls/get"), get(get_acl))
        .route(&format!("{BASE}/acls/list"), get(list_acls))
        .route(&format!("{BASE}/acls/delete"), post(delete_acl))
}

/// Secret permissions, lowest first: each includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Read,
    Write,
    Manage,
}

impl Level {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "READ" => Some(Level::Read),
            "WRITE" => Some(Level::Write),
            "MANAGE" => Some(Level::Manage),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Read => "READ",
            Level::Write => "WRITE",
            Level::Manage => "MANAGE",
        }
    }
}

/// Scope names: letters, digits, `-`, `_`, `.`, `@`; at most 128 characters.
fn valid_scope_name(name: &str) -> bool {
    valid_name(name, "-_.@")
}

/// Secret keys: letters, digits, `-`, `_`, `.`; at most 128 characters.
fn valid_key(key: &str) -> bool {
    valid_name(key, "-_.")
}

fn valid_name(name: &str, punctuation: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || punctuation.contains(c))
}

/// The bytes of a put's value: exactly one of `string_value` and `bytes_value` (base64).
fn value_bytes(string_value: Option<String>, bytes_value: Option<String>) -> ApiResult<Vec<u8>> {
    let bytes = match (string_value, bytes_value) {
        (Some(s), None) => s.into_bytes(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|e| ApiError::invalid(format!("bytes_value is not valid base64: {e}")))?,
        _ => {
            return Err(ApiError::invalid(
                "Exactly one of string_value or bytes_value must be specified",
            ));
        }
    };
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(ApiError::invalid(format!(
            "Size of the secret value ({} bytes) exceeds the limit of 128 KB",
            bytes.len()
        )));
    }
    Ok(bytes)
}

impl super::Workspace {
    /// Whether secret `key` of scope `scope` holds `value`: the emulator's own check, for tests
    /// (no route exposes it, so the API offers no way to test guesses).
    pub fn secret_value_is(&self, scope: &str, key: &str, value: &[u8]) -> bool {
        let value_key = self.store.value_key();
        self.store.read(|db| {
            db.scopes
                .get(&scope.to_lowercase())
                .and_then(|s| s.secrets.get(key))
                .is_some_and(|record| value_key.matches(record, value))
        })
    }
}

/// A write's timestamp: now, but always after the previous write of the same key, so a client
/// comparing timestamps sees every put even within one millisecond.
fn next_timestamp(now: i64, previous: Option<i64>) -> i64 {
    previous.map_or(now, |p| now.max(p + 1))
}

fn required(value: Option<String>, field: &str) -> ApiResult<String> {
    value.ok_or_else(|| ApiError::invalid(format!("Missing required field: {field}")))
}

fn missing_scope(name: &str) -> ApiError {
    ApiError::not_found(format!("Scope {name} does not exist!"))
}

/// The caller's effective level on a scope: the highest grant to the user or any of its groups.
fn caller_level(db: &Db, scope: &ScopeRecord, user_name: &str) -> Option<Level> {
    let groups = groups_of(db, user_name);
    scope
        .acls
        .iter()
        .filter(|(principal, _)| {
            principal.eq_ignore_ascii_case(user_name) || groups.contains(principal)
        })
        .filter_map(|(_, permission)| Level::parse(permission))
        .max()
}

/// Finds the scope (404 if missing) and checks the caller holds `needed` on it (admins always
/// do); returns the scope's key in [`Db::scopes`] and the scope.
fn authorize<'a>(
    db: &'a Db,
    name: &str,
    caller: &Caller,
    needed: Level,
) -> ApiResult<(String, &'a ScopeRecord)> {
    let key = name.to_lowercase();
    let scope = db.scopes.get(&key).ok_or_else(|| missing_scope(name))?;
    let admitted = principals::is_admin(db, &caller.user_name)
        || caller_level(db, scope, &caller.user_name).is_some_and(|l| l >= needed);
    if !admitted {
        return Err(ApiError::permission_denied(format!(
            "User {} does not have {} permission on scope {}",
            caller.user_name,
            needed.name(),
            scope.name
        )));
    }
    Ok((key, scope))
}

/// The scope `authorize` found, for changing it.
fn scope_mut<'a>(db: &'a mut Db, key: &str, name: &str) -> ApiResult<&'a mut ScopeRecord> {
    db.scopes.get_mut(key).ok_or_else(|| missing_scope(name))
}

fn writable(scope: &ScopeRecord) -> ApiResult<()> {
    if scope.backend_type == "AZURE_KEYVAULT" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!(
                "Scope {} is backed by Azure Key Vault and is read-only through this API",
                scope.name
            ),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct CreateScope {
    scope: Option<String>,
    initial_manage_principal: Option<String>,
    scope_backend_type: Option<String>,
    backend_azure_keyvault: Option<Value>,
}

/// The backend type and Key Vault metadata a create asks for.
fn backend(request: &CreateScope) -> ApiResult<(String, Option<Value>)> {
    match request
        .scope_backend_type
        .as_deref()
        .unwrap_or("DATABRICKS")
    {
        "DATABRICKS" => Ok(("DATABRICKS".into(), None)),
        "AZURE_KEYVAULT" => {
            let metadata = request
                .backend_azure_keyvault
                .as_ref()
                .filter(|m| m.get("resource_id").is_some() && m.get("dns_name").is_some())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "backend_azure_keyvault with resource_id and dns_name is required for an \
                         AZURE_KEYVAULT scope",
                    )
                })?;
            Ok(("AZURE_KEYVAULT".into(), Some(metadata.clone())))
        }
        other => Err(ApiError::invalid(format!(
            "Invalid scope_backend_type: {other}"
        ))),
    }
}

/// Who gets the implicit MANAGE: the caller, or the `users` group when asked.
fn initial_manager(principal: Option<&str>, caller: &Caller) -> ApiResult<String> {
    match principal {
        None => Ok(caller.user_name.clone()),
        Some("users") => Ok("users".into()),
        Some(other) => Err(ApiError::invalid(format!(
            "initial_manage_principal must be 'users' or omitted, not '{other}'"
        ))),
    }
}

async fn create_scope(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<CreateScope>,
) -> ApiResult<Json<Value>> {
    let name = required(request.scope.clone(), "scope")?;
    if !valid_scope_name(&name) {
        return Err(ApiError::invalid(format!(
            "Scope name '{name}' is invalid: it must consist of letters, digits, dashes, \
             underscores, periods and @, and may not exceed 128 characters"
        )));
    }
    let (backend_type, keyvault_metadata) = backend(&request)?;
    let manager = initial_manager(request.initial_manage_principal.as_deref(), &caller)?;
    ws.store.write(|db, tx| {
        let key = name.to_lowercase();
        if db.scopes.contains_key(&key) {
            // The 2.0 API's status for this is unverified; 400 is the documented-era behaviour.
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "RESOURCE_ALREADY_EXISTS",
                format!("Scope {name} already exists!"),
            ));
        }
        if db.scopes.len() >= MAX_SCOPES {
            return Err(ApiError::limit(
                "RESOURCE_LIMIT_EXCEEDED",
                format!("Cannot create scope {name}: the workspace limit of {MAX_SCOPES} scopes has been reached"),
            ));
        }
        let record = ScopeRecord {
            name: name.clone(),
            backend_type,
            secrets: BTreeMap::new(),
            acls: BTreeMap::from([(manager, "MANAGE".to_string())]),
            keyvault_metadata,
        };
        db.scopes.insert(key.clone(), record);
        tx.touch(Collection::Scopes, key);
        Ok(Json(json!({})))
    })
}

async fn list_scopes(State(ws): State<AppState>) -> Json<Value> {
    let scopes: Vec<Value> = ws.store.read(|db| {
        db.scopes
            .values()
            .map(|s| {
                let mut item = json!({"name": s.name, "backend_type": s.backend_type});
                if let (Some(metadata), Some(object)) = (&s.keyvault_metadata, item.as_object_mut())
                {
                    object.insert("keyvault_metadata".into(), metadata.clone());
                }
                item
            })
            .collect()
    });
    Json(list_body("scopes", scopes))
}

/// `{key: items}`, or `{}` when there are none (the real service omits empty lists).
fn list_body(key: &str, items: Vec<Value>) -> Value {
    if items.is_empty() {
        json!({})
    } else {
        json!({ key: items })
    }
}

#[derive(Deserialize)]
struct ScopeRef {
    scope: Option<String>,
}

async fn delete_scope(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<ScopeRef>,
) -> ApiResult<Json<Value>> {
    let name = required(request.scope, "scope")?;
    ws.store.write(|db, tx| {
        let (key, _) = authorize(db, &name, &caller, Level::Manage)?;
        // Secrets and ACLs live inside the scope record, so removing it cascades.
        db.scopes.remove(&key);
        tx.touch(Collection::Scopes, key);
        Ok(Json(json!({})))
    })
}

#[derive(Deserialize)]
struct PutSecret {
    scope: Option<String>,
    key: Option<String>,
    string_value: Option<String>,
    bytes_value: Option<String>,
}

async fn put_secret(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<PutSecret>,
) -> ApiResult<Json<Value>> {
    let name = required(request.scope, "scope")?;
    let secret_key = required(request.key, "key")?;
    if !valid_key(&secret_key) {
        return Err(ApiError::invalid(format!(
            "Secret key '{secret_key}' is invalid: it must consist of letters, digits, dashes, \
             underscores and periods, and may not exceed 128 characters"
        )));
    }
    let bytes = value_bytes(request.string_value, request.bytes_value)?;
    let (salt, hmac_sha256) = ws.store.value_key().seal(&bytes).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "The emulator could not draw a random salt",
        )
    })?;
    let now = ws.now_ms();
    ws.store.write(|db, tx| {
        let (key, _) = authorize(db, &name, &caller, Level::Write)?;
        let scope = scope_mut(db, &key, &name)?;
        writable(scope)?;
        let previous = scope
            .secrets
            .get(&secret_key)
            .map(|s| s.last_updated_timestamp);
        if previous.is_none() && scope.secrets.len() >= MAX_SECRETS_PER_SCOPE {
            return Err(ApiError::limit(
                "RESOURCE_LIMIT_EXCEEDED",
                format!(
                    "Cannot put secret {secret_key}: scope {} already holds the maximum of \
                     {MAX_SECRETS_PER_SCOPE} secrets",
                    scope.name
                ),
            ));
        }
        let record = SecretRecord {
            key: secret_key.clone(),
            salt,
            hmac_sha256,
            size: bytes.len(),
            last_updated_timestamp: next_timestamp(now, previous),
        };
        scope.secrets.insert(secret_key, record);
        tx.touch(Collection::Scopes, key);
        Ok(Json(json!({})))
    })
}

async fn list_secrets(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let name = required(query.get("scope").map(String::from), "scope")?;
    ws.store.read(|db| {
        let (_, scope) = authorize(db, &name, &caller, Level::Read)?;
        let secrets: Vec<Value> = scope
            .secrets
            .values()
            .map(|s| json!({"key": s.key, "last_updated_timestamp": s.last_updated_timestamp}))
            .collect();
        Ok(Json(list_body("secrets", secrets)))
    })
}

fn missing_secret(secret_key: &str, scope: &str) -> ApiError {
    ApiError::not_found(format!(
        "Secret {secret_key} does not exist in scope {scope}!"
    ))
}

#[derive(Deserialize)]
struct SecretRef {
    scope: Option<String>,
    key: Option<String>,
}

async fn delete_secret(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<SecretRef>,
) -> ApiResult<Json<Value>> {
    let name = required(request.scope, "scope")?;
    let secret_key = required(request.key, "key")?;
    ws.store.write(|db, tx| {
        let (key, _) = authorize(db, &name, &caller, Level::Write)?;
        let scope = scope_mut(db, &key, &name)?;
        writable(scope)?;
        if scope.secrets.remove(&secret_key).is_none() {
            return Err(missing_secret(&secret_key, &name));
        }
        tx.touch(Collection::Scopes, key);
        Ok(Json(json!({})))
    })
}

/// The emulator never holds values, so a read is refused the way the service refuses reads from
/// outside a notebook or job, after the same existence and permission checks.
async fn get_secret(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let name = required(query.get("scope").map(String::from), "scope")?;
    let secret_key = required(query.get("key").map(String::from), "key")?;
    ws.store.read(|db| {
        let (_, scope) = authorize(db, &name, &caller, Level::Read)?;
        if !scope.secrets.contains_key(&secret_key) {
            return Err(missing_secret(&secret_key, &name));
        }
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Secret values can only be read from within a notebook or job",
        ))
    })
}

#[derive(Deserialize)]
struct PutAcl {
    scope: Option<String>,
    principal: Option<String>,
    permission: Option<String>,
}

async fn put_acl(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<PutAcl>,
) -> ApiResult<Json<Value>> {
    let name = required(request.scope, "scope")?;
    let principal = required(request.principal, "principal")?;
    let permission = required(request.permission, "permission")?;
    let level = Level::parse(&permission).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid permission {permission}: must be one of READ, WRITE, MANAGE"
        ))
    })?;
    ws.store.write(|db, tx| {
        let (key, _) = authorize(db, &name, &caller, Level::Manage)?;
        // Stored as the workspace names the principal (a user's e-mail lower case).
        let principal = principals::find_any(db, &principal)
            .ok_or_else(|| ApiError::invalid(format!("Principal {principal} does not exist")))?;
        let scope = scope_mut(db, &key, &name)?;
        // An upsert: a principal holds one permission per scope.
        scope.acls.insert(principal, level.name().to_string());
        tx.touch(Collection::Scopes, key);
        Ok(Json(json!({})))
    })
}

fn missing_acl(principal: &str, scope: &str) -> ApiError {
    ApiError::not_found(format!(
        "Principal {principal} has no ACL on scope {scope}!"
    ))
}

async fn get_acl(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let name = required(query.get("scope").map(String::from), "scope")?;
    let principal = required(query.get("principal").map(String::from), "principal")?;
    ws.store.read(|db| {
        let (_, scope) = authorize(db, &name, &caller, Level::Manage)?;
        let principal = principals::find_any(db, &principal).unwrap_or(principal);
        let permission = scope
            .acls
            .get(&principal)
            .ok_or_else(|| missing_acl(&principal, &name))?;
        Ok(Json(
            json!({"principal": principal, "permission": permission}),
        ))
    })
}

async fn list_acls(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let name = required(query.get("scope").map(String::from), "scope")?;
    ws.store.read(|db| {
        let (_, scope) = authorize(db, &name, &caller, Level::Manage)?;
        let items: Vec<Value> = scope
            .acls
            .iter()
            .map(
                |(principal, permission)| json!({"principal": principal, "permission": permission}),
            )
            .collect();
        Ok(Json(list_body("items", items)))
    })
}

#[derive(Deserialize)]
struct AclRef {
    scope: Option<String>,
    principal: Option<String>,
}

async fn delete_acl(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<AclRef>,
) -> ApiResult<Json<Value>> {
    let name = required(request.scope, "scope")?;
    let principal = required(request.principal, "principal")?;
    ws.store.write(|db, tx| {
        let (key, _) = authorize(db, &name, &caller, Level::Manage)?;
        let principal = principals::find_any(db, &principal).unwrap_or(principal);
        let scope = scope_mut(db, &key, &name)?;
        if scope.acls.remove(&principal).is_none() {
            return Err(missing_acl(&principal, &name));
        }
        tx.touch(Collection::Scopes, key);
        Ok(Json(json!({})))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_allow_letters_digits_and_four_punctuation_marks() {
        assert!(valid_scope_name("prod-etl_v1.2@team"));
        assert!(valid_scope_name(&"a".repeat(128)));
        assert!(!valid_scope_name(&"a".repeat(129)));
        assert!(!valid_scope_name(""));
        assert!(!valid_scope_name("has space"));
        assert!(!valid_scope_name("slash/no"));
        assert!(!valid_scope_name("ünicode"));
    }

    #[test]
    fn keys_do_not_allow_at_signs() {
        assert!(valid_key("db-password_2.txt"));
        assert!(!valid_key("user@host"));
        assert!(!valid_key(&"k".repeat(129)));
        assert!(valid_key(&"k".repeat(128)));
    }

    #[test]
    fn exactly_one_value_field_is_required() {
        assert!(value_bytes(None, None).is_err());
        assert!(value_bytes(Some("a".into()), Some("YQ==".into())).is_err());
        assert_eq!(value_bytes(Some("héllo".into()), None).unwrap().len(), 6);
        assert_eq!(value_bytes(None, Some("aGk=".into())).unwrap(), b"hi");
        let error = value_bytes(None, Some("not base64!".into())).unwrap_err();
        assert_eq!(error.error_code, json!("INVALID_PARAMETER_VALUE"));
    }

    #[test]
    fn values_are_limited_to_128_kib() {
        assert!(value_bytes(Some("x".repeat(MAX_VALUE_BYTES)), None).is_ok());
        let too_big = value_bytes(Some("x".repeat(MAX_VALUE_BYTES + 1)), None).unwrap_err();
        assert_eq!(too_big.status, StatusCode::BAD_REQUEST);
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_VALUE_BYTES + 1]);
        assert!(value_bytes(None, Some(encoded)).is_err());
    }

    #[test]
    fn timestamps_advance_on_every_put() {
        assert_eq!(next_timestamp(1000, None), 1000);
        assert_eq!(next_timestamp(1000, Some(1000)), 1001);
        assert_eq!(next_timestamp(1000, Some(1005)), 1006);
        assert_eq!(next_timestamp(2000, Some(1005)), 2000);
    }

    #[test]
    fn the_initial_manager_is_the_caller_or_users() {
        let caller = Caller {
            user_name: "a@x".into(),
        };
        assert_eq!(initial_manager(None, &caller).unwrap(), "a@x");
        assert_eq!(initial_manager(Some("users"), &caller).unwrap(), "users");
        assert!(initial_manager(Some("admins"), &caller).is_err());
    }

    #[test]
    fn levels_are_ordered() {
        assert!(Level::Manage > Level::Write && Level::Write > Level::Read);
        assert_eq!(Level::parse("WRITE"), Some(Level::Write));
        assert_eq!(Level::parse("write"), None);
    }
}
