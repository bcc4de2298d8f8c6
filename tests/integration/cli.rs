//! One command line: `--detailed-exitcode` with one meaning, no write without a terminal unless
//! `--auto-approve`, `--target` narrowing all a plan prints, `--color`, and authentication
//! failures told apart from unreachable workspaces.

use serde_json::{Value, json};

use super::harness::{Emulator, PAIR_ENV, TestRepo, ok, remote_env, with_local};

const TWO_JOBS: &str = r#"resources:
  jobs:
    etl:
      name: etl
      max_concurrent_runs: 2
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/main}
    report:
      name: report
      max_concurrent_runs: 3
      schedule: {quartz_cron_expression: "0 0 4 * * ?", timezone_id: UTC}
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/etl/report}
"#;

fn applied(resources: &str) -> TestRepo {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", resources);
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    repo
}

/// The resources (`kind.key`) the overrides of a JSON plan name.
fn override_resources(plan: &Value) -> Vec<String> {
    plan["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .flat_map(|w| w["overrides"].as_array().expect("overrides").iter())
        .map(|o| {
            let r = &o["resource"];
            format!(
                "{}.{}",
                r["kind"].as_str().expect("kind"),
                r["key"].as_str().expect("key")
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Confirmation: nothing written without a terminal unless --auto-approve
// ---------------------------------------------------------------------------------------------

#[test]
fn apply_without_a_terminal_writes_nothing_unless_auto_approved() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", TWO_JOBS);
    let err = repo.tandem(&["-e", "test", "apply"]).failure();
    assert!(
        err.contains("there is no terminal to confirm it: nothing was changed"),
        "{err}"
    );
    assert!(err.contains("--auto-approve"), "{err}");
    for name in ["primary", "secondary"] {
        with_local(&repo, name, |ws| {
            assert!(ws.jobs().is_empty(), "{name}: nothing created");
            assert!(ws.lock().is_none(), "{name}: the lock was given back");
        });
    }
    // Nothing to change needs no confirmation.
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    let out = ok(&repo.tandem(&["-e", "test", "apply"]));
    assert!(out.contains("No changes"), "{out}");
}

#[test]
fn on_a_terminal_apply_asks_and_only_yes_writes() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", TWO_JOBS);
    let args = ["-e", "test", "apply"];
    let no = repo.tandem_on_terminal(&args, &[], "no");
    assert_eq!(no.code(), 1, "{}", no.stdout());
    assert!(
        no.stdout()
            .contains("Apply these changes to 2 workspace(s)?")
    );
    assert!(no.stdout().contains("apply cancelled"), "{}", no.stdout());
    with_local(&repo, "primary", |ws| assert!(ws.jobs().is_empty()));
    let yes = repo.tandem_on_terminal(&args, &[], "yes");
    assert_eq!(yes.code(), 0, "{}", yes.stdout());
    with_local(&repo, "primary", |ws| assert_eq!(ws.jobs().len(), 2));
}

#[test]
fn promote_unlock_and_adopt_without_a_terminal_write_nothing_unless_auto_approved() {
    let repo = applied(TWO_JOBS);

    let err = repo
        .tandem(&["-e", "test", "promote", "secondary", "--no-commit"])
        .failure();
    assert!(
        err.contains("there is no terminal to confirm the promotion: nothing was changed"),
        "{err}"
    );
    with_local(&repo, "secondary", |ws| {
        assert_eq!(ws.record()["role"], "passive", "not promoted");
        assert_eq!(ws.job_settings("etl")["max_concurrent_runs"], 0);
    });

    let lock = json!({"id": "0123456789abcdef", "holder": "dead@ci", "operation": "apply",
        "since": "2026-01-02T03:04:05Z", "expires_ms": 1_000, "since_ms": 0});
    with_local(&repo, "secondary", |ws| {
        ws.write_file_json("/Shared/.tandem/test/lock.json", &lock)
    });
    let err = repo
        .tandem(&["-e", "test", "unlock", "secondary"])
        .failure();
    assert!(err.contains("there is no terminal"), "{err}");
    with_local(&repo, "secondary", |ws| {
        assert!(ws.lock().is_some(), "kept")
    });
    let out = ok(&repo.tandem(&["-e", "test", "unlock", "secondary", "--auto-approve"]));
    assert!(out.contains("dead@ci"), "{out}");
    with_local(&repo, "secondary", |ws| {
        assert!(ws.lock().is_none(), "broken")
    });
    let out = ok(&repo.tandem(&["-e", "test", "unlock", "secondary"]));
    assert!(out.contains("secondary is not locked"), "{out}");

    // An object made by hand with a configured name, for adopt to take over.
    repo.write(
        "resources/r.yaml",
        &format!(
            "{TWO_JOBS}    manual:\n      name: manual\n      tasks:\n        - task_key: main\n          notebook_task: {{notebook_path: /Repos/etl/manual}}\n"
        ),
    );
    let hand_made = json!({"name": "manual", "tasks": [{"task_key": "main",
        "notebook_task": {"notebook_path": "/Repos/etl/manual"}}]});
    with_local(&repo, "primary", |ws| {
        ws.post("/api/2.2/jobs/create", hand_made);
    });
    let run = repo.tandem(&["-e", "test", "adopt"]);
    let err = run.failure();
    assert!(
        run.stdout().contains("adopt jobs.manual"),
        "{}",
        run.stdout()
    );
    assert!(err.contains("there is no terminal to confirm it"), "{err}");
    with_local(&repo, "primary", |ws| {
        assert!(ws.find("jobs", "manual").is_none(), "not adopted");
    });
    ok(&repo.tandem(&["-e", "test", "adopt", "--auto-approve"]));
    with_local(&repo, "primary", |ws| {
        assert!(ws.find("jobs", "manual").is_some(), "adopted");
    });
}

// ---------------------------------------------------------------------------------------------
// --detailed-exitcode: 2 only with the flag, on plan, apply, drift and readiness alike
// ---------------------------------------------------------------------------------------------

#[test]
fn detailed_exitcode_means_changes_made_on_apply_and_not_ready_on_readiness() {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/r.yaml", TWO_JOBS)
        .file(".gitignore", ".tandem/\n")
        .git_init();
    repo.commit("two jobs");
    let code = |args: &[&str]| {
        let mut all = vec!["-e", "test"];
        all.extend_from_slice(args);
        repo.tandem(&all).code()
    };
    // Never applied: not ready, which is a verdict (0), not an error, without the flag.
    assert_eq!(code(&["readiness"]), 0);
    assert_eq!(code(&["readiness", "--detailed-exitcode"]), 2);
    assert_eq!(code(&["plan", "--detailed-exitcode"]), 2);
    assert_eq!(code(&["apply", "--auto-approve", "--detailed-exitcode"]), 2);
    assert_eq!(code(&["apply", "--auto-approve", "--detailed-exitcode"]), 0);
    assert_eq!(code(&["apply", "--auto-approve"]), 0);
    assert_eq!(code(&["plan", "--detailed-exitcode"]), 0);
    assert_eq!(code(&["readiness", "--detailed-exitcode"]), 0);
    assert_eq!(code(&["drift", "--detailed-exitcode"]), 0);
    with_local(&repo, "secondary", |ws| {
        ws.update_job("etl", json!({"max_concurrent_runs": 5}))
    });
    assert_eq!(code(&["drift"]), 0);
    assert_eq!(code(&["drift", "--detailed-exitcode"]), 2);
    assert_eq!(code(&["readiness"]), 0);
    assert_eq!(code(&["readiness", "--detailed-exitcode"]), 2);
}

// ---------------------------------------------------------------------------------------------
// --target narrows everything plan prints
// ---------------------------------------------------------------------------------------------

#[test]
fn a_targeted_plan_shows_only_the_overrides_of_its_targets() {
    let repo = applied(TWO_JOBS);
    repo.write(
        "resources/r.yaml",
        &TWO_JOBS
            .replace("max_concurrent_runs: 2", "max_concurrent_runs: 4")
            .replace("max_concurrent_runs: 3", "max_concurrent_runs: 6"),
    );
    let whole: Value = serde_json::from_str(&ok(
        &repo.tandem(&["-e", "test", "plan", "--format", "json"])
    ))
    .expect("json");
    let all = override_resources(&whole);
    assert!(all.contains(&"jobs.report".to_string()), "{all:?}");
    let targeted = ["-e", "test", "plan", "--target", "jobs.etl"];
    let text = ok(&repo.tandem(&targeted));
    assert!(!text.contains("jobs.report"), "{text}");
    assert!(
        text.contains("jobs.etl max_concurrent_runs: 0 (built-in; configured 4)"),
        "{text}"
    );
    let mut json_args = targeted.to_vec();
    json_args.extend(["--format", "json"]);
    let plan: Value = serde_json::from_str(&ok(&repo.tandem(&json_args))).expect("json");
    let narrowed = override_resources(&plan);
    assert!(!narrowed.is_empty(), "{plan:#}");
    assert!(narrowed.iter().all(|r| r == "jobs.etl"), "{narrowed:?}");
    let last = json_args.len() - 1;
    json_args[last] = "markdown";
    let markdown = ok(&repo.tandem(&json_args));
    assert!(!markdown.contains("jobs.report"), "{markdown}");
}

// ---------------------------------------------------------------------------------------------
// --color
// ---------------------------------------------------------------------------------------------

#[test]
fn color_always_colours_a_pipe_and_never_or_no_color_keep_a_terminal_plain() {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", TWO_JOBS);
    let escape = "\x1b[";
    // The harness sets NO_COLOR: auto into a pipe is plain, always is not.
    let plain = ok(&repo.tandem(&["-e", "test", "plan"]));
    assert!(!plain.contains(escape), "{plain}");
    let always = ok(&repo.tandem(&["-e", "test", "--color", "always", "plan"]));
    assert!(always.contains(escape), "{always}");
    // On a terminal: auto colours unless NO_COLOR is set; never does not.
    let on_terminal = |args: &[&str], no_color: &str| {
        let run = repo.tandem_on_terminal(args, &[("NO_COLOR", no_color)], "");
        assert_eq!(run.code(), 0, "{}", run.stdout());
        run.stdout()
    };
    assert!(on_terminal(&["-e", "test", "plan"], "").contains(escape));
    assert!(!on_terminal(&["-e", "test", "plan"], "1").contains(escape));
    assert!(!on_terminal(&["-e", "test", "--color", "never", "plan"], "").contains(escape));
    // Errors follow it too.
    let err = repo
        .tandem(&["-e", "nope", "--color", "always", "plan"])
        .failure();
    assert!(err.contains(escape), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Authentication failures are not "unreachable"
// ---------------------------------------------------------------------------------------------

#[test]
fn refused_or_missing_credentials_are_authentication_failures_not_unreachable() {
    let dir = tempfile::tempdir().expect("dir");
    let primary = Emulator::spawn(&dir.path().join("primary.json"), &["--token", "right"]);
    let mut secondary = Emulator::spawn(&dir.path().join("secondary.json"), &["--token", "right"]);
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", TWO_JOBS);
    let wrong = [("TANDEM_TEST_TOKEN", "wrong")];

    let status = repo.tandem_env(&["-e", "test", "status"], &wrong);
    let out = status.stdout();
    assert_eq!(status.code(), 1, "{out}");
    assert_eq!(out.matches("AUTHENTICATION FAILED").count(), 2, "{out}");
    assert!(!out.contains("UNREACHABLE"), "{out}");
    let json = repo.tandem_env(&["-e", "test", "status", "--format", "json"], &wrong);
    let report: Value = serde_json::from_str(&json.stdout()).expect("json");
    assert_eq!(report["workspaces"][0]["authentication_failed"], true);

    // No token at all is an authentication failure too.
    let missing = repo.tandem(&["-e", "test", "status"]).stdout();
    assert_eq!(
        missing.matches("AUTHENTICATION FAILED").count(),
        2,
        "{missing}"
    );
    assert!(missing.contains("TANDEM_TEST_TOKEN"), "{missing}");

    let plan = repo.tandem_env(&["-e", "test", "plan"], &wrong);
    assert_eq!(plan.code(), 1);
    assert!(
        plan.stdout().contains("primary    authentication failed: "),
        "{}",
        plan.stdout()
    );
    let markdown = repo.tandem_env(&["-e", "test", "plan", "--format", "markdown"], &wrong);
    assert!(
        markdown.stdout().contains("**authentication failed:**"),
        "{}",
        markdown.stdout()
    );
    let plan_json = repo.tandem_env(&["-e", "test", "plan", "--format", "json"], &wrong);
    let plan_json: Value = serde_json::from_str(&plan_json.stdout()).expect("json");
    assert_eq!(
        plan_json["failures"][0]["authentication"], true,
        "{plan_json:#}"
    );

    let readiness = repo.tandem_env(&["-e", "test", "readiness", "--format", "json"], &wrong);
    assert_eq!(readiness.code(), 1);
    let readiness: Value = serde_json::from_str(&readiness.stdout()).expect("json");
    let checks = readiness["checks"].as_array().expect("checks");
    assert!(
        checks.iter().all(|c| c["check"] == "authenticated"),
        "{readiness:#}"
    );
    assert!(
        checks[0]["detail"]
            .as_str()
            .expect("detail")
            .starts_with("authentication failed: "),
        "{readiness:#}"
    );

    let apply = repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], &wrong);
    assert_eq!(apply.code(), 1);
    assert!(
        apply
            .stdout()
            .contains("primary  not applied: authentication failed: "),
        "{}",
        apply.stdout()
    );

    // A workspace that is down is still unreachable.
    secondary.kill();
    let right = [("TANDEM_TEST_TOKEN", "right")];
    let out = repo.tandem_env(&["-e", "test", "status"], &right).stdout();
    assert!(out.contains("UNREACHABLE"), "{out}");
    assert!(!out.contains("AUTHENTICATION FAILED"), "{out}");
}
