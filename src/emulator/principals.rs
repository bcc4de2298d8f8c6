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
        // A workspace stores user names lower case, whatever case they were given in.
        let user_name = user_name.to_lowercase();
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
                .filter_map(|m| user_ids.get(&m.to_lowercase()).cloned())
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
        let application_id = sp.application_id.to_lowercase();
        db.service_principals.insert(
            application_id.clone(),
            ServicePrincipalRecord {
                id,
                application_id,
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

/// The principal's name as the workspace stores it, if it exists. A user name (e-mail) and a
/// service principal's application ID (a UUID) match whatever their case and come back as stored
/// (lower case); a group's display name matches exactly, since group names are case-sensitive
/// (`Admins` and `admins` may both exist).
pub fn stored_name(db: &Db, kind: PrincipalKind, name: &str) -> Option<String> {
    match kind {
        PrincipalKind::User => db
            .users
            .values()
            .find(|u| u.user_name.eq_ignore_ascii_case(name))
            .map(|u| u.user_name.clone()),
        PrincipalKind::Group => db
            .groups
            .values()
            .find(|g| g.display_name == name)
            .map(|g| g.display_name.clone()),
        PrincipalKind::ServicePrincipal => db
            .service_principals
            .values()
            .find(|sp| sp.application_id.eq_ignore_ascii_case(name))
            .map(|sp| sp.application_id.clone()),
    }
}

/// Whether the principal exists in the workspace.
pub fn exists(db: &Db, kind: PrincipalKind, name: &str) -> bool {
    stored_name(db, kind, name).is_some()
}

/// A secret-ACL principal (a user, group or service principal name) as stored, if it exists.
pub fn find_any(db: &Db, name: &str) -> Option<String> {
    [
        PrincipalKind::User,
        PrincipalKind::Group,
        PrincipalKind::ServicePrincipal,
    ]
    .into_iter()
    .find_map(|k| stored_name(db, k, name))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Db {
        seeded_db(&Principals {
            users: vec![UserEntry::Name("Dana.Smith@Example.com".into())],
            groups: vec![
                GroupEntry {
                    name: "Data-Eng".into(),
                    members: vec!["dana.smith@example.com".into()],
                },
                GroupEntry {
                    name: "data-eng".into(),
                    members: Vec::new(),
                },
            ],
            service_principals: vec![ServicePrincipalEntry {
                application_id: "6F1C2A9E-1D2B-4C3D-9E8F-0A1B2C3D4E5F".into(),
                display_name: None,
            }],
        })
    }

    #[test]
    fn users_and_service_principals_are_stored_lower_case_and_found_in_any_case() {
        let db = db();
        assert_eq!(
            stored_name(&db, PrincipalKind::User, "DANA.smith@example.COM").as_deref(),
            Some("dana.smith@example.com")
        );
        assert_eq!(
            stored_name(
                &db,
                PrincipalKind::ServicePrincipal,
                "6f1c2a9e-1D2B-4c3d-9e8f-0a1b2c3d4e5f"
            )
            .as_deref(),
            Some("6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f")
        );
        assert_eq!(
            find_any(&db, "Dana.Smith@example.com").as_deref(),
            Some("dana.smith@example.com")
        );
        let group = db
            .groups
            .values()
            .find(|g| g.display_name == "Data-Eng")
            .expect("group");
        assert_eq!(group.members.len(), 1, "members are matched in any case");
    }

    #[test]
    fn group_names_are_case_sensitive() {
        let db = db();
        assert_eq!(
            stored_name(&db, PrincipalKind::Group, "Data-Eng").as_deref(),
            Some("Data-Eng")
        );
        assert_eq!(
            stored_name(&db, PrincipalKind::Group, "data-eng").as_deref(),
            Some("data-eng")
        );
        assert_eq!(stored_name(&db, PrincipalKind::Group, "DATA-ENG"), None);
    }
}
