//! `tandem status` as text: one block per workspace, what needs attention in capitals.

use super::Style;
use crate::plan::report::StatusReport;

/// The status report for people.
pub fn status(report: &StatusReport, style: Style) -> String {
    let loud = |t: &str| style.paint("1;31", t);
    let mut out = format!("environment {}\n", report.environment);
    for s in &report.workspaces {
        out.push_str(&format!("\n{} ({})\n", s.workspace, s.host));
        let record_role = s
            .role_in_record
            .map(|r| r.as_str().to_string())
            .unwrap_or_else(|| "unknown".into());
        out.push_str(&format!(
            "  role          {} (environment file), {} (state record)\n",
            s.role_in_file.as_str(),
            record_role
        ));
        if let Some(auth) = &s.auth {
            out.push_str(&format!("  auth          {auth}\n"));
        }
        if s.role_mismatch {
            out.push_str(&format!("  {}\n", loud("ROLES DISAGREE: a promotion is not reflected in the environment file (or the reverse)")));
        }
        if !s.reachable {
            // A workspace that refused the credentials answered: it is not down.
            let label = if s.authentication_failed {
                "AUTHENTICATION FAILED"
            } else {
                "UNREACHABLE"
            };
            out.push_str(&format!(
                "  {}  {}\n",
                loud(label),
                s.error.clone().unwrap_or_default()
            ));
            continue;
        }
        match s.record.as_ref().and_then(|r| r.last_applied.as_ref()) {
            Some(a) => {
                let lag = match s.commits_behind {
                    Some(0) => "up to date with HEAD".to_string(),
                    Some(n) => format!("{n} commit(s) behind HEAD"),
                    None => "not an ancestor of HEAD".to_string(),
                };
                out.push_str(&format!(
                    "  last apply    {} at {} by {}{} — {lag}\n",
                    &a.commit[..a.commit.len().min(7)],
                    a.at,
                    a.by,
                    if a.dirty { " (dirty tree)" } else { "" }
                ));
            }
            None => out.push_str("  last apply    never\n"),
        }
        if let Some(r) = &s.record
            && let Some(at) = &r.promoted_at
        {
            out.push_str(&format!(
                "  promoted      {at} by {}\n",
                r.promoted_by.clone().unwrap_or_default()
            ));
        }
        match &s.lock {
            Some(l) => out.push_str(&format!(
                "  lock          held by {} ({}) since {}\n",
                l.holder, l.operation, l.since
            )),
            None => out.push_str("  lock          free\n"),
        }
        for fence in s.record.iter().flat_map(|r| &r.pending_fences) {
            out.push_str(&format!(
                "  {}  {} must be made passive (since {})\n",
                loud("PENDING FENCE"),
                fence.workspace,
                fence.since
            ));
        }
    }
    out
}
