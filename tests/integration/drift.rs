//! `tandem drift` and `tandem readiness` end to end: a pair applied on embedded `local:`
//! workspaces (or `tandem emulator` subprocesses where a test needs other principals or an
//! unreachable workspace), changed behind tandem's back through the workspaces' own API, then
//! inspected with the real `tandem` binary.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::harness::{
    Emulator, PAIR_ENV, TandemRun, TestRepo, Ws, assert_converged, ok, with_local,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The value tandem writes to the one secret.
const SECRET_VALUE: &str = "drift-secret-value-4711";
/// The value written behind tandem's back.
const ROGUE_VALUE: &str = "rogue-secret-value-0815";

/// Every run gets the secret's source and a debug log (secrets must not reach the log either).
const ENVS: [(&str, &str); 4] = [
    ("TANDEM_TEST_DB_PASSWORD", SECRET_VALUE),
    ("TANDEM_TEST_TOKEN", "dev"),
    ("TANDEM_OPERATOR", "drift-tester"),
    ("TANDEM_LOG", "debug"),
];

fn tandem(repo: &TestRepo, args: &[&str]) -> TandemRun {
    let mut all = vec!["-e", "test"];
    all.extend_from_slice(args);
    repo.tandem_env(&all, &ENVS)
}

/// Asserts neither secret value reaches stdout or stderr.
fn assert_no_secret(what: &str, run: &TandemRun) {
    for value in [SECRET_VALUE, ROGUE_VALUE] {
        assert!(
            !run.all_output().contains(value),
            "{what} leaks a secret value:\n{}",
            run.all_output()
        );
    }
}

/// A pool, a cluster on it, two jobs (one on the cluster) with grants, a scope with a secret and
/// an ACL: every kind drift looks at.
const RESOURCES: &str = r#"resources:
  instance_pools:
    workers:
      instance_pool_name: drift-workers
      node_type_id: Standard_DS3_v2
      min_idle_instances: 1
      max_capacity: 10
  clusters:
    shared:
      cluster_name: drift-shared
      spark_version: 15.4.x-scala2.12
      instance_pool_id: ${resources.instance_pools.workers.id}
      num_workers: 1
      autotermination_minutes: 30
      permissions:
        - {group_name: data-eng, level: CAN_RESTART}
  jobs:
    etl:
      name: Drift ETL
      max_concurrent_runs: 2
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC}
      tasks:
        - task_key: ingest
          existing_cluster_id: ${resources.clusters.shared.id}
          notebook_task: {notebook_path: /Repos/etl/ingest}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
    report:
      name: Drift Report
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/report}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: analysts, level: CAN_VIEW}
  secret_scopes:
    etl:
      name: drift-etl
      secrets:
        db_password: {env: TANDEM_TEST_DB_PASSWORD}
      acls:
        - {principal: data-eng, permission: READ}
"#;

/// `(workspace, resource or "-", kind)` of every drift in a JSON drift report.
fn drift_set(report: &Value) -> BTreeSet<(String, String, String)> {
    report["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .map(|d| {
            let resource = if d["resource"].is_null() {
                "-".to_string()
            } else {
                format!(
                    "{}.{}",
                    d["resource"]["kind"].as_str().expect("kind"),
                    d["resource"]["key"].as_str().expect("key")
                )
            };
            (
                d["workspace"].as_str().expect("workspace").to_string(),
                resource,
                d["kind"].as_str().expect("kind").to_string(),
            )
        })
        .collect()
}

fn triples(entries: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    entries
        .iter()
        .map(|(w, r, k)| (w.to_string(), r.to_string(), k.to_string()))
        .collect()
}

/// `tandem drift --format json`, parsed (exit code 0 without --detailed-exitcode).
fn drift_json(repo: &TestRepo) -> Value {
    let run = tandem(repo, &["drift", "--format", "json"]);
    assert_no_secret("drift --format json", &run);
    serde_json::from_str(&ok(&run)).expect("drift JSON")
}

/// The one drift of `workspace`/`resource`/`kind` in a JSON report.
fn find_drift<'a>(report: &'a Value, workspace: &str, resource: &str, kind: &str) -> &'a Value {
    report["drift"]
        .as_array()
        .expect("drift")
        .iter()
        .find(|d| {
            d["workspace"] == workspace
                && d["kind"] == kind
                && format!(
                    "{}.{}",
                    d["resource"]["kind"].as_str().unwrap_or("-"),
                    d["resource"]["key"].as_str().unwrap_or("-")
                ) == resource
        })
        .unwrap_or_else(|| panic!("no {kind} drift of {workspace} {resource}:\n{report:#}"))
}

fn job_id(ws: &Ws, key: &str) -> Value {
    ws.one("jobs", key)["job_id"].clone()
}

// ---------------------------------------------------------------------------------------------
// drift
// ---------------------------------------------------------------------------------------------

#[test]
fn drift_reports_every_change_made_outside_tandem_and_apply_or_adopt_clears_it() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", RESOURCES);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));

    // Clean after apply.
    let run = tandem(&repo, &["drift", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stdout()
            .contains("no drift: every workspace matches the configuration"),
        "{}",
        run.stdout()
    );
    assert_eq!(drift_json(&repo)["drift"], json!([]));

    // Behind tandem's back, on the passive side: the ETL job unpaused and given concurrency, the
    // cluster started, the pool warmed; the report job deleted and a hand-made one of that name
    // created instead.
    with_local(&repo, "secondary", |ws| {
        let etl = job_id(ws, "etl");
        ws.post(
            "/api/2.2/jobs/update",
            json!({"job_id": etl, "new_settings": {"max_concurrent_runs": 3, "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"}}}),
        );
        let cluster = ws.one("clusters", "shared")["cluster_id"].clone();
        ws.post("/api/2.1/clusters/start", json!({"cluster_id": cluster}));
        let pool = ws.one("instance_pools", "workers");
        ws.post(
            "/api/2.0/instance-pools/edit",
            json!({"instance_pool_id": pool["instance_pool_id"], "instance_pool_name": "drift-workers",
                   "node_type_id": "Standard_DS3_v2", "min_idle_instances": 2, "max_capacity": 10,
                   "custom_tags": pool["custom_tags"]}),
        );
        let report = job_id(ws, "report");
        ws.post("/api/2.2/jobs/delete", json!({"job_id": report}));
        ws.post(
            "/api/2.2/jobs/create",
            json!({"name": "Drift Report", "max_concurrent_runs": 0,
                   "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Repos/etl/report"}}]}),
        );
    });
    // On the active side: a field edited in the UI, a grant and an ACL changed, the secret
    // rewritten, the report job deleted, and a hand-made job named like the ETL job.
    let lookalike = with_local(&repo, "primary", |ws| {
        let etl = job_id(ws, "etl");
        ws.post(
            "/api/2.2/jobs/update",
            json!({"job_id": etl, "new_settings": {"timeout_seconds": 999}}),
        );
        let (status, answer) = ws.call(
            "PATCH",
            &format!("/api/2.0/permissions/jobs/{etl}"),
            Some(
                json!({"access_control_list": [{"group_name": "analysts", "permission_level": "CAN_VIEW"}]}),
            ),
        );
        assert_eq!(status, 200, "{answer}");
        ws.post(
            "/api/2.0/secrets/acls/put",
            json!({"scope": "drift-etl", "principal": "data-eng", "permission": "WRITE"}),
        );
        let before = ws.secrets("drift-etl")["db_password"];
        // The service's timestamps have millisecond resolution: make "newer" unmistakable.
        std::thread::sleep(std::time::Duration::from_millis(20));
        ws.post(
            "/api/2.0/secrets/put",
            json!({"scope": "drift-etl", "key": "db_password", "string_value": ROGUE_VALUE}),
        );
        assert!(ws.secrets("drift-etl")["db_password"] > before);
        let report = job_id(ws, "report");
        ws.post("/api/2.2/jobs/delete", json!({"job_id": report}));
        ws.post(
            "/api/2.2/jobs/create",
            json!({"name": "Drift ETL", "tasks": [{"task_key": "x", "notebook_task": {"notebook_path": "/x"}}]}),
        )["job_id"]
            .clone()
    });

    // --detailed-exitcode: exit 2; text names workspace, resource and a remedy for each.
    let run = tandem(&repo, &["drift", "--detailed-exitcode"]);
    assert_no_secret("drift", &run);
    assert_eq!(run.code(), 2, "{}\n{}", run.stdout(), run.stderr());
    let text = run.stdout();
    // Without it, drift is not an error.
    let plain = tandem(&repo, &["drift"]);
    assert_eq!(plain.code(), 0, "{}", plain.all_output());
    assert_eq!(plain.stdout(), text);

    let report = drift_json(&repo);
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["environment"], "test");
    assert_eq!(report["failures"], json!([]));
    let expected = triples(&[
        ("secondary", "jobs.etl", "passive_breach"),
        ("secondary", "clusters.shared", "passive_breach"),
        ("secondary", "instance_pools.workers", "passive_breach"),
        ("secondary", "jobs.report", "missing"),
        ("secondary", "jobs.report", "lookalike"),
        ("primary", "jobs.etl", "changed"),
        ("primary", "jobs.etl", "access"),
        ("primary", "jobs.etl", "lookalike"),
        ("primary", "jobs.report", "missing"),
        ("primary", "secret_scopes.etl", "access"),
        ("primary", "secret_scopes.etl", "secret"),
    ]);
    assert_eq!(drift_set(&report), expected, "{report:#}");
    let drifts = report["drift"].as_array().expect("drift");
    assert_eq!(drifts.len(), expected.len(), "one entry each:\n{report:#}");
    for d in drifts {
        let remedy = d["remedy"].as_str().expect("remedy");
        assert!(
            !remedy.is_empty() && !remedy.contains('\n'),
            "a one-line remedy: {d}"
        );
        assert!(!d["detail"].as_str().expect("detail").is_empty(), "{d}");
    }
    // The most urgent first: every passive breach before anything else.
    let kinds: Vec<&str> = drifts
        .iter()
        .map(|d| d["kind"].as_str().expect("kind"))
        .collect();
    assert!(
        kinds.iter().take(3).all(|k| *k == "passive_breach"),
        "{kinds:?}"
    );

    let etl_breach = find_drift(&report, "secondary", "jobs.etl", "passive_breach");
    let detail = etl_breach["detail"].as_str().expect("detail");
    assert!(
        detail.contains("max_concurrent_runs: 3 (config: 0)"),
        "{detail}"
    );
    assert!(detail.contains("pause_status: \"UNPAUSED\""), "{detail}");
    let cluster = find_drift(&report, "secondary", "clusters.shared", "passive_breach");
    assert!(
        cluster["remedy"]
            .as_str()
            .expect("remedy")
            .contains("terminates"),
        "{cluster}"
    );
    let pool = find_drift(
        &report,
        "secondary",
        "instance_pools.workers",
        "passive_breach",
    );
    assert!(
        pool["detail"]
            .as_str()
            .expect("detail")
            .contains("min_idle_instances: 2 (config: 0)"),
        "{pool}"
    );
    let changed = find_drift(&report, "primary", "jobs.etl", "changed");
    assert!(
        changed["detail"]
            .as_str()
            .expect("detail")
            .contains("timeout_seconds: 999"),
        "{changed}"
    );
    let grants = find_drift(&report, "primary", "jobs.etl", "access");
    assert!(
        grants["detail"]
            .as_str()
            .expect("detail")
            .contains("analysts CAN_VIEW"),
        "{grants}"
    );
    let acl = find_drift(&report, "primary", "secret_scopes.etl", "access");
    assert!(
        acl["detail"]
            .as_str()
            .expect("detail")
            .contains("data-eng: WRITE (config: READ)"),
        "{acl}"
    );
    let secret = find_drift(&report, "primary", "secret_scopes.etl", "secret");
    assert!(
        secret["detail"]
            .as_str()
            .expect("detail")
            .contains("db_password was rewritten outside tandem"),
        "{secret}"
    );
    assert!(
        secret["remedy"]
            .as_str()
            .expect("remedy")
            .contains("tandem adopt"),
        "{secret}"
    );
    // A deleted job with grants is one difference, not one per grant.
    let missing = find_drift(&report, "primary", "jobs.report", "missing");
    assert!(
        missing["remedy"]
            .as_str()
            .expect("remedy")
            .contains("tandem apply creates it"),
        "{missing}"
    );
    // A look-alike beside a managed object must be dealt with by hand; one that stands in for a
    // missing managed object is what adopt is for.
    let beside = find_drift(&report, "primary", "jobs.etl", "lookalike");
    assert!(
        beside["detail"]
            .as_str()
            .expect("detail")
            .contains(&format!("\"Drift ETL\" (id {lookalike})")),
        "{beside}"
    );
    assert!(
        beside["remedy"]
            .as_str()
            .expect("remedy")
            .contains("rename or delete it"),
        "{beside}"
    );
    let instead = find_drift(&report, "secondary", "jobs.report", "lookalike");
    assert!(
        instead["remedy"]
            .as_str()
            .expect("remedy")
            .contains("tandem adopt"),
        "{instead}"
    );

    // The text report: a block per difference, each with the workspace, the resource and a
    // remedy line, and the count.
    for (workspace, resource, kind) in &expected {
        let head = format!("{workspace} {resource}: {kind}");
        assert!(text.contains(&head), "no `{head}` in:\n{text}");
    }
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with("remedy: "))
            .count(),
        expected.len(),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} difference(s)", expected.len())),
        "{text}"
    );
    let first = text
        .lines()
        .find(|l| l.starts_with("primary ") || l.starts_with("secondary "))
        .expect("a difference");
    assert!(first.ends_with(": passive_breach"), "{text}");

    // Markdown: a heading and a table with one row per difference, five cells each.
    let run = tandem(&repo, &["drift", "--format", "markdown"]);
    assert_no_secret("drift --format markdown", &run);
    let markdown = ok(&run);
    assert!(
        markdown.starts_with("### tandem drift · env test\n"),
        "{markdown}"
    );
    let rows: Vec<&str> = markdown.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(
        rows[0],
        "| workspace | resource | kind | what differs | remedy |"
    );
    assert_eq!(rows.len(), expected.len() + 1, "{markdown}");
    for row in &rows[1..] {
        let cells = row.replace("\\|", "").matches('|').count();
        assert_eq!(cells, 6, "five cells: {row}");
    }
    assert!(
        markdown.contains("| secondary | `clusters.shared` | passive_breach |"),
        "{markdown}"
    );

    // adopt takes over the hand-made report job on the passive side (no second one is created)
    // and writes the rewritten secret from its source again.
    let secondary_report = with_local(&repo, "secondary", |ws| {
        ws.jobs()
            .into_iter()
            .find(|j| j["settings"]["name"] == "Drift Report")
            .expect("the hand-made job")["job_id"]
            .clone()
    });
    let run = tandem(&repo, &["adopt", "--auto-approve"]);
    assert_no_secret("adopt", &run);
    let out = ok(&run);
    assert!(
        out.contains(&format!(
            "secondary  adopt jobs.report ← {secondary_report}"
        )),
        "{out}"
    );
    assert!(
        out.contains("primary  adopt secret_scopes.etl ← secret drift-etl/db_password (rewritten"),
        "{out}"
    );
    assert!(!out.contains("adopt jobs.etl"), "{out}");

    // apply restores everything it owns.
    let out = ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert!(out.contains("primary  create jobs.report  ok"), "{out}");
    assert!(!out.contains("secondary  create jobs.report"), "{out}");
    assert_converged(&repo, &ENVS);
    with_local(&repo, "secondary", |ws| {
        assert_eq!(ws.one("jobs", "report")["job_id"], secondary_report);
        assert_eq!(ws.job_settings("etl")["max_concurrent_runs"], 0);
        assert_eq!(ws.job_settings("etl")["schedule"]["pause_status"], "PAUSED");
        assert!(
            matches!(
                ws.cluster_state("shared").as_str(),
                "TERMINATED" | "TERMINATING"
            ),
            "the passive cluster is stopped again"
        );
        assert_eq!(ws.one("instance_pools", "workers")["min_idle_instances"], 0);
    });
    with_local(&repo, "primary", |ws| {
        let record = ws.record();
        let written = record["secrets"]["drift-etl"]["db_password"]["last_updated"]
            .as_i64()
            .expect("recorded");
        assert_eq!(
            written,
            ws.secrets("drift-etl")["db_password"],
            "the record knows the value adopt wrote"
        );
    });

    // What remains is what tandem does not own: the look-alike beside the managed ETL job.
    let report = drift_json(&repo);
    assert_eq!(
        drift_set(&report),
        triples(&[("primary", "jobs.etl", "lookalike")]),
        "{report:#}"
    );
    with_local(&repo, "primary", |ws| {
        ws.post("/api/2.2/jobs/delete", json!({"job_id": lookalike}));
    });
    let run = tandem(&repo, &["drift", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
}

#[test]
fn drift_reports_a_record_whose_role_disagrees_with_the_environment_file() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", RESOURCES);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    let original = with_local(&repo, "secondary", |ws| {
        let original = ws.record();
        let mut record = original.clone();
        record["role"] = json!("active");
        record["promoted_by"] = json!("oncall@example.com");
        ws.write_record(&record);
        original
    });
    // plan refuses to run against it; drift reports it (it must not refuse: it is the report).
    assert_eq!(tandem(&repo, &["plan"]).code(), 1);
    let run = tandem(&repo, &["drift", "--detailed-exitcode"]);
    assert_eq!(run.code(), 2, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stdout()
            .contains("state record says active, the environment file says passive"),
        "{}",
        run.stdout()
    );
    let report = drift_json(&repo);
    assert_eq!(
        drift_set(&report),
        triples(&[("secondary", "-", "role_mismatch")]),
        "{report:#}"
    );
    let remedy = report["drift"][0]["remedy"].as_str().expect("remedy");
    assert!(remedy.contains("promot"), "{remedy}");

    with_local(&repo, "secondary", |ws| {
        ws.write_record(&original);
    });
    let run = tandem(&repo, &["drift", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
}

#[test]
fn drift_fails_with_exit_1_when_a_workspace_cannot_be_read() {
    let env = "workspaces:\n  primary:\n    host: local:primary\n  secondary:\n    host: http://127.0.0.1:9\n    token_env: TANDEM_TEST_TOKEN\nactive: primary\n";
    let repo = TestRepo::with_env(env).file("resources/r.yaml", RESOURCES);
    let run = tandem(&repo, &["drift", "--detailed-exitcode"]);
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains("secondary: error:"),
        "{}",
        run.stdout()
    );
    let run = tandem(&repo, &["drift", "--format", "json"]);
    assert_eq!(run.code(), 1);
    let report: Value = serde_json::from_str(&run.stdout()).expect("JSON even on failure");
    assert_eq!(report["failures"][0]["workspace"], "secondary");
}

// ---------------------------------------------------------------------------------------------
// readiness
// ---------------------------------------------------------------------------------------------

/// `(workspace, check)` of every failing check, and the exit code (`--detailed-exitcode`).
fn failing_checks(repo: &TestRepo) -> (i32, BTreeSet<(String, String)>, Value) {
    let run = tandem(
        repo,
        &["readiness", "--format", "json", "--detailed-exitcode"],
    );
    assert_no_secret("readiness", &run);
    let report: Value = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("readiness JSON: {e}\n{}", run.all_output()));
    let failing = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["ok"] != true)
        .map(|c| {
            (
                c["workspace"].as_str().expect("workspace").to_string(),
                c["check"].as_str().expect("check").to_string(),
            )
        })
        .collect();
    (run.code(), failing, report)
}

fn pairs(entries: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    entries
        .iter()
        .map(|(w, c)| (w.to_string(), c.to_string()))
        .collect()
}

/// Asserts readiness says not ready (exit 2 with `--detailed-exitcode`, 0 without), failing
/// exactly `expected`, and names them in its text verdict.
fn assert_not_ready(repo: &TestRepo, expected: &[(&str, &str)]) -> Value {
    let (code, failing, report) = failing_checks(repo);
    assert_eq!(code, 2, "{report:#}");
    assert_eq!(failing, pairs(expected), "{report:#}");
    assert_eq!(report["ready"], false);
    let run = tandem(repo, &["readiness"]);
    assert_eq!(run.code(), 0, "not ready is a verdict, not an error");
    let text = run.stdout();
    let verdict = text.lines().next().expect("verdict");
    assert!(verdict.starts_with("NOT READY: "), "{text}");
    for (workspace, check) in expected {
        assert!(
            verdict.contains(&format!("{workspace}: {check}")),
            "{verdict}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("FAIL ") && l.contains(workspace) && l.contains(check)),
            "no FAIL row for {workspace} {check}:\n{text}"
        );
    }
    report
}

fn assert_ready(repo: &TestRepo) {
    let (code, failing, report) = failing_checks(repo);
    assert_eq!(code, 0, "{report:#}");
    assert!(failing.is_empty(), "{report:#}");
    assert_eq!(report["ready"], true);
}

/// The detail of one check in a JSON readiness report.
fn detail<'a>(report: &'a Value, workspace: &str, check: &str) -> &'a str {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["workspace"] == workspace && c["check"] == check)
        .and_then(|c| c["detail"].as_str())
        .unwrap_or_else(|| panic!("no check {check} on {workspace}:\n{report:#}"))
}

#[test]
fn readiness_is_ready_after_apply_and_names_every_check_that_fails() {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/r.yaml", RESOURCES)
        .file(".gitignore", ".tandem/\n")
        .git_init();
    let first = repo.commit("initial configuration");
    ok(&tandem(&repo, &["apply", "--auto-approve"]));

    let run = tandem(&repo, &["readiness"]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stdout()
            .starts_with("READY: failover would work now\nenv test\n"),
        "{}",
        run.stdout()
    );
    let markdown = tandem(&repo, &["readiness", "--format", "markdown"]);
    assert_eq!(markdown.code(), 0, "{}", markdown.all_output());
    assert!(
        markdown.stdout().starts_with(
            "### tandem readiness · env test\n\n**READY: failover would work now**\n\n| | workspace | check | found |\n"
        ),
        "{}",
        markdown.stdout()
    );
    assert!(
        markdown.stdout().contains("| ok | secondary | reachable |"),
        "{}",
        markdown.stdout()
    );
    let (_, _, report) = failing_checks(&repo);
    let checks: BTreeSet<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["check"].as_str().expect("check"))
        .collect();
    for expected in [
        "reachable",
        "role agrees with the environment file",
        "resources match the configuration",
        "every secret key exists",
        "every principal exists",
        "referenced pools and clusters exist",
        "same config commit as the active workspace",
        "no stale lock",
        "no pending fence",
    ] {
        assert!(checks.contains(expected), "{expected}: {checks:?}");
    }
    assert_eq!(
        detail(
            &report,
            "secondary",
            "same config commit as the active workspace"
        ),
        &first[..7]
    );

    // A job deleted on the passive side.
    with_local(&repo, "secondary", |ws| {
        let id = job_id(ws, "report");
        ws.post("/api/2.2/jobs/delete", json!({"job_id": id}));
    });
    let report = assert_not_ready(&repo, &[("secondary", "resources match the configuration")]);
    assert!(
        detail(&report, "secondary", "resources match the configuration")
            .contains("jobs.report (create)"),
        "{report:#}"
    );
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_ready(&repo);

    // A secret key deleted on the passive side.
    with_local(&repo, "secondary", |ws| {
        ws.post(
            "/api/2.0/secrets/delete",
            json!({"scope": "drift-etl", "key": "db_password"}),
        );
    });
    let report = assert_not_ready(&repo, &[("secondary", "every secret key exists")]);
    assert_eq!(
        detail(&report, "secondary", "every secret key exists"),
        "missing: drift-etl/db_password"
    );
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_ready(&repo);

    // The passive workspace lags a commit behind the active one.
    repo.write("resources/r.yaml", &format!("# reviewed\n{RESOURCES}"));
    let second = repo.commit("a comment");
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_ready(&repo);
    with_local(&repo, "secondary", |ws| {
        let mut record = ws.record();
        record["last_applied"]["commit"] = json!(first);
        ws.write_record(&record);
    });
    let report = assert_not_ready(
        &repo,
        &[("secondary", "same config commit as the active workspace")],
    );
    assert_eq!(
        detail(
            &report,
            "secondary",
            "same config commit as the active workspace"
        ),
        format!(
            "{} here, {} on the active workspace (1 commit behind)",
            &first[..7],
            &second[..7]
        )
    );
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_ready(&repo);

    // A lock left behind by a run that died, long expired.
    with_local(&repo, "secondary", |ws| {
        ws.write_file_json(
            "/Shared/.tandem/test/lock.json",
            &json!({"id": "0123456789abcdef", "holder": "ci@runner-7", "operation": "apply",
                    "since": "2026-01-02T03:04:05Z", "expires_ms": 1_000, "since_ms": 0}),
        );
    });
    let report = assert_not_ready(&repo, &[("secondary", "no stale lock")]);
    assert!(
        detail(&report, "secondary", "no stale lock").contains("ci@runner-7"),
        "{report:#}"
    );
    ok(&tandem(&repo, &["unlock", "secondary", "--auto-approve"]));
    assert_ready(&repo);

    // A pending fence: the active workspace's record still has to fence the passive one.
    let record = with_local(&repo, "primary", |ws| {
        let original = ws.record();
        let mut record = original.clone();
        record["pending_fences"] =
            json!([{"workspace": "secondary", "since": "2026-02-03T04:05:06Z"}]);
        ws.write_record(&record);
        original
    });
    let report = assert_not_ready(&repo, &[("primary", "no pending fence")]);
    assert_eq!(
        detail(&report, "primary", "no pending fence"),
        "secondary since 2026-02-03T04:05:06Z"
    );
    with_local(&repo, "primary", |ws| {
        ws.write_record(&record);
    });
    assert_ready(&repo);

    // A promotion the environment file does not know about.
    let record = with_local(&repo, "secondary", |ws| {
        let original = ws.record();
        let mut record = original.clone();
        record["role"] = json!("active");
        ws.write_record(&record);
        original
    });
    assert_not_ready(
        &repo,
        &[("secondary", "role agrees with the environment file")],
    );
    with_local(&repo, "secondary", |ws| {
        ws.write_record(&record);
    });
    assert_ready(&repo);

    // An invalid configuration is an error, not a verdict.
    repo.write(
        "resources/broken.yaml",
        "resources:\n  jobs:\n    Bad Key: {}\n",
    );
    let run = tandem(&repo, &["readiness"]);
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    assert!(run.stdout().is_empty(), "{}", run.stdout());
}

#[test]
fn readiness_is_an_error_when_a_workspace_is_unreachable() {
    let dir = tempfile::tempdir().expect("dir");
    let mut primary = Emulator::restartable(&dir.path().join("p.json"));
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &[]);
    let repo = TestRepo::with_env(&super::harness::remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", RESOURCES);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_ready(&repo);
    primary.kill();
    let (code, failing, report) = failing_checks(&repo);
    assert_eq!(code, 1, "{report:#}");
    assert!(
        failing.contains(&("primary".to_string(), "reachable".to_string())),
        "{report:#}"
    );
    assert_eq!(report["error"], true);
    let run = tandem(&repo, &["readiness"]);
    assert_eq!(run.code(), 1);
    assert!(run.stdout().starts_with("ERROR: "), "{}", run.stdout());
    assert!(
        run.stdout()
            .lines()
            .any(|l| l.starts_with("ERROR") && l.contains("primary") && l.contains("reachable")),
        "{}",
        run.stdout()
    );
    primary.start();
    assert_ready(&repo);
}

/// Users and groups of the secondary (tandem's token user an admin, as in the default set):
/// the `analysts` group the report job's grants name is missing there.
const SECONDARY_PRINCIPALS: &str = "users: [admin@example.com, etl-bot@example.com, alice@example.com]\ngroups: [{name: admins, members: [admin@example.com]}, {name: data-eng, members: [alice@example.com]}]\n";

#[test]
fn readiness_finds_a_principal_missing_on_the_passive_workspace_even_when_its_grants_are_held_back()
{
    let dir = tempfile::tempdir().expect("dir");
    let principals = dir.path().join("principals.yaml");
    std::fs::write(&principals, SECONDARY_PRINCIPALS).expect("principals");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &[]);
    let secondary = Emulator::spawn(
        &dir.path().join("s.json"),
        &["--principals", principals.to_str().expect("utf-8")],
    );
    let repo = TestRepo::with_env(&super::harness::remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", RESOURCES);
    // The passive side holds the report job's analysts grant back, so apply succeeds there...
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert_converged(&repo, &ENVS);
    // ...but a failover would try to grant it, and fail.
    let report = assert_not_ready(&repo, &[("secondary", "every principal exists")]);
    assert_eq!(
        detail(&report, "secondary", "every principal exists"),
        "unknown: analysts"
    );
}
