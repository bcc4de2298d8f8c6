//! The plan as a pull-request comment: a summary table, what each passive workspace really gets
//! (its overrides and what decided each), then the resources, most important first, each a
//! collapsible section (open when it deletes something or changes a passive override) with the
//! contents of what it creates. Past [`MARKDOWN_BUDGET`] the least important resources are left
//! out and counted; a deletion or a passive override changing is never left out (past the
//! budget it shrinks to one line).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use serde_json::Value;

use super::review::{self, Change, Counts, Entry, Overrides};
use super::{Origins, Style, details, header, object_name, show};
use crate::model::ResourceId;
use crate::model::passive::{Override, OverrideSource};
use crate::plan::{Action, Plan, WorkspacePlan};

/// GitHub's limit for a comment: 65,536 characters.
pub const MARKDOWN_LIMIT: usize = 65_536;

/// What the comment may fill with resources that can be left out; the rest of the limit is for
/// deletions and passive overrides changing, which never are.
pub const MARKDOWN_BUDGET: usize = 60_000;

/// What the passive-override tables may fill with overrides that do not change.
const OVERRIDES_BUDGET: usize = 15_000;

/// Room kept for the closing lines that say what was left out.
const TAIL: usize = 600;

/// The plan as Markdown for a pull-request comment.
pub fn markdown(plan: &Plan, origins: &Origins) -> String {
    let overrides = Overrides::of(plan);
    let entries = review::entries(plan, &overrides);
    let mut out = head(plan);
    overrides_section(plan, origins, &entries, &mut out);
    notes(plan, &mut out);
    if entries.is_empty() {
        if plan.failures.is_empty() {
            out.push_str("No changes: every workspace matches the configuration.\n");
        }
        return out;
    }
    let _ = writeln!(
        out,
        "`+` create · `!` update · `-/+` replace · `-` delete · `?` not compared · ✎ changed in this branch · ⚑ a passive override changes\n"
    );
    resources(&entries, origins, &overrides, &mut out);
    out
}

/// The title, the files the branch changed and one row per workspace.
fn head(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### tandem plan · {}\n", header(plan));
    if let Some(files) = &plan.changed_files {
        let _ = writeln!(
            out,
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
    out.push_str(
        "| workspace | role | create | update | replace | delete | passive overrides | secrets not compared |\n\
         |---|---|--:|--:|--:|--:|--:|--:|\n",
    );
    for w in &plan.workspaces {
        let counts = Counts::of(w);
        let changing = review::changing_overrides(w).len();
        let overrides = match (w.overrides.len(), changing) {
            (n, 0) => n.to_string(),
            (n, c) => format!("{n} (**{c} changing** ⚑)"),
        };
        let delete = match counts.delete {
            0 => "0".to_string(),
            n => format!("**{n}**"),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {delete} | {overrides} | {} |",
            w.workspace,
            w.role.as_str(),
            counts.create,
            counts.update,
            counts.replace,
            counts.not_compared
        );
    }
    for f in &plan.failures {
        let _ = writeln!(
            out,
            "| {} | ? | **error:** {} |||||||",
            f.workspace,
            cell(&f.error)
        );
    }
    out.push('\n');
    out
}

/// A table cell: no `|` or line break may end it early.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Per passive workspace, a table of what it gets instead of the configuration for each
/// resource the plan touches, and what decided it: overrides changing first (never left out),
/// then those a `passive:` block decides, then the built-in ones, until [`OVERRIDES_BUDGET`];
/// the rest are counted by field and value.
fn overrides_section(plan: &Plan, origins: &Origins, entries: &[Entry], out: &mut String) {
    let touched: HashSet<&ResourceId> = entries.iter().map(|e| &e.resource).collect();
    let mut section = String::new();
    let mut budget = OVERRIDES_BUDGET;
    let mut unchanged_resources = 0;
    for w in &plan.workspaces {
        let changing = review::changing_overrides(w);
        let mut rows: Vec<(&Override, Option<&String>)> = w
            .overrides
            .iter()
            .filter(|o| touched.contains(&o.resource))
            .map(|o| (o, changing.get(&(&o.resource, o.field.as_str()))))
            .collect();
        unchanged_resources += w.overrides.len() - rows.len();
        if rows.is_empty() {
            continue;
        }
        // Stable: the plan's order among equals.
        rows.sort_by_key(|(o, change)| (change.is_none(), o.source == OverrideSource::Passive));
        let _ = writeln!(
            section,
            "**{}** ({}) gets:\n\n| resource | field | {} gets | decided by | configuration | this plan |\n|---|---|---|---|---|---|",
            w.workspace,
            w.role.as_str(),
            w.workspace
        );
        let mut left_out: BTreeMap<(String, String, &str), usize> = BTreeMap::new();
        for (o, change) in rows {
            let row = override_row(o, change, origins);
            if change.is_some() || row.len() <= budget {
                budget = budget.saturating_sub(row.len());
                section.push_str(&row);
            } else {
                let source = if o.source == OverrideSource::Passive {
                    "built-in"
                } else {
                    "passive: block"
                };
                *left_out
                    .entry((o.field.clone(), show(&o.applied), source))
                    .or_default() += 1;
            }
        }
        for ((field, applied, source), n) in left_out {
            let _ = writeln!(
                section,
                "| _{n} more_ | {field} | {} | {source} | | |",
                cell(&applied)
            );
        }
        section.push('\n');
    }
    if !section.is_empty() {
        out.push_str(
            "#### Passive overrides\n\nWhat each passive workspace really gets where its role \
             overrides the configuration, and what decided it (the built-in passive values or the \
             resource's `passive:` block).\n\n",
        );
        out.push_str(&section);
    }
    if unchanged_resources > 0 {
        let _ = writeln!(
            out,
            "_{unchanged_resources} more passive override(s) in force on resources this plan does not change._\n"
        );
    }
}

/// One row of a passive-override table.
fn override_row(o: &Override, change: Option<&String>, origins: &Origins) -> String {
    let decided = match o.source {
        OverrideSource::Passive => "built-in".to_string(),
        OverrideSource::PassiveBlock => match origins.get(&o.resource) {
            Some(origin) => format!("`passive:` block, `{origin}`"),
            None => "`passive:` block".to_string(),
        },
    };
    let configured = if o.configured.is_null() {
        "(not set)".to_string()
    } else {
        cell(&show(&o.configured))
    };
    let this_plan = change
        .map(|c| format!("⚑ **changes:** {}", cell(c)))
        .unwrap_or_default();
    format!(
        "| `{}` | {} | **{}** | {decided} | {configured} | {this_plan} |\n",
        o.resource,
        o.field,
        cell(&show(&o.applied))
    )
}

/// What the operator should know (a pending fence, an unreachable workspace, ...).
fn notes(plan: &Plan, out: &mut String) {
    for w in &plan.workspaces {
        for note in &w.notes {
            let _ = writeln!(out, "> **note** ({}): {}\n", w.workspace, note);
        }
    }
}

/// The resources, most important first, under headings for deletions and the rest; those that
/// can be left out are, once the budget is spent, and counted at the end.
fn resources(entries: &[Entry], origins: &Origins, overrides: &Overrides, out: &mut String) {
    let sections: Vec<(String, String)> = entries
        .iter()
        .map(|e| (section(e, origins, overrides), compact(e, origins)))
        .collect();
    // What must be shown is paid for first, at its smallest; the budget left shows it whole
    // and then as many others as fit, in order of importance.
    let must_compact: usize = entries
        .iter()
        .zip(&sections)
        .filter(|(e, _)| e.must_show())
        .map(|(_, (_, c))| c.len())
        .sum();
    let mut room = MARKDOWN_BUDGET.saturating_sub(out.len() + must_compact + TAIL);
    let mut hard_room = MARKDOWN_LIMIT.saturating_sub(out.len() + TAIL);
    let mut left_out: BTreeMap<Change, usize> = BTreeMap::new();
    let mut must_cut = 0;
    let mut filling = true;
    let deletions = entries.iter().filter(|e| e.deletes).count();
    let mut headed_deletions = false;
    let mut headed_changes = false;
    for (e, (full, small)) in entries.iter().zip(&sections) {
        let heading = if e.deletes && !headed_deletions {
            headed_deletions = true;
            format!("#### Deletions ({deletions})\n\n")
        } else if !e.deletes && !headed_changes {
            headed_changes = true;
            format!("#### Changes ({})\n\n", entries.len() - deletions)
        } else {
            String::new()
        };
        room = room.saturating_sub(heading.len());
        hard_room = hard_room.saturating_sub(heading.len());
        out.push_str(&heading);
        let chosen = if e.must_show() {
            if full.len() <= room + small.len() {
                room = (room + small.len()).saturating_sub(full.len());
                Some(full)
            } else {
                Some(small)
            }
        } else if filling && full.len() <= room {
            room -= full.len();
            Some(full)
        } else {
            // Past the first that does not fit nothing less important is shown, so what is shown
            // is always the most important part of the plan.
            filling = false;
            None
        };
        match chosen {
            Some(text) if text.len() <= hard_room => {
                hard_room -= text.len();
                out.push_str(text);
            }
            Some(_) => must_cut += 1,
            None => {
                let headline = e.headline.unwrap_or(Change::Update);
                *left_out.entry(headline).or_default() += 1;
            }
        }
    }
    let left: usize = left_out.values().sum();
    if left > 0 {
        let what = left_out
            .iter()
            .map(|(change, n)| format!("{n} {}", change_word(*change, *n)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "\n_… and {left} less important resources not shown ({what}): the comment stays under GitHub's size limit. Every deletion and every passive override change is shown above; `tandem show PLANFILE` prints the whole plan._"
        );
    }
    if must_cut > 0 {
        let _ = writeln!(
            out,
            "\n**… and {must_cut} more deletions or passive override changes that GitHub's comment size limit cannot hold: read the whole plan with `tandem show PLANFILE` before merging.**"
        );
    }
}

/// `creates`, `updates`, ... for a count of resources left out.
fn change_word(change: Change, n: usize) -> &'static str {
    match (change, n == 1) {
        (Change::Create, true) => "create",
        (Change::Create, false) => "creates",
        (Change::Update, true) => "update",
        (Change::Update, false) => "updates",
        (Change::Replace, true) => "replace",
        (Change::Replace, false) => "replaces",
        (Change::Delete, true) => "deletion",
        (Change::Delete, false) => "deletions",
        (Change::NotCompared, _) => "not compared",
    }
}

/// The symbol of an entry's most important change.
fn entry_symbol(e: &Entry) -> &'static str {
    if e.deletes {
        Change::Delete.diff_symbol()
    } else {
        e.headline.unwrap_or(Change::Update).diff_symbol()
    }
}

/// `jobs.etl` — create, set permissions — `file:line` ✎ ⚑
fn title(e: &Entry, origins: &Origins) -> String {
    let mut verbs: Vec<&str> = Vec::new();
    for (_, actions) in &e.rows {
        for a in actions {
            if !verbs.contains(&a.action.verb()) {
                verbs.push(a.action.verb());
            }
        }
    }
    let origin = origins
        .get(&e.resource)
        .map(|o| format!(" — <code>{o}</code>"))
        .unwrap_or_default();
    format!(
        "{} <code>{}</code>: {}{origin}{}{}",
        entry_symbol(e),
        e.resource,
        verbs.join(", "),
        if e.changed_in_branch { " ✎" } else { "" },
        if e.changes_override { " ⚑" } else { "" }
    )
}

/// One resource in full: its actions per workspace as a `diff` block, then what it creates.
fn section(e: &Entry, origins: &Origins, overrides: &Overrides) -> String {
    let mut s = String::new();
    let open = if e.must_show() { " open" } else { "" };
    let _ = writeln!(
        s,
        "<details{open}><summary>{}</summary>\n\n```diff",
        title(e, origins)
    );
    for (w, actions) in &e.rows {
        for a in actions {
            let change = Change::of(&a.action);
            let _ = writeln!(
                s,
                "{} {}: {}",
                change.diff_symbol(),
                w.workspace,
                a.action.verb()
            );
            details(
                a,
                &w.workspace,
                overrides,
                "    ",
                Style::new(false),
                &mut s,
            );
        }
    }
    s.push_str("```\n");
    contents(e, &mut s);
    s.push_str("</details>\n\n");
    s
}

/// What a create (or replace) sends, collapsed: the first workspace's request in full, each
/// other's as the fields in which it differs (a passive workspace's overrides, per-workspace
/// variables). Secret values are never part of a request.
fn contents(e: &Entry, out: &mut String) {
    let bodies: Vec<(&WorkspacePlan, &Value)> = e
        .rows
        .iter()
        .flat_map(|(w, actions)| {
            actions.iter().filter_map(move |a| match &a.action {
                Action::Create { body } | Action::Replace { body, .. } => Some((*w, body)),
                _ => None,
            })
        })
        .collect();
    let Some((first, first_body)) = bodies.first() else {
        return;
    };
    let name = object_name(first_body)
        .map(|n| format!(" {}", show(n)))
        .unwrap_or_default();
    let yaml = serde_saphyr::to_string(first_body)
        .unwrap_or_else(|_| serde_json::to_string_pretty(first_body).unwrap_or_default());
    let _ = writeln!(
        out,
        "<details><summary>contents{name}</summary>\n\n{}:\n\n```yaml\n{}```\n",
        first.workspace,
        if yaml.ends_with('\n') {
            yaml
        } else {
            yaml + "\n"
        }
    );
    let mut flat_first = BTreeMap::new();
    flatten(first_body, String::new(), &mut flat_first);
    for (w, body) in &bodies[1..] {
        let mut flat = BTreeMap::new();
        flatten(body, String::new(), &mut flat);
        let differences: Vec<String> = flat
            .iter()
            .filter(|(path, value)| flat_first.get(*path) != Some(*value))
            .map(|(path, value)| format!("- `{path}`: `{value}`"))
            .chain(
                flat_first
                    .keys()
                    .filter(|path| !flat.contains_key(*path))
                    .map(|path| format!("- `{path}`: (not set)")),
            )
            .collect();
        if differences.is_empty() {
            let _ = writeln!(out, "{}: the same.\n", w.workspace);
        } else {
            let _ = writeln!(
                out,
                "{}: the same, except\n\n{}\n",
                w.workspace,
                differences.join("\n")
            );
        }
    }
    out.push_str("</details>\n");
}

/// The leaves of `value` by dotted path (list entries by position).
fn flatten(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, v) in map {
                flatten(v, join(key), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{path}[{i}]"), out);
            }
        }
        other => {
            out.insert(path, other.clone());
        }
    }
}

/// One resource in a line, for when the whole would not fit: what it does where.
fn compact(e: &Entry, origins: &Origins) -> String {
    let per_workspace: Vec<String> = e
        .rows
        .iter()
        .map(|(w, actions)| {
            let mut verbs: Vec<&str> = actions.iter().map(|a| a.action.verb()).collect();
            verbs.dedup();
            format!("{} {}", w.workspace, verbs.join(", "))
        })
        .collect();
    let origin = origins
        .get(&e.resource)
        .map(|o| format!(" (`{o}`)"))
        .unwrap_or_default();
    format!(
        "- `{}`{origin}{}: {}\n\n",
        e.resource,
        if e.changes_override { " ⚑" } else { "" },
        per_workspace.join("; ")
    )
}
