//! `drift`: how far each workspace has drifted from the configuration, with a remedy for each
//! difference.

use crate::client::ClientOptions;
use crate::config::LoadOptions;
use crate::engine::EngineError;
use crate::engine::drift::environment_drift;
use crate::plan::report::{DriftReport, REPORT_FORMAT_VERSION};

/// How to look for drift.
#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// Requests in flight and retries.
    pub client: ClientOptions,
}

/// Reads every workspace and reports what differs from the configuration.
pub async fn drift(options: &DriftOptions) -> Result<DriftReport, EngineError> {
    let (config, session) = super::look_as_filed(&options.load, &options.client).await?;
    let drift = environment_drift(&session.plan, &session.contexts);
    let plan = session.finish(&config.environment.name).await;
    Ok(DriftReport {
        format_version: REPORT_FORMAT_VERSION,
        environment: config.environment.name.clone(),
        drift,
        failures: plan.failures,
    })
}
