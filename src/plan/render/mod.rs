//! Plans for people (text, with colour on a terminal) and for pull requests (Markdown, capped
//! under GitHub's comment limit). JSON is the [`super::Plan`] itself, serialised. Both show the
//! most important first ([`review`]): deletions, the branch's own changes, replaces, updates,
//! creates, then what only the passive overrides change.

mod compare;
mod drift;
mod markdown;
mod readiness;
pub mod review;
mod status;

pub use compare::compare;
pub use drift::drift;
pub use markdown::markdown;
pub use readiness::readiness;
pub use status::status;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{Action, FieldChange, Plan, PlannedAction};
use crate::model::ResourceId;
use review::{Change, Overrides};

/// Where each resource is defined (`examples/jobs/etl.yaml:4`), shown next to it.
pub type Origins = BTreeMap<ResourceId, String>;

/// ANSI styling, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour on or off.
    pub fn new(colour: bool) -> Self {
        Style { colour }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// An action's symbol and verb (`+ create`, `~ update`), coloured by the change it makes.
    fn verb(&self, action: &Action) -> String {
        let change = Change::of(action);
        self.paint(
            change.colour(),
            &format!("{} {}", change.symbol(), action.verb()),
        )
    }
}

/// Longest a value is shown inline before it is shortened (long strings get a line diff).
const INLINE: usize = 60;

fn show(value: &Value) -> String {
    match value {
        Value::Null => "(none)".into(),
        // Grants: `principal LEVEL, ...`.
        Value::Array(items)
            if !items.is_empty() && items.iter().all(|i| i.get("level").is_some()) =>
        {
            items
                .iter()
                .map(|i| {
                    let who = ["user_name", "group_name", "service_principal_name"]
                        .iter()
                        .find_map(|f| i.get(*f))
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    format!(
                        "{who} {}",
                        i.get("level").and_then(Value::as_str).unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
        Value::String(s) if super::has_pending_reference(value) => {
            format!("\"{s}\" (known after apply)")
        }
        other => {
            let text = other.to_string();
            if text.chars().count() > INLINE {
                format!("{}…", text.chars().take(INLINE).collect::<String>())
            } else {
                text
            }
        }
    }
}

/// A field change: `path: before → after` (with `note` after it), or a line diff of long text.
fn change_lines(
    change: &FieldChange,
    note: Option<&str>,
    indent: &str,
    style: Style,
    out: &mut String,
) {
    let note = note.map(|n| format!("  [{n}]")).unwrap_or_default();
    match (&change.before, &change.after) {
        (Value::String(a), Value::String(b))
            if a.len() > INLINE || b.len() > INLINE || a.contains('\n') || b.contains('\n') =>
        {
            let _ = writeln!(out, "{indent}{}:{note}", change.path);
            let diff = similar::TextDiff::from_lines(a.as_str(), b.as_str());
            for op in diff.iter_all_changes() {
                let (sign, code) = match op.tag() {
                    similar::ChangeTag::Delete => ("-", "31"),
                    similar::ChangeTag::Insert => ("+", "32"),
                    similar::ChangeTag::Equal => (" ", "0"),
                };
                let line = format!("{indent}  {sign} {}", op.value().trim_end_matches('\n'));
                let _ = writeln!(
                    out,
                    "{}",
                    if code == "0" {
                        line
                    } else {
                        style.paint(code, &line)
                    }
                );
            }
        }
        (before, after) => {
            let _ = writeln!(
                out,
                "{indent}{}: {} → {}{note}",
                change.path,
                show(before),
                show(after)
            );
        }
    }
}

/// One line (or a few) describing an action's details; a field change an override of
/// `workspace` decides says so.
fn details(
    planned: &PlannedAction,
    workspace: &str,
    overrides: &Overrides,
    indent: &str,
    style: Style,
    out: &mut String,
) {
    match &planned.action {
        Action::Update { changes, .. } | Action::Replace { changes, .. } => {
            for change in changes {
                let note = overrides
                    .of_field(workspace, &planned.resource, &change.path)
                    .map(review::change_note);
                change_lines(change, note, indent, style, out);
            }
        }
        Action::Create { body } => {
            let fields = body.as_object().map(|m| m.len()).unwrap_or(0);
            let _ = writeln!(
                out,
                "{indent}{}{fields} fields",
                object_name(body)
                    .map(|n| format!("{} · ", show(n)))
                    .unwrap_or_default()
            );
        }
        Action::Delete { id, reason } => {
            let _ = writeln!(out, "{indent}id {id}: {reason}");
        }
        Action::SetPermissions {
            before,
            after,
            keep_owner,
            before_unread,
            ..
        } => {
            let show_grants = |g: &[crate::model::live::Grant]| {
                if g.is_empty() {
                    "(none)".to_string()
                } else {
                    g.iter()
                        .map(|g| format!("{} {}", g.principal.name(), g.level))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            let _ = writeln!(
                out,
                "{indent}{} → {}{}",
                if *before_unread {
                    "(not read: promotion sets them)".to_string()
                } else {
                    show_grants(before)
                },
                show_grants(after),
                if *keep_owner {
                    " (current owner kept)"
                } else {
                    ""
                }
            );
        }
        Action::PutSecret { key, reason, .. } => {
            let _ = writeln!(out, "{indent}{key} ({reason}; value hidden)");
        }
        Action::DeleteSecret { key, .. } => {
            let _ = writeln!(out, "{indent}{key}");
        }
        Action::PutAcl {
            principal,
            before,
            permission,
            ..
        } => {
            let _ = writeln!(
                out,
                "{indent}{principal}: {} → {permission}",
                before.as_deref().unwrap_or("(none)")
            );
        }
        Action::DeleteAcl {
            principal, before, ..
        } => {
            let _ = writeln!(out, "{indent}{principal}: {before} → (none)");
        }
        Action::Start { .. }
        | Action::Terminate { .. }
        | Action::CreateScope { .. }
        | Action::DeleteScope { .. } => {}
    }
}

/// The name an object's create request gives it (jobs, clusters, pools name it differently).
fn object_name(body: &Value) -> Option<&Value> {
    body.get("name")
        .or_else(|| body.get("cluster_name"))
        .or_else(|| body.get("instance_pool_name"))
}

fn summary_line(w: &super::WorkspacePlan) -> String {
    let counts = w.summary();
    let mut line = if counts.is_empty() {
        "no changes".to_string()
    } else {
        counts
            .iter()
            .map(|(verb, n)| format!("{n} {verb}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !w.not_compared.is_empty() {
        let _ = write!(line, " ({} secret(s) not compared)", w.not_compared.len());
    }
    line
}

/// What a plan says of the secrets it does not compare, once.
const NOT_COMPARED: &str = "secrets not compared: their sources are absent in this run, so they are neither changes nor written";

fn header(plan: &Plan) -> String {
    let roles: Vec<String> = plan
        .workspaces
        .iter()
        .map(|w| format!("{} {}", w.workspace, w.role.as_str()))
        .collect();
    let commit = if plan.config_commit.len() >= 7 && plan.config_commit != "working tree" {
        &plan.config_commit[..7]
    } else {
        plan.config_commit.as_str()
    };
    format!(
        "env {} · config {}{} · {}",
        plan.environment,
        commit,
        if plan.config_dirty { "+dirty" } else { "" },
        roles.join(", ")
    )
}

/// What the symbols before each action mean.
const LEGEND: &str = "+ create  ~ update  -/+ replace  - delete  ? not compared";

/// The plan as text for a terminal or a CI log: most important first (deletions, the branch's
/// own changes, replaces, updates, creates, then changes only the passive overrides make), then
/// the passive overrides of every resource that changes and what decided each.
pub fn text(plan: &Plan, origins: &Origins, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tandem plan · {}", header(plan));
    if let Some(files) = &plan.changed_files {
        let _ = writeln!(
            out,
            "changed since base: {}",
            if files.is_empty() {
                "(no config files)".to_string()
            } else {
                files.join(", ")
            }
        );
    }
    if plan.has_changes() {
        let _ = writeln!(out, "{LEGEND}");
    }
    let overrides = Overrides::of(plan);
    let width = plan
        .workspaces
        .iter()
        .map(|w| w.workspace.len())
        .chain(plan.failures.iter().map(|f| f.workspace.len()))
        .max()
        .unwrap_or(0);
    let entries = review::entries(plan, &overrides);
    for entry in &entries {
        let id = &entry.resource;
        let origin = origins
            .get(id)
            .map(|o| format!("  ({o})"))
            .unwrap_or_default();
        let mark = if entry.changed_in_branch {
            " [changed in this branch]"
        } else {
            ""
        };
        let _ = writeln!(out, "\n{}{origin}{mark}", style.paint("1", &id.to_string()));
        for (w, actions) in &entry.rows {
            for a in actions {
                let _ = writeln!(out, "  {:width$}  {}", w.workspace, style.verb(&a.action));
                let indent = format!("  {:width$}    ", "");
                details(a, &w.workspace, &overrides, &indent, style, &mut out);
            }
        }
    }
    if plan.not_compared().next().is_some() {
        let _ = writeln!(out, "\n{}", style.paint("1", NOT_COMPARED));
        for (workspace, s) in plan.not_compared() {
            let _ = writeln!(
                out,
                "  {workspace:width$}  {} {}",
                style.paint("2", "?"),
                s.describe()
            );
        }
    }
    overrides_text(plan, origins, &entries, width, style, &mut out);
    for w in &plan.workspaces {
        for note in &w.notes {
            let _ = writeln!(out, "\nnote: {}: {note}", w.workspace);
        }
    }
    let _ = writeln!(out);
    for w in &plan.workspaces {
        let _ = writeln!(out, "{:width$}  {}", w.workspace, summary_line(w));
    }
    for f in &plan.failures {
        let _ = writeln!(
            out,
            "{:width$}  {} {}",
            f.workspace,
            style.paint("31", &format!("{}:", f.label())),
            f.error
        );
    }
    out
}

/// The passive overrides of the resources that change (a resource changing anywhere shows its
/// overrides everywhere: the passive side may deliberately not follow the change); the rest
/// are counted.
fn overrides_text(
    plan: &Plan,
    origins: &Origins,
    entries: &[review::Entry],
    width: usize,
    style: Style,
    out: &mut String,
) {
    let touched: std::collections::HashSet<&ResourceId> =
        entries.iter().map(|e| &e.resource).collect();
    let mut shown = 0;
    let mut lines = String::new();
    for w in &plan.workspaces {
        let changing = review::changing_overrides(w);
        for o in w.overrides.iter().filter(|o| touched.contains(&o.resource)) {
            shown += 1;
            let configured = if o.configured.is_null() {
                String::new()
            } else {
                format!("; configured {}", show(&o.configured))
            };
            let change = changing
                .get(&(&o.resource, o.field.as_str()))
                .map(|c| format!(" — {}", style.paint("1", &format!("changes: {c}"))))
                .unwrap_or_default();
            let _ = writeln!(
                lines,
                "  {:width$}  {} {}: {} ({}{configured}){change}",
                w.workspace,
                o.resource,
                o.field,
                show(&o.applied),
                review::decided_by(o, origins.get(&o.resource).map(String::as_str)),
            );
        }
    }
    let in_force: usize = plan.workspaces.iter().map(|w| w.overrides.len()).sum();
    if in_force > shown {
        let _ = writeln!(
            out,
            "\n{} passive override(s) in force on unchanged resources (see --format json)",
            in_force - shown
        );
    }
    if shown > 0 {
        let _ = writeln!(
            out,
            "\n{} (what each passive workspace gets instead of the configuration, and what decided it)",
            style.paint("1", "passive overrides")
        );
        out.push_str(&lines);
    }
}
