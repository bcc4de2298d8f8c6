//! An emulator of the Databricks workspace REST API subset tandem manages: jobs, clusters,
//! instance pools, secrets, permissions, SCIM users and groups, and workspace files.
//!
//! It is an independent second implementation written from the API reference: it shares no code
//! with tandem's client or model, so it cannot agree with their bugs. It can misbehave on purpose
//! (fault rules, a flaky profile, latency, a rate limit) and reports what it served
//! (`/__emulator/stats`). Its admin routes (`/__emulator/*`) take the same bearer tokens as the
//! API. It speaks OAuth too (`oauth`): host metadata, the token endpoint (client credentials and
//! token exchange), and Entra ID tokens of trusted test issuers. It is a test tool: tokens are
//! compared, not protected, and nothing is encrypted.

mod admin;
pub mod cluster_lifecycle;
pub mod clusters;
pub mod error;
pub mod faults;
pub mod ids;
pub mod jobs;
pub mod jwt;
pub mod oauth;
pub mod permissions;
pub mod policies;
pub mod pools;
pub mod principals;
pub mod request;
pub mod scim;
pub mod secrets;
pub mod store;
pub mod workspace;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

pub use error::{ApiError, ApiResult};
use faults::FaultEngine;
pub use request::{ApiJson, QueryPairs};
use store::Store;

/// How to run an emulated workspace.
#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// Address to bind (port 0 picks a free one).
    pub bind: SocketAddr,
    /// State file; `None` keeps everything in memory.
    pub state: Option<PathBuf>,
    /// A folder the state file must stay inside, in which no folder from it down to the state
    /// may be a symbolic link (an embedded workspace's `<root>/.tandem`, which a config
    /// repository could carry); `None` checks only the state's own files.
    pub state_confined_to: Option<PathBuf>,
    /// Accepted bearer tokens and the user each authenticates as.
    pub tokens: Vec<TokenGrant>,
    /// Latency added to every API request.
    pub latency: Duration,
    /// Requests per second allowed before 429s (token bucket); `None` for no limit.
    pub rate_limit: Option<u32>,
    /// A fault profile (`flaky:SEED`).
    pub faults: Option<String>,
    /// A YAML file of users, groups and service principals; `None` for the default set.
    pub principals: Option<PathBuf>,
    /// How long a new or started cluster stays PENDING (0: until the next read).
    pub cluster_start: Duration,
    /// A YAML file of OAuth clients and trusted JWT issuers (see [`oauth::OAuthConfig`]);
    /// `None`: no client, so only `tokens` and nothing issued here authenticate.
    pub oauth: Option<PathBuf>,
    /// How long tokens issued by the token endpoint live (`tokens` never expire).
    pub token_ttl: Duration,
    /// The cloud the workspace runs on: its node types, runtimes and zones.
    pub cloud: clusters::Cloud,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            state: None,
            state_confined_to: None,
            tokens: vec![TokenGrant::default()],
            latency: Duration::ZERO,
            rate_limit: None,
            faults: None,
            principals: None,
            cluster_start: Duration::ZERO,
            oauth: None,
            token_ttl: oauth::DEFAULT_TOKEN_TTL,
            cloud: clusters::Cloud::default(),
        }
    }
}

/// A bearer token and the user it authenticates as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The token.
    pub token: String,
    /// The user name (e-mail) requests with this token act as.
    pub user_name: String,
}

impl Default for TokenGrant {
    fn default() -> Self {
        TokenGrant {
            token: "dev".into(),
            user_name: principals::DEFAULT_ADMIN.into(),
        }
    }
}

impl TokenGrant {
    /// Parses `TOKEN` or `TOKEN=user@example.com`.
    pub fn parse(s: &str) -> Self {
        match s.split_once('=') {
            Some((token, user)) => TokenGrant {
                token: token.into(),
                user_name: user.into(),
            },
            None => TokenGrant {
                token: s.into(),
                user_name: principals::DEFAULT_ADMIN.into(),
            },
        }
    }
}

/// Errors starting an emulator.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EmulatorError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    #[diagnostic(help("choose another --port, or 0 for any free port"))]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The state file could not be opened.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] store::StoreError),
    /// The principals file is invalid.
    #[error("principals file {path}: {reason}")]
    #[diagnostic(help("see `tandem emulator --help` for the file's shape"))]
    Principals {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The oauth file is invalid.
    #[error("oauth clients file {path}: {reason}")]
    #[diagnostic(help("see `tandem emulator --help` for the file's shape"))]
    OAuthClients {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The fault profile is unknown.
    #[error("unknown fault profile `{0}`")]
    #[diagnostic(help("the profile is flaky:<seed>, e.g. flaky:42"))]
    FaultProfile(String),
}

/// The caller of a request, from its token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user name.
    pub user_name: String,
}

/// Shared state of one emulated workspace.
pub struct Workspace {
    /// The data.
    pub store: Store,
    /// Options it runs with.
    pub options: EmulatorOptions,
    /// Fault rules and profile.
    pub faults: FaultEngine,
    /// The users, groups and service principals a new or reset workspace starts with.
    pub principals: principals::Principals,
    /// OAuth clients, trusted issuers and the tokens issued.
    pub oauth: oauth::OAuth,
    stats: Mutex<BTreeMap<String, u64>>,
    total: AtomicU64,
    limiter: Option<governor::DefaultDirectRateLimiter>,
    /// How late the latency timer wakes, on average (µs): aimed that much early.
    timer_lateness_us: AtomicU64,
}

impl Workspace {
    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default()
    }
}

/// Handle to the shared workspace, as handlers receive it.
pub type AppState = Arc<Workspace>;

/// A running emulator.
pub struct RunningEmulator {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The workspace (for in-process inspection).
    pub workspace: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    /// Stops serving and persists the state.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.workspace.store.flush();
    }

    /// Waits until the server ends (it ends only when stopped).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.workspace.store.flush();
    }
}

/// Options for the embedded workspace `local:<name>` of the config root `root`: a free loopback
/// port, the default token, state in `<root>/.tandem/local/<name>.json`, confined to
/// `<root>/.tandem` (no symbolic links from there down).
pub fn embedded_options(root: &std::path::Path, name: &str) -> EmulatorOptions {
    let tandem = root.join(".tandem");
    EmulatorOptions {
        state: Some(tandem.join("local").join(format!("{name}.json"))),
        state_confined_to: Some(tandem),
        ..EmulatorOptions::default()
    }
}

/// The token embedded workspaces accept.
pub const EMBEDDED_TOKEN: &str = "dev";

/// Builds the workspace (opening its state) without serving it.
pub fn workspace(options: EmulatorOptions) -> Result<AppState, EmulatorError> {
    let mut principals = principals::load(options.principals.as_deref())?;
    let oauth_config = match &options.oauth {
        Some(path) => oauth::load(path)?,
        None => oauth::OAuthConfig::default(),
    };
    let oauth = oauth::OAuth::new(oauth_config, options.token_ttl);
    oauth.add_service_principals(&mut principals);
    let seed = || principals::seeded_db(&principals);
    let store = match &options.state {
        Some(path) => Store::open(path, options.state_confined_to.as_deref(), seed)?,
        None => Store::in_memory(seed())?,
    };
    let faults = FaultEngine::new(options.faults.as_deref())?;
    let limiter = options
        .rate_limit
        .and_then(std::num::NonZeroU32::new)
        .map(|n| governor::RateLimiter::direct(governor::Quota::per_second(n).allow_burst(n)));
    Ok(Arc::new(Workspace {
        store,
        options,
        faults,
        principals,
        oauth,
        stats: Mutex::new(BTreeMap::new()),
        total: AtomicU64::new(0),
        limiter,
        timer_lateness_us: AtomicU64::new(1000),
    }))
}

/// The full router: the API subset, the admin routes, and the middleware.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(jobs::routes())
        .merge(clusters::routes())
        .merge(pools::routes())
        .merge(policies::routes())
        .merge(secrets::routes())
        .merge(permissions::routes())
        .merge(scim::routes())
        .merge(workspace::routes())
        .fallback(unknown_route)
        .method_not_allowed_fallback(unknown_route)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            faults::middleware,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(state.clone(), latency))
        .layer(middleware::from_fn_with_state(state.clone(), count));
    let admin = admin::routes().layer(middleware::from_fn_with_state(
        state.clone(),
        authenticate_admin,
    ));
    Router::new()
        .nest("/__emulator", admin)
        .merge(oauth::routes(state.clone()))
        .route("/.well-known/{*rest}", axum::routing::get(no_metadata))
        .merge(api)
        .with_state(state)
}

/// Binds and serves an emulated workspace in the current tokio runtime.
pub async fn start(options: EmulatorOptions) -> Result<RunningEmulator, EmulatorError> {
    let bind = options.bind;
    let state = workspace(options)?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| EmulatorError::Bind { addr: bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind { addr: bind, source })?;
    let app = router(state.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "emulator server failed");
        }
    });
    Ok(RunningEmulator {
        url: format!("http://{addr}"),
        workspace: state,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// Other well-known documents: none is published (host metadata is `oauth`'s).
async fn no_metadata() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "No host metadata is published here",
    )
}

/// A path, or a method on a path, the API does not have: 404 ENDPOINT_NOT_FOUND, as a workspace
/// answers both (a POST to a GET-only path included).
async fn unknown_route(request: Request) -> ApiError {
    ApiError::endpoint_not_found(request.method().as_str(), request.uri().path())
}

fn is_admin(request: &Request) -> bool {
    request.uri().path().starts_with("/__emulator")
}

async fn count(State(ws): State<AppState>, request: Request, next: Next) -> Response {
    if !is_admin(&request) {
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| "(unmatched)".to_string());
        let key = format!("{} {}", request.method(), route);
        ws.total.fetch_add(1, Ordering::Relaxed);
        let mut stats = ws.stats.lock().unwrap_or_else(|p| p.into_inner());
        *stats.entry(key).or_default() += 1;
    }
    next.run(request).await
}

async fn latency(State(ws): State<AppState>, request: Request, next: Next) -> Response {
    if ws.options.latency.is_zero() || is_admin(&request) {
        return next.run(request).await;
    }
    // The latency is the time from a request's arrival to its answer, the work included (as a
    // remote service's response time is): the emulator's own CPU time then adds nothing on top
    // unless it exceeds the latency. tokio's timer wakes after the deadline (rounded up to its
    // next millisecond tick, later still when the machine is busy): aiming as early as it has
    // been late on average makes the time average what was asked for, under any load.
    let arrived = tokio::time::Instant::now();
    let response = next.run(request).await;
    let target = arrived + ws.options.latency;
    let lateness = Duration::from_micros(ws.timer_lateness_us.load(Ordering::Relaxed))
        .min(ws.options.latency / 2);
    let aim = target - lateness;
    tokio::time::sleep_until(aim).await;
    let late = tokio::time::Instant::now().saturating_duration_since(aim);
    let late_us = late.as_micros().min(u128::from(u32::MAX)) as u64;
    // A moving average over the last few dozen requests; races between requests only blur it.
    let was = ws.timer_lateness_us.load(Ordering::Relaxed);
    let now = (was * 31 + late_us) / 32;
    ws.timer_lateness_us.store(now, Ordering::Relaxed);
    response
}

async fn rate_limit(State(ws): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &ws.limiter
        && !is_admin(&request)
        && let Err(not_until) = limiter.check()
    {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "REQUEST_LIMIT_EXCEEDED",
            "Too many requests. Please wait a moment and try again.",
        );
        error.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        return error.into_response();
    }
    next.run(request).await
}

async fn authenticate(State(ws): State<AppState>, mut request: Request, next: Next) -> Response {
    // No bearer token at all (no header, or another scheme) is a 401; a bearer token the
    // workspace does not know is the gateway's 403 below.
    let has_bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    if !has_bearer {
        return ApiError::no_credentials().into_response();
    }
    match bearer_of(&ws, &request) {
        oauth::Bearer::Caller(user_name) => {
            // The caller as the workspace names it (a user's e-mail lower case), whatever case
            // the token's grant spelled it in.
            let user_name = ws
                .store
                .read(|db| {
                    principals::stored_name(db, principals::PrincipalKind::User, &user_name)
                        .or_else(|| {
                            principals::stored_name(
                                db,
                                principals::PrincipalKind::ServicePrincipal,
                                &user_name,
                            )
                        })
                })
                .unwrap_or(user_name);
            request.extensions_mut().insert(Caller { user_name });
            next.run(request).await
        }
        oauth::Bearer::Expired => expired_token(),
        oauth::Bearer::Unknown => ApiError::bad_token().into_response(),
    }
}

/// What the request's bearer token is worth: a `--token` grant (never expires), a token the
/// token endpoint issued, or an Entra ID token of a trusted issuer.
fn bearer_of(ws: &Workspace, request: &Request) -> oauth::Bearer {
    let Some(token) = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
    else {
        return oauth::Bearer::Unknown;
    };
    match ws
        .options
        .tokens
        .iter()
        .find(|g| same_secret(g.token.as_bytes(), token.as_bytes()))
    {
        Some(grant) => oauth::Bearer::Caller(grant.user_name.clone()),
        None => ws.oauth.bearer(token),
    }
}

/// The 401 an expired token gets, in the gateway's dialect (numeric `error_code`), with the
/// RFC 6750 challenge that tells an OAuth client to fetch a new token.
fn expired_token() -> Response {
    let mut response = ApiError {
        status: StatusCode::UNAUTHORIZED,
        error_code: serde_json::json!(401),
        message: "Token is expired".into(),
        retry_after: None,
    }
    .into_response();
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// Compares two secrets in time that does not depend on where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The admin routes take any token the API accepts (whoever the operator gave a token to may
/// steer the emulator; a workspace's admin group is data a test may change, so it does not
/// decide). Without one they answer 401, so a stray local process or a web page cannot reset
/// a workspace or inject faults.
async fn authenticate_admin(State(ws): State<AppState>, request: Request, next: Next) -> Response {
    match bearer_of(&ws, &request) {
        oauth::Bearer::Caller(_) => return next.run(request).await,
        oauth::Bearer::Expired => return expired_token(),
        oauth::Bearer::Unknown => {}
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "The emulator's admin routes need a bearer token the emulator accepts (--token, or one it issued)",
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

impl Workspace {
    /// Request counts per `METHOD /route/template`, and the total.
    pub fn stats(&self) -> (BTreeMap<String, u64>, u64) {
        let stats = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (stats, self.total.load(Ordering::Relaxed))
    }

    /// Forgets the request counts.
    pub fn reset_stats(&self) {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.total.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str) -> Request {
        Request::builder()
            .uri("/api/2.2/jobs/list")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .expect("request")
    }

    fn oauth_workspace(dir: &std::path::Path, ttl: Duration) -> AppState {
        let file = dir.join("oauth.yaml");
        std::fs::write(
            &file,
            "clients: [{client_id: sp-1, client_secret: s3cret}]\n",
        )
        .expect("write");
        workspace(EmulatorOptions {
            oauth: Some(file),
            token_ttl: ttl,
            ..EmulatorOptions::default()
        })
        .expect("workspace")
    }

    fn issue(ws: &Workspace) -> String {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderValue::from_static("Basic c3AtMTpzM2NyZXQ="),
        );
        let answer = ws
            .oauth
            .token_request(&headers, b"grant_type=client_credentials&scope=all-apis")
            .expect("token");
        answer["access_token"].as_str().expect("token").to_string()
    }

    #[test]
    fn pats_issued_tokens_and_strangers_are_told_apart() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = oauth_workspace(dir.path(), Duration::from_secs(60));
        assert_eq!(
            bearer_of(&ws, &request("dev")),
            oauth::Bearer::Caller(principals::DEFAULT_ADMIN.into())
        );
        let token = issue(&ws);
        assert_eq!(
            bearer_of(&ws, &request(&token)),
            oauth::Bearer::Caller("sp-1".into())
        );
        assert_eq!(bearer_of(&ws, &request("nope")), oauth::Bearer::Unknown);
        // The client became a service principal of the workspace.
        assert!(ws.store.read(|db| principals::exists(
            db,
            principals::PrincipalKind::ServicePrincipal,
            "sp-1"
        )));
    }

    #[tokio::test]
    async fn an_expired_token_gets_the_gateways_401() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = oauth_workspace(dir.path(), Duration::ZERO);
        let token = issue(&ws);
        assert_eq!(bearer_of(&ws, &request(&token)), oauth::Bearer::Expired);
        let response = expired_token();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[axum::http::header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"error_code": 401, "message": "Token is expired"})
        );
    }
}
