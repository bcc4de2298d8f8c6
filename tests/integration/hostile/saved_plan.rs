//! A plan saved at one commit and applied at another: what was reviewed is what is applied and
//! recorded, or nothing is.

use serde_json::Value;

use crate::harness::{PAIR_ENV, TestRepo, ok, with_local};

const JOBS: &str = r#"resources:
  jobs:
    etl:
      name: Saved ETL
      timeout_seconds: 600
      tasks:
        - task_key: ingest
          notebook_task: {notebook_path: /Repos/etl/ingest}
    report:
      name: Saved Report
      timeout_seconds: 60
      tasks:
        - task_key: render
          notebook_task: {notebook_path: /Repos/etl/render}
"#;

fn timeout(repo: &TestRepo, workspace: &str, job: &str) -> Value {
    with_local(repo, workspace, |ws| {
        ws.job_settings(job)["timeout_seconds"].clone()
    })
}

fn recorded_commit(repo: &TestRepo, workspace: &str) -> String {
    with_local(repo, workspace, |ws| {
        ws.record()["last_applied"]["commit"].clone()
    })
    .as_str()
    .expect("a commit")
    .to_string()
}

/// The jobs applied at a first commit, then commit A (etl's timeout 900) planned into
/// `plan.json`: the repository, A's SHA and the plan file's path.
fn planned_at_a() -> (TestRepo, String, String) {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/r.yaml", JOBS)
        .git_init();
    repo.commit("jobs");
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    repo.write("resources/r.yaml", &JOBS.replace("600", "900"));
    let a = repo.commit("etl: 900");
    let plan = repo
        .path()
        .join("plan.json")
        .to_str()
        .expect("utf-8")
        .to_string();
    ok(&repo.tandem(&["-e", "test", "plan", "--out", &plan]));
    (repo, a, plan)
}

#[test]
fn a_plan_applied_after_its_resources_changed_is_refused_unless_allowed() {
    let (repo, a, plan) = planned_at_a();
    let plan_arg = plan.as_str();
    let saved: Value = serde_json::from_slice(&std::fs::read(&plan).expect("plan")).expect("json");
    assert_eq!(saved["config_commit"], a.as_str());

    // Commit B changes etl again before the plan is applied.
    repo.write("resources/r.yaml", &JOBS.replace("600", "1200"));
    let b = repo.commit("etl: 1200");
    let run = repo.tandem(&["-e", "test", "apply", plan_arg, "--auto-approve"]);
    let err = run.failure();
    assert!(err.contains(&a[..7]), "names the plan's commit: {err}");
    assert!(err.contains("jobs.etl"), "names what differs: {err}");
    assert!(err.contains("--allow-stale-config"), "{err}");
    assert_eq!(timeout(&repo, "primary", "etl"), 600, "nothing applied");

    // Allowed: the reviewed values go out, and the record names the commit they came from.
    ok(&repo.tandem(&[
        "-e",
        "test",
        "apply",
        plan_arg,
        "--auto-approve",
        "--allow-stale-config",
    ]));
    for workspace in ["primary", "secondary"] {
        assert_eq!(timeout(&repo, workspace, "etl"), 900, "{workspace}");
        assert_eq!(recorded_commit(&repo, workspace), a, "{workspace}");
        assert_ne!(recorded_commit(&repo, workspace), b);
    }
}

#[test]
fn a_plan_applied_after_unrelated_changes_records_its_own_commit() {
    let (repo, a, plan) = planned_at_a();
    let plan_arg = plan.as_str();

    // B touches only a resource the plan leaves alone.
    repo.write(
        "resources/r.yaml",
        &JOBS
            .replace("600", "900")
            .replace("timeout_seconds: 60\n", "timeout_seconds: 90\n"),
    );
    repo.commit("report: 90");
    ok(&repo.tandem(&["-e", "test", "apply", plan_arg, "--auto-approve"]));
    for workspace in ["primary", "secondary"] {
        assert_eq!(timeout(&repo, workspace, "etl"), 900, "{workspace}");
        assert_eq!(
            timeout(&repo, workspace, "report"),
            60,
            "{workspace}: not in the plan"
        );
        assert_eq!(recorded_commit(&repo, workspace), a, "{workspace}");
    }
}
