//! `show`: a plan saved by `tandem plan --out FILE`, read back for rendering. Nothing else is
//! read: no environment file, no workspace, no credential — the file holds everything the
//! renderers show (names, roles, actions, overrides, where each resource is declared).

use std::path::{Path, PathBuf};

use crate::plan::Plan;
use crate::plan::render::Origins;

/// What to show.
#[derive(Debug, Clone)]
pub struct ShowOptions {
    /// The plan file.
    pub plan_file: PathBuf,
}

/// A saved plan, with where each resource is declared.
#[derive(Debug)]
pub struct ShowReport {
    /// The plan.
    pub plan: Plan,
    /// `file:line` of each resource, as recorded in the plan.
    pub origins: Origins,
}

/// A plan file that cannot be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("cannot use plan file {path}: {reason}")]
#[diagnostic(help("make one with `tandem plan --out FILE`"))]
pub struct PlanFileError {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Reads the plan saved in `options.plan_file`.
pub fn show(options: &ShowOptions) -> Result<ShowReport, crate::engine::EngineError> {
    let plan = read_plan_file(&options.plan_file)?;
    Ok(ShowReport {
        origins: plan.origins(),
        plan,
    })
}

/// A plan saved by `tandem plan --out`, checked to be of this format.
pub fn read_plan_file(path: &Path) -> Result<Plan, PlanFileError> {
    let error = |reason: String| PlanFileError {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let plan: Plan =
        serde_json::from_str(&text).map_err(|e| error(format!("not a tandem plan: {e}")))?;
    if plan.format_version != crate::plan::PLAN_FORMAT_VERSION {
        return Err(error(format!(
            "plan format {} is not supported (expected {})",
            plan.format_version,
            crate::plan::PLAN_FORMAT_VERSION
        )));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plan.json");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn a_file_that_is_not_a_plan_is_refused_with_its_name() {
        let (_dir, path) = written("{\"hello\": 1}");
        let e = show(&ShowOptions {
            plan_file: path.clone(),
        })
        .expect_err("not a plan");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(e.to_string().contains("not a tandem plan"), "{e}");
    }

    #[test]
    fn another_format_version_is_refused() {
        let (_dir, path) = written(
            r#"{"format_version": 999, "environment": "e", "active": "a", "config_commit": "x", "config_dirty": false, "workspaces": []}"#,
        );
        let e = show(&ShowOptions { plan_file: path }).expect_err("format");
        assert!(
            e.to_string().contains("plan format 999 is not supported"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_panic() {
        let e = show(&ShowOptions {
            plan_file: PathBuf::from("/nonexistent/plan.json"),
        })
        .expect_err("missing");
        assert!(e.to_string().contains("/nonexistent/plan.json"), "{e}");
    }
}
