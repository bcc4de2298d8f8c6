//! Permissions API for jobs, clusters and instance pools (`/api/2.0/permissions/*`).

use axum::Router;
use serde::{Deserialize, Serialize};

use super::AppState;

/// One direct grant.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AclEntry {
    /// `user_name`, `group_name` or `service_principal_name`.
    pub principal_type: String,
    /// The principal.
    pub name: String,
    /// The level.
    pub level: String,
}

/// The direct grants of one object (inherited `admins` entries are added when answering).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AclRecord {
    /// `jobs`, `clusters` or `instance-pools`.
    pub object_type: String,
    /// The object's ID.
    pub object_id: String,
    /// Direct grants, one per principal.
    pub entries: Vec<AclEntry>,
}

/// The permissions routes.
pub fn routes() -> Router<AppState> {
    Router::new()
}

use super::store::{Collection, Db, Tx};

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
