//! `tandem export` and `tandem adopt` end to end: a pair of `tandem emulator` subprocesses
//! (with their own token) filled with hand-made objects through their API, exported to YAML and
//! HCL, the files validated and committed as configuration, the objects adopted in place, and
//! then nothing left to plan.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};

use super::harness::{Emulator, TandemRun, TestRepo, Ws, ok, remote_env};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const TOKEN: &str = "export-token-s3cret";
const DB_PASSWORD: &str = "hand-made-db-password-1";
const API_KEY_PRIMARY: &str = "hand-made-api-key-east";
const API_KEY_SECONDARY: &str = "hand-made-api-key-west";
/// The values the repository's sources give (what adopt writes).
const DB_PASSWORD_SOURCE: &str = "configured-db-password-2";
const API_KEY_SOURCE: &str = "configured-api-key-3";

/// Every string that must never reach an output or an exported file.
const FORBIDDEN: [&str; 6] = [
    TOKEN,
    DB_PASSWORD,
    API_KEY_PRIMARY,
    API_KEY_SECONDARY,
    DB_PASSWORD_SOURCE,
    API_KEY_SOURCE,
];

fn assert_clean(what: &str, text: &str) {
    for f in FORBIDDEN {
        assert!(!text.contains(f), "{what} leaks {f}:\n{text}");
    }
}

/// `tandem -e test <args>` with the emulators' token, a debug log, and `envs`; its output is
/// checked for secrets and the token.
fn tandem(repo: &TestRepo, args: &[&str], envs: &[(&str, &str)]) -> TandemRun {
    let mut all = vec!["-e", "test"];
    all.extend_from_slice(args);
    let mut env = vec![("TANDEM_TEST_TOKEN", TOKEN), ("TANDEM_LOG", "debug")];
    env.extend_from_slice(envs);
    let run = repo.tandem_env(&all, &env);
    assert_clean(&format!("{args:?} stdout"), &run.stdout());
    assert_clean(&format!("{args:?} stderr"), &run.stderr());
    run
}

/// The secret sources the exported placeholders name.
const SOURCES: [(&str, &str); 2] = [
    ("ETL_SECRETS_DB_PASSWORD", DB_PASSWORD_SOURCE),
    ("ETL_SECRETS_API_KEY", API_KEY_SOURCE),
];

/// IDs of the hand-made objects of one workspace.
#[derive(Debug, Clone, PartialEq)]
struct HandMade {
    pool: String,
    cluster: String,
    nightly: Value,
    weekly: Value,
    adhoc: Value,
}

/// Builds, through the workspace's API, what a team made by hand: a pool, a cluster, a
/// multi-task job using both, a job on its own job cluster, a one-off job, a scope with two
/// secrets and an ACL, and grants on each. The passive side is built passive: paused, no
/// concurrency, no idle instances, the cluster terminated, the job grants only the owner's.
fn hand_make(ws: &Ws, passive: bool, api_key: &str) -> HandMade {
    let pool = ws.post(
        "/api/2.0/instance-pools/create",
        json!({"instance_pool_name": "Shared Pool", "node_type_id": "Standard_DS3_v2",
               "min_idle_instances": if passive { 0 } else { 1 }, "max_capacity": 10,
               "custom_tags": {"team": "data"}}),
    )["instance_pool_id"]
        .as_str()
        .expect("pool id")
        .to_string();
    let cluster = ws.post(
        "/api/2.1/clusters/create",
        json!({"cluster_name": "Shared Cluster", "spark_version": "15.4.x-scala2.12",
               "node_type_id": "Standard_DS3_v2", "num_workers": 2, "autotermination_minutes": 60,
               "spark_conf": {"spark.speculation": "true"}}),
    )["cluster_id"]
        .as_str()
        .expect("cluster id")
        .to_string();
    if passive {
        ws.post("/api/2.1/clusters/delete", json!({"cluster_id": cluster}));
    }
    let pause = if passive { "PAUSED" } else { "UNPAUSED" };
    let nightly = ws.post(
        "/api/2.2/jobs/create",
        json!({
            "name": "Nightly ETL",
            "max_concurrent_runs": if passive { 0 } else { 2 },
            "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": pause},
            "tags": {"team": "data"},
            "tasks": [
                {"task_key": "ingest", "existing_cluster_id": cluster,
                 "notebook_task": {"notebook_path": "/Repos/etl/ingest", "base_parameters": {"day": "today"}}},
                {"task_key": "transform", "depends_on": [{"task_key": "ingest"}], "job_cluster_key": "pooled",
                 "spark_python_task": {"python_file": "/Repos/etl/transform.py"}, "max_retries": 2},
            ],
            "job_clusters": [{"job_cluster_key": "pooled",
                              "new_cluster": {"spark_version": "15.4.x-scala2.12", "instance_pool_id": pool, "num_workers": 1}}],
        }),
    )["job_id"]
        .clone();
    let weekly = ws.post(
        "/api/2.2/jobs/create",
        json!({
            "name": "Weekly Report",
            "max_concurrent_runs": if passive { 0 } else { 1 },
            "tasks": [{"task_key": "report", "notebook_task": {"notebook_path": "/Repos/etl/report"},
                       "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 1}}],
        }),
    )["job_id"]
        .clone();
    let adhoc = ws.post(
        "/api/2.2/jobs/create",
        json!({"name": "Ad hoc: cleanup", "max_concurrent_runs": if passive { 0 } else { 1 },
               "tasks": [{"task_key": "clean", "existing_cluster_id": cluster,
                          "notebook_task": {"notebook_path": "/Repos/etl/cleanup"}}]}),
    )["job_id"]
        .clone();
    for (kind, id, grants) in [
        (
            "jobs",
            nightly.to_string(),
            if passive {
                json!([])
            } else {
                json!([{"group_name": "data-eng", "permission_level": "CAN_MANAGE_RUN"},
                       {"user_name": "alice@example.com", "permission_level": "CAN_VIEW"}])
            },
        ),
        (
            "clusters",
            cluster.clone(),
            json!([{"group_name": "data-eng", "permission_level": "CAN_RESTART"}]),
        ),
        (
            "instance-pools",
            pool.clone(),
            json!([{"group_name": "data-eng", "permission_level": "CAN_ATTACH_TO"}]),
        ),
    ] {
        let (status, answer) = ws.call(
            "PATCH",
            &format!("/api/2.0/permissions/{kind}/{id}"),
            Some(json!({"access_control_list": grants})),
        );
        assert_eq!(status, 200, "{kind} {id}: {answer}");
    }
    ws.post(
        "/api/2.0/secrets/scopes/create",
        json!({"scope": "etl-secrets"}),
    );
    for (key, value) in [("db_password", DB_PASSWORD), ("api_key", api_key)] {
        ws.post(
            "/api/2.0/secrets/put",
            json!({"scope": "etl-secrets", "key": key, "string_value": value}),
        );
    }
    ws.post(
        "/api/2.0/secrets/acls/put",
        json!({"scope": "etl-secrets", "principal": "data-eng", "permission": "READ"}),
    );
    HandMade {
        pool,
        cluster,
        nightly,
        weekly,
        adhoc,
    }
}

/// Every object of the workspace by kind: name → ID (and how many there are).
fn inventory(ws: &Ws) -> BTreeMap<String, Vec<(String, String)>> {
    let mut out = BTreeMap::new();
    let mut jobs: Vec<(String, String)> = ws
        .jobs()
        .iter()
        .map(|j| {
            (
                j["settings"]["name"].as_str().expect("name").to_string(),
                j["job_id"].to_string(),
            )
        })
        .collect();
    jobs.sort();
    out.insert("jobs".to_string(), jobs);
    let mut clusters: Vec<(String, String)> = ws
        .clusters()
        .iter()
        .map(|c| {
            (
                c["cluster_name"].as_str().expect("name").to_string(),
                c["cluster_id"].as_str().expect("id").to_string(),
            )
        })
        .collect();
    clusters.sort();
    out.insert("clusters".to_string(), clusters);
    let mut pools: Vec<(String, String)> = ws
        .pools()
        .iter()
        .map(|p| {
            (
                p["instance_pool_name"].as_str().expect("name").to_string(),
                p["instance_pool_id"].as_str().expect("id").to_string(),
            )
        })
        .collect();
    pools.sort();
    out.insert("instance_pools".to_string(), pools);
    out
}

/// Every file under `dir`, relative, with `/` separators.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir)
                        .expect("under")
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out
}

/// A file's content without export's first line (a comment with the time of the export).
fn without_header(text: &str) -> String {
    let (first, rest) = text.split_once('\n').expect("a header line");
    assert!(
        first.starts_with("# exported from workspace primary by `tandem export` on "),
        "{first}"
    );
    rest.to_string()
}

/// The resolved model `validate --format json` shows for the primary.
fn primary_model(repo: &TestRepo) -> Value {
    let run = tandem(repo, &["validate", "--format", "json"], &[]);
    let out: Value = serde_json::from_str(&ok(&run)).expect("validate JSON");
    out["workspaces"][0]["resources"].clone()
}

/// A workspace's state record for environment `test`.
fn record(ws: &Ws) -> Value {
    ws.state_record().expect("a state record")
}

// ---------------------------------------------------------------------------------------------
// The round trip
// ---------------------------------------------------------------------------------------------

#[test]
fn export_then_adopt_takes_a_hand_made_pair_over_in_place_and_leaves_nothing_to_plan() {
    let dir = tempfile::tempdir().expect("dir");
    let token = ["--token", TOKEN];
    let primary = Emulator::spawn(&dir.path().join("p.json"), &token);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &token);
    let (p, s) = (
        Ws::remote(&primary.url, TOKEN),
        Ws::remote(&secondary.url, TOKEN),
    );
    let made_p = hand_make(&p, false, API_KEY_PRIMARY);
    let made_s = hand_make(&s, true, API_KEY_SECONDARY);
    let before = (inventory(&p), inventory(&s));
    let secrets_before = (p.secrets("etl-secrets"), s.secrets("etl-secrets"));
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url));

    // YAML, one file per resource, under resources/ (the default include globs).
    let out = ok(&tandem(&repo, &["export", "--from", "primary"], &[]));
    assert!(out.contains("exported 6 resources from primary"), "{out}");
    assert!(out.contains("{env: SCOPE_KEY}"), "{out}");
    assert!(!out.contains("warning"), "{out}");
    let resources = repo.path().join("resources");
    assert_eq!(
        files_under(&resources),
        [
            "clusters/shared_cluster.yaml",
            "instance_pools/shared_pool.yaml",
            "jobs/ad_hoc_cleanup.yaml",
            "jobs/nightly_etl.yaml",
            "jobs/weekly_report.yaml",
            "secret_scopes/etl_secrets.yaml",
        ]
        .into_iter()
        .map(String::from)
        .collect::<BTreeSet<_>>()
    );
    let mut everything = String::new();
    for file in files_under(&resources) {
        let text = std::fs::read_to_string(resources.join(&file)).expect("file");
        assert_clean(&file, &text);
        everything.push_str(&text);
    }
    // IDs became references; nothing the service fills in by itself came along.
    for id in [&made_p.pool, &made_p.cluster] {
        assert!(
            !everything.contains(id.as_str()),
            "raw ID {id}:\n{everything}"
        );
    }
    for server_filled in [
        "format:",
        "MULTI_TASK",
        "timeout_seconds: 0",
        "run_if",
        "source: WORKSPACE",
        "email_notifications",
        "webhook_notifications",
        "queue:",
        "UNPAUSED",
        "max_concurrent_runs: 1",
        "aws_attributes",
        "enable_elastic_disk",
        "driver_node_type_id",
        "driver_instance_pool_id",
        "idle_instance_autotermination_minutes",
        "default_tags",
        "state:",
        "stats",
        " cluster_id:",
        "creator_user_name",
        "managed-by",
    ] {
        assert!(
            !everything.contains(server_filled),
            "{server_filled} exported:\n{everything}"
        );
    }
    let nightly = without_header(&repo.read("resources/jobs/nightly_etl.yaml"));
    assert!(nightly.contains("existing_cluster_id: ${resources.clusters.shared_cluster.id}"));
    assert!(nightly.contains("instance_pool_id: ${resources.instance_pools.shared_pool.id}"));
    insta::assert_snapshot!("nightly_etl_yaml", nightly);
    let scope = without_header(&repo.read("resources/secret_scopes/etl_secrets.yaml"));
    insta::assert_snapshot!("etl_secrets_yaml", scope);
    let cluster = without_header(&repo.read("resources/clusters/shared_cluster.yaml"));
    insta::assert_snapshot!("shared_cluster_yaml", cluster);
    let pool = without_header(&repo.read("resources/instance_pools/shared_pool.yaml"));
    insta::assert_snapshot!("shared_pool_yaml", pool);

    // The exported repository is valid configuration.
    let run = tandem(&repo, &["validate"], &[]);
    assert!(
        ok(&run).starts_with("ok · env test · 2 workspaces (primary active) · 3 jobs"),
        "{}",
        run.stdout()
    );
    let yaml_model = primary_model(&repo);

    // HCL: the same model.
    let hcl_repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url));
    ok(&tandem(
        &hcl_repo,
        &["export", "--from", "primary", "--format", "hcl"],
        &[],
    ));
    let hcl_files = files_under(&hcl_repo.path().join("resources"));
    assert_eq!(hcl_files.len(), 6, "{hcl_files:?}");
    assert!(
        hcl_files.iter().all(|f| f.ends_with(".hcl")),
        "{hcl_files:?}"
    );
    let nightly_hcl = without_header(&hcl_repo.read("resources/jobs/nightly_etl.hcl"));
    assert!(
        nightly_hcl.contains("\"${resources.clusters.shared_cluster.id}\""),
        "{nightly_hcl}"
    );
    insta::assert_snapshot!("nightly_etl_hcl", nightly_hcl);
    let scope_hcl = without_header(&hcl_repo.read("resources/secret_scopes/etl_secrets.hcl"));
    assert!(scope_hcl.contains("secret \"db_password\""), "{scope_hcl}");
    ok(&tandem(&hcl_repo, &["validate"], &[]));
    assert_eq!(primary_model(&hcl_repo), yaml_model);

    // --match: only what matches, and a warning for the IDs that now lead nowhere.
    let run = tandem(
        &repo,
        &[
            "export", "--from", "primary", "--out", "filtered", "--match", "^Nightly",
        ],
        &[],
    );
    let out = ok(&run);
    assert_eq!(
        files_under(&repo.path().join("filtered")),
        BTreeSet::from(["jobs/nightly_etl.yaml".to_string()])
    );
    assert!(out.contains("exported 1 resources"), "{out}");
    assert!(
        out.contains(&format!(
            "jobs.nightly_etl: existing_cluster_id {}",
            made_p.cluster
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "jobs.nightly_etl: instance_pool_id {}",
            made_p.pool
        )),
        "{out}"
    );
    std::fs::remove_dir_all(repo.path().join("filtered")).expect("rm");
    let run = tandem(&repo, &["export", "--from", "primary", "--match", "("], &[]);
    assert!(run.failure().contains("invalid --match pattern"));
    let run = tandem(&repo, &["export", "--from", "tertiary"], &[]);
    assert!(run.failure().contains("no workspace `tertiary`"));

    // Exporting changed nothing.
    assert_eq!((inventory(&p), inventory(&s)), before);

    // Adopt without the secrets' sources: every object is taken over, every secret skipped.
    let run = tandem(&repo, &["adopt", "--auto-approve"], &[]);
    let out = run.stdout();
    assert_eq!(run.code(), 1, "{out}\n{}", run.stderr());
    for (name, made) in [("primary", &made_p), ("secondary", &made_s)] {
        for line in [
            format!(
                "{name}  adopt jobs.nightly_etl ← {} \"Nightly ETL\"",
                made.nightly
            ),
            format!(
                "{name}  adopt jobs.weekly_report ← {} \"Weekly Report\"",
                made.weekly
            ),
            format!(
                "{name}  adopt jobs.ad_hoc_cleanup ← {} \"Ad hoc: cleanup\"",
                made.adhoc
            ),
            format!(
                "{name}  adopt clusters.shared_cluster ← {} \"Shared Cluster\"",
                made.cluster
            ),
            format!(
                "{name}  adopt instance_pools.shared_pool ← {} \"Shared Pool\"",
                made.pool
            ),
            format!("{name}  adopt secret_scopes.etl_secrets ← scope \"etl-secrets\""),
            format!(
                "{name}  cannot adopt secret etl-secrets/db_password (unrecorded): environment variable ETL_SECRETS_DB_PASSWORD is not set or empty; skipped"
            ),
            format!(
                "{name}  cannot adopt secret etl-secrets/api_key (unrecorded): environment variable ETL_SECRETS_API_KEY is not set or empty; skipped"
            ),
            format!("{name}  adopted jobs.nightly_etl"),
            format!("{name}  adopted clusters.shared_cluster"),
            format!("{name}  adopted instance_pools.shared_pool"),
        ] {
            assert!(out.contains(&line), "no `{line}` in:\n{out}");
        }
    }
    // Nothing was created or re-created: the same objects, now tagged.
    assert_eq!((inventory(&p), inventory(&s)), before);
    for (ws, made) in [(&p, &made_p), (&s, &made_s)] {
        assert_eq!(ws.one("jobs", "nightly_etl")["job_id"], made.nightly);
        assert_eq!(ws.one("jobs", "weekly_report")["job_id"], made.weekly);
        assert_eq!(ws.one("jobs", "ad_hoc_cleanup")["job_id"], made.adhoc);
        assert_eq!(
            ws.one("clusters", "shared_cluster")["cluster_id"],
            made.cluster.as_str()
        );
        assert_eq!(
            ws.one("instance_pools", "shared_pool")["instance_pool_id"],
            made.pool.as_str()
        );
        // Their own tags stay.
        assert_eq!(ws.job_settings("nightly_etl")["tags"]["team"], "data");
        assert_eq!(
            ws.one("instance_pools", "shared_pool")["custom_tags"]["team"],
            "data"
        );
        let record = record(ws);
        assert_eq!(record["managed_scopes"], json!(["etl-secrets"]));
        assert_eq!(record["secrets"], json!({}), "no secret was written");
        assert!(ws.lock().is_none(), "the lock is released");
    }
    assert_eq!(
        (p.secrets("etl-secrets"), s.secrets("etl-secrets")),
        secrets_before,
        "skipped secrets are left alone"
    );
    assert_eq!(
        s.cluster("shared_cluster")["state"],
        "TERMINATED",
        "adopting the passive cluster does not start it"
    );

    // With the sources: the secrets tandem never wrote keep the workspaces' values and are
    // recorded (timestamp, and the fingerprint of the source's value); nothing else is touched.
    let run = tandem(&repo, &["adopt", "--auto-approve"], &SOURCES);
    let out = ok(&run);
    for name in ["primary", "secondary"] {
        for key in ["db_password", "api_key"] {
            for line in [
                format!(
                    "{name}  adopt secret_scopes.etl_secrets ← secret etl-secrets/{key} (unrecorded: the workspace's value is kept)"
                ),
                format!(
                    "{name}  kept the workspace's value of etl-secrets/{key}; pass --overwrite-secrets to write the configured source"
                ),
            ] {
                assert!(out.contains(&line), "no `{line}` in:\n{out}");
            }
        }
    }
    assert!(!out.contains("written"), "{out}");
    assert!(!out.contains("adopt jobs."), "{out}");
    assert_eq!((inventory(&p), inventory(&s)), before);
    assert_eq!(
        (p.secrets("etl-secrets"), s.secrets("etl-secrets")),
        secrets_before,
        "no secret was written"
    );
    for (ws, role) in [(&p, "active"), (&s, "passive")] {
        let record = record(ws);
        let live = ws.secrets("etl-secrets");
        for key in ["db_password", "api_key"] {
            let written = &record["secrets"]["etl-secrets"][key];
            assert_eq!(written["fingerprint"].as_str().map(str::len), Some(64));
            assert_eq!(written["last_updated"], live[key], "{key}");
        }
        assert!(record["last_applied"].is_null(), "adopt is not an apply");
        assert_eq!(record["role"], role);
    }

    // Nothing left to do.
    let run = tandem(&repo, &["plan", "--detailed-exitcode"], &SOURCES);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let run = tandem(&repo, &["drift", "--detailed-exitcode"], &SOURCES);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    // A scheduled drift job without the secrets' sources finds no drift either.
    let run = tandem(&repo, &["drift", "--detailed-exitcode"], &[]);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
    let run = tandem(&repo, &["adopt", "--auto-approve"], &SOURCES);
    assert!(ok(&run).contains("nothing to adopt"), "{}", run.stdout());
    let run = tandem(&repo, &["apply", "--auto-approve"], &SOURCES);
    assert!(
        ok(&run).contains("No changes: every workspace matches the configuration."),
        "{}",
        run.stdout()
    );
    assert_eq!((inventory(&p), inventory(&s)), before);
    let run = tandem(&repo, &["readiness", "--format", "json"], &SOURCES);
    assert_eq!(run.code(), 0, "{}\n{}", run.stdout(), run.stderr());
}

#[test]
fn adopt_never_takes_an_object_from_another_environment() {
    let resources = "resources:\n  jobs:\n    shared:\n      name: Shared Name\n      tasks:\n        - task_key: main\n          notebook_task: {notebook_path: /Repos/x}\n";
    let repo = TestRepo::with_env(super::harness::PAIR_ENV).file("resources/r.yaml", resources);
    let staging_tags =
        json!({"managed-by": "tandem", "tandem-env": "staging", "tandem-key": "shared"});
    let id = super::harness::with_local(&repo, "primary", |ws| {
        ws.post(
            "/api/2.2/jobs/create",
            json!({"name": "Shared Name", "tags": staging_tags,
                   "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Repos/x"}}]}),
        )["job_id"]
            .clone()
    });
    let run = repo.tandem(&["-e", "test", "adopt", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}\n{}", run.stdout(), run.stderr());
    assert!(
        run.stdout().contains(&format!(
            "primary  adopt jobs.shared failed: primary: {id} \"Shared Name\" is managed by tandem for environment staging; not adopted"
        )),
        "{}",
        run.stdout()
    );
    super::harness::with_local(&repo, "primary", |ws| {
        let job = ws.get(&format!("/api/2.2/jobs/get?job_id={id}"));
        assert_eq!(job["settings"]["tags"], staging_tags);
    });
}

#[test]
fn adopt_keeps_a_secret_it_never_wrote_unless_told_to_overwrite_it() {
    let resources = "resources:\n  secret_scopes:\n    etl:\n      name: etl\n      secrets:\n        api_key: {primary: {env: KEY_EAST}, secondary: {env: KEY_WEST}}\n";
    let sources = [
        ("KEY_EAST", "east-from-source"),
        ("KEY_WEST", "west-from-source"),
    ];
    let hand_made = |repo: &TestRepo| {
        for (name, value) in [("primary", "east-by-hand"), ("secondary", "west-by-hand")] {
            super::harness::with_local(repo, name, |ws| {
                ws.post("/api/2.0/secrets/scopes/create", json!({"scope": "etl"}));
                ws.post(
                    "/api/2.0/secrets/put",
                    json!({"scope": "etl", "key": "api_key", "string_value": value}),
                );
            });
        }
    };
    let holds = |repo: &TestRepo, name: &str, value: &str| {
        super::harness::with_local(repo, name, |ws| ws.secret_value_is("etl", "api_key", value))
    };

    // Kept: the values made by hand stay, and the next plan treats them as known.
    let repo = TestRepo::with_env(super::harness::PAIR_ENV).file("resources/r.yaml", resources);
    hand_made(&repo);
    let run = repo.tandem_env(&["-e", "test", "adopt", "--auto-approve"], &sources);
    let out = ok(&run);
    assert!(
        out.contains("secondary  kept the workspace's value of etl/api_key; pass --overwrite-secrets to write the configured source"),
        "{out}"
    );
    assert!(holds(&repo, "primary", "east-by-hand"));
    assert!(holds(&repo, "secondary", "west-by-hand"));
    super::harness::assert_converged(&repo, &sources);
    let out = ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &sources));
    assert!(!out.contains("put secret"), "{out}");
    assert!(
        holds(&repo, "secondary", "west-by-hand"),
        "apply kept it too"
    );
    // A source that changes afterwards is a change like any other: apply writes it.
    let changed = [
        ("KEY_EAST", "east-from-source"),
        ("KEY_WEST", "west-rotated"),
    ];
    let out = ok(&repo.tandem_env(&["-e", "test", "plan"], &changed));
    assert!(out.contains("changed"), "{out}");

    // --overwrite-secrets: the sources' values replace them.
    let repo = TestRepo::with_env(super::harness::PAIR_ENV).file("resources/r.yaml", resources);
    hand_made(&repo);
    let run = repo.tandem_env(
        &[
            "-e",
            "test",
            "adopt",
            "--auto-approve",
            "--overwrite-secrets",
        ],
        &sources,
    );
    let out = ok(&run);
    assert!(
        out.contains("secondary  adopted secret_scopes.etl: api_key written"),
        "{out}"
    );
    assert!(!out.contains("kept the workspace's value"), "{out}");
    assert!(holds(&repo, "primary", "east-from-source"));
    assert!(holds(&repo, "secondary", "west-from-source"));
    super::harness::assert_converged(&repo, &sources);
}

/// Makes by hand, in one embedded workspace, what a team made on each side of a pair: a cluster,
/// a job reading this region's lake (`east` or `west`) on it, a scope with this region's API key;
/// the passive side built passive (no concurrency, paused, the cluster terminated), and a
/// backfill job only on the active side.
fn hand_make_region(repo: &TestRepo, name: &str, region: &str, api_key: &str, passive: bool) {
    super::harness::with_local(repo, name, |ws| {
        let cluster = ws.post(
            "/api/2.1/clusters/create",
            json!({"cluster_name": "Shared", "spark_version": "15.4.x-scala2.12",
                   "node_type_id": "Standard_DS3_v2", "num_workers": 2,
                   "spark_conf": {"spark.lake": format!("{region}.dfs.core.windows.net")}}),
        )["cluster_id"]
            .clone();
        if passive {
            ws.post("/api/2.1/clusters/delete", json!({"cluster_id": cluster}));
        }
        ws.post(
            "/api/2.2/jobs/create",
            json!({"name": "Ingest", "max_concurrent_runs": if passive { 0 } else { 2 },
                   "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC",
                                "pause_status": if passive { "PAUSED" } else { "UNPAUSED" }},
                   "tasks": [{"task_key": "ingest", "existing_cluster_id": cluster,
                              "notebook_task": {"notebook_path": "/Repos/etl/ingest",
                                                "base_parameters": {"root": format!("abfss://lake@{region}.dfs.core.windows.net/raw")}}}]}),
        );
        if !passive {
            ws.post(
                "/api/2.2/jobs/create",
                json!({"name": "Backfill", "tasks": [{"task_key": "b", "existing_cluster_id": cluster,
                        "notebook_task": {"notebook_path": "/Repos/etl/backfill"}}]}),
            );
        }
        ws.post("/api/2.0/secrets/scopes/create", json!({"scope": "etl"}));
        ws.post(
            "/api/2.0/secrets/put",
            json!({"scope": "etl", "key": "api_key", "string_value": api_key}),
        );
    });
}

#[test]
fn export_of_a_hand_made_pair_keeps_each_sides_values_and_adopt_keeps_its_secrets() {
    let repo = TestRepo::with_env(super::harness::PAIR_ENV);
    hand_make_region(&repo, "primary", "east", API_KEY_PRIMARY, false);
    hand_make_region(&repo, "secondary", "west", API_KEY_SECONDARY, true);
    let sources = [
        ("ETL_API_KEY_PRIMARY", API_KEY_PRIMARY),
        ("ETL_API_KEY_SECONDARY", API_KEY_SECONDARY),
    ];

    // Every workspace is read; what differs became variables, what tandem sets by role did not.
    let out = ok(&tandem(&repo, &["export"], &[]));
    for line in [
        "exported 4 resources from primary, secondary into",
        "values that differ between the workspaces became variables in environments/test.yaml: root",
        "note: jobs.backfill exists only in the active workspace primary: exported with `placement: active_only`",
        "{env: SCOPE_KEY_WORKSPACE} per workspace",
    ] {
        assert!(out.contains(line), "no `{line}` in:\n{out}");
    }
    let env = repo.read("environments/test.yaml");
    assert!(
        env.ends_with("variables:\n  root:\n    primary: \"east\"\n    secondary: \"west\"\n"),
        "{env}"
    );
    let ingest = without_header_of(
        &repo.read("resources/jobs/ingest.yaml"),
        "workspaces primary, secondary",
    );
    insta::assert_snapshot!("pair_ingest_yaml", ingest);
    let cluster = repo.read("resources/clusters/shared.yaml");
    assert!(
        cluster.contains("spark.lake: ${var.root}.dfs.core.windows.net"),
        "{cluster}"
    );
    let scope = repo.read("resources/secret_scopes/etl.yaml");
    for ws in ["primary", "secondary"] {
        let source = format!("{ws}:\n            env: ETL_API_KEY_{}", ws.to_uppercase());
        assert!(scope.contains(&source), "{scope}");
    }
    ok(&tandem(&repo, &["validate"], &[]));
    // Exporting again finds the variable it added and adds nothing.
    let out = ok(&tandem(&repo, &["export"], &[]));
    assert!(!out.contains("became variables"), "{out}");
    assert_eq!(repo.read("environments/test.yaml"), env);

    // Adopt takes each side over as it is: the secondary keeps its own key.
    let out = ok(&tandem(&repo, &["adopt", "--auto-approve"], &sources));
    assert!(
        out.contains("secondary  kept the workspace's value of etl/api_key"),
        "{out}"
    );
    super::harness::assert_converged(&repo, &sources);
    super::harness::with_local(&repo, "secondary", |ws| {
        assert!(ws.secret_value_is("etl", "api_key", API_KEY_SECONDARY));
        let settings = ws.job_settings("ingest");
        assert_eq!(
            settings["tasks"][0]["notebook_task"]["base_parameters"]["root"],
            "abfss://lake@west.dfs.core.windows.net/raw"
        );
        assert_eq!(settings["max_concurrent_runs"], 0);
        assert!(
            ws.jobs()
                .iter()
                .all(|j| j["settings"]["name"] != "Backfill")
        );
    });
    super::harness::with_local(&repo, "primary", |ws| {
        assert!(ws.secret_value_is("etl", "api_key", API_KEY_PRIMARY));
        assert_eq!(ws.job_settings("backfill")["name"], "Backfill");
    });
}

/// A file's content without export's first line, which names `read`.
fn without_header_of(text: &str, read: &str) -> String {
    let (first, rest) = text.split_once('\n').expect("a header line");
    assert!(
        first.starts_with(&format!("# exported from {read} by `tandem export` on ")),
        "{first}"
    );
    rest.to_string()
}

#[test]
fn compare_lists_what_differs_between_the_two_sides_but_not_what_tandem_sets_by_role() {
    let repo = TestRepo::with_env(super::harness::PAIR_ENV);
    hand_make_region(&repo, "primary", "east", API_KEY_PRIMARY, false);
    hand_make_region(&repo, "secondary", "west", API_KEY_SECONDARY, true);
    super::harness::with_local(&repo, "secondary", |ws| {
        ws.post(
            "/api/2.0/secrets/put",
            json!({"scope": "etl", "key": "west_only", "string_value": "x"}),
        );
    });

    let run = tandem(
        &repo,
        &["compare", "primary", "secondary", "--format", "json"],
        &[],
    );
    // The JSON contract describes it, strictly.
    let report =
        super::json_output::assert_valid("compare", "tandem compare --format json", &ok(&run));
    assert_eq!(report["format_version"], 1);
    assert_eq!(report["workspaces"], json!(["primary", "secondary"]));
    let found: BTreeMap<String, Value> = report["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| {
            let id = format!(
                "{}.{}",
                d["resource"]["kind"].as_str().expect("kind"),
                d["resource"]["key"].as_str().expect("key")
            );
            (id, d.clone())
        })
        .collect();
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "clusters.shared",
            "jobs.backfill",
            "jobs.ingest",
            "secret_scopes.etl"
        ]
    );
    assert_eq!(found["jobs.backfill"]["only_in"], "primary");
    let paths = |id: &str| -> Vec<String> {
        found[id]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| f["path"].as_str().expect("path").to_string())
            .collect()
    };
    // The storage path differs; the passive zero, the pause and the cluster IDs do not count.
    assert_eq!(
        paths("jobs.ingest"),
        ["tasks[ingest].notebook_task.base_parameters.root"]
    );
    assert_eq!(
        found["jobs.ingest"]["fields"][0]["b"],
        "abfss://lake@west.dfs.core.windows.net/raw"
    );
    assert_eq!(paths("clusters.shared"), ["spark_conf.spark.lake"]);
    assert_eq!(paths("secret_scopes.etl"), ["secrets.west_only"]);
    assert_eq!(found["jobs.ingest"]["managed_in"], json!([]));

    let text = ok(&tandem(&repo, &["compare", "primary", "secondary"], &[]));
    assert!(
        text.contains("jobs.backfill \"Backfill\": only in primary (unmanaged)"),
        "{text}"
    );
    assert!(
        text.contains("    secondary: \"abfss://lake@west.dfs.core.windows.net/raw\""),
        "{text}"
    );
    assert!(text.ends_with("\n4 object(s) differ\n"), "{text}");
    let markdown = ok(&tandem(
        &repo,
        &["compare", "primary", "secondary", "--format", "markdown"],
        &[],
    ));
    assert!(
        markdown.starts_with("### tandem compare · env test · `primary` ↔ `secondary`"),
        "{markdown}"
    );
    let run = tandem(
        &repo,
        &["compare", "primary", "secondary", "--detailed-exitcode"],
        &[],
    );
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let run = tandem(&repo, &["compare", "primary", "primary"], &[]);
    assert!(
        run.failure().contains("two different workspaces"),
        "{}",
        run.stderr()
    );
    let run = tandem(&repo, &["compare", "primary", "tertiary"], &[]);
    assert!(
        run.failure().contains("no workspace `tertiary`"),
        "{}",
        run.stderr()
    );

    // Once exported and adopted, both sides are tandem's, and still only the lake differs.
    ok(&tandem(&repo, &["export"], &[]));
    ok(&tandem(
        &repo,
        &["adopt", "--auto-approve"],
        &[
            ("ETL_API_KEY_PRIMARY", "a"),
            ("ETL_API_KEY_SECONDARY", "b"),
            ("ETL_WEST_ONLY_PRIMARY", "c"),
            ("ETL_WEST_ONLY_SECONDARY", "d"),
        ],
    ));
    let run = tandem(
        &repo,
        &["compare", "secondary", "primary", "--format", "json"],
        &[],
    );
    let report: Value = serde_json::from_str(&ok(&run)).expect("JSON");
    let ingest = report["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .find(|d| d["resource"]["key"] == "ingest")
        .expect("ingest differs")
        .clone();
    assert_eq!(ingest["managed_in"], json!(["secondary", "primary"]));
    assert_eq!(
        ingest["fields"][0]["a"],
        "abfss://lake@west.dfs.core.windows.net/raw"
    );
}
