//! `compare`: what differs between two workspaces of an environment — objects only one holds,
//! fields that differ (as export would write them, IDs and the fields tandem sets by role
//! aside), objects tandem manages on one side only. Reads, never writes: the scheduled
//! comparison of a pair.

use super::export::read_workspaces;
use crate::config::{self, LoadOptions};
use crate::engine::EngineError;
use crate::plan::report::{CompareReport, REPORT_FORMAT_VERSION};

/// Which workspaces to compare.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Where the configuration is and which environment (only its environment file is read).
    pub load: LoadOptions,
    /// The two workspaces (`a` and `b` of the report).
    pub workspaces: [String; 2],
}

/// Errors of compare.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CompareError {
    /// The same workspace twice.
    #[error("compare needs two different workspaces, not {0} twice")]
    #[diagnostic(help("name two workspaces of the environment: tandem compare primary secondary"))]
    SameWorkspace(String),
}

/// Reads both workspaces and lists every object that differs between them.
pub async fn compare(options: &CompareOptions) -> Result<CompareReport, EngineError> {
    let environment = config::load_environment(&options.load)?;
    let [a, b] = &options.workspaces;
    if a == b {
        return Err(CompareError::SameWorkspace(a.clone()).into());
    }
    let specs = [
        super::workspace_named(&environment, a)?,
        super::workspace_named(&environment, b)?,
    ];
    let read = read_workspaces(&environment, &specs, &options.load.root, None).await?;
    let pair: [_; 2] = read
        .try_into()
        .map_err(|_| EngineError::Workspace("a workspace was not read".into()))?;
    Ok(CompareReport {
        format_version: REPORT_FORMAT_VERSION,
        environment: environment.name.clone(),
        workspaces: options.workspaces.clone(),
        differences: crate::engine::export::compare::differences(&pair),
    })
}
