//! Plans and applies without secret values (a pull request's plan, a scheduled job): a secret
//! whose source is absent in this run is "not compared" — shown, never a change, never written —
//! and apply refuses it unless `--skip-absent-secrets`. Real (not embedded) workspaces: embedded
//! ones give an absent source a placeholder value.

use std::path::PathBuf;

use serde_json::Value;

use super::harness::{Emulator, TestRepo, ok, remote_env};

const TOKEN: (&str, &str) = ("TANDEM_TEST_TOKEN", "dev");
const PASSWORD: &str = "absent-secrets-password-1";

/// Two emulated workspaces, and a configuration with a job and a scope whose `db_password`
/// comes from `TANDEM_TEST_DB` and `api_key` from a file outside the repository.
struct Pair {
    _primary: Emulator,
    _secondary: Emulator,
    repo: TestRepo,
    api_key: PathBuf,
    _dir: tempfile::TempDir,
}

impl Pair {
    fn new() -> Pair {
        let dir = tempfile::tempdir().expect("dir");
        let primary = Emulator::spawn(&dir.path().join("primary.json"), &[]);
        let secondary = Emulator::spawn(&dir.path().join("secondary.json"), &[]);
        let api_key = dir.path().join("api_key");
        std::fs::write(&api_key, "absent-secrets-api-key").expect("write");
        let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
            .file("resources/r.yaml", &resources(&api_key, 600, ""));
        Pair {
            _primary: primary,
            _secondary: secondary,
            repo,
            api_key,
            _dir: dir,
        }
    }

    /// Applied with every value present.
    fn applied() -> Pair {
        let pair = Pair::new();
        ok(&pair.run(
            &["apply", "--auto-approve"],
            &[("TANDEM_TEST_DB", PASSWORD)],
        ));
        pair
    }

    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> super::harness::TandemRun {
        let mut all = vec!["-e", "test"];
        all.extend_from_slice(args);
        let mut vars = vec![TOKEN];
        vars.extend_from_slice(envs);
        self.repo.tandem_env(&all, &vars)
    }

    fn write_resources(&self, timeout: u32, extra_secret: &str) {
        self.repo.write(
            "resources/r.yaml",
            &resources(&self.api_key, timeout, extra_secret),
        );
    }

    /// `scope key → last_updated_timestamp` of the scope in `workspace`.
    fn secrets(&self, workspace: &str) -> std::collections::BTreeMap<String, i64> {
        let url = if workspace == "primary" {
            &self._primary.url
        } else {
            &self._secondary.url
        };
        super::harness::Ws::remote(url, "dev").secrets("absent-etl")
    }
}

fn resources(api_key: &std::path::Path, timeout: u32, extra_secret: &str) -> String {
    format!(
        r#"resources:
  jobs:
    etl:
      name: etl
      timeout_seconds: {timeout}
      tasks:
        - task_key: main
          notebook_task: {{notebook_path: /Repos/etl/main}}
  secret_scopes:
    etl:
      name: absent-etl
      secrets:
        db_password: {{env: TANDEM_TEST_DB}}
        api_key: {{file: {}}}
{extra_secret}"#,
        api_key.display()
    )
}

fn json(run: &super::harness::TandemRun) -> Value {
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}:\n{}", run.all_output()))
}

/// `(workspace, key, exists)` of every secret a JSON plan does not compare.
fn not_compared(plan: &Value) -> Vec<(String, String, bool)> {
    plan["workspaces"]
        .as_array()
        .expect("workspaces")
        .iter()
        .flat_map(|w| {
            w["not_compared"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |s| {
                    (
                        w["workspace"].as_str().expect("workspace").to_string(),
                        s["key"].as_str().expect("key").to_string(),
                        s["exists"].as_bool().expect("exists"),
                    )
                })
        })
        .collect()
}

/// Whether the error (as miette wraps it) says `expected`: compared without whitespace and the
/// frame miette draws.
fn says(err: &str, expected: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect()
    };
    squash(err).contains(&squash(expected))
}

fn triples(items: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    items
        .iter()
        .map(|(w, k, e)| (w.to_string(), k.to_string(), *e))
        .collect()
}

#[test]
fn a_plan_without_secret_values_compares_none_and_exits_0_on_an_unchanged_repo() {
    let pair = Pair::applied();
    std::fs::remove_file(&pair.api_key).expect("remove");
    // Not set, and set but empty (what CI gives for a missing secret): the same.
    for envs in [&[][..], &[("TANDEM_TEST_DB", "")][..]] {
        let run = pair.run(&["plan", "--detailed-exitcode"], envs);
        let text = run.stdout();
        assert_eq!(run.code(), 0, "{}", run.all_output());
        for workspace in ["primary", "secondary"] {
            assert!(
                text.contains(&format!(
                    "{workspace:9}  ? secret absent-etl/db_password: not compared (environment variable TANDEM_TEST_DB is not set or empty)\n"
                )),
                "{text}"
            );
            assert!(
                text.contains(&format!(
                    "{workspace:9}  no changes (2 secret(s) not compared)"
                )),
                "{text}"
            );
        }
        assert!(
            text.contains(&format!(
                "? secret absent-etl/api_key: not compared (cannot read {}",
                pair.api_key.display()
            )),
            "{text}"
        );
        assert!(!text.contains("put secret"), "{text}");
    }
    let run = pair.run(&["plan", "--format", "json"], &[]);
    let plan = json(&run);
    // The JSON contract describes them.
    super::json_output::assert_valid("plan", "plan without secret values", &run.stdout());
    assert_eq!(
        not_compared(&plan),
        triples(&[
            ("primary", "api_key", true),
            ("primary", "db_password", true),
            ("secondary", "api_key", true),
            ("secondary", "db_password", true),
        ])
    );
    assert_eq!(
        plan["workspaces"][0]["not_compared"][1]["source"]["env"],
        "TANDEM_TEST_DB"
    );
    let markdown = pair.run(
        &["plan", "--format", "markdown", "--detailed-exitcode"],
        &[],
    );
    assert_eq!(markdown.code(), 0);
    let markdown = markdown.stdout();
    assert!(
        markdown.contains("- `primary` ? secret absent-etl/db_password: not compared"),
        "{markdown}"
    );
    assert!(
        markdown.contains("No changes: every workspace matches the configuration, as far as this run can compare it."),
        "{markdown}"
    );
    // Not drift either: nothing differs that this run can see.
    assert_eq!(pair.run(&["drift", "--detailed-exitcode"], &[]).code(), 0);
    // With the values again: compared, and equal.
    std::fs::write(&pair.api_key, "absent-secrets-api-key").expect("write");
    let run = pair.run(
        &["plan", "--detailed-exitcode"],
        &[("TANDEM_TEST_DB", PASSWORD)],
    );
    assert_eq!(run.code(), 0, "{}", run.stdout());
    assert!(!run.stdout().contains("not compared"), "{}", run.stdout());
}

#[test]
fn apply_refuses_absent_sources_unless_told_to_skip_them_and_never_writes_them() {
    let pair = Pair::applied();
    let before = (pair.secrets("primary"), pair.secrets("secondary"));
    pair.write_resources(900, "");
    let run = pair.run(&["apply", "--auto-approve"], &[("TANDEM_TEST_DB", "")]);
    let err = run.failure();
    assert!(
        says(
            &err,
            "2 secret(s) have no value in this run, so apply cannot compare or write them: primary: absent-etl/db_password (environment variable TANDEM_TEST_DB is not set or empty); secondary: absent-etl/db_password"
        ),
        "{err}"
    );
    assert!(says(&err, "--skip-absent-secrets"), "{err}");
    assert!(!run.all_output().contains(PASSWORD), "never a value");
    let plan = json(&pair.run(&["plan", "--format", "json"], &[]));
    assert_eq!(
        plan["workspaces"][0]["actions"][0]["action"]["type"], "update",
        "nothing applied: {plan:#}"
    );

    let run = pair.run(
        &[
            "apply",
            "--auto-approve",
            "--skip-absent-secrets",
            "--detailed-exitcode",
        ],
        &[],
    );
    let out = run.stdout();
    assert_eq!(run.code(), 2, "{}", run.all_output());
    assert!(
        out.contains("primary  skipped secret absent-etl/db_password: not compared (environment variable TANDEM_TEST_DB is not set or empty) (--skip-absent-secrets)"),
        "{out}"
    );
    assert_eq!(
        (pair.secrets("primary"), pair.secrets("secondary")),
        before,
        "no secret written"
    );
    // The job change went out; with the values, nothing is left to do.
    let run = pair.run(
        &["plan", "--detailed-exitcode"],
        &[("TANDEM_TEST_DB", PASSWORD)],
    );
    assert_eq!(run.code(), 0, "{}", run.stdout());
    let run = pair.run(&["apply", "--skip-absent-secrets"], &[]);
    assert!(
        run.success()
            .contains("No changes to what this run could compare."),
        "{}",
        run.stdout()
    );
}

#[test]
fn a_new_secret_without_a_value_is_not_compared_and_never_created() {
    let pair = Pair::applied();
    pair.write_resources(600, "        new_key: {env: TANDEM_TEST_NEW}\n");
    let with_db = [("TANDEM_TEST_DB", PASSWORD)];
    let run = pair.run(&["plan", "--detailed-exitcode"], &with_db);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    assert!(
        run.stdout().contains(
            "? secret absent-etl/new_key: not compared (environment variable TANDEM_TEST_NEW is not set or empty); not in the workspace yet: applying needs the value to create it"
        ),
        "{}",
        run.stdout()
    );
    let plan = json(&pair.run(&["plan", "--format", "json"], &with_db));
    assert_eq!(
        not_compared(&plan),
        triples(&[
            ("primary", "new_key", false),
            ("secondary", "new_key", false)
        ])
    );
    // The workspace lacks a configured secret: that is drift, value or not.
    let drift = pair.run(&["drift", "--detailed-exitcode"], &with_db);
    assert_eq!(drift.code(), 2, "{}", drift.stdout());
    assert!(
        drift.stdout().contains("secret new_key does not exist"),
        "{}",
        drift.stdout()
    );
    let err = pair.run(&["apply", "--auto-approve"], &with_db).failure();
    assert!(says(&err, "primary: absent-etl/new_key"), "{err}");
    ok(&pair.run(
        &["apply", "--auto-approve", "--skip-absent-secrets"],
        &with_db,
    ));
    assert!(
        !pair.secrets("primary").contains_key("new_key"),
        "not created"
    );
    // With a value it is a change, and apply creates it.
    let with_both = [
        ("TANDEM_TEST_DB", PASSWORD),
        ("TANDEM_TEST_NEW", "new-value"),
    ];
    assert_eq!(
        pair.run(&["plan", "--detailed-exitcode"], &with_both)
            .code(),
        2
    );
    ok(&pair.run(&["apply", "--auto-approve"], &with_both));
    assert!(pair.secrets("secondary").contains_key("new_key"));
    assert_eq!(
        pair.run(&["plan", "--detailed-exitcode"], &with_both)
            .code(),
        0
    );
}

#[test]
fn a_saved_plan_records_secrets_not_compared_and_applying_it_compares_them_where_set() {
    let pair = Pair::applied();
    pair.write_resources(900, "");
    let plan_file = pair.repo.path().join("plan.json");
    let plan_arg = plan_file.to_str().expect("utf-8");
    // The pull request's plan: no secret values.
    ok(&pair.run(&["plan", "--out", plan_arg], &[]));
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).expect("read")).expect("json");
    assert_eq!(
        not_compared(&saved),
        triples(&[
            ("primary", "db_password", true),
            ("secondary", "db_password", true)
        ])
    );
    assert!(
        saved["workspaces"][0]["config_digests"]
            .get("secret_scopes.etl")
            .is_some(),
        "{saved:#}"
    );
    // Applied where the value is still absent: refused, as a live apply.
    let err = pair
        .run(&["apply", plan_arg, "--auto-approve"], &[])
        .failure();
    assert!(says(&err, "primary: absent-etl/db_password"), "{err}");
    // Applied where the value is set (the apply job): the reviewed changes go out and the
    // secret is compared then: a new value is written.
    let rotated = [("TANDEM_TEST_DB", "absent-secrets-password-2")];
    let run = pair.run(&["apply", plan_arg, "--auto-approve"], &rotated);
    let out = run.success();
    assert!(out.contains("put secret secret_scopes.etl"), "{out}");
    assert!(
        !out.contains("absent-secrets-password"),
        "never a value: {out}"
    );
    assert_eq!(
        pair.run(&["plan", "--detailed-exitcode"], &rotated).code(),
        0
    );
    let old = [("TANDEM_TEST_DB", PASSWORD)];
    assert_eq!(
        pair.run(&["plan", "--detailed-exitcode"], &old).code(),
        2,
        "the rotated value was written"
    );

    // A saved plan made with the values puts the secret; applied without them it is refused,
    // or skipped when told.
    ok(&pair.run(&["plan", "--out", plan_arg], &old));
    let err = pair
        .run(&["apply", plan_arg, "--auto-approve"], &[])
        .failure();
    assert!(says(&err, "secondary: absent-etl/db_password"), "{err}");
    let before = pair.secrets("primary");
    let out = ok(&pair.run(
        &["apply", plan_arg, "--auto-approve", "--skip-absent-secrets"],
        &[],
    ));
    assert!(
        out.contains("skipped secret absent-etl/db_password"),
        "{out}"
    );
    assert_eq!(pair.secrets("primary"), before, "nothing written");
}
