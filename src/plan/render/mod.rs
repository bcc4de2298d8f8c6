//! Plans for people (text, with colour on a terminal) and for pull requests (Markdown, capped
//! under GitHub's comment limit). JSON is the [`super::Plan`] itself, serialised.

mod compare;
mod drift;
mod readiness;
mod status;

pub use compare::compare;
pub use drift::drift;
pub use readiness::readiness;
pub use status::status;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::{Action, FieldChange, Plan, PlannedAction, WorkspacePlan};
use crate::model::ResourceId;

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

    fn verb(&self, action: &Action) -> String {
        let verb = action.verb();
        match action {
            Action::Create { .. } | Action::CreateScope { .. } | Action::Start { .. } => {
                self.paint("32", verb)
            }
            a if a.is_destructive() => self.paint("31", verb),
            _ => self.paint("33", verb),
        }
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

fn change_lines(change: &FieldChange, indent: &str, style: Style, out: &mut String) {
    match (&change.before, &change.after) {
        (Value::String(a), Value::String(b))
            if a.len() > INLINE || b.len() > INLINE || a.contains('\n') || b.contains('\n') =>
        {
            let _ = writeln!(out, "{indent}{}:", change.path);
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
                "{indent}{}: {} → {}",
                change.path,
                show(before),
                show(after)
            );
        }
    }
}

/// One line (or a few) describing an action's details.
fn details(action: &Action, indent: &str, style: Style, out: &mut String) {
    match action {
        Action::Update { changes, .. } | Action::Replace { changes, .. } => {
            for change in changes {
                change_lines(change, indent, style, out);
            }
        }
        Action::Create { body } => {
            let fields = body.as_object().map(|m| m.len()).unwrap_or(0);
            let name = body
                .get("name")
                .or_else(|| body.get("cluster_name"))
                .or_else(|| body.get("instance_pool_name"));
            let _ = writeln!(
                out,
                "{indent}{}{fields} fields",
                name.map(|n| format!("{} · ", show(n))).unwrap_or_default()
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

/// One resource's actions, per workspace.
type ResourceRows<'a> = Vec<(&'a WorkspacePlan, Vec<&'a PlannedAction>)>;

/// Resources in apply order of first appearance, each with every workspace's actions.
fn grouped(plan: &Plan) -> Vec<(ResourceId, ResourceRows<'_>)> {
    // One pass with an index: plans of thousands of resources made a scan per resource slow.
    let mut index: std::collections::HashMap<&ResourceId, usize> = Default::default();
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

fn summary_line(w: &WorkspacePlan) -> String {
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

/// The plan as text for a terminal or a CI log.
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
    let changed: BTreeSet<&ResourceId> = plan.changed_resources.iter().collect();
    let width = plan
        .workspaces
        .iter()
        .map(|w| w.workspace.len())
        .chain(plan.failures.iter().map(|f| f.workspace.len()))
        .max()
        .unwrap_or(0);
    for (id, per) in grouped(plan) {
        let origin = origins
            .get(&id)
            .map(|o| format!("  ({o})"))
            .unwrap_or_default();
        let mark = if changed.contains(&id) {
            " [changed in this branch]"
        } else {
            ""
        };
        let _ = writeln!(out, "\n{}{origin}{mark}", style.paint("1", &id.to_string()));
        for (w, actions) in per {
            for a in actions {
                let _ = writeln!(out, "  {:width$}  {}", w.workspace, style.verb(&a.action));
                details(&a.action, &format!("  {:width$}    ", ""), style, &mut out);
            }
        }
    }
    if plan.not_compared().next().is_some() {
        let _ = writeln!(out, "\n{}", style.paint("1", NOT_COMPARED));
        for (workspace, s) in plan.not_compared() {
            let _ = writeln!(
                out,
                "  {workspace:width$}  {} {}",
                style.paint("33", "~"),
                s.describe()
            );
        }
    }
    // Overrides are shown for resources that change; the rest are counted.
    // A resource changing anywhere shows its overrides everywhere: the passive side may
    // deliberately not follow the change.
    let touched = |_: &WorkspacePlan, id: &ResourceId| {
        plan.workspaces
            .iter()
            .any(|w| w.actions.iter().any(|a| &a.resource == id))
    };
    let overrides: Vec<_> = plan
        .workspaces
        .iter()
        .flat_map(|w| {
            w.overrides
                .iter()
                .filter(move |o| touched(w, &o.resource))
                .map(move |o| (w, o))
        })
        .collect();
    let in_force: usize = plan.workspaces.iter().map(|w| w.overrides.len()).sum();
    if in_force > overrides.len() {
        let _ = writeln!(
            out,
            "
{} passive override(s) in force on unchanged resources (see --format json)",
            in_force - overrides.len()
        );
    }
    if !overrides.is_empty() {
        let _ = writeln!(out, "\n{}", style.paint("1", "passive overrides"));
        for (w, o) in overrides {
            let source = match o.source {
                crate::policy::OverrideSource::Passive => "built-in",
                crate::policy::OverrideSource::PassiveBlock => "its passive: block",
            };
            let _ = writeln!(
                out,
                "  {:width$}  {} {}: {} → {} ({source})",
                w.workspace,
                o.resource,
                o.field,
                show(&o.configured),
                show(&o.applied)
            );
        }
    }
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

/// GitHub's limit for a comment is 65,536 characters; stay clearly under it.
pub const MARKDOWN_LIMIT: usize = 65_000;

/// The plan as Markdown for a pull-request comment: a summary table, then a collapsible
/// section per resource; past the limit the tail is summarised and the comment says so.
pub fn markdown(plan: &Plan, origins: &Origins) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "### tandem plan · {}\n", header(plan));
    if let Some(files) = &plan.changed_files {
        let _ = writeln!(
            head,
            "Config files changed in this branch: {}\n",
            if files.is_empty() {
                "none".to_string()
            } else {
                files
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    let _ = writeln!(head, "| workspace | role | changes |\n|---|---|---|");
    for w in &plan.workspaces {
        let _ = writeln!(
            head,
            "| {} | {} | {} |",
            w.workspace,
            w.role.as_str(),
            summary_line(w)
        );
    }
    for f in &plan.failures {
        let _ = writeln!(
            head,
            "| {} | ? | **{}:** {} |",
            f.workspace,
            f.label(),
            f.error.replace('|', "\\|")
        );
    }
    head.push('\n');
    // Before the resources: never cut off by the size limit.
    if plan.not_compared().next().is_some() {
        let _ = writeln!(head, "**{NOT_COMPARED}:**\n");
        for (workspace, s) in plan.not_compared() {
            let _ = writeln!(head, "- `{workspace}` ~ {}", s.describe());
        }
        head.push('\n');
    }
    let changed: BTreeSet<&ResourceId> = plan.changed_resources.iter().collect();
    let mut sections = Vec::new();
    for (id, per) in grouped(plan) {
        let mut s = String::new();
        let verbs: BTreeSet<&str> = per
            .iter()
            .flat_map(|(_, a)| a.iter().map(|a| a.action.verb()))
            .collect();
        let origin = origins
            .get(&id)
            .map(|o| format!(" — `{o}`"))
            .unwrap_or_default();
        let mark = if changed.contains(&id) { " ✎" } else { "" };
        let _ = writeln!(
            s,
            "<details><summary><code>{id}</code>: {}{origin}{mark}</summary>\n\n```diff",
            verbs.into_iter().collect::<Vec<_>>().join(", ")
        );
        for (w, actions) in per {
            for a in actions {
                let _ = writeln!(
                    s,
                    "{} {}: {}",
                    if a.action.is_destructive() { "-" } else { "+" },
                    w.workspace,
                    a.action.verb()
                );
                details(&a.action, "    ", Style::new(false), &mut s);
            }
        }
        let _ = writeln!(s, "```\n</details>\n");
        sections.push(s);
    }
    let mut out = head;
    let total = sections.len();
    for (i, section) in sections.iter().enumerate() {
        let tail = format!(
            "\n_… and {} more resources not shown (comment size limit); run `tandem plan` for the full plan._\n",
            total - i
        );
        if out.len() + section.len() + tail.len() > MARKDOWN_LIMIT {
            out.push_str(&tail);
            return out;
        }
        out.push_str(section);
    }
    if total == 0 && plan.failures.is_empty() {
        out.push_str(if plan.not_compared().next().is_some() {
            "No changes: every workspace matches the configuration, as far as this run can compare it.\n"
        } else {
            "No changes: every workspace matches the configuration.\n"
        });
    }
    out
}
