//! `tandem plan` and `tandem apply` end to end over real HTTP: embedded `local:` workspaces (and
//! emulator subprocesses where the test needs fault profiles or tokens), inspected afterwards
//! through the emulator's own API.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{
    Emulator, Grants, PAIR_ENV, TRIO_ENV, TandemRun, TestRepo, Ws, assert_converged, grants, ok,
    remote_env, with_local,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// The summary line of a workspace at the end of a text plan (`primary    no changes`).
fn summary_of(plan_text: &str, workspace: &str) -> String {
    plan_text
        .lines()
        .rev()
        .find(|l| l.split_whitespace().next() == Some(workspace))
        .map(|l| l[workspace.len()..].trim().to_string())
        .unwrap_or_else(|| panic!("no summary line for {workspace}:\n{plan_text}"))
}

/// The resources a JSON plan touches in one workspace.
fn planned_resources(plan: &Value, workspace: &str) -> BTreeSet<String> {
    plan["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .find(|w| w["workspace"] == workspace)
        .unwrap_or_else(|| panic!("no plan for {workspace}"))["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            format!(
                "{}.{}",
                a["resource"]["kind"].as_str().expect("kind"),
                a["resource"]["key"].as_str().expect("key")
            )
        })
        .collect()
}

/// `(done, failed)` from apply's `<workspace>  N done, M failed` line.
fn apply_counts(out: &str, workspace: &str) -> (usize, usize) {
    let prefix = format!("{workspace}  ");
    let line = out
        .lines()
        .find(|l| l.starts_with(&prefix) && l.ends_with(" failed") && l.contains(" done, "))
        .unwrap_or_else(|| panic!("no summary for {workspace}:\n{out}"));
    let numbers: Vec<usize> = line[prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// Asserts that every workspace did some work and nothing failed.
fn assert_applied(out: &str, workspaces: &[&str]) {
    for w in workspaces {
        let (done, failed) = apply_counts(out, w);
        assert!(
            done > 0 && failed == 0,
            "{w}: {done} done, {failed} failed:\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 1. create, change, delete of every kind
// ---------------------------------------------------------------------------------------------

const EVERY_KIND_V1: &str = r#"resources:
  instance_pools:
    workers:
      instance_pool_name: test-workers
      node_type_id: Standard_DS3_v2
      min_idle_instances: 1
      max_capacity: 10
      permissions:
        - {group_name: data-eng, level: CAN_ATTACH_TO}
  clusters:
    shared:
      cluster_name: shared
      spark_version: 15.4.x-scala2.12
      instance_pool_id: ${resources.instance_pools.workers.id}
      num_workers: 2
      autotermination_minutes: 30
      permissions:
        - {group_name: data-eng, level: CAN_RESTART}
  jobs:
    etl:
      name: Test ETL
      max_concurrent_runs: 2
      timeout_seconds: 600
      tasks:
        - task_key: ingest
          existing_cluster_id: ${resources.clusters.shared.id}
          notebook_task: {notebook_path: /Repos/etl/ingest}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
  secret_scopes:
    etl:
      name: test-etl
      secrets:
        db_password: {env: TANDEM_TEST_DB_PASSWORD}
      acls:
        - {principal: data-eng, permission: READ}
"#;

const EVERY_KIND_V2: &str = r#"resources:
  instance_pools:
    workers:
      instance_pool_name: test-workers
      node_type_id: Standard_DS3_v2
      min_idle_instances: 1
      max_capacity: 20
      permissions:
        - {group_name: data-eng, level: CAN_ATTACH_TO}
  clusters:
    shared:
      cluster_name: shared
      spark_version: 15.4.x-scala2.12
      instance_pool_id: ${resources.instance_pools.workers.id}
      num_workers: 3
      autotermination_minutes: 30
      permissions:
        - {group_name: data-eng, level: CAN_MANAGE}
  jobs:
    etl:
      name: Test ETL
      max_concurrent_runs: 2
      timeout_seconds: 900
      tasks:
        - task_key: ingest
          existing_cluster_id: ${resources.clusters.shared.id}
          notebook_task: {notebook_path: /Repos/etl/ingest_v2}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_VIEW}
  secret_scopes:
    etl:
      name: test-etl
      secrets:
        db_password: {env: TANDEM_TEST_DB_PASSWORD}
        api_key: {env: TANDEM_TEST_API_KEY}
      acls:
        - {principal: data-eng, permission: WRITE}
"#;

#[test]
fn every_kind_is_created_changed_and_deleted_on_both_workspaces() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", EVERY_KIND_V1);
    let v1 = [("TANDEM_TEST_DB_PASSWORD", "first-password-1")];

    // Without a terminal nothing is written unapproved, not even creates.
    let refused = repo.tandem_env(&["-e", "test", "apply"], &v1).failure();
    assert!(
        refused.contains("the plan changes 2 workspace(s) and there is no terminal to confirm it"),
        "{refused}"
    );
    assert!(refused.contains("--auto-approve"), "{refused}");
    with_local(&repo, "primary", |ws| {
        assert!(
            ws.find("jobs", "etl").is_none(),
            "nothing written unapproved"
        );
        assert!(ws.state_record().is_none(), "no record either");
    });
    let out = ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &v1));
    assert_applied(&out, &["primary", "secondary"]);
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        let pool = ws.one("instance_pools", "workers");
        let cluster = ws.one("clusters", "shared");
        let job = ws.job_settings("etl");
        assert_eq!(pool["max_capacity"], 10, "{name}");
        assert_eq!(cluster["num_workers"], 2, "{name}");
        assert_eq!(
            cluster["instance_pool_id"], pool["instance_pool_id"],
            "{name}: the pool reference resolves to this workspace's pool"
        );
        assert_eq!(job["name"], "Test ETL");
        assert_eq!(job["timeout_seconds"], 600);
        assert_eq!(
            job["tasks"][0]["existing_cluster_id"], cluster["cluster_id"],
            "{name}: the cluster reference resolves to this workspace's cluster"
        );
        assert_eq!(job["tags"]["managed-by"], "tandem");
        assert_eq!(job["tags"]["tandem-env"], "test");
        assert_eq!(
            ws.pool_grants("workers"),
            grants(&[("data-eng", "CAN_ATTACH_TO")])
        );
        assert_eq!(
            ws.cluster_grants("shared"),
            grants(&[("data-eng", "CAN_RESTART")])
        );
        let owner = ("etl-bot@example.com", "IS_OWNER");
        let expected_job_grants = if name == "primary" {
            grants(&[owner, ("data-eng", "CAN_MANAGE_RUN")])
        } else {
            grants(&[owner])
        };
        assert_eq!(ws.job_grants("etl"), expected_job_grants, "{name}");
        assert!(ws.scopes().contains("test-etl"), "{name}");
        assert_eq!(
            ws.secrets("test-etl").keys().collect::<Vec<_>>(),
            ["db_password"]
        );
        assert_eq!(
            ws.acls("test-etl").get("data-eng").map(String::as_str),
            Some("READ")
        );
        assert!(
            ws.secret_value_is("test-etl", "db_password", "first-password-1"),
            "{name}: the value of the environment variable was written"
        );
        let record = ws.state_record().expect("state record");
        assert_eq!(
            record["role"],
            if name == "primary" {
                "active"
            } else {
                "passive"
            }
        );
        assert!(
            !record.to_string().contains("first-password-1"),
            "the record holds fingerprints only"
        );
        ws.close();
    }
    assert_converged(&repo, &v1);

    // Change a field of every kind: the plan names each field.
    repo.write("resources/r.yaml", EVERY_KIND_V2);
    let v2 = [
        ("TANDEM_TEST_DB_PASSWORD", "second-password-2"),
        ("TANDEM_TEST_API_KEY", "api-key-value-2"),
    ];
    let run = repo.tandem_env(&["-e", "test", "plan", "--detailed-exitcode"], &v2);
    assert_eq!(run.code(), 2, "{}\n{}", run.stdout(), run.stderr());
    let plan = run.stdout();
    for expected in [
        "max_capacity: 10 → 20",
        "num_workers: 2 → 3",
        "timeout_seconds: 600 → 900",
        "tasks[ingest].notebook_task.notebook_path: \"/Repos/etl/ingest\" → \"/Repos/etl/ingest_v2\"",
        "data-eng CAN_RESTART → data-eng CAN_MANAGE",
        "data-eng: READ → WRITE",
        "db_password (changed; value hidden)",
        "api_key (new; value hidden)",
    ] {
        assert!(plan.contains(expected), "plan lacks `{expected}`:\n{plan}");
    }
    assert!(
        plan.contains("jobs.etl") && plan.contains("update"),
        "{plan}"
    );
    assert!(!plan.contains("second-password-2") && !plan.contains("api-key-value-2"));
    // Job grants change on the active side only (the passive side holds the owner alone).
    let set_permissions_lines = plan
        .lines()
        .filter(|l| l.contains("CAN_MANAGE_RUN") && l.contains("CAN_VIEW"))
        .count();
    assert_eq!(set_permissions_lines, 1, "{plan}");

    let out = ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &v2));
    assert_applied(&out, &["primary", "secondary"]);
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert_eq!(
            ws.one("instance_pools", "workers")["max_capacity"],
            20,
            "{name}"
        );
        assert_eq!(ws.one("clusters", "shared")["num_workers"], 3, "{name}");
        let job = ws.job_settings("etl");
        assert_eq!(job["timeout_seconds"], 900, "{name}");
        assert_eq!(
            job["tasks"][0]["notebook_task"]["notebook_path"],
            "/Repos/etl/ingest_v2"
        );
        assert_eq!(
            ws.cluster_grants("shared"),
            grants(&[("data-eng", "CAN_MANAGE")])
        );
        if name == "primary" {
            assert_eq!(
                ws.job_grants("etl"),
                grants(&[
                    ("etl-bot@example.com", "IS_OWNER"),
                    ("data-eng", "CAN_VIEW")
                ])
            );
        }
        assert_eq!(
            ws.acls("test-etl").get("data-eng").map(String::as_str),
            Some("WRITE")
        );
        let secrets = ws.secrets("test-etl");
        assert!(secrets.contains_key("api_key") && secrets.contains_key("db_password"));
        assert!(ws.secret_value_is("test-etl", "db_password", "second-password-2"));
        assert!(ws.secret_value_is("test-etl", "api_key", "api-key-value-2"));
        ws.close();
    }
    assert_converged(&repo, &v2);

    // Remove everything from the config: without a terminal, deletions need --auto-approve.
    repo.write("resources/r.yaml", "resources: {}\n");
    let run = repo.tandem_env(&["-e", "test", "apply"], &v2);
    let err = run.failure();
    assert!(err.contains("there is no terminal to confirm it"), "{err}");
    assert!(err.contains("--auto-approve"), "{err}");
    {
        let ws = Ws::local(&repo, "primary");
        assert!(
            ws.find("jobs", "etl").is_some(),
            "nothing deleted without approval"
        );
        assert!(ws.scopes().contains("test-etl"));
        ws.close();
    }
    let plan = ok(&repo.tandem_env(&["-e", "test", "plan"], &v2));
    assert!(
        plan.contains("not in the configuration for this workspace"),
        "{plan}"
    );
    assert!(plan.contains("delete scope"), "{plan}");

    ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &v2));
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert!(ws.find("jobs", "etl").is_none(), "{name}: job deleted");
        assert!(
            ws.find("clusters", "shared").is_none(),
            "{name}: cluster deleted"
        );
        assert!(
            ws.find("instance_pools", "workers").is_none(),
            "{name}: pool deleted"
        );
        assert!(!ws.scopes().contains("test-etl"), "{name}: scope deleted");
        let record = ws.state_record().expect("record");
        assert_eq!(record["managed_scopes"], json!([]), "{name}: {record}");
        ws.close();
    }
    assert_converged(&repo, &v2);
}

// ---------------------------------------------------------------------------------------------
// 2. a trio
// ---------------------------------------------------------------------------------------------

const TRIO_RESOURCES: &str = r#"resources:
  instance_pools:
    warm:
      instance_pool_name: warm
      node_type_id: Standard_DS3_v2
      min_idle_instances: 2
      max_capacity: 8
  clusters:
    interactive:
      cluster_name: interactive-${workspace.name}
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: 1
  jobs:
    nightly:
      name: nightly
      max_concurrent_runs: 2
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC, pause_status: UNPAUSED}
      tasks:
        - task_key: main
          existing_cluster_id: ${resources.clusters.interactive.id}
          notebook_task: {notebook_path: /Repos/etl/nightly}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
  secret_scopes:
    s:
      name: trio
      secrets:
        token: {env: TANDEM_TEST_TRIO_TOKEN}
      acls:
        - {principal: data-eng, permission: READ}
"#;

#[test]
fn a_trio_applies_cleanly_and_every_passive_workspace_gets_the_overrides() {
    let repo = TestRepo::with_env(TRIO_ENV).file("resources/r.yaml", TRIO_RESOURCES);
    let plan = ok(&repo.tandem(&["-e", "test", "plan"]));
    assert!(
        plan.contains("primary active, secondary passive, tertiary passive"),
        "{plan}"
    );
    let out = ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    for name in ["primary", "secondary", "tertiary"] {
        assert!(out.contains(&format!("{name}  ")), "{out}");
    }
    for name in ["primary", "secondary", "tertiary"] {
        let ws = Ws::local(&repo, name);
        let active = name == "primary";
        let job = ws.job_settings("nightly");
        assert_eq!(
            job["max_concurrent_runs"],
            if active { 2 } else { 0 },
            "{name}"
        );
        assert_eq!(
            job["schedule"]["pause_status"],
            if active { "UNPAUSED" } else { "PAUSED" },
            "{name}"
        );
        let pool = ws.one("instance_pools", "warm");
        assert_eq!(
            pool["min_idle_instances"],
            if active { 2 } else { 0 },
            "{name}"
        );
        let cluster = ws.one("clusters", "interactive");
        assert_eq!(cluster["cluster_name"], format!("interactive-{name}"));
        let state = ws.cluster_state("interactive");
        if active {
            assert!(
                !matches!(state.as_str(), "TERMINATED" | "TERMINATING"),
                "{name}: {state}"
            );
        } else {
            assert!(
                matches!(state.as_str(), "TERMINATED" | "TERMINATING"),
                "{name}: {state}"
            );
        }
        let owner = ("etl-bot@example.com", "IS_OWNER");
        assert_eq!(
            ws.job_grants("nightly"),
            if active {
                grants(&[owner, ("data-eng", "CAN_MANAGE_RUN")])
            } else {
                grants(&[owner])
            },
            "{name}"
        );
        assert_eq!(ws.secrets("trio").len(), 1, "{name}");
        let record = ws.state_record().expect("record");
        assert_eq!(record["workspace"], name);
        assert_eq!(record["role"], if active { "active" } else { "passive" });
        assert!(record["last_applied"].is_object(), "{record}");
        ws.close();
    }
    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    for name in ["primary", "secondary", "tertiary"] {
        assert_eq!(summary_of(&run.stdout(), name), "no changes");
    }
}

// ---------------------------------------------------------------------------------------------
// 3. every passive override, and the escape hatches
// ---------------------------------------------------------------------------------------------

const OVERRIDES: &str = r#"resources:
  instance_pools:
    warm:
      instance_pool_name: warm
      node_type_id: Standard_DS3_v2
      min_idle_instances: 2
      max_capacity: 10
    drivers:
      instance_pool_name: drivers
      node_type_id: Standard_DS3_v2
      min_idle_instances: 3
      max_capacity: 10
      passive: {min_idle_instances: 1}
  clusters:
    interactive:
      cluster_name: interactive
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: 1
    always_on:
      cluster_name: always-on
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: 1
      passive: {state: running}
    reports:
      cluster_name: reports
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: 1
      placement: active_only
  jobs:
    scheduled:
      name: scheduled
      max_concurrent_runs: 3
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC, pause_status: UNPAUSED}
      tasks:
        - task_key: main
          existing_cluster_id: ${resources.clusters.interactive.id}
          notebook_task: {notebook_path: /Repos/etl/scheduled}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
        - {group_name: analysts, level: CAN_VIEW}
    triggered:
      name: triggered
      trigger:
        pause_status: UNPAUSED
        periodic: {interval: 1, unit: HOURS}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/triggered}
    streaming:
      name: streaming
      continuous: {pause_status: UNPAUSED}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/streaming}
    defaults:
      name: defaults
      schedule: {quartz_cron_expression: "0 0 3 * * ?", timezone_id: UTC}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/defaults}
    heartbeat:
      name: heartbeat
      max_concurrent_runs: 1
      schedule: {quartz_cron_expression: "0 */5 * * * ?", timezone_id: UTC}
      passive: {max_concurrent_runs: 1, pause_status: UNPAUSED, permissions: all}
      tasks:
        - task_key: beat
          notebook_task: {notebook_path: /Repos/ops/heartbeat}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: platform-ops, level: CAN_MANAGE_RUN}
    report:
      name: report
      placement: active_only
      schedule: {quartz_cron_expression: "0 0 6 * * ?", timezone_id: UTC}
      tasks:
        - task_key: main
          existing_cluster_id: ${resources.clusters.reports.id}
          notebook_task: {notebook_path: /Repos/bi/report}
"#;

#[test]
fn passive_overrides_reach_the_passive_workspace_and_escape_hatches_work() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", OVERRIDES);

    let plan = ok(&repo.tandem(&["-e", "test", "plan"]));
    let override_lines: Vec<&str> = plan
        .lines()
        .skip_while(|l| !l.starts_with("passive overrides"))
        .collect();
    let line = |resource: &str, field: &str| {
        override_lines
            .iter()
            .find(|l| l.contains(&format!("{resource} {field}:")))
            .unwrap_or_else(|| panic!("no override line for {resource} {field}:\n{plan}"))
            .to_string()
    };
    assert!(line("jobs.scheduled", "max_concurrent_runs").contains(": 0 (built-in; configured 3)"));
    assert!(
        line("jobs.scheduled", "schedule.pause_status")
            .contains(": \"PAUSED\" (built-in; configured \"UNPAUSED\")")
    );
    for field in [
        "max_concurrent_runs",
        "schedule.pause_status",
        "permissions",
    ] {
        let l = line("jobs.heartbeat", field);
        assert!(l.contains("passive: block"), "{l}");
        assert!(
            l.starts_with("  secondary"),
            "overrides are on the passive side: {l}"
        );
    }
    assert!(line("instance_pools.drivers", "min_idle_instances").contains("passive: block"));
    assert!(
        line("instance_pools.warm", "min_idle_instances").contains(": 0 (built-in; configured 2)")
    );
    assert!(line("clusters.always_on", "state").contains("passive: block"));
    assert!(
        !override_lines.iter().any(|l| l.starts_with("  primary")),
        "no overrides on the active side:\n{plan}"
    );

    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));

    let primary = Ws::local(&repo, "primary");
    // Active: the configuration as written.
    let scheduled = primary.job_settings("scheduled");
    assert_eq!(scheduled["max_concurrent_runs"], 3);
    assert_eq!(scheduled["schedule"]["pause_status"], "UNPAUSED");
    assert_eq!(
        primary.job_settings("triggered")["trigger"]["pause_status"],
        "UNPAUSED"
    );
    assert_eq!(
        primary.job_settings("streaming")["continuous"]["pause_status"],
        "UNPAUSED"
    );
    assert_ne!(
        primary.job_settings("defaults")["schedule"]["pause_status"],
        "PAUSED"
    );
    assert_eq!(
        primary.job_grants("scheduled"),
        grants(&[
            ("etl-bot@example.com", "IS_OWNER"),
            ("data-eng", "CAN_MANAGE_RUN"),
            ("analysts", "CAN_VIEW"),
        ])
    );
    assert_eq!(
        primary.one("instance_pools", "warm")["min_idle_instances"],
        2
    );
    assert_eq!(
        primary.one("instance_pools", "drivers")["min_idle_instances"],
        3
    );
    for key in ["interactive", "always_on", "reports"] {
        let state = primary.cluster_state(key);
        assert!(
            !matches!(state.as_str(), "TERMINATED" | "TERMINATING"),
            "active {key}: {state}"
        );
    }
    assert!(primary.find("jobs", "report").is_some());
    assert!(primary.find("clusters", "reports").is_some());
    let report = primary.job_settings("report");
    assert_eq!(
        report["tasks"][0]["existing_cluster_id"],
        primary.one("clusters", "reports")["cluster_id"]
    );
    primary.close();

    let secondary = Ws::local(&repo, "secondary");
    // Passive: forced values. The zero is in the job's settings, not left to a default.
    for key in ["scheduled", "triggered", "streaming", "defaults"] {
        let settings = secondary.job_settings(key);
        assert_eq!(
            settings.get("max_concurrent_runs"),
            Some(&json!(0)),
            "{key}: {settings}"
        );
    }
    let raw = secondary.get(&format!(
        "/api/2.2/jobs/get?job_id={}",
        secondary.one("jobs", "scheduled")["job_id"]
    ));
    assert_eq!(raw["settings"]["max_concurrent_runs"], json!(0), "{raw}");
    assert_eq!(
        secondary.job_settings("scheduled")["schedule"]["pause_status"],
        "PAUSED"
    );
    assert_eq!(
        secondary.job_settings("defaults")["schedule"]["pause_status"],
        "PAUSED"
    );
    assert_eq!(
        secondary.job_settings("triggered")["trigger"]["pause_status"],
        "PAUSED"
    );
    assert_eq!(
        secondary.job_settings("streaming")["continuous"]["pause_status"],
        "PAUSED"
    );
    assert_eq!(
        secondary.job_grants("scheduled"),
        grants(&[("etl-bot@example.com", "IS_OWNER")]),
        "only the owner entry on the passive side"
    );
    assert_eq!(
        secondary.one("instance_pools", "warm")["min_idle_instances"],
        0
    );
    let state = secondary.cluster_state("interactive");
    assert!(
        matches!(state.as_str(), "TERMINATED" | "TERMINATING"),
        "{state}"
    );

    // Escape hatches.
    let heartbeat = secondary.job_settings("heartbeat");
    assert_eq!(heartbeat["max_concurrent_runs"], 1);
    assert_eq!(heartbeat["schedule"]["pause_status"], "UNPAUSED");
    assert_eq!(
        secondary.job_grants("heartbeat"),
        grants(&[
            ("etl-bot@example.com", "IS_OWNER"),
            ("platform-ops", "CAN_MANAGE_RUN")
        ]),
        "`permissions: all` applies every grant on the passive side"
    );
    assert_eq!(
        secondary.one("instance_pools", "drivers")["min_idle_instances"],
        1
    );
    let state = secondary.cluster_state("always_on");
    assert!(
        !matches!(state.as_str(), "TERMINATED" | "TERMINATING"),
        "always_on: {state}"
    );
    assert!(
        secondary.find("jobs", "report").is_none(),
        "active_only job"
    );
    assert!(
        secondary.find("clusters", "reports").is_none(),
        "active_only cluster"
    );
    secondary.close();

    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
}

// ---------------------------------------------------------------------------------------------
// 4. idempotence on the shipped examples
// ---------------------------------------------------------------------------------------------

/// The managed objects of an embedded workspace as its state file holds them.
fn objects_in_state_file(repo: &TestRepo, name: &str) -> Value {
    let path = repo.path().join(format!(".tandem/local/{name}.json"));
    let db: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("state file")).expect("json");
    // The seal scope changes with every record written: it holds the record's digest.
    let mut scopes = db["scopes"].clone();
    if let Some(scopes) = scopes.as_object_mut() {
        scopes.retain(|name, _| !name.starts_with("tandem."));
    }
    json!({
        "jobs": db["jobs"],
        "clusters": db["clusters"],
        "pools": db["pools"],
        "scopes": scopes,
        "acls": db["acls"],
    })
}

#[test]
fn the_examples_apply_once_and_then_nothing_changes() {
    let repo = TestRepo::new()
        .copy_from_project("examples")
        .copy_from_project("environments");
    let out = ok(&repo.tandem(&["-e", "local", "apply", "--auto-approve"]));
    assert_applied(&out, &["primary", "secondary"]);

    let run = repo.tandem(&["-e", "local", "plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    assert_eq!(summary_of(&run.stdout(), "primary"), "no changes");
    assert_eq!(summary_of(&run.stdout(), "secondary"), "no changes");

    let before = [
        objects_in_state_file(&repo, "primary"),
        objects_in_state_file(&repo, "secondary"),
    ];
    let out = ok(&repo.tandem(&["-e", "local", "apply", "--auto-approve"]));
    assert!(
        out.contains("No changes: every workspace matches the configuration."),
        "{out}"
    );
    assert!(out.contains("primary  0 done, 0 failed"), "{out}");
    assert!(out.contains("secondary  0 done, 0 failed"), "{out}");
    let after = [
        objects_in_state_file(&repo, "primary"),
        objects_in_state_file(&repo, "secondary"),
    ];
    assert_eq!(before, after, "a second apply changed objects");

    // The example's own escape hatch, as the README describes it.
    let secondary = Ws::local(&repo, "secondary");
    let heartbeat = secondary.job_settings("dr_heartbeat");
    assert_eq!(heartbeat["max_concurrent_runs"], 1);
    assert_eq!(heartbeat["schedule"]["pause_status"], "UNPAUSED");
    assert_eq!(
        secondary.job_settings("nightly_etl")["max_concurrent_runs"],
        json!(0)
    );
    secondary.close();
}

// ---------------------------------------------------------------------------------------------
// 5. exit codes
// ---------------------------------------------------------------------------------------------

const ONE_JOB: &str = r#"resources:
  jobs:
    etl:
      name: etl
      max_concurrent_runs: 2
      timeout_seconds: 600
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/main}
"#;

#[test]
fn plan_exit_codes_say_whether_there_are_changes_and_invalid_config_writes_nothing() {
    // Invalid from the start: nothing is contacted, not even an embedded workspace started.
    let broken = TestRepo::with_env(PAIR_ENV).file(
        "resources/r.yaml",
        "resources:\n  jobs:\n    etl:\n      nmae: etl\n",
    );
    for args in [
        &["-e", "test", "plan", "--detailed-exitcode"][..],
        &["-e", "test", "apply", "--auto-approve"][..],
    ] {
        let err = broken.tandem(args).failure();
        assert!(err.contains("unknown field `nmae`"), "{err}");
    }
    assert!(
        !broken.path().join(".tandem").exists(),
        "an invalid config started workspaces"
    );

    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", ONE_JOB);
    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 2, "{}\n{}", run.stdout(), run.stderr());
    assert_eq!(summary_of(&run.stdout(), "primary"), "1 create");
    // Without the flag, changes are success.
    assert_eq!(repo.tandem(&["-e", "test", "plan"]).code(), 0);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    for format in ["json", "markdown"] {
        let run = repo.tandem(&[
            "-e",
            "test",
            "plan",
            "--detailed-exitcode",
            "--format",
            format,
        ]);
        assert_eq!(run.code(), 0, "{format}: {}", run.stdout());
    }

    // A change plus a mistake: exit 1 and neither workspace is touched.
    repo.write(
        "resources/r.yaml",
        &ONE_JOB.replace(
            "timeout_seconds: 600",
            "timeout_seconds: 900\n      bogus_field: 1",
        ),
    );
    let err = repo
        .tandem(&["-e", "test", "apply", "--auto-approve"])
        .failure();
    assert!(err.contains("bogus_field"), "{err}");
    let err = repo
        .tandem(&["-e", "test", "plan", "--detailed-exitcode"])
        .failure();
    assert!(err.contains("bogus_field"), "{err}");
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert_eq!(ws.jobs().len(), 1, "{name}");
        assert_eq!(ws.job_settings("etl")["timeout_seconds"], 600, "{name}");
        ws.close();
    }
}

// ---------------------------------------------------------------------------------------------
// 6. saved plans
// ---------------------------------------------------------------------------------------------

#[test]
fn a_stale_plan_file_is_refused_and_a_fresh_one_applies_exactly() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", ONE_JOB);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    let plan_file = repo.path().join("plan.json");
    let plan_arg = plan_file.to_str().expect("utf-8");

    repo.write(
        "resources/r.yaml",
        &ONE_JOB.replace("timeout_seconds: 600", "timeout_seconds: 900"),
    );
    ok(&repo.tandem(&["-e", "test", "plan", "--out", plan_arg]));
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).expect("plan file"))
            .expect("plan json");
    assert_eq!(saved["format_version"], 2);
    assert_eq!(
        planned_resources(&saved, "primary"),
        BTreeSet::from(["jobs.etl".to_string()])
    );

    // Someone changes the primary's job by hand.
    {
        let ws = Ws::local(&repo, "primary");
        let id = ws.one("jobs", "etl")["job_id"].clone();
        ws.post(
            "/api/2.2/jobs/update",
            json!({"job_id": id, "new_settings": {"description": "edited by hand"}}),
        );
        ws.close();
    }
    let run = repo.tandem(&["-e", "test", "apply", plan_arg, "--auto-approve"]);
    let err = run.failure();
    assert!(err.contains("stale"), "{err}");
    assert!(err.contains("primary"), "{err}");
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert_eq!(
            ws.job_settings("etl")["timeout_seconds"],
            600,
            "{name}: a stale plan applied nothing"
        );
        assert!(ws.lock().is_none(), "{name}: no lock left");
        ws.close();
    }

    // A fresh plan applies exactly what it says; if the config of what it changes moved on
    // since, only when told to (--allow-stale-config).
    ok(&repo.tandem(&["-e", "test", "plan", "--out", plan_arg]));
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).expect("plan file"))
            .expect("plan json");
    let text = saved.to_string();
    assert!(
        text.contains("edited by hand"),
        "the hand edit is in the plan: {text}"
    );
    // Objects tandem does not manage neither make the plan stale nor are ever touched.
    let unmanaged = {
        let ws = Ws::local(&repo, "primary");
        let id = ws.post(
            "/api/2.2/jobs/create",
            json!({"name": "made by hand", "max_concurrent_runs": 4,
                   "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/Users/x/nb"}}]}),
        )["job_id"]
            .clone();
        ws.close();
        id
    };
    repo.write(
        "resources/r.yaml",
        &ONE_JOB.replace("timeout_seconds: 600", "timeout_seconds: 1200"),
    );
    let refused = repo.tandem(&["-e", "test", "apply", plan_arg, "--auto-approve"]);
    assert!(
        refused.failure().contains("--allow-stale-config"),
        "{}",
        refused.all_output()
    );
    let out = ok(&repo.tandem(&[
        "-e",
        "test",
        "apply",
        plan_arg,
        "--auto-approve",
        "--allow-stale-config",
    ]));
    assert!(out.contains("update jobs.etl  ok"), "{out}");
    {
        let ws = Ws::local(&repo, "primary");
        let hand = ws.get(&format!("/api/2.2/jobs/get?job_id={unmanaged}"));
        assert_eq!(hand["settings"]["name"], "made by hand");
        assert_eq!(hand["settings"]["max_concurrent_runs"], 4);
        ws.close();
    }
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        let settings = ws.job_settings("etl");
        assert_eq!(
            settings["timeout_seconds"], 900,
            "{name}: the saved plan's value"
        );
        assert!(settings.get("description").is_none(), "{name}: {settings}");
        ws.close();
    }
    let run = repo.tandem(&["-e", "test", "plan"]);
    assert!(
        run.stdout().contains("timeout_seconds: 900 → 1200"),
        "{}",
        run.stdout()
    );

    repo.write(
        "resources/r.yaml",
        &ONE_JOB.replace("timeout_seconds: 600", "timeout_seconds: 900"),
    );
    assert_converged(&repo, &[]);

    // A plan for a workspace that has not changed since applies; the one after is empty.
    repo.write("resources/r.yaml", ONE_JOB);
    ok(&repo.tandem(&["-e", "test", "plan", "--out", plan_arg]));
    ok(&repo.tandem(&["-e", "test", "apply", plan_arg, "--auto-approve"]));
    assert_converged(&repo, &[]);
    {
        let ws = Ws::local(&repo, "primary");
        assert_eq!(ws.jobs().len(), 2, "the hand-made job is still there");
        ws.close();
    }

    // Plan files that cannot be used.
    repo.write("environments/other.yaml", PAIR_ENV);
    let err = repo
        .tandem(&["-e", "other", "apply", plan_arg, "--auto-approve"])
        .failure();
    assert!(
        err.contains("the plan is for environment test, not other"),
        "{err}"
    );
    std::fs::write(&plan_file, "{\"not\": \"a plan\"}").expect("write");
    let err = repo
        .tandem(&["-e", "test", "apply", plan_arg, "--auto-approve"])
        .failure();
    assert!(err.contains("not a tandem plan"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// 7. locks
// ---------------------------------------------------------------------------------------------

fn foreign_lock(expires_ms: i64) -> Value {
    json!({
        "id": "0123456789abcdef",
        "holder": "someone@ci",
        "operation": "apply",
        "since": "2026-01-02T03:04:05Z",
        "expires_ms": expires_ms,
        "since_ms": now_ms() - 60_000,
    })
}

fn with_second_job(base: &str) -> String {
    format!(
        "{base}    second:\n      name: second\n      tasks:\n        - task_key: main\n          notebook_task: {{notebook_path: /Repos/etl/second}}\n"
    )
}

#[test]
fn a_held_lock_stops_apply_and_an_expired_one_is_taken_over() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", ONE_JOB);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    repo.write("resources/r.yaml", &with_second_job(ONE_JOB));

    // Held on the primary (locked first): nothing anywhere.
    {
        let ws = Ws::local(&repo, "primary");
        ws.write_file_json(
            "/Shared/.tandem/test/lock.json",
            &foreign_lock(now_ms() + 3_600_000),
        );
        ws.close();
    }
    // Reading is not locked.
    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 2, "{}\n{}", run.stdout(), run.stderr());
    let err = repo
        .tandem(&["-e", "test", "apply", "--auto-approve"])
        .failure();
    assert!(err.contains("locked by someone@ci"), "{err}");
    assert!(err.contains("since 2026-01-02T03:04:05Z"), "{err}");
    assert!(err.contains("primary"), "{err}");
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert!(
            ws.find("jobs", "second").is_none(),
            "{name}: applied while locked"
        );
        ws.close();
    }
    {
        let ws = Ws::local(&repo, "primary");
        assert_eq!(
            ws.lock().expect("the foreign lock stays")["holder"],
            "someone@ci"
        );
        ws.close();
    }

    // Held on the secondary only: the primary's lock, already taken, is given back.
    {
        let ws = Ws::local(&repo, "primary");
        ws.post(
            "/api/2.0/workspace/delete",
            json!({"path": "/Shared/.tandem/test/lock.json"}),
        );
        ws.close();
        let ws = Ws::local(&repo, "secondary");
        ws.write_file_json(
            "/Shared/.tandem/test/lock.json",
            &foreign_lock(now_ms() + 3_600_000),
        );
        ws.close();
    }
    let err = repo
        .tandem(&["-e", "test", "apply", "--auto-approve"])
        .failure();
    assert!(
        err.contains("workspace secondary is locked by someone@ci"),
        "{err}"
    );
    {
        let ws = Ws::local(&repo, "primary");
        assert!(ws.lock().is_none(), "the primary's lock was released");
        assert!(ws.find("jobs", "second").is_none(), "nothing applied");
        ws.close();
    }

    // `tandem unlock`, where it exists, breaks the lock.
    let unlock_exists = repo.tandem(&["unlock", "--help"]).code() == 0;
    if unlock_exists {
        let out = ok(&repo.tandem(&["-e", "test", "unlock", "secondary", "--auto-approve"]));
        assert!(out.contains("someone@ci"), "{out}");
        let ws = Ws::local(&repo, "secondary");
        assert!(ws.lock().is_none(), "unlock removed the lock");
        ws.close();
    }

    // An expired lock is taken over.
    {
        let ws = Ws::local(&repo, "secondary");
        ws.write_file_json(
            "/Shared/.tandem/test/lock.json",
            &foreign_lock(now_ms() - 1_000),
        );
        ws.close();
    }
    let out = ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    assert!(out.contains("create jobs.second  ok"), "{out}");
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert!(ws.find("jobs", "second").is_some(), "{name}");
        assert!(
            ws.lock().is_none(),
            "{name}: the lock is released after apply"
        );
        ws.close();
    }
}

// ---------------------------------------------------------------------------------------------
// 8. the guard
// ---------------------------------------------------------------------------------------------

#[test]
fn a_passive_workspace_whose_record_says_active_stops_plan_and_apply() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", ONE_JOB);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    let primary_record_before = {
        let ws = Ws::local(&repo, "primary");
        let record = ws.state_record().expect("record");
        ws.close();
        record
    };
    {
        let ws = Ws::local(&repo, "secondary");
        let mut record = ws.state_record().expect("record");
        record["role"] = json!("active");
        record["promoted_by"] = json!("oncall@example.com");
        record["promoted_at"] = json!("2026-03-04T05:06:07Z");
        ws.write_record(&record);
        ws.close();
    }
    repo.write("resources/r.yaml", &with_second_job(ONE_JOB));

    for args in [
        &["-e", "test", "plan"][..],
        &["-e", "test", "plan", "--detailed-exitcode"][..],
        &["-e", "test", "apply", "--auto-approve"][..],
    ] {
        let run = repo.tandem(args);
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
        assert!(all.contains("oncall@example.com"), "{args:?}: {all}");
        assert!(all.contains("2026-03-04T05:06:07Z"), "{args:?}: {all}");
    }
    let ws = Ws::local(&repo, "primary");
    assert!(
        ws.find("jobs", "second").is_none(),
        "the primary was written"
    );
    assert_eq!(
        ws.state_record().expect("record"),
        primary_record_before,
        "the primary's record was rewritten"
    );
    assert!(ws.lock().is_none());
    ws.close();
    let ws = Ws::local(&repo, "secondary");
    assert!(ws.find("jobs", "second").is_none());
    assert_eq!(ws.state_record().expect("record")["role"], "active");
    ws.close();
}

// ---------------------------------------------------------------------------------------------
// 9. a flaky network
// ---------------------------------------------------------------------------------------------

const FLAKY_RESOURCES: &str = r#"resources:
  instance_pools:
    workers:
      instance_pool_name: workers
      node_type_id: Standard_DS3_v2
      min_idle_instances: 1
      max_capacity: 10
      permissions:
        - {group_name: data-eng, level: CAN_ATTACH_TO}
    drivers:
      instance_pool_name: drivers
      node_type_id: Standard_DS3_v2
      max_capacity: 4
  clusters:
    shared:
      cluster_name: shared
      spark_version: 15.4.x-scala2.12
      instance_pool_id: ${resources.instance_pools.workers.id}
      num_workers: 2
      permissions:
        - {group_name: data-eng, level: CAN_RESTART}
    adhoc:
      cluster_name: adhoc
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: 1
  jobs:
JOBS
  secret_scopes:
    etl:
      name: flaky-etl
      secrets:
        one: {env: TANDEM_TEST_SECRET}
        two: {env: TANDEM_TEST_SECRET}
      acls:
        - {principal: data-eng, permission: READ}
        - {principal: platform-ops, permission: MANAGE}
"#;

fn flaky_resources(jobs: usize) -> String {
    let mut out = String::new();
    for i in 0..jobs {
        out.push_str(&format!(
            "    job_{i:02}:\n      name: job {i:02}\n      max_concurrent_runs: 1\n      schedule: {{quartz_cron_expression: \"0 {i} 2 * * ?\", timezone_id: UTC}}\n      tasks:\n        - task_key: main\n          existing_cluster_id: ${{resources.clusters.shared.id}}\n          notebook_task: {{notebook_path: /Repos/etl/job_{i:02}}}\n      permissions:\n        - {{user_name: etl-bot@example.com, level: IS_OWNER}}\n        - {{group_name: data-eng, level: CAN_MANAGE_RUN}}\n"
        ));
    }
    FLAKY_RESOURCES.replace("JOBS\n", &out)
}

fn assert_no_duplicates(ws: &Ws, name: &str, jobs: usize) {
    for (kind, expected) in [("jobs", jobs), ("clusters", 2), ("instance_pools", 2)] {
        let counts = ws.key_counts(kind);
        assert_eq!(counts.len(), expected, "{name} {kind}: {counts:?}");
        assert!(
            counts.values().all(|n| *n == 1),
            "{name}: duplicate {kind}: {counts:?}"
        );
    }
    let scopes = ws.scopes();
    assert!(scopes.contains("flaky-etl"), "{name}: {scopes:?}");
}

#[test]
fn a_flaky_network_converges_without_duplicates() {
    let dir = tempfile::tempdir().expect("dir");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &["--faults", "flaky:7"]);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &["--faults", "flaky:8"]);
    let jobs = 12;
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", &flaky_resources(jobs));
    let envs = [
        ("TANDEM_TEST_TOKEN", "dev"),
        ("TANDEM_TEST_SECRET", "flaky-secret-value"),
    ];
    let first = repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs);
    let p = primary.client();
    let s = secondary.client();
    // Even a first apply that failed part-way must not have created anything twice.
    assert_no_duplicates(&p, "primary", jobs);
    assert_no_duplicates(&s, "secondary", jobs);
    if first.code() != 0 {
        eprintln!(
            "first apply under faults failed (allowed):\n{}",
            first.stdout()
        );
        ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    }
    let injected = p.stats()["faults_injected"].as_u64().unwrap_or_default()
        + s.stats()["faults_injected"].as_u64().unwrap_or_default();
    assert!(injected > 0, "the flaky profile injected no fault");
    assert_converged(&repo, &envs);
    assert_no_duplicates(&p, "primary", jobs);
    assert_no_duplicates(&s, "secondary", jobs);
    assert_eq!(s.job_settings("job_03")["max_concurrent_runs"], json!(0));
    assert_eq!(
        p.acls("flaky-etl").get("platform-ops").map(String::as_str),
        Some("MANAGE")
    );
}

/// Two emulators whose creates at `paths` answer 503 `times` times (after committing when
/// `commit`); `flaky_resources(jobs)` applies at once, injecting `faults` per workspace, with
/// no duplicates and nothing left to change.
fn apply_through_create_faults(
    paths: &[&str],
    commit: bool,
    times: u64,
    jobs: usize,
    secret: &str,
    faults: u64,
) {
    let dir = tempfile::tempdir().expect("dir");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &[]);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &[]);
    let p = primary.client();
    let s = secondary.client();
    for ws in [&p, &s] {
        for path in paths {
            ws.add_fault(
                json!({"method": "POST", "path": path, "status": 503, "commit": commit, "times": times}),
            );
        }
    }
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", &flaky_resources(jobs));
    let envs = [("TANDEM_TEST_TOKEN", "dev"), ("TANDEM_TEST_SECRET", secret)];
    let out = ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    assert_applied(&out, &["primary", "secondary"]);
    for (ws, name) in [(&p, "primary"), (&s, "secondary")] {
        assert_eq!(ws.stats()["faults_injected"], faults, "{name}");
        assert_no_duplicates(ws, name, jobs);
    }
    assert_converged(&repo, &envs);
}

#[test]
fn creates_that_commit_then_fail_are_not_repeated() {
    // 3 jobs, 2 clusters, 2 pools, 1 scope answered 503 after committing; the seal scope's
    // create (made when the first secret is written, after the configured scope) takes the
    // scope rule's last two faults on its retries.
    apply_through_create_faults(
        &[
            "/api/*/jobs/create",
            "/api/*/clusters/create",
            "/api/*/instance-pools/create",
            "/api/*/secrets/scopes/create",
        ],
        true,
        3,
        5,
        "commit-secret-value",
        10,
    );
}

// ---------------------------------------------------------------------------------------------
// 10. secrets and tokens never leak
// ---------------------------------------------------------------------------------------------

#[test]
fn secret_values_and_tokens_never_reach_any_output() {
    const TOKEN: &str = "s3cret-token-value";
    const SECRET: &str = "super-secret-value-123";
    const SECRET_WEST: &str = "west-secret-value-456";
    const SECRET_CHANGED: &str = "super-secret-value-789";
    let dir = tempfile::tempdir().expect("dir");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &["--token", TOKEN]);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &["--token", TOKEN]);
    let secret_file = dir.path().join("key.pem");
    std::fs::write(&secret_file, "file-secret-value-000").expect("secret file");
    let resources = format!(
        r#"resources:
  secret_scopes:
    app:
      name: app
      secrets:
        password: {{env: TANDEM_TEST_SECRET}}
        regional: {{primary: {{env: TANDEM_TEST_SECRET}}, secondary: {{env: TANDEM_TEST_SECRET_WEST}}}}
        key: {{file: {}}}
      acls:
        - {{principal: data-eng, permission: READ}}
  jobs:
    uses_secret:
      name: uses secret
      tasks:
        - task_key: main
          notebook_task: {{notebook_path: /Repos/app/main}}
"#,
        secret_file.display()
    );
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", &resources);
    let plan_file = dir.path().join("plan.json");
    let plan_arg = plan_file.to_str().expect("utf-8");
    let mut envs = vec![
        ("TANDEM_TEST_TOKEN", TOKEN),
        ("TANDEM_TEST_SECRET", SECRET),
        ("TANDEM_TEST_SECRET_WEST", SECRET_WEST),
        ("TANDEM_LOG", "trace"),
    ];
    let forbidden = [
        TOKEN,
        SECRET,
        SECRET_WEST,
        SECRET_CHANGED,
        "file-secret-value-000",
    ];
    let check = |what: &str, text: &str| {
        for f in forbidden {
            assert!(!text.contains(f), "{what} leaks {f}:\n{text}");
        }
    };
    let mut runs: Vec<(String, TandemRun)> = Vec::new();
    for args in [
        &["-e", "test", "validate", "--format", "json"][..],
        &["-e", "test", "plan"][..],
        &["-e", "test", "plan", "--format", "json"][..],
        &["-e", "test", "plan", "--format", "markdown"][..],
        &["-e", "test", "plan", "--out", plan_arg][..],
    ] {
        runs.push((format!("{args:?}"), repo.tandem_env(args, &envs)));
    }
    check(
        "plan file",
        &std::fs::read_to_string(&plan_file).expect("plan file"),
    );
    let run = repo.tandem_env(&["-e", "test", "apply", plan_arg, "--auto-approve"], &envs);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    runs.push(("apply plan file".into(), run));
    // A changed value: planned as changed, written, never shown.
    envs[1] = ("TANDEM_TEST_SECRET", SECRET_CHANGED);
    let run = repo.tandem_env(&["-e", "test", "plan"], &envs);
    assert!(
        run.stdout().contains("password (changed; value hidden)"),
        "{}",
        run.stdout()
    );
    runs.push(("plan after change".into(), run));
    let run = repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    runs.push(("apply".into(), run));
    // A wrong token fails without echoing anything sensitive either.
    let mut wrong = envs.clone();
    wrong[0] = ("TANDEM_TEST_TOKEN", "wrong-token-value");
    let run = repo.tandem_env(&["-e", "test", "plan"], &wrong);
    assert_eq!(run.code(), 1);
    runs.push(("wrong token".into(), run));

    for (what, run) in &runs {
        assert!(
            run.stderr().contains("TRACE")
                || run.stderr().contains("DEBUG")
                || what.contains("validate"),
            "{what}: TANDEM_LOG=trace logged nothing:\n{}",
            run.stderr()
        );
        check(&format!("{what} stdout"), &run.stdout());
        check(&format!("{what} stderr"), &run.stderr());
    }
    let p = Ws::remote(&primary.url, TOKEN);
    assert_eq!(
        p.secrets("app").keys().collect::<Vec<_>>(),
        ["key", "password", "regional"]
    );
}

// ---------------------------------------------------------------------------------------------
// 11. --target
// ---------------------------------------------------------------------------------------------

const TARGETED: &str = r#"resources:
  instance_pools:
    workers:
      instance_pool_name: workers
      node_type_id: Standard_DS3_v2
      max_capacity: 10
    unrelated_pool:
      instance_pool_name: unrelated
      node_type_id: Standard_DS3_v2
      max_capacity: 10
  clusters:
    shared:
      cluster_name: shared
      spark_version: 15.4.x-scala2.12
      instance_pool_id: ${resources.instance_pools.workers.id}
      num_workers: 1
    other:
      cluster_name: other
      spark_version: 15.4.x-scala2.12
      node_type_id: Standard_DS3_v2
      num_workers: 1
  jobs:
    etl:
      name: etl
      tasks:
        - task_key: main
          existing_cluster_id: ${resources.clusters.shared.id}
          notebook_task: {notebook_path: /Repos/etl/main}
    report:
      name: report
      tasks:
        - task_key: main
          existing_cluster_id: ${resources.clusters.other.id}
          notebook_task: {notebook_path: /Repos/bi/report}
  secret_scopes:
    s:
      name: targeted
      secrets:
        a: {env: TANDEM_TEST_UNSET_SECRET}
"#;

#[test]
fn target_limits_the_plan_to_a_job_and_what_it_references() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", TARGETED);
    let out = ok(&repo.tandem(&[
        "-e", "test", "plan", "--target", "jobs.etl", "--format", "json",
    ]));
    let plan: Value = serde_json::from_str(&out).expect("json");
    let expected: BTreeSet<String> = ["jobs.etl", "clusters.shared", "instance_pools.workers"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for name in ["primary", "secondary"] {
        assert_eq!(planned_resources(&plan, name), expected, "{name}");
    }
    let text = ok(&repo.tandem(&["-e", "test", "plan", "--target", "jobs.etl"]));
    for absent in [
        "jobs.report",
        "clusters.other",
        "unrelated_pool",
        "secret_scopes",
    ] {
        assert!(
            !text.contains(absent),
            "{absent} in a targeted plan:\n{text}"
        );
    }

    ok(&repo.tandem(&[
        "-e",
        "test",
        "apply",
        "--target",
        "jobs.etl",
        "--auto-approve",
    ]));
    let ws = Ws::local(&repo, "primary");
    assert!(ws.find("jobs", "etl").is_some());
    assert!(ws.find("clusters", "shared").is_some());
    assert!(ws.find("instance_pools", "workers").is_some());
    assert!(ws.find("jobs", "report").is_none());
    assert!(ws.find("clusters", "other").is_none());
    assert!(ws.find("instance_pools", "unrelated_pool").is_none());
    assert!(!ws.scopes().contains("targeted"));
    ws.close();

    // The rest is still to do; a target on a resource with nothing to do is empty.
    let run = repo.tandem(&[
        "-e",
        "test",
        "plan",
        "--detailed-exitcode",
        "--format",
        "json",
    ]);
    assert_eq!(run.code(), 2);
    let plan: Value = serde_json::from_str(&run.stdout()).expect("json");
    let rest: BTreeSet<String> = [
        "jobs.report",
        "clusters.other",
        "instance_pools.unrelated_pool",
        "secret_scopes.s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(planned_resources(&plan, "primary"), rest);
    let run = repo.tandem(&[
        "-e",
        "test",
        "plan",
        "--detailed-exitcode",
        "--target",
        "jobs.etl",
    ]);
    assert_eq!(run.code(), 0, "{}", run.stdout());

    let err = repo
        .tandem(&["-e", "test", "plan", "--target", "job"])
        .failure();
    assert!(
        err.contains("--target `job` names no declared resource"),
        "{err}"
    );
    let err = repo
        .tandem(&["-e", "test", "plan", "--target", "jobs.nope"])
        .failure();
    assert!(
        err.contains("--target `jobs.nope` names no declared resource"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Secrets and ACLs in detail; adopted scopes
// ---------------------------------------------------------------------------------------------

const SCOPES_V1: &str = r#"resources:
  secret_scopes:
    adopted:
      name: adopted
      secrets:
        a: {env: TANDEM_TEST_A}
      acls:
        - {principal: data-eng, permission: READ}
    owned:
      name: owned
      secrets:
        alpha: {env: TANDEM_TEST_X}
        beta: {env: TANDEM_TEST_Y}
      acls:
        - {principal: data-eng, permission: READ}
        - {principal: platform-ops, permission: MANAGE}
"#;

const SCOPES_V2: &str = r#"resources:
  secret_scopes:
    adopted:
      name: adopted
      secrets:
        a: {env: TANDEM_TEST_A}
      acls:
        - {principal: data-eng, permission: READ}
    owned:
      name: owned
      secrets:
        alpha: {env: TANDEM_TEST_X}
      acls:
        - {principal: data-eng, permission: WRITE}
"#;

/// Asserts a scope's secret keys and its whole ACL (principal, permission) in `ws`.
fn assert_scope(ws: &Ws, scope: &str, keys: &[&str], acls: &[(&str, &str)], name: &str) {
    assert_eq!(ws.secrets(scope).keys().collect::<Vec<_>>(), keys, "{name}");
    let expected: BTreeMap<String, String> = acls
        .iter()
        .map(|(p, l)| (p.to_string(), l.to_string()))
        .collect();
    assert_eq!(ws.acls(scope), expected, "{name}");
}

#[test]
fn secrets_and_acls_follow_the_config_and_only_scopes_tandem_created_are_deleted() {
    let repo = TestRepo::with_env(PAIR_ENV);
    // A scope made by hand before tandem manages it.
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        ws.post(
            "/api/2.0/secrets/scopes/create",
            json!({"scope": "adopted"}),
        );
        ws.post(
            "/api/2.0/secrets/put",
            json!({"scope": "adopted", "key": "manual", "string_value": "by hand"}),
        );
        ws.post(
            "/api/2.0/secrets/acls/put",
            json!({"scope": "adopted", "principal": "analysts", "permission": "READ"}),
        );
        ws.close();
    }
    repo.write("resources/r.yaml", SCOPES_V1);
    let envs = [
        ("TANDEM_TEST_A", "value-a"),
        ("TANDEM_TEST_X", "value-x"),
        ("TANDEM_TEST_Y", "value-y"),
    ];
    let plan = ok(&repo.tandem_env(&["-e", "test", "plan"], &envs));
    assert!(plan.contains("delete secret"), "{plan}");
    assert!(plan.contains("manual"), "{plan}");
    assert!(plan.contains("analysts: READ → (none)"), "{plan}");
    let json_plan: Value = serde_json::from_str(&ok(
        &repo.tandem_env(&["-e", "test", "plan", "--format", "json"], &envs)
    ))
    .expect("json");
    for w in json_plan["workspaces"].as_array().expect("workspaces") {
        let created: Vec<&Value> = w["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .filter(|a| a["action"]["type"] == "create_scope")
            .map(|a| &a["action"]["name"])
            .collect();
        assert_eq!(created, [&json!("owned")], "only `owned` is created: {w}");
    }
    assert!(
        !plan.contains("admin@example.com"),
        "tandem's own MANAGE grant is never removed:\n{plan}"
    );
    // Deleting a secret needs approval.
    let err = repo.tandem_env(&["-e", "test", "apply"], &envs).failure();
    assert!(err.contains("no terminal to confirm it"), "{err}");
    let out = ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    assert_applied(&out, &["primary", "secondary"]);
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert_scope(
            &ws,
            "adopted",
            &["a"],
            &[("admin@example.com", "MANAGE"), ("data-eng", "READ")],
            name,
        );
        assert_eq!(
            ws.secrets("owned").keys().collect::<Vec<_>>(),
            ["alpha", "beta"]
        );
        assert_eq!(
            ws.acls("owned").get("platform-ops").map(String::as_str),
            Some("MANAGE")
        );
        assert!(ws.secret_value_is("owned", "beta", "value-y"));
        let record = ws.state_record().expect("record");
        assert_eq!(
            record["managed_scopes"],
            json!(["owned"]),
            "{name}: {record}"
        );
        ws.close();
    }
    assert_converged(&repo, &envs);

    repo.write("resources/r.yaml", SCOPES_V2);
    let plan = ok(&repo.tandem_env(&["-e", "test", "plan"], &envs));
    assert!(plan.contains("platform-ops: MANAGE → (none)"), "{plan}");
    assert!(plan.contains("data-eng: READ → WRITE"), "{plan}");
    ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        assert_scope(
            &ws,
            "owned",
            &["alpha"],
            &[("admin@example.com", "MANAGE"), ("data-eng", "WRITE")],
            name,
        );
        ws.close();
    }
    assert_converged(&repo, &envs);

    // Both scopes leave the config: only the one tandem created is deleted.
    repo.write("resources/r.yaml", "resources: {}\n");
    ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        let scopes = ws.scopes();
        assert!(!scopes.contains("owned"), "{name}: {scopes:?}");
        assert!(
            scopes.contains("adopted"),
            "{name}: an adopted scope was deleted"
        );
        ws.close();
    }
    assert_converged(&repo, &envs);
}

// ---------------------------------------------------------------------------------------------
// Duplicates and partial failure
// ---------------------------------------------------------------------------------------------

#[test]
fn a_duplicate_of_a_managed_job_is_deleted_and_the_original_kept() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", ONE_JOB);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    let original = {
        let ws = Ws::local(&repo, "primary");
        let job = ws.one("jobs", "etl");
        let settings = ws.job_settings("etl");
        ws.post("/api/2.2/jobs/create", settings);
        assert_eq!(ws.all_by_key("jobs", "etl").len(), 2);
        ws.close();
        job["job_id"].clone()
    };
    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 2, "{}", run.stdout());
    assert!(
        run.stdout().contains("a duplicate of the managed object"),
        "{}",
        run.stdout()
    );
    assert_eq!(summary_of(&run.stdout(), "primary"), "1 delete");
    assert_eq!(summary_of(&run.stdout(), "secondary"), "no changes");
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    let ws = Ws::local(&repo, "primary");
    let left = ws.all_by_key("jobs", "etl");
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0]["job_id"], original,
        "the oldest job is the one kept"
    );
    ws.close();
    assert_converged(&repo, &[]);
}

const PARTIAL: &str = r#"resources:
  instance_pools:
    pool:
      instance_pool_name: pool
      node_type_id: Standard_DS3_v2
      max_capacity: 4
  jobs:
    good:
      name: good
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/good}
      permissions:
        - {group_name: data-eng, level: CAN_VIEW}
    bad:
      name: bad
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/bad}
      permissions:
        - {group_name: no-such-group, level: CAN_VIEW}
"#;

#[test]
fn a_failed_action_is_reported_while_independent_work_goes_on_and_a_rerun_converges() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", PARTIAL);
    let run = repo.tandem(&["-e", "test", "apply", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    let out = run.stdout();
    // Only the active side applies the group's grant; the passive side holds it back.
    assert_eq!(apply_counts(&out, "primary").1, 1, "{out}");
    assert_eq!(apply_counts(&out, "secondary").1, 0, "{out}");
    let failure = out
        .lines()
        .find(|l| l.contains("set permissions jobs.bad") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no failure line:\n{out}"));
    assert!(failure.starts_with("primary"), "{failure}");
    assert!(
        failure.contains("no-such-group"),
        "the API error is shown: {failure}"
    );
    let ws = Ws::local(&repo, "primary");
    assert!(ws.find("jobs", "good").is_some());
    assert!(
        ws.find("jobs", "bad").is_some(),
        "the create itself succeeded"
    );
    assert!(ws.find("instance_pools", "pool").is_some());
    assert!(
        ws.job_grants("good")
            .contains(&("data-eng".to_string(), "CAN_VIEW".to_string()))
    );
    assert!(
        ws.lock().is_none(),
        "the lock is released after a failed apply"
    );
    let record = ws
        .state_record()
        .expect("record written even after a failure");
    assert!(
        record["last_applied"].is_null(),
        "a failed apply is not recorded as applied: {record}"
    );
    ws.close();

    repo.write(
        "resources/r.yaml",
        &PARTIAL.replace("no-such-group", "analysts"),
    );
    let out = ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    assert_eq!(apply_counts(&out, "primary"), (1, 0), "{out}");
    assert_converged(&repo, &[]);
    let ws = Ws::local(&repo, "primary");
    assert!(ws.state_record().expect("record")["last_applied"].is_object());
    ws.close();
}

// ---------------------------------------------------------------------------------------------
// Bugs found while writing these tests
// ---------------------------------------------------------------------------------------------

const POOL_AND_DEPENDENTS: &str = r#"resources:
  instance_pools:
    workers:
      instance_pool_name: workers
      node_type_id: Standard_DS3_v2
      max_capacity: 10
      enable_elastic_disk: false
  clusters:
    shared:
      cluster_name: shared
      spark_version: 15.4.x-scala2.12
      instance_pool_id: ${resources.instance_pools.workers.id}
      num_workers: 1
  jobs:
    etl:
      name: etl
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/main}
          new_cluster:
            spark_version: 15.4.x-scala2.12
            instance_pool_id: ${resources.instance_pools.workers.id}
            num_workers: 1
"#;

#[test]

fn a_replaced_pool_is_followed_by_its_clusters_and_jobs_in_the_same_apply() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", POOL_AND_DEPENDENTS);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    // `enable_elastic_disk` cannot be edited: the pool is replaced (deleted and created).
    repo.write(
        "resources/r.yaml",
        &POOL_AND_DEPENDENTS.replace("enable_elastic_disk: false", "enable_elastic_disk: true"),
    );
    let plan = ok(&repo.tandem(&["-e", "test", "plan"]));
    assert!(plan.contains("replace"), "{plan}");
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        let pool = ws.one("instance_pools", "workers")["instance_pool_id"].clone();
        assert_eq!(
            ws.one("clusters", "shared")["instance_pool_id"],
            pool,
            "{name}: the cluster still uses the deleted pool"
        );
        assert_eq!(
            ws.job_settings("etl")["tasks"][0]["new_cluster"]["instance_pool_id"],
            pool,
            "{name}: the job still uses the deleted pool"
        );
        ws.close();
    }
    assert_converged(&repo, &[]);
}

const HELD_BACK: &str = r#"resources:
  jobs:
    heartbeat:
      name: heartbeat
      schedule: {quartz_cron_expression: "0 */5 * * * ?", timezone_id: UTC}
      passive: {permissions: all}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/ops/heartbeat}
      permissions:
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
"#;

#[test]

fn removing_a_passive_permissions_block_holds_the_grants_back_again() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", HELD_BACK);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    let data_eng = ("data-eng".to_string(), "CAN_MANAGE_RUN".to_string());
    {
        let ws = Ws::local(&repo, "secondary");
        assert!(
            ws.job_grants("heartbeat").contains(&data_eng),
            "`permissions: all` applied the grant on the passive side"
        );
        ws.close();
    }
    // Without its passive: block, the job's grants are held back on the passive side again.
    repo.write(
        "resources/r.yaml",
        &HELD_BACK.replace("      passive: {permissions: all}\n", ""),
    );
    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    assert_eq!(
        run.code(),
        2,
        "the plan should take the grant back on the passive side:\n{}",
        run.stdout()
    );
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    let ws = Ws::local(&repo, "secondary");
    let held = ws.job_grants("heartbeat");
    assert!(
        !held.contains(&data_eng),
        "passive side still grants {held:?}"
    );
    assert_eq!(
        held.iter().filter(|(_, l)| l == "IS_OWNER").count(),
        1,
        "the owner stays: {held:?}"
    );
    ws.close();
    let ws = Ws::local(&repo, "primary");
    assert!(ws.job_grants("heartbeat").contains(&data_eng));
    ws.close();
}

#[test]

fn a_saved_plan_does_not_bypass_the_guard() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", ONE_JOB);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    repo.write("resources/r.yaml", &with_second_job(ONE_JOB));
    let plan_file = repo.path().join("plan.json");
    let plan_arg = plan_file.to_str().expect("utf-8");
    ok(&repo.tandem(&["-e", "test", "plan", "--out", plan_arg]));
    // The secondary is promoted after the plan was saved.
    {
        let ws = Ws::local(&repo, "secondary");
        let mut record = ws.state_record().expect("record");
        record["role"] = json!("active");
        record["promoted_by"] = json!("oncall@example.com");
        record["promoted_at"] = json!("2026-03-04T05:06:07Z");
        ws.write_record(&record);
        ws.close();
    }
    let run = repo.tandem(&["-e", "test", "apply", plan_arg, "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.all_output()
            .contains("workspace secondary is active according to its state record"),
        "{}",
        run.all_output()
    );
    let ws = Ws::local(&repo, "primary");
    assert!(
        ws.find("jobs", "second").is_none(),
        "the primary was written while the guard refused the secondary"
    );
    ws.close();
}

#[test]

fn a_saved_plan_reports_a_workspace_it_could_not_apply() {
    let dir = tempfile::tempdir().expect("dir");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &[]);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &[]);
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", ONE_JOB);
    let envs = [("TANDEM_TEST_TOKEN", "dev")];
    let plan_file = repo.path().join("plan.json");
    let plan_arg = plan_file.to_str().expect("utf-8");
    ok(&repo.tandem_env(&["-e", "test", "plan", "--out", plan_arg], &envs));
    // The secondary fails every request from now on.
    let s = secondary.client();
    s.add_fault(json!({"path": "/api/*", "status": 500}));
    let run = repo.tandem_env(&["-e", "test", "apply", plan_arg, "--auto-approve"], &envs);
    let out = run.all_output();
    assert_eq!(
        run.code(),
        1,
        "the secondary was not applied, yet apply succeeded:\n{out}"
    );
    assert!(out.contains("secondary"), "{out}");
    // Without a plan file the same situation is an error, as the README says.
    let run = repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs);
    assert_eq!(run.code(), 1, "{}", run.all_output());
}

#[test]
fn secret_keys_that_look_like_yaml_1_1_booleans_keep_their_names() {
    let repo = TestRepo::with_env(PAIR_ENV).file(
        "resources/r.yaml",
        "resources:\n  secret_scopes:\n    s:\n      name: flags\n      secrets:\n        y: {env: TANDEM_TEST_Y}\n        yes: {env: TANDEM_TEST_YES}\n        x: {env: TANDEM_TEST_X}\n",
    );
    let run = repo.tandem(&["-e", "test", "apply", "--auto-approve"]);
    if run.code() == 0 {
        let ws = Ws::local(&repo, "primary");
        assert_eq!(
            ws.secrets("flags").keys().collect::<Vec<_>>(),
            ["x", "y", "yes"],
            "the secrets the config names"
        );
        ws.close();
    } else {
        // Refusing the ambiguous keys would do too, if it says which ones.
        let err = run.stderr();
        assert!(err.contains("`y`") && err.contains("`yes`"), "{err}");
    }
}

#[test]

fn a_job_that_runs_another_job_is_created_after_it_in_one_apply() {
    let repo = TestRepo::with_env(PAIR_ENV).file(
        "resources/r.yaml",
        r#"resources:
  jobs:
    child:
      name: child
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/child}
    parent:
      name: parent
      tasks:
        - task_key: run_child
          run_job_task: {job_id: "${resources.jobs.child.id}"}
"#,
    );
    let run = repo.tandem(&["-e", "test", "apply", "--auto-approve"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        let child = ws.one("jobs", "child")["job_id"].clone();
        assert_eq!(
            ws.job_settings("parent")["tasks"][0]["run_job_task"]["job_id"],
            child,
            "{name}"
        );
        ws.close();
    }
    assert_converged(&repo, &[]);
}

#[test]
fn many_jobs_and_a_job_with_many_tasks_converge() {
    // More than one page of jobs (100), and a job whose tasks are paged by jobs/get.
    let mut yaml = String::from("resources:\n  jobs:\n    big:\n      name: big\n      tasks:\n");
    for i in 0..130 {
        yaml.push_str(&format!(
            "        - task_key: t{i:03}\n          notebook_task: {{notebook_path: /Repos/big/t{i:03}}}\n"
        ));
        if i > 0 {
            yaml.push_str(&format!(
                "          depends_on: [{{task_key: t{:03}}}]\n",
                i - 1
            ));
        }
    }
    for j in 0..120 {
        yaml.push_str(&format!(
            "    small_{j:03}:\n      name: small {j:03}\n      tasks: [{{task_key: a, notebook_task: {{notebook_path: /Repos/small/{j:03}}}}}]\n"
        ));
    }
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", &yaml);
    let out = ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    assert_eq!(apply_counts(&out, "primary"), (121, 0), "{out}");
    assert_converged(&repo, &[]);
    let ws = Ws::local(&repo, "secondary");
    assert_eq!(ws.jobs().len(), 121);
    let big = ws.job_settings("big");
    assert_eq!(big["max_concurrent_runs"], 0);
    ws.close();
    // A change to the 130th task is found and applied.
    repo.write(
        "resources/r.yaml",
        &yaml.replace("/Repos/big/t129", "/Repos/big/t129_v2"),
    );
    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stdout()
            .contains("tasks[t129].notebook_task.notebook_path"),
        "{}",
        run.stdout()
    );
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    assert_converged(&repo, &[]);
}

#[test]
fn creates_answered_503_without_committing_are_looked_up_then_tried_again() {
    apply_through_create_faults(
        &[
            "/api/*/jobs/create",
            "/api/*/clusters/create",
            "/api/*/instance-pools/create",
        ],
        false,
        2,
        4,
        "retry-secret-value",
        6,
    );
}

#[test]

fn a_scope_create_answered_503_without_committing_is_tried_again() {
    let dir = tempfile::tempdir().expect("dir");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &[]);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &[]);
    let p = primary.client();
    p.add_fault(
        json!({"method": "POST", "path": "/api/2.0/secrets/scopes/create", "status": 503, "times": 1}),
    );
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url)).file(
        "resources/r.yaml",
        "resources:\n  secret_scopes:\n    s:\n      name: retried\n      secrets:\n        k: {env: TANDEM_TEST_SECRET}\n      acls:\n        - {principal: data-eng, permission: READ}\n",
    );
    let envs = [
        ("TANDEM_TEST_TOKEN", "dev"),
        ("TANDEM_TEST_SECRET", "retry-secret-value"),
    ];
    let run = repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs);
    assert_eq!(
        run.code(),
        0,
        "one transient 503 failed the apply:\n{}",
        run.stdout()
    );
    assert_eq!(p.stats()["faults_injected"], 1);
    assert!(p.scopes().contains("retried"));
    assert_eq!(p.secrets("retried").len(), 1);
}

#[test]

fn two_concurrent_applies_never_create_duplicates() {
    let dir = tempfile::tempdir().expect("dir");
    // Latency makes a slow run's reading take long enough for a quick run to finish meanwhile.
    let primary = Emulator::spawn(&dir.path().join("p.json"), &["--latency-ms", "30"]);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &["--latency-ms", "30"]);
    let mut yaml = String::from("resources:\n  jobs:\n");
    for i in 0..80 {
        yaml.push_str(&format!(
            "    old_{i:02}:\n      name: old {i:02}\n      tasks: [{{task_key: a, notebook_task: {{notebook_path: /Repos/old/{i:02}}}}}]\n"
        ));
    }
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", &yaml);
    let envs = [("TANDEM_TEST_TOKEN", "dev")];
    ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    yaml.push_str("    nightly:\n      name: nightly\n      schedule: {quartz_cron_expression: \"0 0 2 * * ?\", timezone_id: UTC}\n      tasks: [{task_key: a, notebook_task: {notebook_path: /Repos/etl/nightly}}]\n");
    repo.write("resources/r.yaml", &yaml);

    // A slow run (one request at a time) starts first; a quick one starts while it reads.
    let slow = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("-C")
        .arg(repo.path())
        .args([
            "-e",
            "test",
            "apply",
            "--parallelism",
            "1",
            "--auto-approve",
        ])
        .env("TANDEM_TEST_TOKEN", "dev")
        .env("NO_COLOR", "1")
        .env_remove("TANDEM_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(300));
    let quick = repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs);
    let slow = slow.wait_with_output().expect("slow run");
    let slow_err = String::from_utf8_lossy(&slow.stderr).into_owned();
    for (what, code, err) in [
        ("quick", quick.code(), quick.stderr()),
        ("slow", slow.status.code().unwrap_or(-1), slow_err),
    ] {
        assert!(
            code == 0 || err.contains("is locked by"),
            "{what} run: exit {code}: {err}"
        );
    }
    for (url, name) in [(&primary.url, "primary"), (&secondary.url, "secondary")] {
        let ws = Ws::remote(url, "dev");
        assert_eq!(
            ws.all_by_key("jobs", "nightly").len(),
            1,
            "{name}: two concurrent applies created the job twice"
        );
    }
}

#[test]

fn changing_the_case_of_a_scope_name_keeps_the_scope_and_its_secrets() {
    let scope = |name: &str| {
        format!(
            "resources:\n  secret_scopes:\n    etl:\n      name: {name}\n      secrets:\n        pw: {{env: TANDEM_TEST_PW}}\n      acls:\n        - {{principal: data-eng, permission: READ}}\n"
        )
    };
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", &scope("Etl"));
    let envs = [("TANDEM_TEST_PW", "case-secret-value")];
    ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    repo.write("resources/r.yaml", &scope("etl"));
    ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    for name in ["primary", "secondary"] {
        let ws = Ws::local(&repo, name);
        let scopes: BTreeSet<String> = ws.scopes().iter().map(|s| s.to_lowercase()).collect();
        assert!(
            scopes.contains("etl"),
            "{name}: the scope was deleted: {scopes:?}"
        );
        ws.close();
    }
    assert_converged(&repo, &envs);
}

// ---------------------------------------------------------------------------------------------
// Grants are read only where the configuration lists permissions
// ---------------------------------------------------------------------------------------------

const GRANTS_WHERE_LISTED: &str = r#"resources:
  jobs:
    plain:
      name: plain
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/plain}
    granted:
      name: granted
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/granted}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
  instance_pools:
    plain_pool:
      instance_pool_name: plain-pool
      node_type_id: Standard_DS3_v2
"#;

/// Permissions reads since the last reset.
fn permission_reads(ws: &Ws) -> u64 {
    ws.route_counts()
        .get("GET /api/2.0/permissions/{object_type}/{object_id}")
        .copied()
        .unwrap_or_default()
}

#[test]
fn grants_are_read_only_for_objects_whose_configuration_lists_permissions() {
    let dir = tempfile::tempdir().expect("dir");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &[]);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &[]);
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", GRANTS_WHERE_LISTED);
    let envs = [("TANDEM_TEST_TOKEN", "dev")];
    ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    let (p, s) = (primary.client(), secondary.client());

    // A grant made by hand on the job whose configuration lists none is left alone (and not
    // read); one on the job whose configuration lists its grants is found, on the active
    // workspace and on the passive one, which holds back all but the owner.
    p.grant_on_job("plain", "alice@example.com", "CAN_VIEW");
    s.grant_on_job("plain", "alice@example.com", "CAN_VIEW");
    p.grant_on_job("granted", "alice@example.com", "CAN_VIEW");
    s.grant_on_job("granted", "alice@example.com", "CAN_VIEW");
    p.reset_stats();
    s.reset_stats();
    // `plan` reads the workspaces while the configuration loads (remote hosts only): the
    // permissions reads wait for it, then only the one the configuration needs goes out.
    let run = repo.tandem_env(&["-e", "test", "plan", "--format", "json"], &envs);
    assert_eq!(run.code(), 0, "{}", run.failure());
    let plan: Value = serde_json::from_str(&run.stdout()).expect("plan json");
    for (ws, name) in [(&p, "primary"), (&s, "secondary")] {
        assert_eq!(permission_reads(ws), 1, "{name}: {:?}", ws.route_counts());
        assert_eq!(
            planned_resources(&plan, name),
            BTreeSet::from(["jobs.granted".to_string()]),
            "{name}"
        );
    }

    // apply plans under its locks with the configuration known from the start: the same reads.
    p.reset_stats();
    s.reset_stats();
    ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &envs));
    for (ws, name) in [(&p, "primary"), (&s, "secondary")] {
        assert_eq!(permission_reads(ws), 1, "{name}");
        let alice = |grants: Grants| grants.iter().any(|(p, _)| p == "alice@example.com");
        assert!(alice(ws.job_grants("plain")), "{name}");
        assert!(!alice(ws.job_grants("granted")), "{name}");
    }
    p.reset_stats();
    s.reset_stats();
    let run = repo.tandem_env(&["-e", "test", "plan", "--detailed-exitcode"], &envs);
    assert_eq!(run.code(), 0, "{}", run.failure());
    assert_eq!(permission_reads(&p) + permission_reads(&s), 2);
}
