//! SCIM users, groups and service principals: `/api/2.0/preview/scim/v2/...`. Errors are SCIM's
//! own (`{"schemas": [...Error], "detail", "status": "404"}`), as the workspace answers them;
//! collections take filters (`filter`) and creates (POST), resources deletes.

mod filter;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::store::{Collection, Db, GroupRecord, ServicePrincipalRecord, Tx, UserRecord};
use super::{ApiError, ApiJson, AppState, Caller, QueryPairs, ids, principals};

const BASE: &str = "/api/2.0/preview/scim/v2";
const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const SP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal";

/// The attributes filters may name, per resource type.
const USER_ATTRIBUTES: &[&str] = &[
    "id",
    "userName",
    "displayName",
    "active",
    "emails",
    "emails.value",
    "externalId",
];
const GROUP_ATTRIBUTES: &[&str] = &["id", "displayName", "externalId", "members.value"];
const SP_ATTRIBUTES: &[&str] = &["id", "applicationId", "displayName", "active", "externalId"];

/// The SCIM routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/Me"), get(me))
        .merge(resource_routes(Resource::User, post(create_user)))
        .merge(resource_routes(Resource::Group, post(create_group)))
        .merge(resource_routes(
            Resource::ServicePrincipal,
            post(create_service_principal),
        ))
}

/// A collection (list, `create`) and its members (get, delete) at `/{Users,Groups,...}`.
fn resource_routes(kind: Resource, create: MethodRouter<AppState>) -> Router<AppState> {
    Router::new()
        .route(
            &format!("{BASE}/{}", kind.path()),
            create.get(move |state, query| list(kind, state, query)),
        )
        .route(
            &format!("{BASE}/{}/{{id}}", kind.path()),
            get(move |state, id| get_one(kind, state, id))
                .delete(move |state, caller, id| delete_one(kind, state, caller, id)),
        )
}

/// The three SCIM resource types; list, get and delete differ only in which one they touch.
#[derive(Debug, Clone, Copy)]
enum Resource {
    User,
    Group,
    ServicePrincipal,
}

impl Resource {
    fn path(self) -> &'static str {
        match self {
            Resource::User => "Users",
            Resource::Group => "Groups",
            Resource::ServicePrincipal => "ServicePrincipals",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Resource::User => "User",
            Resource::Group => "Group",
            Resource::ServicePrincipal => "Service principal",
        }
    }

    /// The attributes filters may name.
    fn attributes(self) -> &'static [&'static str] {
        match self {
            Resource::User => USER_ATTRIBUTES,
            Resource::Group => GROUP_ATTRIBUTES,
            Resource::ServicePrincipal => SP_ATTRIBUTES,
        }
    }

    fn all(self, db: &Db) -> Vec<Value> {
        match self {
            Resource::User => db.users.values().map(|u| user_json(db, u)).collect(),
            Resource::Group => db.groups.values().map(|g| group_json(db, g)).collect(),
            Resource::ServicePrincipal => db.service_principals.values().map(sp_json).collect(),
        }
    }

    fn find(self, db: &Db, id: &str) -> Option<Value> {
        match self {
            Resource::User => db.users.get(id).map(|u| user_json(db, u)),
            Resource::Group => db.groups.get(id).map(|g| group_json(db, g)),
            // Stored by application ID; the SCIM ID is another number.
            Resource::ServicePrincipal => db
                .service_principals
                .values()
                .find(|sp| sp.id == id)
                .map(sp_json),
        }
    }

    /// Removes resource `id` (and a user's group memberships); built-in groups stay.
    fn remove(self, db: &mut Db, tx: &mut Tx, id: &str) -> ScimResult<()> {
        let missing = || ScimError::not_found(self.label(), id);
        match self {
            Resource::User => {
                db.users.remove(id).ok_or_else(missing)?;
                tx.touch(Collection::Users, id.to_string());
                for group in db.groups.values_mut() {
                    if group.members.iter().any(|m| m == id) {
                        group.members.retain(|m| m != id);
                        tx.touch(Collection::Groups, group.id.clone());
                    }
                }
            }
            Resource::Group => {
                let group = db.groups.get(id).ok_or_else(missing)?;
                if group.display_name == "admins" || group.display_name == "users" {
                    return Err(ScimError::invalid_value(format!(
                        "The built-in group {} cannot be deleted.",
                        group.display_name
                    )));
                }
                db.groups.remove(id);
                tx.touch(Collection::Groups, id.to_string());
            }
            Resource::ServicePrincipal => {
                let key = db
                    .service_principals
                    .iter()
                    .find(|(_, sp)| sp.id == id)
                    .map(|(k, _)| k.clone())
                    .ok_or_else(missing)?;
                db.service_principals.remove(&key);
                tx.touch(Collection::ServicePrincipals, key);
            }
        }
        Ok(())
    }
}

async fn list(
    kind: Resource,
    State(ws): State<AppState>,
    query: QueryPairs,
) -> ScimResult<Json<Value>> {
    let items = ws.store.read(|db| kind.all(db));
    list_response(items, &query, kind.attributes())
}

async fn get_one(
    kind: Resource,
    State(ws): State<AppState>,
    Path(id): Path<String>,
) -> ScimResult<Json<Value>> {
    ws.store.read(|db| {
        kind.find(db, &id)
            .map(Json)
            .ok_or_else(|| ScimError::not_found(kind.label(), &id))
    })
}

async fn delete_one(
    kind: Resource,
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ScimResult<StatusCode> {
    ws.store.write(|db, tx| {
        require_admin(db, &caller)?;
        kind.remove(db, tx, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
}

/// A SCIM error response (RFC 7644 §3.12): `status` is a string.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimError {
    /// HTTP status.
    pub status: StatusCode,
    /// `scimType` (`invalidFilter`, `uniqueness`, `invalidValue`), when there is one.
    pub scim_type: Option<&'static str>,
    /// `detail`.
    pub detail: String,
}

impl ScimError {
    fn new(status: StatusCode, scim_type: Option<&'static str>, detail: impl Into<String>) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            None,
            format!("{what} {id} not found."),
        )
    }

    fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Some("invalidValue"), detail)
    }

    fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Some("uniqueness"), detail)
    }
}

impl From<ApiError> for ScimError {
    fn from(error: ApiError) -> Self {
        ScimError::new(error.status, None, error.message)
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "detail": self.detail,
            "status": self.status.as_u16().to_string(),
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = json!(scim_type);
        }
        (self.status, Json(body)).into_response()
    }
}

type ScimResult<T> = Result<T, ScimError>;

fn user_json(db: &Db, user: &UserRecord) -> Value {
    let groups: Vec<Value> = db
        .groups
        .values()
        .filter(|g| g.members.contains(&user.id))
        .map(|g| json!({"value": g.id, "display": g.display_name, "type": "direct", "$ref": format!("Groups/{}", g.id)}))
        .collect();
    json!({
        "schemas": [USER_SCHEMA],
        "id": user.id,
        "userName": user.user_name,
        "displayName": user.display_name,
        "active": user.active,
        "emails": [{"value": user.user_name, "type": "work", "primary": true}],
        "groups": groups,
    })
}

fn group_json(db: &Db, group: &GroupRecord) -> Value {
    let members: Vec<Value> = group
        .members
        .iter()
        .filter_map(|id| db.users.get(id))
        .map(|u| json!({"value": u.id, "display": u.display_name, "$ref": format!("Users/{}", u.id)}))
        .collect();
    json!({
        "schemas": [GROUP_SCHEMA],
        "id": group.id,
        "displayName": group.display_name,
        "members": members,
    })
}

fn sp_json(sp: &ServicePrincipalRecord) -> Value {
    json!({
        "schemas": [SP_SCHEMA],
        "id": sp.id,
        "applicationId": sp.application_id,
        "displayName": sp.display_name,
        "active": true,
    })
}

fn list_response(
    items: Vec<Value>,
    query: &QueryPairs,
    attributes: &[&str],
) -> ScimResult<Json<Value>> {
    let filter = match query.get("filter") {
        Some(text) => Some(filter::parse(text, attributes).map_err(|reason| {
            ScimError::new(
                StatusCode::BAD_REQUEST,
                Some("invalidFilter"),
                format!("Invalid filter '{text}': {reason}"),
            )
        })?),
        None => None,
    };
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
) -> ScimResult<Json<Value>> {
    ws.store.read(|db| {
        if let Some(user) = db
            .users
            .values()
            .find(|u| u.user_name.eq_ignore_ascii_case(&caller.user_name))
        {
            return Ok(Json(user_json(db, user)));
        }
        // A service principal's `/Me` is user-shaped, its application id as the user name (as
        // Databricks answers an OAuth M2M caller).
        db.service_principals
            .values()
            .find(|sp| sp.application_id.eq_ignore_ascii_case(&caller.user_name))
            .map(|sp| Json(sp_as_user_json(sp)))
            .ok_or_else(|| ScimError::not_found("User", &caller.user_name))
    })
}

fn sp_as_user_json(sp: &ServicePrincipalRecord) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "id": sp.id,
        "userName": sp.application_id,
        "displayName": sp.display_name,
        "active": true,
        "emails": [],
        "groups": [],
    })
}

/// Writes need a workspace admin, as SCIM writes do.
fn require_admin(db: &Db, caller: &Caller) -> ScimResult<()> {
    if principals::is_admin(db, &caller.user_name) {
        return Ok(());
    }
    Err(ScimError::new(
        StatusCode::FORBIDDEN,
        None,
        "Only workspace admins can create or delete users, groups and service principals.",
    ))
}

fn text_field<'a>(body: &'a Value, field: &str) -> Option<&'a str> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A new resource ID: `base` plus the workspace's sequence, so it never repeats.
fn new_resource_id(db: &mut Db, tx: &mut Tx, base: u64) -> String {
    let seq = u64::try_from(db.next_seq(tx)).unwrap_or_default();
    (base + 100_000 + seq).to_string()
}

/// Member IDs from a `members` / `groups` list of `{"value": id}`.
fn referenced_ids(body: &Value, field: &str) -> Vec<String> {
    body.get(field)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn create_user(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ScimResult<(StatusCode, Json<Value>)> {
    let user_name = text_field(&body, "userName")
        .ok_or_else(|| ScimError::invalid_value("userName is required."))?
        // The workspace stores e-mails lower case and answers them so.
        .to_lowercase();
    let display_name = text_field(&body, "displayName")
        .unwrap_or(&user_name)
        .to_string();
    let active = body.get("active").and_then(Value::as_bool).unwrap_or(true);
    let groups = referenced_ids(&body, "groups");
    ws.store.write(|db, tx| {
        require_admin(db, &caller)?;
        if principals::exists(db, principals::PrincipalKind::User, &user_name) {
            return Err(ScimError::conflict(format!(
                "User with username {user_name} already exists."
            )));
        }
        let id = new_resource_id(db, tx, 7_000_000_000_000_000);
        db.users.insert(
            id.clone(),
            UserRecord {
                id: id.clone(),
                user_name,
                display_name,
                active,
            },
        );
        tx.touch(Collection::Users, id.clone());
        for group_id in groups {
            if let Some(group) = db.groups.get_mut(&group_id) {
                group.members.push(id.clone());
                tx.touch(Collection::Groups, group_id);
            }
        }
        add_to_users_group(db, tx, &id);
        let user = db.users.get(&id).map(|u| user_json(db, u));
        Ok((StatusCode::CREATED, Json(user.unwrap_or_default())))
    })
}

/// Every user is a member of the built-in `users` group.
fn add_to_users_group(db: &mut Db, tx: &mut Tx, user_id: &str) {
    if let Some(group) = db.groups.values_mut().find(|g| g.display_name == "users") {
        group.members.push(user_id.to_string());
        tx.touch(Collection::Groups, group.id.clone());
    }
}

async fn create_group(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ScimResult<(StatusCode, Json<Value>)> {
    let display_name = text_field(&body, "displayName")
        .ok_or_else(|| ScimError::invalid_value("displayName is required."))?
        .to_string();
    let members = referenced_ids(&body, "members");
    ws.store.write(|db, tx| {
        require_admin(db, &caller)?;
        // Group names are unique as spelled: `Admins` may exist beside `admins`.
        if db.groups.values().any(|g| g.display_name == display_name) {
            return Err(ScimError::conflict(format!(
                "Group with name {display_name} already exists."
            )));
        }
        if let Some(unknown) = members.iter().find(|m| !db.users.contains_key(*m)) {
            return Err(ScimError::not_found("User", unknown));
        }
        let id = new_resource_id(db, tx, 8_000_000_000_000_000);
        let group = GroupRecord {
            id: id.clone(),
            display_name,
            members,
        };
        let answer = group_json(db, &group);
        db.groups.insert(id.clone(), group);
        tx.touch(Collection::Groups, id);
        Ok((StatusCode::CREATED, Json(answer)))
    })
}

/// A random-looking (stable per sequence number) version-4-shaped UUID, lower case, as the
/// workspace generates for a service principal created without an application ID.
fn new_application_id(seq: u64, now_ms: i64) -> String {
    let a = ids::mix(seq ^ (now_ms as u64).rotate_left(17));
    let b = ids::mix(a ^ seq);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

async fn create_service_principal(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<Value>,
) -> ScimResult<(StatusCode, Json<Value>)> {
    let given = text_field(&body, "applicationId").map(str::to_lowercase);
    let display_name = text_field(&body, "displayName").map(str::to_string);
    let now = ws.now_ms();
    ws.store.write(|db, tx| {
        require_admin(db, &caller)?;
        let id = new_resource_id(db, tx, 9_000_000_000_000_000);
        let seq = u64::try_from(db.counters.next_seq).unwrap_or_default();
        // Application IDs are UUIDs, stored (and matched) lower case.
        let application_id = given.unwrap_or_else(|| new_application_id(seq, now));
        if principals::exists(
            db,
            principals::PrincipalKind::ServicePrincipal,
            &application_id,
        ) {
            return Err(ScimError::conflict(format!(
                "Service principal with application ID {application_id} already exists."
            )));
        }
        let sp = ServicePrincipalRecord {
            id,
            display_name: display_name.unwrap_or_else(|| application_id.clone()),
            application_id: application_id.clone(),
        };
        let answer = sp_json(&sp);
        db.service_principals.insert(application_id.clone(), sp);
        tx.touch(Collection::ServicePrincipals, application_id);
        Ok((StatusCode::CREATED, Json(answer)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::{EmulatorOptions, principals::DEFAULT_ADMIN, workspace};

    fn ws() -> AppState {
        workspace(EmulatorOptions::default()).expect("workspace")
    }

    fn admin() -> Extension<Caller> {
        Extension(Caller {
            user_name: DEFAULT_ADMIN.into(),
        })
    }

    fn query(pairs: &[(&str, &str)]) -> QueryPairs {
        QueryPairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    async fn body_of(response: Response) -> (StatusCode, Value) {
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn errors_are_scim_shaped_with_a_string_status() {
        let error = get_one(Resource::User, State(ws()), Path("404404".into()))
            .await
            .expect_err("missing");
        let (status, body) = body_of(error.into_response()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"schemas": [ERROR_SCHEMA], "detail": "User 404404 not found.", "status": "404"})
        );
        let error = list(
            Resource::User,
            State(ws()),
            query(&[("filter", "userName gt \"a\"")]),
        )
        .await
        .expect_err("unsupported operator");
        let (status, body) = body_of(error.into_response()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["status"], json!("400"));
        assert_eq!(body["scimType"], json!("invalidFilter"));
    }

    #[tokio::test]
    async fn a_created_user_is_stored_lower_case_and_found_by_filters() {
        let ws = ws();
        let (status, Json(user)) = create_user(
            State(ws.clone()),
            admin(),
            ApiJson(json!({"userName": "Dana.Smith@Example.com", "displayName": "Dana"})),
        )
        .await
        .expect("created");
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(user["userName"], json!("dana.smith@example.com"));
        assert_eq!(user["groups"][0]["display"], json!("users"));
        let Json(found) = list(
            Resource::User,
            State(ws.clone()),
            query(&[(
                "filter",
                r#"username eq "DANA.SMITH@example.com" and emails.value co "example""#,
            )]),
        )
        .await
        .expect("list");
        assert_eq!(found["totalResults"], json!(1));
        let again = create_user(
            State(ws.clone()),
            admin(),
            ApiJson(json!({"userName": "dana.smith@EXAMPLE.com"})),
        )
        .await
        .expect_err("duplicate");
        assert_eq!(again.status, StatusCode::CONFLICT);
        let id = user["id"].as_str().expect("id").to_string();
        assert_eq!(
            delete_one(Resource::User, State(ws.clone()), admin(), Path(id.clone())).await,
            Ok(StatusCode::NO_CONTENT)
        );
        assert!(get_one(Resource::User, State(ws), Path(id)).await.is_err());
    }

    #[tokio::test]
    async fn groups_are_unique_as_spelled_and_service_principals_get_lower_case_uuids() {
        let ws = ws();
        let (status, Json(group)) = create_group(
            State(ws.clone()),
            admin(),
            ApiJson(json!({"displayName": "Data-Eng"})),
        )
        .await
        .expect("a group differing from data-eng in case only");
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(group["displayName"], json!("Data-Eng"));
        let duplicate = create_group(
            State(ws.clone()),
            admin(),
            ApiJson(json!({"displayName": "Data-Eng"})),
        )
        .await
        .expect_err("duplicate");
        assert_eq!(duplicate.status, StatusCode::CONFLICT);
        let (_, Json(sp)) = create_service_principal(
            State(ws.clone()),
            admin(),
            ApiJson(json!({"displayName": "bot"})),
        )
        .await
        .expect("created");
        let application_id = sp["applicationId"].as_str().expect("id");
        assert_eq!(application_id.len(), 36);
        assert_eq!(application_id, application_id.to_lowercase());
        let (_, Json(given)) = create_service_principal(
            State(ws.clone()),
            admin(),
            ApiJson(json!({"applicationId": "ABCDEF01-2345-6789-ABCD-EF0123456789"})),
        )
        .await
        .expect("created");
        assert_eq!(
            given["applicationId"],
            json!("abcdef01-2345-6789-abcd-ef0123456789")
        );
    }

    #[tokio::test]
    async fn only_admins_write() {
        let error = create_user(
            State(ws()),
            Extension(Caller {
                user_name: "alice@example.com".into(),
            }),
            ApiJson(json!({"userName": "x@example.com"})),
        )
        .await
        .expect_err("not an admin");
        assert_eq!(error.status, StatusCode::FORBIDDEN);
    }
}
