//! The Databricks workspace REST client: bearer auth, retries with backoff and jitter that honour
//! `Retry-After`, an adaptive per-workspace concurrency limit, both not-found dialects, and
//! errors that never carry a token or a request body.

pub mod api;
pub mod auth;
pub mod concurrency;
pub mod origin;
pub mod token_source;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use auth::Token;
use concurrency::{AdaptiveLimit, Priority};
pub use token_source::TokenSource;

/// Errors talking to a workspace.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum ClientError {
    /// The workspace answered with an error.
    #[error("{workspace}: {method} {path} failed: {status} {code}: {message}")]
    Api {
        /// Workspace name.
        workspace: String,
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// HTTP status.
        status: u16,
        /// `error_code` (string or number, as text).
        code: String,
        /// `message`.
        message: String,
    },
    /// The object does not exist (404, or the 400 "... does not exist" dialect).
    #[error("{workspace}: {method} {path}: not found: {message}")]
    NotFound {
        /// Workspace name.
        workspace: String,
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The service's message.
        message: String,
    },
    /// The workspace could not be reached.
    #[error("{workspace}: {method} {path}: {reason}")]
    #[diagnostic(help(
        "check the host and the network; tandem retried with backoff before giving up"
    ))]
    Transport {
        /// Workspace name.
        workspace: String,
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A non-idempotent request (a create) may or may not have been carried out.
    #[error("{workspace}: {method} {path}: outcome unknown ({reason})")]
    OutcomeUnknown {
        /// Workspace name.
        workspace: String,
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// What happened.
        reason: String,
    },
    /// No usable token.
    #[error("workspace {workspace}: {reason}")]
    #[diagnostic(help("{help}"))]
    Credentials {
        /// Workspace name.
        workspace: String,
        /// What is missing.
        reason: String,
        /// What to do.
        help: String,
    },
    /// A plain-http host that is not loopback.
    #[error("workspace {workspace}: refusing to send a token over plain http to {host}")]
    #[diagnostic(help(
        "use https:// (plain http is allowed only for 127.0.0.0/8, [::1] and localhost)"
    ))]
    InsecureHost {
        /// Workspace name.
        workspace: String,
        /// The host.
        host: String,
    },
    /// A host that is not a workspace origin (user information, a path, another scheme).
    #[error("workspace {workspace}: {reason}")]
    #[diagnostic(help("{help}"))]
    BadHost {
        /// Workspace name.
        workspace: String,
        /// What is wrong.
        reason: String,
        /// What to write instead.
        help: String,
    },
    /// Credentials that belong to another host than the environment file names.
    #[error(
        "workspace {workspace}: refusing to send the token of {credentials}, which is for {credentials_host}, to {host} (the environment file's host): a token goes only to its own host"
    )]
    #[diagnostic(help(
        "a token goes only to the host it belongs to: if the workspace moved, change the host in the environment file and in {credentials} together; if a change to `host:` came with a pull request, it is an attempt to collect the token"
    ))]
    HostMismatch {
        /// Workspace name.
        workspace: String,
        /// Where the token came from (`profile [prod] of ~/.databrickscfg`, `DATABRICKS_HOST`).
        credentials: String,
        /// The host the credentials name, normalised.
        credentials_host: String,
        /// The host of the environment file, normalised.
        host: String,
    },
    /// The workspace answered with a redirect, which is never followed.
    #[error(
        "{workspace}: {method} {path}: {host} answered {status} (a redirect{location}); tandem follows no redirects"
    )]
    #[diagnostic(help(
        "a workspace API never redirects: check that the host in the environment file is the workspace's own URL (no proxy or login page in between); nothing was sent to the other address"
    ))]
    Redirected {
        /// Workspace name.
        workspace: String,
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The workspace's origin.
        host: String,
        /// HTTP status (3xx).
        status: u16,
        /// ` to <origin>` when the answer named a target.
        location: String,
    },
    /// A response body beyond the cap: reading stopped there.
    #[error(
        "{workspace}: {method} {path}: the response from {host} is larger than {limit}; tandem stopped reading it"
    )]
    #[diagnostic(help(
        "no Databricks API answer is that large: check that the host is the workspace; the limit is ClientOptions::max_response_bytes"
    ))]
    ResponseTooLarge {
        /// Workspace name.
        workspace: String,
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The workspace's origin.
        host: String,
        /// The limit, for people (`64 MiB`).
        limit: String,
    },
    /// A problem on tandem's side while preparing a request (a secret source, a missing ID).
    #[error("{workspace}: {reason}")]
    Local {
        /// Workspace name.
        workspace: String,
        /// What is wrong.
        reason: String,
    },
    /// A response that is not the JSON expected.
    #[error("{workspace}: {method} {path}: unexpected response: {reason}")]
    Decode {
        /// Workspace name.
        workspace: String,
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

impl ClientError {
    /// Whether this says the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::NotFound { .. })
    }

    /// Whether the workspace refused tandem's credentials (401, 403) or none could be had
    /// (missing, half-configured, or refused by the token endpoint).
    pub fn is_authentication(&self) -> bool {
        matches!(
            self,
            ClientError::Api {
                status: 401 | 403,
                ..
            } | ClientError::Credentials { .. }
        )
    }

    /// The `error_code` of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Whether a request may be repeated when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Reads, replacements, deletes: repeating them is harmless.
    Idempotent,
    /// Creates: after a 5xx or a lost response the caller must look the object up first.
    Unsafe,
}

/// Client tuning.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Most requests in flight (the adaptive limit's ceiling).
    pub parallelism: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Smallest backoff delay.
    pub min_delay: Duration,
    /// Largest backoff delay (Retry-After may ask for more).
    pub max_delay: Duration,
    /// How long one request keeps waiting out 429s (they do not count as retries).
    pub throttle_budget: Duration,
    /// The largest response body read; a larger one is an error, and reading stops there.
    pub max_response_bytes: usize,
}

/// The default cap on a response body: far above any Databricks API answer (a listing page is
/// a few MiB at most), far below what a hostile server would need to exhaust memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            parallelism: 16,
            timeout: Duration::from_secs(60),
            max_retries: 6,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            throttle_budget: Duration::from_secs(600),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// Request counters of one client.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Requests sent (retries included).
    pub requests: AtomicU64,
    /// 429 answers.
    pub throttled: AtomicU64,
    /// Retries.
    pub retries: AtomicU64,
}

/// A client for one workspace.
pub struct WorkspaceClient {
    name: String,
    base: String,
    source: std::sync::Arc<TokenSource>,
    http: reqwest::Client,
    limit: AdaptiveLimit,
    options: ClientOptions,
    /// Request counters.
    pub stats: ClientStats,
    /// Until when the workspace asked us (by a 429) to send nothing.
    paused_until: std::sync::Mutex<Option<std::time::Instant>>,
}

/// One failed attempt, classified for the retry loop.
struct Attempt {
    error: ClientError,
    retry: bool,
    retry_after: Option<Duration>,
    /// A 429: refused before any work, retried outside the retry budget (see [`WorkspaceClient::call`]).
    throttled: bool,
    /// The token the workspace refused as expired or invalid (a 401, or a 403 "Invalid access
    /// token."), when another can be fetched: the request was not carried out.
    refused_token: Option<Token>,
}

impl WorkspaceClient {
    /// A client for workspace `name` at `base` (`https://host`, or `http://` on loopback), checked
    /// by the same rules as the environment file's `host:` (defence in depth: a token only goes
    /// to an origin that passed them).
    pub fn new(
        name: &str,
        base: &str,
        token: Token,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        Self::with_source(
            name,
            base,
            std::sync::Arc::new(TokenSource::fixed(name, token)),
            options,
        )
    }

    /// A client for workspace `name` at `base` whose tokens come from `source` (refreshed as
    /// they expire).
    pub fn with_source(
        name: &str,
        base: &str,
        source: std::sync::Arc<TokenSource>,
        options: ClientOptions,
    ) -> Result<Self, ClientError> {
        let base = origin::parse_origin(base).map_err(|bad| {
            if bad.insecure {
                ClientError::InsecureHost {
                    workspace: name.into(),
                    host: base.trim().to_string(),
                }
            } else {
                ClientError::BadHost {
                    workspace: name.into(),
                    reason: bad.message,
                    help: bad.help,
                }
            }
        })?;
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            // A redirect would re-send the token's request (and a 307/308 its body: secret
            // values) to an origin nobody checked.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tandem/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(options.parallelism)
            .build()
            .map_err(|e| ClientError::Transport {
                workspace: name.into(),
                method: String::new(),
                path: String::new(),
                reason: e.to_string(),
            })?;
        Ok(WorkspaceClient {
            name: name.into(),
            base,
            source,
            http,
            limit: AdaptiveLimit::new(options.parallelism),
            options,
            stats: ClientStats::default(),
            paused_until: std::sync::Mutex::new(None),
        })
    }

    /// The workspace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Where its tokens come from.
    pub fn token_source(&self) -> &TokenSource {
        &self.source
    }

    /// The most requests it has in flight at once.
    pub fn parallelism(&self) -> usize {
        self.options.parallelism
    }

    /// The current adaptive concurrency limit.
    pub fn current_limit(&self) -> usize {
        self.limit.current()
    }

    /// `GET path?query`.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.call(Method::GET, path, query, None, Retry::Idempotent)
            .await
    }

    /// `GET` of a listing's next page, ahead of the requests waiting for a slot: whatever the
    /// page lists waits for it.
    pub async fn get_page(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value, ClientError> {
        self.send(
            Method::GET,
            path,
            query,
            None,
            Retry::Idempotent,
            Priority::Urgent,
        )
        .await
    }

    /// An idempotent `POST` (edit, delete, reset, put).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, path, &[], Some(body), Retry::Idempotent)
            .await
    }

    /// A create: never repeated when its outcome is unknown ([`ClientError::OutcomeUnknown`]).
    pub async fn create(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::POST, path, &[], Some(body), Retry::Unsafe)
            .await
    }

    /// `PUT`.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::PUT, path, &[], Some(body), Retry::Idempotent)
            .await
    }

    /// `PUT` in slots no other request is waiting for: work that may wait for everything else.
    pub async fn put_in_background(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.send(
            Method::PUT,
            path,
            &[],
            Some(body),
            Retry::Idempotent,
            Priority::Background,
        )
        .await
    }

    /// `PATCH`.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call(Method::PATCH, path, &[], Some(body), Retry::Idempotent)
            .await
    }

    /// Sends a request, retrying what may be retried.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, ClientError> {
        self.send(method, path, query, body, retry, Priority::Normal)
            .await
    }

    /// [`WorkspaceClient::call`] with the given claim on the next free slot.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        retry: Retry,
        priority: Priority,
    ) -> Result<Value, ClientError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.options.min_delay)
            .with_max_delay(self.options.max_delay)
            .with_max_times(self.options.max_retries)
            .with_jitter();
        // 429s do not use up the retry budget: the workspace refused before doing anything,
        // and every request waits out its Retry-After (see `pause`). Throttling is bounded by
        // time instead.
        let deadline = std::time::Instant::now() + self.options.throttle_budget;
        // Serialised once, and not while holding a request slot.
        let body = body.map(|b| bytes::Bytes::from(serde_json::to_vec(b).unwrap_or_default()));
        let body = body.as_ref();
        let mut reauthenticated = false;
        loop {
            match self
                .call_once(&method, path, query, body, (retry, priority), backoff)
                .await
            {
                // The token expired (or was revoked) under us: fetch another and try once more.
                // The workspace refused before doing anything, so even a create is safe to repeat.
                Err(Attempt {
                    refused_token: Some(token),
                    error,
                    ..
                }) if !reauthenticated => {
                    reauthenticated = true;
                    tracing::debug!(workspace = %self.name, %method, path, %error, "token refused; fetching a new one");
                    self.source.invalidate(&token);
                }
                Err(a) if a.throttled && std::time::Instant::now() < deadline => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(workspace = %self.name, %method, path, error = %a.error, "throttled; retrying after the pause");
                }
                other => return other.map_err(|a| a.error),
            }
        }
    }

    async fn call_once(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&bytes::Bytes>,
        (retry, priority): (Retry, Priority),
        backoff: ExponentialBuilder,
    ) -> Result<Value, Attempt> {
        let attempt = || async {
            self.attempt(method.clone(), path, query, body, (retry, priority))
                .await
        };
        attempt
            .retry(backoff)
            .when(|a: &Attempt| a.retry && !a.throttled)
            .adjust(|a: &Attempt, delay| match (a.retry_after, delay) {
                // Retry-After wins over our own schedule, but never shortens it.
                (Some(after), Some(d)) => Some(after.max(d)),
                (_, d) => d,
            })
            .notify(|a: &Attempt, delay| {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(workspace = %self.name, %method, path, ?delay, error = %a.error, "retrying");
            })
            .await
    }

    /// Waits while the workspace asked everyone to wait (a 429's Retry-After).
    async fn wait_if_paused(&self) {
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(t) if t > std::time::Instant::now() => {
                    tokio::time::sleep_until(t.into()).await
                }
                _ => return,
            }
        }
    }

    fn pause(&self, wait: Duration) {
        let until = std::time::Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        if paused.is_none_or(|p| p < until) {
            *paused = Some(until);
        }
    }

    async fn attempt(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&bytes::Bytes>,
        (retry, priority): (Retry, Priority),
    ) -> Result<Value, Attempt> {
        // Before taking a slot: fetching a token may take a round trip.
        let token = self.source.token().await.map_err(|error| Attempt {
            error,
            retry: false,
            retry_after: None,
            throttled: false,
            refused_token: None,
        })?;
        self.wait_if_paused().await;
        let permit = self.limit.acquire_as(priority).await;
        // Requests that queued for a slot during a pause must not go out the moment it ends.
        self.wait_if_paused().await;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Authorization", token.bearer());
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let started = std::time::Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_failure(&method, path, &e, retry)),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status.is_redirection() {
            drop(permit);
            return Err(self.redirected(&method, path, status, response.headers()));
        }
        let bytes = match self.read_capped(response).await {
            Ok(b) => b,
            Err(BodyError::Transport(e)) => {
                return Err(self.transport_failure(&method, path, &e, retry));
            }
            Err(BodyError::TooLarge) => {
                return Err(self.too_large(&method, path, status, retry));
            }
        };
        // The answer is in: the slot is free for the next request while this one is parsed.
        drop(permit);
        tracing::debug!(workspace = %self.name, %method, path, status = status.as_u16(), elapsed = ?started.elapsed(), "request");
        if status.is_success() {
            self.limit.on_success();
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Object(Default::default()));
            }
            return serde_json::from_slice(&bytes).map_err(|e| Attempt {
                error: ClientError::Decode {
                    workspace: self.name.clone(),
                    method: method.to_string(),
                    path: path.into(),
                    reason: e.to_string(),
                },
                retry: false,
                retry_after: None,
                throttled: false,
                refused_token: None,
            });
        }
        let (code, message) = parse_error_body(status, &bytes);
        let message = message.replace(token.expose(), "***");
        let refused = status == StatusCode::UNAUTHORIZED
            || (status == StatusCode::FORBIDDEN && message.contains("Invalid access token"));
        if refused && self.source.refreshable() {
            return Err(Attempt {
                error: classify(&self.name, &method, path, status, code, message),
                retry: false,
                retry_after: None,
                throttled: false,
                refused_token: Some(token),
            });
        }
        let throttled = status == StatusCode::TOO_MANY_REQUESTS;
        if throttled {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
            self.limit.on_throttled();
            // Everyone waits, not just this request: hammering a limited workspace only buys more 429s.
            self.pause(retry_after.unwrap_or(Duration::from_secs(1)));
        }
        let error = classify(&self.name, &method, path, status, code, message);
        let transient = matches!(status.as_u16(), 429 | 503 | 504);
        // A 429 was refused before any work; any other server error on a create (a 500 or 502
        // answered after the work was done, not only a 503/504) may have committed.
        let retry_ok =
            status == StatusCode::TOO_MANY_REQUESTS || (transient && retry == Retry::Idempotent);
        let maybe_committed = retry == Retry::Unsafe
            && status.is_server_error()
            && status != StatusCode::NOT_IMPLEMENTED;
        if maybe_committed {
            return Err(Attempt {
                error: ClientError::OutcomeUnknown {
                    workspace: self.name.clone(),
                    method: method.to_string(),
                    path: path.into(),
                    reason: format!(
                        "{} {}",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or_default()
                    ),
                },
                retry: false,
                retry_after: None,
                throttled: false,
                refused_token: None,
            });
        }
        Err(Attempt {
            error,
            retry: retry_ok,
            retry_after,
            throttled,
            refused_token: None,
        })
    }

    /// The body, read chunk by chunk and abandoned past `max_response_bytes`, so a hostile or
    /// broken server cannot make tandem hold more than that per request.
    async fn read_capped(
        &self,
        mut response: reqwest::Response,
    ) -> Result<bytes::Bytes, BodyError> {
        let cap = self.options.max_response_bytes;
        let announced = response.content_length().unwrap_or(0);
        if announced > cap as u64 {
            return Err(BodyError::TooLarge);
        }
        // An announced length is a hint, not a promise: reserve at most 1 MiB on its word.
        let mut body = Vec::with_capacity((announced as usize).min(1 << 20));
        while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
            if body.len() + chunk.len() > cap {
                return Err(BodyError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(bytes::Bytes::from(body))
    }

    /// A 3xx answer: an error naming the host and where it pointed, never retried.
    fn redirected(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        headers: &reqwest::header::HeaderMap,
    ) -> Attempt {
        // Only the target's origin: enough to recognise it, nothing of its path or query.
        let location = headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| url::Url::parse(&self.base).ok()?.join(l).ok())
            .map(|target| format!(" to {}", target.origin().ascii_serialization()))
            .unwrap_or_default();
        Attempt {
            error: ClientError::Redirected {
                workspace: self.name.clone(),
                method: method.to_string(),
                path: path.into(),
                host: self.base.clone(),
                status: status.as_u16(),
                location,
            },
            retry: false,
            retry_after: None,
            throttled: false,
            refused_token: None,
        }
    }

    /// A body over the cap. A create answered with success (or a server error) may have been
    /// carried out: its outcome is unknown (the caller looks the object up), as for a lost answer.
    fn too_large(&self, method: &Method, path: &str, status: StatusCode, retry: Retry) -> Attempt {
        let limit = human_bytes(self.options.max_response_bytes);
        let maybe_committed = status.is_success()
            || (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED);
        let error = if retry == Retry::Unsafe && maybe_committed {
            ClientError::OutcomeUnknown {
                workspace: self.name.clone(),
                method: method.to_string(),
                path: path.into(),
                reason: format!("the answer from {} is larger than {limit}", self.base),
            }
        } else {
            ClientError::ResponseTooLarge {
                workspace: self.name.clone(),
                method: method.to_string(),
                path: path.into(),
                host: self.base.clone(),
                limit,
            }
        };
        Attempt {
            error,
            retry: false,
            retry_after: None,
            throttled: false,
            refused_token: None,
        }
    }

    fn transport_failure(
        &self,
        method: &Method,
        path: &str,
        e: &reqwest::Error,
        retry: Retry,
    ) -> Attempt {
        let reason = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "connection failed".to_string()
        } else {
            "connection error".to_string()
        };
        // A connection that never opened carried nothing: safe to repeat even a create.
        if retry == Retry::Unsafe && !e.is_connect() {
            return Attempt {
                error: ClientError::OutcomeUnknown {
                    workspace: self.name.clone(),
                    method: method.to_string(),
                    path: path.into(),
                    reason,
                },
                retry: false,
                retry_after: None,
                throttled: false,
                refused_token: None,
            };
        }
        Attempt {
            error: ClientError::Transport {
                workspace: self.name.clone(),
                method: method.to_string(),
                path: path.into(),
                reason,
            },
            retry: true,
            retry_after: None,
            throttled: false,
            refused_token: None,
        }
    }
}

/// Why a response body could not be read.
enum BodyError {
    /// The connection failed while reading.
    Transport(reqwest::Error),
    /// The body is larger than the cap.
    TooLarge,
}

/// A byte count for people: `64 MiB`, `512 KiB`, `100 bytes`.
fn human_bytes(n: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// `(error_code, message)` from any of the error body shapes the service has used.
pub fn parse_error_body(status: StatusCode, bytes: &[u8]) -> (String, String) {
    let reason = status.canonical_reason().unwrap_or("error").to_string();
    if let Ok(value) = serde_json::from_slice::<Value>(bytes) {
        let code = match value.get("error_code") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let message = value
            .get("message")
            .or_else(|| value.get("error"))
            .or_else(|| value.get("detail"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if code.is_some() || message.is_some() {
            let code = code.or_else(|| {
                value
                    .get("scimType")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            return (
                code.unwrap_or_else(|| status.as_u16().to_string()),
                message.unwrap_or(reason),
            );
        }
    }
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return (status.as_u16().to_string(), reason);
    }
    if text.starts_with('<') {
        // An HTML error page: the title or the first <pre> says it.
        let inner = |tag: &str| {
            let open = format!("<{tag}>");
            let start = text.find(&open)? + open.len();
            let end = text[start..].find('<')? + start;
            Some(text[start..end].trim().to_string())
        };
        return (
            status.as_u16().to_string(),
            inner("pre").or_else(|| inner("title")).unwrap_or(reason),
        );
    }
    // "SOME_CODE: message"
    if let Some((code, message)) = text.split_once(": ")
        && !code.is_empty()
        && code.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    {
        return (code.to_string(), message.to_string());
    }
    (
        status.as_u16().to_string(),
        text.chars().take(500).collect(),
    )
}

fn classify(
    workspace: &str,
    method: &Method,
    path: &str,
    status: StatusCode,
    code: String,
    message: String,
) -> ClientError {
    // A 404 ENDPOINT_NOT_FOUND says the workspace has no such API (a wrong path or method, or a
    // feature it lacks), not that the object is gone: treating it as "gone" would make tandem
    // re-create what it cannot see.
    let no_such_api = code == "ENDPOINT_NOT_FOUND";
    let not_found = (status == StatusCode::NOT_FOUND && !no_such_api)
        || code == "RESOURCE_DOES_NOT_EXIST"
        || code == "NOT_FOUND"
        || (status == StatusCode::BAD_REQUEST
            && (code == "INVALID_PARAMETER_VALUE" || code == "INVALID_STATE")
            && (message.contains("does not exist") || message.contains("doesn't exist")));
    if not_found {
        return ClientError::NotFound {
            workspace: workspace.into(),
            method: method.to_string(),
            path: path.into(),
            message,
        };
    }
    ClientError::Api {
        workspace: workspace.into(),
        method: method.to_string(),
        path: path.into(),
        status: status.as_u16(),
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_in_every_dialect() {
        let s = StatusCode::BAD_REQUEST;
        assert_eq!(
            parse_error_body(s, br#"{"error_code":"INVALID_STATE","message":"m"}"#),
            ("INVALID_STATE".into(), "m".into())
        );
        assert_eq!(
            parse_error_body(
                StatusCode::FORBIDDEN,
                br#"{"error_code":403,"message":"Invalid access token."}"#
            ),
            ("403".into(), "Invalid access token.".into())
        );
        assert_eq!(parse_error_body(s, br#"{"error":"legacy"}"#).1, "legacy");
        assert_eq!(
            parse_error_body(
                s,
                br#"{"detail":"scim says","status":"400","scimType":"invalidFilter"}"#
            ),
            ("invalidFilter".into(), "scim says".into())
        );
        assert_eq!(
            parse_error_body(s, b"BAD_REQUEST: plain text"),
            ("BAD_REQUEST".into(), "plain text".into())
        );
        assert_eq!(
            parse_error_body(s, b"<html><head><title>Bad gateway</title></head></html>").1,
            "Bad gateway"
        );
        assert_eq!(
            parse_error_body(StatusCode::SERVICE_UNAVAILABLE, b""),
            ("503".into(), "Service Unavailable".into())
        );
    }

    #[test]
    fn a_missing_api_is_not_a_missing_object() {
        let error = classify(
            "w",
            &Method::GET,
            "/api/2.0/repos",
            StatusCode::NOT_FOUND,
            "ENDPOINT_NOT_FOUND".into(),
            "No API found for 'GET /repos'".into(),
        );
        assert!(!error.is_not_found());
        assert_eq!(error.code(), Some("ENDPOINT_NOT_FOUND"));
        assert!(!error.is_authentication());
    }

    #[test]
    fn both_not_found_dialects_mean_gone() {
        let m = Method::GET;
        assert!(
            classify(
                "w",
                &m,
                "/p",
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST".into(),
                "x".into()
            )
            .is_not_found()
        );
        assert!(
            classify(
                "w",
                &m,
                "/p",
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE".into(),
                "Job 5 does not exist.".into()
            )
            .is_not_found()
        );
        assert!(
            !classify(
                "w",
                &m,
                "/p",
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE".into(),
                "bad limit".into()
            )
            .is_not_found()
        );
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let t = || Token::new("x");
        assert!(
            WorkspaceClient::new("w", "http://127.0.0.1:1", t(), ClientOptions::default()).is_ok()
        );
        assert!(
            WorkspaceClient::new("w", "http://localhost:8001", t(), ClientOptions::default())
                .is_ok()
        );
        assert!(matches!(
            WorkspaceClient::new(
                "w",
                "http://adb-1.azuredatabricks.net",
                t(),
                ClientOptions::default()
            ),
            Err(ClientError::InsecureHost { .. })
        ));
        for host in [
            "http://127.attacker.example",
            "http://127.0.0.1.nip.io:8001",
            "http://localhost.evil.com",
        ] {
            assert!(
                matches!(
                    WorkspaceClient::new("w", host, t(), ClientOptions::default()),
                    Err(ClientError::InsecureHost { .. })
                ),
                "{host}"
            );
        }
    }

    #[test]
    fn a_base_url_must_be_an_origin_without_user_information() {
        let t = || Token::new("x");
        for base in [
            "http://127.0.0.1@example.com",
            "https://user:pw@adb-1.azuredatabricks.net",
            "https://adb-1.azuredatabricks.net/api?o=1",
        ] {
            let error = WorkspaceClient::new("w", base, t(), ClientOptions::default())
                .err()
                .unwrap_or_else(|| panic!("{base} accepted"));
            assert!(
                matches!(error, ClientError::BadHost { .. }),
                "{base}: {error}"
            );
            assert!(!error.to_string().contains("pw@"), "{error}");
        }
        let client = WorkspaceClient::new(
            "w",
            "HTTPS://Adb-1.AzureDatabricks.net:443/",
            t(),
            ClientOptions::default(),
        )
        .expect("an origin");
        assert_eq!(client.base(), "https://adb-1.azuredatabricks.net");
    }

    #[test]
    fn limits_read_as_people_write_them() {
        assert_eq!(human_bytes(DEFAULT_MAX_RESPONSE_BYTES), "64 MiB");
        assert_eq!(human_bytes(512 * 1024), "512 KiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
    }
}
