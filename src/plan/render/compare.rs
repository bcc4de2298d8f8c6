//! `tandem compare` as text, or as Markdown for an issue or a chat message.

use std::fmt::Write as _;

use serde_json::Value;

use crate::plan::report::{CompareReport, ObjectDifference};

/// What the comparison leaves out, said under its heading.
const SCOPE: &str = "object IDs and the fields tandem sets by role (a passive job's concurrency, paused schedules and held-back grants, a passive pool's idle instances, cluster states) are not compared; secret values cannot be read, only their keys";

/// The comparison for people (`markdown`: a table, one row per differing field).
pub fn compare(report: &CompareReport, markdown: bool) -> String {
    if markdown {
        compare_markdown(report)
    } else {
        compare_text(report)
    }
}

/// A value as shown: absent, a secret key, or its JSON.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "(absent)".into(),
        other => other.to_string(),
    }
}

/// Who manages the object: tandem on both sides, on one, or nowhere.
fn managed(d: &ObjectDifference, workspaces: &[String; 2]) -> String {
    match d.managed_in.as_slice() {
        [] => "unmanaged".into(),
        [one] if d.only_in.is_none() => {
            let other = workspaces.iter().find(|w| *w != one).map_or("", |w| w);
            format!("managed by tandem in {one}, not in {other}")
        }
        all => format!("managed by tandem in {}", all.join(", ")),
    }
}

fn compare_text(report: &CompareReport) -> String {
    let [a, b] = &report.workspaces;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tandem compare · env {} · {a} ↔ {b}",
        report.environment
    );
    let _ = writeln!(out, "({SCOPE})");
    if report.differences.is_empty() {
        let _ = writeln!(out, "\nno differences: {a} and {b} hold the same objects");
        return out;
    }
    let width = a.len().max(b.len()) + 1;
    for d in &report.differences {
        let head = format!("{} \"{}\"", d.resource, d.name);
        match &d.only_in {
            Some(ws) => {
                let _ = writeln!(
                    out,
                    "\n{head}: only in {ws} ({})",
                    managed(d, &report.workspaces)
                );
            }
            None => {
                let _ = writeln!(out, "\n{head} ({})", managed(d, &report.workspaces));
            }
        }
        for f in &d.fields {
            let _ = writeln!(out, "  {}", f.path);
            let _ = writeln!(out, "    {:width$} {}", format!("{a}:"), show(&f.a));
            let _ = writeln!(out, "    {:width$} {}", format!("{b}:"), show(&f.b));
        }
    }
    let _ = writeln!(out, "\n{} object(s) differ", report.differences.len());
    out
}

fn compare_markdown(report: &CompareReport) -> String {
    let [a, b] = &report.workspaces;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### tandem compare · env {} · `{a}` ↔ `{b}`\n\n_{SCOPE}._\n",
        report.environment
    );
    if report.differences.is_empty() {
        let _ = writeln!(
            out,
            "No differences: `{a}` and `{b}` hold the same objects."
        );
        return out;
    }
    let _ = writeln!(
        out,
        "| resource | name | what differs | {a} | {b} |\n|---|---|---|---|---|"
    );
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let code = |v: &Value| format!("`{}`", cell(&show(v)));
    for d in &report.differences {
        let resource = format!("`{}` | {}", d.resource, cell(&d.name));
        let present = |ws: &str| d.only_in.as_deref().is_none_or(|o| o == ws);
        let side = |ws: &str| if present(ws) { "present" } else { "absent" };
        let one_sided = d.only_in.is_none() && d.managed_in.len() == 1;
        if d.only_in.is_some() || d.fields.is_empty() || one_sided {
            let what = match &d.only_in {
                Some(ws) => format!("only in {ws} ({})", managed(d, &report.workspaces)),
                None => managed(d, &report.workspaces),
            };
            let _ = writeln!(out, "| {resource} | {what} | {} | {} |", side(a), side(b));
        }
        for f in &d.fields {
            let _ = writeln!(
                out,
                "| {resource} | `{}` | {} | {} |",
                cell(&f.path),
                code(&f.a),
                code(&f.b)
            );
        }
    }
    let _ = writeln!(out, "\n{} object(s) differ.", report.differences.len());
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{Kind, ResourceId};
    use crate::plan::report::FieldDifference;

    fn report() -> CompareReport {
        let id = |kind, key: &str| ResourceId {
            kind,
            key: key.into(),
        };
        CompareReport {
            format_version: 1,
            environment: "prod".into(),
            workspaces: ["primary".into(), "secondary".into()],
            differences: vec![
                ObjectDifference {
                    resource: id(Kind::Jobs, "backfill"),
                    name: "Backfill".into(),
                    only_in: Some("primary".into()),
                    managed_in: vec![],
                    fields: vec![],
                },
                ObjectDifference {
                    resource: id(Kind::Jobs, "ingest"),
                    name: "Ingest | daily".into(),
                    only_in: None,
                    managed_in: vec!["primary".into()],
                    fields: vec![FieldDifference {
                        path: "tasks[t].notebook_task.base_parameters.root".into(),
                        a: json!("east"),
                        b: Value::Null,
                    }],
                },
            ],
        }
    }

    #[test]
    fn text_shows_each_object_and_each_side_of_each_field() {
        let text = compare(&report(), false);
        assert!(
            text.starts_with("tandem compare · env prod · primary ↔ secondary\n"),
            "{text}"
        );
        assert!(
            text.contains("\njobs.backfill \"Backfill\": only in primary (unmanaged)\n"),
            "{text}"
        );
        assert!(
            text.contains("jobs.ingest \"Ingest | daily\" (managed by tandem in primary, not in secondary)\n  tasks[t].notebook_task.base_parameters.root\n    primary:   \"east\"\n    secondary: (absent)\n"),
            "{text}"
        );
        assert!(text.ends_with("\n2 object(s) differ\n"), "{text}");
        let none = CompareReport {
            differences: vec![],
            ..report()
        };
        assert!(compare(&none, false).contains("no differences"));
    }

    #[test]
    fn markdown_is_one_row_per_difference_with_five_cells() {
        let markdown = compare(&report(), true);
        let rows: Vec<&str> = markdown.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(rows.len(), 4, "{markdown}");
        for row in &rows {
            assert_eq!(row.replace("\\|", "").matches('|').count(), 6, "{row}");
        }
        assert_eq!(
            rows[1],
            "| `jobs.backfill` | Backfill | only in primary (unmanaged) | present | absent |"
        );
        assert!(
            rows[2]
                .contains("| managed by tandem in primary, not in secondary | present | present |"),
            "{markdown}"
        );
        assert!(
            rows[3].contains("| `\"east\"` | `(absent)` |"),
            "{markdown}"
        );
    }
}
