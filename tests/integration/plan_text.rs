//! What reviewers read: the text of `tandem plan` (and its Markdown pull-request form) as insta
//! snapshots, for the repository's own examples and for hand-made situations on a small config.
//! A change to the planner or its renderers that alters a plan's wording, order or content shows
//! up here as a snapshot diff, so it is seen and judged rather than slipped in.
//!
//! Every run uses the real binary against emulated workspaces (embedded `local:` ones, or
//! `tandem emulator` subprocesses where a test needs a workspace without placeholder secrets or
//! one that stops answering). What differs from run to run (object IDs, ports, commit SHAs,
//! which read failed first) is masked by [`FILTERS`]; everything else must be stable.

use serde_json::json;

use super::harness::{
    Emulator, PAIR_ENV, TRIO_ENV, TandemRun, TestRepo, ok, remote_env, with_local,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Masks for what legitimately varies between runs; nothing else is masked, so a snapshot shows
/// tandem's output as it is. (Applied here with `regex`: insta's own `filters` need a crate
/// feature the project does not enable.)
const FILTERS: &[(&str, &str)] = &[
    // Emulated pool and cluster IDs carry the creation time (`MMDD-HHMMSS-<word><seq>`).
    (r"\b\d{4}-\d{6}-[a-z]+\d+-pool-[A-Z0-9]{8}\b", "[POOL_ID]"),
    (r"\b\d{4}-\d{6}-[a-z]+\d+\b", "[CLUSTER_ID]"),
    // Job IDs follow creation order, and apply creates jobs concurrently.
    (r"\b10000\d{4}\b", "[JOB_ID]"),
    // A Git commit in the header.
    (r"config [0-9a-f]{7}\b", "config [SHA]"),
    // External emulators listen on any free port.
    (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
    // Against an unreachable workspace the first reads (caller, lists) race: any may fail first.
    (
        r"GET /api/\S+: connection failed",
        "GET [the first read to fail]: connection failed",
    ),
];

/// Snapshots a plan under `name`, with [`FILTERS`] applied and `scenario` as the snapshot's
/// description (what a reviewer of the `.snap` file should expect to see).
fn assert_plan(name: &str, scenario: &str, text: &str) {
    let masked = FILTERS
        .iter()
        .fold(text.to_string(), |text, (pattern, mask)| {
            regex::Regex::new(pattern)
                .expect("filter pattern")
                .replace_all(&text, *mask)
                .into_owned()
        });
    insta::with_settings!({
        description => scenario,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, masked);
    });
}

/// Snapshots a plan as text (`name`) and as a pull-request comment (`<name>_markdown`);
/// `plan(extra)` runs `tandem plan` with `extra` arguments and returns what it printed.
fn assert_plan_and_comment(name: &str, scenario: &str, plan: impl Fn(&[&str]) -> String) {
    assert_plan(name, scenario, &plan(&[]));
    assert_plan(
        &format!("{name}_markdown"),
        &format!("as a pull-request comment: {scenario}"),
        &plan(&["--format", "markdown"]),
    );
}

/// `tandem -e test <args>` with `envs`.
fn tandem(repo: &TestRepo, args: &[&str], envs: &[(&str, &str)]) -> TandemRun {
    let mut all = vec!["-e", "test"];
    all.extend_from_slice(args);
    repo.tandem_env(&all, envs)
}

/// The text plan of environment `test`, which must succeed.
fn plan_text(repo: &TestRepo, envs: &[(&str, &str)]) -> String {
    ok(&tandem(repo, &["plan"], envs))
}

/// Applies environment `test` without asking, which must succeed.
fn apply(repo: &TestRepo, envs: &[(&str, &str)]) {
    ok(&tandem(repo, &["apply", "--auto-approve"], envs));
}

/// A pool, a cluster on it, a scheduled job on the cluster with grants, a job that keeps running
/// on the passive side through its `passive:` block, a plain job, and a scope with two secrets
/// and an ACL: every kind, and every built-in passive override. Secrets read variables no test
/// sets, so embedded workspaces get their placeholder values.
pub(super) const SMALL: &str = r#"resources:
  instance_pools:
    workers:
      instance_pool_name: workers
      node_type_id: Standard_DS3_v2
      min_idle_instances: 2
      max_capacity: 10
      idle_instance_autotermination_minutes: 15
      preloaded_spark_versions: [15.4.x-scala2.12]
      permissions:
        - {group_name: data-eng, level: CAN_ATTACH_TO}
  clusters:
    shared:
      cluster_name: shared
      spark_version: 15.4.x-scala2.12
      instance_pool_id: "${resources.instance_pools.workers.id}"
      num_workers: 2
      autotermination_minutes: 60
      permissions:
        - {group_name: analysts, level: CAN_ATTACH_TO}
        - {group_name: data-eng, level: CAN_RESTART}
  jobs:
    etl:
      name: etl
      max_concurrent_runs: 2
      timeout_seconds: 600
      schedule:
        quartz_cron_expression: "0 30 1 * * ?"
        timezone_id: UTC
        pause_status: UNPAUSED
      tasks:
        - task_key: main
          existing_cluster_id: "${resources.clusters.shared.id}"
          notebook_task: {notebook_path: /Repos/etl/main}
      permissions:
        - {user_name: etl-bot@example.com, level: IS_OWNER}
        - {group_name: data-eng, level: CAN_MANAGE_RUN}
        - {group_name: analysts, level: CAN_VIEW}
    heartbeat:
      name: heartbeat
      max_concurrent_runs: 1
      schedule:
        quartz_cron_expression: "0 */5 * * * ?"
        timezone_id: UTC
        pause_status: UNPAUSED
      passive:
        max_concurrent_runs: 1
        pause_status: UNPAUSED
        permissions: all
      tasks:
        - task_key: beat
          notebook_task: {notebook_path: /Repos/ops/heartbeat}
      permissions:
        - {group_name: platform-ops, level: CAN_MANAGE_RUN}
    report:
      name: report
      max_concurrent_runs: 1
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/report/main}
  secret_scopes:
    app:
      name: app
      secrets:
        db_password: {env: TANDEM_SNAP_DB_PASSWORD}
        api_key: {env: TANDEM_SNAP_API_KEY}
      acls:
        - {principal: data-eng, permission: READ}
"#;

/// Where [`SMALL`] lives in the test repositories.
pub(super) const SMALL_FILE: &str = "resources/small.yaml";

/// [`SMALL`] with each `(from, to)` replaced once; panics when `from` is not there, so a test
/// cannot silently stop changing what it claims to change.
pub(super) fn small_with(edits: &[(&str, &str)]) -> String {
    let mut text = SMALL.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} is not in the small config");
        text = text.replacen(from, to, 1);
    }
    text
}

/// A pair of embedded workspaces with [`SMALL`] applied to both, then the config edited as
/// [`small_with`] does.
fn small_pair_applied_then(edits: &[(&str, &str)]) -> TestRepo {
    let repo = TestRepo::with_env(PAIR_ENV).file(SMALL_FILE, SMALL);
    apply(&repo, &[]);
    repo.write(SMALL_FILE, &small_with(edits));
    repo
}

/// The report job's block in [`SMALL`].
pub(super) const REPORT_JOB: &str = "    report:
      name: report
      max_concurrent_runs: 1
      tasks:
        - task_key: main
          notebook_task: {notebook_path: /Repos/report/main}
";

// ---------------------------------------------------------------------------------------------
// The repository's own examples
// ---------------------------------------------------------------------------------------------

#[test]
fn the_examples_planned_from_empty_and_after_apply() {
    let repo = TestRepo::new()
        .copy_from_project("examples")
        .copy_from_project("environments");
    let local = |args: &[&str]| {
        let mut all = vec!["-e", "local"];
        all.extend_from_slice(args);
        ok(&repo.tandem(&all))
    };
    let plan = |extra: &[&str]| local(&[&["plan"][..], extra].concat());
    assert_plan_and_comment(
        "examples_from_empty",
        "environments/local.yaml and examples/ on two empty embedded workspaces",
        plan,
    );
    local(&["apply", "--auto-approve"]);
    assert_plan_and_comment(
        "examples_applied",
        "the examples once applied: nothing to do, the passive overrides only counted",
        plan,
    );
}

// ---------------------------------------------------------------------------------------------
// Hand-made situations on the small config
// ---------------------------------------------------------------------------------------------

#[test]
fn a_new_pair_shows_every_passive_override() {
    let repo = TestRepo::with_env(PAIR_ENV).file(SMALL_FILE, SMALL);
    assert_plan_and_comment(
        "small_from_empty",
        "the small config on an empty pair: the secondary's cluster terminated, pool without \
         idle instances, jobs paused at max_concurrent_runs 0 with only their owner's grant, \
         except the heartbeat job, whose passive: block keeps it running with all its grants; \
         in the comment each create's contents (collapsed), the secondary's as the fields in \
         which it differs from the primary's",
        |extra| ok(&tandem(&repo, &[&["plan"][..], extra].concat(), &[])),
    );
}

/// As CI plans a pull request: [`SMALL`] committed and applied, then edited as [`small_with`]
/// does and committed again.
fn pull_request(edits: &[(&str, &str)]) -> TestRepo {
    let repo = TestRepo::with_env(PAIR_ENV)
        .file(SMALL_FILE, SMALL)
        .git_init();
    repo.commit("base");
    apply(&repo, &[]);
    repo.write(SMALL_FILE, &small_with(edits));
    repo.commit("change");
    repo
}

/// `tandem plan --base HEAD~1` with `extra` arguments, which must succeed: the branch's files
/// marked.
fn plan_against_base(repo: &TestRepo, extra: &[&str]) -> String {
    let args = [&["plan", "--base", "HEAD~1"][..], extra].concat();
    ok(&tandem(repo, &args, &[]))
}

#[test]
fn a_changed_passive_block_is_an_override_change() {
    // A pull request that changes only what the secondary gets.
    let repo = pull_request(&[(
        "passive:\n        max_concurrent_runs: 1\n",
        "passive:\n        max_concurrent_runs: 3\n",
    )]);
    let plan = |extra: &[&str]| plan_against_base(&repo, extra);
    let comment = plan(&["--format", "markdown"]);
    assert!(
        comment.contains("| secondary | passive | 0 | 1 | 0 | 0 | 9 (**1 changing** ⚑) | 0 |"),
        "{comment}"
    );
    assert!(
        comment.contains(
            "| `jobs.heartbeat` | max_concurrent_runs | **3** | `passive:` block, `resources/small.yaml:39` | 1 | ⚑ **changes:** 1 → 3 |"
        ),
        "{comment}"
    );
    assert_plan_and_comment(
        "passive_block_changed",
        "the heartbeat job's passive: block raises max_concurrent_runs from 1 to 3: nothing \
         changes on the primary; on the secondary the update is shown as a passive override \
         changing (decided by the job's passive: block, where it is declared), first among the \
         changes and open in the comment",
        plan,
    );
}

#[test]
fn field_updates_in_a_pull_request() {
    let repo = pull_request(&[
        ("max_concurrent_runs: 2", "max_concurrent_runs: 4"),
        ("0 30 1 * * ?", "0 0 3 * * ?"),
        ("max_capacity: 10", "max_capacity: 20"),
        ("autotermination_minutes: 60", "autotermination_minutes: 30"),
    ]);
    assert_plan_and_comment(
        "updates",
        "etl's max_concurrent_runs 2 → 4 and cron changed, the pool's max_capacity and the \
         cluster's autotermination changed: updates on both sides, but the secondary keeps \
         max_concurrent_runs 0 (a passive override that does not change, listed with what \
         decided it)",
        |extra| plan_against_base(&repo, extra),
    );
}

#[test]
fn a_resource_removed_from_the_config_is_deleted() {
    let repo = small_pair_applied_then(&[(REPORT_JOB, "")]);
    assert_plan(
        "delete",
        "the report job removed from the config: deleted on both workspaces",
        &plan_text(&repo, &[]),
    );
}

#[test]
fn a_pool_field_that_cannot_be_edited_replaces_the_pool() {
    let repo = small_pair_applied_then(&[(
        "preloaded_spark_versions: [15.4.x-scala2.12]",
        "preloaded_spark_versions: [16.4.x-scala2.12]",
    )]);
    assert_plan(
        "replace",
        "preloaded_spark_versions is not editable: the pool is replaced, and the cluster on it \
         gets the new pool's ID once it exists",
        &plan_text(&repo, &[]),
    );
}

#[test]
fn grants_and_acls_added_and_removed() {
    let repo = small_pair_applied_then(&[
        // etl: a grant changed, one added, one removed (held back on the secondary).
        (
            "        - {group_name: data-eng, level: CAN_MANAGE_RUN}\n        - {group_name: analysts, level: CAN_VIEW}\n",
            "        - {group_name: data-eng, level: CAN_VIEW}\n        - {user_name: alice@example.com, level: CAN_MANAGE_RUN}\n",
        ),
        // The cluster: one removed (before the pool gains a line just like it: edits
        // replace the first match).
        (
            "        - {group_name: analysts, level: CAN_ATTACH_TO}\n",
            "",
        ),
        // The pool: one added.
        (
            "        - {group_name: data-eng, level: CAN_ATTACH_TO}\n",
            "        - {group_name: data-eng, level: CAN_ATTACH_TO}\n        - {group_name: analysts, level: CAN_ATTACH_TO}\n",
        ),
        // The scope: one ACL raised, one added.
        (
            "        - {principal: data-eng, permission: READ}\n",
            "        - {principal: data-eng, permission: WRITE}\n        - {principal: analysts, permission: READ}\n",
        ),
    ]);
    // And one scope ACL granted by hand, which the config does not list.
    with_local(&repo, "primary", |ws| {
        ws.post(
            "/api/2.0/secrets/acls/put",
            json!({"scope": "app", "principal": "carol@example.com", "permission": "MANAGE"}),
        );
    });
    assert_plan(
        "permissions",
        "grants changed on a job (the secondary holds back all but the owner, so only the \
         primary changes), added on the pool, removed from the cluster; scope ACLs raised, \
         added, and one granted by hand removed",
        &plan_text(&repo, &[]),
    );
}

#[test]
fn changes_made_by_hand_are_planned_back() {
    // The config unchanged: every change is in the workspaces.
    let repo = small_pair_applied_then(&[]);
    // On the active side: a field edited in the UI, a grant added, a scope ACL raised, a secret
    // rewritten, a job deleted.
    with_local(&repo, "primary", |ws| {
        ws.update_job("etl", json!({"timeout_seconds": 999}));
        ws.grant_on_job("etl", "bob@example.com", "CAN_MANAGE");
        ws.post(
            "/api/2.0/secrets/acls/put",
            json!({"scope": "app", "principal": "data-eng", "permission": "WRITE"}),
        );
        ws.post(
            "/api/2.0/secrets/put",
            json!({"scope": "app", "key": "db_password", "string_value": "rewritten by hand"}),
        );
        let report = ws.one("jobs", "report")["job_id"].clone();
        ws.post("/api/2.2/jobs/delete", json!({"job_id": report}));
    });
    // On the passive side, what a DR workspace must not do: the job unpaused and given
    // concurrency, the cluster started, the pool warmed.
    with_local(&repo, "secondary", |ws| {
        ws.update_job(
            "etl",
            json!({"max_concurrent_runs": 3, "schedule": {"quartz_cron_expression": "0 30 1 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"}}),
        );
        let cluster = ws.one("clusters", "shared")["cluster_id"].clone();
        ws.post("/api/2.1/clusters/start", json!({"cluster_id": cluster}));
        let pool = ws.one("instance_pools", "workers");
        ws.post(
            "/api/2.0/instance-pools/edit",
            json!({"instance_pool_id": pool["instance_pool_id"], "instance_pool_name": "workers",
                   "node_type_id": "Standard_DS3_v2", "min_idle_instances": 2, "max_capacity": 10,
                   "idle_instance_autotermination_minutes": 15,
                   "custom_tags": pool["custom_tags"]}),
        );
    });
    assert_plan(
        "drift",
        "changes made in the workspaces by hand, planned back to the config: on the primary a \
         field, a grant, an ACL and a deleted job (a secret rewritten by hand is not in the plan: \
         its recorded fingerprint still matches the source; `drift` reports it, `adopt` \
         rewrites it); on the secondary the passive overrides restored",
        &plan_text(&repo, &[]),
    );
}

#[test]
fn secrets_new_changed_unrecorded_not_compared_and_removed() {
    // External emulators: a real workspace gets no placeholder for a source it cannot read, so
    // "not compared" can be shown.
    let dir = tempfile::tempdir().expect("temp dir");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &[]);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &[]);
    let scope = |secrets: &str| {
        format!(
            "resources:\n  secret_scopes:\n    app:\n      name: app\n      secrets:\n{secrets}      acls:\n        - {{principal: data-eng, permission: READ}}\n"
        )
    };
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url)).file(
        "resources/secrets.yaml",
        &scope(
            "        db_password: {env: TANDEM_SNAP_DB_PASSWORD}\n        api_key: {env: TANDEM_SNAP_API_KEY}\n        old_key: {env: TANDEM_SNAP_OLD_KEY}\n",
        ),
    );
    let token = ("TANDEM_TEST_TOKEN", "dev");
    apply(
        &repo,
        &[
            token,
            ("TANDEM_SNAP_DB_PASSWORD", "first password"),
            ("TANDEM_SNAP_API_KEY", "first key"),
            ("TANDEM_SNAP_OLD_KEY", "old"),
        ],
    );
    // A secret someone wrote by hand before the config named it: tandem has no fingerprint.
    primary.client().post(
        "/api/2.0/secrets/put",
        json!({"scope": "app", "key": "legacy", "string_value": "by hand"}),
    );
    repo.write(
        "resources/secrets.yaml",
        &scope(
            "        db_password: {env: TANDEM_SNAP_DB_PASSWORD}\n        api_key: {env: TANDEM_SNAP_API_KEY}\n        legacy: {env: TANDEM_SNAP_LEGACY}\n        new_key: {env: TANDEM_SNAP_NEW_KEY}\n",
        ),
    );
    assert_plan(
        "secrets",
        "db_password's source now holds another value (changed), api_key's source is not set \
         (not compared: no action, listed apart), legacy was written by hand on the primary (unrecorded; new on the \
         secondary), new_key is new, old_key left the config (deleted); no value is shown",
        &plan_text(
            &repo,
            &[
                token,
                ("TANDEM_SNAP_DB_PASSWORD", "second password"),
                ("TANDEM_SNAP_LEGACY", "by hand"),
                ("TANDEM_SNAP_NEW_KEY", "new"),
            ],
        ),
    );
}

#[test]
fn an_unreachable_workspace_renders_its_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let primary = Emulator::spawn(&dir.path().join("p.json"), &[]);
    let mut secondary = Emulator::spawn(&dir.path().join("s.json"), &[]);
    // One job is enough: the failure section is what this shows.
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url)).file(
        "resources/job.yaml",
        "resources:\n  jobs:\n    report:\n      name: report\n      tasks:\n        - task_key: main\n          notebook_task: {notebook_path: /Repos/report/main}\n",
    );
    secondary.kill();
    assert_plan_and_comment(
        "unreachable",
        "the secondary's emulator killed: the primary's plan, then the failure (exit 1)",
        |extra| {
            let args = [&["plan"][..], extra].concat();
            let run = tandem(&repo, &args, &[("TANDEM_TEST_TOKEN", "dev")]);
            assert_eq!(run.code(), 1, "{}", run.all_output());
            run.stdout()
        },
    );
}

/// `count` generated jobs, `generated_0000` on, as a resource file.
fn generated_jobs(count: usize) -> String {
    let mut yaml = String::from("resources:\n  jobs:\n");
    for i in 0..count {
        yaml.push_str(&format!(
            "    generated_{i:04}:\n      name: Generated job {i:04}\n      tasks:\n        - task_key: main\n          notebook_task: {{notebook_path: /Repos/generated/notebook_{i:04}}}\n"
        ));
    }
    yaml
}

#[test]
fn a_deletion_among_1500_creates_is_never_truncated_away() {
    let jobs = 1500;
    let repo = TestRepo::with_env(PAIR_ENV).file(
        "resources/job.yaml",
        "resources:\n  jobs:\n    legacy:\n      name: legacy\n      tasks:\n        - task_key: main\n          notebook_task: {notebook_path: /Repos/legacy/main}\n",
    );
    apply(&repo, &[]);
    // The last resource file: its deletion would come last in apply order.
    std::fs::remove_file(repo.path().join("resources/job.yaml")).expect("remove");
    repo.write("resources/generated.yaml", &generated_jobs(jobs));
    let run = tandem(
        &repo,
        &["plan", "--format", "markdown", "--detailed-exitcode"],
        &[],
    );
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let md = run.stdout();
    let chars = md.chars().count();
    assert!(chars <= 65_536, "{chars} characters");
    assert!(
        chars > 50_000,
        "the comment should be filled up to the budget: {chars}"
    );
    assert!(
        md.contains("| primary | active | 1500 | 0 | 0 | **1** | 0 | 0 |"),
        "{}",
        &md[..600]
    );
    // The deletion comes first, whole and open, under its own heading.
    let deletions = md.find("#### Deletions (1)").expect("a deletions heading");
    let changes = md.find("#### Changes (1500)").expect("a changes heading");
    assert!(deletions < changes);
    assert!(
        md[deletions..changes]
            .contains("<details open><summary>- <code>jobs.legacy</code>: delete"),
        "{}",
        &md[deletions..changes]
    );
    let shown = md[changes..]
        .matches("<summary>+ <code>jobs.generated_")
        .count();
    let left_out: usize = md
        .rsplit("_… and ")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the count of resources left out");
    assert_eq!(
        shown + left_out,
        jobs,
        "shown {shown} + left out {left_out}"
    );
    // Shown are the first in order, left out the rest: truncation never skips around.
    assert!(md.contains("jobs.generated_0000"));
    assert!(!md.contains(&format!("jobs.generated_{:04}</code>", jobs - 1)));
    // The snapshot: everything up to the first create's section, then the tail.
    let first_create_end = changes
        + md[changes..]
            .find("</details>\n</details>\n")
            .expect("a create")
        + 22;
    let tail = md.rfind("\n_… and ").expect("tail");
    assert_plan(
        "deletion_among_1500_creates_markdown",
        "the only job deleted and 1,500 new ones: the summary counts every create and the \
         deletion, the passive overrides of the new jobs share one row (the same built-in \
         value), the deletion is first, then as many creates as fit (first of them \
         shown here) and the count of those left out",
        &format!(
            "{}\n[… {} more create sections …]\n{}",
            &md[..first_create_end],
            shown - 1,
            &md[tail..]
        ),
    );
}

#[test]
fn a_saved_plan_shows_as_planned_without_the_environment() {
    let repo =
        small_pair_applied_then(&[(REPORT_JOB, ""), ("max_capacity: 10", "max_capacity: 20")]);
    let saved = tempfile::tempdir().expect("temp dir");
    let file = saved.path().join("plan.json");
    let file = file.to_str().expect("utf-8");
    let planned: Vec<String> = ["text", "markdown", "json"]
        .iter()
        .map(|format| {
            ok(&tandem(
                &repo,
                &["plan", "--format", format, "--out", file],
                &[],
            ))
        })
        .collect();
    // Elsewhere: no environment file, no workspace, no credential.
    let elsewhere = TestRepo::new();
    for (format, planned) in ["text", "markdown", "json"].iter().zip(&planned) {
        let shown = ok(&elsewhere.tandem(&["show", file, "--format", format]));
        assert_eq!(&shown, planned, "tandem show --format {format}");
    }
    assert!(
        planned[0].contains("resources/small.yaml"),
        "origins are kept: {}",
        planned[0]
    );
    let refused = elsewhere.tandem(&["show", "environments/none.json"]);
    assert_eq!(refused.code(), 1);
    assert!(
        refused.stderr().contains("cannot use plan file"),
        "{}",
        refused.stderr()
    );
}

#[test]
fn a_trio_plans_every_workspace() {
    let repo = TestRepo::with_env(TRIO_ENV).file(SMALL_FILE, SMALL);
    assert_plan(
        "trio_from_empty",
        "the small config on three empty workspaces: both passive ones get the overrides",
        &plan_text(&repo, &[]),
    );
}
