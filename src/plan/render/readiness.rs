//! `tandem readiness` as text, or as Markdown for an issue or a chat message: the verdict
//! first, then one line (or table row) per check.

use std::fmt::Write as _;

use crate::plan::report::{Check, ReadinessReport};

/// The readiness report for people (`markdown`: a heading and a table).
pub fn readiness(report: &ReadinessReport, markdown: bool) -> String {
    if markdown {
        readiness_markdown(report)
    } else {
        readiness_text(report)
    }
}

/// The verdict: READY, or NOT READY / ERROR with the checks that failed.
fn verdict(report: &ReadinessReport) -> String {
    let checks = &report.checks;
    if report.ready {
        "READY: failover would work now".to_string()
    } else {
        let failing: Vec<String> = checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| format!("{}: {}", c.workspace, c.check))
            .collect();
        format!(
            "{}: {}",
            if report.error { "ERROR" } else { "NOT READY" },
            failing.join("; ")
        )
    }
}

/// How a check ended: `ok`, `FAIL`, or `ERROR` when it could not be carried out.
fn outcome(c: &Check) -> &'static str {
    match (c.ok, c.error) {
        (true, _) => "ok",
        (false, false) => "FAIL",
        (false, true) => "ERROR",
    }
}

fn readiness_text(report: &ReadinessReport) -> String {
    let checks = &report.checks;
    let mut out = format!("{}\nenv {}\n\n", verdict(report), report.environment);
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    let name_width = checks.iter().map(|c| c.workspace.len()).max().unwrap_or(0);
    for c in checks {
        let _ = writeln!(
            out,
            "{:5}  {:name_width$}  {:width$}  {}",
            outcome(c),
            c.workspace,
            c.check,
            c.detail
        );
    }
    out
}

fn readiness_markdown(report: &ReadinessReport) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = format!(
        "### tandem readiness · env {}\n\n**{}**\n\n",
        report.environment,
        cell(&verdict(report))
    );
    out.push_str("| | workspace | check | found |\n|---|---|---|---|\n");
    for c in &report.checks {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            outcome(c),
            cell(&c.workspace),
            c.check,
            cell(&c.detail)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(workspace: &str, check: &'static str, ok: bool, detail: &str) -> Check {
        Check {
            check,
            workspace: workspace.into(),
            ok,
            detail: detail.into(),
            error: false,
        }
    }

    #[test]
    fn markdown_gives_the_verdict_then_a_row_per_check_with_cells_escaped() {
        let report = ReadinessReport::of(
            "prod",
            vec![
                check("secondary", "principals", true, "all 4 exist"),
                check("secondary", "pools", false, "pool a|b: 0 of 2 idle"),
            ],
        );
        assert_eq!(
            readiness(&report, true),
            "### tandem readiness · env prod\n\n\
             **NOT READY: secondary: pools**\n\n\
             | | workspace | check | found |\n|---|---|---|---|\n\
             | ok | secondary | principals | all 4 exist |\n\
             | FAIL | secondary | pools | pool a\\|b: 0 of 2 idle |\n"
        );
        assert!(readiness(&report, false).starts_with("NOT READY: secondary: pools\nenv prod\n"));
    }
}
