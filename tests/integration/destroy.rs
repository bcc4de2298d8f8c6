//! `tandem destroy`: everything tandem manages in the environment deleted from every workspace,
//! and nothing else — not an unmanaged look-alike, not another environment's object, not a scope
//! tandem does not own.

use serde_json::json;

use super::harness::{PAIR_ENV, ScriptedOperator, TestRepo, Ws, ok, with_local};

const RESOURCES: &str = r#"resources:
  instance_pools:
    pool: {instance_pool_name: Pool, node_type_id: Standard_DS3_v2, min_idle_instances: 1}
  clusters:
    shared:
      cluster_name: Shared
      spark_version: 15.4.x-scala2.12
      instance_pool_id: ${resources.instance_pools.pool.id}
      num_workers: 1
  jobs:
    etl:
      name: ETL
      tasks:
        - task_key: main
          existing_cluster_id: ${resources.clusters.shared.id}
          notebook_task: {notebook_path: /Repos/etl/main}
      permissions:
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
  secret_scopes:
    etl:
      name: etl
      secrets: {api_key: {env: DESTROY_API_KEY}}
"#;

/// `tandem -e test <args>`.
fn tandem(repo: &TestRepo, args: &[&str]) -> super::harness::TandemRun {
    let mut all = vec!["-e", "test"];
    all.extend_from_slice(args);
    repo.tandem(&all)
}

/// A deployed pair, and in each workspace what tandem must not touch: an unmanaged job with the
/// managed job's name, a job tandem manages for another environment, a scope made by hand.
fn deployed() -> TestRepo {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", RESOURCES);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    for name in ["primary", "secondary"] {
        with_local(&repo, name, |ws| {
            let task = json!([{"task_key": "m", "notebook_task": {"notebook_path": "/x"}}]);
            ws.post(
                "/api/2.2/jobs/create",
                json!({"name": "ETL", "tasks": task}),
            );
            ws.post(
                "/api/2.2/jobs/create",
                json!({"name": "Staging ETL", "tasks": task,
                       "tags": {"managed-by": "tandem", "tandem-env": "staging", "tandem-key": "etl"}}),
            );
            ws.post(
                "/api/2.0/secrets/scopes/create",
                json!({"scope": "hand-made"}),
            );
        });
    }
    repo
}

/// The names of the workspace's jobs, clusters and pools, and its scopes.
fn everything(ws: &Ws) -> Vec<String> {
    let mut out: Vec<String> = ws
        .jobs()
        .iter()
        .map(|j| format!("job {}", j["settings"]["name"].as_str().expect("name")))
        .chain(
            ws.clusters()
                .iter()
                .map(|c| format!("cluster {}", c["cluster_name"].as_str().expect("name"))),
        )
        .chain(
            ws.pools()
                .iter()
                .map(|p| format!("pool {}", p["instance_pool_name"].as_str().expect("name"))),
        )
        .chain(ws.scopes().into_iter().map(|s| format!("scope {s}")))
        .collect();
    out.sort();
    out
}

#[test]
fn destroy_deletes_what_tandem_manages_and_nothing_else() {
    let repo = deployed();
    let before: Vec<Vec<String>> = ["primary", "secondary"]
        .iter()
        .map(|n| with_local(&repo, n, everything))
        .collect();
    assert!(
        before[0].contains(&"scope tandem.test".to_string()),
        "{before:?}"
    );

    // No terminal, no --auto-approve: refused before anything is read or written.
    let run = tandem(&repo, &["destroy"]);
    assert!(
        run.failure().contains("there is no terminal"),
        "{}",
        run.stderr()
    );
    let unchanged: Vec<Vec<String>> = ["primary", "secondary"]
        .iter()
        .map(|n| with_local(&repo, n, everything))
        .collect();
    assert_eq!(unchanged, before);

    let out = ok(&tandem(&repo, &["destroy", "--auto-approve"]));
    for name in ["primary", "secondary"] {
        for line in [
            format!("{name}  then: delete tandem's state record and its seal scope tandem.test"),
            format!("{name}  destroyed: nothing of environment test is left"),
        ] {
            assert!(out.contains(&line), "no `{line}` in:\n{out}");
        }
    }
    for name in ["primary", "secondary"] {
        with_local(&repo, name, |ws| {
            assert_eq!(
                everything(ws),
                ["job ETL", "job Staging ETL", "scope hand-made"],
                "{name}: the look-alike, staging's job and the hand-made scope survive"
            );
            let staging = ws
                .jobs()
                .into_iter()
                .find(|j| j["settings"]["name"] == "Staging ETL")
                .expect("staging's job");
            assert_eq!(staging["settings"]["tags"]["tandem-env"], "staging");
            assert!(ws.state_record().is_none(), "{name}: no record left");
            assert!(ws.lock().is_none(), "{name}: the lock is given back");
        });
    }

    // Nothing is left to destroy, and the environment can be deployed again from scratch.
    let out = ok(&tandem(&repo, &["destroy", "--auto-approve"]));
    assert!(out.contains("nothing to destroy"), "{out}");
    let out = ok(&tandem(&repo, &["plan"]));
    assert!(out.contains("create"), "{out}");
}

#[test]
fn destroy_goes_ahead_only_when_the_environments_name_is_typed() {
    use tandem::engine::commands::destroy::DestroyError;
    use tandem::engine::{self, DestroyOptions, EngineError};

    let repo = deployed();
    let options = DestroyOptions {
        load: tandem::config::LoadOptions {
            root: repo.path().to_path_buf(),
            env: "test".into(),
            git_ref: None,
            env_from: None,
        },
        client: tandem::client::ClientOptions::default(),
        auto_approve: false,
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // "yes" is not the environment's name.
    let yes = ScriptedOperator::typing("yes");
    match rt.block_on(engine::destroy(&options, &yes)) {
        Err(EngineError::Destroy(DestroyError::Cancelled)) => {}
        other => panic!("expected a cancelled destroy: {other:?}"),
    }
    let told = yes.seen();
    // Shown first: every deletion, jobs before the clusters and pools they use, scopes last.
    assert!(
        told.contains(&"review primary delete,delete,delete,delete scope".to_string()),
        "{told:?}"
    );
    assert!(
        told.last().is_some_and(|t| t.starts_with("asked Destroy everything tandem manages in environment test (8 deletion(s) in 2 workspace(s))? Type the environment's name to confirm:")),
        "{told:?}"
    );
    let before = with_local(&repo, "primary", |ws| {
        assert!(ws.state_record().is_some());
        assert!(ws.lock().is_none());
        everything(ws)
    });
    assert!(before.contains(&"cluster Shared".to_string()), "{before:?}");

    let typed = ScriptedOperator::typing("test");
    let report = rt
        .block_on(engine::destroy(&options, &typed))
        .expect("destroyed");
    assert!(report.succeeded(), "{report:?}");
    assert_eq!(report.cleared, ["primary", "secondary"]);
    with_local(&repo, "primary", |ws| {
        assert_eq!(
            everything(ws),
            ["job ETL", "job Staging ETL", "scope hand-made"]
        );
        assert!(ws.state_record().is_none());
    });
}
