//! What a reviewer must see first: the kind of change each action makes, which changes alter
//! what a passive workspace gets (a passive override changing), and the order of importance
//! resources are shown in — deletions, the branch's own changes, then replaces, updates, creates
//! and last the changes only the passive overrides make.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::model::ResourceId;
use crate::model::passive::{Override, OverrideSource};
use crate::plan::{Action, Plan, PlannedAction, WorkspacePlan};

/// The kind of change one action makes, as reviewers are shown it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Something is removed (an object, a scope, a secret, an ACL).
    Delete,
    /// An object is deleted and created again.
    Replace,
    /// Something existing changes (fields, grants, ACLs, a secret's value, a cluster's state).
    Update,
    /// Something new is made (an object, a scope, a secret, its first grants).
    Create,
}

impl Change {
    /// The change `action` makes.
    pub fn of(action: &Action) -> Change {
        match action {
            Action::Delete { .. }
            | Action::DeleteScope { .. }
            | Action::DeleteSecret { .. }
            | Action::DeleteAcl { .. } => Change::Delete,
            Action::Replace { .. } => Change::Replace,
            Action::Create { .. } | Action::CreateScope { .. } => Change::Create,
            // A new object's first grants and its first state are part of creating it.
            Action::SetPermissions { id: None, .. }
            | Action::Start { id: None }
            | Action::Terminate { id: None } => Change::Create,
            Action::PutAcl { before: None, .. } => Change::Create,
            Action::PutSecret { reason, .. } if reason == "new" => Change::Create,
            Action::Update { .. }
            | Action::Start { .. }
            | Action::Terminate { .. }
            | Action::SetPermissions { .. }
            | Action::PutAcl { .. }
            | Action::PutSecret { .. } => Change::Update,
        }
    }

    /// Its symbol in text output (Terraform's).
    pub fn symbol(self) -> &'static str {
        match self {
            Change::Delete => "-",
            Change::Replace => "-/+",
            Change::Update => "~",
            Change::Create => "+",
        }
    }

    /// Its symbol in a Markdown `diff` block, where GitHub colours `+` green, `-` red and `!`
    /// orange.
    pub fn diff_symbol(self) -> &'static str {
        match self {
            Change::Update => "!",
            other => other.symbol(),
        }
    }

    /// Its ANSI colour: creates green, updates yellow, replaces magenta, deletions red.
    pub fn colour(self) -> &'static str {
        match self {
            Change::Delete => "31",
            Change::Replace => "35",
            Change::Update => "33",
            Change::Create => "32",
        }
    }
}

/// The passive overrides of a plan, found by workspace, resource and field.
pub struct Overrides<'a> {
    by_field: HashMap<(&'a str, &'a ResourceId, &'a str), &'a Override>,
}

impl<'a> Overrides<'a> {
    /// Indexes every workspace's overrides.
    pub fn of(plan: &'a Plan) -> Self {
        let by_field = plan
            .workspaces
            .iter()
            .flat_map(|w| {
                w.overrides
                    .iter()
                    .map(move |o| ((w.workspace.as_str(), &o.resource, o.field.as_str()), o))
            })
            .collect();
        Overrides { by_field }
    }

    /// The override deciding `field` of `resource` on `workspace`, if any.
    pub fn of_field(
        &self,
        workspace: &str,
        resource: &ResourceId,
        field: &str,
    ) -> Option<&'a Override> {
        self.by_field.get(&(workspace, resource, field)).copied()
    }

    /// The overrides whose value `action` (on `workspace`) changes.
    pub fn changed_by(&self, workspace: &str, action: &PlannedAction) -> Vec<&'a Override> {
        touched_fields(&action.action)
            .into_iter()
            .filter_map(|(field, _)| self.of_field(workspace, &action.resource, field))
            .collect()
    }

    /// Whether every reviewed part of `action` is a passive override changing (nothing the
    /// configuration itself changed).
    fn only_overrides(&self, workspace: &str, action: &PlannedAction) -> bool {
        match &action.action {
            Action::Update { changes, .. } => changes.iter().all(|c| {
                self.of_field(workspace, &action.resource, &c.path)
                    .is_some()
            }),
            _ => !self.changed_by(workspace, action).is_empty(),
        }
    }
}

/// What decided an override: `built-in`, or the resource's `passive:` block and where it is.
pub fn decided_by(o: &Override, origin: Option<&str>) -> String {
    match o.source {
        OverrideSource::Passive => "built-in".into(),
        OverrideSource::PassiveBlock => match origin {
            Some(origin) => format!("{} passive: block, {origin}", o.resource),
            None => format!("{} passive: block", o.resource),
        },
    }
}

/// The override a field change carries out, described for the line showing the change.
pub fn change_note(o: &Override) -> &'static str {
    match o.source {
        OverrideSource::Passive => "passive override: built-in",
        OverrideSource::PassiveBlock => "passive override: its passive: block",
    }
}

/// The fields an override may decide that `action` changes, each with what happens to it
/// (`1 → 3`, `terminates`): a field edited, a cluster started or terminated, grants rewritten —
/// on an object that exists (what a new object gets is its creation, not a change).
fn touched_fields(action: &Action) -> Vec<(&str, String)> {
    match action {
        Action::Update { changes, .. } | Action::Replace { changes, .. } => changes
            .iter()
            .map(|c| {
                let what = format!("{} → {}", super::show(&c.before), super::show(&c.after));
                (c.path.as_str(), what)
            })
            .collect(),
        Action::Start { id: Some(_) } => vec![("state", "starts".into())],
        Action::Terminate { id: Some(_) } => vec![("state", "terminates".into())],
        Action::SetPermissions { id: Some(_), .. } => {
            vec![("permissions", "grants rewritten".into())]
        }
        _ => Vec::new(),
    }
}

/// The overrides of `w` this plan changes, by resource and field, each with what happens to it.
pub fn changing_overrides(w: &WorkspacePlan) -> HashMap<(&ResourceId, &str), String> {
    let decided: HashSet<(&ResourceId, &str)> = w
        .overrides
        .iter()
        .map(|o| (&o.resource, o.field.as_str()))
        .collect();
    let mut out = HashMap::new();
    for a in &w.actions {
        for (field, what) in touched_fields(&a.action) {
            if let Some(key) = decided.get(&(&a.resource, field)) {
                out.insert(*key, what);
            }
        }
    }
    out
}

/// One resource's actions, per workspace, in apply order.
pub type ResourceRows<'a> = Vec<(&'a WorkspacePlan, Vec<&'a PlannedAction>)>;

/// One resource with every workspace's actions, and what makes it important.
pub struct Entry<'a> {
    /// The resource.
    pub resource: ResourceId,
    /// Its actions, per workspace.
    pub rows: ResourceRows<'a>,
    /// It removes something somewhere.
    pub deletes: bool,
    /// Its configuration file changed in this branch.
    pub changed_in_branch: bool,
    /// It changes what a passive workspace gets through an override.
    pub changes_override: bool,
    /// Its most important change (deletions aside), or `None` when only overrides change.
    pub headline: Option<Change>,
}

impl Entry<'_> {
    /// Must be shown whatever the size: a deletion or a passive override changing.
    pub fn must_show(&self) -> bool {
        self.deletes || self.changes_override
    }

    /// Sort key: deletions, the branch's own changes, then replaces, updates, creates and
    /// changes only the passive overrides make.
    fn importance(&self) -> (u8, u8) {
        let group = if self.deletes {
            0
        } else if self.changed_in_branch {
            1
        } else {
            2
        };
        let change = match self.headline {
            Some(Change::Delete) => 0,
            Some(Change::Replace) => 1,
            Some(Change::Update) => 2,
            Some(Change::Create) => 3,
            None => 4,
        };
        (group, change)
    }
}

/// Every resource with an action, most important first (apply order among equals).
pub fn entries<'a>(plan: &'a Plan, overrides: &Overrides<'a>) -> Vec<Entry<'a>> {
    let changed: BTreeSet<&ResourceId> = plan.changed_resources.iter().collect();
    let mut entries: Vec<Entry<'a>> = grouped(plan)
        .into_iter()
        .map(|(resource, rows)| {
            let changes: Vec<(&WorkspacePlan, &PlannedAction, Change)> = rows
                .iter()
                .flat_map(|(w, actions)| {
                    actions.iter().map(move |a| (*w, *a, Change::of(&a.action)))
                })
                .collect();
            let changes_override = changes
                .iter()
                .any(|(w, a, _)| !overrides.changed_by(&w.workspace, a).is_empty());
            let only_overrides = changes
                .iter()
                .all(|(w, a, _)| overrides.only_overrides(&w.workspace, a));
            let headline = changes
                .iter()
                .map(|(_, _, c)| *c)
                .filter(|c| *c != Change::Delete)
                .min()
                .filter(|_| !only_overrides);
            Entry {
                changed_in_branch: changed.contains(&resource),
                deletes: changes.iter().any(|(_, _, c)| *c == Change::Delete),
                changes_override,
                headline,
                resource,
                rows,
            }
        })
        .collect();
    // Stable: apply order among equals.
    entries.sort_by_key(Entry::importance);
    entries
}

/// Resources in apply order of first appearance, each with every workspace's actions.
fn grouped(plan: &Plan) -> Vec<(ResourceId, ResourceRows<'_>)> {
    // One pass with an index: plans of thousands of resources made a scan per resource slow.
    let mut index: HashMap<&ResourceId, usize> = HashMap::new();
    let mut out: Vec<(ResourceId, ResourceRows<'_>)> = Vec::new();
    for w in &plan.workspaces {
        for a in &w.actions {
            let at = *index.entry(&a.resource).or_insert_with(|| {
                out.push((a.resource.clone(), Vec::new()));
                out.len() - 1
            });
            let rows = &mut out[at].1;
            match rows.last_mut() {
                Some((last, actions)) if std::ptr::eq(*last, w) => actions.push(a),
                _ => rows.push((w, vec![a])),
            }
        }
    }
    out
}

/// How many resources one workspace's plan creates, updates, replaces and deletes (a resource
/// counts once, under its biggest change: the grants of a new job are part of creating it), and
/// how many secrets it cannot compare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Resources created.
    pub create: usize,
    /// Resources changed in place.
    pub update: usize,
    /// Resources deleted and created again.
    pub replace: usize,
    /// Resources deleted.
    pub delete: usize,
    /// Secrets whose value was not compared.
    pub not_compared: usize,
}

impl Counts {
    /// The counts of `w`.
    pub fn of(w: &WorkspacePlan) -> Counts {
        let mut per_resource: HashMap<&ResourceId, Vec<&Action>> = HashMap::new();
        let mut counts = Counts {
            not_compared: w.not_compared.len(),
            ..Counts::default()
        };
        for a in &w.actions {
            per_resource.entry(&a.resource).or_default().push(&a.action);
        }
        for actions in per_resource.values() {
            let has = |f: fn(&Action) -> bool| actions.iter().any(|a| f(a));
            if has(|a| matches!(a, Action::Delete { .. } | Action::DeleteScope { .. })) {
                counts.delete += 1;
            } else if has(|a| matches!(a, Action::Replace { .. })) {
                counts.replace += 1;
            } else if has(|a| matches!(a, Action::Create { .. } | Action::CreateScope { .. })) {
                counts.create += 1;
            } else {
                counts.update += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Kind, Role};
    use crate::plan::FieldChange;

    /// `jobs.<key>`.
    pub fn job(key: &str) -> ResourceId {
        ResourceId {
            kind: Kind::Jobs,
            key: key.into(),
        }
    }

    /// A workspace's plan of `actions`, with `overrides`.
    pub fn workspace(
        name: &str,
        role: Role,
        actions: Vec<(ResourceId, Action)>,
        overrides: Vec<Override>,
    ) -> WorkspacePlan {
        WorkspacePlan {
            workspace: name.into(),
            role,
            actions: actions
                .into_iter()
                .map(|(resource, action)| PlannedAction { resource, action })
                .collect(),
            overrides,
            live_fingerprint: String::new(),
            notes: Vec::new(),
            config_digests: Default::default(),
            not_compared: Vec::new(),
        }
    }

    /// A plan of `workspaces`.
    pub fn plan(workspaces: Vec<WorkspacePlan>) -> Plan {
        Plan::of_test(workspaces)
    }

    pub fn create() -> Action {
        Action::Create {
            body: json!({"name": "x"}),
        }
    }

    pub fn delete() -> Action {
        Action::Delete {
            id: "1".into(),
            reason: "gone".into(),
        }
    }

    fn update(path: &str, before: serde_json::Value, after: serde_json::Value) -> Action {
        Action::Update {
            id: "2".into(),
            changes: vec![FieldChange {
                path: path.into(),
                before,
                after,
            }],
            body: json!({}),
        }
    }

    fn runs_override(key: &str, applied: i64, source: OverrideSource) -> Override {
        Override {
            resource: job(key),
            field: "max_concurrent_runs".into(),
            configured: json!(1),
            applied: json!(applied),
            source,
        }
    }

    #[test]
    fn deletions_come_first_then_the_branch_then_replaces_updates_creates_and_overrides() {
        let replace = Action::Replace {
            id: "3".into(),
            changes: Vec::new(),
            body: json!({}),
        };
        let mut plan = plan(vec![
            workspace(
                "primary",
                Role::Active,
                vec![
                    (job("created"), create()),
                    (
                        job("updated"),
                        update("timeout_seconds", json!(1), json!(2)),
                    ),
                    (job("replaced"), replace),
                    (job("branch"), create()),
                    (job("deleted"), delete()),
                ],
                Vec::new(),
            ),
            workspace(
                "secondary",
                Role::Passive,
                vec![(
                    job("paused_again"),
                    update("max_concurrent_runs", json!(2), json!(0)),
                )],
                vec![runs_override("paused_again", 0, OverrideSource::Passive)],
            ),
        ]);
        plan.changed_resources = vec![job("branch")];
        let overrides = Overrides::of(&plan);
        let order: Vec<String> = entries(&plan, &overrides)
            .iter()
            .map(|e| e.resource.key.clone())
            .collect();
        assert_eq!(
            order,
            [
                "deleted",
                "branch",
                "replaced",
                "updated",
                "created",
                "paused_again"
            ]
        );
        let entries = entries(&plan, &overrides);
        let paused = entries.last().expect("an entry");
        assert!(paused.changes_override && paused.must_show());
        assert_eq!(paused.headline, None, "only an override changes");
        assert!(entries[0].deletes && entries[0].must_show());
        assert!(!entries[4].must_show(), "a create can be left out");
    }

    #[test]
    fn a_new_objects_grants_and_state_are_part_of_its_creation() {
        let grants = Action::SetPermissions {
            id: None,
            before: Vec::new(),
            after: Vec::new(),
            keep_owner: false,
            before_unread: false,
        };
        assert_eq!(Change::of(&grants), Change::Create);
        assert_eq!(Change::of(&Action::Terminate { id: None }), Change::Create);
        assert_eq!(
            Change::of(&Action::Terminate {
                id: Some("c".into())
            }),
            Change::Update
        );
        let unchecked = Action::PutSecret {
            scope: "s".into(),
            key: "k".into(),
            reason: "unchecked".into(),
            source: None,
        };
        // Written from its source without comparing (a saved plan's secret whose source is
        // readable now): a change. Secrets not compared at all are no action.
        assert_eq!(Change::of(&unchecked), Change::Update);
        assert_eq!(
            Change::of(&Action::DeleteSecret {
                scope: "s".into(),
                key: "k".into()
            }),
            Change::Delete
        );
    }

    #[test]
    fn a_passive_block_change_is_an_override_change_with_what_happens() {
        let w = workspace(
            "secondary",
            Role::Passive,
            vec![(job("hb"), update("max_concurrent_runs", json!(1), json!(3)))],
            vec![runs_override("hb", 3, OverrideSource::PassiveBlock)],
        );
        let changing = changing_overrides(&w);
        assert_eq!(
            changing.get(&(&job("hb"), "max_concurrent_runs")),
            Some(&"1 → 3".to_string())
        );
        let plan = plan(vec![w]);
        let overrides = Overrides::of(&plan);
        let o = overrides
            .of_field("secondary", &job("hb"), "max_concurrent_runs")
            .expect("the override");
        assert_eq!(
            decided_by(o, Some("resources/hb.yaml:3")),
            "jobs.hb passive: block, resources/hb.yaml:3"
        );
        assert_eq!(change_note(o), "passive override: its passive: block");
    }

    #[test]
    fn counts_are_per_resource_under_its_biggest_change() {
        let w = workspace(
            "primary",
            Role::Active,
            vec![
                (job("a"), create()),
                (
                    job("a"),
                    Action::SetPermissions {
                        id: None,
                        before: Vec::new(),
                        after: Vec::new(),
                        keep_owner: false,
                        before_unread: false,
                    },
                ),
                (job("b"), update("timeout_seconds", json!(1), json!(2))),
                (job("c"), delete()),
            ],
            Vec::new(),
        );
        assert_eq!(
            Counts::of(&w),
            Counts {
                create: 1,
                update: 1,
                replace: 0,
                delete: 1,
                not_compared: 0
            }
        );
    }
}
