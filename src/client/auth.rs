//! Which credentials a workspace authenticates with — Databricks unified authentication as the
//! official SDKs resolve it: the environment file's `token_env` / `profile` / `auth:` block,
//! `DATABRICKS_*` and `ARM_*` variables, `~/.databrickscfg` profiles, and logged-in CLIs.
//! Resolution reads variables and the profile file only; tokens are fetched by
//! [`super::token_source`].

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::ClientError;

use super::origin::parse_origin;

/// A bearer token or another secret. Never printed: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Token(token.into())
    }

    /// The header value `Bearer <token>`.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// The raw value, to send it or to redact it from text that might echo it.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An authentication method of Databricks unified authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMethod {
    /// A personal access token.
    Pat,
    /// OAuth machine-to-machine: a service principal's client id and secret.
    OauthM2m,
    /// GitHub Actions' OIDC identity exchanged for a workspace token (workload identity federation).
    GithubOidc,
    /// A Microsoft Entra ID service principal's client secret.
    AzureClientSecret,
    /// An Azure managed identity.
    AzureMsi,
    /// `az account get-access-token` (whoever ran `az login`).
    AzureCli,
    /// `databricks auth token` (whoever ran `databricks auth login`).
    DatabricksCli,
}

impl AuthMethod {
    /// Every method, in the order the documentation lists them.
    pub const ALL: [AuthMethod; 7] = [
        AuthMethod::Pat,
        AuthMethod::OauthM2m,
        AuthMethod::GithubOidc,
        AuthMethod::AzureClientSecret,
        AuthMethod::AzureMsi,
        AuthMethod::AzureCli,
        AuthMethod::DatabricksCli,
    ];

    /// Its name in files and variables (`oauth-m2m`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Pat => "pat",
            AuthMethod::OauthM2m => "oauth-m2m",
            AuthMethod::GithubOidc => "github-oidc",
            AuthMethod::AzureClientSecret => "azure-client-secret",
            AuthMethod::AzureMsi => "azure-msi",
            AuthMethod::AzureCli => "azure-cli",
            AuthMethod::DatabricksCli => "databricks-cli",
        }
    }

    /// The method called `name` (the SDKs' `auth_type` values; `azure-client-secret` also as
    /// the SDK's historical `azure-client-secret`, `pat` also as `token`).
    pub fn parse(name: &str) -> Option<AuthMethod> {
        let name = name.trim().to_ascii_lowercase();
        AuthMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == name)
            .or(match name.as_str() {
                "token" => Some(AuthMethod::Pat),
                _ => None,
            })
    }

    /// Whether the method's token is an Entra ID token (sent only to Azure Databricks hosts).
    pub fn is_azure(self) -> bool {
        matches!(
            self,
            AuthMethod::AzureClientSecret | AuthMethod::AzureMsi | AuthMethod::AzureCli
        )
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a workspace's credentials are found, as the client needs it: the environment file's
/// `token_env` / `profile` / `auth:` settings, converted by the engine. Never holds a credential
/// itself: only where to find one and what is not secret (client and tenant ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSettings {
    /// The token is in this environment variable.
    TokenEnv(String),
    /// A profile of `~/.databrickscfg`.
    Profile(String),
    /// An `auth:` block naming the method.
    Block(AuthBlock),
    /// Databricks unified authentication from `DATABRICKS_*` / `ARM_*` variables, a profile
    /// for the host, or a logged-in CLI.
    Default,
}

/// The settings of an `auth:` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthBlock {
    /// The method; `None` when only a profile is given (its `auth_type` decides).
    pub method: Option<AuthMethod>,
    /// The service principal's (or managed identity's) client id.
    pub client_id: Option<SettingSource>,
    /// The variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// The Entra ID tenant.
    pub tenant_id: Option<SettingSource>,
    /// The variable holding a personal access token.
    pub token_env: Option<String>,
    /// The audience of GitHub's ID token (the federation policy's).
    pub audience: Option<String>,
    /// The Entra ID login endpoint (normalised origin).
    pub login_endpoint: Option<String>,
    /// A `~/.databrickscfg` profile: the attributes' fallback, or `--profile` for databricks-cli.
    pub profile: Option<String>,
}

/// A setting that is not secret: the value itself, or the variable holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingSource {
    /// The value itself.
    Literal(String),
    /// The variable holding it.
    Env(String),
}

/// The Entra ID login endpoints of the Azure clouds (`azure_environment`).
pub const AZURE_ENVIRONMENTS: &[(&str, &str)] = &[
    ("public", "https://login.microsoftonline.com"),
    ("usgovernment", "https://login.microsoftonline.us"),
    ("china", "https://login.chinacloudapi.cn"),
];

/// The Azure Databricks application (its id is the resource Entra ID tokens are asked for).
pub const AZURE_DATABRICKS_RESOURCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// The default Entra ID login endpoint (the public cloud).
pub const AZURE_LOGIN_ENDPOINT: &str = "https://login.microsoftonline.com";

/// The Azure instance metadata service (managed identities).
pub const AZURE_IMDS_ENDPOINT: &str = "http://169.254.169.254";

/// Resolved credentials of one workspace: the method, where its settings came from, and what
/// it needs to obtain a token.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The method.
    pub method: AuthMethod,
    /// Where the settings came from, for people (`auth: block`, `profile [x] of ~/.databrickscfg`).
    pub from: String,
    /// What obtaining a token takes.
    pub kind: CredentialKind,
}

impl Credentials {
    /// `oauth-m2m (auth: block)`: the method and where it came from, never a credential.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.method, self.from)
    }
}

/// What obtaining a token takes, per method.
#[derive(Debug, Clone)]
pub enum CredentialKind {
    /// A personal access token: the token itself.
    Token(Token),
    /// OAuth M2M at the workspace's token endpoint.
    ClientSecret {
        /// The service principal's application id.
        client_id: String,
        /// Its OAuth secret.
        secret: Token,
    },
    /// GitHub Actions' ID token exchanged at the workspace's token endpoint.
    GithubOidc {
        /// The service principal's application id (its federation policy trusts the job).
        client_id: String,
        /// The ID token's audience, when set.
        audience: Option<String>,
        /// `ACTIONS_ID_TOKEN_REQUEST_URL`.
        request_url: String,
        /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
        request_token: Token,
    },
    /// An Entra ID service principal's client-credentials token.
    AzureClientSecret {
        /// The tenant.
        tenant_id: String,
        /// The application (client) id.
        client_id: String,
        /// Its secret.
        secret: Token,
        /// The login endpoint's origin.
        login_endpoint: String,
    },
    /// A managed identity's token from the instance metadata service.
    AzureMsi {
        /// A user-assigned identity's client id (none: the system-assigned identity).
        client_id: Option<String>,
        /// The metadata service's origin.
        endpoint: String,
    },
    /// `az account get-access-token`.
    AzureCli {
        /// The tenant to ask for, if not the logged-in default.
        tenant_id: Option<String>,
    },
    /// `databricks auth token`.
    DatabricksCli {
        /// `--profile`, else `--host` is passed.
        profile: Option<String>,
    },
}

/// Reads an environment variable (a seam for tests).
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, with empty values treated as unset.
pub fn process_vars(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The credentials for `workspace` at `host` (its normalised origin, as the environment file
/// names it) from `auth`. Credentials that name a host of their own (a profile's `host`,
/// `DATABRICKS_HOST`) are handed out only for that host: otherwise whoever can change `host:`
/// in the environment file (a pull request) would receive them. Variables the environment
/// file names (`token_env`, `client_secret_env`) name no host; what protects them is that the
/// environment file comes from a trusted revision in CI (`--env-from`).
pub fn resolve(
    workspace: &str,
    auth: &AuthSettings,
    host: &str,
) -> Result<Credentials, ClientError> {
    Resolver {
        workspace,
        host,
        vars: &process_vars,
        config_file: config_file(),
        on_path: &on_path,
    }
    .resolve(auth)
}

/// The settings gathered for a workspace, each with where it came from.
#[derive(Debug, Default)]
struct Attributes {
    auth_type: Option<(String, String)>,
    token: Option<(Token, String)>,
    client_id: Option<(String, String)>,
    client_secret: Option<(Token, String)>,
    azure_client_id: Option<(String, String)>,
    azure_client_secret: Option<(Token, String)>,
    azure_tenant_id: Option<(String, String)>,
    azure_use_msi: Option<String>,
    login_endpoint: Option<String>,
    audience: Option<String>,
    /// The profile a databricks-cli login is asked for.
    cli_profile: Option<String>,
}

impl Attributes {
    /// Fills what is still missing from `other` (earlier sources win, as in the SDKs).
    fn fill(&mut self, other: Attributes) {
        macro_rules! fill {
            ($($field:ident),*) => { $( if self.$field.is_none() { self.$field = other.$field; } )* };
        }
        fill!(
            auth_type,
            token,
            client_id,
            client_secret,
            azure_client_id,
            azure_client_secret,
            azure_tenant_id,
            azure_use_msi,
            login_endpoint,
            audience,
            cli_profile
        );
    }

    /// Whether any credential setting is present.
    fn any(&self) -> bool {
        self.auth_type.is_some()
            || self.token.is_some()
            || self.client_id.is_some()
            || self.client_secret.is_some()
            || self.azure_client_id.is_some()
            || self.azure_client_secret.is_some()
            || self.azure_use_msi.is_some()
    }

    /// Every place a setting came from, in order, once each.
    fn sources(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        let all = [
            self.auth_type.as_ref().map(|(_, f)| f),
            self.token.as_ref().map(|(_, f)| f),
            self.client_id.as_ref().map(|(_, f)| f),
            self.client_secret.as_ref().map(|(_, f)| f),
            self.azure_client_id.as_ref().map(|(_, f)| f),
            self.azure_client_secret.as_ref().map(|(_, f)| f),
            self.azure_tenant_id.as_ref().map(|(_, f)| f),
            self.azure_use_msi.as_ref(),
        ];
        for from in all.into_iter().flatten() {
            if !out.contains(&from.as_str()) {
                out.push(from);
            }
        }
        out.join(" + ")
    }
}

/// Resolves one workspace's credentials from its settings, the environment and the profile file.
struct Resolver<'a> {
    workspace: &'a str,
    host: &'a str,
    vars: Vars<'a>,
    config_file: Option<PathBuf>,
    on_path: &'a dyn Fn(&str) -> bool,
}

impl Resolver<'_> {
    fn error(&self, reason: impl Into<String>, help: impl Into<String>) -> ClientError {
        ClientError::Credentials {
            workspace: self.workspace.to_string(),
            reason: reason.into(),
            help: help.into(),
        }
    }

    fn resolve(&self, auth: &AuthSettings) -> Result<Credentials, ClientError> {
        match auth {
            AuthSettings::TokenEnv(var) => {
                let token = self.variable(var, "token_env", "<personal access token>")?;
                Ok(Credentials {
                    method: AuthMethod::Pat,
                    from: format!("token_env {var}"),
                    kind: CredentialKind::Token(Token::new(token)),
                })
            }
            AuthSettings::Profile(profile) => {
                let attributes = self
                    .profile(profile, true)
                    .map_err(ProfileError::into_client)?;
                self.choose(attributes, None)
            }
            AuthSettings::Block(spec) => {
                let mut attributes = self.block(spec)?;
                if let Some(profile) = &spec.profile
                    && spec.method != Some(AuthMethod::DatabricksCli)
                {
                    attributes.fill(
                        self.profile(profile, true)
                            .map_err(ProfileError::into_client)?,
                    );
                }
                if let Some(method) = spec.method {
                    // Missing settings may come from the standard variables (bound ones only).
                    if let Ok(Some(env)) = self.environment() {
                        attributes.fill(env);
                    }
                    return self.build(method, attributes);
                }
                self.choose(attributes, None)
            }
            AuthSettings::Default => self.default(),
        }
    }

    /// Unified authentication with nothing in the file: variables, then a profile for this
    /// host, then a logged-in CLI.
    fn default(&self) -> Result<Credentials, ClientError> {
        let forced = (self.vars)("DATABRICKS_AUTH_TYPE");
        let forced = match forced {
            Some(name) => Some(AuthMethod::parse(&name).ok_or_else(|| {
                self.error(
                    format!("DATABRICKS_AUTH_TYPE is `{name}`, which is not an auth type"),
                    format!(
                        "set DATABRICKS_AUTH_TYPE to one of: {}",
                        AuthMethod::ALL.map(AuthMethod::as_str).join(", ")
                    ),
                )
            })?),
            None => None,
        };
        if let Some(env) = self.environment()?
            && env.any()
        {
            return match forced {
                Some(method) => self.build(method, env),
                None => self.choose(env, None),
            };
        }
        let profile = (self.vars)("DATABRICKS_CONFIG_PROFILE");
        match self.profile(profile.as_deref().unwrap_or("DEFAULT"), profile.is_some()) {
            Ok(attributes) => return self.choose(attributes, forced),
            Err(ProfileError::Refused(e)) => return Err(*e),
            Err(ProfileError::Missing(_)) => {}
        }
        let method = match forced {
            Some(method) => method,
            None if (self.on_path)("databricks") => AuthMethod::DatabricksCli,
            None if (self.on_path)("az") && is_azure_host(self.host) => AuthMethod::AzureCli,
            None => {
                return Err(self.error(
                    "no credentials: the environment file names none (token_env, profile or auth:), no DATABRICKS_* variables are set for this host, no ~/.databrickscfg profile matches it, and no logged-in `databricks` or `az` CLI was found",
                    "add an `auth:` block to the workspace in the environment file, e.g. `auth: {type: oauth-m2m, client_id: <id>, client_secret_env: <VAR>}` (see the README's Authentication table)",
                ));
            }
        };
        self.build(method, Attributes::default())
    }

    /// The settings of an `auth:` block, with the variables it names read.
    fn block(&self, spec: &AuthBlock) -> Result<Attributes, ClientError> {
        let from = "auth: block".to_string();
        let azure = spec.method.is_some_and(AuthMethod::is_azure);
        let setting =
            |setting: &Option<SettingSource>, key: &str| -> Result<Option<String>, ClientError> {
                match setting {
                    Some(SettingSource::Literal(v)) => Ok(Some(v.clone())),
                    Some(SettingSource::Env(var)) => self.variable(var, key, "<value>").map(Some),
                    None => Ok(None),
                }
            };
        let client_id = setting(&spec.client_id, "client_id_env")?;
        let secret = match &spec.client_secret_env {
            Some(var) => Some(Token::new(self.variable(
                var,
                "client_secret_env",
                "<client secret>",
            )?)),
            None => None,
        };
        let mut attributes = Attributes {
            auth_type: spec.method.map(|m| (m.as_str().to_string(), from.clone())),
            azure_tenant_id: setting(&spec.tenant_id, "tenant_id_env")?.map(|t| (t, from.clone())),
            login_endpoint: spec.login_endpoint.clone(),
            audience: spec.audience.clone(),
            cli_profile: spec
                .profile
                .clone()
                .filter(|_| spec.method == Some(AuthMethod::DatabricksCli)),
            ..Attributes::default()
        };
        if let Some(var) = &spec.token_env {
            attributes.token = Some((
                Token::new(self.variable(var, "token_env", "<personal access token>")?),
                format!("token_env {var}"),
            ));
        }
        if azure {
            attributes.azure_client_id = client_id.map(|c| (c, from.clone()));
            attributes.azure_client_secret = secret.map(|s| (s, from.clone()));
        } else {
            attributes.client_id = client_id.map(|c| (c, from.clone()));
            attributes.client_secret = secret.map(|s| (s, from.clone()));
        }
        Ok(attributes)
    }

    /// A variable the environment file names; unset is an error naming it.
    fn variable(&self, var: &str, key: &str, what: &str) -> Result<String, ClientError> {
        (self.vars)(var).ok_or_else(|| {
            self.error(
                format!("environment variable {var} ({key}) is not set"),
                format!("export {var}={what} (in CI: a secret or variable mapped to {var})"),
            )
        })
    }

    /// Settings from the standard variables. `DATABRICKS_*` credentials only when
    /// `DATABRICKS_HOST` names this host; `ARM_*` ones go to Azure hosts only (see [`Resolver::build`]).
    /// `Ok(None)`: nothing set. An error when `DATABRICKS_*` credentials are set for another host.
    fn environment(&self) -> Result<Option<Attributes>, ClientError> {
        let var = |name: &str| (self.vars)(name);
        let databricks = "DATABRICKS_* variables".to_string();
        let arm = "ARM_* variables".to_string();
        let mut attributes = Attributes {
            azure_client_id: var("ARM_CLIENT_ID").map(|v| (v, arm.clone())),
            azure_client_secret: var("ARM_CLIENT_SECRET").map(|v| (Token::new(v), arm.clone())),
            azure_tenant_id: var("ARM_TENANT_ID").map(|v| (v, arm.clone())),
            azure_use_msi: var("ARM_USE_MSI")
                .filter(|v| is_true(v))
                .map(|_| arm.clone()),
            login_endpoint: match var("ARM_ENVIRONMENT") {
                Some(name) => Some(azure_environment(&name).ok_or_else(|| {
                    self.error(
                        format!("ARM_ENVIRONMENT is `{name}`, which is not an Azure cloud"),
                        "set ARM_ENVIRONMENT to public, usgovernment or china",
                    )
                })?),
                None => None,
            },
            ..Attributes::default()
        };
        let token = var("DATABRICKS_TOKEN");
        let client_id = var("DATABRICKS_CLIENT_ID");
        let client_secret = var("DATABRICKS_CLIENT_SECRET");
        if token.is_some() || client_id.is_some() || client_secret.is_some() {
            self.bound_to_databricks_host()?;
            attributes.token = token.map(|t| (Token::new(t), databricks.clone()));
            attributes.client_id = client_id.map(|c| (c, databricks.clone()));
            attributes.client_secret = client_secret.map(|s| (Token::new(s), databricks.clone()));
            attributes.audience = var("DATABRICKS_TOKEN_AUDIENCE");
        }
        if attributes.token.is_some() || attributes.client_id.is_some() {
            // DATABRICKS_AUTH_TYPE applies to the credentials of the same variables.
            attributes.auth_type = var("DATABRICKS_AUTH_TYPE").map(|t| (t, databricks.clone()));
        }
        Ok(attributes.any().then_some(attributes))
    }

    /// `Ok` when `DATABRICKS_HOST` names this workspace's host.
    fn bound_to_databricks_host(&self) -> Result<(), ClientError> {
        let refuse = |reason: &str| {
            self.error(reason, "set DATABRICKS_HOST to the workspace's URL (the host of the environment file), or name the variables in the environment file (token_env, or an auth: block with client_secret_env)")
        };
        let Some(bound) = (self.vars)("DATABRICKS_HOST") else {
            return Err(refuse(
                "DATABRICKS_TOKEN / DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET are set without DATABRICKS_HOST, so they name no host they may be sent to: set DATABRICKS_HOST to the workspace URL, or name the variables in the environment file",
            ));
        };
        // The value is not quoted: it does not come from a configuration file.
        let Ok(bound) = parse_origin(&bound) else {
            return Err(refuse(
                "DATABRICKS_HOST is not a workspace URL (https://<host>, no user, path or query), so the DATABRICKS_* credentials go nowhere",
            ));
        };
        self.bound_to("DATABRICKS_* variables (DATABRICKS_HOST)", &bound)
    }

    /// `Ok` when the credentials' host `bound` is the environment file's host.
    fn bound_to(&self, credentials: &str, bound: &str) -> Result<(), ClientError> {
        if bound == self.host {
            return Ok(());
        }
        Err(ClientError::HostMismatch {
            workspace: self.workspace.to_string(),
            credentials: credentials.to_string(),
            credentials_host: bound.to_string(),
            host: self.host.to_string(),
        })
    }

    /// The method the settings call for: `forced`, else their `auth_type`, else inferred from
    /// which settings are present (as the SDKs' default chain does).
    fn choose(
        &self,
        attributes: Attributes,
        forced: Option<AuthMethod>,
    ) -> Result<Credentials, ClientError> {
        let named = match (forced, &attributes.auth_type) {
            (Some(m), _) => Some(m),
            (None, Some((name, from))) => Some(AuthMethod::parse(name).ok_or_else(|| {
                self.error(
                    format!("auth_type `{name}` ({from}) is not an auth type"),
                    format!(
                        "use one of: {}",
                        AuthMethod::ALL.map(AuthMethod::as_str).join(", ")
                    ),
                )
            })?),
            (None, None) => None,
        };
        if let Some(method) = named {
            return self.build(method, attributes);
        }
        let secrets = [
            attributes.token.is_some(),
            attributes.client_secret.is_some(),
            attributes.azure_client_secret.is_some(),
        ];
        if secrets.iter().filter(|s| **s).count() > 1 {
            return Err(self.error(
                format!(
                    "more than one authentication method is configured ({})",
                    attributes.sources()
                ),
                "keep the settings of one method, or choose one with auth_type / DATABRICKS_AUTH_TYPE / an auth: block's type",
            ));
        }
        let in_github_actions = (self.vars)("ACTIONS_ID_TOKEN_REQUEST_URL").is_some();
        let method = if attributes.token.is_some() {
            AuthMethod::Pat
        } else if attributes.client_secret.is_some()
            || attributes.client_id.is_some() && !in_github_actions
        {
            // A client id alone outside GitHub Actions is a half-configured M2M: build says so.
            AuthMethod::OauthM2m
        } else if attributes.client_id.is_some() {
            AuthMethod::GithubOidc
        } else if attributes.azure_client_secret.is_some() {
            AuthMethod::AzureClientSecret
        } else if attributes.azure_use_msi.is_some() {
            AuthMethod::AzureMsi
        } else if attributes.azure_client_id.is_some() {
            AuthMethod::AzureClientSecret
        } else if attributes.cli_profile.is_some() {
            AuthMethod::DatabricksCli
        } else {
            return Err(self.error(
                format!(
                    "no credentials in {}",
                    if attributes.sources().is_empty() {
                        "the settings found".to_string()
                    } else {
                        attributes.sources()
                    }
                ),
                "set a token, a client id and secret, or auth_type (see the README's Authentication table)",
            ));
        };
        self.build(method, attributes)
    }

    /// The credentials of `method` from `attributes`; a missing setting is an error naming it.
    fn build(&self, method: AuthMethod, a: Attributes) -> Result<Credentials, ClientError> {
        let missing = |what: &str, set: &str| {
            self.error(
                format!("auth type {method} needs {what}, which is not set"),
                format!("set {set}"),
            )
        };
        if method.is_azure() && !is_azure_host(self.host) {
            return Err(self.error(
                format!("auth type {method} gives a Microsoft Entra ID token, which is only sent to Azure Databricks hosts (*.azuredatabricks.net, *.databricks.azure.us, *.databricks.azure.cn), and {} is not one", self.host),
                "use an Azure Databricks workspace URL as host, or a Databricks method (pat, oauth-m2m, github-oidc, databricks-cli)",
            ));
        }
        let mut from = a.sources();
        let kind = match method {
            AuthMethod::Pat => {
                let (token, _) = a.token.ok_or_else(|| {
                    missing(
                        "a personal access token",
                        "token_env: <VAR> in the workspace's auth: block, or DATABRICKS_TOKEN with DATABRICKS_HOST",
                    )
                })?;
                CredentialKind::Token(token)
            }
            AuthMethod::OauthM2m => {
                let (client_id, _) = a.client_id.ok_or_else(|| {
                    missing(
                        "the service principal's client id",
                        "client_id: <application id> in the workspace's auth: block (or DATABRICKS_CLIENT_ID with DATABRICKS_HOST)",
                    )
                })?;
                let (secret, _) = a.client_secret.ok_or_else(|| {
                    self.error(
                        "a client id is set but no client secret: OAuth M2M needs both (and github-oidc, which needs no secret, runs only in GitHub Actions with `permissions: id-token: write`)",
                        "set client_secret_env: <VAR> in the workspace's auth: block and export that variable (or DATABRICKS_CLIENT_SECRET with DATABRICKS_HOST); in GitHub Actions, use type: github-oidc instead",
                    )
                })?;
                CredentialKind::ClientSecret { client_id, secret }
            }
            AuthMethod::GithubOidc => {
                let (client_id, _) = a.client_id.ok_or_else(|| {
                    missing(
                        "the service principal's client id",
                        "client_id: <application id> in the workspace's auth: block (the service principal whose federation policy trusts this repository)",
                    )
                })?;
                let request_url = (self.vars)("ACTIONS_ID_TOKEN_REQUEST_URL");
                let request_token = (self.vars)("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
                let (Some(request_url), Some(request_token)) = (request_url, request_token) else {
                    return Err(self.error(
                        "github-oidc needs GitHub Actions' ID token, and ACTIONS_ID_TOKEN_REQUEST_URL / ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set",
                        "run in GitHub Actions with `permissions: id-token: write` on the job; elsewhere use oauth-m2m or databricks-cli",
                    ));
                };
                if !is_https_or_loopback(&request_url) {
                    return Err(self.error(
                        "ACTIONS_ID_TOKEN_REQUEST_URL is not an https URL, so GitHub's request token would travel unprotected",
                        "leave ACTIONS_ID_TOKEN_REQUEST_URL as GitHub Actions sets it",
                    ));
                }
                from = format!("{from} + GitHub Actions ID token");
                CredentialKind::GithubOidc {
                    client_id,
                    audience: a.audience,
                    request_url,
                    request_token: Token::new(request_token),
                }
            }
            AuthMethod::AzureClientSecret => {
                let (tenant_id, _) = a.azure_tenant_id.ok_or_else(|| {
                    missing(
                        "the Entra ID tenant",
                        "tenant_id: <tenant id> in the workspace's auth: block, or ARM_TENANT_ID",
                    )
                })?;
                let (client_id, _) = a.azure_client_id.ok_or_else(|| {
                    missing("the service principal's client id", "client_id: <application id> in the workspace's auth: block, or ARM_CLIENT_ID")
                })?;
                let (secret, _) = a.azure_client_secret.ok_or_else(|| {
                    self.error(
                        "a client id is set but no client secret: azure-client-secret needs the tenant, the client id and its secret",
                        "set client_secret_env: <VAR> in the workspace's auth: block and export that variable (or ARM_CLIENT_SECRET); on an Azure VM or runner with a managed identity, use type: azure-msi",
                    )
                })?;
                CredentialKind::AzureClientSecret {
                    tenant_id,
                    client_id,
                    secret,
                    login_endpoint: a
                        .login_endpoint
                        .unwrap_or_else(|| AZURE_LOGIN_ENDPOINT.to_string()),
                }
            }
            AuthMethod::AzureMsi => {
                let endpoint = match (self.vars)("AZURE_POD_IDENTITY_AUTHORITY_HOST") {
                    Some(raw) => parse_origin(&raw).map_err(|_| {
                        self.error(
                            "AZURE_POD_IDENTITY_AUTHORITY_HOST is not an http(s) origin",
                            "unset it to use the instance metadata service at http://169.254.169.254",
                        )
                    })?,
                    None => AZURE_IMDS_ENDPOINT.to_string(),
                };
                if from.is_empty() {
                    from = "managed identity".to_string();
                }
                CredentialKind::AzureMsi {
                    client_id: a.azure_client_id.map(|(c, _)| c),
                    endpoint,
                }
            }
            AuthMethod::AzureCli => {
                from = "az login".to_string();
                CredentialKind::AzureCli {
                    tenant_id: a.azure_tenant_id.map(|(t, _)| t),
                }
            }
            AuthMethod::DatabricksCli => {
                from = match &a.cli_profile {
                    Some(p) => format!("databricks auth login, profile {p}"),
                    None => "databricks auth login".to_string(),
                };
                CredentialKind::DatabricksCli {
                    profile: a.cli_profile,
                }
            }
        };
        Ok(Credentials { method, from, kind })
    }

    /// The settings of `profile` in the profile file, if its host is this workspace's.
    fn profile(&self, profile: &str, explicit: bool) -> Result<Attributes, ProfileError> {
        let credentials_error = |reason: String| {
            self.error(reason, "run `databricks configure --profile <name>` (or `databricks auth login --profile <name>`) or add the section to ~/.databrickscfg (DATABRICKS_CONFIG_FILE overrides the path)")
        };
        let missing = |reason: String| ProfileError::Missing(Box::new(credentials_error(reason)));
        let path = self.config_file.clone().ok_or_else(|| {
            missing("HOME is not set, so ~/.databrickscfg cannot be found".into())
        })?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| missing(format!("cannot read {}: {e}", path.display())))?;
        let sections = parse_ini(&text);
        let wanted = if !explicit && profile == "DEFAULT" {
            sections
                .iter()
                .find(|(name, _)| name == "__settings__")
                .and_then(|(_, keys)| {
                    keys.iter()
                        .find(|(k, _)| k == "default_profile")
                        .map(|(_, v)| v.clone())
                })
                .unwrap_or_else(|| "DEFAULT".to_string())
        } else {
            profile.to_string()
        };
        let Some((_, keys)) = sections.iter().find(|(name, _)| *name == wanted) else {
            return Err(missing(format!(
                "profile [{wanted}] is not in {}",
                path.display()
            )));
        };
        let get = |key: &str| {
            keys.iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        let credentials = format!("profile [{wanted}] of {}", path.display());
        let from = || credentials.clone();
        let attributes = Attributes {
            auth_type: get("auth_type").map(|t| (t, from())),
            token: get("token").map(|t| (Token::new(t), from())),
            client_id: get("client_id").map(|c| (c, from())),
            client_secret: get("client_secret").map(|s| (Token::new(s), from())),
            azure_client_id: get("azure_client_id").map(|c| (c, from())),
            azure_client_secret: get("azure_client_secret").map(|s| (Token::new(s), from())),
            azure_tenant_id: get("azure_tenant_id").map(|t| (t, from())),
            azure_use_msi: get("azure_use_msi").filter(|v| is_true(v)).map(|_| from()),
            login_endpoint: get("azure_environment").and_then(|e| azure_environment(&e)),
            audience: get("token_audience"),
            cli_profile: Some(wanted.clone()),
        };
        if !attributes.any() {
            return Err(missing(format!(
                "{credentials} has no credentials (token, client_id/client_secret, azure_* or auth_type)"
            )));
        }
        // The profile's host is quoted only once parsed into an origin: the file is not
        // configuration, and nothing else of it reaches a message.
        let bound = get("host").ok_or_else(|| {
            ProfileError::Refused(Box::new(credentials_error(format!(
                "{credentials} has no host, so its credentials name no host they may be sent to: add host = <workspace URL> to the profile"
            ))))
        })?;
        let bound = parse_origin(&bound).map_err(|_| {
            ProfileError::Refused(Box::new(credentials_error(format!(
                "the host of {credentials} is not a workspace URL (https://<host>, no user, path or query)"
            ))))
        })?;
        self.bound_to(&credentials, &bound)
            .map_err(|e| ProfileError::Refused(Box::new(e)))?;
        Ok(attributes)
    }
}

/// Why a profile gave no credentials.
enum ProfileError {
    /// No such file, profile or credential.
    Missing(Box<ClientError>),
    /// The profile exists but may not be used for this host.
    Refused(Box<ClientError>),
}

impl ProfileError {
    fn into_client(self) -> ClientError {
        match self {
            ProfileError::Missing(e) | ProfileError::Refused(e) => *e,
        }
    }
}

/// `true`, `1` or `yes` (any case), as the SDKs read boolean variables.
fn is_true(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes"
    )
}

/// The login endpoint of Azure cloud `name` (`public`, `usgovernment`, `china`; the SDKs'
/// `PUBLIC` / `USGOVERNMENT` / `CHINA` too).
fn azure_environment(name: &str) -> Option<String> {
    let name = name.trim().to_ascii_lowercase();
    let name = name.strip_suffix("cloud").unwrap_or(&name);
    AZURE_ENVIRONMENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, url)| (*url).to_string())
}

/// Whether `origin` is an Azure Databricks workspace (or loopback, where tests run).
pub fn is_azure_host(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.to_ascii_lowercase();
            [
                ".azuredatabricks.net",
                ".databricks.azure.us",
                ".databricks.azure.cn",
            ]
            .iter()
            .any(|suffix| domain.ends_with(suffix))
                || domain == "localhost"
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether `url` is https, or plain http to a loopback address (where tests run): the only
/// URLs a credential is sent to.
pub fn is_https_or_loopback(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// Whether an executable called `name` is on `PATH`.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let candidate = dir.join(name);
            candidate.is_file() && is_executable(&candidate)
        })
    })
}

#[cfg(unix)]
fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &std::path::Path) -> bool {
    true
}

fn config_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DATABRICKS_CONFIG_FILE") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".databrickscfg"))
}

/// Sections of an INI file, each with its `key = value` pairs, in order.
fn parse_ini(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push((name.trim().to_string(), Vec::new()));
        } else if let Some((key, value)) = line.split_once('=')
            && let Some((_, keys)) = sections.last_mut()
        {
            keys.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn tokens_never_print() {
        let token = Token::new("dapi-secret");
        assert_eq!(format!("{token:?} {token}"), "Token(***) ***");
    }

    #[test]
    fn ini_sections_and_keys() {
        let sections = parse_ini(
            "[DEFAULT]\nhost = https://a\n; comment\n[prod-east]\nhost=https://b\ntoken = x=y\n",
        );
        assert_eq!(sections[1].0, "prod-east");
        assert_eq!(sections[1].1[1], ("token".to_string(), "x=y".to_string()));
    }

    const HOST: &str = "https://adb-1.2.azuredatabricks.net";

    /// Resolves `auth` with exactly `vars` set, the profile file `profiles` and the given
    /// executables on PATH.
    fn resolve_with(
        auth: &AuthSettings,
        host: &str,
        vars: &[(&str, &str)],
        profiles: Option<&str>,
        path: &[&str],
    ) -> Result<Credentials, ClientError> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("databrickscfg");
        if let Some(text) = profiles {
            std::fs::write(&file, text).unwrap();
        }
        let lookup = move |name: &str| vars.get(name).cloned();
        let on_path = |name: &str| path.contains(&name);
        Resolver {
            workspace: "primary",
            host,
            vars: &lookup,
            config_file: Some(file),
            on_path: &on_path,
        }
        .resolve(auth)
    }

    fn block(method: AuthMethod) -> AuthBlock {
        AuthBlock {
            method: Some(method),
            ..AuthBlock::default()
        }
    }

    fn message(e: ClientError) -> String {
        match e {
            ClientError::Credentials { reason, help, .. } => format!("{reason} | {help}"),
            other => other.to_string(),
        }
    }

    #[test]
    fn m2m_from_a_block_reads_the_named_secret() {
        let spec = AuthBlock {
            client_id: Some(SettingSource::Literal("sp-1".into())),
            client_secret_env: Some("SP_SECRET".into()),
            ..block(AuthMethod::OauthM2m)
        };
        let c = resolve_with(
            &AuthSettings::Block(spec),
            HOST,
            &[("SP_SECRET", "s3cret")],
            None,
            &[],
        )
        .unwrap();
        assert_eq!(c.describe(), "oauth-m2m (auth: block)");
        match c.kind {
            CredentialKind::ClientSecret { client_id, secret } => {
                assert_eq!(client_id, "sp-1");
                assert_eq!(secret.expose(), "s3cret");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn half_configured_m2m_names_what_to_set() {
        let spec = AuthBlock {
            client_id: Some(SettingSource::Literal("sp-1".into())),
            ..block(AuthMethod::OauthM2m)
        };
        let e =
            message(resolve_with(&AuthSettings::Block(spec), HOST, &[], None, &[]).unwrap_err());
        assert!(
            e.contains("no client secret") && e.contains("client_secret_env"),
            "{e}"
        );
        let unset = AuthBlock {
            client_id: Some(SettingSource::Literal("sp-1".into())),
            client_secret_env: Some("SP_SECRET".into()),
            ..block(AuthMethod::OauthM2m)
        };
        let e =
            message(resolve_with(&AuthSettings::Block(unset), HOST, &[], None, &[]).unwrap_err());
        assert!(
            e.contains("SP_SECRET (client_secret_env) is not set"),
            "{e}"
        );
    }

    #[test]
    fn a_client_id_alone_is_github_oidc_only_in_github_actions() {
        let vars = [("DATABRICKS_HOST", HOST), ("DATABRICKS_CLIENT_ID", "sp-1")];
        let e = message(resolve_with(&AuthSettings::Default, HOST, &vars, None, &[]).unwrap_err());
        assert!(e.contains("no client secret"), "{e}");
        let gha = [
            ("DATABRICKS_HOST", HOST),
            ("DATABRICKS_CLIENT_ID", "sp-1"),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "https://gh.example/token?x=1",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "req"),
        ];
        let c = resolve_with(&AuthSettings::Default, HOST, &gha, None, &[]).unwrap();
        assert_eq!(c.method, AuthMethod::GithubOidc);
    }

    #[test]
    fn databricks_variables_go_only_to_their_host() {
        let vars = [
            ("DATABRICKS_HOST", "https://other.cloud.databricks.com"),
            ("DATABRICKS_CLIENT_ID", "sp-1"),
            ("DATABRICKS_CLIENT_SECRET", "s"),
        ];
        let e = resolve_with(&AuthSettings::Default, HOST, &vars, None, &[]).unwrap_err();
        assert!(matches!(e, ClientError::HostMismatch { .. }), "{e}");
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let vars = [
            ("DATABRICKS_HOST", HOST),
            ("DATABRICKS_TOKEN", "t"),
            ("DATABRICKS_CLIENT_ID", "sp-1"),
            ("DATABRICKS_CLIENT_SECRET", "s"),
        ];
        let e = message(resolve_with(&AuthSettings::Default, HOST, &vars, None, &[]).unwrap_err());
        assert!(e.contains("more than one"), "{e}");
        let forced = [
            ("DATABRICKS_AUTH_TYPE", "oauth-m2m"),
            vars[0],
            vars[1],
            vars[2],
            vars[3],
        ];
        let c = resolve_with(&AuthSettings::Default, HOST, &forced, None, &[]).unwrap();
        assert_eq!(c.method, AuthMethod::OauthM2m);
    }

    #[test]
    fn profiles_carry_any_method() {
        let profiles = format!(
            "[prod]\nhost = {HOST}\nauth_type = oauth-m2m\nclient_id = sp-9\nclient_secret = s\n"
        );
        let c = resolve_with(
            &AuthSettings::Profile("prod".into()),
            HOST,
            &[],
            Some(&profiles),
            &[],
        )
        .unwrap();
        assert_eq!(c.method, AuthMethod::OauthM2m);
        assert!(c.from.starts_with("profile [prod]"), "{}", c.from);
        let azure = format!("[az]\nhost = {HOST}\nauth_type = azure-cli\n");
        let c = resolve_with(
            &AuthSettings::Profile("az".into()),
            HOST,
            &[],
            Some(&azure),
            &[],
        )
        .unwrap();
        assert_eq!(c.method, AuthMethod::AzureCli);
    }

    #[test]
    fn azure_tokens_go_only_to_azure_hosts() {
        let c = resolve_with(
            &AuthSettings::Block(block(AuthMethod::AzureCli)),
            HOST,
            &[],
            None,
            &[],
        );
        assert!(c.is_ok());
        let e = message(
            resolve_with(
                &AuthSettings::Block(block(AuthMethod::AzureCli)),
                "https://dbc-1.cloud.databricks.com",
                &[],
                None,
                &[],
            )
            .unwrap_err(),
        );
        assert!(e.contains("only sent to Azure Databricks hosts"), "{e}");
        assert!(is_azure_host("http://127.0.0.1:8001"));
        assert!(!is_azure_host("https://azuredatabricks.net.evil.example"));
    }

    #[test]
    fn nothing_configured_falls_back_to_a_logged_in_cli() {
        let c = resolve_with(&AuthSettings::Default, HOST, &[], None, &["databricks"]).unwrap();
        assert_eq!(c.method, AuthMethod::DatabricksCli);
        let c = resolve_with(&AuthSettings::Default, HOST, &[], None, &["az"]).unwrap();
        assert_eq!(c.method, AuthMethod::AzureCli);
        let e = message(resolve_with(&AuthSettings::Default, HOST, &[], None, &[]).unwrap_err());
        assert!(e.contains("no credentials") && e.contains("auth:"), "{e}");
    }

    #[test]
    fn msi_and_azure_secret_from_arm_variables() {
        let c = resolve_with(
            &AuthSettings::Default,
            HOST,
            &[("ARM_USE_MSI", "true"), ("ARM_CLIENT_ID", "mi-1")],
            None,
            &[],
        )
        .unwrap();
        assert_eq!(c.method, AuthMethod::AzureMsi);
        let vars = [
            ("ARM_CLIENT_ID", "app"),
            ("ARM_CLIENT_SECRET", "s"),
            ("ARM_TENANT_ID", "t"),
            ("ARM_ENVIRONMENT", "usgovernment"),
        ];
        let c = resolve_with(&AuthSettings::Default, HOST, &vars, None, &[]).unwrap();
        match c.kind {
            CredentialKind::AzureClientSecret { login_endpoint, .. } => {
                assert_eq!(login_endpoint, "https://login.microsoftonline.us")
            }
            other => panic!("{other:?}"),
        }
        let e =
            message(resolve_with(&AuthSettings::Default, HOST, &vars[..2], None, &[]).unwrap_err());
        assert!(e.contains("tenant"), "{e}");
    }
}
