//! A malicious server on 127.0.0.1: redirects, huge bodies, hosts that are not what they seem,
//! credentials bound to their host.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use futures::future::BoxFuture;
use serde_json::json;
use tandem::client::{ClientError, ClientOptions, Token, WorkspaceClient};
use tandem::emulator::{self, EmulatorOptions, RunningEmulator};

use crate::harness::{TestRepo, Ws};

/// One request a server received.
#[derive(Debug, Clone)]
struct Received {
    method: Method,
    /// Path and query.
    uri: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

impl Received {
    fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }
}

type Answer = Arc<dyn Fn(Received) -> BoxFuture<'static, Response> + Send + Sync>;

/// Servers on 127.0.0.1, each recording what it receives, served by a runtime of their own
/// while the test runs tandem.
struct Servers {
    rt: tokio::runtime::Runtime,
    emulators: Vec<RunningEmulator>,
}

/// A running server: its URL and everything it received.
struct Server {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    fn requests(&self) -> Vec<Received> {
        self.received.lock().expect("received").clone()
    }

    /// `127.0.0.1:<port>`, as messages name it.
    fn authority(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Servers {
    fn new() -> Self {
        Servers {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime"),
            emulators: Vec::new(),
        }
    }

    /// An emulated workspace (token `dev`), in memory.
    fn emulator(&mut self) -> String {
        let running = self
            .rt
            .block_on(emulator::start(EmulatorOptions::default()))
            .expect("emulator");
        let url = running.url.clone();
        self.emulators.push(running);
        url
    }

    /// A server answering every request with `answer`.
    fn serve(&self, answer: Answer) -> Server {
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (answer, log) = (Arc::clone(&answer), Arc::clone(&log));
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX)
                    .await
                    .unwrap_or_default();
                let seen = Received {
                    method: parts.method.clone(),
                    uri: parts
                        .uri
                        .path_and_query()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                    authorization: parts
                        .headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string),
                    body: body.to_vec(),
                };
                log.lock().expect("log").push(seen.clone());
                answer(seen).await
            }
        });
        self.rt.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Server { url, received }
    }

    /// A server that answers `{}` to everything: where stolen requests would land.
    fn collector(&self) -> Server {
        self.serve(Arc::new(|_| {
            Box::pin(async { json_response(StatusCode::OK, "{}".into()) })
        }))
    }

    /// A server in front of the workspace at `upstream`: `intercept` answers what it wants to,
    /// everything else is passed through.
    fn proxy(
        &self,
        upstream: &str,
        intercept: impl Fn(&Received) -> Option<Response> + Send + Sync + 'static,
    ) -> Server {
        let upstream = upstream.to_string();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let intercept = Arc::new(intercept);
        self.serve(Arc::new(move |seen: Received| {
            if let Some(answer) = intercept(&seen) {
                return Box::pin(async move { answer });
            }
            let (http, url) = (http.clone(), format!("{upstream}{}", seen.uri));
            Box::pin(async move { forward(&http, url, seen).await })
        }))
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for running in self.emulators.drain(..) {
            self.rt.block_on(running.stop());
        }
    }
}

async fn forward(http: &reqwest::Client, url: String, seen: Received) -> Response {
    let mut request = http.request(seen.method, url).body(seen.body);
    if let Some(auth) = seen.authorization {
        request = request.header("authorization", auth);
    }
    request = request.header("content-type", "application/json");
    match request.send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).expect("status");
            let text = answer.text().await.unwrap_or_default();
            json_response(status, text)
        }
        Err(e) => json_response(
            StatusCode::BAD_GATEWAY,
            json!({"error_code": "BAD_GATEWAY", "message": e.to_string()}).to_string(),
        ),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("response")
}

fn redirect(status: StatusCode, to: String) -> Response {
    Response::builder()
        .status(status)
        .header("location", to)
        .body(Body::empty())
        .expect("response")
}

/// A JSON body of about `total` bytes streamed in 1 MiB chunks; `produced` counts the bytes
/// the server was asked for (a client that stops reading stops asking).
fn huge_json(total: usize, produced: Arc<AtomicUsize>) -> Response {
    const CHUNK: usize = 1 << 20;
    let pad = bytes::Bytes::from(vec![b'x'; CHUNK]);
    let chunks = std::iter::once(bytes::Bytes::from_static(br#"{"jobs":[],"pad":""#))
        .chain(std::iter::repeat_n(pad, total / CHUNK))
        .chain(std::iter::once(bytes::Bytes::from_static(br#""}"#)))
        .map(move |chunk| {
            produced.fetch_add(chunk.len(), Ordering::Relaxed);
            Ok::<_, std::io::Error>(chunk)
        });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .expect("response")
}

/// An environment whose primary is at `host` (token from `TANDEM_TEST_TOKEN`) and whose
/// secondary is embedded.
fn env_with_primary(host: &str, auth: &str) -> String {
    format!(
        "workspaces:\n  primary:\n    host: {host}\n{auth}  secondary:\n    host: local:secondary\nactive: primary\n"
    )
}

const TOKEN_ENV: &str = "    token_env: TANDEM_TEST_TOKEN\n";

const ONE_JOB: &str = "resources:\n  jobs:\n    etl:\n      name: ETL\n";

// ---------------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------------

/// Asserts the run failed on a redirect: nothing reached `elsewhere`, and the error names the
/// attacker's host and the `status`. Returns the run's output.
fn assert_redirect_refused(
    run: &crate::harness::TandemRun,
    attacker: &Server,
    elsewhere: &Server,
    status: &str,
) -> String {
    let output = run.all_output();
    assert_eq!(run.code(), 1, "{output}");
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.requests()
    );
    assert!(
        output.contains(attacker.authority()) && output.contains(status),
        "the error names the host and the status:\n{output}"
    );
    output
}

#[test]
fn a_redirected_secret_write_reaches_no_other_origin_and_is_not_reported_written() {
    const SECRET: &str = "redirected-secret-value-4711";
    let mut servers = Servers::new();
    let workspace = servers.emulator();
    let elsewhere = servers.collector();
    let target = format!("{}/api/2.0/secrets/put", elsewhere.url);
    // Both kinds that keep method and body: a client following either re-sends the secret.
    let attacker = servers.proxy(&workspace, move |seen| {
        (seen.path() == "/api/2.0/secrets/put")
            .then(|| redirect(StatusCode::TEMPORARY_REDIRECT, target.clone()))
    });
    let repo = TestRepo::with_env(&env_with_primary(&attacker.url, TOKEN_ENV)).file(
        "resources/secrets.yaml",
        "resources:\n  secret_scopes:\n    app:\n      name: app\n      secrets:\n        password: {env: TANDEM_TEST_SECRET}\n",
    );
    let run = repo.tandem_env(
        &["-e", "test", "apply", "--auto-approve"],
        &[("TANDEM_TEST_TOKEN", "dev"), ("TANDEM_TEST_SECRET", SECRET)],
    );
    let output = assert_redirect_refused(&run, &attacker, &elsewhere, "307");
    assert!(
        attacker
            .requests()
            .iter()
            .any(|r| r.path() == "/api/2.0/secrets/put"),
        "the write went out once, to the workspace's own host"
    );
    assert!(
        output.contains(&format!("to {}", elsewhere.url)),
        "the error names where it pointed:\n{output}"
    );
    assert!(
        !output
            .lines()
            .any(|l| l.starts_with("primary") && l.contains("password written")),
        "a redirected write is not reported written:\n{output}"
    );
    assert!(!output.contains(SECRET), "{output}");
    let (status, listed) =
        Ws::remote(&workspace, "dev").call("GET", "/api/2.0/secrets/list?scope=app", None);
    assert!(
        status != 200 || listed["secrets"].as_array().is_none_or(Vec::is_empty),
        "the workspace holds no value either: {listed}"
    );
}

#[test]
fn a_redirected_read_is_an_error_naming_the_host_and_goes_nowhere() {
    let mut servers = Servers::new();
    let workspace = servers.emulator();
    let elsewhere = servers.collector();
    let target = elsewhere.url.clone();
    let attacker = servers.proxy(&workspace, move |seen| {
        (seen.path() == "/api/2.2/jobs/list").then(|| {
            redirect(
                StatusCode::PERMANENT_REDIRECT,
                format!("{target}{}", seen.uri),
            )
        })
    });
    let repo = TestRepo::with_env(&env_with_primary(&attacker.url, TOKEN_ENV))
        .file("resources/jobs.yaml", ONE_JOB);
    let run = repo.tandem_env(&["-e", "test", "plan"], &[("TANDEM_TEST_TOKEN", "dev")]);
    assert_redirect_refused(&run, &attacker, &elsewhere, "308");
    assert_eq!(
        attacker
            .requests()
            .iter()
            .filter(|r| r.path() == "/api/2.2/jobs/list")
            .count(),
        1,
        "a redirect is not retried"
    );
}

// ---------------------------------------------------------------------------------------------
// Huge bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn a_response_larger_than_the_default_cap_stops_the_read_with_a_clear_error() {
    const TOTAL: usize = 160 << 20;
    let mut servers = Servers::new();
    let workspace = servers.emulator();
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&produced);
    let attacker = servers.proxy(&workspace, move |seen| {
        (seen.path() == "/api/2.2/jobs/list").then(|| huge_json(TOTAL, Arc::clone(&counter)))
    });
    let repo = TestRepo::with_env(&env_with_primary(&attacker.url, TOKEN_ENV))
        .file("resources/jobs.yaml", ONE_JOB);
    let run = repo.tandem_env(&["-e", "test", "plan"], &[("TANDEM_TEST_TOKEN", "dev")]);
    let output = run.all_output();
    assert_eq!(run.code(), 1, "{output}");
    assert!(
        output.contains("primary") && output.contains("larger than 64 MiB"),
        "the error names the workspace and the limit:\n{output}"
    );
    let produced = produced.load(Ordering::Relaxed);
    assert!(
        produced < 112 << 20,
        "tandem kept reading past the cap: {} MiB of {} MiB",
        produced >> 20,
        TOTAL >> 20
    );
}

#[test]
fn the_client_stops_reading_at_a_configured_cap_and_refuses_an_announced_oversize() {
    let servers = Servers::new();
    let produced = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&produced);
    let server = servers.serve(Arc::new(move |seen: Received| {
        let counter = Arc::clone(&counter);
        Box::pin(async move {
            if seen.path() == "/announced" {
                // A Content-Length beyond the cap: refused before reading the body.
                json_response(StatusCode::OK, format!("\"{}\"", "y".repeat(3 << 20)))
            } else {
                huge_json(32 << 20, counter)
            }
        })
    }));
    let options = ClientOptions {
        max_response_bytes: 1 << 20,
        max_retries: 0,
        ..ClientOptions::default()
    };
    let client =
        WorkspaceClient::new("primary", &server.url, Token::new("t"), options).expect("client");
    for path in ["/streamed", "/announced"] {
        let error = servers
            .rt
            .block_on(client.get(path, &[]))
            .expect_err("over the cap");
        assert!(
            matches!(error, ClientError::ResponseTooLarge { .. }),
            "{path}: {error}"
        );
        let text = error.to_string();
        assert!(
            text.contains("primary") && text.contains("1 MiB") && text.contains(server.authority()),
            "{text}"
        );
    }
    assert!(
        produced.load(Ordering::Relaxed) < 16 << 20,
        "read on past the cap: {} bytes",
        produced.load(Ordering::Relaxed)
    );
    // A create whose successful answer is cut off may have been carried out.
    let error = servers
        .rt
        .block_on(client.create("/streamed", &json!({})))
        .expect_err("over the cap");
    assert!(
        matches!(error, ClientError::OutcomeUnknown { .. }),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hosts that are not what they seem
// ---------------------------------------------------------------------------------------------

#[test]
fn hosts_that_only_look_loopback_or_carry_user_information_are_refused_by_validate() {
    for host in [
        "http://127.0.0.1@example.com",
        "http://127.attacker.example",
        "http://127.0.0.1.nip.io",
        "http://localhost.evil.com",
        "https://deployer:hunter2@adb-1234567890123456.7.azuredatabricks.net",
        "https://adb-1234567890123456.7.azuredatabricks.net/?o=1234567890123456",
    ] {
        let repo = TestRepo::with_env(&env_with_primary(host, TOKEN_ENV))
            .file("resources/jobs.yaml", ONE_JOB);
        let run = repo.tandem(&["-e", "test", "validate"]);
        let output = run.all_output();
        assert_eq!(run.code(), 1, "{host} accepted:\n{output}");
        assert!(
            output.contains("environments/test.yaml:3:11") && output.contains("invalid host"),
            "{host}: the problem points at the host:\n{output}"
        );
        assert!(!output.contains("hunter2"), "{output}");
    }
}

#[test]
fn a_profile_for_another_host_is_not_sent_to_the_environment_files_host() {
    const TOKEN: &str = "dapi-profile-token-0123456789";
    let mut servers = Servers::new();
    let workspace = servers.emulator();
    let attacker = servers.collector();
    let dir = tempfile::tempdir().expect("dir");
    let cfg = dir.path().join("databrickscfg");
    std::fs::write(
        &cfg,
        format!(
            "[prod]\nhost = https://ADB-1234567890123456.7.azuredatabricks.net/\ntoken = {TOKEN}\n\n[emulated]\nhost = {workspace}\ntoken = dev\n"
        ),
    )
    .expect("cfg");
    let cfg = cfg.to_str().expect("utf-8");
    let repo = TestRepo::with_env(&env_with_primary(&attacker.url, "    profile: prod\n"))
        .file("resources/jobs.yaml", ONE_JOB);
    let run = repo.tandem_env(&["-e", "test", "plan"], &[("DATABRICKS_CONFIG_FILE", cfg)]);
    let output = run.all_output();
    assert_eq!(run.code(), 1, "{output}");
    assert!(attacker.requests().is_empty(), "{:?}", attacker.requests());
    assert!(
        output.contains("workspace primary")
            && output.contains("profile [prod]")
            && output.contains("https://adb-1234567890123456.7.azuredatabricks.net")
            && output.contains(&attacker.url),
        "the error names the workspace and both hosts:\n{output}"
    );
    assert!(!output.contains(TOKEN), "{output}");

    // The profile of the host the file names is used (the check is a binding, not a ban).
    repo.write(
        "environments/test.yaml",
        &env_with_primary(&workspace, "    profile: emulated\n"),
    );
    let run = repo.tandem_env(&["-e", "test", "plan"], &[("DATABRICKS_CONFIG_FILE", cfg)]);
    assert!(run.code() == 0 || run.code() == 2, "{}", run.all_output());
}

#[test]
fn databricks_token_goes_only_to_the_host_databricks_host_names() {
    const TOKEN: &str = "dapi-environment-token-9876543210";
    let servers = Servers::new();
    let attacker = servers.collector();
    let repo = TestRepo::with_env(&env_with_primary(&attacker.url, ""))
        .file("resources/jobs.yaml", ONE_JOB);
    let dir = tempfile::tempdir().expect("dir");
    let no_profile = dir.path().join("none");
    let no_profile = no_profile.to_str().expect("utf-8");
    let other = "https://adb-1234567890123456.7.azuredatabricks.net";
    for (host, expected) in [
        (other, other),
        // No host at all: the token names none, so it goes nowhere.
        ("", "without DATABRICKS_HOST"),
    ] {
        let run = repo.tandem_env(
            &["-e", "test", "plan"],
            &[
                ("DATABRICKS_TOKEN", TOKEN),
                ("DATABRICKS_HOST", host),
                ("DATABRICKS_CONFIG_FILE", no_profile),
            ],
        );
        let output = run.all_output();
        assert_eq!(run.code(), 1, "{output}");
        assert!(
            output.contains("workspace primary") && output.contains(expected),
            "{output}"
        );
        if !host.is_empty() {
            assert!(output.contains(&attacker.url), "{output}");
        }
        assert!(!output.contains(TOKEN), "{output}");
    }
    assert!(attacker.requests().is_empty(), "{:?}", attacker.requests());
}

// ---------------------------------------------------------------------------------------------
// A pull request cannot move the credentials
// ---------------------------------------------------------------------------------------------

#[test]
fn env_from_makes_a_pull_requests_host_change_ineffective() {
    let mut servers = Servers::new();
    let workspace = servers.emulator();
    let attacker = servers.collector();
    let repo = TestRepo::with_env(&env_with_primary(&workspace, TOKEN_ENV))
        .file("resources/jobs.yaml", ONE_JOB)
        .git_init();
    let base = repo.commit("base");
    // The pull request: the primary's host now points at the attacker.
    repo.write(
        "environments/test.yaml",
        &env_with_primary(&attacker.url, TOKEN_ENV),
    );
    repo.write(
        "resources/jobs.yaml",
        "resources:\n  jobs:\n    etl:\n      name: ETL v2\n",
    );
    repo.commit("pull request");
    let envs = [("TANDEM_TEST_TOKEN", "dev")];

    let run = repo.tandem_env(&["--env-from", &base, "-e", "test", "plan"], &envs);
    let output = run.all_output();
    assert_eq!(run.code(), 0, "{output}");
    assert!(attacker.requests().is_empty(), "{:?}", attacker.requests());
    assert!(
        run.stdout().contains("ETL v2"),
        "resources come from the work tree:\n{output}"
    );
    assert!(
        run.stderr().contains("differs from its version at"),
        "the ignored change is reported:\n{output}"
    );

    // Without it, the pull request's host is the one the token goes to: the attack is real.
    let run = repo.tandem_env(&["-e", "test", "plan"], &envs);
    assert!(
        attacker
            .requests()
            .iter()
            .any(|r| r.authorization.as_deref() == Some("Bearer dev")),
        "{}",
        run.all_output()
    );
}

// ---------------------------------------------------------------------------------------------
// OAuth: the token endpoint is the workspace's, and a refused token is replaced once
// ---------------------------------------------------------------------------------------------

/// A workspace auth block for OAuth M2M with the secret in `SP_SECRET`.
const M2M_AUTH: &str = "    auth:\n      type: oauth-m2m\n      client_id: sp-app-id\n      client_secret_env: SP_SECRET\n";

/// The client secret the tests hand tandem.
const SP_SECRET: &str = "sp-secret-value-5151";

/// A server that publishes OIDC discovery naming `token_endpoint`, and answers everything
/// else with `fallback`.
fn discovery_pointing_at(servers: &Servers, token_endpoint: String) -> Server {
    servers.serve(Arc::new(move |seen: Received| {
        let token_endpoint = token_endpoint.clone();
        Box::pin(async move {
            match seen.path() {
                "/oidc/.well-known/oauth-authorization-server" => json_response(
                    StatusCode::OK,
                    json!({"issuer": "x", "token_endpoint": token_endpoint}).to_string(),
                ),
                _ => json_response(
                    StatusCode::NOT_FOUND,
                    json!({"error_code": "NOT_FOUND", "message": "no"}).to_string(),
                ),
            }
        })
    }))
}

#[test]
fn a_token_endpoint_on_another_origin_never_receives_the_client_secret() {
    let servers = Servers::new();
    let elsewhere = servers.collector();
    let workspace = discovery_pointing_at(&servers, format!("{}/oidc/v1/token", elsewhere.url));
    let repo = TestRepo::with_env(&env_with_primary(&workspace.url, M2M_AUTH))
        .file("resources/jobs.yaml", ONE_JOB);
    let run = repo.tandem_env(
        &["-e", "test", "plan"],
        &[("SP_SECRET", SP_SECRET), ("TANDEM_LOG", "debug")],
    );
    let output = run.all_output();
    assert_eq!(run.code(), 1, "{output}");
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
    assert!(
        output.contains("workspace primary") && output.contains("token endpoint on another host"),
        "{output}"
    );
    assert!(!output.contains(SP_SECRET), "{output}");
}

#[test]
fn a_token_endpoint_answering_garbage_is_an_error_and_nothing_is_written() {
    let servers = Servers::new();
    let own = Arc::new(Mutex::new(String::new()));
    let base = Arc::clone(&own);
    let workspace = servers.serve(Arc::new(move |seen: Received| {
        let base = base.lock().expect("base").clone();
        Box::pin(async move {
            match seen.path() {
                "/oidc/.well-known/oauth-authorization-server" => json_response(
                    StatusCode::OK,
                    json!({"token_endpoint": format!("{base}/oidc/v1/token")}).to_string(),
                ),
                "/oidc/v1/token" => Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "text/html")
                    .body(Body::from("<html>Sign in to continue</html>"))
                    .expect("response"),
                _ => json_response(StatusCode::NOT_FOUND, "{}".into()),
            }
        })
    }));
    *own.lock().expect("own") = workspace.url.clone();
    let repo = TestRepo::with_env(&env_with_primary(&workspace.url, M2M_AUTH))
        .file("resources/jobs.yaml", ONE_JOB);
    let run = repo.tandem_env(
        &["-e", "test", "apply", "--auto-approve"],
        &[("SP_SECRET", SP_SECRET)],
    );
    let output = run.all_output();
    assert_eq!(run.code(), 1, "{output}");
    assert!(
        output.contains("workspace primary") && output.contains("not a token"),
        "{output}"
    );
    assert!(!output.contains(SP_SECRET), "{output}");
    // Only the token request reached the workspace: no API call, no write.
    assert!(
        workspace
            .requests()
            .iter()
            .all(|r| !r.path().starts_with("/api/")),
        "{:?}",
        workspace.requests()
    );
    // The embedded secondary was not written either: the apply stopped before any write.
    crate::harness::with_local(&repo, "secondary", |ws| {
        assert!(ws.jobs().is_empty(), "{:?}", ws.jobs())
    });
}

#[test]
fn a_token_refused_mid_run_is_replaced_once_and_the_create_is_not_duplicated() {
    let mut servers = Servers::new();
    let upstream = servers
        .rt
        .block_on(emulator::start(EmulatorOptions {
            tokens: ["issued-token-1", "issued-token-2"]
                .map(emulator::TokenGrant::parse)
                .to_vec(),
            ..EmulatorOptions::default()
        }))
        .expect("emulator");
    let upstream_url = upstream.url.clone();
    servers.emulators.push(upstream);
    let own = Arc::new(Mutex::new(String::new()));
    let issued = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let (base, count, refusals) = (Arc::clone(&own), Arc::clone(&issued), Arc::clone(&refused));
    let workspace = servers.proxy(&upstream_url, move |seen| match seen.path() {
        "/oidc/.well-known/oauth-authorization-server" => Some(json_response(
            StatusCode::OK,
            json!({"token_endpoint": format!("{}/oidc/v1/token", base.lock().expect("base"))})
                .to_string(),
        )),
        "/oidc/v1/token" => {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            Some(json_response(
                StatusCode::OK,
                json!({"access_token": format!("issued-token-{n}"), "token_type": "Bearer", "expires_in": 3600})
                    .to_string(),
            ))
        }
        // The first create is refused as a real workspace refuses an expired token.
        "/api/2.2/jobs/create" if refusals.fetch_add(1, Ordering::SeqCst) == 0 => {
            Some(json_response(
                StatusCode::UNAUTHORIZED,
                json!({"error_code": 401, "message": "Token is expired"}).to_string(),
            ))
        }
        _ => None,
    });
    *own.lock().expect("own") = workspace.url.clone();
    let repo = TestRepo::with_env(&env_with_primary(&workspace.url, M2M_AUTH))
        .file("resources/jobs.yaml", ONE_JOB);
    let run = repo.tandem_env(
        &["-e", "test", "apply", "--auto-approve"],
        &[("SP_SECRET", SP_SECRET), ("TANDEM_LOG", "debug")],
    );
    let output = run.all_output();
    assert_eq!(run.code(), 0, "{output}");
    assert_eq!(
        issued.load(Ordering::SeqCst),
        2,
        "one token, then one more after the 401"
    );
    let creates: Vec<_> = workspace
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/api/2.2/jobs/create")
        .collect();
    assert_eq!(creates.len(), 2, "refused once, sent once more");
    assert_eq!(
        creates[1].authorization.as_deref(),
        Some("Bearer issued-token-2")
    );
    let jobs = Ws::remote(&upstream_url, "issued-token-2").jobs();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    // The client id and secret went as HTTP Basic credentials to the token endpoint only.
    let token_requests: Vec<_> = workspace
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/oidc/v1/token")
        .collect();
    assert!(
        token_requests.iter().all(|r| r
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
            && String::from_utf8_lossy(&r.body).contains("grant_type=client_credentials")),
        "{token_requests:?}"
    );
    for secret in [SP_SECRET, "issued-token-1", "issued-token-2"] {
        assert!(!output.contains(secret), "{secret} leaked:\n{output}");
    }
}
