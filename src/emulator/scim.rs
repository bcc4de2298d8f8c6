//! SCIM users, groups and service principals (read-only): `/api/2.0/preview/scim/v2/...`.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::store::{GroupRecord, ServicePrincipalRecord, UserRecord};
use super::{ApiError, ApiResult, AppState, Caller, QueryPairs};

const BASE: &str = "/api/2.0/preview/scim/v2";

/// The SCIM routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/Me"), get(me))
        .route(&format!("{BASE}/Users"), get(list_users))
        .route(&format!("{BASE}/Users/{{id}}"), get(get_user))
        .route(&format!("{BASE}/Groups"), get(list_groups))
        .route(&format!("{BASE}/Groups/{{id}}"), get(get_group))
        .route(
            &format!("{BASE}/ServicePrincipals"),
            get(list_service_principals),
        )
        .route(
            &format!("{BASE}/ServicePrincipals/{{id}}"),
            get(get_service_principal),
        )
}

fn user_json(db: &super::store::Db, user: &UserRecord) -> Value {
    let groups: Vec<Value> = db
        .groups
        .values()
        .filter(|g| g.members.contains(&user.id))
        .map(|g| json!({"value": g.id, "display": g.display_name, "type": "direct", "$ref": format!("Groups/{}", g.id)}))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": user.id,
        "userName": user.user_name,
        "displayName": user.display_name,
        "active": user.active,
        "emails": [{"value": user.user_name, "type": "work", "primary": true}],
        "groups": groups,
    })
}

fn group_json(db: &super::store::Db, group: &GroupRecord) -> Value {
    let members: Vec<Value> = group
        .members
        .iter()
        .filter_map(|id| db.users.get(id))
        .map(|u| json!({"value": u.id, "display": u.display_name, "$ref": format!("Users/{}", u.id)}))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": group.id,
        "displayName": group.display_name,
        "members": members,
    })
}

fn sp_json(sp: &ServicePrincipalRecord) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"],
        "id": sp.id,
        "applicationId": sp.application_id,
        "displayName": sp.display_name,
        "active": true,
    })
}

/// A parsed SCIM filter: only `<attribute> eq "<value>"` (and `co`, `sw`) are supported.
struct Filter {
    attribute: String,
    op: String,
    value: String,
}

fn parse_filter(query: &QueryPairs) -> ApiResult<Option<Filter>> {
    let Some(text) = query.get("filter") else {
        return Ok(None);
    };
    let mut parts = text.splitn(3, ' ');
    let (Some(attribute), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(scim_error(
            400,
            "invalidFilter",
            &format!("Unsupported filter: {text}"),
        ));
    };
    let op = op.to_ascii_lowercase();
    if !["eq", "co", "sw"].contains(&op.as_str()) {
        return Err(scim_error(
            400,
            "invalidFilter",
            &format!("Unsupported filter operator: {op}"),
        ));
    }
    Ok(Some(Filter {
        attribute: attribute.to_string(),
        op,
        value: value.trim().trim_matches('"').to_string(),
    }))
}

impl Filter {
    fn matches(&self, item: &Value) -> bool {
        let Some(actual) = item.get(&self.attribute).and_then(Value::as_str) else {
            return false;
        };
        let (a, v) = (actual.to_lowercase(), self.value.to_lowercase());
        match self.op.as_str() {
            "eq" => a == v,
            "co" => a.contains(&v),
            _ => a.starts_with(&v),
        }
    }
}

fn scim_error(status: u16, scim_type: &str, detail: &str) -> ApiError {
    let status =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    let code = if status.as_u16() == 404 {
        "RESOURCE_DOES_NOT_EXIST"
    } else {
        "INVALID_PARAMETER_VALUE"
    };
    let _ = scim_type;
    ApiError::new(status, code, detail)
}

fn list_response(items: Vec<Value>, query: &QueryPairs) -> ApiResult<Json<Value>> {
    let filter = parse_filter(query)?;
    let items: Vec<Value> = items
        .into_iter()
        .filter(|i| filter.as_ref().is_none_or(|f| f.matches(i)))
        .collect();
    let start = query.int("startIndex")?.unwrap_or(1).max(1) as usize;
    let count = query
        .int("count")?
        .map(|c| c.max(0) as usize)
        .unwrap_or(usize::MAX);
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(start - 1).take(count).collect();
    Ok(Json(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": page.len(),
        "Resources": page,
    })))
}

async fn me(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    ws.store.read(|db| {
        if let Some(user) = db.users.values().find(|u| u.user_name == caller.user_name) {
            return Ok(Json(user_json(db, user)));
        }
        // A service principal's `/Me` is user-shaped, its application id as the user name (as
        // Databricks answers an OAuth M2M caller).
        db.service_principals
            .get(&caller.user_name)
            .map(|sp| Json(sp_as_user_json(sp)))
            .ok_or_else(|| ApiError::not_found(format!("User {} not found", caller.user_name)))
    })
}

fn sp_as_user_json(sp: &ServicePrincipalRecord) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": sp.id,
        "userName": sp.application_id,
        "displayName": sp.display_name,
        "active": true,
        "emails": [],
        "groups": [],
    })
}

async fn list_users(State(ws): State<AppState>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let items = ws
        .store
        .read(|db| db.users.values().map(|u| user_json(db, u)).collect());
    list_response(items, &query)
}

async fn get_user(State(ws): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    ws.store.read(|db| {
        db.users
            .get(&id)
            .map(|u| Json(user_json(db, u)))
            .ok_or_else(|| scim_error(404, "", &format!("User {id} not found")))
    })
}

async fn list_groups(State(ws): State<AppState>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let items = ws
        .store
        .read(|db| db.groups.values().map(|g| group_json(db, g)).collect());
    list_response(items, &query)
}

async fn get_group(State(ws): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    ws.store.read(|db| {
        db.groups
            .get(&id)
            .map(|g| Json(group_json(db, g)))
            .ok_or_else(|| scim_error(404, "", &format!("Group {id} not found")))
    })
}

async fn list_service_principals(
    State(ws): State<AppState>,
    query: QueryPairs,
) -> ApiResult<Json<Value>> {
    let items = ws
        .store
        .read(|db| db.service_principals.values().map(sp_json).collect());
    list_response(items, &query)
}

async fn get_service_principal(
    State(ws): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    ws.store.read(|db| {
        db.service_principals
            .values()
            .find(|sp| sp.id == id)
            .map(|sp| Json(sp_json(sp)))
            .ok_or_else(|| scim_error(404, "", &format!("Service principal {id} not found")))
    })
}
