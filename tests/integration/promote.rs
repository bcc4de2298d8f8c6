//! `tandem promote` (failover and failback) and `tandem status` end to end: real temporary Git
//! repositories, embedded `local:` workspaces inspected afterwards through their own API, and
//! `tandem emulator` subprocesses where a test needs request statistics, fault rules or a
//! workspace that goes away and comes back.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::harness::{
    Emulator, Grants, PAIR_ENV, ScriptedOperator, TRIO_ENV, TandemRun, TestRepo, Ws,
    assert_converged, grants, ok, remote_env, with_local,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Environment variables every tandem run of these tests gets: the token of external emulators,
/// the one secret's value, and a recognisable operator name.
const ENVS: [(&str, &str); 3] = [
    ("TANDEM_TEST_TOKEN", "dev"),
    ("TANDEM_TEST_SECRET", "promote-secret-value"),
    ("TANDEM_OPERATOR", "oncall-alice"),
];

fn tandem(repo: &TestRepo, args: &[&str]) -> TandemRun {
    let mut all = vec!["-e", "test"];
    all.extend_from_slice(args);
    repo.tandem_env(&all, &ENVS)
}

/// A Git repository holding `env` as `environments/test.yaml` and `resources` as
/// `resources/r.yaml`, committed (embedded workspaces' state is ignored, as a real repository
/// would have it).
fn git_repo(env: &str, resources: &str) -> TestRepo {
    let repo = TestRepo::with_env(env)
        .file("resources/r.yaml", resources)
        .file(".gitignore", ".tandem/\n")
        .git_init();
    repo.commit("initial configuration");
    repo
}

/// Promotion's view of a workspace.
impl Ws {
    /// Everything tandem manages here, as comparable JSON: per job its ID, full settings and
    /// direct grants; per pool and cluster its ID, spec and grants (cluster run state and the
    /// times that go with it left out: they follow the role, see the tests); per scope its
    /// secrets (with their last-updated times: promotion must not rewrite them) and ACLs.
    fn snapshot(&self) -> Value {
        let mut jobs = serde_json::Map::new();
        for (key, job) in self.managed("jobs") {
            let id = job["job_id"].clone();
            let settings = self.get(&format!("/api/2.2/jobs/get?job_id={id}"))["settings"].clone();
            let grants = self.grants_of("jobs", &id);
            jobs.insert(
                key,
                json!({"job_id": id, "settings": settings, "grants": grants}),
            );
        }
        let mut pools = serde_json::Map::new();
        for (key, mut pool) in self.managed("instance_pools") {
            let id = pool["instance_pool_id"].clone();
            let grants = self.grants_of("instance-pools", &id);
            pool.as_object_mut().expect("pool").remove("stats");
            pools.insert(key, json!({"pool": pool, "grants": grants}));
        }
        let mut clusters = serde_json::Map::new();
        for (key, cluster) in self.managed("clusters") {
            let id = cluster["cluster_id"].clone();
            let mut full = self.get(&format!(
                "/api/2.1/clusters/get?cluster_id={}",
                id.as_str().expect("id")
            ));
            let object = full.as_object_mut().expect("cluster");
            for volatile in [
                "state",
                "state_message",
                "start_time",
                "terminated_time",
                "termination_reason",
                "last_restarted_time",
                "last_state_loss_time",
                "last_activity_time",
                // Runtime facts of a running cluster (a new Spark context on every start).
                "spark_context_id",
                "cluster_memory_mb",
                "cluster_cores",
                "jdbc_port",
                "driver",
                "executors",
            ] {
                object.remove(volatile);
            }
            let grants = self.grants_of("clusters", &id);
            clusters.insert(key, json!({"cluster": full, "grants": grants}));
        }
        let mut scopes = serde_json::Map::new();
        // The seal scope changes with every record written: it holds the record's digest.
        for name in self
            .scopes()
            .into_iter()
            .filter(|n| !n.starts_with("tandem."))
        {
            let secrets =
                self.get(&format!("/api/2.0/secrets/list?scope={name}"))["secrets"].clone();
            let acls =
                self.get(&format!("/api/2.0/secrets/acls/list?scope={name}"))["items"].clone();
            scopes.insert(name, json!({"secrets": secrets, "acls": acls}));
        }
        json!({"jobs": jobs, "pools": pools, "clusters": clusters, "scopes": scopes})
    }
}

/// The JSON paths where `a` and `b` differ, with both values (empty when equal).
fn differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: &Value, b: &Value, path: String, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let (va, vb) = (
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                    );
                    if !x.contains_key(k) || !y.contains_key(k) {
                        out.push(format!("{path}/{k}: {va} ≠ {vb}"));
                    } else {
                        walk(va, vb, format!("{path}/{k}"), out);
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    walk(va, vb, format!("{path}/{i}"), out);
                }
            }
            _ if a != b => out.push(format!("{path}: {a} ≠ {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(a, b, String::new(), &mut out);
    out
}

/// Asserts two snapshots are equal, listing the differences when not.
fn assert_same(before: &Value, after: &Value, what: &str) {
    let diff = differences(before, after);
    assert!(
        diff.is_empty(),
        "{what} (before ≠ after):\n{}",
        diff.join("\n")
    );
}

/// Two emulator subprocesses (state files in their own temporary directory) and a Git
/// repository whose environment points at them.
struct ExternalPair {
    primary: Emulator,
    secondary: Emulator,
    repo: TestRepo,
    _dir: tempfile::TempDir,
}

fn external_env(primary: &str, secondary: &str) -> String {
    format!(
        "# DR pair on external emulators\n{}",
        remote_env(primary, secondary)
    )
}

impl ExternalPair {
    /// Both emulators up, `resources` applied from a committed repository.
    fn applied(resources: &str) -> ExternalPair {
        let dir = tempfile::tempdir().expect("dir");
        let primary = Emulator::restartable(&dir.path().join("primary.json"));
        let secondary = Emulator::restartable(&dir.path().join("secondary.json"));
        let repo = git_repo(&external_env(&primary.url, &secondary.url), resources);
        ok(&tandem(&repo, &["apply", "--auto-approve"]));
        ExternalPair {
            primary,
            secondary,
            repo,
            _dir: dir,
        }
    }
}

fn assert_terminated(state: &str, what: &str) {
    assert!(
        matches!(state, "TERMINATED" | "TERMINATING"),
        "{what}: {state}"
    );
}

fn assert_running(state: &str, what: &str) {
    assert!(
        matches!(state, "RUNNING" | "PENDING" | "RESIZING" | "RESTARTING"),
        "{what}: {state}"
    );
}

/// Asserts that `key`'s job holds its active values in `ws`.
fn assert_job_active(ws: &Ws, key: &str, runs: i64, owner_and_grants: &Grants) {
    let settings = ws.job_settings(key);
    assert_eq!(settings["max_concurrent_runs"], runs, "{key}: {settings}");
    for field in ["schedule", "trigger", "continuous"] {
        if let Some(block) = settings.get(field) {
            assert_ne!(block["pause_status"], "PAUSED", "{key} {field}: {settings}");
        }
    }
    assert_eq!(&ws.job_grants(key), owner_and_grants, "{key}");
}

/// Asserts that `key`'s job is fenced in `ws`: no runs, every schedule paused, owner alone.
fn assert_job_passive(ws: &Ws, key: &str, owner: &Grants) {
    let settings = ws.job_settings(key);
    assert_eq!(settings["max_concurrent_runs"], 0, "{key}: {settings}");
    let mut scheduled = false;
    for field in ["schedule", "trigger", "continuous"] {
        if let Some(block) = settings.get(field) {
            scheduled = true;
            assert_eq!(block["pause_status"], "PAUSED", "{key} {field}: {settings}");
        }
    }
    assert!(scheduled, "{key} has a schedule in these tests: {settings}");
    assert_eq!(&ws.job_grants(key), owner, "{key}: grants held back");
}

// ---------------------------------------------------------------------------------------------
// Configurations
// ---------------------------------------------------------------------------------------------

/// Every kind, every way a job is scheduled, grants to hold back, a `start_on_promote` cluster
/// and one without it.
const PLATFORM: &str = r#"resources:
  instance_pools:
    warm:
      instance_pool_name: warm
      node_type_id: Standard_DS3_v2
      min_idle_instances: 2
      max_capacity: 8
      permissions:
        - {group_name: data-eng, level: CAN_ATTACH_TO}
  clusters:
    etl:
      cluster_name: etl
      spark_version: 15.4.x-scala2.12
      instance_pool_id: ${resources.instance_pools.warm.id}
      num_workers: 2
      autotermination_minutes: 60
      start_on_promote: true
      permissions:
        - {group_name: data-eng, level: CAN_RESTART}
    adhoc:
      cluster_name: adhoc
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: 1
  jobs:
    nightly:
      name: nightly
      max_concurrent_runs: 3
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC, pause_status: UNPAUSED}
      tasks:
        - task_key: main
          existing_cluster_id: ${resources.clusters.etl.id}
          notebook_task: {notebook_path: /Repos/etl/nightly}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
        - {group_name: analysts, level: CAN_VIEW}
    hourly:
      name: hourly
      max_concurrent_runs: 2
      trigger: {pause_status: UNPAUSED, periodic: {interval: 1, unit: HOURS}}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/hourly}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {user_name: alice@example.com, level: CAN_MANAGE}
    stream:
      name: stream
      continuous: {pause_status: UNPAUSED}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/stream}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: platform-ops, level: CAN_MANAGE_RUN}
    defaults:
      name: defaults
      schedule: {quartz_cron_expression: "0 0 3 * * ?", timezone_id: UTC}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/defaults}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
  secret_scopes:
    etl:
      name: promote-etl
      secrets:
        token: {env: TANDEM_TEST_SECRET}
      acls:
        - {principal: data-eng, permission: READ}
"#;

/// One scheduled job with a grant to hold back.
const ONE_JOB: &str = r#"resources:
  jobs:
    etl:
      name: etl
      max_concurrent_runs: 2
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC, pause_status: UNPAUSED}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/main}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
"#;

fn owner() -> Grants {
    grants(&[("etl-bot@example.com", "IS_OWNER")])
}

fn etl_active_grants() -> Grants {
    grants(&[
        ("etl-bot@example.com", "IS_OWNER"),
        ("data-eng", "CAN_MANAGE_RUN"),
    ])
}

/// The active-side values of PLATFORM's jobs: key, max_concurrent_runs, grants.
fn platform_jobs() -> Vec<(&'static str, i64, Grants)> {
    let o = ("etl-bot@example.com", "IS_OWNER");
    vec![
        (
            "nightly",
            3,
            grants(&[o, ("data-eng", "CAN_MANAGE_RUN"), ("analysts", "CAN_VIEW")]),
        ),
        (
            "hourly",
            2,
            grants(&[o, ("alice@example.com", "CAN_MANAGE")]),
        ),
        (
            "stream",
            1,
            grants(&[o, ("platform-ops", "CAN_MANAGE_RUN")]),
        ),
        ("defaults", 1, grants(&[o])),
    ]
}

/// Asserts that `active` holds PLATFORM as the active workspace and `passive` as a fenced one.
fn assert_platform_roles(repo: &TestRepo, active: &str, passive: &[&str]) {
    with_local(repo, active, |ws| {
        for (key, runs, g) in platform_jobs() {
            assert_job_active(ws, key, runs, &g);
        }
        assert_eq!(
            ws.job_settings("nightly")["schedule"]["pause_status"],
            "UNPAUSED"
        );
        assert_eq!(
            ws.job_settings("hourly")["trigger"]["pause_status"],
            "UNPAUSED"
        );
        assert_eq!(
            ws.job_settings("stream")["continuous"]["pause_status"],
            "UNPAUSED"
        );
        assert_eq!(
            ws.one("instance_pools", "warm")["min_idle_instances"],
            2,
            "{active}: pool min_idle as configured"
        );
        assert_running(
            &ws.cluster_state("etl"),
            &format!("{active}: start_on_promote cluster"),
        );
        let record = ws.record();
        assert_eq!(record["role"], "active", "{active}: {record}");
    });
    for name in passive {
        with_local(repo, name, |ws| {
            for (key, _, _) in platform_jobs() {
                assert_job_passive(ws, key, &owner());
            }
            assert_eq!(
                ws.one("instance_pools", "warm")["min_idle_instances"],
                0,
                "{name}: passive pool"
            );
            assert_terminated(&ws.cluster_state("etl"), &format!("{name} etl"));
            assert_terminated(&ws.cluster_state("adhoc"), &format!("{name} adhoc"));
            let record = ws.record();
            assert_eq!(record["role"], "passive", "{name}: {record}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// 1. failover and failback
// ---------------------------------------------------------------------------------------------

#[test]
fn failover_and_failback_round_trip_restores_every_object() {
    let repo = git_repo(PAIR_ENV, PLATFORM);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_converged(&repo, &ENVS);
    assert_platform_roles(&repo, "primary", &["secondary"]);
    let before: BTreeMap<&str, Value> = ["primary", "secondary"]
        .into_iter()
        .map(|name| (name, with_local(&repo, name, Ws::snapshot)))
        .collect();
    let first_records: BTreeMap<&str, Value> = ["primary", "secondary"]
        .into_iter()
        .map(|name| (name, with_local(&repo, name, Ws::record)))
        .collect();

    // Failover.
    let out = ok(&tandem(&repo, &["promote", "secondary", "--auto-approve"]));
    assert!(
        out.contains("secondary is now the active workspace of test"),
        "{out}"
    );
    assert_platform_roles(&repo, "secondary", &["primary"]);
    with_local(&repo, "secondary", |ws| {
        let record = ws.record();
        assert!(
            record["promoted_by"]
                .as_str()
                .is_some_and(|b| b.starts_with("oncall-alice@")),
            "{record}"
        );
        assert!(record["promoted_at"].is_string(), "{record}");
        assert_eq!(record["pending_fences"], json!([]), "{record}");
        assert!(ws.lock().is_none(), "the promotion's lock is released");
        // The cluster that is not `start_on_promote` stays as it was (terminated).
        assert_terminated(&ws.cluster_state("adhoc"), "secondary adhoc");
    });
    assert_converged(&repo, &ENVS);

    // Failback.
    let out = ok(&tandem(&repo, &["promote", "primary", "--auto-approve"]));
    assert!(
        out.contains("primary is now the active workspace of test"),
        "{out}"
    );
    assert_platform_roles(&repo, "primary", &["secondary"]);
    for name in ["primary", "secondary"] {
        let after = with_local(&repo, name, Ws::snapshot);
        assert_same(
            &before[name],
            &after,
            &format!(
                "{name}: the round trip changed objects (same IDs, settings, grants, secrets expected)"
            ),
        );
        let record = with_local(&repo, name, Ws::record);
        assert_eq!(record["role"], first_records[name]["role"], "{name}");
        // Equal fingerprints also mean the same fingerprint key: the record was kept.
        assert_eq!(
            record["secrets"], first_records[name]["secrets"],
            "{name}: no secret rewritten, the record kept"
        );
        assert_eq!(
            record["managed_scopes"], first_records[name]["managed_scopes"],
            "{name}"
        );
    }
    // Active clusters are left as they are: the fenced `adhoc` stays terminated on the primary
    // (only `start_on_promote` clusters are started), so it is checked here, not in the snapshot.
    with_local(&repo, "primary", |ws| {
        assert_running(&ws.cluster_state("etl"), "primary etl after failback");
        assert_terminated(&ws.cluster_state("adhoc"), "primary adhoc after failback");
    });
    assert_converged(&repo, &ENVS);
    assert_eq!(
        repo.read("environments/test.yaml"),
        PAIR_ENV,
        "the environment file is back to what it was"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. the environment file and the commit
// ---------------------------------------------------------------------------------------------

const COMMENTED_ENV: &str = "# yaml-language-server: $schema=../schemas/environment.schema.json\n# The DR pair. primary = east, secondary = west.\nworkspaces:\n  primary:\n    host: local:primary      # active: primary would be wrong here\n  secondary:\n    host: local:secondary\n\nactive: primary           # who runs the workloads\ninclude: [\"resources/**/*.yaml\"]   # active: primary\nvariables:\n  region:\n    primary: east\n    secondary: west\n";

#[test]
fn promote_rewrites_only_active_and_commits_only_the_environment_file() {
    let repo = git_repo(COMMENTED_ENV, ONE_JOB).file("notes.txt", "committed notes\n");
    let initial = repo.commit("notes");
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    // Unrelated work in progress: never part of the promotion's commit.
    repo.write("notes.txt", "work in progress\n");
    let commits_before = repo.commit_count();

    let out = ok(&tandem(&repo, &["promote", "secondary", "--auto-approve"]));
    let expected = COMMENTED_ENV.replace(
        "active: primary           # who runs the workloads",
        "active: secondary           # who runs the workloads",
    );
    assert_ne!(expected, COMMENTED_ENV);
    let text = repo.read("environments/test.yaml");
    assert_eq!(text, expected, "only the value of `active:` changes");
    assert_eq!(repo.commit_count(), commits_before + 1, "one commit");
    let head = repo.head_commit();
    assert_eq!(head.parent_id(0).expect("parent").to_string(), initial);
    let message = repo.head_message();
    assert!(message.contains("secondary"), "{message}");
    assert!(message.contains("test"), "names the environment: {message}");
    assert_eq!(
        repo.files_changed_by_head(),
        ["environments/test.yaml"],
        "the commit holds the environment file only"
    );
    assert_eq!(
        repo.file_at_head("environments/test.yaml").as_deref(),
        Some(expected.as_str())
    );
    assert_eq!(
        repo.file_at_head("notes.txt").as_deref(),
        Some("committed notes\n")
    );
    assert_eq!(repo.read("notes.txt"), "work in progress\n");
    assert!(repo.is_modified("notes.txt"));
    assert!(
        !repo.is_modified("environments/test.yaml"),
        "the committed file shows as unmodified"
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("environments/test.yaml: active: secondary"))
        .unwrap_or_else(|| panic!("no line about the file:\n{out}"));
    assert!(
        line.contains(&repo.head_sha()[..7]),
        "names the commit: {line}"
    );
    assert!(out.contains("git push"), "says to push: {out}");

    // --no-commit: the file changes back, nothing is committed.
    let head_before = repo.head_sha();
    let out = ok(&tandem(
        &repo,
        &["promote", "primary", "--auto-approve", "--no-commit"],
    ));
    assert_eq!(
        repo.read("environments/test.yaml"),
        COMMENTED_ENV,
        "failback restores the original bytes"
    );
    assert_eq!(repo.head_sha(), head_before, "no commit with --no-commit");
    assert_eq!(repo.commit_count(), commits_before + 1);
    assert!(repo.is_modified("environments/test.yaml"));
    assert!(out.contains("not committed"), "{out}");
    assert!(
        out.contains("primary is now the active workspace of test"),
        "{out}"
    );
    with_local(&repo, "primary", |ws| {
        assert_job_active(ws, "etl", 2, &etl_active_grants());
    });
    with_local(&repo, "secondary", |ws| {
        assert_job_passive(ws, "etl", &owner())
    });
}

// ---------------------------------------------------------------------------------------------
// 3. dry run
// ---------------------------------------------------------------------------------------------

/// The first JSON document of `text` (the plan), and what follows it.
fn leading_json(text: &str) -> (Value, String) {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let value = stream
        .next()
        .unwrap_or_else(|| panic!("no JSON:\n{text}"))
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"));
    let rest = text[stream.byte_offset()..].to_string();
    (value, rest)
}

#[test]
fn a_dry_run_changes_nothing_in_any_format() {
    let pair = ExternalPair::applied(PLATFORM);
    let (p, s) = (pair.primary.client(), pair.secondary.client());
    let env_before = pair.repo.read("environments/test.yaml");
    let head_before = pair.repo.head_sha();
    let snapshots = [p.snapshot(), s.snapshot()];
    let records = [p.record(), s.record()];
    p.reset_stats();
    s.reset_stats();

    for format in ["text", "json", "markdown"] {
        let out = ok(&tandem(
            &pair.repo,
            &["promote", "secondary", "--dry-run", "--format", format],
        ));
        // The note goes to stdout for text, to stderr for JSON and Markdown (kept clean).
        assert!(
            format != "text" || out.contains("dry run: nothing was changed"),
            "{format}: {out}"
        );
        match format {
            "text" => {
                assert!(out.contains("primary passive, secondary active"), "{out}");
                assert!(out.contains("max_concurrent_runs: 0 → 3"), "{out}");
                assert!(out.contains("max_concurrent_runs: 3 → 0"), "{out}");
                assert!(out.contains("start"), "{out}");
            }
            "json" => {
                let (plan, _) = leading_json(&out);
                assert_eq!(plan["active"], "secondary", "{plan}");
                let roles: BTreeMap<String, String> = plan["workspaces"]
                    .as_array()
                    .expect("workspaces")
                    .iter()
                    .map(|w| {
                        (
                            w["workspace"].as_str().expect("name").to_string(),
                            w["role"].as_str().expect("role").to_string(),
                        )
                    })
                    .collect();
                assert_eq!(roles["secondary"], "active");
                assert_eq!(roles["primary"], "passive");
                for w in plan["workspaces"].as_array().expect("workspaces") {
                    assert!(
                        !w["actions"].as_array().expect("actions").is_empty(),
                        "{}: the promotion changes things: {plan}",
                        w["workspace"]
                    );
                }
            }
            _ => {
                assert!(out.contains("| secondary | active |"), "{out}");
                assert!(out.contains("| primary | passive |"), "{out}");
            }
        }
    }
    for (name, ws) in [("primary", &p), ("secondary", &s)] {
        let counts = ws.route_counts();
        assert!(!counts.is_empty(), "{name}: the dry run read the workspace");
        assert_eq!(
            ws.writes(),
            BTreeMap::new(),
            "{name}: a dry run sent writes"
        );
    }
    assert_same(&snapshots[0], &p.snapshot(), "primary changed");
    assert_same(&snapshots[1], &s.snapshot(), "secondary changed");
    assert_eq!([p.record(), s.record()], records);
    assert!(p.lock().is_none() && s.lock().is_none());
    assert_eq!(pair.repo.read("environments/test.yaml"), env_before);
    assert_eq!(pair.repo.head_sha(), head_before, "no commit");
    assert!(!pair.repo.is_modified("environments/test.yaml"));
}

/// Reads of object grants (`GET /api/2.0/permissions/...`) and writes of them since the reset.
fn grant_requests(ws: &Ws) -> (u64, u64) {
    let counts = ws.route_counts();
    let route = |method: &str| {
        counts
            .get(&format!(
                "{method} /api/2.0/permissions/{{object_type}}/{{object_id}}"
            ))
            .copied()
            .unwrap_or(0)
    };
    (route("GET"), route("PUT"))
}

#[test]
fn a_promotion_sets_held_grants_without_reading_them_first() {
    let pair = ExternalPair::applied(PLATFORM);
    let (p, s) = (pair.primary.client(), pair.secondary.client());
    // With --auto-approve the held grants go out while the rest is read (nothing to confirm);
    // without it (confirmed on a terminal) they wait for the plan. Either way each is written
    // once.
    for (to, active, fenced, approve) in [("secondary", &s, &p, true), ("primary", &p, &s, false)] {
        p.reset_stats();
        s.reset_stats();
        let out = if approve {
            ok(&tandem(
                &pair.repo,
                &["promote", to, "--no-commit", "--auto-approve"],
            ))
        } else {
            let args = ["-e", "test", "promote", to, "--no-commit"];
            let run = pair.repo.tandem_on_terminal(&args, &ENVS, "yes");
            let out = ok(&run);
            assert!(out.contains(&format!("Promote {to} to active")), "{out}");
            out
        };
        assert!(out.contains("(not read: promotion sets them)"), "{out}");
        // PLATFORM: 4 jobs (3 with grants held back on a passive workspace), 2 clusters and a
        // pool. The held grants change with the role on both sides: they are written, not read;
        // the grants of the other objects whose configuration lists permissions (a job, a
        // cluster, the pool) are read as in any plan, and left alone; cluster `adhoc` lists
        // none, so its grants are not even read.
        for (name, ws) in [("active", active), ("fenced", fenced)] {
            assert_eq!(grant_requests(ws), (3, 3), "{to} promoted, {name} side");
        }
        for (key, runs, g) in platform_jobs() {
            assert_job_active(active, key, runs, &g);
            assert_job_passive(fenced, key, &owner());
        }
        // Pointing `active:` at the new workspace by hand, the next plan has nothing to do.
        let env = pair.repo.read("environments/test.yaml");
        assert!(env.contains(&format!("active: {to}")), "{env}");
        let plan = tandem(&pair.repo, &["plan", "--detailed-exitcode"]);
        assert_eq!(plan.code(), 0, "{}", plan.all_output());
    }
}

#[test]

fn a_json_dry_run_prints_json_only() {
    let pair = ExternalPair::applied(ONE_JOB);
    let out = ok(&tandem(
        &pair.repo,
        &["promote", "secondary", "--dry-run", "--format", "json"],
    ));
    let (_, rest) = leading_json(&out);
    assert!(
        rest.trim().is_empty(),
        "text after the JSON document on stdout: {rest:?}"
    );
    serde_json::from_str::<Value>(&out).expect("stdout is one JSON document");
}

// ---------------------------------------------------------------------------------------------
// 4. promoting the active workspace
// ---------------------------------------------------------------------------------------------

#[test]
fn promoting_the_active_workspace_changes_nothing_and_says_so() {
    let pair = ExternalPair::applied(PLATFORM);
    let (p, s) = (pair.primary.client(), pair.secondary.client());
    let env_before = pair.repo.read("environments/test.yaml");
    let head_before = pair.repo.head_sha();
    let snapshots = [p.snapshot(), s.snapshot()];
    let records = [p.record(), s.record()];
    p.reset_stats();
    s.reset_stats();

    let out = ok(&tandem(
        &pair.repo,
        &["promote", "primary", "--auto-approve"],
    ));
    assert!(out.contains("already the active workspace"), "{out}");
    assert!(!out.contains("committed"), "{out}");
    for (name, ws) in [("primary", &p), ("secondary", &s)] {
        assert_eq!(ws.writes(), BTreeMap::new(), "{name}: writes were sent");
    }
    assert_same(&snapshots[0], &p.snapshot(), "primary changed");
    assert_same(&snapshots[1], &s.snapshot(), "secondary changed");
    assert_eq!([p.record(), s.record()], records);
    assert_eq!(pair.repo.read("environments/test.yaml"), env_before);
    assert_eq!(pair.repo.head_sha(), head_before);

    // promote rewrites the work tree's file: a --ref makes no sense.
    let run = pair.repo.tandem_env(
        &[
            "--ref",
            "HEAD",
            "-e",
            "test",
            "promote",
            "secondary",
            "--auto-approve",
        ],
        &ENVS,
    );
    let err = run.failure();
    assert!(
        err.contains("promote works on the work tree, not on --ref"),
        "{err}"
    );

    // A workspace that does not exist is named, with the ones that do.
    let err = tandem(&pair.repo, &["promote", "tertiary", "--auto-approve"]).failure();
    assert!(err.contains("no workspace `tertiary`"), "{err}");
    assert!(err.contains("primary, secondary"), "{err}");
    for (name, ws) in [("primary", &p), ("secondary", &s)] {
        assert_eq!(ws.writes(), BTreeMap::new(), "{name}: writes were sent");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. the old primary is down
// ---------------------------------------------------------------------------------------------

/// `tandem status --format json`, parsed, with the exit code.
fn status_json(repo: &TestRepo) -> (i32, Value) {
    let run = tandem(repo, &["status", "--format", "json"]);
    let value: Value = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("status JSON ({e}):\n{}\n{}", run.stdout(), run.stderr()));
    (run.code(), value)
}

fn status_of<'a>(status: &'a Value, workspace: &str) -> &'a Value {
    status["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .find(|w| w["workspace"] == workspace)
        .unwrap_or_else(|| panic!("no status for {workspace}: {status}"))
}

#[test]
fn an_unreachable_primary_is_fenced_when_it_comes_back() {
    let mut pair = ExternalPair::applied(ONE_JOB);
    let s = pair.secondary.client();
    let secondary_before = s.snapshot();
    let record_before = s.record();
    let head_before = pair.repo.head_sha();
    let env_before = pair.repo.read("environments/test.yaml");

    // Disaster: the primary is gone.
    pair.primary.kill();
    s.reset_stats();
    let run = tandem(&pair.repo, &["promote", "secondary", "--auto-approve"]);
    let err = run.failure();
    assert!(err.contains("primary cannot be reached"), "{err}");
    assert!(err.contains("--allow-unreachable"), "{err}");
    assert_eq!(s.writes(), BTreeMap::new(), "the secondary was written to");
    assert_same(&secondary_before, &s.snapshot(), "the secondary changed");
    assert_eq!(s.record(), record_before);
    assert!(s.lock().is_none());
    assert_eq!(pair.repo.read("environments/test.yaml"), env_before);
    assert_eq!(pair.repo.head_sha(), head_before);

    let run = tandem(
        &pair.repo,
        &[
            "promote",
            "secondary",
            "--auto-approve",
            "--allow-unreachable",
        ],
    );
    let out = run.stdout();
    assert!(
        out.contains("primary  unreachable: pending fence recorded"),
        "{out}\n{}",
        run.stderr()
    );
    assert_job_active(&s, "etl", 2, &etl_active_grants());
    let record = s.record();
    assert_eq!(record["role"], "active", "{record}");
    let fences = record["pending_fences"].as_array().expect("pending fences");
    assert_eq!(fences.len(), 1, "{record}");
    assert_eq!(fences[0]["workspace"], "primary", "{record}");
    assert!(fences[0]["since"].is_string(), "{record}");
    assert!(s.lock().is_none());
    assert!(
        pair.repo
            .read("environments/test.yaml")
            .contains("\nactive: secondary\n")
    );
    assert_ne!(
        pair.repo.head_sha(),
        head_before,
        "the promotion is committed"
    );
    // The exit code (1, "promotion incomplete", today) is the subject of
    // `promote_allow_unreachable_succeeds_when_only_the_waived_workspace_is_missing`.

    // Status: the pending fence, and the primary as unreachable.
    let run = tandem(&pair.repo, &["status"]);
    assert_eq!(run.code(), 1, "{}", run.stdout());
    let text = run.stdout();
    assert!(text.contains("UNREACHABLE"), "{text}");
    assert!(
        text.contains("PENDING FENCE  primary must be made passive"),
        "{text}"
    );
    let (code, status) = status_json(&pair.repo);
    assert_eq!(code, 1);
    assert_eq!(
        status_of(&status, "primary")["reachable"],
        false,
        "{status}"
    );
    assert_eq!(
        status_of(&status, "secondary")["record"]["pending_fences"][0]["workspace"],
        "primary"
    );

    // The primary comes back, still believing it is active; the next apply fences it.
    pair.primary.start();
    let p = pair.primary.client();
    assert_eq!(p.record()["role"], "active");
    assert_eq!(p.job_settings("etl")["max_concurrent_runs"], 2);
    let run = tandem(&pair.repo, &["plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 2, "{}\n{}", run.stdout(), run.stderr());
    assert!(run.stdout().contains("pending fence"), "{}", run.stdout());
    ok(&tandem(&pair.repo, &["apply", "--auto-approve"]));
    assert_job_passive(&p, "etl", &owner());
    assert_eq!(p.record()["role"], "passive");
    assert_job_active(&s, "etl", 2, &etl_active_grants());
    assert_eq!(
        s.record()["pending_fences"],
        json!([]),
        "the fence is cleared once applied"
    );
    assert_converged(&pair.repo, &ENVS);
    let (code, status) = status_json(&pair.repo);
    assert_eq!(code, 0, "{status}");
}

#[test]
fn promote_allow_unreachable_succeeds_when_only_the_waived_workspace_is_missing() {
    let mut pair = ExternalPair::applied(ONE_JOB);
    pair.primary.kill();
    let run = tandem(
        &pair.repo,
        &[
            "promote",
            "secondary",
            "--auto-approve",
            "--allow-unreachable",
        ],
    );
    let out = run.stdout();
    // Everything that could be done was done ...
    assert!(out.contains("secondary  2 done, 0 failed"), "{out}");
    assert!(out.contains("pending fence recorded"), "{out}");
    // ... so the promotion the operator asked for succeeded.
    assert!(
        !out.contains("promotion incomplete"),
        "re-running cannot finish anything while the primary is down:\n{out}"
    );
    assert!(
        out.contains("secondary is now the active workspace of test"),
        "{out}"
    );
    assert_eq!(run.code(), 0, "{out}\n{}", run.stderr());
}

// ---------------------------------------------------------------------------------------------
// 6. the guard after a promotion the checkout does not know about
// ---------------------------------------------------------------------------------------------

#[test]
fn plan_and_apply_refuse_while_the_promotion_is_not_in_the_checkout() {
    let repo = git_repo(PAIR_ENV, ONE_JOB);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    ok(&tandem(
        &repo,
        &["promote", "secondary", "--auto-approve", "--no-commit"],
    ));
    let promoted_at = with_local(&repo, "secondary", |ws| {
        ws.record()["promoted_at"]
            .as_str()
            .expect("promoted_at")
            .to_string()
    });
    // Someone else's checkout: the promotion's change to the file is not there.
    repo.checkout_from_head("environments/");
    assert_eq!(repo.read("environments/test.yaml"), PAIR_ENV);
    let snapshots: Vec<Value> = ["primary", "secondary"]
        .iter()
        .map(|n| with_local(&repo, n, Ws::snapshot))
        .collect();

    for args in [
        &["plan"][..],
        &["plan", "--detailed-exitcode"][..],
        &["apply", "--auto-approve"][..],
    ] {
        let run = tandem(&repo, args);
        assert_eq!(
            run.code(),
            1,
            "{args:?}:\n{}\n{}",
            run.stdout(),
            run.stderr()
        );
        let all = run.all_output();
        assert!(
            all.contains("workspace secondary is active according to its state record"),
            "{args:?}: {all}"
        );
        assert!(all.contains("oncall-alice@"), "names who promoted: {all}");
        assert!(all.contains(&promoted_at), "says when: {all}");
    }
    let after: Vec<Value> = ["primary", "secondary"]
        .iter()
        .map(|n| with_local(&repo, n, Ws::snapshot))
        .collect();
    for (b, a) in snapshots.iter().zip(&after) {
        assert_same(b, a, "a refused plan or apply changed objects");
    }
    with_local(&repo, "secondary", |ws| {
        assert_job_active(ws, "etl", 2, &etl_active_grants());
        assert_eq!(ws.record()["role"], "active");
        assert!(ws.lock().is_none());
    });
    with_local(&repo, "primary", |ws| assert!(ws.lock().is_none()));
}

// ---------------------------------------------------------------------------------------------
// 7. an interrupted promotion
// ---------------------------------------------------------------------------------------------

#[test]
fn an_interrupted_promotion_completes_when_run_again() {
    let pair = ExternalPair::applied(ONE_JOB);
    let (p, s) = (pair.primary.client(), pair.secondary.client());
    let commits = pair.repo.commit_count();
    // The target refuses to update jobs; the old primary refuses to take the grants back.
    s.add_fault(json!({"method": "POST", "path": "/api/*/jobs/reset", "status": 400}));
    p.add_fault(json!({"method": "PUT", "path": "/api/*/permissions/jobs/*", "status": 400}));

    let run = tandem(&pair.repo, &["promote", "secondary", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    let out = run.stdout();
    assert!(out.contains("promotion incomplete"), "{out}");
    assert!(out.contains("tandem -e test promote secondary"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("secondary  update jobs.etl  failed")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("primary  set permissions jobs.etl  failed")),
        "{out}"
    );
    // Half done: what did not fail happened.
    assert_eq!(s.job_settings("etl")["max_concurrent_runs"], 0);
    assert_eq!(p.job_settings("etl")["max_concurrent_runs"], 0);
    assert_eq!(p.job_grants("etl"), etl_active_grants());
    assert!(p.lock().is_none() && s.lock().is_none(), "locks released");

    p.clear_faults();
    s.clear_faults();
    let out = ok(&tandem(
        &pair.repo,
        &["promote", "secondary", "--auto-approve"],
    ));
    assert!(
        out.contains("secondary is now the active workspace of test"),
        "{out}"
    );
    assert_job_active(&s, "etl", 2, &etl_active_grants());
    assert_job_passive(&p, "etl", &owner());
    assert_eq!(s.record()["role"], "active");
    assert_eq!(p.record()["role"], "passive");
    assert!(
        pair.repo
            .read("environments/test.yaml")
            .contains("\nactive: secondary\n")
    );
    assert_eq!(
        pair.repo.commit_count(),
        commits + 1,
        "one promotion commit in all"
    );
    assert!(!pair.repo.is_modified("environments/test.yaml"));
    assert_converged(&pair.repo, &ENVS);
}

// ---------------------------------------------------------------------------------------------
// 8. a trio
// ---------------------------------------------------------------------------------------------

#[test]
fn a_trio_promotes_its_tertiary_workspace() {
    let repo = git_repo(TRIO_ENV, PLATFORM);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_platform_roles(&repo, "primary", &["secondary", "tertiary"]);

    let out = ok(&tandem(&repo, &["promote", "tertiary", "--auto-approve"]));
    for name in ["primary", "secondary", "tertiary"] {
        assert!(out.contains(&format!("{name}  ")), "{name}: {out}");
    }
    assert_platform_roles(&repo, "tertiary", &["primary", "secondary"]);
    assert!(
        repo.read("environments/test.yaml")
            .contains("\nactive: tertiary\n")
    );
    assert!(repo.head_message().contains("tertiary"));
    assert_converged(&repo, &ENVS);
    let (code, status) = status_json(&repo);
    assert_eq!(code, 0, "{status}");
    for name in ["primary", "secondary", "tertiary"] {
        let w = status_of(&status, name);
        let role = if name == "tertiary" {
            "active"
        } else {
            "passive"
        };
        assert_eq!(w["role_in_file"], role, "{status}");
        assert_eq!(w["role_in_record"], role, "{status}");
    }
}

// ---------------------------------------------------------------------------------------------
// 9. active_only resources follow the active role
// ---------------------------------------------------------------------------------------------

const ACTIVE_ONLY: &str = r#"resources:
  clusters:
    reports:
      cluster_name: reports
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: 1
      placement: active_only
  jobs:
    etl:
      name: etl
      max_concurrent_runs: 2
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC, pause_status: UNPAUSED}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/main}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
    report:
      name: report
      placement: active_only
      max_concurrent_runs: 1
      schedule: {quartz_cron_expression: "0 0 6 * * ?", timezone_id: UTC, pause_status: UNPAUSED}
      tasks:
        - task_key: main
          existing_cluster_id: ${resources.clusters.reports.id}
          notebook_task: {notebook_path: /Repos/bi/report}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: analysts, level: CAN_VIEW}
"#;

fn assert_active_only_on(repo: &TestRepo, active: &str, passive: &str) {
    with_local(repo, active, |ws| {
        let report = ws.job_settings("report");
        assert_eq!(
            report["tasks"][0]["existing_cluster_id"],
            ws.one("clusters", "reports")["cluster_id"],
            "{active}: the reference resolves to this workspace's cluster"
        );
        assert_eq!(report["schedule"]["pause_status"], "UNPAUSED");
        assert_eq!(
            ws.job_grants("report"),
            grants(&[
                ("etl-bot@example.com", "IS_OWNER"),
                ("analysts", "CAN_VIEW")
            ])
        );
        assert_job_active(ws, "etl", 2, &etl_active_grants());
    });
    with_local(repo, passive, |ws| {
        assert!(
            ws.find("jobs", "report").is_none(),
            "{passive}: active_only job"
        );
        assert!(
            ws.find("clusters", "reports").is_none(),
            "{passive}: active_only cluster"
        );
        assert_job_passive(ws, "etl", &owner());
    });
}

#[test]
fn active_only_resources_move_with_the_active_role() {
    let repo = git_repo(PAIR_ENV, ACTIVE_ONLY);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_active_only_on(&repo, "primary", "secondary");

    let out = ok(&tandem(&repo, &["promote", "secondary", "--auto-approve"]));
    assert!(out.contains("secondary  create jobs.report  ok"), "{out}");
    assert!(out.contains("primary  delete jobs.report  ok"), "{out}");
    assert_active_only_on(&repo, "secondary", "primary");
    assert_converged(&repo, &ENVS);

    ok(&tandem(&repo, &["promote", "primary", "--auto-approve"]));
    assert_active_only_on(&repo, "primary", "secondary");
    assert_converged(&repo, &ENVS);
}

// ---------------------------------------------------------------------------------------------
// 10. status
// ---------------------------------------------------------------------------------------------

#[test]
fn status_reports_roles_last_apply_lock_lag_and_mismatches() {
    let repo = git_repo(PAIR_ENV, ONE_JOB);
    let applied = repo.head_sha();
    ok(&tandem(&repo, &["apply", "--auto-approve"]));

    let (code, status) = status_json(&repo);
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["format_version"], 2);
    assert_eq!(status["environment"], "test");
    assert_eq!(status["active"], "primary");
    for (name, role) in [("primary", "active"), ("secondary", "passive")] {
        let w = status_of(&status, name);
        assert_eq!(w["host"], format!("local:{name}"), "{w}");
        assert_eq!(w["role_in_file"], role, "{w}");
        assert_eq!(w["role_in_record"], role, "{w}");
        assert_eq!(w["role_mismatch"], false, "{w}");
        assert_eq!(w["reachable"], true, "{w}");
        assert_eq!(w["record"]["last_applied"]["commit"], applied, "{w}");
        assert!(
            w["record"]["last_applied"]["by"]
                .as_str()
                .is_some_and(|b| b.starts_with("oncall-alice@")),
            "{w}"
        );
        assert_eq!(w["commits_behind"], 0, "{w}");
        assert!(w.get("lock").is_none_or(Value::is_null), "{w}");
    }

    // A lock held by someone else, and a new commit.
    with_local(&repo, "secondary", |ws| {
        ws.write_file_json(
            "/Shared/.tandem/test/lock.json",
            &json!({
                "id": "0123456789abcdef",
                "holder": "someone@ci",
                "operation": "apply",
                "since": "2026-01-02T03:04:05Z",
                "expires_ms": 4_102_444_800_000_i64,
                "since_ms": 1_767_323_045_000_i64,
            }),
        );
    });
    repo.write("README.md", "docs\n");
    repo.commit("docs");
    let (code, status) = status_json(&repo);
    assert_eq!(code, 0, "a held lock is not an error: {status}");
    let secondary = status_of(&status, "secondary");
    assert_eq!(secondary["lock"]["holder"], "someone@ci", "{secondary}");
    assert_eq!(secondary["lock"]["operation"], "apply", "{secondary}");
    assert!(
        status_of(&status, "primary")
            .get("lock")
            .is_none_or(Value::is_null)
    );
    for name in ["primary", "secondary"] {
        assert_eq!(status_of(&status, name)["commits_behind"], 1, "{status}");
    }
    let text = ok(&tandem(&repo, &["status"]));
    assert!(
        text.contains("lock          held by someone@ci (apply) since 2026-01-02T03:04:05Z"),
        "{text}"
    );
    assert!(text.contains("1 commit(s) behind HEAD"), "{text}");
    assert!(text.contains(&applied[..7]), "{text}");

    // The secondary's record says active while the file says passive.
    with_local(&repo, "secondary", |ws| {
        let mut record = ws.record();
        record["role"] = json!("active");
        record["promoted_by"] = json!("someone@elsewhere");
        record["promoted_at"] = json!("2026-03-04T05:06:07Z");
        ws.write_record(&record);
    });
    let (code, status) = status_json(&repo);
    assert_eq!(code, 1, "{status}");
    let secondary = status_of(&status, "secondary");
    assert_eq!(secondary["role_mismatch"], true, "{secondary}");
    assert_eq!(secondary["role_in_file"], "passive");
    assert_eq!(secondary["role_in_record"], "active");
    assert_eq!(status_of(&status, "primary")["role_mismatch"], false);
    let run = tandem(&repo, &["status"]);
    assert_eq!(run.code(), 1);
    assert!(run.stdout().contains("ROLES DISAGREE"), "{}", run.stdout());
    assert!(
        run.stdout()
            .contains("promoted      2026-03-04T05:06:07Z by someone@elsewhere"),
        "{}",
        run.stdout()
    );
}

// ---------------------------------------------------------------------------------------------
// Bugs found while writing these tests
// ---------------------------------------------------------------------------------------------

const OWNERLESS_JOB: &str = r#"resources:
  jobs:
    etl:
      name: etl
      max_concurrent_runs: 2
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC, pause_status: UNPAUSED}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/main}
      permissions:
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
"#;

#[test]

fn grants_of_a_job_without_a_configured_owner_are_held_back_on_the_fenced_workspace() {
    let repo = git_repo(PAIR_ENV, OWNERLESS_JOB);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    let data_eng = ("data-eng".to_string(), "CAN_MANAGE_RUN".to_string());
    with_local(&repo, "primary", |ws| {
        assert!(ws.job_grants("etl").contains(&data_eng))
    });
    with_local(&repo, "secondary", |ws| {
        assert!(
            !ws.job_grants("etl").contains(&data_eng),
            "held back on the passive side"
        );
    });

    ok(&tandem(&repo, &["promote", "secondary", "--auto-approve"]));
    with_local(&repo, "secondary", |ws| {
        assert!(ws.job_grants("etl").contains(&data_eng))
    });
    with_local(&repo, "primary", |ws| {
        let held = ws.job_grants("etl");
        assert_eq!(ws.job_settings("etl")["max_concurrent_runs"], 0);
        assert!(
            !held.contains(&data_eng),
            "the fenced primary still grants {held:?}"
        );
        assert_eq!(
            held.iter().filter(|(_, l)| l == "IS_OWNER").count(),
            1,
            "the owner stays: {held:?}"
        );
    });

    ok(&tandem(&repo, &["promote", "primary", "--auto-approve"]));
    with_local(&repo, "secondary", |ws| {
        let held = ws.job_grants("etl");
        assert!(
            !held.contains(&data_eng),
            "after failback the passive secondary still grants {held:?}"
        );
    });
}

#[test]

fn failing_back_to_a_workspace_with_a_pending_fence_clears_the_fence() {
    let mut pair = ExternalPair::applied(ONE_JOB);
    pair.primary.kill();
    // Exit code: see promote_allow_unreachable_succeeds_when_only_the_waived_workspace_is_missing.
    let _ = tandem(
        &pair.repo,
        &[
            "promote",
            "secondary",
            "--auto-approve",
            "--allow-unreachable",
        ],
    );
    let s = pair.secondary.client();
    assert_eq!(
        s.record()["pending_fences"][0]["workspace"],
        "primary",
        "precondition"
    );
    let failover_env = pair.repo.read("environments/test.yaml");

    // The primary is back and the team fails back to it straight away.
    pair.primary.start();
    let p = pair.primary.client();
    ok(&tandem(
        &pair.repo,
        &["promote", "primary", "--auto-approve"],
    ));
    assert_job_active(&p, "etl", 2, &etl_active_grants());
    assert_job_passive(&s, "etl", &owner());
    let text = tandem(&pair.repo, &["status"]).stdout();
    assert_eq!(
        s.record()["pending_fences"],
        json!([]),
        "the primary is active again; nothing is left to fence. status:\n{text}"
    );
    assert!(!text.contains("PENDING FENCE"), "{text}");

    // With the fence gone the guard protects the active primary from a stale checkout.
    pair.repo.write("environments/test.yaml", &failover_env);
    let run = tandem(&pair.repo, &["apply", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}", run.all_output());
    assert!(
        run.all_output()
            .contains("workspace primary is active according to its state record"),
        "{}",
        run.all_output()
    );
    assert_job_active(&p, "etl", 2, &etl_active_grants());
}

#[test]

fn status_after_a_promotion_is_up_to_date_with_the_promotion_commit() {
    let repo = git_repo(PAIR_ENV, ONE_JOB);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    ok(&tandem(&repo, &["promote", "secondary", "--auto-approve"]));
    assert_converged(&repo, &ENVS);
    let (code, status) = status_json(&repo);
    assert_eq!(code, 0, "{status}");
    for name in ["primary", "secondary"] {
        assert_eq!(
            status_of(&status, name)["commits_behind"],
            0,
            "{name}: the promotion commit only records what was just applied: {status}"
        );
    }
}

#[test]
fn an_invalid_configuration_stops_a_promotion_before_any_workspace_is_touched() {
    // Embedded workspaces: starting one would create its state files. Remote ones: promote
    // connects and reads while the configuration loads, but never writes.
    let bad = "resources:\n  jobs:\n    etl:\n      name: etl\n      max_concurrent_runs: many\n";
    let repo = git_repo(PAIR_ENV, bad);
    let run = tandem(&repo, &["promote", "secondary", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}", run.all_output());
    assert!(run.stderr().contains("r.yaml"), "{}", run.stderr());
    assert!(
        !repo.path().join(".tandem").exists(),
        "an embedded workspace was started"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let p = Emulator::spawn(&dir.path().join("primary.json"), &[]);
    let s = Emulator::spawn(&dir.path().join("secondary.json"), &[]);
    let repo = git_repo(&remote_env(&p.url, &s.url), bad);
    let run = tandem(&repo, &["promote", "secondary", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}", run.all_output());
    for ws in [p.client(), s.client()] {
        assert_eq!(
            ws.writes(),
            BTreeMap::new(),
            "a write before the config was valid"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The engine entry, without the command line
// ---------------------------------------------------------------------------------------------

#[test]
fn promote_is_one_engine_call_that_asks_its_operator() {
    use tandem::engine::commands::promote::{EnvironmentFile, PromoteError};
    use tandem::engine::{self, EngineError, PromoteOptions, PromoteReport};

    let repo = git_repo(COMMENTED_ENV, ONE_JOB);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    let options = |dry_run: bool| PromoteOptions {
        load: tandem::config::LoadOptions {
            root: repo.path().to_path_buf(),
            env: "test".into(),
            git_ref: None,
            env_from: None,
        },
        client: tandem::client::ClientOptions::default(),
        workspace: "secondary".into(),
        dry_run,
        allow_unreachable: false,
        no_commit: false,
        auto_approve: false,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // A dry run plans the promotion and asks nothing.
    let quiet = ScriptedOperator::answering(true);
    match rt.block_on(engine::promote(&options(true), &quiet)) {
        Ok(PromoteReport::DryRun { plan, .. }) => {
            let secondary = plan
                .workspaces
                .iter()
                .find(|w| w.workspace == "secondary")
                .expect("secondary planned");
            assert!(!secondary.actions.is_empty(), "{plan:?}");
        }
        other => panic!("expected a dry run's plan: {other:?}"),
    }
    assert_eq!(quiet.seen(), Vec::<String>::new());

    // "No" is a cancelled promotion: asked after the review, nothing written.
    let refusing = ScriptedOperator::answering(false);
    let head = repo.head_sha();
    match rt.block_on(engine::promote(&options(false), &refusing)) {
        Err(EngineError::Promote(PromoteError::Cancelled)) => {}
        other => panic!("expected a cancelled promotion: {other:?}"),
    }
    let seen = refusing.seen();
    assert!(
        seen.iter().any(|s| s.starts_with("review secondary ")),
        "{seen:?}"
    );
    assert_eq!(
        seen.last().map(String::as_str),
        Some("ask Promote secondary to active in test? Only 'yes' is accepted:"),
        "{seen:?}"
    );
    assert_eq!(repo.read("environments/test.yaml"), COMMENTED_ENV);
    assert_eq!(repo.head_sha(), head);
    with_local(&repo, "secondary", |ws| {
        assert_job_passive(ws, "etl", &owner())
    });

    // "Yes" promotes: every action reported, the environment file committed.
    let approving = ScriptedOperator::answering(true);
    let promoted = match rt.block_on(engine::promote(&options(false), &approving)) {
        Ok(PromoteReport::Promoted(promoted)) => promoted,
        other => panic!("expected a promotion: {other:?}"),
    };
    assert_eq!(promoted.workspace, "secondary");
    assert!(promoted.report.succeeded(), "{:?}", promoted.report);
    assert!(promoted.unreachable.is_empty());
    match &promoted.environment_file {
        Ok(EnvironmentFile::Committed { file, sha }) => {
            assert_eq!(file, "environments/test.yaml");
            assert_eq!(sha, &repo.head_sha());
        }
        other => panic!("expected the environment file committed: {other:?}"),
    }
    let seen = approving.seen();
    let asked = seen
        .iter()
        .position(|s| s.starts_with("ask "))
        .expect("asked");
    let first_write = seen
        .iter()
        .position(|s| s.ends_with(" ok"))
        .expect("actions reported");
    assert!(asked < first_write, "asked before writing: {seen:?}");
    assert!(
        seen.iter()
            .any(|s| s.starts_with("secondary ") && s.contains("jobs.etl")),
        "{seen:?}"
    );
    with_local(&repo, "secondary", |ws| {
        assert_job_active(ws, "etl", 2, &etl_active_grants())
    });
    with_local(&repo, "primary", |ws| {
        assert_job_passive(ws, "etl", &owner())
    });

    // Promoting it again finds nothing to do.
    match rt.block_on(engine::promote(
        &options(false),
        &ScriptedOperator::answering(true),
    )) {
        Ok(PromoteReport::AlreadyActive {
            workspace,
            environment,
        }) => assert_eq!(
            (workspace.as_str(), environment.as_str()),
            ("secondary", "test")
        ),
        other => panic!("expected nothing to do: {other:?}"),
    }
}
