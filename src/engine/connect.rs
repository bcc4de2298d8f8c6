//! Connecting to an environment's workspaces: real ones over HTTPS with their credentials,
//! `local:<name>` ones by starting an embedded emulator on a free loopback port.

use std::path::Path;
use std::sync::Arc;

use crate::client::auth::{self, AuthBlock, AuthSettings, Credentials, SettingSource};
use crate::client::{ClientError, ClientOptions, Token, TokenSource, WorkspaceClient};
use crate::config::env::{Auth, AuthSpec, Setting};
use crate::config::{Host, WorkspaceSpec};
use crate::emulator::{self, EMBEDDED_TOKEN, RunningEmulator};

/// A reachable (or at least addressable) workspace.
pub struct Connection {
    /// Its spec from the environment file.
    pub spec: WorkspaceSpec,
    /// The client (shared with the tasks reading the workspace).
    pub client: Arc<WorkspaceClient>,
    /// The embedded emulator serving a `local:` workspace, kept alive with the connection.
    pub embedded: Option<RunningEmulator>,
}

/// Why a workspace could not be connected.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ConnectError {
    /// Credentials or host problems.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The embedded emulator did not start.
    #[error("workspace {workspace}: the embedded emulator did not start: {source}")]
    Embedded {
        /// Workspace name.
        workspace: String,
        /// Why.
        source: emulator::EmulatorError,
    },
}

/// Connects one workspace. `root` is the config root (embedded state lives below it).
pub async fn connect(
    spec: &WorkspaceSpec,
    root: &Path,
    options: &ClientOptions,
) -> Result<Connection, ConnectError> {
    match &spec.host {
        Host::Local(name) => {
            let running = emulator::start(emulator::embedded_options(root, name))
                .await
                .map_err(|source| ConnectError::Embedded {
                    workspace: spec.name.clone(),
                    source,
                })?;
            let client = WorkspaceClient::new(
                &spec.name,
                &running.url,
                Token::new(EMBEDDED_TOKEN),
                options.clone(),
            )?;
            Ok(Connection {
                spec: spec.clone(),
                client: Arc::new(client),
                embedded: Some(running),
            })
        }
        Host::Url(url) => {
            // The token is handed out for this host only (a profile's or DATABRICKS_HOST's
            // host must be this one).
            let credentials = resolve_credentials(spec, url)?;
            tracing::info!(workspace = %spec.name, auth = %credentials.describe(), "authenticating");
            let source = TokenSource::new(&spec.name, url, credentials, options.timeout)?;
            // The first token now: a credential problem is reported before anything is read
            // or written, naming the workspace.
            source.token().await?;
            let client =
                WorkspaceClient::with_source(&spec.name, url, Arc::new(source), options.clone())?;
            Ok(Connection {
                spec: spec.clone(),
                client: Arc::new(client),
                embedded: None,
            })
        }
    }
}

/// The credentials of workspace `spec` at `url`, found where its settings say.
pub fn resolve_credentials(spec: &WorkspaceSpec, url: &str) -> Result<Credentials, ClientError> {
    auth::resolve(&spec.name, &auth_settings(&spec.auth), url)
}

/// The client's view of the environment file's credential settings.
fn auth_settings(auth: &Auth) -> AuthSettings {
    match auth {
        Auth::TokenEnv(var) => AuthSettings::TokenEnv(var.clone()),
        Auth::Profile(profile) => AuthSettings::Profile(profile.clone()),
        Auth::Method(spec) => AuthSettings::Block(auth_block(spec)),
        Auth::Default => AuthSettings::Default,
    }
}

fn auth_block(spec: &AuthSpec) -> AuthBlock {
    let source = |setting: &Option<Setting>| {
        setting.as_ref().map(|s| match s {
            Setting::Literal(value) => SettingSource::Literal(value.clone()),
            Setting::Env(var) => SettingSource::Env(var.clone()),
        })
    };
    AuthBlock {
        method: spec.method,
        client_id: source(&spec.client_id),
        client_secret_env: spec.client_secret_env.clone(),
        tenant_id: source(&spec.tenant_id),
        token_env: spec.token_env.clone(),
        audience: spec.audience.clone(),
        login_endpoint: spec.login_endpoint.clone(),
        profile: spec.profile.clone(),
    }
}

impl ConnectError {
    /// The message and what to do, in one line (plan, apply and status show only this text).
    pub fn with_help(&self) -> String {
        let help = match self {
            ConnectError::Client(c) => miette::Diagnostic::help(c).map(|h| h.to_string()),
            ConnectError::Embedded { .. } => None,
        };
        match help {
            Some(help) => format!("{self}; {help}"),
            None => self.to_string(),
        }
    }

    /// Whether no credentials could be had or they were refused (see
    /// [`ClientError::is_authentication`]).
    pub fn is_authentication(&self) -> bool {
        matches!(self, ConnectError::Client(c) if c.is_authentication())
    }

    /// Whether the settings are wrong (credentials, host), rather than the workspace down.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(
            self,
            ConnectError::Client(
                ClientError::Credentials { .. }
                    | ClientError::HostMismatch { .. }
                    | ClientError::BadHost { .. }
                    | ClientError::InsecureHost { .. }
            )
        )
    }
}

impl Connection {
    /// Stops an embedded emulator (persisting its state).
    pub async fn close(self) {
        if let Some(running) = self.embedded {
            running.stop().await;
        }
    }
}

/// Closes every connection (stops the embedded workspaces).
pub async fn close_all(connections: Vec<Connection>) {
    for c in connections {
        c.close().await;
    }
}

/// Connects every workspace of the environment concurrently; the ones that fail are returned
/// as failures, so the others can go on.
pub async fn connect_all(
    workspaces: &[WorkspaceSpec],
    root: &Path,
    options: &ClientOptions,
) -> (Vec<Connection>, Vec<crate::plan::WorkspaceFailure>) {
    let attempts =
        futures::future::join_all(workspaces.iter().map(|w| connect(w, root, options))).await;
    let mut connections = Vec::new();
    let mut failures = Vec::new();
    for (spec, attempt) in workspaces.iter().zip(attempts) {
        match attempt {
            Ok(c) => connections.push(c),
            Err(e) => failures.push(crate::plan::WorkspaceFailure {
                workspace: spec.name.clone(),
                // What to do travels with the failure: plan and apply show only this text.
                error: e.with_help(),
                guard: false,
                misconfigured: e.is_misconfiguration(),
                authentication: e.is_authentication(),
            }),
        }
    }
    (connections, failures)
}
