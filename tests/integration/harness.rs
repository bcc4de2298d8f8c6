//! A temporary tandem repository and ways to run tandem against it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use assert_cmd::Command;
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::Digest as _;
use tandem::emulator::{self, RunningEmulator};

/// The repository's own root (where `examples/` and `environments/` live).
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temporary config repository.
pub struct TestRepo {
    dir: tempfile::TempDir,
    git: Option<git2::Repository>,
}

/// A pair of workspaces on embedded emulators, the smallest valid environment.
pub const PAIR_ENV: &str = "workspaces:\n  primary:\n    host: local:primary\n  secondary:\n    host: local:secondary\nactive: primary\n";

/// Three workspaces on embedded emulators, the primary active.
pub const TRIO_ENV: &str = "workspaces:\n  primary:\n    host: local:primary\n  secondary:\n    host: local:secondary\n  tertiary:\n    host: local:tertiary\nactive: primary\n";

impl TestRepo {
    /// An empty repository directory.
    pub fn new() -> Self {
        TestRepo {
            dir: tempfile::tempdir().expect("temp dir"),
            git: None,
        }
    }

    /// A repository with `environments/test.yaml` holding `env`.
    pub fn with_env(env: &str) -> Self {
        Self::new().file("environments/test.yaml", env)
    }

    /// Writes a file (creating directories).
    pub fn file(self, rel: &str, contents: &str) -> Self {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
        self
    }

    /// Copies a directory of the project (e.g. `examples`) into the repository.
    pub fn copy_from_project(self, rel: &str) -> Self {
        copy_dir(&project_root().join(rel), &self.dir.path().join(rel));
        self
    }

    /// Makes the directory a Git repository.
    pub fn git_init(mut self) -> Self {
        self.git = Some(git2::Repository::init(self.dir.path()).expect("git init"));
        self
    }

    /// Commits every file; returns the commit's SHA.
    pub fn commit(&self, message: &str) -> String {
        let repo = self.git.as_ref().expect("git_init first");
        let mut index = repo.index().expect("index");
        index
            .add_all(["*"].iter(), git2::IndexAddOption::DEFAULT, None)
            .expect("add");
        index.write().expect("write index");
        let tree = repo
            .find_tree(index.write_tree().expect("tree"))
            .expect("find tree");
        let sig = git2::Signature::now("Test", "test@example.com").expect("sig");
        let parents: Vec<git2::Commit> = repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parent_refs)
            .expect("commit")
            .to_string()
    }

    /// The repository's path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes (or overwrites) a file of an existing repository, creating directories.
    pub fn write(&self, rel: &str, contents: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    /// Like [`TestRepo::tandem`], with extra environment variables set on the tandem process
    /// (set after the inherited tandem settings are removed, so `TANDEM_LOG` may be given).
    pub fn tandem_env(&self, args: &[&str], envs: &[(&str, &str)]) -> TandemRun {
        let mut command = Command::cargo_bin("tandem").expect("binary");
        command
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("TANDEM_ENV")
            .env_remove("TANDEM_LOG");
        for (key, value) in envs {
            command.env(key, value);
        }
        TandemRun {
            output: command.output().expect("run tandem"),
        }
    }

    /// `tandem -C <repo> <args>`, with colour off and no inherited tandem settings.
    pub fn tandem(&self, args: &[&str]) -> TandemRun {
        let output = Command::cargo_bin("tandem")
            .expect("binary")
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("TANDEM_ENV")
            .env_remove("TANDEM_LOG")
            .output()
            .expect("run tandem");
        TandemRun { output }
    }
}

/// The outcome of one tandem run.
pub struct TandemRun {
    output: Output,
}

impl TandemRun {
    /// Exit code.
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }
    /// Standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    /// Standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    /// Asserts success and returns stdout.
    pub fn success(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "tandem failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Standard output and standard error together.
    pub fn all_output(&self) -> String {
        format!("{}\n{}", self.stdout(), self.stderr())
    }
    /// Asserts exit code 1 and returns stderr.
    pub fn failure(&self) -> String {
        assert_eq!(
            self.code(),
            1,
            "expected failure:\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stderr()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Git inspection helpers (added for tests/integration/promote.rs). Additions only: nothing above
// this line depends on them.
// ---------------------------------------------------------------------------------------------

impl TestRepo {
    /// The Git repository (after [`TestRepo::git_init`]).
    pub fn git_repo(&self) -> &git2::Repository {
        self.git.as_ref().expect("git_init first")
    }

    /// A file of the work tree, as text.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).expect("read file")
    }

    /// The commit HEAD points to.
    pub fn head_commit(&self) -> git2::Commit<'_> {
        self.git_repo()
            .head()
            .expect("HEAD")
            .peel_to_commit()
            .expect("HEAD commit")
    }

    /// HEAD's SHA.
    pub fn head_sha(&self) -> String {
        self.head_commit().id().to_string()
    }

    /// HEAD's full commit message.
    pub fn head_message(&self) -> String {
        self.head_commit().message().unwrap_or_default().to_string()
    }

    /// How many commits HEAD's history holds.
    pub fn commit_count(&self) -> usize {
        let repo = self.git_repo();
        let mut walk = repo.revwalk().expect("revwalk");
        walk.push_head().expect("push HEAD");
        walk.count()
    }

    /// The content of `rel` in HEAD's tree (`None` when HEAD has no such file).
    pub fn file_at_head(&self, rel: &str) -> Option<String> {
        let commit = self.head_commit();
        let tree = commit.tree().expect("tree");
        let entry = tree.get_path(Path::new(rel)).ok()?;
        let blob = entry
            .to_object(self.git_repo())
            .expect("object")
            .peel_to_blob()
            .expect("blob");
        Some(String::from_utf8_lossy(blob.content()).into_owned())
    }

    /// The paths HEAD changed compared with its first parent (every path for a root commit).
    pub fn files_changed_by_head(&self) -> Vec<String> {
        let repo = self.git_repo();
        let commit = self.head_commit();
        let tree = commit.tree().expect("tree");
        let parent_tree = commit
            .parent(0)
            .ok()
            .map(|p| p.tree().expect("parent tree"));
        let diff = repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&tree), None)
            .expect("diff");
        diff.deltas()
            .filter_map(|d| d.new_file().path().or_else(|| d.old_file().path()))
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .collect()
    }

    /// Whether `rel` differs from HEAD in the index or the work tree (untracked counts).
    pub fn is_modified(&self, rel: &str) -> bool {
        let status = self.git_repo().status_file(Path::new(rel)).expect("status");
        !status.is_empty() && status != git2::Status::CURRENT && status != git2::Status::IGNORED
    }

    /// `git checkout HEAD -- <rel>`: the file (or every file under a folder) as HEAD has it.
    pub fn checkout_from_head(&self, rel: &str) {
        let mut options = git2::build::CheckoutBuilder::new();
        options.force().path(rel);
        self.git_repo()
            .checkout_head(Some(&mut options))
            .expect("checkout");
    }
}

// ---------------------------------------------------------------------------------------------
// Tandem runs and emulated workspaces (shared by apply.rs, promote.rs and emulator.rs).
// ---------------------------------------------------------------------------------------------

/// Asserts that the run succeeded and returns its stdout.
pub fn ok(run: &TandemRun) -> String {
    run.success()
}

/// Asserts that `tandem -e test plan --detailed-exitcode` (with `envs`) finds no changes.
pub fn assert_converged(repo: &TestRepo, envs: &[(&str, &str)]) {
    let run = repo.tandem_env(&["-e", "test", "plan", "--detailed-exitcode"], envs);
    assert_eq!(
        run.code(),
        0,
        "expected no changes:\n{}\n{}",
        run.stdout(),
        run.stderr()
    );
}

/// A direct (not inherited) grant: principal and level.
pub type Grants = BTreeSet<(String, String)>;

/// Grants from `(principal, level)` pairs.
pub fn grants(entries: &[(&str, &str)]) -> Grants {
    entries
        .iter()
        .map(|(p, l)| (p.to_string(), l.to_string()))
        .collect()
}

/// Sends one request with a bearer token: status, JSON body (`Null` when blank, the text when not JSON), headers.
pub async fn send_request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value, headers)
}

/// A blocking client for one emulated workspace: an embedded `local:` workspace opened in this
/// process on its state file (after tandem exited), or an emulator served elsewhere.
pub struct Ws {
    rt: tokio::runtime::Runtime,
    running: Option<RunningEmulator>,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Ws {
    /// Serves the embedded workspace `name` of `repo` from its state file.
    pub fn local(repo: &TestRepo, name: &str) -> Ws {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let running = rt
            .block_on(emulator::start(emulator::embedded_options(
                repo.path(),
                name,
            )))
            .expect("embedded emulator starts on its state file");
        Ws {
            base: running.url.clone(),
            running: Some(running),
            rt,
            token: "dev".into(),
            http: reqwest::Client::new(),
        }
    }

    /// A client for an emulator served elsewhere.
    pub fn remote(url: &str, token: &str) -> Ws {
        Ws {
            rt: tokio::runtime::Runtime::new().expect("runtime"),
            running: None,
            base: url.to_string(),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// One request: status and JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let url = format!("{}{path}", self.base);
        let (status, value, _) =
            self.rt
                .block_on(send_request(&self.http, method, url, &self.token, body));
        (status, value)
    }

    /// `GET`, repeated while a flaky emulator answers 429 or 503 (reads are safe to repeat).
    pub fn get(&self, path: &str) -> Value {
        let mut attempts = 0;
        loop {
            let (status, value) = self.call("GET", path, None);
            attempts += 1;
            if matches!(status, 429 | 503) && attempts < 30 {
                std::thread::sleep(Duration::from_millis(if status == 429 { 1000 } else { 50 }));
                continue;
            }
            assert_eq!(status, 200, "GET {path}: {value}");
            return value;
        }
    }

    /// `POST`, asserting 200.
    pub fn post(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.call("POST", path, Some(body));
        assert_eq!(status, 200, "POST {path}: {value}");
        value
    }

    /// Adds a fault rule (`POST /__emulator/faults`).
    pub fn add_fault(&self, rule: Value) {
        let (status, value) = self.call("POST", "/__emulator/faults", Some(rule));
        assert_eq!(status, 200, "fault rule: {value}");
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        let (status, value) = self.call("DELETE", "/__emulator/faults", None);
        assert_eq!(status, 200, "clear faults: {value}");
    }

    /// Forgets the request counts.
    pub fn reset_stats(&self) {
        let (status, value) = self.call("DELETE", "/__emulator/stats", None);
        assert_eq!(status, 200, "reset stats: {value}");
    }

    /// The emulator's statistics (`GET /__emulator/stats`).
    pub fn stats(&self) -> Value {
        self.get("/__emulator/stats")
    }

    /// `"METHOD /route/template"` → count, since the last reset.
    pub fn route_counts(&self) -> BTreeMap<String, u64> {
        self.stats()["routes"]
            .as_object()
            .expect("routes")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
            .collect()
    }

    /// The requests other than reads since the last reset.
    pub fn writes(&self) -> BTreeMap<String, u64> {
        self.route_counts()
            .into_iter()
            .filter(|(k, _)| !k.starts_with("GET "))
            .collect()
    }

    /// Every item (`field`) of a paged list, following `next_page_token` (and `has_more` if asked).
    fn paged(&self, first: &str, field: &str, check_has_more: bool) -> Vec<Value> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = first.to_string();
            if let Some(t) = &token {
                path.push_str(&format!("&page_token={t}"));
            }
            let page = self.get(&path);
            out.extend(page[field].as_array().cloned().unwrap_or_default());
            let more = !check_has_more || page["has_more"] == true;
            match page["next_page_token"].as_str() {
                Some(t) if more && !t.is_empty() => token = Some(t.into()),
                _ => break,
            }
        }
        out
    }

    /// Every job, with its tasks.
    pub fn jobs(&self) -> Vec<Value> {
        self.paged(
            "/api/2.2/jobs/list?limit=100&expand_tasks=true",
            "jobs",
            true,
        )
    }

    /// Every cluster.
    pub fn clusters(&self) -> Vec<Value> {
        self.paged("/api/2.1/clusters/list?page_size=100", "clusters", false)
    }

    /// Every instance pool.
    pub fn pools(&self) -> Vec<Value> {
        self.get("/api/2.0/instance-pools/list")["instance_pools"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// tandem's managed objects of `kind`, by logical key (every one, duplicates included).
    pub fn managed(&self, kind: &str) -> Vec<(String, Value)> {
        let (objects, tags) = match kind {
            "jobs" => (self.jobs(), "/settings/tags"),
            "clusters" => (self.clusters(), "/custom_tags"),
            "instance_pools" => (self.pools(), "/custom_tags"),
            other => panic!("kind {other}"),
        };
        objects
            .into_iter()
            .filter_map(|o| {
                let key = o
                    .pointer(tags)
                    .and_then(|t| t.get("tandem-key"))
                    .and_then(Value::as_str)?
                    .to_string();
                Some((key, o))
            })
            .collect()
    }

    /// tandem's logical key → how many objects of the kind carry it.
    pub fn key_counts(&self, kind: &str) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for (key, _) in self.managed(kind) {
            *counts.entry(key).or_default() += 1;
        }
        counts
    }

    /// The managed objects of a kind with logical key `key` (all of them: duplicates included).
    pub fn all_by_key(&self, kind: &str, key: &str) -> Vec<Value> {
        self.managed(kind)
            .into_iter()
            .filter(|(k, _)| k == key)
            .map(|(_, o)| o)
            .collect()
    }

    /// The one managed object with logical key `key`, if any (panics on duplicates).
    pub fn find(&self, kind: &str, key: &str) -> Option<Value> {
        let mut found = self.all_by_key(kind, key);
        assert!(found.len() <= 1, "{} {kind}.{key} objects", found.len());
        found.pop()
    }

    /// The one managed object with logical key `key` (panics when missing).
    pub fn one(&self, kind: &str, key: &str) -> Value {
        self.find(kind, key)
            .unwrap_or_else(|| panic!("{kind}.{key} does not exist in {}", self.base))
    }

    /// The full settings of job `key` (jobs/get).
    pub fn job_settings(&self, key: &str) -> Value {
        let id = self.one("jobs", key)["job_id"].clone();
        self.get(&format!("/api/2.2/jobs/get?job_id={id}"))["settings"].clone()
    }

    /// Cluster `key` as clusters/get answers.
    pub fn cluster(&self, key: &str) -> Value {
        let id = self.one("clusters", key)["cluster_id"]
            .as_str()
            .expect("id")
            .to_string();
        self.get(&format!("/api/2.1/clusters/get?cluster_id={id}"))
    }

    /// Cluster `key`'s run state.
    pub fn cluster_state(&self, key: &str) -> String {
        self.cluster(key)["state"]
            .as_str()
            .expect("state")
            .to_string()
    }

    /// Direct grants of an object (`jobs`, `clusters`, `instance-pools`).
    pub fn grants_of(&self, object_type: &str, id: &Value) -> Grants {
        let id = match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let answer = self.get(&format!("/api/2.0/permissions/{object_type}/{id}"));
        let mut out = Grants::new();
        for entry in answer["access_control_list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let who = ["user_name", "group_name", "service_principal_name"]
                .iter()
                .find_map(|f| entry[*f].as_str())
                .expect("principal")
                .to_string();
            for p in entry["all_permissions"].as_array().into_iter().flatten() {
                if p["inherited"] != true {
                    out.insert((
                        who.clone(),
                        p["permission_level"].as_str().expect("level").into(),
                    ));
                }
            }
        }
        out
    }

    /// Direct grants of job `key`.
    pub fn job_grants(&self, key: &str) -> Grants {
        self.grants_of("jobs", &self.one("jobs", key)["job_id"])
    }

    /// Direct grants of cluster `key`.
    pub fn cluster_grants(&self, key: &str) -> Grants {
        self.grants_of("clusters", &self.one("clusters", key)["cluster_id"])
    }

    /// Direct grants of instance pool `key`.
    pub fn pool_grants(&self, key: &str) -> Grants {
        self.grants_of(
            "instance-pools",
            &self.one("instance_pools", key)["instance_pool_id"],
        )
    }

    /// The names of every secret scope.
    pub fn scopes(&self) -> BTreeSet<String> {
        self.get("/api/2.0/secrets/scopes/list")["scopes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| s["name"].as_str().expect("name").to_string())
            .collect()
    }

    /// Secret key → last_updated_timestamp.
    pub fn secrets(&self, scope: &str) -> BTreeMap<String, i64> {
        self.get(&format!("/api/2.0/secrets/list?scope={scope}"))["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                (
                    s["key"].as_str().expect("key").to_string(),
                    s["last_updated_timestamp"].as_i64().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// A scope's ACLs: principal → permission.
    pub fn acls(&self, scope: &str) -> BTreeMap<String, String> {
        self.get(&format!("/api/2.0/secrets/acls/list?scope={scope}"))["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    a["principal"].as_str().expect("principal").to_string(),
                    a["permission"].as_str().expect("permission").to_string(),
                )
            })
            .collect()
    }

    /// Whether secret `key` of `scope` holds `value`, as the emulator itself checks it against
    /// its keyed fingerprint (in-process workspaces only: no route answers this).
    pub fn secret_value_is(&self, scope: &str, key: &str, value: &str) -> bool {
        let running = self.running.as_ref().expect("an in-process workspace");
        running
            .workspace
            .secret_value_is(scope, key, value.as_bytes())
    }

    /// A workspace file's JSON content, if it exists.
    pub fn read_file_json(&self, path: &str) -> Option<Value> {
        let (status, answer) = self.call(
            "GET",
            &format!("/api/2.0/workspace/export?path={path}&format=SOURCE"),
            None,
        );
        if status != 200 {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(answer["content"].as_str().expect("content"))
            .expect("base64");
        Some(serde_json::from_slice(&bytes).expect("json file"))
    }

    /// Writes a JSON workspace file (creating its folder), replacing any existing one.
    pub fn write_file_json(&self, path: &str, value: &Value) {
        let dir = path.rsplit_once('/').expect("dir").0;
        self.post("/api/2.0/workspace/mkdirs", json!({"path": dir}));
        let content = base64::engine::general_purpose::STANDARD
            .encode(serde_json::to_vec(value).expect("json"));
        self.post(
            "/api/2.0/workspace/import",
            json!({"path": path, "content": content, "format": "AUTO", "overwrite": true}),
        );
    }

    /// The environment `test`'s state record in this workspace, if any.
    pub fn state_record(&self) -> Option<Value> {
        self.read_file_json("/Shared/.tandem/test/state.json")
    }

    /// The state record, which must exist.
    pub fn record(&self) -> Value {
        self.state_record().expect("a state record")
    }

    /// Writes the environment `test`'s state record as tandem does: the file, and its SHA-256
    /// named in the seal scope `tandem.test` (any older digest removed). What a test writes with
    /// [`Ws::write_file_json`] instead is a forgery tandem must refuse.
    pub fn write_record(&self, record: &Value) {
        let bytes = serde_json::to_vec_pretty(record).expect("json");
        let digest = sha256_hex(&bytes);
        let (status, _) = self.call(
            "POST",
            "/api/2.0/secrets/scopes/create",
            Some(json!({"scope": "tandem.test"})),
        );
        assert!(status == 200 || status == 400, "seal scope: {status}");
        let stale: Vec<String> = self
            .secrets("tandem.test")
            .into_keys()
            .filter(|k| k.starts_with("record.") && *k != format!("record.{digest}"))
            .collect();
        self.post(
            "/api/2.0/secrets/put",
            json!({"scope": "tandem.test", "key": format!("record.{digest}"), "string_value": "sealed"}),
        );
        self.post(
            "/api/2.0/workspace/mkdirs",
            json!({"path": "/Shared/.tandem/test"}),
        );
        let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
        self.post(
            "/api/2.0/workspace/import",
            json!({"path": "/Shared/.tandem/test/state.json", "content": content, "format": "AUTO", "overwrite": true}),
        );
        for key in stale {
            self.post(
                "/api/2.0/secrets/delete",
                json!({"scope": "tandem.test", "key": key}),
            );
        }
    }

    /// The environment `test`'s lock in this workspace, if any.
    pub fn lock(&self) -> Option<Value> {
        self.read_file_json("/Shared/.tandem/test/lock.json")
    }

    /// Stops an in-process workspace, persisting its state and freeing its state file.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            // Close pooled connections first, so the server's shutdown need not wait for them.
            self.http = reqwest::Client::new();
            self.rt.block_on(running.stop());
        }
    }
}

impl Drop for Ws {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Opens an embedded workspace, runs `f` on it, and closes it again.
pub fn with_local<T>(repo: &TestRepo, name: &str, f: impl FnOnce(&Ws) -> T) -> T {
    let ws = Ws::local(repo, name);
    let out = f(&ws);
    ws.close();
    out
}

/// A free loopback port (bound and released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `tandem emulator` as a subprocess on a state file; killed when dropped.
pub struct Emulator {
    child: Option<Child>,
    state: PathBuf,
    port: u16,
    extra: Vec<String>,
    /// The URL it serves.
    pub url: String,
}

impl Emulator {
    /// Started on any port, with extra flags (`--faults`, `--token`, `--latency-ms`, …).
    pub fn spawn(state: &Path, extra: &[&str]) -> Emulator {
        Self::launch(state, 0, extra)
    }

    /// Started on a port of our choosing, so it can be killed and started again at the same
    /// address on the same state file.
    pub fn restartable(state: &Path) -> Emulator {
        Self::launch(state, free_port(), &[])
    }

    fn launch(state: &Path, port: u16, extra: &[&str]) -> Emulator {
        let mut emulator = Emulator {
            child: None,
            state: state.to_path_buf(),
            port,
            extra: extra.iter().map(|e| e.to_string()).collect(),
            url: String::new(),
        };
        emulator.start();
        emulator
    }

    /// Starts the process (again) and waits for it to print its URL.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .args(["emulator", "--port", &self.port.to_string(), "--state"])
            .arg(&self.state)
            .args(&self.extra)
            .env_remove("TANDEM_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tandem emulator");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Keep draining stdout so the emulator never writes into a closed pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("tandem workspace emulator listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the emulator prints its URL");
        if self.port != 0 {
            assert_eq!(url, format!("http://127.0.0.1:{}", self.port));
        }
        self.url = url;
        self.child = Some(child);
    }

    /// Kills the process (the workspace becomes unreachable; its state file stays).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A client for it (token `dev`).
    pub fn client(&self) -> Ws {
        Ws::remote(&self.url, "dev")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An environment of two external emulators, `primary` active, token from `TANDEM_TEST_TOKEN`.
pub fn remote_env(primary: &str, secondary: &str) -> String {
    format!(
        "workspaces:\n  primary:\n    host: {primary}\n    token_env: TANDEM_TEST_TOKEN\n  secondary:\n    host: {secondary}\n    token_env: TANDEM_TEST_TOKEN\nactive: primary\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Added for tests/integration/reliability.rs.
// ---------------------------------------------------------------------------------------------

impl Emulator {
    /// Like [`Emulator::restartable`], with extra flags (`--latency-ms`, …) kept across restarts.
    pub fn restartable_with(state: &Path, extra: &[&str]) -> Emulator {
        Self::launch(state, free_port(), extra)
    }
}

// ---------------------------------------------------------------------------------------------
// Added for tests/integration/auth.rs: runs that inherit nothing from the test's environment.
// ---------------------------------------------------------------------------------------------

impl TestRepo {
    /// `tandem -C <repo> <args>` with an empty environment but `NO_COLOR` and `envs`: no HOME,
    /// PATH, `DATABRICKS_*`, `ARM_*` or `ACTIONS_*` variable of the machine running the tests
    /// reaches it unless `envs` names it, so each authentication test sees only its own
    /// credentials (PATH too is only what `envs` gives).
    pub fn tandem_isolated(&self, args: &[&str], envs: &[(&str, &str)]) -> TandemRun {
        let mut command = Command::cargo_bin("tandem").expect("binary");
        command
            .arg("-C")
            .arg(self.path())
            .args(args)
            .env_clear()
            .env("NO_COLOR", "1");
        for (key, value) in envs {
            command.env(key, value);
        }
        TandemRun {
            output: command.output().expect("run tandem"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Added for tests/integration/plan_text.rs: changes made by hand, as the UI would make them.
// ---------------------------------------------------------------------------------------------

impl Ws {
    /// Merges `new_settings` into job `key`'s settings (`jobs/update`).
    pub fn update_job(&self, key: &str, new_settings: Value) {
        let job_id = self.one("jobs", key)["job_id"].clone();
        self.post(
            "/api/2.2/jobs/update",
            json!({"job_id": job_id, "new_settings": new_settings}),
        );
    }

    /// Adds a direct grant for user `user` to job `key` (`PATCH` on its permissions).
    pub fn grant_on_job(&self, key: &str, user: &str, level: &str) {
        let job_id = self.one("jobs", key)["job_id"].clone();
        let (status, answer) = self.call(
            "PATCH",
            &format!("/api/2.0/permissions/jobs/{job_id}"),
            Some(json!({"access_control_list": [{"user_name": user, "permission_level": level}]})),
        );
        assert_eq!(status, 200, "grant on job {key}: {answer}");
    }
}

// ---------------------------------------------------------------------------------------------
// Added for the confirmation tests: a run on a terminal, with someone answering.
// ---------------------------------------------------------------------------------------------

impl TestRepo {
    /// Like [`TestRepo::tandem_env`], on a pseudo-terminal (util-linux `script`), typing
    /// `answer` and Enter: stdin and stdout are terminals, so tandem asks. stdout and stderr
    /// come back together on stdout.
    pub fn tandem_on_terminal(
        &self,
        args: &[&str],
        envs: &[(&str, &str)],
        answer: &str,
    ) -> TandemRun {
        use std::io::Write as _;
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let mut line = vec![
            quote(env!("CARGO_BIN_EXE_tandem")),
            "-C".to_string(),
            quote(&self.path().display().to_string()),
        ];
        line.extend(args.iter().map(|a| quote(a)));
        let mut command = std::process::Command::new("script");
        command
            .args(["-qec", &line.join(" "), "/dev/null"])
            .env("NO_COLOR", "1")
            .env_remove("TANDEM_ENV")
            .env_remove("TANDEM_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in envs {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .expect("util-linux `script` runs tandem on a pseudo-terminal");
        // Typed ahead: the terminal keeps the line until tandem reads its answer.
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{answer}\n").as_bytes())
            .expect("type the answer");
        TandemRun {
            output: child.wait_with_output().expect("run tandem on a terminal"),
        }
    }
}

/// An operator on a terminal for engine-level tests: it answers every yes/no question with
/// `answer`, types `typed` when asked for text, and remembers what it was shown (`review <ws>
/// <verbs>`), told (`tell …`), asked (`ask …`, `asked …`) and what was applied (`<ws> <verb>
/// <resource> ok|failed`), in order.
pub struct ScriptedOperator {
    answer: bool,
    typed: String,
    seen: std::sync::Mutex<Vec<String>>,
}

impl ScriptedOperator {
    /// Answers every question with `answer` (and types nothing).
    pub fn answering(answer: bool) -> Self {
        ScriptedOperator {
            answer,
            typed: String::new(),
            seen: Default::default(),
        }
    }

    /// Types `typed` when asked for text (and says yes).
    pub fn typing(typed: &str) -> Self {
        ScriptedOperator {
            typed: typed.to_string(),
            ..ScriptedOperator::answering(true)
        }
    }

    fn note(&self, line: String) {
        self.seen.lock().expect("seen").push(line);
    }

    /// What it saw so far.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("seen").clone()
    }
}

impl tandem::engine::apply::Progress for ScriptedOperator {
    fn finished(&self, workspace: &str, outcome: &tandem::engine::apply::ActionOutcome) {
        let mark = if outcome.result.is_ok() {
            "ok"
        } else {
            "failed"
        };
        self.note(format!(
            "{workspace} {} {} {mark}",
            outcome.verb, outcome.resource
        ));
    }
}

impl tandem::engine::Operator for ScriptedOperator {
    fn review(&self, plan: &tandem::plan::Plan, _origins: &tandem::plan::render::Origins) {
        for w in &plan.workspaces {
            let verbs: Vec<&str> = w.actions.iter().map(|a| a.action.verb()).collect();
            self.note(format!("review {} {}", w.workspace, verbs.join(",")));
        }
    }

    fn tell(&self, text: &str) {
        self.note(format!("tell {text}"));
    }

    fn can_answer(&self) -> bool {
        true
    }

    fn ask<'a>(
        &'a self,
        question: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        self.note(format!("ask {}", question.trim()));
        Box::pin(std::future::ready(self.answer))
    }

    fn answer<'a>(
        &'a self,
        question: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send + 'a>> {
        self.note(format!("asked {}", question.trim()));
        Box::pin(std::future::ready(self.typed.clone()))
    }
}
