//! `tandem import <kind>.<key> --id <ID> --workspace <WS>`: one object taken under management by
//! its ID, and every refusal (no such resource, a key taken, another environment's object, no
//! such object).

use serde_json::{Value, json};

use super::harness::{PAIR_ENV, TestRepo, ok, with_local};

const RESOURCES: &str = r#"resources:
  jobs:
    etl:
      name: ETL
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/main}
  secret_scopes:
    keys:
      name: keys
"#;

/// `tandem -e test <args>`.
fn tandem(repo: &TestRepo, args: &[&str]) -> super::harness::TandemRun {
    let mut all = vec!["-e", "test"];
    all.extend_from_slice(args);
    repo.tandem(&all)
}

/// Makes a job by hand in `workspace`; its ID.
fn job(repo: &TestRepo, workspace: &str, name: &str, tags: Value) -> String {
    with_local(repo, workspace, |ws| {
        ws.post(
            "/api/2.2/jobs/create",
            json!({"name": name, "tags": tags,
                   "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/Repos/etl/main"}}]}),
        )["job_id"]
            .to_string()
    })
}

/// Job `id`'s tags in `workspace`.
fn tags(repo: &TestRepo, workspace: &str, id: &str) -> Value {
    with_local(repo, workspace, |ws| {
        ws.get(&format!("/api/2.2/jobs/get?job_id={id}"))["settings"]["tags"].clone()
    })
}

#[test]
fn import_takes_one_object_by_id_and_refuses_what_is_not_its_to_take() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", RESOURCES);
    let west = job(&repo, "secondary", "ETL (west)", json!({"team": "data"}));
    let other = job(&repo, "secondary", "Something else", json!({}));
    let staging_tags =
        json!({"managed-by": "tandem", "tandem-env": "staging", "tandem-key": "etl"});
    let staging = job(&repo, "primary", "ETL", staging_tags.clone());

    let import_west = || {
        let args = [
            "import",
            "jobs.etl",
            "--id",
            &west,
            "--workspace",
            "secondary",
        ];
        ok(&tandem(&repo, &args))
    };
    let out = import_west();
    assert!(
        out.contains(&format!("secondary  imported jobs.etl ← {west}")),
        "{out}"
    );
    assert_eq!(
        tags(&repo, "secondary", &west),
        json!({"team": "data", "managed-by": "tandem", "tandem-env": "test", "tandem-key": "etl"}),
        "tagged, its own tags kept"
    );
    let out = import_west();
    assert!(
        out.contains(&format!("jobs.etl is {west} already: nothing to import")),
        "{out}"
    );
    // The plan edits the imported job in place (its name), never creates a second one there.
    let plan = ok(&tandem(&repo, &["plan", "--format", "json"]));
    let plan: Value = serde_json::from_str(&plan).expect("plan JSON");
    let secondary = plan["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .find(|w| w["workspace"] == "secondary")
        .expect("secondary")
        .clone();
    let etl: Vec<&Value> = secondary["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["resource"]["key"] == "etl")
        .collect();
    assert_eq!(etl.len(), 1, "{etl:?}");
    assert_eq!(etl[0]["action"]["type"], "update");
    assert_eq!(etl[0]["action"]["id"], west.as_str());

    let refused = |args: &[&str], message: &str| {
        let mut all = vec!["import"];
        all.extend_from_slice(args);
        let run = tandem(&repo, &all);
        let err = run.failure();
        assert!(err.contains(message), "{args:?}: no `{message}` in:\n{err}");
    };
    refused(
        &["jobs.etl", "--id", &other, "--workspace", "secondary"],
        &format!("jobs.etl is managed already in workspace secondary: object {west}"),
    );
    refused(
        &["jobs.nope", "--id", &other, "--workspace", "secondary"],
        "`jobs.nope` names no resource of the configuration",
    );
    refused(
        &["jobs.etl", "--id", &staging, "--workspace", "primary"],
        &format!("object {staging} is managed by tandem for environment staging"),
    );
    refused(
        &["jobs.etl", "--id", "999999", "--workspace", "primary"],
        "workspace primary has no job with ID 999999",
    );
    refused(
        &["jobs.etl", "--id", &west, "--workspace", "tertiary"],
        "no workspace `tertiary`",
    );
    refused(
        &[
            "secret_scopes.keys",
            "--id",
            "nope",
            "--workspace",
            "primary",
        ],
        "secret_scopes.keys is the scope named keys, not nope",
    );
    assert_eq!(tags(&repo, "primary", &staging), staging_tags);
    assert_eq!(tags(&repo, "secondary", &other), json!({}));
    with_local(&repo, "primary", |ws| assert!(ws.state_record().is_none()));

    // A scope is imported by its name: recorded as tandem's (and so deleted when removed).
    with_local(&repo, "primary", |ws| {
        ws.post("/api/2.0/secrets/scopes/create", json!({"scope": "keys"}));
    });
    let out = ok(&tandem(
        &repo,
        &[
            "import",
            "secret_scopes.keys",
            "--id",
            "keys",
            "--workspace",
            "primary",
        ],
    ));
    assert!(
        out.contains("primary  imported secret_scopes.keys ← keys"),
        "{out}"
    );
    with_local(&repo, "primary", |ws| {
        assert_eq!(ws.record()["managed_scopes"], json!(["keys"]));
        assert!(ws.lock().is_none(), "the lock is given back");
    });
}
