//! Fakes for the authentication tests (tests/integration/auth.rs): the identity providers a
//! workspace trusts (GitHub Actions' OIDC token service, Microsoft Entra ID and its managed
//! identity endpoint), the `az` and `databricks` executables, HS256 JWTs, the emulator's
//! `--oauth-clients` file, and an isolated environment (HOME, PATH) for every tandem run.
//!
//! Everything here listens on 127.0.0.1 and uses test keys: the JWTs are signed with shared
//! HMAC keys that the emulator is told to trust, never with anything real.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Form, Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{Emulator, TandemRun, TestRepo, Ws};

/// The Azure Databricks resource (application id) that Entra ID tokens for a workspace name.
pub const AZURE_DATABRICKS_RESOURCE: &str = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d";

/// The account id the emulators report (`/.well-known/databricks-config`), so the default
/// audience of a GitHub OIDC token exchange.
pub const ACCOUNT_ID: &str = "7f1c0c9e-5d1a-4b7e-9d3c-2a1b0c9d8e7f";

/// The Entra tenant of the fakes.
pub const TENANT_ID: &str = "9a8b7c6d-0000-4000-8000-00000000a2e0";

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// A random-enough unique suffix, so no test's secret is another test's (or a constant that
/// could appear in output by accident).
pub fn unique(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::fill(&mut bytes).expect("random bytes");
    format!(
        "{prefix}-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

// ---------------------------------------------------------------------------------------------
// JWTs
// ---------------------------------------------------------------------------------------------

/// An HS256 JWT over `claims`, signed with the UTF-8 bytes of `key` (as the emulator's oauth
/// file names issuers' keys): `base64url(header).base64url(claims).base64url(sig)`, no padding.
pub fn jwt_hs256(key: &str, claims: &Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let signing_input = format!("{header}.{body}");
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.as_bytes());
    let signature = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64.encode(signature.as_ref()))
}

/// An Entra ID access token for the Azure Databricks resource, issued by `issuer` (signed with
/// `key`), valid for an hour, acting as `who` (`("upn", "user@example.com")` for a user,
/// `("appid", "<application id>")` for a service principal or managed identity).
pub fn entra_token(issuer: &str, key: &str, who: (&str, &str)) -> String {
    let now = now_secs();
    let mut claims = json!({
        "iss": issuer,
        "aud": AZURE_DATABRICKS_RESOURCE,
        "tid": TENANT_ID,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
    });
    claims[who.0] = json!(who.1);
    if who.0 == "upn" {
        // What `az login` as a user gives: the user, and the Azure CLI as the application.
        claims["appid"] = json!("04b07795-8ddb-461a-bbee-02f9e1bf7b46");
    }
    jwt_hs256(key, &claims)
}

/// `(year, month, day, hour, minute, second)` of a Unix time, in UTC (civil-from-days).
fn civil_utc(epoch: u64) -> (i64, u64, u64, u64, u64, u64) {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// A Unix time as RFC 3339 in UTC (`2026-12-03T22:00:00Z`).
pub fn rfc3339(epoch: u64) -> String {
    let (y, mo, d, h, mi, s) = civil_utc(epoch);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

// ---------------------------------------------------------------------------------------------
// Background HTTP servers
// ---------------------------------------------------------------------------------------------

/// A server on 127.0.0.1 run by a runtime of its own, so it answers while the test blocks on
/// a tandem subprocess. Stops when dropped.
struct Served {
    _rt: tokio::runtime::Runtime,
    url: String,
}

fn serve(build: impl FnOnce(&str) -> Router) -> Served {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = build(&url);
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Served { _rt: rt, url }
}

/// [`serve`] for a router over shared state `S`, built once the URL is known (a fake's
/// issuer is its own URL); returns the state too, for the test to read what was asked.
fn serve_with<S: Send + Sync + 'static>(
    state: impl FnOnce(&str) -> S,
    routes: Router<Arc<S>>,
) -> (Served, Arc<S>) {
    let mut shared = None;
    let served = serve(|url| {
        let state = Arc::new(state(url));
        shared = Some(Arc::clone(&state));
        routes.with_state(state)
    });
    (served, shared.expect("state built"))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Fake GitHub Actions OIDC token service
// ---------------------------------------------------------------------------------------------

struct GithubState {
    issuer: String,
    key: String,
    subject: String,
    request_token: String,
    audiences: Mutex<Vec<String>>,
    issued: Mutex<Vec<String>>,
}

/// GitHub Actions' ID-token service as a job sees it: `GET /token?api-version=2.0&audience=A`
/// with `Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN` answers `{"value": <JWT>}` with
/// `iss` = its URL, `aud` = A, `sub` = the configured subject, valid five minutes.
pub struct FakeGithub {
    served: Served,
    state: Arc<GithubState>,
}

impl FakeGithub {
    /// Started, issuing ID tokens with subject `subject`.
    pub fn start(subject: &str) -> FakeGithub {
        let key = unique("gh-key");
        let request_token = unique("gh-request-token");
        let subject = subject.to_string();
        let (served, state) = serve_with(
            |url| GithubState {
                issuer: url.to_string(),
                key,
                subject,
                request_token,
                audiences: Mutex::default(),
                issued: Mutex::default(),
            },
            Router::new().route("/token", axum::routing::get(github_token)),
        );
        FakeGithub { served, state }
    }

    /// Its URL, the issuer of its tokens.
    pub fn issuer(&self) -> &str {
        &self.served.url
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_URL` as GitHub sets it (the client appends `&audience=…`).
    pub fn request_url(&self) -> String {
        format!("{}/token?api-version=2.0", self.served.url)
    }

    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`: the bearer the token service requires.
    pub fn request_token(&self) -> &str {
        &self.state.request_token
    }

    /// The HMAC key its tokens are signed with (for the emulator's trusted issuers).
    pub fn key(&self) -> &str {
        &self.state.key
    }

    /// The audiences asked for, in order.
    pub fn audiences(&self) -> Vec<String> {
        self.state.audiences.lock().expect("audiences").clone()
    }

    /// The ID tokens handed out (secrets: they must appear in no output).
    pub fn issued(&self) -> Vec<String> {
        self.state.issued.lock().expect("issued").clone()
    }

    /// The two variables a GitHub Actions job with `id-token: write` has.
    pub fn job_env(&self) -> Vec<(String, String)> {
        vec![
            ("ACTIONS_ID_TOKEN_REQUEST_URL".into(), self.request_url()),
            (
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
                self.request_token().into(),
            ),
        ]
    }
}

async fn github_token(
    State(state): State<Arc<GithubState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let expected = format!("Bearer {}", state.request_token);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"message": "Bad credentials"}),
        );
    }
    // GitHub's default audience is the repository owner's URL.
    let audience = query
        .get("audience")
        .cloned()
        .unwrap_or_else(|| "https://github.com/acme".to_string());
    state
        .audiences
        .lock()
        .expect("audiences")
        .push(audience.clone());
    let now = now_secs();
    let token = jwt_hs256(
        &state.key,
        &json!({
            "iss": state.issuer,
            "aud": audience,
            "sub": state.subject,
            "repository": "acme/dr",
            "environment": "prod",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }),
    );
    state.issued.lock().expect("issued").push(token.clone());
    answer(StatusCode::OK, json!({"value": token}))
}

// ---------------------------------------------------------------------------------------------
// Fake Microsoft Entra ID (client credentials) and managed identity endpoint (IMDS)
// ---------------------------------------------------------------------------------------------

/// One request the fake Entra ID received.
#[derive(Debug, Clone)]
pub struct EntraRequest {
    /// `client_credentials` or `imds`.
    pub kind: &'static str,
    /// The tenant in the path (client credentials).
    pub tenant: Option<String>,
    /// The client id asked for (form field, or IMDS `client_id` parameter).
    pub client_id: Option<String>,
    /// `scope` (client credentials) or `resource` (IMDS).
    pub scope: Option<String>,
}

struct EntraState {
    issuer: String,
    key: String,
    apps: Vec<(String, String)>,
    msi_client_id: String,
    requests: Mutex<Vec<EntraRequest>>,
    issued: Mutex<Vec<String>>,
}

/// Microsoft Entra ID's token endpoint (`POST /{tenant}/oauth2/v2.0/token`, client
/// credentials for `2ff814a6-…/.default`) and Azure's managed identity endpoint (`GET
/// /metadata/identity/oauth2/token`, header `Metadata: true`), both issuing HS256 Entra access
/// tokens for the Azure Databricks resource. Point `login_endpoint:` and
/// `AZURE_POD_IDENTITY_AUTHORITY_HOST` at [`FakeEntra::url`].
pub struct FakeEntra {
    served: Served,
    state: Arc<EntraState>,
}

impl FakeEntra {
    /// Started, knowing the applications `apps` (client id, secret) and issuing managed identity
    /// tokens as `msi_client_id` when a request names no identity.
    pub fn start(apps: &[(&str, &str)], msi_client_id: &str) -> FakeEntra {
        let key = unique("entra-key");
        let apps: Vec<(String, String)> = apps
            .iter()
            .map(|(id, secret)| (id.to_string(), secret.to_string()))
            .collect();
        let msi_client_id = msi_client_id.to_string();
        let (served, state) = serve_with(
            |url| EntraState {
                issuer: format!("{url}/{TENANT_ID}/v2.0"),
                key,
                apps,
                msi_client_id,
                requests: Mutex::default(),
                issued: Mutex::default(),
            },
            Router::new()
                .route(
                    "/{tenant}/oauth2/v2.0/token",
                    axum::routing::post(entra_client_credentials),
                )
                .route(
                    "/metadata/identity/oauth2/token",
                    axum::routing::get(entra_imds),
                ),
        );
        FakeEntra { served, state }
    }

    /// Its base URL (the login endpoint, and the IMDS host).
    pub fn url(&self) -> &str {
        &self.served.url
    }

    /// The `iss` of its tokens.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The HMAC key of its tokens.
    pub fn key(&self) -> &str {
        &self.state.key
    }

    /// What it was asked, in order.
    pub fn requests(&self) -> Vec<EntraRequest> {
        self.state.requests.lock().expect("requests").clone()
    }

    /// The access tokens it handed out (secrets: they must appear in no output).
    pub fn issued(&self) -> Vec<String> {
        self.state.issued.lock().expect("issued").clone()
    }
}

impl EntraState {
    fn record(&self, request: EntraRequest) {
        self.requests.lock().expect("requests").push(request);
    }

    fn issue(&self, appid: &str) -> String {
        let token = entra_token(&self.issuer, &self.key, ("appid", appid));
        self.issued.lock().expect("issued").push(token.clone());
        token
    }
}

async fn entra_client_credentials(
    State(state): State<Arc<EntraState>>,
    UrlPath(tenant): UrlPath<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).cloned();
    state.record(EntraRequest {
        kind: "client_credentials",
        tenant: Some(tenant),
        client_id: field("client_id"),
        scope: field("scope"),
    });
    if field("grant_type").as_deref() != Some("client_credentials") {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type", "error_description": "AADSTS70003: The app requested an unsupported grant type."}),
        );
    }
    let resource_scope = format!("{AZURE_DATABRICKS_RESOURCE}/.default");
    if field("scope").as_deref() != Some(resource_scope.as_str()) {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_scope", "error_description": "AADSTS70011: The provided value for the input parameter 'scope' is not valid."}),
        );
    }
    let client_id = field("client_id").unwrap_or_default();
    let secret = field("client_secret").unwrap_or_default();
    if !state
        .apps
        .iter()
        .any(|(id, s)| *id == client_id && *s == secret)
    {
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
        );
    }
    let token = state.issue(&client_id);
    answer(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
    )
}

async fn entra_imds(
    State(state): State<Arc<EntraState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    state.record(EntraRequest {
        kind: "imds",
        tenant: None,
        client_id: query.get("client_id").cloned(),
        scope: query.get("resource").cloned(),
    });
    // IMDS refuses requests without the header, so that a server-side request forgery (which
    // cannot set headers) cannot fetch the identity's tokens.
    if headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
        );
    }
    if !query.contains_key("api-version") {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "Required query variable 'api-version' is missing"}),
        );
    }
    let resource = query.get("resource").cloned().unwrap_or_default();
    if resource.trim_end_matches('/') != AZURE_DATABRICKS_RESOURCE {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_resource", "error_description": "AADSTS500011: The resource principal was not found."}),
        );
    }
    let appid = query
        .get("client_id")
        .cloned()
        .unwrap_or_else(|| state.msi_client_id.clone());
    let token = state.issue(&appid);
    let expires_on = now_secs() + 3599;
    answer(
        StatusCode::OK,
        json!({
            "access_token": token,
            "client_id": appid,
            "expires_in": "3599",
            "expires_on": expires_on.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// The emulators' OAuth file
// ---------------------------------------------------------------------------------------------

/// The emulator's `--oauth-clients` file: its account id, OAuth clients (service principals)
/// with secrets and federation policies, and the JWT issuers it trusts.
#[derive(Debug, Clone, Default)]
pub struct OAuthClients {
    clients: Vec<String>,
    issuers: Vec<String>,
}

/// A YAML double-quoted scalar (JSON's quoting is valid YAML).
fn q(text: &str) -> String {
    serde_json::to_string(text).expect("string serialises")
}

impl OAuthClients {
    /// No client, no issuer; the account is [`ACCOUNT_ID`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A client with a secret (client credentials, `oauth-m2m`).
    pub fn m2m(mut self, client_id: &str, client_secret: &str) -> Self {
        self.clients.push(format!(
            "  - client_id: {}\n    client_secret: {}\n",
            q(client_id),
            q(client_secret)
        ));
        self
    }

    /// A client without a secret whose federation policy accepts JWTs from `issuer` for
    /// `audience` about `subject` (token exchange, `github-oidc`).
    pub fn federated(
        mut self,
        client_id: &str,
        issuer: &str,
        audience: &str,
        subject: &str,
    ) -> Self {
        self.clients.push(format!(
            "  - client_id: {}\n    federation_policies:\n      - issuer: {}\n        audiences: [{}]\n        subject: {}\n",
            q(client_id),
            q(issuer),
            q(audience),
            q(subject)
        ));
        self
    }

    /// Trusts JWTs signed by `issuer` with `key`; `entra`: its tokens for the Azure Databricks
    /// resource are bearer tokens.
    pub fn trust(mut self, issuer: &str, key: &str, entra: bool) -> Self {
        self.issuers.push(format!(
            "  - issuer: {}\n    hs256_key: {}\n    entra: {entra}\n",
            q(issuer),
            q(key)
        ));
        self
    }

    /// The file's text.
    pub fn yaml(&self) -> String {
        let mut out = format!("account_id: {}\n", q(ACCOUNT_ID));
        for (name, items) in [("clients", &self.clients), ("issuers", &self.issuers)] {
            if items.is_empty() {
                out.push_str(&format!("{name}: []\n"));
            } else {
                out.push_str(&format!("{name}:\n"));
                items.iter().for_each(|item| out.push_str(item));
            }
        }
        out
    }

    /// Writes the file to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.yaml()).expect("write oauth clients file");
    }
}

/// Two `tandem emulator`s (state in `dir`) sharing the OAuth file `oauth`, their tokens valid
/// `ttl_secs`, with `extra` flags (`--latency-ms`, `--token`, …). The token `dev` stays valid
/// for [`Emulator::client`].
pub fn spawn_oauth_pair(
    dir: &Path,
    oauth: &OAuthClients,
    ttl_secs: u64,
    extra: &[&str],
) -> (Emulator, Emulator) {
    let file = dir.join("oauth-clients.yaml");
    oauth.write(&file);
    let file = file.to_str().expect("utf-8 path").to_string();
    let ttl = ttl_secs.to_string();
    let mut flags = vec![
        "--oauth-clients",
        file.as_str(),
        "--token-ttl",
        ttl.as_str(),
    ];
    flags.extend_from_slice(extra);
    (
        Emulator::spawn(&dir.join("primary.json"), &flags),
        Emulator::spawn(&dir.join("secondary.json"), &flags),
    )
}

/// How many times a workspace's OAuth token endpoint was called (since the last reset).
pub fn token_calls(ws: &Ws) -> u64 {
    ws.route_counts()
        .into_iter()
        .filter(|(route, _)| route.ends_with("/oidc/v1/token"))
        .map(|(_, n)| n)
        .sum()
}

/// The API writes a workspace received: every request but reads and the OAuth routes (a token
/// request changes nothing in the workspace).
pub fn api_writes(ws: &Ws) -> Vec<String> {
    ws.writes()
        .into_keys()
        .filter(|route| !route.contains("/oidc/"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Environment files with `auth:` blocks
// ---------------------------------------------------------------------------------------------

/// A workspace's `auth:` mapping, as lines of an environment file (indented for a workspace
/// entry). Values are written as given, unquoted.
pub fn auth_block(fields: &[(&str, &str)]) -> String {
    let mut out = String::from("    auth:\n");
    for (key, value) in fields {
        out.push_str(&format!("      {key}: {value}\n"));
    }
    out
}

/// An environment file: `primary` (active) and `secondary` at the given hosts, each followed
/// by its credential lines (an [`auth_block`], `    token_env: VAR\n`, `    profile: P\n`, or
/// nothing).
pub fn auth_env(primary: (&str, &str), secondary: (&str, &str)) -> String {
    format!(
        "workspaces:\n  primary:\n    host: {}\n{}  secondary:\n    host: {}\n{}active: primary\n",
        primary.0, primary.1, secondary.0, secondary.1
    )
}

/// `count` plain jobs `job_00`, `job_01`, … (nothing that needs an admin or another principal,
/// so any authenticated caller can create them).
pub fn jobs_yaml(count: usize) -> String {
    let mut out = String::from("resources:\n  jobs:\n");
    for i in 0..count {
        out.push_str(&format!(
            "    job_{i:02}:\n      name: auth job {i:02}\n      max_concurrent_runs: 1\n      tasks:\n        - task_key: main\n          notebook_task: {{notebook_path: /Repos/etl/job_{i:02}}}\n"
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// An isolated environment: HOME, PATH with fake executables, their argv log
// ---------------------------------------------------------------------------------------------

/// A temporary HOME and a PATH of one directory holding only the fakes a test writes, so no
/// real `~/.databrickscfg`, `az`, `databricks` or `DATABRICKS_*`/`ARM_*`/`ACTIONS_*` variable of
/// the machine takes part in a run.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// Empty HOME, empty PATH directory.
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        std::fs::create_dir_all(dir.path().join("bin")).expect("bin");
        Sandbox { dir }
    }

    /// A scratch directory for state files and the like.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The HOME of runs.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The only directory on PATH.
    pub fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn argv_log(&self) -> PathBuf {
        self.dir.path().join("argv.log")
    }

    /// Writes `~/.databrickscfg` in HOME.
    pub fn databrickscfg(&self, text: &str) {
        std::fs::write(self.home().join(".databrickscfg"), text).expect("write databrickscfg");
    }

    /// Runs `tandem -C <repo> <args>` with only HOME, PATH, `NO_COLOR` and `envs` set.
    pub fn tandem(&self, repo: &TestRepo, args: &[&str], envs: &[(String, String)]) -> TandemRun {
        let home = self.home();
        let bin = self.bin();
        let mut all: Vec<(&str, &str)> = vec![
            ("HOME", home.to_str().expect("utf-8 path")),
            ("PATH", bin.to_str().expect("utf-8 path")),
        ];
        all.extend(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        repo.tandem_isolated(args, &all)
    }

    /// Writes an executable shell script `name` into the PATH directory. `body` runs after the
    /// script has logged its argv, and may use only shell builtins: PATH holds nothing else.
    fn script(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let log = self.argv_log();
        let text = format!(
            "#!/bin/sh\n{{ printf '%s' {name}; for a in \"$@\"; do printf '\\t%s' \"$a\"; done; printf '\\n'; }} >> {log}\n{body}",
            log = sh_quote(log.to_str().expect("utf-8 path")),
        );
        let path = self.bin().join(name);
        std::fs::write(&path, text).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// A fake `az` logged in as a user: `az account get-access-token --resource <Azure
    /// Databricks> …` prints `token` in the CLI's JSON shape; anything else exits 2.
    pub fn az_logged_in(&self, token: &str) {
        let expires = now_secs() + 3600;
        let (y, mo, d, h, mi, s) = civil_utc(expires);
        let json = json!({
            "accessToken": token,
            // The CLI's local-time field; the UTC epoch below is what a client should read.
            "expiresOn": format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.000000"),
            "expires_on": expires,
            "subscription": "00000000-0000-4000-8000-00000000a5b5",
            "tenant": TENANT_ID,
            "tokenType": "Bearer",
        });
        self.script(
            "az",
            &format!(
                "if [ \"$1 $2\" != 'account get-access-token' ]; then echo \"ERROR: unexpected arguments: $*\" >&2; exit 2; fi\nprintf '%s\\n' {}\n",
                sh_quote(&json.to_string())
            ),
        );
    }

    /// A fake `az` that is installed but not logged in.
    pub fn az_logged_out(&self) {
        self.script(
            "az",
            "echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n",
        );
    }

    /// A fake `databricks` CLI logged in to each `(host, token)` of `logins`: `databricks auth
    /// token --host <host>` prints the token; another host gets the CLI's "not configured"
    /// error and exit 1.
    pub fn databricks_cli(&self, logins: &[(&str, &str)]) {
        let expiry = rfc3339(now_secs() + 3600);
        let mut cases = String::new();
        for (host, token) in logins {
            let json = json!({"access_token": token, "token_type": "Bearer", "expiry": expiry});
            let host = host.trim_end_matches('/');
            cases.push_str(&format!(
                "  {}|{}) printf '%s\\n' {} ;;\n",
                sh_quote(host),
                sh_quote(&format!("{host}/")),
                sh_quote(&json.to_string())
            ));
        }
        let body = format!(
            r#"if [ "$1 $2" != 'auth token' ]; then echo "Error: unknown command: $*" >&2; exit 2; fi
host=""
while [ $# -gt 0 ]; do
  case "$1" in
    --host) host="$2"; shift 2 || shift ;;
    --host=*) host="${{1#--host=}}"; shift ;;
    *) shift ;;
  esac
done
case "$host" in
{cases}  *) echo "Error: cache: databricks OAuth is not configured for this host. Try logging in again with \`databricks auth login --host $host\` before retrying." >&2; exit 1 ;;
esac
"#
        );
        self.script("databricks", &body);
    }

    /// Every run of a fake executable: its argv (program name first), in order.
    pub fn invocations(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.argv_log()).unwrap_or_default();
        text.lines()
            .map(|line| line.split('\t').map(str::to_string).collect())
            .collect()
    }

    /// The runs of fake executable `program`.
    pub fn invocations_of(&self, program: &str) -> Vec<Vec<String>> {
        self.invocations()
            .into_iter()
            .filter(|argv| argv.first().map(String::as_str) == Some(program))
            .collect()
    }
}

/// `text` as one single-quoted shell word.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Whether `argv` holds `flag` immediately followed by `value` (or `flag=value`).
pub fn has_arg(argv: &[String], flag: &str, value: &str) -> bool {
    argv.windows(2).any(|w| w[0] == flag && w[1] == value)
        || argv.iter().any(|a| *a == format!("{flag}={value}"))
}

/// Asserts that no credential of `secrets` appears in the run's stdout or stderr, whole or (for
/// a JWT) by its signature.
pub fn assert_no_secret(run: &TandemRun, secrets: &[String]) {
    let output = run.all_output();
    for secret in secrets {
        assert!(!secret.is_empty(), "an empty secret proves nothing");
        let mut pieces = vec![secret.as_str()];
        if let Some(signature) = secret.rsplit('.').next().filter(|s| s.len() >= 20) {
            pieces.push(signature);
        }
        for piece in pieces {
            assert!(
                !output.contains(piece),
                "a credential appears in tandem's output:\n{output}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A workspace whose token endpoint answers garbage
// ---------------------------------------------------------------------------------------------

/// A server that looks like a workspace up to its OAuth token endpoint, which answers 200 with
/// an HTML page instead of a token (as a proxy's login page would). Every API route is 403.
pub struct GarbageWorkspace {
    served: Served,
}

impl GarbageWorkspace {
    /// Started.
    pub fn start() -> GarbageWorkspace {
        let served = serve(|url| {
            let config = json!({
                "oidc_endpoint": format!("{url}/oidc"),
                "workspace_id": "1234567890",
                "account_id": ACCOUNT_ID,
                "cloud": "aws",
                "token_federation_default_oidc_audiences": [ACCOUNT_ID],
            });
            let metadata = json!({
                "issuer": format!("{url}/oidc"),
                "authorization_endpoint": format!("{url}/oidc/v1/authorize"),
                "token_endpoint": format!("{url}/oidc/v1/token"),
                "jwks_uri": format!("{url}/oidc/v1/keys"),
            });
            Router::new()
                .route(
                    "/.well-known/databricks-config",
                    axum::routing::get(move || async move { Json(config) }),
                )
                .route(
                    "/oidc/.well-known/oauth-authorization-server",
                    axum::routing::get(move || async move { Json(metadata) }),
                )
                .route(
                    "/oidc/v1/token",
                    axum::routing::post(|| async {
                        (
                            [("content-type", "text/html")],
                            "<html><body>Sign in to continue</body></html>",
                        )
                    }),
                )
                .fallback(|| async {
                    answer(
                        StatusCode::FORBIDDEN,
                        json!({"error_code": 403, "message": "Invalid access token."}),
                    )
                })
        });
        GarbageWorkspace { served }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.served.url
    }
}
