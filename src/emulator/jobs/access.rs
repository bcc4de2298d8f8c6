//! Who may do what to a job: permission levels from its ACL, and the ACL a create asks for.

use serde_json::Value;

use super::rules::{principal_missing, run_as_principal};
use crate::emulator::permissions::acl_key;
use crate::emulator::principals::{self, PrincipalKind};
use crate::emulator::store::{AclEntry, Db, JobRecord};
use crate::emulator::{ApiError, ApiResult, Caller};

/// Job permission levels, lowest first.
const JOB_LEVELS: [&str; 4] = ["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"];

pub(super) const CAN_VIEW: u8 = 1;

pub(super) const CAN_MANAGE_RUN: u8 = 2;

pub(super) const CAN_MANAGE: u8 = 3;

fn level_rank(level: &str) -> u8 {
    JOB_LEVELS
        .iter()
        .position(|l| *l == level)
        .map_or(0, |i| i as u8 + 1)
}

/// Who the caller is, for job ACL checks.
pub(super) struct Access<'a> {
    user: &'a str,
    admin: bool,
    groups: Vec<&'a str>,
}

impl<'a> Access<'a> {
    pub(super) fn of(db: &'a Db, user: &'a str) -> Self {
        let admin = principals::is_admin(db, user);
        let groups = if admin {
            Vec::new()
        } else {
            let id = db
                .users
                .values()
                .find(|u| u.user_name.eq_ignore_ascii_case(user))
                .map(|u| u.id.as_str());
            db.groups
                .values()
                .filter(|g| {
                    g.display_name == "users"
                        || id.is_some_and(|id| g.members.iter().any(|m| m == id))
                })
                .map(|g| g.display_name.as_str())
                .collect()
        };
        Access {
            user,
            admin,
            groups,
        }
    }

    /// The caller's effective level on the job (0 for none); admins manage every job.
    pub(super) fn level(&self, db: &Db, job_id: i64) -> u8 {
        if self.admin {
            return u8::MAX;
        }
        db.acls
            .get(&acl_key("jobs", &job_id.to_string()))
            .into_iter()
            .flat_map(|record| &record.entries)
            .filter(|e| self.holds(e))
            .map(|e| level_rank(&e.level))
            .max()
            .unwrap_or(0)
    }

    fn holds(&self, entry: &AclEntry) -> bool {
        match entry.principal_type.as_str() {
            "group_name" => self.groups.contains(&entry.name.as_str()),
            _ => entry.name.eq_ignore_ascii_case(self.user),
        }
    }
}

/// The service checks permissions before existence: a caller without access to a job gets
/// 403 whether or not the job exists.
pub(super) fn check_access(db: &Db, caller: &Caller, job_id: i64, needed: u8) -> ApiResult<()> {
    if Access::of(db, &caller.user_name).level(db, job_id) >= needed {
        return Ok(());
    }
    let what = match needed {
        CAN_VIEW => "View",
        CAN_MANAGE_RUN => "Manage Run",
        _ => "Manage",
    };
    Err(ApiError::permission_denied(format!(
        "{} does not have {what} permissions on Job {job_id}. Please contact the owner or an administrator for access.",
        caller.user_name
    )))
}

/// `run_as_user_name`: the `run_as` principal, else the job's owner, else its creator.
pub(super) fn run_as_user_name<'a>(db: &'a Db, job: &'a JobRecord) -> &'a str {
    if let Some(Ok((_, name))) = job
        .settings
        .get("run_as")
        .and_then(Value::as_object)
        .map(run_as_principal)
    {
        return name;
    }
    db.acls
        .get(&acl_key("jobs", &job.job_id.to_string()))
        .and_then(|r| r.entries.iter().find(|e| e.level == "IS_OWNER"))
        .map_or(job.run_as_user_name.as_str(), |e| e.name.as_str())
}

/// The entries of a create request's `access_control_list`, each checked.
pub(super) fn requested_acl(db: &Db, list: &Value) -> ApiResult<Vec<AclEntry>> {
    let items = list
        .as_array()
        .ok_or_else(|| ApiError::invalid("access_control_list must be an array"))?;
    items.iter().map(|item| acl_entry(db, item)).collect()
}

fn acl_entry(db: &Db, item: &Value) -> ApiResult<AclEntry> {
    let kinds = [
        ("user_name", PrincipalKind::User),
        ("group_name", PrincipalKind::Group),
        ("service_principal_name", PrincipalKind::ServicePrincipal),
    ];
    let named: Vec<_> = kinds
        .into_iter()
        .filter_map(|(key, kind)| Some((key, kind, item.get(key)?.as_str()?)))
        .collect();
    let [(principal_type, kind, name)] = named.as_slice() else {
        return Err(ApiError::invalid(
            "Each access control entry must set exactly one of user_name, group_name and service_principal_name.",
        ));
    };
    let level = item
        .get("permission_level")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if level_rank(level) == 0 {
        return Err(ApiError::invalid(format!(
            "Invalid permission level '{level}' for jobs: it must be one of {}.",
            JOB_LEVELS.join(", ")
        )));
    }
    if !principals::exists(db, *kind, name) {
        return Err(principal_missing(*kind, name));
    }
    Ok(AclEntry {
        principal_type: principal_type.to_string(),
        name: name.to_string(),
        level: level.to_string(),
    })
}

fn same_principal(a: &AclEntry, b: &AclEntry) -> bool {
    a.principal_type == b.principal_type
        && if a.principal_type == "group_name" {
            a.name == b.name
        } else {
            a.name.eq_ignore_ascii_case(&b.name)
        }
}

/// A new job's direct grants: the creator's IS_OWNER, overridden by the request's entries (the
/// last entry per principal wins; a requested owner replaces the creator as owner).
pub(super) fn creation_acl(creator: &str, requested: Vec<AclEntry>) -> ApiResult<Vec<AclEntry>> {
    let mut wanted: Vec<AclEntry> = Vec::new();
    for entry in requested {
        match wanted.iter_mut().find(|w| same_principal(w, &entry)) {
            Some(slot) => *slot = entry,
            None => wanted.push(entry),
        }
    }
    let creator_entry = AclEntry {
        principal_type: "user_name".into(),
        name: creator.to_string(),
        level: "IS_OWNER".into(),
    };
    let mut entries = Vec::new();
    let names_owner = wanted.iter().any(|e| e.level == "IS_OWNER");
    if !names_owner && !wanted.iter().any(|e| same_principal(e, &creator_entry)) {
        entries.push(creator_entry);
    }
    entries.extend(wanted);
    let owners: Vec<&AclEntry> = entries.iter().filter(|e| e.level == "IS_OWNER").collect();
    match owners.as_slice() {
        [owner] if owner.principal_type == "group_name" => Err(ApiError::invalid(format!(
            "Group {} cannot own a job: the owner must be a user or a service principal.",
            owner.name
        ))),
        [_] => Ok(entries),
        _ => Err(ApiError::invalid("The job must have exactly one owner.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, name: &str, level: &str) -> AclEntry {
        AclEntry {
            principal_type: kind.into(),
            name: name.into(),
            level: level.into(),
        }
    }

    #[test]
    fn creation_acl_keeps_one_owner() {
        let plain = creation_acl("me@x", vec![entry("group_name", "g", "CAN_VIEW")]).expect("ok");
        assert_eq!(
            plain,
            [
                entry("user_name", "me@x", "IS_OWNER"),
                entry("group_name", "g", "CAN_VIEW")
            ]
        );
        let moved = creation_acl(
            "me@x",
            vec![
                entry("user_name", "bob@x", "CAN_VIEW"),
                entry("user_name", "bob@x", "IS_OWNER"),
            ],
        )
        .expect("ok");
        assert_eq!(
            moved,
            [entry("user_name", "bob@x", "IS_OWNER")],
            "last entry wins"
        );
        let err = creation_acl("me@x", vec![entry("user_name", "ME@x", "CAN_VIEW")]);
        assert!(err.is_err(), "the creator demoted leaves no owner");
        let two = creation_acl(
            "me@x",
            vec![
                entry("user_name", "a@x", "IS_OWNER"),
                entry("user_name", "b@x", "IS_OWNER"),
            ],
        );
        assert!(two.is_err());
        assert!(creation_acl("me@x", vec![entry("group_name", "g", "IS_OWNER")]).is_err());
    }
}
