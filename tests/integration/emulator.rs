//! The workspace emulator over real HTTP: state machine, permissions rules, pagination,
//! persistence, fault rules, the rate limiter, auth.

use std::time::Duration;

use serde_json::{Value, json};
use tandem::emulator::{self, EmulatorOptions, RunningEmulator};

use super::harness::send_request;

/// A minimal HTTP client for the emulator's API (deliberately not tandem's client).
struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Api {
    fn new(emulator: &RunningEmulator) -> Self {
        Api {
            base: emulator.url.clone(),
            token: "dev".into(),
            http: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        send_request(
            &self.http,
            method,
            format!("{}{path}", self.base),
            &self.token,
            body,
        )
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::GET, path, None).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::POST, path, Some(body)).await;
        (s, v)
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::PUT, path, Some(body)).await;
        (s, v)
    }

    async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, v, _) = self.send(reqwest::Method::PATCH, path, Some(body)).await;
        (s, v)
    }

    async fn ok(&self, method: &str, path: &str, body: Value) -> Value {
        let (status, value) = match method {
            "GET" => self.get(path).await,
            _ => self.post(path, body).await,
        };
        assert_eq!(status, 200, "{method} {path}: {value}");
        value
    }
}

async fn start(options: EmulatorOptions) -> RunningEmulator {
    emulator::start(options).await.expect("emulator starts")
}

fn job(name: &str) -> Value {
    json!({"name": name, "max_concurrent_runs": 1, "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}}]})
}

#[tokio::test]
async fn state_survives_a_restart_and_holds_no_secret_value() {
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("ws.json");
    let options = EmulatorOptions {
        state: Some(state.clone()),
        ..EmulatorOptions::default()
    };
    let first = start(options.clone()).await;
    let api = Api::new(&first);
    let job_id = api
        .ok("POST", "/api/2.2/jobs/create", job("persisted"))
        .await["job_id"]
        .clone();
    api.ok(
        "POST",
        "/api/2.0/secrets/scopes/create",
        json!({"scope": "etl"}),
    )
    .await;
    api.ok(
        "POST",
        "/api/2.0/secrets/put",
        json!({"scope": "etl", "key": "pw", "string_value": "s3cr3t-value-xyz"}),
    )
    .await;
    let cluster_id = api.ok("POST", "/api/2.1/clusters/create", json!({"cluster_name": "c", "spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 1})).await["cluster_id"].clone();
    first.stop().await;

    let text = std::fs::read_to_string(&state).expect("state file");
    assert!(!text.contains("s3cr3t-value-xyz"), "secret value persisted");

    let second = start(options).await;
    let api = Api::new(&second);
    let got = api
        .ok(
            "GET",
            &format!("/api/2.2/jobs/get?job_id={job_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(got["settings"]["name"], "persisted");
    let secrets = api
        .ok("GET", "/api/2.0/secrets/list?scope=etl", Value::Null)
        .await;
    assert_eq!(secrets["secrets"][0]["key"], "pw");
    let cluster = api
        .ok(
            "GET",
            &format!(
                "/api/2.1/clusters/get?cluster_id={}",
                cluster_id.as_str().expect("id")
            ),
            Value::Null,
        )
        .await;
    assert_eq!(cluster["cluster_name"], "c");
    // IDs continue after a restart instead of being reused.
    let next = api.ok("POST", "/api/2.2/jobs/create", job("next")).await["job_id"].clone();
    assert_ne!(next, job_id);
    second.stop().await;
}

#[tokio::test]
async fn acknowledged_changes_survive_a_crash_through_the_journal() {
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("ws.json");
    let running = start(EmulatorOptions {
        state: Some(state.clone()),
        ..EmulatorOptions::default()
    })
    .await;
    let api = Api::new(&running);
    let job_id = api
        .ok("POST", "/api/2.2/jobs/create", job("journalled"))
        .await["job_id"]
        .clone();
    // Copy the files as a process killed right now would leave them (no final snapshot).
    let crashed = dir.path().join("crashed");
    std::fs::create_dir_all(&crashed).expect("mkdir");
    std::fs::copy(&state, crashed.join("ws.json")).expect("copy snapshot");
    std::fs::copy(
        dir.path().join("ws.json.journal"),
        crashed.join("ws.json.journal"),
    )
    .expect("copy journal");
    running.stop().await;

    let recovered = start(EmulatorOptions {
        state: Some(crashed.join("ws.json")),
        ..EmulatorOptions::default()
    })
    .await;
    let api = Api::new(&recovered);
    let got = api
        .ok(
            "GET",
            &format!("/api/2.2/jobs/get?job_id={job_id}"),
            Value::Null,
        )
        .await;
    assert_eq!(got["settings"]["name"], "journalled");
    recovered.stop().await;
}

#[tokio::test]
async fn a_state_file_is_served_by_one_process_at_a_time() {
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("ws.json");
    // A lock left by a process that is still alive (PID 1) refuses the state.
    std::fs::write(dir.path().join("ws.json.lock"), "1").expect("lock");
    let error = emulator::start(EmulatorOptions {
        state: Some(state),
        ..EmulatorOptions::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(
        error.to_string().contains("in use by another process"),
        "{error}"
    );
}

#[tokio::test]
async fn embedded_workspaces_keep_state_under_dot_tandem() {
    let root = tempfile::tempdir().expect("root");
    let options = emulator::embedded_options(root.path(), "primary");
    let running = start(options).await;
    Api::new(&running)
        .ok("POST", "/api/2.2/jobs/create", job("embedded"))
        .await;
    running.stop().await;
    assert!(root.path().join(".tandem/local/primary.json").is_file());
}

#[tokio::test]
async fn auth_and_unknown_routes_answer_like_databricks() {
    let running = start(EmulatorOptions::default()).await;
    let mut api = Api::new(&running);
    let (status, body) = api.get("/api/2.1/unknown/thing").await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_code": "ENDPOINT_NOT_FOUND", "message": "No API found for 'GET /unknown/thing'"})
        )
    );
    // A known path with a method it lacks is just as unknown.
    let (status, body) = api.post("/api/2.0/preview/scim/v2/Me", json!({})).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        body["message"],
        json!("No API found for 'POST /preview/scim/v2/Me'")
    );
    let no_token = reqwest::Client::new()
        .get(format!("{}/api/2.2/jobs/list", running.url))
        .send()
        .await
        .expect("send");
    assert_eq!(no_token.status().as_u16(), 401);
    assert_eq!(
        no_token.json::<Value>().await.expect("json"),
        json!({"error_code": 401, "message": "Credential was not sent or was of an unsupported type for this API."})
    );
    api.token = "wrong".into();
    let (status, body) = api.get("/api/2.2/jobs/list").await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"error_code": 403, "message": "Invalid access token."})
    );
}

#[tokio::test]
async fn jobs_list_pages_through_every_job_once() {
    let running = start(EmulatorOptions::default()).await;
    let api = Api::new(&running);
    for i in 0..250 {
        api.ok("POST", "/api/2.2/jobs/create", job(&format!("job-{i}")))
            .await;
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &token {
            Some(t) => format!("/api/2.2/jobs/list?limit=100&page_token={t}"),
            None => "/api/2.2/jobs/list?limit=100&expand_tasks=true".to_string(),
        };
        let page = api.ok("GET", &path, Value::Null).await;
        pages += 1;
        for job in page["jobs"].as_array().expect("jobs") {
            assert!(
                seen.insert(job["job_id"].as_i64().expect("id")),
                "job listed twice"
            );
        }
        match page["next_page_token"].as_str() {
            Some(t) if page["has_more"] == true => token = Some(t.to_string()),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 250);
    assert_eq!(pages, 3);
    let (status, body) = api.get("/api/2.2/jobs/list?limit=101").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = api.get("/api/2.1/jobs/list?limit=101").await;
    assert_eq!(status, 400);
    let (status, _) = api.get("/api/2.1/jobs/list?limit=100").await;
    assert_eq!(status, 200);
    let named = api
        .ok("GET", "/api/2.2/jobs/list?name=JOB-7", Value::Null)
        .await;
    assert_eq!(named["jobs"].as_array().expect("jobs").len(), 1);
    let none = api
        .ok("GET", "/api/2.2/jobs/list?name=nope", Value::Null)
        .await;
    assert!(
        none.get("jobs").is_none(),
        "empty list omits the key: {none}"
    );
}

#[tokio::test]
async fn missing_jobs_and_clusters_answer_400_does_not_exist() {
    let running = start(EmulatorOptions::default()).await;
    let api = Api::new(&running);
    let (status, body) = api.get("/api/2.2/jobs/get?job_id=5").await;
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE");
    assert_eq!(body["message"], "Job 5 does not exist.");
    let (status, body) = api
        .get("/api/2.1/clusters/get?cluster_id=0101-000000-nope")
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("does not exist"),
        "{body}"
    );
}

#[tokio::test]
async fn the_cluster_state_machine_advances_with_time() {
    let running = start(EmulatorOptions {
        cluster_start: Duration::from_millis(300),
        ..EmulatorOptions::default()
    })
    .await;
    let api = Api::new(&running);
    let spec = json!({"cluster_name": "c", "spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 1});
    let id = api
        .ok("POST", "/api/2.1/clusters/create", spec.clone())
        .await["cluster_id"]
        .as_str()
        .expect("id")
        .to_string();
    let get = format!("/api/2.1/clusters/get?cluster_id={id}");
    assert_eq!(api.ok("GET", &get, Value::Null).await["state"], "PENDING");
    let (status, body) = api
        .post("/api/2.1/clusters/start", json!({"cluster_id": id}))
        .await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (400, json!("INVALID_STATE")),
        "{body}"
    );
    let (status, _) = api.post("/api/2.1/clusters/edit", json!({"cluster_id": id, "spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 2})).await;
    assert_eq!(status, 400, "edit while PENDING is refused");
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(api.ok("GET", &get, Value::Null).await["state"], "RUNNING");

    let mut edited = spec.clone();
    edited["cluster_id"] = json!(id);
    edited["num_workers"] = json!(3);
    api.ok("POST", "/api/2.1/clusters/edit", edited).await;
    let after_edit = api.ok("GET", &get, Value::Null).await;
    assert_eq!(after_edit["state"], "RESTARTING");
    assert_eq!(after_edit["num_workers"], 3);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(api.ok("GET", &get, Value::Null).await["state"], "RUNNING");

    api.ok(
        "POST",
        "/api/2.1/clusters/delete",
        json!({"cluster_id": id}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        api.ok("GET", &get, Value::Null).await["state"],
        "TERMINATED"
    );
    // Terminating again is a no-op; the record stays.
    api.ok(
        "POST",
        "/api/2.1/clusters/delete",
        json!({"cluster_id": id}),
    )
    .await;
    api.ok("POST", "/api/2.1/clusters/start", json!({"cluster_id": id}))
        .await;
    assert_eq!(api.ok("GET", &get, Value::Null).await["state"], "PENDING");

    api.ok("POST", "/api/2.1/clusters/pin", json!({"cluster_id": id}))
        .await;
    let (status, body) = api
        .post(
            "/api/2.1/clusters/permanent-delete",
            json!({"cluster_id": id}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .expect("message")
            .contains("unpin the cluster first"),
        "{body}"
    );
    api.ok("POST", "/api/2.1/clusters/unpin", json!({"cluster_id": id}))
        .await;
    api.ok(
        "POST",
        "/api/2.1/clusters/permanent-delete",
        json!({"cluster_id": id}),
    )
    .await;
    let (status, _) = api.get(&get).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn job_permissions_follow_the_owner_rules() {
    let running = start(EmulatorOptions::default()).await;
    let api = Api::new(&running);
    let id = api.ok("POST", "/api/2.2/jobs/create", job("perm")).await["job_id"].clone();
    let path = format!("/api/2.0/permissions/jobs/{id}");

    let initial = api.ok("GET", &path, Value::Null).await;
    assert_eq!(initial["object_id"], format!("/jobs/{id}"));
    assert_eq!(initial["object_type"], "job");
    let acl = initial["access_control_list"].as_array().expect("acl");
    let owner = acl
        .iter()
        .find(|e| e["user_name"] == "admin@example.com")
        .expect("creator entry");
    assert_eq!(owner["all_permissions"][0]["permission_level"], "IS_OWNER");
    let admins = acl
        .iter()
        .find(|e| e["group_name"] == "admins")
        .expect("inherited admins");
    assert_eq!(admins["all_permissions"][0]["inherited"], true);

    let (status, body) = api.put(&path, json!({"access_control_list": [{"group_name": "data-eng", "permission_level": "CAN_VIEW"}]})).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "The job must have exactly one owner.");
    // The last entry per principal wins: IS_OWNER then CAN_MANAGE leaves no owner.
    let (status, _) = api
        .put(
            &path,
            json!({"access_control_list": [
        {"user_name": "alice@example.com", "permission_level": "IS_OWNER"},
        {"user_name": "alice@example.com", "permission_level": "CAN_MANAGE"}]}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = api.put(&path, json!({"access_control_list": [{"user_name": "nobody@example.com", "permission_level": "IS_OWNER"}]})).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = api.put(&path, json!({"access_control_list": [{"user_name": "admin@example.com", "permission_level": "CAN_ATTACH_TO"}]})).await;
    assert_eq!(status, 400, "a cluster level on a job");

    let (status, body) = api
        .put(
            &path,
            json!({"access_control_list": [
        {"user_name": "etl-bot@example.com", "permission_level": "IS_OWNER"},
        {"group_name": "data-eng", "permission_level": "CAN_MANAGE_RUN"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.patch(&path, json!({"access_control_list": [{"group_name": "analysts", "permission_level": "CAN_VIEW"}]})).await;
    assert_eq!(status, 200, "{body}");
    let direct: Vec<(String, String)> = body["access_control_list"]
        .as_array()
        .expect("acl")
        .iter()
        .filter(|e| e["all_permissions"][0]["inherited"] == false)
        .map(|e| {
            let who = e["user_name"]
                .as_str()
                .or(e["group_name"].as_str())
                .unwrap_or_default()
                .to_string();
            (
                who,
                e["all_permissions"][0]["permission_level"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert!(
        direct.contains(&("etl-bot@example.com".into(), "IS_OWNER".into())),
        "{direct:?}"
    );
    assert!(
        direct.contains(&("data-eng".into(), "CAN_MANAGE_RUN".into())),
        "{direct:?}"
    );
    assert!(
        direct.contains(&("analysts".into(), "CAN_VIEW".into())),
        "PATCH merges: {direct:?}"
    );
    assert!(
        !direct.iter().any(|(w, _)| w == "admin@example.com"),
        "PUT replaced the creator's grant: {direct:?}"
    );
}

#[tokio::test]
async fn fault_rules_fail_commit_and_clear() {
    let running = start(EmulatorOptions::default()).await;
    let api = Api::new(&running);
    let admin = |path: &str| format!("{}/__emulator{path}", running.url);
    let http = reqwest::Client::new();
    http.post(admin("/faults"))
        .bearer_auth("dev")
        .json(&json!({"method": "POST", "path": "/api/*/jobs/create", "status": 503, "times": 1, "commit": true}))
        .send()
        .await
        .expect("add rule");
    let (status, _) = api.post("/api/2.2/jobs/create", job("committed")).await;
    assert_eq!(status, 503);
    let listed = api.ok("GET", "/api/2.2/jobs/list", Value::Null).await;
    assert_eq!(
        listed["jobs"].as_array().map(Vec::len),
        Some(1),
        "the create committed despite the 503"
    );

    http.post(admin("/faults"))
        .bearer_auth("dev")
        .json(&json!({"path": "/api/2.2/jobs/list", "status": 429, "retry_after": 2, "times": 2, "skip_first": 1}))
        .send()
        .await
        .expect("add rule");
    let statuses: Vec<u16> = {
        let mut out = Vec::new();
        for _ in 0..4 {
            let (status, _, headers) = api
                .send(reqwest::Method::GET, "/api/2.2/jobs/list", None)
                .await;
            if status == 429 {
                assert_eq!(
                    headers.get("retry-after").and_then(|v| v.to_str().ok()),
                    Some("2")
                );
            }
            out.push(status);
        }
        out
    };
    assert_eq!(statuses, [200, 429, 429, 200]);

    let stats: Value = http
        .get(admin("/stats"))
        .bearer_auth("dev")
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["routes"]["GET /api/2.2/jobs/list"], 5);
    assert_eq!(stats["faults_injected"], 3);

    http.delete(admin("/faults"))
        .bearer_auth("dev")
        .send()
        .await
        .expect("clear");
    http.post(admin("/reset"))
        .bearer_auth("dev")
        .send()
        .await
        .expect("reset");
    let listed = api.ok("GET", "/api/2.2/jobs/list", Value::Null).await;
    assert!(
        listed.get("jobs").is_none(),
        "reset empties the workspace: {listed}"
    );
}

#[tokio::test]
async fn the_rate_limiter_answers_429_with_retry_after() {
    let running = start(EmulatorOptions {
        rate_limit: Some(5),
        ..EmulatorOptions::default()
    })
    .await;
    let api = Api::new(&running);
    let mut limited = 0;
    for _ in 0..20 {
        let (status, body, headers) = api
            .send(reqwest::Method::GET, "/api/2.2/jobs/list", None)
            .await;
        if status == 429 {
            limited += 1;
            assert_eq!(body["error_code"], "REQUEST_LIMIT_EXCEEDED");
            let after: u64 = headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("Retry-After");
            assert!(after >= 1);
        }
    }
    // A burst of 5 passes, the rest of a quick burst of 20 is limited.
    assert!(limited >= 10, "only {limited} of 20 limited");
}

#[tokio::test]
async fn latency_is_added_to_every_request() {
    let running = start(EmulatorOptions {
        latency: Duration::from_millis(120),
        ..EmulatorOptions::default()
    })
    .await;
    let api = Api::new(&running);
    let started = std::time::Instant::now();
    api.get("/api/2.2/jobs/list").await;
    assert!(started.elapsed() >= Duration::from_millis(120));
}

/// An emulator with one OAuth client (`sp-1`, secret `s3cret`) whose tokens live `ttl`.
async fn oauth_emulator(dir: &std::path::Path, ttl: Duration) -> RunningEmulator {
    let file = dir.join("oauth.yaml");
    std::fs::write(
        &file,
        "account_id: 7f1c0c9e-0000-4000-8000-00000000000a\n\
         clients: [{client_id: sp-1, client_secret: s3cret}]\n",
    )
    .expect("oauth file");
    start(EmulatorOptions {
        oauth: Some(file),
        token_ttl: ttl,
        ..EmulatorOptions::default()
    })
    .await
}

async fn client_credentials(running: &RunningEmulator, secret: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/oidc/v1/token", running.url))
        .basic_auth("sp-1", Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=all-apis")
        .send()
        .await
        .expect("token request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn oauth_m2m_discovery_and_tokens_over_http() {
    let dir = tempfile::tempdir().expect("dir");
    let running = oauth_emulator(dir.path(), Duration::from_secs(60)).await;
    let http = reqwest::Client::new();
    // Host metadata and discovery need no credentials.
    let meta: Value = http
        .get(format!("{}/.well-known/databricks-config", running.url))
        .send()
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(meta["oidc_endpoint"], format!("{}/oidc", running.url));
    assert_eq!(meta["account_id"], "7f1c0c9e-0000-4000-8000-00000000000a");
    assert_eq!(meta["cloud"], "azure", "the default cloud");
    let other = http
        .get(format!("{}/.well-known/openid-configuration", running.url))
        .send()
        .await
        .expect("other");
    assert_eq!(other.status().as_u16(), 404);
    let discovery: Value = http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            meta["oidc_endpoint"].as_str().expect("oidc")
        ))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("json");
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/oidc/v1/token", running.url)
    );

    let (status, answer) = client_credentials(&running, "s3cret").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["expires_in"], 60);
    let mut api = Api::new(&running);
    api.token = answer["access_token"].as_str().expect("token").into();
    let me = api
        .ok("GET", "/api/2.0/preview/scim/v2/Me", Value::Null)
        .await;
    assert_eq!(me["userName"], "sp-1");
    api.ok("GET", "/api/2.2/jobs/list", Value::Null).await;
    // The admin routes take the issued token too; token requests are counted.
    let stats = api.ok("GET", "/__emulator/stats", Value::Null).await;
    assert_eq!(stats["routes"]["POST /oidc/v1/token"], 1, "{stats}");

    let (status, answer) = client_credentials(&running, "wrong").await;
    assert_eq!(status, 401);
    assert_eq!(
        answer,
        json!({"error": "invalid_client", "error_description": "Client authentication failed"})
    );
}

#[tokio::test]
async fn an_expired_oauth_token_gets_401_token_is_expired() {
    let dir = tempfile::tempdir().expect("dir");
    // Long enough that a loaded machine still uses the token before it expires.
    let lifetime = Duration::from_secs(2);
    let running = oauth_emulator(dir.path(), lifetime).await;
    let asked = std::time::Instant::now();
    let (status, answer) = client_credentials(&running, "s3cret").await;
    assert_eq!(status, 200, "{answer}");
    let mut api = Api::new(&running);
    api.token = answer["access_token"].as_str().expect("token").into();
    api.ok("GET", "/api/2.2/jobs/list", Value::Null).await;
    let expired = asked + lifetime + Duration::from_millis(200);
    tokio::time::sleep(expired.saturating_duration_since(std::time::Instant::now())).await;
    for path in ["/api/2.2/jobs/list", "/__emulator/stats"] {
        let (status, body, headers) = api.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(
            body,
            json!({"error_code": 401, "message": "Token is expired"})
        );
        assert_eq!(
            headers["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
    }
    // The `--token` grant never expires.
    api.token = "dev".into();
    api.ok("GET", "/api/2.2/jobs/list", Value::Null).await;
}
