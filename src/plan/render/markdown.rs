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

/// What the passive-override tables may fill with overrides this plan changes; past it they
/// are counted (each one's resource is still shown, as every resource changing one is).
const CHANGING_OVERRIDES_ROOM: usize = 25_000;

/// Room kept for the closing lines that say what was left out.
const TAIL: usize = 600;

/// The plan as Markdown for a pull-request comment.
pub fn markdown(plan: &Plan, origins: &Origins) -> String {
    let overrides = Overrides::of(plan);
    let entries = review::entries(plan, &overrides);
    let mut out = head(plan);
    not_compared(plan, &mut out);
    overrides_section(plan, origins, &entries, &mut out);
    notes(plan, &mut out);
    if entries.is_empty() {
        if plan.failures.is_empty() {
            out.push_str(if plan.not_compared().next().is_some() {
                "No changes: every workspace matches the configuration, as far as this run can compare it.\n"
            } else {
                "No changes: every workspace matches the configuration.\n"
            });
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
            "| {} | ? | **{}:** {} | | | | | |",
            f.workspace,
            f.label(),
            cell(&f.error)
        );
    }
    out.push('\n');
    out
}

/// Text for an HTML context (a summary line): no tag can start or end in it.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A fenced code block of `lang` holding `body`, its fence longer than any run of backticks in
/// `body` so that nothing in it can close the block early.
fn fenced(lang: &str, body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let newline = if body.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{lang}\n{body}{newline}{fence}\n")
}

/// Inline code holding `text`, delimited by more backticks than any run in it.
fn inline(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if longest > 0 { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// The secrets this run could not compare, before the resources: never cut by the size limit.
fn not_compared(plan: &Plan, out: &mut String) {
    if plan.not_compared().next().is_none() {
        return;
    }
    let _ = writeln!(out, "**{}:**\n", super::NOT_COMPARED);
    for (workspace, s) in plan.not_compared() {
        let _ = writeln!(out, "- `{workspace}` ? {}", html(&s.describe()));
    }
    out.push('\n');
}

/// A table cell: no `|` or line break may end it early.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Built-in overrides giving this many resources or more the same value share one row.
const SHARED_ROW_FROM: usize = 4;

/// Per passive workspace, a table of what it gets instead of the configuration for each
/// resource the plan touches, and what decided it: overrides changing first (until
/// [`CHANGING_OVERRIDES_ROOM`]: the sections of their resources are never left out), then those
/// a `passive:` block decides, then the built-in ones (one row for many resources
/// given the same value), until [`OVERRIDES_BUDGET`]; the rest are counted by field and value.
fn overrides_section(plan: &Plan, origins: &Origins, entries: &[Entry], out: &mut String) {
    let touched: HashSet<&ResourceId> = entries.iter().map(|e| &e.resource).collect();
    let mut section = String::new();
    let mut budget = OVERRIDES_BUDGET;
    let mut changing_room = CHANGING_OVERRIDES_ROOM;
    let mut unlisted = 0;
    for w in &plan.workspaces {
        let changing = review::changing_overrides(w);
        let listed: Vec<&Override> = w
            .overrides
            .iter()
            .filter(|o| touched.contains(&o.resource))
            .collect();
        unlisted += w.overrides.len() - listed.len();
        if listed.is_empty() {
            continue;
        }
        let _ = writeln!(
            section,
            "**{}** ({}) gets:\n\n| resource | field | {} gets | decided by | configuration | this plan |\n|---|---|---|---|---|---|",
            w.workspace,
            w.role.as_str(),
            w.workspace
        );
        // Changing first, then the passive: blocks' (the plan's order among equals), then the
        // built-in ones, many resources given the same value sharing a row.
        let (changes, unchanged): (Vec<&Override>, Vec<&Override>) = listed
            .into_iter()
            .partition(|o| changing.contains_key(&(&o.resource, o.field.as_str())));
        let mut rows: Vec<(String, bool)> = changes
            .into_iter()
            .map(|o| {
                let change = changing.get(&(&o.resource, o.field.as_str()));
                (override_row(o, change, origins), true)
            })
            .collect();
        let (blocks, built_ins): (Vec<&Override>, Vec<&Override>) = unchanged
            .into_iter()
            .partition(|o| o.source == OverrideSource::PassiveBlock);
        rows.extend(
            blocks
                .into_iter()
                .map(|o| (override_row(o, None, origins), false)),
        );
        let mut built_in: indexmap::IndexMap<(&str, String, String), Vec<&Override>> =
            indexmap::IndexMap::new();
        for o in built_ins {
            let same = (
                o.field.as_str(),
                o.applied.to_string(),
                o.configured.to_string(),
            );
            built_in.entry(same).or_default().push(o);
        }
        for group in built_in.values() {
            if group.len() >= SHARED_ROW_FROM {
                rows.push((shared_row(group), false));
            } else {
                rows.extend(
                    group
                        .iter()
                        .map(|o| (override_row(o, None, origins), false)),
                );
            }
        }
        let (mut left_out, mut changes_left_out) = (0, 0);
        for (row, changes) in rows {
            if changes && row.len() <= changing_room {
                changing_room -= row.len();
                section.push_str(&row);
            } else if changes {
                changes_left_out += 1;
            } else if row.len() <= budget {
                budget -= row.len();
                section.push_str(&row);
            } else {
                left_out += 1;
            }
        }
        if changes_left_out > 0 {
            let _ = writeln!(
                section,
                "| _{changes_left_out} more overrides this plan changes: each resource's section below shows it (⚑)_ | | | | | |"
            );
        }
        if left_out > 0 {
            let _ = writeln!(
                section,
                "| _{left_out} more rows of overrides that do not change, left out for size_ | | | | | |"
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
    if unlisted > 0 {
        let _ = writeln!(
            out,
            "_{unlisted} {}passive override(s) in force on resources this plan does not change._\n",
            if section.is_empty() { "" } else { "other " }
        );
    }
}

/// One row for built-in overrides giving many resources the same value.
fn shared_row(group: &[&Override]) -> String {
    let Some(first) = group.first() else {
        return String::new();
    };
    let names: Vec<String> = group
        .iter()
        .take(3)
        .map(|o| format!("`{}`", o.resource))
        .collect();
    let configured = if first.configured.is_null() {
        "(not set)".to_string()
    } else {
        cell(&show(&first.configured))
    };
    format!(
        "| {} resources: {}, … | {} | **{}** | built-in | {configured} | |\n",
        group.len(),
        names.join(", "),
        first.field,
        cell(&show(&first.applied))
    )
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
        .map(|o| format!(" — <code>{}</code>", html(o)))
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
    let mut diff = String::new();
    for (w, actions) in &e.rows {
        for a in actions {
            let change = Change::of(&a.action);
            let _ = writeln!(
                diff,
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
                &mut diff,
            );
        }
    }
    let open = if e.must_show() { " open" } else { "" };
    let mut s = format!(
        "<details{open}><summary>{}</summary>\n\n{}",
        title(e, origins),
        fenced("diff", &diff)
    );
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
        .map(|n| format!(" {}", html(&show(n))))
        .unwrap_or_default();
    let yaml = serde_saphyr::to_string(first_body)
        .unwrap_or_else(|_| serde_json::to_string_pretty(first_body).unwrap_or_default());
    let _ = writeln!(
        out,
        "<details><summary>contents{name}</summary>\n\n{}:\n\n{}",
        first.workspace,
        fenced("yaml", &yaml)
    );
    let mut flat_first = BTreeMap::new();
    flatten(first_body, String::new(), &mut flat_first);
    for (w, body) in &bodies[1..] {
        let mut flat = BTreeMap::new();
        flatten(body, String::new(), &mut flat);
        let differences: Vec<String> = flat
            .iter()
            .filter(|(path, value)| flat_first.get(*path) != Some(*value))
            .map(|(path, value)| format!("- `{path}`: {}", inline(&value.to_string())))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;
    use crate::plan::render::review::tests::{create, delete, job, plan, workspace};

    /// A plan deleting `deletions` jobs and creating `creates`, on one workspace.
    fn deleting(deletions: usize, creates: usize) -> Plan {
        let actions = (0..deletions)
            .map(|i| (job(&format!("gone_{i:05}")), delete()))
            .chain((0..creates).map(|i| (job(&format!("new_{i:05}")), create())))
            .collect();
        plan(vec![workspace(
            "primary",
            Role::Active,
            actions,
            Vec::new(),
        )])
    }

    #[test]
    fn deletions_past_the_budget_shrink_to_a_line_and_are_all_shown() {
        let md = markdown(&deleting(800, 50), &Origins::new());
        assert!(md.len() <= MARKDOWN_LIMIT, "{}", md.len());
        for i in 0..800 {
            assert!(
                md.contains(&format!("jobs.gone_{i:05}")),
                "gone_{i:05} left out"
            );
        }
        assert!(md.contains("<details open><summary>- <code>jobs.gone_00000</code>"));
        assert!(
            md.contains("- `jobs.gone_00799`: primary delete"),
            "the last ones in a line: {}",
            &md[md.len() - 600..]
        );
        assert!(
            md.contains("_… and 50 less important resources not shown (50 creates)"),
            "{}",
            &md[md.len() - 400..]
        );
    }

    #[test]
    fn deletions_beyond_what_a_comment_can_hold_are_counted_in_bold() {
        let md = markdown(&deleting(3000, 0), &Origins::new());
        assert!(md.len() <= MARKDOWN_LIMIT, "{}", md.len());
        // Each deletion shown names its job once (its section's title or its line).
        let shown = md.matches("jobs.gone_").count();
        let cut: usize = md
            .rsplit("**… and ")
            .next()
            .and_then(|t| t.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .expect("the count of deletions that did not fit");
        assert_eq!(shown + cut, 3000, "shown {shown}, cut {cut}");
        assert!(cut > 0);
    }

    #[test]
    fn thousands_of_override_changes_stay_under_the_limit() {
        use crate::model::passive::{Override, OverrideSource};
        use crate::plan::FieldChange;
        let keys: Vec<String> = (0..3000).map(|i| format!("unpaused_{i:05}")).collect();
        let actions = keys
            .iter()
            .map(|k| {
                let change = FieldChange {
                    path: "max_concurrent_runs".into(),
                    before: serde_json::json!(2),
                    after: serde_json::json!(0),
                };
                let update = Action::Update {
                    id: "1".into(),
                    changes: vec![change],
                    body: serde_json::json!({}),
                };
                (job(k), update)
            })
            .collect();
        let overrides = keys
            .iter()
            .map(|k| Override {
                resource: job(k),
                field: "max_concurrent_runs".into(),
                configured: serde_json::json!(2),
                applied: serde_json::json!(0),
                source: OverrideSource::Passive,
            })
            .collect();
        let plan = plan(vec![workspace(
            "secondary",
            Role::Passive,
            actions,
            overrides,
        )]);
        let md = markdown(&plan, &Origins::new());
        assert!(md.len() <= MARKDOWN_LIMIT, "{}", md.len());
        assert!(md.contains("more overrides this plan changes: each resource's section below"));
        assert!(md.contains("**… and "), "the rest counted in bold");
    }

    #[test]
    fn nothing_in_a_value_can_close_a_block_or_a_tag_early() {
        assert_eq!(fenced("yaml", "a: 1\n"), "```yaml\na: 1\n```\n");
        assert_eq!(
            fenced("yaml", "d: |\n  ```sh\n  x\n  ```\n"),
            "````yaml\nd: |\n  ```sh\n  x\n  ```\n````\n"
        );
        assert_eq!(inline("\"a\""), "`\"a\"`");
        assert_eq!(inline("a`b"), "`` a`b ``");
        assert_eq!(html("x</summary><b>"), "x&lt;/summary&gt;&lt;b&gt;");
    }

    #[test]
    fn a_plan_without_changes_says_so() {
        let md = markdown(&deleting(0, 0), &Origins::new());
        assert!(md.contains("No changes: every workspace matches the configuration."));
        assert!(!md.contains("#### Changes"));
    }
}
