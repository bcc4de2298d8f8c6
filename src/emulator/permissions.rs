//! Permissions API for jobs, clusters and instance pools (`/api/2.0/permissions/*`).
//!
//! Only direct grants are stored; the `admins` group's inherited CAN_MANAGE is added when
//! answering, as the real service reports it. PUT replaces the direct grants, PATCH merges them,
//! and both answer exactly what a GET would.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::principals::{self, PrincipalKind};
use super::store::{AclEntry, AclRecord, Collection, Db, Tx};
use super::{ApiError, ApiJson, ApiResult, AppState, Caller};

/// The permissions routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/2.0/permissions/{object_type}/{object_id}",
            get(get_permissions)
                .put(put_permissions)
                .patch(patch_permissions),
        )
        .route(
            "/api/2.0/permissions/{object_type}/{object_id}/permissionLevels",
            get(permission_levels),
        )
}

/// The ACL key of an object: `jobs/12`.
pub fn acl_key(object_type: &str, object_id: &str) -> String {
    format!("{object_type}/{object_id}")
}

/// Gives a new object its creator's default grant: IS_OWNER on jobs, CAN_MANAGE on clusters and
/// pools. Call when creating a job, cluster or pool.
pub fn init_acl(db: &mut Db, tx: &mut Tx, object_type: &str, object_id: &str, creator: &str) {
    let level = if object_type == "jobs" {
        "IS_OWNER"
    } else {
        "CAN_MANAGE"
    };
    let key = acl_key(object_type, object_id);
    db.acls.insert(
        key.clone(),
        AclRecord {
            object_type: object_type.to_string(),
            object_id: object_id.to_string(),
            entries: vec![AclEntry {
                principal_type: "user_name".into(),
                name: creator.to_string(),
                level: level.into(),
            }],
        },
    );
    tx.touch(Collection::Acls, key);
}

/// Forgets an object's ACL. Call when a job, pool or (permanently deleted) cluster goes away.
pub fn drop_acl(db: &mut Db, tx: &mut Tx, object_type: &str, object_id: &str) {
    let key = acl_key(object_type, object_id);
    if db.acls.remove(&key).is_some() {
        tx.touch(Collection::Acls, key);
    }
}

/// The principal holding IS_OWNER on a job (what `run_as_user_name` defaults to), if any.
pub fn job_owner(db: &Db, job_id: &str) -> Option<String> {
    db.acls
        .get(&acl_key("jobs", job_id))?
        .entries
        .iter()
        .find(|e| e.level == IS_OWNER)
        .map(|e| e.name.clone())
}

/// The groups `user_name` belongs to; every user is in the built-in `users` group.
pub fn groups_of(db: &Db, user_name: &str) -> Vec<String> {
    let id = db
        .users
        .values()
        .find(|u| u.user_name.eq_ignore_ascii_case(user_name))
        .map(|u| u.id.as_str());
    let mut groups: Vec<String> = db
        .groups
        .values()
        .filter(|g| id.is_some_and(|id| g.members.iter().any(|m| m == id)))
        .map(|g| g.display_name.clone())
        .collect();
    if !groups.iter().any(|g| g == "users") {
        groups.push("users".into());
    }
    groups
}

/// The object's ACL as GET (and PUT and PATCH) answer it. `object_type` is the path form
/// (`jobs`, `clusters`, `instance-pools`).
pub fn acl_json(db: &Db, object_type: &str, object_id: &str) -> Value {
    let response_type = match ObjectKind::parse(object_type) {
        Some(kind) => kind.response_type(),
        None => object_type,
    };
    let mut list: Vec<Value> = db
        .acls
        .get(&acl_key(object_type, object_id))
        .map(|r| r.entries.iter().map(|e| entry_json(db, e)).collect())
        .unwrap_or_default();
    list.push(json!({
        "group_name": ADMINS,
        "all_permissions": [{
            "permission_level": "CAN_MANAGE",
            "inherited": true,
            "inherited_from_object": [format!("/{object_type}/")],
        }],
    }));
    json!({
        "object_id": format!("/{object_type}/{object_id}"),
        "object_type": response_type,
        "access_control_list": list,
    })
}

const IS_OWNER: &str = "IS_OWNER";
const ADMINS: &str = "admins";

/// The request fields naming a principal, and what kind each names.
const PRINCIPAL_FIELDS: [(&str, PrincipalKind); 3] = [
    ("user_name", PrincipalKind::User),
    ("group_name", PrincipalKind::Group),
    ("service_principal_name", PrincipalKind::ServicePrincipal),
];

/// The object types this emulator manages permissions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjectKind {
    Job,
    Cluster,
    Pool,
}

impl ObjectKind {
    fn parse(segment: &str) -> Option<Self> {
        match segment {
            "jobs" => Some(ObjectKind::Job),
            "clusters" => Some(ObjectKind::Cluster),
            "instance-pools" => Some(ObjectKind::Pool),
            _ => None,
        }
    }

    fn segment(self) -> &'static str {
        match self {
            ObjectKind::Job => "jobs",
            ObjectKind::Cluster => "clusters",
            ObjectKind::Pool => "instance-pools",
        }
    }

    fn response_type(self) -> &'static str {
        match self {
            ObjectKind::Job => "job",
            ObjectKind::Cluster => "cluster",
            ObjectKind::Pool => "instance-pool",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            ObjectKind::Job => "Job",
            ObjectKind::Cluster => "Cluster",
            ObjectKind::Pool => "Instance pool",
        }
    }

    /// Valid levels, lowest first, with the descriptions `permissionLevels` gives.
    fn levels(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ObjectKind::Job => &[
                ("CAN_VIEW", "Can view the job and its runs"),
                (
                    "CAN_MANAGE_RUN",
                    "Can view the job, and trigger and cancel its runs",
                ),
                (
                    "CAN_MANAGE",
                    "Can edit and delete the job and change its permissions",
                ),
                ("IS_OWNER", "Owns the job; its runs run as the owner"),
            ],
            ObjectKind::Cluster => &[
                (
                    "CAN_ATTACH_TO",
                    "Can attach notebooks and jobs to the cluster",
                ),
                (
                    "CAN_RESTART",
                    "Can attach to, start, restart and terminate the cluster",
                ),
                (
                    "CAN_MANAGE",
                    "Can edit and delete the cluster and change its permissions",
                ),
            ],
            ObjectKind::Pool => &[
                ("CAN_ATTACH_TO", "Can create clusters that use the pool"),
                (
                    "CAN_MANAGE",
                    "Can edit and delete the pool and change its permissions",
                ),
            ],
        }
    }

    fn exists(self, db: &Db, id: &str) -> bool {
        match self {
            ObjectKind::Job => db.jobs.contains_key(id),
            ObjectKind::Cluster => db.clusters.contains_key(id),
            // A deleted pool may linger as a DELETED record; it has no permissions any more.
            ObjectKind::Pool => db.pools.get(id).is_some_and(|p| p.state != "DELETED"),
        }
    }
}

fn kind_of(object_type: &str, object_id: &str, method: &str) -> ApiResult<ObjectKind> {
    ObjectKind::parse(object_type).ok_or_else(|| {
        let path = format!("/api/2.0/permissions/{object_type}/{object_id}");
        ApiError::endpoint_not_found(method, &path)
    })
}

/// Checks the object exists and the caller may manage its permissions. Jobs check the caller
/// first, as the real backend does, so a non-admin learns nothing about jobs it cannot see.
fn admit(db: &Db, kind: ObjectKind, id: &str, caller: &Caller) -> ApiResult<()> {
    let missing = || ApiError::not_found(format!("{} {id} does not exist.", kind.noun()));
    let allowed =
        || principals::is_admin(db, &caller.user_name) || can_manage(db, kind, id, caller);
    let denied = || {
        ApiError::permission_denied(format!(
            "User {} does not have permission to manage the permissions of {} {id}.",
            caller.user_name,
            kind.noun()
        ))
    };
    if kind == ObjectKind::Job && !allowed() {
        return Err(denied());
    }
    if !kind.exists(db, id) {
        return Err(missing());
    }
    if !allowed() {
        return Err(denied());
    }
    Ok(())
}

fn can_manage(db: &Db, kind: ObjectKind, id: &str, caller: &Caller) -> bool {
    let groups = groups_of(db, &caller.user_name);
    let Some(record) = db.acls.get(&acl_key(kind.segment(), id)) else {
        return false;
    };
    record.entries.iter().any(|e| {
        let names_caller = match e.principal_type.as_str() {
            "user_name" => e.name.eq_ignore_ascii_case(&caller.user_name),
            "group_name" => groups.contains(&e.name),
            _ => false,
        };
        names_caller && (e.level == "CAN_MANAGE" || e.level == IS_OWNER)
    })
}

fn entry_json(db: &Db, entry: &AclEntry) -> Value {
    let display_name = match entry.principal_type.as_str() {
        "user_name" => db
            .users
            .values()
            .find(|u| u.user_name.eq_ignore_ascii_case(&entry.name))
            .map(|u| u.display_name.clone()),
        "service_principal_name" => db
            .service_principals
            .values()
            .find(|sp| sp.application_id.eq_ignore_ascii_case(&entry.name))
            .map(|sp| sp.display_name.clone()),
        _ => None,
    };
    let mut object = serde_json::Map::new();
    object.insert(entry.principal_type.clone(), json!(entry.name));
    if let Some(display_name) = display_name {
        object.insert("display_name".into(), json!(display_name));
    }
    object.insert(
        "all_permissions".into(),
        json!([{"permission_level": entry.level, "inherited": false}]),
    );
    Value::Object(object)
}

/// Parses the request's `access_control_list`, validating each entry's shape and level.
fn parse_request(kind: ObjectKind, body: &Value) -> ApiResult<Vec<AclEntry>> {
    let entries = match body.get("access_control_list") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(_) => {
            return Err(ApiError::malformed(
                "access_control_list must be an array of access control entries",
            ));
        }
    };
    entries.iter().map(|e| parse_entry(kind, e)).collect()
}

fn parse_entry(kind: ObjectKind, entry: &Value) -> ApiResult<AclEntry> {
    let named: Vec<(&str, &str)> = PRINCIPAL_FIELDS
        .iter()
        .filter_map(|(field, _)| {
            entry
                .get(field)
                .and_then(Value::as_str)
                .map(|n| (*field, n))
        })
        .collect();
    let [(field, name)] = named[..] else {
        return Err(ApiError::invalid(
            "Each access control entry must set exactly one of user_name, group_name or \
             service_principal_name",
        ));
    };
    let level = entry
        .get("permission_level")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid("permission_level is required"))?;
    if !kind.levels().iter().any(|(l, _)| *l == level) {
        return Err(ApiError::invalid(format!(
            "Permission type {level} is not supported for {}",
            kind.segment()
        )));
    }
    Ok(AclEntry {
        principal_type: field.into(),
        name: name.into(),
        level: level.into(),
    })
}

fn same_principal(a: &AclEntry, b: &AclEntry) -> bool {
    a.principal_type == b.principal_type
        && if a.principal_type != "group_name" {
            a.name.eq_ignore_ascii_case(&b.name)
        } else {
            a.name == b.name
        }
}

/// Adds a grant, replacing any earlier grant to the same principal.
fn upsert(entries: &mut Vec<AclEntry>, entry: AclEntry) {
    match entries.iter_mut().find(|e| same_principal(e, &entry)) {
        Some(existing) => *existing = entry,
        None => entries.push(entry),
    }
}

/// One level per principal: a later entry for the same principal replaces an earlier one.
fn last_wins(entries: Vec<AclEntry>) -> Vec<AclEntry> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        upsert(&mut out, entry);
    }
    out
}

/// PATCH: the listed principals are added or changed, the rest kept. A new IS_OWNER takes
/// ownership: every other principal's IS_OWNER grant is removed (not downgraded), since the
/// real service's exact behaviour is unverified and a removed grant is the conservative reading.
fn merge(existing: Vec<AclEntry>, request: Vec<AclEntry>) -> Vec<AclEntry> {
    let new_owner = request.iter().any(|e| e.level == IS_OWNER);
    let mut merged: Vec<AclEntry> = existing
        .into_iter()
        .filter(|e| {
            !(new_owner && e.level == IS_OWNER && !request.iter().any(|r| same_principal(r, e)))
        })
        .collect();
    for entry in request {
        upsert(&mut merged, entry);
    }
    merged
}

/// Rules on the requested entries themselves: `admins` cannot be configured (its CAN_MANAGE is
/// inherited and fixed), and a group cannot own a job.
fn check_request(entries: &[AclEntry]) -> ApiResult<()> {
    for entry in entries {
        if entry.principal_type == "group_name" && entry.name == ADMINS {
            return Err(ApiError::invalid(
                "The admins group always has CAN_MANAGE; its permissions cannot be changed",
            ));
        }
        if entry.principal_type == "group_name" && entry.level == IS_OWNER {
            return Err(ApiError::invalid(format!(
                "Group {} cannot be the owner of a job; the owner must be a user or a service \
                 principal.",
                entry.name
            )));
        }
    }
    Ok(())
}

/// Jobs must end with exactly one IS_OWNER.
fn check_owner(kind: ObjectKind, entries: &[AclEntry]) -> ApiResult<()> {
    let owners = entries.iter().filter(|e| e.level == IS_OWNER).count();
    if kind == ObjectKind::Job && owners != 1 {
        return Err(ApiError::invalid("The job must have exactly one owner."));
    }
    Ok(())
}

/// Checks every named principal exists and names it as the workspace stores it (a user's
/// e-mail and a service principal's application ID lower case, a group as spelled).
fn stored_principals(db: &Db, entries: Vec<AclEntry>) -> ApiResult<Vec<AclEntry>> {
    entries
        .into_iter()
        .map(|mut entry| {
            let (label, kind) = match entry.principal_type.as_str() {
                "user_name" => ("UserName", PrincipalKind::User),
                "group_name" => ("GroupName", PrincipalKind::Group),
                _ => ("ServicePrincipalName", PrincipalKind::ServicePrincipal),
            };
            entry.name = principals::stored_name(db, kind, &entry.name).ok_or_else(|| {
                ApiError::invalid(format!("Principal: {label}({}) does not exist", entry.name))
            })?;
            Ok(entry)
        })
        .collect()
}

async fn get_permissions(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((object_type, object_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let kind = kind_of(&object_type, &object_id, "GET")?;
    ws.store.read(|db| {
        admit(db, kind, &object_id, &caller)?;
        Ok(Json(acl_json(db, kind.segment(), &object_id)))
    })
}

async fn permission_levels(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((object_type, object_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let kind = kind_of(&object_type, &object_id, "GET")?;
    ws.store.read(|db| admit(db, kind, &object_id, &caller))?;
    let levels: Vec<Value> = kind
        .levels()
        .iter()
        .map(|(level, description)| json!({"permission_level": level, "description": description}))
        .collect();
    Ok(Json(json!({"permission_levels": levels})))
}

/// Whether a write replaces the direct grants (PUT) or merges into them (PATCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Replace,
    Merge,
}

async fn put_permissions(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((object_type, object_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let kind = kind_of(&object_type, &object_id, "PUT")?;
    update(&ws, &caller, kind, &object_id, &body, Mode::Replace)
}

async fn patch_permissions(
    State(ws): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((object_type, object_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let kind = kind_of(&object_type, &object_id, "PATCH")?;
    update(&ws, &caller, kind, &object_id, &body, Mode::Merge)
}

fn update(
    ws: &AppState,
    caller: &Caller,
    kind: ObjectKind,
    object_id: &str,
    body: &Value,
    mode: Mode,
) -> ApiResult<Json<Value>> {
    ws.store.write(|db, tx| {
        admit(db, kind, object_id, caller)?;
        let request = last_wins(parse_request(kind, body)?);
        check_request(&request)?;
        let request = stored_principals(db, request)?;
        let key = acl_key(kind.segment(), object_id);
        let existing = db
            .acls
            .get(&key)
            .map(|r| r.entries.clone())
            .unwrap_or_default();
        let entries = match mode {
            Mode::Replace => request,
            Mode::Merge => merge(existing, request),
        };
        check_owner(kind, &entries)?;
        db.acls.insert(
            key.clone(),
            AclRecord {
                object_type: kind.segment().into(),
                object_id: object_id.into(),
                entries,
            },
        );
        tx.touch(Collection::Acls, key);
        Ok(Json(acl_json(db, kind.segment(), object_id)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(principal_type: &str, name: &str, level: &str) -> AclEntry {
        AclEntry {
            principal_type: principal_type.into(),
            name: name.into(),
            level: level.into(),
        }
    }

    fn parse(kind: ObjectKind, body: Value) -> ApiResult<Vec<AclEntry>> {
        parse_request(kind, &body).map(last_wins)
    }

    #[test]
    fn principals_are_answered_as_the_workspace_stores_them() {
        let db = principals::seeded_db(&principals::default_principals());
        let stored = stored_principals(
            &db,
            vec![
                entry("user_name", "Alice@Example.COM", "CAN_VIEW"),
                entry(
                    "service_principal_name",
                    "6F1C2A9E-1D2B-4C3D-9E8F-0A1B2C3D4E5F",
                    "CAN_VIEW",
                ),
                entry("group_name", "data-eng", "CAN_VIEW"),
            ],
        )
        .expect("all exist");
        assert_eq!(
            stored,
            vec![
                entry("user_name", "alice@example.com", "CAN_VIEW"),
                entry(
                    "service_principal_name",
                    "6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f",
                    "CAN_VIEW"
                ),
                entry("group_name", "data-eng", "CAN_VIEW"),
            ]
        );
        let error = stored_principals(&db, vec![entry("group_name", "Data-Eng", "CAN_VIEW")])
            .expect_err("group names are case-sensitive");
        assert_eq!(
            error.message,
            "Principal: GroupName(Data-Eng) does not exist"
        );
    }

    #[test]
    fn last_entry_per_principal_wins_and_can_trip_the_owner_rule() {
        let entries = parse(
            ObjectKind::Job,
            json!({"access_control_list": [
                {"user_name": "u@x", "permission_level": "IS_OWNER"},
                {"user_name": "U@x", "permission_level": "CAN_MANAGE"},
            ]}),
        )
        .unwrap();
        assert_eq!(entries, vec![entry("user_name", "U@x", "CAN_MANAGE")]);
        let error = check_owner(ObjectKind::Job, &entries).unwrap_err();
        assert_eq!(error.message, "The job must have exactly one owner.");
    }

    #[test]
    fn jobs_need_exactly_one_owner_other_objects_none() {
        let two = [
            entry("user_name", "a", "IS_OWNER"),
            entry("service_principal_name", "b", "IS_OWNER"),
        ];
        assert!(check_owner(ObjectKind::Job, &two).is_err());
        assert!(check_owner(ObjectKind::Job, &[]).is_err());
        assert!(check_owner(ObjectKind::Job, &two[..1]).is_ok());
        assert!(check_owner(ObjectKind::Cluster, &[]).is_ok());
    }

    #[test]
    fn levels_are_validated_per_object_type() {
        let body = |level: &str| json!({"access_control_list": [{"user_name": "u", "permission_level": level}]});
        assert!(parse(ObjectKind::Job, body("CAN_MANAGE_RUN")).is_ok());
        assert!(parse(ObjectKind::Cluster, body("CAN_RESTART")).is_ok());
        let error = parse(ObjectKind::Job, body("CAN_RESTART")).unwrap_err();
        assert_eq!(error.error_code, json!("INVALID_PARAMETER_VALUE"));
        assert_eq!(
            error.message,
            "Permission type CAN_RESTART is not supported for jobs"
        );
        assert!(parse(ObjectKind::Pool, body("CAN_RESTART")).is_err());
        assert!(parse(ObjectKind::Cluster, body("IS_OWNER")).is_err());
    }

    #[test]
    fn entries_name_exactly_one_principal_and_a_level() {
        let both = json!({"access_control_list": [{"user_name": "u", "group_name": "g", "permission_level": "CAN_VIEW"}]});
        let none = json!({"access_control_list": [{"permission_level": "CAN_VIEW"}]});
        let no_level = json!({"access_control_list": [{"user_name": "u"}]});
        for body in [both, none, no_level] {
            assert_eq!(
                parse(ObjectKind::Job, body).unwrap_err().error_code,
                json!("INVALID_PARAMETER_VALUE")
            );
        }
        assert_eq!(parse(ObjectKind::Job, json!({})).unwrap(), vec![]);
    }

    #[test]
    fn admins_and_group_owners_are_refused() {
        assert!(check_request(&[entry("group_name", "admins", "CAN_MANAGE")]).is_err());
        assert!(check_request(&[entry("group_name", "data-eng", "IS_OWNER")]).is_err());
        assert!(check_request(&[entry("group_name", "data-eng", "CAN_MANAGE")]).is_ok());
    }

    #[test]
    fn patch_merges_and_put_replaces() {
        let existing = vec![
            entry("user_name", "owner", "IS_OWNER"),
            entry("group_name", "data-eng", "CAN_VIEW"),
        ];
        let request = vec![
            entry("group_name", "data-eng", "CAN_MANAGE_RUN"),
            entry("user_name", "bob", "CAN_VIEW"),
        ];
        let merged = merge(existing.clone(), request.clone());
        assert_eq!(
            merged,
            vec![
                entry("user_name", "owner", "IS_OWNER"),
                entry("group_name", "data-eng", "CAN_MANAGE_RUN"),
                entry("user_name", "bob", "CAN_VIEW"),
            ]
        );
        assert!(check_owner(ObjectKind::Job, &merged).is_ok());
        // PUT is the request alone: without an owner it is refused for jobs.
        assert!(check_owner(ObjectKind::Job, &request).is_err());
    }

    #[test]
    fn patch_with_a_new_owner_moves_ownership() {
        let existing = vec![
            entry("user_name", "old", "IS_OWNER"),
            entry("user_name", "viewer", "CAN_VIEW"),
        ];
        let merged = merge(
            existing,
            vec![entry("service_principal_name", "sp", "IS_OWNER")],
        );
        assert_eq!(
            merged,
            vec![
                entry("user_name", "viewer", "CAN_VIEW"),
                entry("service_principal_name", "sp", "IS_OWNER"),
            ]
        );
        assert!(check_owner(ObjectKind::Job, &merged).is_ok());
    }

    #[test]
    fn patch_lowering_the_only_owner_leaves_none() {
        let merged = merge(
            vec![entry("user_name", "old", "IS_OWNER")],
            vec![entry("user_name", "old", "CAN_MANAGE")],
        );
        assert!(check_owner(ObjectKind::Job, &merged).is_err());
    }

    #[test]
    fn acl_json_adds_the_inherited_admins_entry() {
        let mut db = Db::default();
        let mut tx = Tx::default();
        init_acl(&mut db, &mut tx, "instance-pools", "p1", "a@x");
        let value = acl_json(&db, "instance-pools", "p1");
        assert_eq!(
            value,
            json!({
                "object_id": "/instance-pools/p1",
                "object_type": "instance-pool",
                "access_control_list": [
                    {"user_name": "a@x", "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": false}]},
                    {"group_name": "admins", "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": true, "inherited_from_object": ["/instance-pools/"]}]},
                ],
            })
        );
        assert_eq!(job_owner(&db, "1"), None);
    }
}
