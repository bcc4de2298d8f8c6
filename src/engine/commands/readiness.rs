//! `readiness`: could a passive workspace take over right now?

use crate::client::ClientOptions;
use crate::config::LoadOptions;
use crate::engine::EngineError;
use crate::engine::readiness::readiness as run_checks;
use crate::plan::report::ReadinessReport;

/// How to check readiness.
#[derive(Debug, Clone)]
pub struct ReadinessOptions {
    /// Where the configuration is and which environment.
    pub load: LoadOptions,
    /// Requests in flight and retries.
    pub client: ClientOptions,
}

/// Plans every workspace with the environment file's roles and runs every check on them.
pub async fn readiness(options: &ReadinessOptions) -> Result<ReadinessReport, EngineError> {
    let (config, session) = super::look_as_filed(&options.load, &options.client).await?;
    let checks = run_checks(
        &config,
        &options.load.root,
        &session.connections,
        &session.plan,
        &session.contexts,
    )
    .await;
    session.finish(&config.environment.name).await;
    Ok(ReadinessReport::of(&config.environment.name, checks))
}
