//! Obtaining and refreshing a workspace's bearer token: the OAuth flows (M2M, GitHub OIDC token
//! exchange, Entra ID client credentials, managed identity) over HTTP, and logged-in CLIs
//! (`az`, `databricks`) as subprocesses. A token is refreshed ahead of its expiry, and once more
//! when the workspace refuses it; concurrent requests share one refresh.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::ClientError;
use super::auth::{AZURE_DATABRICKS_RESOURCE, AuthMethod, CredentialKind, Credentials, Token};

/// The most of an authentication answer read (no token response comes near it).
const MAX_AUTH_RESPONSE_BYTES: usize = 1024 * 1024;

/// How long a CLI may take to hand out a token.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// The lifetime assumed for a token whose expiry the issuer did not say (refresh often enough).
const UNKNOWN_LIFETIME: Duration = Duration::from_secs(300);

/// Where a workspace's tokens come from; cheap to share between the client's requests.
pub struct TokenSource {
    workspace: String,
    host: String,
    credentials: Credentials,
    http: reqwest::Client,
    cached: std::sync::Mutex<Option<Cached>>,
    /// Held while fetching, so concurrent requests wait for one refresh instead of each fetching.
    refreshing: tokio::sync::Mutex<()>,
    discovery: tokio::sync::OnceCell<Discovery>,
    fetches: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
struct Cached {
    token: Token,
    /// When to fetch a new one (None: never, a personal access token).
    refresh_at: Option<Instant>,
    /// When it stops working (None: unknown or never).
    expires_at: Option<Instant>,
}

/// The workspace's OAuth endpoints.
#[derive(Debug, Clone)]
struct Discovery {
    token_endpoint: String,
    default_audience: Option<String>,
}

impl TokenSource {
    /// A source for `workspace` at `host` (its normalised origin) with `credentials`.
    pub fn new(
        workspace: &str,
        host: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .timeout(timeout.min(Duration::from_secs(60)))
            // A redirect would carry a client secret or an ID token to an origin nobody checked.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport {
                workspace: workspace.into(),
                method: String::new(),
                path: String::new(),
                reason: e.to_string(),
            })?;
        let cached = match &credentials.kind {
            CredentialKind::Token(token) => Some(Cached {
                token: token.clone(),
                refresh_at: None,
                expires_at: None,
            }),
            _ => None,
        };
        Ok(TokenSource {
            workspace: workspace.into(),
            host: host.into(),
            credentials,
            http,
            cached: std::sync::Mutex::new(cached),
            refreshing: tokio::sync::Mutex::new(()),
            discovery: tokio::sync::OnceCell::new(),
            fetches: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// A source that always gives `token` (a personal access token).
    pub fn fixed(workspace: &str, token: Token) -> Self {
        TokenSource {
            workspace: workspace.into(),
            host: String::new(),
            credentials: Credentials {
                method: AuthMethod::Pat,
                from: "given".into(),
                kind: CredentialKind::Token(token.clone()),
            },
            http: reqwest::Client::new(),
            cached: std::sync::Mutex::new(Some(Cached {
                token,
                refresh_at: None,
                expires_at: None,
            })),
            refreshing: tokio::sync::Mutex::new(()),
            discovery: tokio::sync::OnceCell::new(),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The method and where its settings came from (`oauth-m2m (auth: block)`).
    pub fn describe(&self) -> String {
        self.credentials.describe()
    }

    /// Whether a refused token can be replaced by fetching another.
    pub fn refreshable(&self) -> bool {
        !matches!(self.credentials.kind, CredentialKind::Token(_))
    }

    /// How many tokens were fetched so far.
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn cached(&self) -> Option<Cached> {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn fresh(&self) -> Option<Token> {
        self.cached()
            .filter(|c| c.refresh_at.is_none_or(|at| Instant::now() < at))
            .map(|c| c.token)
    }

    /// The current token, fetching a new one when there is none or it is about to expire.
    pub async fn token(&self) -> Result<Token, ClientError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _refreshing = self.refreshing.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        match self.fetch().await {
            Ok((token, lifetime)) => {
                let now = Instant::now();
                let lifetime = lifetime.unwrap_or(UNKNOWN_LIFETIME);
                let margin = Duration::from_secs(60).min(lifetime / 4);
                tracing::debug!(workspace = %self.workspace, auth = %self.describe(), lifetime = ?lifetime, "obtained a token");
                *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
                    token: token.clone(),
                    refresh_at: Some(now + lifetime - margin),
                    expires_at: Some(now + lifetime),
                });
                Ok(token)
            }
            // A refresh ahead of expiry that failed: the current token still works for now.
            Err(e) => match self.cached() {
                Some(c) if c.expires_at.is_some_and(|at| Instant::now() < at) => {
                    tracing::warn!(workspace = %self.workspace, error = %e, "refreshing the token failed; using the current one until it expires");
                    Ok(c.token)
                }
                _ => Err(e),
            },
        }
    }

    /// Forgets `refused` (the workspace answered it with 401), so the next request fetches a
    /// new token. A token fetched meanwhile by another request is kept.
    pub fn invalidate(&self, refused: &Token) {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if self.refreshable() && cached.as_ref().is_some_and(|c| &c.token == refused) {
            *cached = None;
        }
    }

    fn error(&self, reason: impl Into<String>, help: impl Into<String>) -> ClientError {
        ClientError::Credentials {
            workspace: self.workspace.clone(),
            reason: reason.into(),
            help: help.into(),
        }
    }

    /// An authentication service that is down or overloaded (after retries).
    fn unreachable(&self, service: &str, reason: &str) -> ClientError {
        ClientError::Transport {
            workspace: self.workspace.clone(),
            method: "authenticate".into(),
            path: service.into(),
            reason: reason.into(),
        }
    }

    /// The secrets this source holds, to redact from anything a server or CLI echoes.
    fn secrets(&self) -> Vec<&str> {
        match &self.credentials.kind {
            CredentialKind::Token(t) => vec![t.expose()],
            CredentialKind::ClientSecret { secret, .. }
            | CredentialKind::AzureClientSecret { secret, .. } => vec![secret.expose()],
            CredentialKind::GithubOidc { request_token, .. } => vec![request_token.expose()],
            _ => Vec::new(),
        }
    }

    /// A new token and its lifetime.
    async fn fetch(&self) -> Result<(Token, Option<Duration>), ClientError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match &self.credentials.kind {
            CredentialKind::Token(token) => Ok((token.clone(), None)),
            CredentialKind::ClientSecret { client_id, secret } => {
                let discovery = self.discover().await?;
                let body = form(&[("grant_type", "client_credentials"), ("scope", "all-apis")]);
                let request = self
                    .http
                    .post(&discovery.token_endpoint)
                    .basic_auth(client_id, Some(secret.expose()));
                self.token_request(request, body, &discovery.token_endpoint, "the workspace's token endpoint", "check the service principal's client id and that its OAuth secret is current (Settings → Identity and access → Service principals → Secrets)")
                    .await
            }
            CredentialKind::GithubOidc {
                client_id,
                audience,
                request_url,
                request_token,
            } => {
                let discovery = self.discover().await?;
                let audience = audience
                    .clone()
                    .or_else(|| discovery.default_audience.clone())
                    .unwrap_or_else(|| discovery.token_endpoint.clone());
                let id_token = self
                    .github_id_token(request_url, request_token, &audience)
                    .await?;
                let body = form(&[
                    (
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    ("subject_token", id_token.expose()),
                    ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                    ("client_id", client_id),
                    ("scope", "all-apis"),
                ]);
                let request = self.http.post(&discovery.token_endpoint);
                self.token_request(request, body, &discovery.token_endpoint, "the workspace's token endpoint (token exchange)", format!("check the federation policy of service principal {client_id}: its issuer must be https://token.actions.githubusercontent.com, its audience {audience}, and its subject this workflow's (e.g. repo:<org>/<repo>:environment:<name>)"))
                    .await
            }
            CredentialKind::AzureClientSecret {
                tenant_id,
                client_id,
                secret,
                login_endpoint,
            } => {
                let url = format!(
                    "{login_endpoint}/{}/oauth2/v2.0/token",
                    url::form_urlencoded::byte_serialize(tenant_id.as_bytes()).collect::<String>()
                );
                let scope = format!("{AZURE_DATABRICKS_RESOURCE}/.default");
                let body = form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret.expose()),
                    ("scope", &scope),
                ]);
                self.token_request(self.http.post(&url), body, &url, "Microsoft Entra ID", "check the tenant, the application (client) id and that its client secret has not expired (Entra ID → App registrations → Certificates & secrets)")
                    .await
            }
            CredentialKind::AzureMsi {
                client_id,
                endpoint,
            } => {
                let mut query = vec![
                    ("api-version", "2018-02-01"),
                    ("resource", AZURE_DATABRICKS_RESOURCE),
                ];
                if let Some(id) = client_id {
                    query.push(("client_id", id));
                }
                let url = format!("{endpoint}/metadata/identity/oauth2/token");
                let request = self.http.get(&url).query(&query).header("Metadata", "true");
                self.token_request(request, String::new(), &url, "the Azure instance metadata service", "run on an Azure VM, scale set or runner with a managed identity that is a user of the workspace (a user-assigned identity needs client_id)")
                    .await
            }
            CredentialKind::AzureCli { tenant_id } => {
                let mut args = vec![
                    "account",
                    "get-access-token",
                    "--resource",
                    AZURE_DATABRICKS_RESOURCE,
                    "--output",
                    "json",
                ];
                if let Some(tenant) = tenant_id {
                    args.extend(["--tenant", tenant]);
                }
                let out = self
                    .run_cli("az", &args, "install the Azure CLI and run `az login` (in CI: the azure/login action), or choose another auth type")
                    .await?;
                let token = out
                    .get("accessToken")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        self.error(
                            "`az account get-access-token` printed no accessToken",
                            "update the Azure CLI and run `az login` again",
                        )
                    })?;
                let lifetime = out
                    .get("expires_on")
                    .and_then(epoch_seconds)
                    .map(until_epoch);
                Ok((Token::new(token), lifetime))
            }
            CredentialKind::DatabricksCli { profile } => {
                let mut args = vec!["auth", "token"];
                match profile {
                    Some(p) => args.extend(["--profile", p]),
                    None => args.extend(["--host", &self.host]),
                }
                let help = match profile {
                    Some(p) => format!("run `databricks auth login --profile {p}`"),
                    None => format!("run `databricks auth login --host {}`", self.host),
                };
                let out = self.run_cli("databricks", &args, &help).await?;
                let token = out
                    .get("access_token")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| {
                        self.error(
                            "`databricks auth token` printed no access_token",
                            help.clone(),
                        )
                    })?;
                let lifetime = out
                    .get("expiry")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339)
                    .map(until_epoch);
                Ok((Token::new(token), lifetime))
            }
        }
    }

    /// The token endpoint, from the workspace's host metadata or its OIDC discovery document;
    /// it must be on the workspace's own origin.
    async fn discover(&self) -> Result<Discovery, ClientError> {
        self.discovery
            .get_or_try_init(|| async {
                let host_metadata = self
                    .get_json(&format!("{}/.well-known/databricks-config", self.host))
                    .await
                    .ok();
                let oidc_endpoint = host_metadata
                    .as_ref()
                    .and_then(|m| m.get("oidc_endpoint"))
                    .and_then(Value::as_str)
                    .map(|e| e.trim_end_matches('/').to_string())
                    .filter(|e| self.same_origin(e))
                    .unwrap_or_else(|| format!("{}/oidc", self.host));
                let default_audience = host_metadata
                    .as_ref()
                    .and_then(|m| m.get("token_federation_default_oidc_audiences"))
                    .and_then(|a| a.get(0))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let url = format!("{oidc_endpoint}/.well-known/oauth-authorization-server");
                let document = self.get_json(&url).await?;
                let token_endpoint = document
                    .get("token_endpoint")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.error(
                        format!("the workspace's OIDC discovery document ({url}) names no token_endpoint"),
                        "check that the host is a Databricks workspace with OAuth enabled",
                    ))?;
                if !self.same_origin(token_endpoint) {
                    return Err(self.error(
                        "the workspace's OIDC discovery names a token endpoint on another host; tandem sends credentials only to the workspace's own origin",
                        "check that the host in the environment file is the workspace's own URL",
                    ));
                }
                Ok(Discovery {
                    token_endpoint: token_endpoint.to_string(),
                    default_audience,
                })
            })
            .await
            .cloned()
    }

    fn same_origin(&self, url: &str) -> bool {
        url::Url::parse(url)
            .ok()
            .zip(url::Url::parse(&self.host).ok())
            .is_some_and(|(a, b)| a.origin() == b.origin())
    }

    /// GitHub Actions' ID token for `audience`.
    async fn github_id_token(
        &self,
        request_url: &str,
        request_token: &Token,
        audience: &str,
    ) -> Result<Token, ClientError> {
        let mut url = url::Url::parse(request_url).map_err(|_| {
            self.error(
                "ACTIONS_ID_TOKEN_REQUEST_URL is not a URL",
                "leave ACTIONS_ID_TOKEN_REQUEST_URL as GitHub Actions sets it",
            )
        })?;
        url.query_pairs_mut().append_pair("audience", audience);
        let request = self
            .http
            .get(url.as_str())
            .header("Authorization", request_token.bearer());
        let (status, body) = self
            .send(request, "GitHub Actions' ID token service")
            .await?;
        let value = serde_json::from_slice::<Value>(&body).ok();
        match value.as_ref().and_then(|v| v.get("value")).and_then(Value::as_str) {
            Some(token) if status.is_success() && !token.is_empty() => Ok(Token::new(token)),
            _ => Err(self.error(
                format!(
                    "GitHub Actions' ID token service answered {}{}",
                    status.as_u16(),
                    self.quote(&body)
                ),
                "give the job `permissions: id-token: write` (a pull request from a fork gets no ID token)",
            )),
        }
    }

    /// POSTs (or GETs, for an empty body) a token request and reads `access_token` and its lifetime.
    async fn token_request(
        &self,
        request: reqwest::RequestBuilder,
        body: String,
        url: &str,
        service: &str,
        help: impl Into<String>,
    ) -> Result<(Token, Option<Duration>), ClientError> {
        let request = if body.is_empty() {
            request
        } else {
            request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body)
        };
        let (status, bytes) = self.send(request, service).await?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(self.unreachable(service, &format!("answered {}", status.as_u16())));
        }
        let value = serde_json::from_slice::<Value>(&bytes).ok();
        let token = value
            .as_ref()
            .and_then(|v| v.get("access_token"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && !t.chars().any(char::is_whitespace));
        match token {
            Some(token) if status.is_success() => {
                let v = value.as_ref();
                let lifetime = v
                    .and_then(|v| v.get("expires_in"))
                    .and_then(epoch_seconds)
                    .map(|s| Duration::from_secs(s.max(0) as u64))
                    .or_else(|| {
                        v.and_then(|v| v.get("expires_on"))
                            .and_then(epoch_seconds)
                            .map(until_epoch)
                    });
                Ok((Token::new(token), lifetime))
            }
            _ if status.is_success() => Err(self.error(
                format!("{service} ({url}) answered {} with something that is not a token (no access_token in a JSON object)", status.as_u16()),
                "check that the endpoint is the right one; nothing was sent to the workspace",
            )),
            _ => Err(self.error(
                format!("{service} ({url}) refused: {}{}", status.as_u16(), self.oauth_error(value.as_ref(), &bytes)),
                help,
            )),
        }
    }

    /// `: invalid_client: Client authentication failed` from an OAuth error answer.
    fn oauth_error(&self, value: Option<&Value>, body: &[u8]) -> String {
        let field = |name: &str| value.and_then(|v| v.get(name)).and_then(Value::as_str);
        match (field("error"), field("error_description")) {
            (Some(e), Some(d)) => format!(": {}", self.clean(&format!("{e}: {d}"))),
            (Some(e), None) => format!(": {}", self.clean(e)),
            _ => self.quote(body),
        }
    }

    /// `: <the start of the body>`, cleaned, or nothing for an empty body.
    fn quote(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let text = self.clean(&text);
        if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        }
    }

    /// Server or CLI text made safe to show: secrets redacted, one line, at most 300 characters.
    fn clean(&self, text: &str) -> String {
        let mut text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        for secret in self.secrets() {
            if !secret.is_empty() {
                text = text.replace(secret, "***");
            }
        }
        let text = text.trim();
        match text.char_indices().nth(300) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text.to_string(),
        }
    }

    /// A GET that must answer JSON.
    async fn get_json(&self, url: &str) -> Result<Value, ClientError> {
        let (status, body) = self
            .send(self.http.get(url), "the workspace's OIDC discovery")
            .await?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(self.unreachable(
                "the workspace's OIDC discovery",
                &format!("answered {}", status.as_u16()),
            ));
        }
        if !status.is_success() {
            return Err(self.error(
                format!(
                    "the workspace's OIDC discovery ({url}) answered {}",
                    status.as_u16()
                ),
                "check that the host is a Databricks workspace with OAuth enabled",
            ));
        }
        serde_json::from_slice(&body).map_err(|_| {
            self.error(
                format!(
                    "the workspace's OIDC discovery ({url}) answered something that is not JSON"
                ),
                "check that the host is a Databricks workspace (no proxy or login page in between)",
            )
        })
    }

    /// Sends with a few retries on transport errors, 429 and 5xx; the body capped.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        service: &str,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), ClientError> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= 3;
            let Some(this) = request.try_clone() else {
                return Err(self.error(
                    "an authentication request could not be prepared",
                    "report this as a bug",
                ));
            };
            match this.send().await {
                Ok(response) => {
                    let status = response.status();
                    if status.is_redirection() {
                        return Err(self.error(
                            format!("{service} answered {} (a redirect); tandem follows no redirects with credentials", status.as_u16()),
                            "check the endpoint's URL",
                        ));
                    }
                    if (status.as_u16() == 429 || status.is_server_error()) && !last {
                        tokio::time::sleep(delay).await;
                        delay *= 4;
                        continue;
                    }
                    let body = read_capped(response).await.map_err(|reason| {
                        self.error(
                            format!("{service}: {reason}"),
                            "check the endpoint and the network",
                        )
                    })?;
                    return Ok((status, body));
                }
                Err(_) if !last => {
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(e) => {
                    let reason = if e.is_timeout() {
                        "timed out"
                    } else if e.is_connect() {
                        "connection failed"
                    } else {
                        "connection error"
                    };
                    // Down, not misconfigured: a failover goes on without an unreachable workspace.
                    return Err(self.unreachable(service, reason));
                }
            }
        }
    }

    /// Runs a CLI that prints a token as JSON.
    async fn run_cli(
        &self,
        program: &str,
        args: &[&str],
        help: &str,
    ) -> Result<Value, ClientError> {
        let shown = format!(
            "{program} {}",
            args.iter().take(2).copied().collect::<Vec<_>>().join(" ")
        );
        let child = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.error(
                    format!("`{program}` is not installed (not found on PATH)"),
                    help,
                ));
            }
            Err(e) => {
                return Err(self.error(format!("`{program}` could not be started: {e}"), help));
            }
        };
        let output = match tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return Err(self.error(format!("`{shown}` failed: {e}"), help)),
            Err(_) => {
                return Err(self.error(
                    format!("`{shown}` gave no token within {} s", CLI_TIMEOUT.as_secs()),
                    help,
                ));
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let first = stderr
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("no message");
            return Err(self.error(
                format!(
                    "`{shown}` failed ({}): {}",
                    output.status,
                    self.clean(first)
                ),
                help,
            ));
        }
        if output.stdout.len() > MAX_AUTH_RESPONSE_BYTES {
            return Err(self.error(format!("`{shown}` printed more than a token"), help));
        }
        serde_json::from_slice(&output.stdout).map_err(|_| {
            self.error(
                format!("`{shown}` printed something that is not JSON"),
                format!("{help}; check that `{program}` is the real CLI and up to date"),
            )
        })
    }
}

/// `application/x-www-form-urlencoded` text of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Reads at most [`MAX_AUTH_RESPONSE_BYTES`] of a body.
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|_| "the answer broke off".to_string())?
    {
        if body.len() + chunk.len() > MAX_AUTH_RESPONSE_BYTES {
            return Err("the answer is larger than 1 MiB, far more than a token".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A number of seconds given as a JSON number or a decimal string.
fn epoch_seconds(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The time from now until `epoch` (Unix seconds); zero if it passed.
fn until_epoch(epoch: i64) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    Duration::from_secs((epoch - now).max(0) as u64)
}

/// Unix seconds of an RFC 3339 time (`2026-12-03T22:00:00.123+01:00`, `…Z`).
fn parse_rfc3339(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let offset_at = rest
        .rfind(['+', '-', 'Z', 'z'])
        .filter(|&i| i >= 8)
        .unwrap_or(rest.len());
    let (time, zone) = rest.split_at(offset_at);
    let time = time.split('.').next()?;
    let mut t = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    let offset = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':').unwrap_or((&zone[1..], "0"));
            sign * (h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60)
        }
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-12-03T22:00:00Z"), Some(1_796_335_200));
        assert_eq!(
            parse_rfc3339("2026-12-03T23:00:00.123456+01:00"),
            Some(1_796_335_200)
        );
        assert_eq!(
            parse_rfc3339("2026-12-03T21:30:00-00:30"),
            Some(1_796_335_200)
        );
        assert_eq!(parse_rfc3339("not a time"), None);
    }

    #[test]
    fn seconds_as_numbers_or_text() {
        assert_eq!(epoch_seconds(&serde_json::json!(3600)), Some(3600));
        assert_eq!(epoch_seconds(&serde_json::json!("3599")), Some(3599));
        assert_eq!(epoch_seconds(&serde_json::json!(null)), None);
    }
}
