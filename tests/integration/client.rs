//! tandem's workspace client against the emulator: retries, Retry-After, unknown outcomes of
//! creates, the adaptive limit, error dialects.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem::client::{ClientError, ClientOptions, Token, WorkspaceClient};
use tandem::emulator::{self, EmulatorOptions, RunningEmulator};

async fn emulator() -> RunningEmulator {
    emulator::start(EmulatorOptions::default())
        .await
        .expect("emulator")
}

fn client(running: &RunningEmulator, token: &str) -> WorkspaceClient {
    let options = ClientOptions {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..ClientOptions::default()
    };
    WorkspaceClient::new("primary", &running.url, Token::new(token), options).expect("client")
}

async fn add_fault(running: &RunningEmulator, rule: Value) {
    reqwest::Client::new()
        .post(format!("{}/__emulator/faults", running.url))
        .bearer_auth("dev")
        .json(&rule)
        .send()
        .await
        .expect("fault");
}

async fn route_count(running: &RunningEmulator, route: &str) -> u64 {
    let stats: Value = reqwest::Client::new()
        .get(format!("{}/__emulator/stats", running.url))
        .bearer_auth("dev")
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    stats["routes"][route].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn reads_are_retried_through_503s() {
    let running = emulator().await;
    add_fault(
        &running,
        json!({"path": "/api/2.2/jobs/list", "status": 503, "times": 2}),
    )
    .await;
    let c = client(&running, "dev");
    c.get("/api/2.2/jobs/list", &[])
        .await
        .expect("third attempt succeeds");
    assert_eq!(route_count(&running, "GET /api/2.2/jobs/list").await, 3);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let running = emulator().await;
    add_fault(
        &running,
        json!({"path": "/api/2.2/jobs/list", "status": 429, "retry_after": 1, "times": 1}),
    )
    .await;
    let c = client(&running, "dev");
    let started = Instant::now();
    c.get("/api/2.2/jobs/list", &[])
        .await
        .expect("succeeds after waiting");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited only {:?}",
        started.elapsed()
    );
    assert_eq!(
        c.stats.throttled.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(c.current_limit() < 16, "the adaptive limit shrinks on 429");
}

#[tokio::test]
async fn a_create_that_may_have_committed_is_not_repeated() {
    let running = emulator().await;
    add_fault(&running, json!({"method": "POST", "path": "/api/2.2/jobs/create", "status": 503, "times": 1, "commit": true})).await;
    let c = client(&running, "dev");
    let error = c
        .create("/api/2.2/jobs/create", &json!({"name": "once"}))
        .await
        .expect_err("outcome unknown");
    assert!(
        matches!(error, ClientError::OutcomeUnknown { .. }),
        "{error:?}"
    );
    assert_eq!(
        route_count(&running, "POST /api/2.2/jobs/create").await,
        1,
        "not retried blindly"
    );
    let jobs = c.get("/api/2.2/jobs/list", &[]).await.expect("list");
    assert_eq!(
        jobs["jobs"].as_array().map(Vec::len),
        Some(1),
        "the create did commit"
    );
}

#[tokio::test]
async fn both_not_found_dialects_and_bad_tokens_are_classified() {
    let running = emulator().await;
    let c = client(&running, "dev");
    let missing = c
        .get("/api/2.2/jobs/get", &[("job_id", "42".into())])
        .await
        .expect_err("missing");
    assert!(missing.is_not_found(), "{missing:?}");
    let missing_scope = c
        .post("/api/2.0/secrets/scopes/delete", &json!({"scope": "nope"}))
        .await
        .expect_err("missing");
    assert!(missing_scope.is_not_found(), "{missing_scope:?}");
    let wrong = client(&running, "wrong-token-value");
    let error = wrong
        .get("/api/2.2/jobs/list", &[])
        .await
        .expect_err("forbidden");
    assert_eq!(error.code(), Some("403"));
    assert!(
        !format!("{error} {error:?}").contains("wrong-token-value"),
        "the token never appears in errors"
    );
}

#[tokio::test]
async fn an_unreachable_workspace_is_a_transport_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let options = ClientOptions {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
        max_retries: 2,
        ..ClientOptions::default()
    };
    let c = WorkspaceClient::new(
        "primary",
        &format!("http://127.0.0.1:{port}"),
        Token::new("dev"),
        options,
    )
    .expect("client");
    let error = c
        .get("/api/2.2/jobs/list", &[])
        .await
        .expect_err("unreachable");
    assert!(matches!(error, ClientError::Transport { .. }), "{error:?}");
    assert_eq!(
        c.stats.requests.load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}
