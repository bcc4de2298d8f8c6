//! OAuth as a Databricks workspace speaks it: host metadata (`/.well-known/databricks-config`),
//! the OIDC discovery document, and the token endpoint (`POST /oidc/v1/token`) with the
//! client-credentials grant (OAuth M2M) and RFC 8693 token exchange (workload identity
//! federation, e.g. GitHub Actions OIDC). It also accepts Entra ID access tokens from trusted
//! test issuers as bearer tokens, as an Azure Databricks workspace does.
//!
//! The OAuth clients and trusted issuers come from a YAML file (`--oauth-clients FILE`); keys are
//! shared HS256 test keys. Issued tokens are random and held in memory (only their SHA-256), so a
//! restarted emulator forgets them, as a client that re-authenticates after a 403 copes with.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use super::clusters::Cloud;
use super::jwt::{self, Claims};
use super::principals::{Principals, ServicePrincipalEntry};
use super::request::{self, form_urlencoded_pairs};
use super::{AppState, EmulatorError, same_secret};

/// The application id of the Azure Databricks resource: the audience of Entra ID tokens for it.
pub const AZURE_DATABRICKS_RESOURCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";
/// The account id the host metadata reports when the oauth file names none.
pub const DEFAULT_ACCOUNT_ID: &str = "00000000-0000-4000-8000-000000000000";
/// The workspace id the host metadata reports when the oauth file names none.
pub const DEFAULT_WORKSPACE_ID: &str = "1000000000000001";
/// How long issued tokens live unless `--token-ttl` says otherwise.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const SCOPE: &str = "all-apis";
/// Past this many issued tokens, expired ones are forgotten (they then get the unknown-token 403
/// instead of the expired-token 401); below it they are kept so a late caller learns why.
const ISSUED_SOFT_LIMIT: usize = 100_000;

/// A secret from the oauth file (a client secret, an issuer key): its `Debug` form hides it, so
/// no log or error message can show it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret's bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

/// The oauth file (`--oauth-clients FILE`):
///
/// ```yaml
/// account_id: 7f1c0c9e-…            # optional (default 00000000-0000-4000-8000-000000000000)
/// workspace_id: "1234567890"         # optional (default 1000000000000001)
/// clients:                           # OAuth clients = service principals
///   - client_id: 0b6f7c4e-…          # the service principal's application id
///     client_secret: m2m-secret      # optional: enables client_credentials
///     user_name: 0b6f7c4e-…          # optional: who its tokens act as (default client_id)
///     federation_policies:           # optional: token exchange
///       - issuer: http://127.0.0.1:PORT
///         audiences: [7f1c0c9e-…]
///         subject: repo:acme/dr:environment:prod
/// issuers:                           # JWT issuers this workspace trusts (HS256 test keys)
///   - issuer: http://127.0.0.1:PORT
///     hs256_key: some-shared-test-key  # the UTF-8 bytes are the HMAC key
///     entra: false                     # true: its tokens for Azure Databricks are bearer tokens
/// ```
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The account id in the host metadata (and the default federation audience).
    #[serde(default)]
    pub account_id: Option<String>,
    /// The workspace id in the host metadata.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The OAuth clients (service principals).
    #[serde(default)]
    pub clients: Vec<OAuthClient>,
    /// Trusted JWT issuers.
    #[serde(default)]
    pub issuers: Vec<TrustedIssuer>,
}

/// An OAuth client: a service principal that may get tokens.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuthClient {
    /// The client id (the service principal's application id).
    pub client_id: String,
    /// The secret for the client-credentials grant; without one that grant is refused.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Whom its tokens act as (default: the client id).
    #[serde(default)]
    pub user_name: Option<String>,
    /// Which foreign tokens it may exchange for a workspace token.
    #[serde(default)]
    pub federation_policies: Vec<FederationPolicy>,
}

impl OAuthClient {
    /// Whom the client's tokens act as.
    pub fn acts_as(&self) -> &str {
        self.user_name.as_deref().unwrap_or(&self.client_id)
    }
}

/// A federation policy: a JWT with this issuer, one of these audiences and this subject may be
/// exchanged for a token of the client.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FederationPolicy {
    /// The `iss` the token must have.
    pub issuer: String,
    /// The token's `aud` must contain one of these.
    pub audiences: Vec<String>,
    /// The `sub` the token must have.
    pub subject: String,
}

/// A JWT issuer the workspace trusts, with its shared HS256 key.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrustedIssuer {
    /// The `iss` of its tokens.
    pub issuer: String,
    /// The HMAC key (the UTF-8 bytes of the string).
    pub hs256_key: Secret,
    /// Whether it plays Entra ID: its tokens for the Azure Databricks resource are bearer tokens.
    #[serde(default)]
    pub entra: bool,
}

/// Reads and checks an oauth file.
pub fn load(path: &Path) -> Result<OAuthConfig, EmulatorError> {
    let error = |reason: String| EmulatorError::OAuthClients {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let config: OAuthConfig = serde_saphyr::from_str(&text).map_err(|e| error(e.to_string()))?;
    config.check().map_err(error)?;
    Ok(config)
}

impl OAuthConfig {
    /// Refuses what could never work: duplicate or empty ids, empty keys, policies naming an
    /// issuer the workspace does not trust (their tokens could never be verified).
    pub fn check(&self) -> Result<(), String> {
        let mut ids = std::collections::BTreeSet::new();
        for client in &self.clients {
            if client.client_id.trim().is_empty() {
                return Err("a client has an empty client_id".into());
            }
            if !ids.insert(client.client_id.as_str()) {
                return Err(format!("client_id {} appears twice", client.client_id));
            }
            if client
                .client_secret
                .as_ref()
                .is_some_and(|s| s.0.is_empty())
            {
                return Err(format!(
                    "client {} has an empty client_secret",
                    client.client_id
                ));
            }
            for policy in &client.federation_policies {
                if !self.issuers.iter().any(|i| i.issuer == policy.issuer) {
                    return Err(format!(
                        "a federation policy of client {} names issuer {}, which is not under issuers:",
                        client.client_id, policy.issuer
                    ));
                }
                if policy.audiences.is_empty() || policy.subject.is_empty() {
                    return Err(format!(
                        "a federation policy of client {} needs audiences and a subject",
                        client.client_id
                    ));
                }
            }
        }
        let mut issuers = std::collections::BTreeSet::new();
        for issuer in &self.issuers {
            if !issuers.insert(issuer.issuer.as_str()) {
                return Err(format!("issuer {} appears twice", issuer.issuer));
            }
            if issuer.hs256_key.0.is_empty() {
                return Err(format!("issuer {} has an empty hs256_key", issuer.issuer));
            }
        }
        Ok(())
    }
}

/// What a bearer token is worth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bearer {
    /// Accepted: requests act as this user name (or application id).
    Caller(String),
    /// A token the workspace knows (issued here, or signed by a trusted issuer) that has expired.
    Expired,
    /// Not a token of this workspace.
    Unknown,
}

/// Why the token endpoint refused a request (RFC 6749 5.2 error codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum TokenError {
    /// The request is malformed or lacks a parameter.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// Unknown client or wrong secret.
    #[error("invalid_client: Client authentication failed")]
    InvalidClient,
    /// The subject token was refused.
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    /// A grant type other than the two supported.
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    /// A scope other than `all-apis`.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// No randomness for a token.
    #[error("server_error: {0}")]
    Server(String),
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let (status, code, description) = match self {
            TokenError::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d),
            TokenError::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed".to_string(),
            ),
            TokenError::InvalidGrant(d) => (StatusCode::BAD_REQUEST, "invalid_grant", d),
            TokenError::UnsupportedGrantType(d) => {
                (StatusCode::BAD_REQUEST, "unsupported_grant_type", d)
            }
            TokenError::InvalidScope(d) => (StatusCode::BAD_REQUEST, "invalid_scope", d),
            TokenError::Server(d) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", d),
        };
        let mut response = (
            status,
            Json(json!({"error": code, "error_description": description})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6749 5.2: a 401 invalid_client names the authentication scheme to use.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oidc\""),
            );
        }
        response
    }
}

/// A token issued here.
struct Issued {
    user_name: String,
    expires: Instant,
}

/// The workspace's OAuth side: its clients and issuers, and the tokens it issued.
pub struct OAuth {
    config: OAuthConfig,
    ttl: Duration,
    /// SHA-256 of each issued token → whom it acts as and until when. Hashes, so a lookup's
    /// timing tells nothing about a token.
    issued: Mutex<HashMap<Vec<u8>, Issued>>,
}

impl OAuth {
    /// OAuth with `config`; issued tokens live `ttl`.
    pub fn new(config: OAuthConfig, ttl: Duration) -> Self {
        OAuth {
            config,
            ttl,
            issued: Mutex::new(HashMap::new()),
        }
    }

    /// Adds every client acting as itself (its application id) to the service principals that
    /// are not there yet: an OAuth client is a service principal of the workspace.
    pub fn add_service_principals(&self, principals: &mut Principals) {
        for client in &self.config.clients {
            let id = client.acts_as();
            if id == client.client_id
                && !principals
                    .service_principals
                    .iter()
                    .any(|sp| sp.application_id == id)
            {
                principals.service_principals.push(ServicePrincipalEntry {
                    application_id: id.to_string(),
                    display_name: None,
                });
            }
        }
    }

    /// What `token` is worth: a token issued here, or an Entra ID access token of a trusted
    /// Entra issuer for the Azure Databricks resource.
    pub fn bearer(&self, token: &str) -> Bearer {
        match self.issued_bearer(token) {
            Bearer::Unknown => self.entra_bearer(token, jwt::now_secs()),
            known => known,
        }
    }

    fn issued_bearer(&self, token: &str) -> Bearer {
        let key = digest(token);
        let issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        match issued.get(&key) {
            Some(i) if Instant::now() < i.expires => Bearer::Caller(i.user_name.clone()),
            Some(_) => Bearer::Expired,
            None => Bearer::Unknown,
        }
    }

    fn entra_bearer(&self, token: &str, now: i64) -> Bearer {
        if !jwt::looks_like_jwt(token) {
            return Bearer::Unknown;
        }
        let Ok(claims) = jwt::unverified_claims(token) else {
            return Bearer::Unknown;
        };
        let Some(issuer) = claims.str("iss").and_then(|iss| {
            self.config
                .issuers
                .iter()
                .find(|i| i.entra && i.issuer == iss)
        }) else {
            return Bearer::Unknown;
        };
        let api_uri = format!("api://{AZURE_DATABRICKS_RESOURCE}");
        if !claims.has_audience(AZURE_DATABRICKS_RESOURCE) && !claims.has_audience(&api_uri) {
            return Bearer::Unknown;
        }
        match jwt::verify_hs256(token, issuer.hs256_key.expose(), now) {
            Ok(claims) => match claims.str("upn").or_else(|| claims.str("appid")) {
                Some(caller) => Bearer::Caller(caller.to_string()),
                None => Bearer::Unknown,
            },
            Err(jwt::JwtError::Expired) => Bearer::Expired,
            Err(_) => Bearer::Unknown,
        }
    }

    /// Issues a token acting as `user_name`.
    fn issue(&self, user_name: &str) -> Result<Value, TokenError> {
        use aws_lc_rs::rand::SecureRandom as _;
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| TokenError::Server("no randomness for a token".into()))?;
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        if issued.len() >= ISSUED_SOFT_LIMIT {
            issued.retain(|_, i| now < i.expires);
        }
        issued.insert(
            digest(&token),
            Issued {
                user_name: user_name.to_string(),
                expires: now + self.ttl,
            },
        );
        Ok(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.ttl.as_secs(),
            "scope": SCOPE,
        }))
    }

    /// Answers a token request (`POST /oidc/v1/token`).
    pub fn token_request(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, TokenError> {
        self.token_request_at(headers, body, jwt::now_secs())
    }

    fn token_request_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<Value, TokenError> {
        if let Some(kind) = headers.get(header::CONTENT_TYPE)
            && !kind
                .to_str()
                .unwrap_or_default()
                .starts_with("application/x-www-form-urlencoded")
        {
            return Err(TokenError::InvalidRequest(
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| TokenError::InvalidRequest("the body is not UTF-8".into()))?;
        let form = Form(form_urlencoded_pairs(text));
        match form.one("scope")? {
            None | Some(SCOPE) => {}
            Some(other) => {
                return Err(TokenError::InvalidScope(format!(
                    "scope {other:?} is not supported; ask for {SCOPE}"
                )));
            }
        }
        let basic = basic_credentials(headers)?;
        match form.one("grant_type")? {
            Some(GRANT_CLIENT_CREDENTIALS) => {
                let client = self.authenticate_client(&form, basic, true)?;
                self.issue(client.acts_as())
            }
            Some(GRANT_TOKEN_EXCHANGE) => self.token_exchange(&form, basic, now),
            Some(other) => Err(TokenError::UnsupportedGrantType(format!(
                "grant_type {other:?} is not supported"
            ))),
            None => Err(TokenError::InvalidRequest("grant_type is required".into())),
        }
    }

    /// The client the request authenticates as: HTTP Basic or the form's `client_id` (and
    /// `client_secret`). With `secret_required`, a matching secret must be presented; otherwise
    /// one presented must still match.
    fn authenticate_client(
        &self,
        form: &Form,
        basic: Option<(String, String)>,
        secret_required: bool,
    ) -> Result<&OAuthClient, TokenError> {
        let form_id = form.one("client_id")?;
        let (id, secret) = match basic {
            Some((id, secret)) => {
                if form_id.is_some_and(|f| f != id) {
                    return Err(TokenError::InvalidClient);
                }
                (id, Some(secret))
            }
            None => match form_id {
                Some(id) => (
                    id.to_string(),
                    form.one("client_secret")?.map(str::to_string),
                ),
                None if secret_required => return Err(TokenError::InvalidClient),
                None => return Err(TokenError::InvalidRequest("client_id is required".into())),
            },
        };
        let client = self
            .config
            .clients
            .iter()
            .find(|c| c.client_id == id)
            .ok_or(TokenError::InvalidClient)?;
        match (&client.client_secret, secret) {
            (Some(expected), Some(given)) if same_secret(expected.expose(), given.as_bytes()) => {
                Ok(client)
            }
            (_, None) if !secret_required => Ok(client),
            _ => Err(TokenError::InvalidClient),
        }
    }

    fn token_exchange(
        &self,
        form: &Form,
        basic: Option<(String, String)>,
        now: i64,
    ) -> Result<Value, TokenError> {
        let client = self.authenticate_client(form, basic, false)?;
        let token = form
            .one("subject_token")?
            .ok_or_else(|| TokenError::InvalidRequest("subject_token is required".into()))?;
        match form.one("subject_token_type")? {
            Some(TOKEN_TYPE_JWT) => {}
            other => {
                return Err(TokenError::InvalidRequest(format!(
                    "subject_token_type must be {TOKEN_TYPE_JWT}, not {other:?}"
                )));
            }
        }
        let claims = self.verify_subject_token(token, now)?;
        check_policies(client, &claims)?;
        self.issue(client.acts_as())
    }

    /// The claims of a subject token signed by a trusted issuer and unexpired.
    fn verify_subject_token(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let grant = |e: jwt::JwtError| TokenError::InvalidGrant(format!("subject token: {e}"));
        let unverified = jwt::unverified_claims(token).map_err(grant)?;
        let iss = unverified
            .str("iss")
            .ok_or_else(|| TokenError::InvalidGrant("subject token: no iss claim".into()))?;
        let issuer = self
            .config
            .issuers
            .iter()
            .find(|i| i.issuer == iss)
            .ok_or_else(|| {
                TokenError::InvalidGrant(format!(
                    "subject token: issuer {iss} is not trusted by this workspace"
                ))
            })?;
        jwt::verify_hs256(token, issuer.hs256_key.expose(), now).map_err(grant)
    }

    /// The host metadata of the workspace at `origin`.
    pub fn host_metadata(&self, origin: &str, cloud: Cloud) -> Value {
        let account_id = self
            .config
            .account_id
            .as_deref()
            .unwrap_or(DEFAULT_ACCOUNT_ID);
        json!({
            "oidc_endpoint": format!("{origin}/oidc"),
            "workspace_id": self.config.workspace_id.as_deref().unwrap_or(DEFAULT_WORKSPACE_ID),
            "account_id": account_id,
            "cloud": cloud.name(),
            "token_federation_default_oidc_audiences": [account_id],
        })
    }
}

/// Whether a federation policy of `client` admits the token; the refusal names the first claim
/// that no policy matched, so a misconfigured pipeline learns what to fix.
fn check_policies(client: &OAuthClient, claims: &Claims) -> Result<(), TokenError> {
    let refuse = |what: String| {
        TokenError::InvalidGrant(format!(
            "no federation policy of client {} matches {what}",
            client.client_id
        ))
    };
    let iss = claims.str("iss").unwrap_or_default();
    let by_issuer: Vec<&FederationPolicy> = client
        .federation_policies
        .iter()
        .filter(|p| p.issuer == iss)
        .collect();
    if by_issuer.is_empty() {
        return Err(refuse(format!("issuer {iss}")));
    }
    let by_audience: Vec<&&FederationPolicy> = by_issuer
        .iter()
        .filter(|p| p.audiences.iter().any(|a| claims.has_audience(a)))
        .collect();
    if by_audience.is_empty() {
        return Err(refuse(format!("audience {:?}", claims.audiences())));
    }
    let sub = claims.str("sub").unwrap_or_default();
    if !by_audience.iter().any(|p| p.subject == sub) {
        return Err(refuse(format!("subject {sub:?}")));
    }
    Ok(())
}

/// A form body's parameters.
struct Form(Vec<(String, String)>);

impl Form {
    /// The parameter `key`; RFC 6749 3.2 forbids repeating one.
    fn one(&self, key: &str) -> Result<Option<&str>, TokenError> {
        let mut values = self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (first, None) => Ok(first.map(String::as_str)),
            _ => Err(TokenError::InvalidRequest(format!(
                "parameter {key} is repeated"
            ))),
        }
    }
}

/// HTTP Basic client credentials, each part form-urlencoded (RFC 6749 2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, TokenError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| TokenError::InvalidClient)?;
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return Err(TokenError::InvalidClient);
    };
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(TokenError::InvalidClient)?;
    let (id, secret) = decoded.split_once(':').ok_or(TokenError::InvalidClient)?;
    Ok(Some((
        request::percent_decode(id),
        request::percent_decode(secret),
    )))
}

fn digest(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// `http://<Host>`: the origin the caller reached the workspace at. A Host header that is not a
/// plain `host[:port]` is ignored rather than echoed into URLs.
fn origin(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// The OAuth routes; none needs credentials. Token requests are counted in the stats (as
/// `POST /oidc/v1/token`), so a test can tell how often a client fetched a token; they see no
/// fault rule, latency or rate limit, which would shift the request numbering a fault profile
/// is keyed on.
pub fn routes(state: AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/oidc/v1/token",
            post(token).layer(axum::middleware::from_fn_with_state(state, super::count)),
        )
        .route("/.well-known/databricks-config", get(databricks_config))
        .route(
            "/oidc/.well-known/oauth-authorization-server",
            get(authorization_server),
        )
        .route("/oidc/{*rest}", any(oidc_not_found))
}

async fn databricks_config(State(ws): State<AppState>, headers: HeaderMap) -> Json<Value> {
    Json(ws.oauth.host_metadata(&origin(&headers), ws.options.cloud))
}

async fn authorization_server(headers: HeaderMap) -> Json<Value> {
    let issuer = format!("{}/oidc", origin(&headers));
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/v1/authorize"),
        "token_endpoint": format!("{issuer}/v1/token"),
        "jwks_uri": format!("{issuer}/v1/keys"),
    }))
}

async fn token(State(ws): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match ws.oauth.token_request(&headers, &body) {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The rest of `/oidc/`: user-to-machine login and the key set are not emulated.
async fn oidc_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "not_found", "error_description": "not emulated"})),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "http://127.0.0.1:9/gh";
    const ENTRA: &str = "http://127.0.0.1:9/entra/v2.0";
    const KEY: &str = "gh-test-key";
    const ENTRA_KEY: &str = "entra-test-key";
    const SP: &str = "0b6f7c4e-0000-4000-8000-000000000001";
    const NOW: i64 = 1_800_000_000;

    fn config() -> OAuthConfig {
        let text = format!(
            "account_id: acc-1\nclients:\n  - client_id: {SP}\n    client_secret: m2m-secret\n    \
             federation_policies:\n      - issuer: {ISSUER}\n        audiences: [acc-1]\n        \
             subject: repo:acme/dr:environment:prod\n  - client_id: deployer\n    user_name: admin@example.com\n\
             issuers:\n  - issuer: {ISSUER}\n    hs256_key: {KEY}\n  - issuer: {ENTRA}\n    hs256_key: {ENTRA_KEY}\n    entra: true\n"
        );
        let config: OAuthConfig = serde_saphyr::from_str(&text).expect("parses");
        config.check().expect("valid");
        config
    }

    fn oauth(ttl: Duration) -> OAuth {
        OAuth::new(config(), ttl)
    }

    fn form_headers(basic: Option<(&str, &str)>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        if let Some((id, secret)) = basic {
            let value = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&value).expect("header"),
            );
        }
        headers
    }

    fn access_token(answer: &Value) -> &str {
        answer["access_token"].as_str().expect("access_token")
    }

    #[test]
    fn client_credentials_with_basic_or_form_credentials_issue_a_token() {
        let oauth = oauth(DEFAULT_TOKEN_TTL);
        let body = b"grant_type=client_credentials&scope=all-apis";
        let answer = oauth
            .token_request(&form_headers(Some((SP, "m2m-secret"))), body)
            .expect("token");
        assert_eq!(answer["token_type"], "Bearer");
        assert_eq!(answer["expires_in"], 3600);
        assert_eq!(answer["scope"], "all-apis");
        let token = access_token(&answer);
        assert_eq!(URL_SAFE_NO_PAD.decode(token).expect("base64url").len(), 32);
        assert_eq!(oauth.bearer(token), Bearer::Caller(SP.into()));

        let body = format!("grant_type=client_credentials&client_id={SP}&client_secret=m2m-secret");
        let again = oauth
            .token_request(&form_headers(None), body.as_bytes())
            .expect("token");
        assert_ne!(access_token(&again), token, "tokens are random");
    }

    #[test]
    fn client_credentials_refuse_a_wrong_secret_an_unknown_client_or_no_secret() {
        let oauth = oauth(DEFAULT_TOKEN_TTL);
        let body = b"grant_type=client_credentials&scope=all-apis";
        for (id, secret) in [(SP, "wrong"), ("nobody", "m2m-secret"), ("deployer", "")] {
            let error = oauth
                .token_request(&form_headers(Some((id, secret))), body)
                .expect_err("refused");
            assert_eq!(error, TokenError::InvalidClient, "{id}");
        }
        let response = TokenError::InvalidClient.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let error = oauth
            .token_request(&form_headers(None), b"grant_type=client_credentials")
            .expect_err("no client");
        assert_eq!(error, TokenError::InvalidClient);
    }

    #[test]
    fn scope_grant_type_and_body_are_checked() {
        let oauth = oauth(DEFAULT_TOKEN_TTL);
        let headers = form_headers(Some((SP, "m2m-secret")));
        let cases: [(&[u8], &str); 4] = [
            (b"grant_type=client_credentials&scope=sql", "invalid_scope"),
            (b"grant_type=password", "unsupported_grant_type"),
            (b"scope=all-apis", "invalid_request"),
            (
                b"grant_type=client_credentials&grant_type=client_credentials",
                "invalid_request",
            ),
        ];
        for (body, code) in cases {
            let error = oauth.token_request(&headers, body).expect_err("refused");
            assert!(
                error.to_string().starts_with(code),
                "{}: {error}",
                String::from_utf8_lossy(body)
            );
        }
        let mut json_headers = headers.clone();
        json_headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(matches!(
            oauth.token_request(&json_headers, b"{}"),
            Err(TokenError::InvalidRequest(_))
        ));
    }

    fn exchange_body(token: &str) -> String {
        format!(
            "grant_type={GRANT_TOKEN_EXCHANGE}&subject_token={token}&subject_token_type={TOKEN_TYPE_JWT}&client_id={SP}&scope=all-apis"
        )
    }

    fn github_token(claims: Value) -> String {
        jwt::sign_hs256(KEY.as_bytes(), &claims)
    }

    #[test]
    fn token_exchange_admits_a_token_matching_a_federation_policy() {
        let oauth = oauth(DEFAULT_TOKEN_TTL);
        let jwt = github_token(
            json!({"iss": ISSUER, "aud": ["x", "acc-1"], "sub": "repo:acme/dr:environment:prod", "exp": NOW + 300}),
        );
        let answer = oauth
            .token_request_at(&form_headers(None), exchange_body(&jwt).as_bytes(), NOW)
            .expect("exchanged");
        assert_eq!(
            oauth.bearer(access_token(&answer)),
            Bearer::Caller(SP.into())
        );
    }

    #[test]
    fn token_exchange_refuses_wrong_issuer_audience_subject_signature_or_expiry() {
        let oauth = oauth(DEFAULT_TOKEN_TTL);
        let good = json!({"iss": ISSUER, "aud": "acc-1", "sub": "repo:acme/dr:environment:prod", "exp": NOW + 300});
        let with = |key: &str, value: Value| {
            let mut claims = good.clone();
            claims[key] = value;
            github_token(claims)
        };
        let cases = [
            (with("iss", json!("http://evil")), "not trusted"),
            (
                jwt::sign_hs256(
                    ENTRA_KEY.as_bytes(),
                    &json!({"iss": ENTRA, "aud": "acc-1", "sub": "repo:acme/dr:environment:prod", "exp": NOW + 300}),
                ),
                "matches issuer",
            ),
            (with("aud", json!(["acc-2"])), "matches audience"),
            (
                with("sub", json!("repo:acme/dr:ref:refs/heads/main")),
                "matches subject",
            ),
            (with("exp", json!(NOW - 1)), "expired"),
            (jwt::sign_hs256(b"not-the-key", &good), "bad signature"),
        ];
        for (token, why) in cases {
            let error = oauth
                .token_request_at(&form_headers(None), exchange_body(&token).as_bytes(), NOW)
                .expect_err("refused");
            match &error {
                TokenError::InvalidGrant(d) => assert!(d.contains(why), "{why}: {d}"),
                other => panic!("{why}: {other}"),
            }
            assert_eq!(error.into_response().status(), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn issued_tokens_expire_after_the_ttl() {
        let oauth = oauth(Duration::ZERO);
        let answer = oauth
            .token_request(
                &form_headers(Some((SP, "m2m-secret"))),
                b"grant_type=client_credentials",
            )
            .expect("token");
        assert_eq!(answer["expires_in"], 0);
        assert_eq!(oauth.bearer(access_token(&answer)), Bearer::Expired);
        assert_eq!(oauth.bearer("never-issued"), Bearer::Unknown);
    }

    #[test]
    fn entra_tokens_for_azure_databricks_are_bearer_tokens() {
        let oauth = oauth(DEFAULT_TOKEN_TTL);
        let entra = |claims: Value| jwt::sign_hs256(ENTRA_KEY.as_bytes(), &claims);
        let user = entra(
            json!({"iss": ENTRA, "aud": AZURE_DATABRICKS_RESOURCE, "upn": "user@example.com", "appid": "az-cli", "exp": NOW + 60}),
        );
        assert_eq!(
            oauth.entra_bearer(&user, NOW),
            Bearer::Caller("user@example.com".into())
        );
        let app = entra(
            json!({"iss": ENTRA, "aud": format!("api://{AZURE_DATABRICKS_RESOURCE}"), "appid": SP, "exp": NOW + 60}),
        );
        assert_eq!(oauth.entra_bearer(&app, NOW), Bearer::Caller(SP.into()));
        assert_eq!(oauth.entra_bearer(&app, NOW + 60), Bearer::Expired);
        let other_resource = entra(
            json!({"iss": ENTRA, "aud": "https://management.azure.com", "appid": SP, "exp": NOW + 60}),
        );
        assert_eq!(oauth.entra_bearer(&other_resource, NOW), Bearer::Unknown);
        // The GitHub issuer is trusted for token exchange, not as a source of bearer tokens.
        let github = github_token(
            json!({"iss": ISSUER, "aud": AZURE_DATABRICKS_RESOURCE, "appid": SP, "exp": NOW + 60}),
        );
        assert_eq!(oauth.entra_bearer(&github, NOW), Bearer::Unknown);
        let forged = jwt::sign_hs256(
            b"guess",
            &json!({"iss": ENTRA, "aud": AZURE_DATABRICKS_RESOURCE, "appid": SP, "exp": NOW + 60}),
        );
        assert_eq!(oauth.entra_bearer(&forged, NOW), Bearer::Unknown);
    }

    #[test]
    fn a_bad_file_names_the_path_and_the_reason_and_secrets_stay_hidden() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("oauth.yaml");
        let cases = [
            ("clients: [{client_id: a, secret: x}]", "secret"),
            (
                "clients: [{client_id: a, federation_policies: [{issuer: http://x, audiences: [a], subject: s}]}]",
                "not under issuers",
            ),
            ("clients: [{client_id: a}, {client_id: a}]", "twice"),
            (
                "issuers: [{issuer: http://x, hs256_key: ''}]",
                "empty hs256_key",
            ),
        ];
        for (text, why) in cases {
            std::fs::write(&path, text).expect("write");
            let error = load(&path).expect_err("refused").to_string();
            assert!(
                error.contains("oauth.yaml") && error.contains(why),
                "{error}"
            );
        }
        let shown = format!("{:?}", config());
        assert!(
            !shown.contains("m2m-secret") && !shown.contains(KEY),
            "{shown}"
        );
    }

    #[test]
    fn host_metadata_and_the_service_principals_of_the_clients() {
        let oauth = oauth(DEFAULT_TOKEN_TTL);
        let meta = oauth.host_metadata("http://127.0.0.1:8001", Cloud::Gcp);
        assert_eq!(meta["cloud"], "gcp");
        assert_eq!(meta["oidc_endpoint"], "http://127.0.0.1:8001/oidc");
        assert_eq!(meta["account_id"], "acc-1");
        assert_eq!(
            meta["token_federation_default_oidc_audiences"],
            json!(["acc-1"])
        );
        let mut principals = Principals::default();
        oauth.add_service_principals(&mut principals);
        let ids: Vec<&str> = principals
            .service_principals
            .iter()
            .map(|sp| sp.application_id.as_str())
            .collect();
        assert_eq!(ids, vec![SP], "deployer acts as a user, not as itself");
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("evil\"host"));
        assert_eq!(origin(&headers), "http://127.0.0.1");
    }
}
