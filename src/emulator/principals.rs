//! The users, groups and service principals an emulated workspace knows. Permissions and secret
//! ACLs naming anyone else are rejected, as a real workspace rejects them.

use std::path::Path;

use serde::Deserialize;

use super::EmulatorError;
use super::store::{Db, GroupRecord, ServicePrincipalRecord, UserRecord};

/// The user the default token acts as; a workspace admin.
pub const DEFAULT_ADMIN: &str = "admin@example.com";

/// A principals file (`--principals FILE`).
///
/// ```yaml
/// users: [alice@example.com, {user_name: bob@example.com, display_name: Bob}]
/// groups: [{name: data-eng, members: [alice@example.com]}]
/// service_principals: [{application_id: 6f1c…, display_name: etl-bot}]
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Principals {
    /// Users.
    #[serde(default)]
    pub users: Vec<UserEntry>,
    /// Groups (`admins` and `users` always exist).
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
    /// Service principals.
    #[serde(default)]
    pub service_principals: Vec<ServicePrincipalEntry>,
}

/// A user: a user name, or a mapping.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum UserEntry {
    /// Just the user name.
    Name(String),
    /// With a display name.
    Full {
        /// User name (e-mail).
        user_name: String,
        /// Display name.
        #[serde(default)]
        display_name: Option<String>,
    },
}

impl UserEntry {
    fn user_name(&self) -> &str {
        match self {
            UserEntry::Name(n) | UserEntry::Full { user_name: n, .. } => n,
        }
    }
}

/// A group and its members (user names).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// Display name.
    pub name: String,
    /// Member user names.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A service principal.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServicePrincipalEntry {
    /// Application ID (what permissions name).
    pub application_id: String,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// The default set: an admin, a few users, the groups and the service principal tandem's
/// examples use.
pub fn default_principals() -> Principals {
    let users = [
        DEFAULT_ADMIN,
        "etl-bot@example.com",
        "alice@example.com",
        "bob@example.com",
        "carol@example.com",
    ];
    Principals {
        users: users
            .iter()
            .map(|u| UserEntry::Name(u.to_string()))
            .collect(),
        groups: vec![
            GroupEntry {
                name: "admins".into(),
                members: vec![DEFAULT_ADMIN.into()],
            },
            GroupEntry {
                name: "data-eng".into(),
                members: vec!["alice@example.com".into(), "etl-bot@example.com".into()],
            },
            GroupEntry {
                name: "analysts".into(),
                members: vec!["bob@example.com".into()],
            },
            GroupEntry {
                name: "platform-ops".into(),
                members: vec!["carol@example.com".into()],
            },
        ],
        service_principals: vec![ServicePrincipalEntry {
            application_id: "6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f".into(),
            display_name: Some("etl-service-principal".into()),
        }],
    }
}

/// Reads a principals file, or returns the default set.
pub fn load(path: Option<&Path>) -> Result<Principals, EmulatorError> {
    let Some(path) = path else {
        return Ok(default_principals());
    };
    let error = |reason: String| EmulatorError::Principals {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let mut principals: Principals =
        serde_saphyr::from_str(&text).map_err(|e| error(e.to_string()))?;
    // The caller of the default token must exist.
    if !principals
        .users
        .iter()
        .any(|u| u.user_name() == DEFAULT_ADMIN)
    {
        principals.users.push(UserEntry::Name(DEFAULT_ADMIN.into()));
    }
    Ok(principals)
}

/// A new workspace holding `principals` (and the built-in `admins` and `users` groups).
pub fn seeded_db(principals: &Principals) -> Db {
    let mut db = Db::default();
    let mut user_ids = std::collections::BTreeMap::new();
    for (i, user) in principals.users.iter().enumerate() {
        let id = format!("{}", 7_000_000_000_000_000u64 + i as u64 + 1);
        let (user_name, display_name) = match user {
            UserEntry::Name(n) => (n.clone(), n.split('@').next().unwrap_or(n).to_string()),
            UserEntry::Full {
                user_name,
                display_name,
            } => (
                user_name.clone(),
                display_name.clone().unwrap_or_else(|| user_name.clone()),
            ),
        };
        user_ids.insert(user_name.clone(), id.clone());
        db.users.insert(
            id.clone(),
            UserRecord {
                id,
                user_name,
                display_name,
                active: true,
            },
        );
    }
    let mut groups = principals.groups.clone();
    for builtin in ["admins", "users"] {
        if !groups.iter().any(|g| g.name == builtin) {
            groups.push(GroupEntry {
                name: builtin.into(),
                members: Vec::new(),
            });
        }
    }
    for (i, group) in groups.iter().enumerate() {
        let id = format!("{}", 8_000_000_000_000_000u64 + i as u64 + 1);
        let members = if group.name == "users" {
            user_ids.values().cloned().collect()
        } else {
            group
                .members
                .iter()
                .filter_map(|m| user_ids.get(m).cloned())
                .collect()
        };
        db.groups.insert(
            id.clone(),
            GroupRecord {
                id,
                display_name: group.name.clone(),
                members,
            },
        );
    }
    for (i, sp) in principals.service_principals.iter().enumerate() {
        let id = format!("{}", 9_000_000_000_000_000u64 + i as u64 + 1);
        db.service_principals.insert(
            sp.application_id.clone(),
            ServicePrincipalRecord {
                id,
                application_id: sp.application_id.clone(),
                display_name: sp
                    .display_name
                    .clone()
                    .unwrap_or_else(|| sp.application_id.clone()),
            },
        );
    }
    db
}

/// Which kind of principal a grant names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    /// `user_name`.
    User,
    /// `group_name`.
    Group,
    /// `service_principal_name` (application ID).
    ServicePrincipal,
}

/// Whether the principal exists in the workspace.
pub fn exists(db: &Db, kind: PrincipalKind, name: &str) -> bool {
    match kind {
        PrincipalKind::User => db
            .users
            .values()
            .any(|u| u.user_name.eq_ignore_ascii_case(name)),
        PrincipalKind::Group => db.groups.values().any(|g| g.display_name == name),
        PrincipalKind::ServicePrincipal => db.service_principals.contains_key(name),
    }
}

/// The kind of a secret-ACL principal (a user, group or service principal name), if it exists.
pub fn find_any(db: &Db, name: &str) -> Option<PrincipalKind> {
    [
        PrincipalKind::User,
        PrincipalKind::Group,
        PrincipalKind::ServicePrincipal,
    ]
    .into_iter()
    .find(|k| exists(db, *k, name))
}

/// Whether `user_name` is a workspace admin (member of `admins`).
pub fn is_admin(db: &Db, user_name: &str) -> bool {
    let Some(user) = db
        .users
        .values()
        .find(|u| u.user_name.eq_ignore_ascii_case(user_name))
    else {
        return false;
    };
    db.groups
        .values()
        .any(|g| g.display_name == "admins" && g.members.contains(&user.id))
}
