//! `tandem drift` as text, or as Markdown for an issue or a chat message.

use std::fmt::Write as _;

use crate::plan::report::DriftReport;

/// The drift report for people (`markdown`: as a table), each unreadable workspace last.
pub fn drift(report: &DriftReport, markdown: bool) -> String {
    let mut out = if markdown {
        drift_markdown(report)
    } else {
        drift_text(report)
    };
    for f in &report.failures {
        let _ = writeln!(out, "{}: {}: {}", f.workspace, f.label(), f.error);
    }
    out
}

fn drift_markdown(report: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### tandem drift · env {}\n", report.environment);
    if report.drift.is_empty() {
        out.push_str("No drift: every workspace matches the configuration.\n");
        return out;
    }
    out.push_str(
        "| workspace | resource | kind | what differs | remedy |\n|---|---|---|---|---|\n",
    );
    for d in &report.drift {
        let resource = d
            .resource
            .as_ref()
            .map(|r| format!("`{r}`"))
            .unwrap_or_default();
        let cell = |s: &str| s.replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {} | {resource} | {} | {} | {} |",
            d.workspace,
            d.kind.as_str(),
            cell(&d.detail),
            cell(&d.remedy)
        );
    }
    out
}

fn drift_text(report: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tandem drift · env {}", report.environment);
    if report.drift.is_empty() {
        out.push_str("no drift: every workspace matches the configuration\n");
        return out;
    }
    for d in &report.drift {
        let resource = d
            .resource
            .as_ref()
            .map(|r| format!(" {r}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "\n{}{resource}: {}\n  {}\n  remedy: {}",
            d.workspace,
            d.kind.as_str(),
            d.detail,
            d.remedy
        );
    }
    let _ = writeln!(out, "\n{} difference(s)", report.drift.len());
    out
}
