//! `status`: who is active, according to whom — the first command of an incident.

use std::time::Duration;

use crate::config::{self, LoadOptions};
use crate::engine::EngineError;
use crate::engine::status::status as read_statuses;
use crate::plan::report::{STATUS_FORMAT_VERSION, StatusReport};

/// How to read the status.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// How long to wait for each workspace.
    pub timeout: Duration,
}

/// Reads every workspace's record and lock, each within the timeout.
pub async fn status(options: &StatusOptions) -> Result<StatusReport, EngineError> {
    let config = config::load(&options.load)?;
    let workspaces = read_statuses(&config.environment, &options.load.root, options.timeout).await;
    Ok(StatusReport {
        format_version: STATUS_FORMAT_VERSION,
        environment: config.environment.name.clone(),
        active: config.environment.active.clone(),
        workspaces,
    })
}
