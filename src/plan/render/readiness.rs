//! `tandem readiness` as text: the verdict first, then one line per check.

use crate::plan::report::ReadinessReport;

/// The readiness report for people.
pub fn readiness(report: &ReadinessReport) -> String {
    let checks = &report.checks;
    let verdict = if report.ready {
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
    };
    let mut out = format!("{verdict}\nenv {}\n\n", report.environment);
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    let name_width = checks.iter().map(|c| c.workspace.len()).max().unwrap_or(0);
    for c in checks {
        let mark = match (c.ok, c.error) {
            (true, _) => "ok   ",
            (false, false) => "FAIL ",
            (false, true) => "ERROR",
        };
        out.push_str(&format!(
            "{mark}  {:name_width$}  {:width$}  {}\n",
            c.workspace, c.check, c.detail
        ));
    }
    out
}
