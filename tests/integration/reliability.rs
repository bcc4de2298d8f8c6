//! The reliability suite (issue #6, item 4): tandem under faults of every endpoint family, killed
//! at random points, with a workspace down, racing another run for the lock, and taking over an
//! expired lock. Every scenario runs against a pair of `tandem emulator` subprocesses and ends
//! with the same checks: the plan is empty within two runs, no job, cluster or pool exists twice,
//! no configured secret is missing, each workspace's recorded role is the one the environment
//! file gives it (roles change only by promote), every passive job is fenced, no lock is left.
//!
//! Each `#[test]` is one family: a table of scenarios run in turn on one pair (rebuilt after a
//! failed scenario), and a summary line on stderr, written directly so libtest does not capture it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::harness::{Emulator, TandemRun, TestRepo, Ws, remote_env};

// ---------------------------------------------------------------------------------------------
// The configuration: two versions that differ in every kind (create, update, delete each)
// ---------------------------------------------------------------------------------------------

/// Environment of every tandem run: the emulators' token, the secret values, the operator.
const ENVS: [(&str, &str); 5] = [
    ("TANDEM_TEST_TOKEN", "dev"),
    ("TANDEM_OPERATOR", "reliability-bot"),
    ("REL_SECRET_ONE", "rel-one-value"),
    ("REL_SECRET_TWO_V1", "rel-two-first"),
    ("REL_SECRET_TWO_V2", "rel-two-second"),
];

/// Who tandem says holds a lock taken by the suite's runs (`user@host`, host unknown here).
const HOLDER_PREFIX: &str = "reliability-bot@";

/// A small platform: pools, clusters, scheduled jobs (one multi-task), a scope with two secrets
/// and ACLs, permissions. Version 2 changes or adds something of every kind and drops a job, so
/// going 1 → 2 and 2 → 1 creates, updates and deletes jobs, clusters, pools, scopes, secrets,
/// ACLs and grants.
fn resources(version: u8) -> String {
    let v2 = version == 2;
    let mut out = String::from("resources:\n  instance_pools:\n");
    out.push_str(&format!(
        "    workers:\n      instance_pool_name: workers\n      node_type_id: Standard_DS3_v2\n      min_idle_instances: 1\n      max_capacity: {}\n      permissions:\n        - {{group_name: data-eng, level: CAN_ATTACH_TO}}\n",
        if v2 { 12 } else { 10 }
    ));
    if v2 {
        out.push_str("    spare:\n      instance_pool_name: spare\n      node_type_id: Standard_DS3_v2\n      max_capacity: 4\n");
    }
    out.push_str("  clusters:\n");
    out.push_str(&format!(
        "    shared:\n      cluster_name: shared\n      spark_version: 15.4.x-scala2.12\n      instance_pool_id: ${{resources.instance_pools.workers.id}}\n      num_workers: {}\n      autotermination_minutes: 60\n      start_on_promote: true\n      permissions:\n        - {{group_name: data-eng, level: CAN_RESTART}}\n",
        if v2 { 3 } else { 2 }
    ));
    if v2 {
        out.push_str("    scratch:\n      cluster_name: scratch\n      spark_version: 15.4.x-scala2.12\n      node_type_id: Standard_DS3_v2\n      num_workers: 1\n      permissions:\n        - {group_name: analysts, level: CAN_ATTACH_TO}\n");
    }
    out.push_str("  jobs:\n");
    out.push_str(&format!(
        r#"    nightly:
      name: nightly
      max_concurrent_runs: {runs}
      schedule: {{quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC, pause_status: UNPAUSED}}
      tasks:
        - task_key: ingest
          existing_cluster_id: ${{resources.clusters.shared.id}}
          notebook_task: {{notebook_path: /Repos/etl/ingest, base_parameters: {{mode: v{version}}}}}
        - task_key: transform
          depends_on: [{{task_key: ingest}}]
          existing_cluster_id: ${{resources.clusters.shared.id}}
          notebook_task: {{notebook_path: /Repos/etl/transform}}
      permissions:
        - {{user_name: etl-bot@example.com, level: IS_OWNER}}
        - {{group_name: data-eng, level: CAN_MANAGE_RUN}}
{extra_grant}    hourly:
      name: hourly
      max_concurrent_runs: 2
      trigger: {{pause_status: UNPAUSED, periodic: {{interval: 1, unit: HOURS}}}}
      tasks:
        - task_key: main
          notebook_task: {{notebook_path: /Repos/etl/hourly}}
      permissions:
        - {{user_name: etl-bot@example.com, level: IS_OWNER}}
        - {{user_name: alice@example.com, level: CAN_MANAGE}}
"#,
        runs = if v2 { 2 } else { 1 },
        extra_grant = if v2 {
            "        - {group_name: analysts, level: CAN_VIEW}\n"
        } else {
            ""
        },
    ));
    if v2 {
        out.push_str("    adhoc:\n      name: adhoc\n      schedule: {quartz_cron_expression: \"0 30 6 * * ?\", timezone_id: UTC}\n      tasks:\n        - task_key: main\n          existing_cluster_id: ${resources.clusters.scratch.id}\n          notebook_task: {notebook_path: /Repos/etl/adhoc}\n      permissions:\n        - {group_name: data-eng, level: CAN_VIEW}\n");
    } else {
        out.push_str("    report:\n      name: report\n      schedule: {quartz_cron_expression: \"0 0 6 * * ?\", timezone_id: UTC}\n      tasks:\n        - task_key: main\n          notebook_task: {notebook_path: /Repos/etl/report}\n");
    }
    out.push_str(&format!(
        "  secret_scopes:\n    etl:\n      name: rel-etl\n      secrets:\n        one: {{env: REL_SECRET_ONE}}\n        two: {{env: REL_SECRET_TWO_V{version}}}\n      acls:\n        - {{principal: data-eng, permission: READ}}\n{}",
        if v2 {
            "        - {principal: analysts, permission: READ}\n"
        } else {
            "        - {principal: platform-ops, permission: MANAGE}\n"
        }
    ));
    if v2 {
        out.push_str("    extra:\n      name: rel-extra\n      secrets:\n        token: {env: REL_SECRET_ONE}\n");
    }
    out
}

/// The logical keys each kind must hold (once each) in every workspace at `version`.
fn expected_keys(version: u8) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let v2 = version == 2;
    let set = |items: &[&'static str]| items.iter().copied().collect::<BTreeSet<_>>();
    BTreeMap::from([
        (
            "jobs",
            if v2 {
                set(&["adhoc", "hourly", "nightly"])
            } else {
                set(&["hourly", "nightly", "report"])
            },
        ),
        (
            "clusters",
            if v2 {
                set(&["scratch", "shared"])
            } else {
                set(&["shared"])
            },
        ),
        (
            "instance_pools",
            if v2 {
                set(&["spare", "workers"])
            } else {
                set(&["workers"])
            },
        ),
    ])
}

/// Scope name → secret keys every workspace must hold at `version`.
fn expected_secrets(version: u8) -> Vec<(&'static str, &'static [&'static str])> {
    let mut out: Vec<(&'static str, &'static [&'static str])> = vec![("rel-etl", &["one", "two"])];
    if version == 2 {
        out.push(("rel-extra", &["token"]));
    }
    out
}

const WORKSPACES: [&str; 2] = ["primary", "secondary"];

fn other(name: &str) -> &'static str {
    if name == "primary" {
        "secondary"
    } else {
        "primary"
    }
}

// ---------------------------------------------------------------------------------------------
// A pair of emulators and the repository describing them
// ---------------------------------------------------------------------------------------------

struct Pair {
    primary: Emulator,
    secondary: Emulator,
    repo: TestRepo,
    /// The config version in the work tree.
    version: u8,
    /// The active workspace according to the environment file.
    active: &'static str,
    /// The emulators' flags, for rebuilding the pair.
    flags: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Pair {
    /// Two fresh emulators (with `flags`), version 1 applied with `primary` active.
    fn new(flags: &[&str]) -> Pair {
        let dir = tempfile::tempdir().expect("dir");
        let primary = Emulator::restartable_with(&dir.path().join("primary.json"), flags);
        let secondary = Emulator::restartable_with(&dir.path().join("secondary.json"), flags);
        let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
            .file("resources/r.yaml", &resources(1))
            .git_init();
        repo.commit("version 1");
        let pair = Pair {
            primary,
            secondary,
            repo,
            version: 1,
            active: "primary",
            flags: flags.iter().map(|f| f.to_string()).collect(),
            _dir: dir,
        };
        let run = pair.tandem(&["apply", "--auto-approve"]);
        assert_eq!(run.code(), 0, "baseline apply:\n{}", run.all_output());
        pair
    }

    /// A fresh pair like this one (after a failed scenario left this one in an unknown state).
    fn rebuilt(&self) -> Pair {
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        Pair::new(&flags)
    }

    fn emulator(&mut self, name: &str) -> &mut Emulator {
        if name == "primary" {
            &mut self.primary
        } else {
            &mut self.secondary
        }
    }

    /// A new client for workspace `name` (new each time: an emulator may have restarted).
    fn ws(&self, name: &str) -> Ws {
        let url = if name == "primary" {
            &self.primary.url
        } else {
            &self.secondary.url
        };
        Ws::remote(url, "dev")
    }

    fn passive(&self) -> &'static str {
        other(self.active)
    }

    /// `tandem -e test <args>` with the suite's environment.
    fn tandem(&self, args: &[&str]) -> TandemRun {
        let mut all = vec!["-e", "test"];
        all.extend_from_slice(args);
        let started = Instant::now();
        let run = self.repo.tandem_env(&all, &ENVS);
        if std::env::var("RELIABILITY_VERBOSE").as_deref() == Ok("2") {
            let _ = writeln!(
                std::io::stderr(),
                "  tandem {} → {} in {:.2}s",
                args.join(" "),
                run.code(),
                started.elapsed().as_secs_f64()
            );
        }
        run
    }

    /// `tandem -e test <args>` run as `operator`.
    fn tandem_as(&self, operator: &str, args: &[&str]) -> TandemRun {
        let mut all = vec!["-e", "test"];
        all.extend_from_slice(args);
        let mut envs = ENVS.to_vec();
        envs.push(("TANDEM_OPERATOR", operator));
        self.repo.tandem_env(&all, &envs)
    }

    /// `tandem -e test <args>` started in the background, as `operator`.
    fn spawn(&self, args: &[&str], operator: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("-C")
            .arg(self.repo.path())
            .args(["-e", "test"])
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("TANDEM_ENV")
            .env_remove("TANDEM_LOG")
            .envs(ENVS)
            .env("TANDEM_OPERATOR", operator)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tandem")
    }

    /// Writes config `version` to the work tree and commits it.
    fn set_version(&mut self, version: u8) {
        self.repo.write("resources/r.yaml", &resources(version));
        self.repo.commit(&format!("version {version}"));
        self.version = version;
    }

    /// Switches the work tree to the other version (the next apply changes every kind).
    fn toggle_version(&mut self) {
        self.set_version(3 - self.version);
    }

    /// The `active:` of the environment file.
    fn file_active(&self) -> &'static str {
        let env = self.repo.read("environments/test.yaml");
        if env.lines().any(|l| l.trim() == "active: secondary") {
            "secondary"
        } else {
            "primary"
        }
    }

    fn add_fault(&self, workspace: &str, rule: &Value) {
        self.ws(workspace).add_fault(rule.clone());
    }

    fn clear_faults(&self) {
        for name in WORKSPACES {
            self.ws(name).clear_faults();
        }
    }

    /// Faults both emulators injected since they started.
    fn faults_injected(&self) -> u64 {
        WORKSPACES
            .iter()
            .map(|name| {
                self.ws(name).stats()["faults_injected"]
                    .as_u64()
                    .unwrap_or_default()
            })
            .sum()
    }

    /// Whether `plan --detailed-exitcode` finds nothing to change.
    fn converged(&self) -> Result<bool, String> {
        let run = self.tandem(&["plan", "--detailed-exitcode"]);
        match run.code() {
            0 => Ok(true),
            2 => Ok(false),
            code => Err(format!("plan exited {code}:\n{}", tail(&run.all_output()))),
        }
    }

    /// Objects of a kind that exist more than once (checked after every run, not only at the end:
    /// a duplicate the next plan deletes was still created).
    fn duplicates(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in WORKSPACES {
            let ws = self.ws(name);
            for kind in ["jobs", "clusters", "instance_pools"] {
                for (key, n) in ws.key_counts(kind) {
                    if n > 1 {
                        out.push(format!("{name}: {n} × {kind}.{key}"));
                    }
                }
            }
        }
        out
    }

    /// Everything that must hold after a scenario, as a list of what does not.
    fn violations(&self) -> Vec<String> {
        let mut out = self.duplicates();
        if self.file_active() != self.active {
            out.push(format!(
                "environment file says active: {}, expected {}",
                self.file_active(),
                self.active
            ));
        }
        let keys = expected_keys(self.version);
        for name in WORKSPACES {
            let ws = self.ws(name);
            for (kind, expected) in &keys {
                let have: BTreeSet<String> = ws.key_counts(kind).into_keys().collect();
                let want: BTreeSet<String> = expected.iter().map(|k| k.to_string()).collect();
                if have != want {
                    out.push(format!("{name}: {kind} {have:?}, expected {want:?}"));
                }
            }
            let scopes = ws.scopes();
            for (scope, secret_keys) in expected_secrets(self.version) {
                if !scopes.contains(scope) {
                    out.push(format!("{name}: scope {scope} missing"));
                    continue;
                }
                let have = ws.secrets(scope);
                for key in secret_keys {
                    if !have.contains_key(*key) {
                        out.push(format!("{name}: secret {scope}/{key} missing"));
                    }
                }
            }
            let role = if name == self.active {
                "active"
            } else {
                "passive"
            };
            match ws.state_record() {
                Some(record) if record["role"] == role => {}
                Some(record) => out.push(format!(
                    "{name}: state record role {}, expected {role}",
                    record["role"]
                )),
                None => out.push(format!("{name}: no state record")),
            }
            if role == "passive" {
                for (key, job) in ws.managed("jobs") {
                    let settings =
                        ws.get(&format!("/api/2.2/jobs/get?job_id={}", job["job_id"]))["settings"]
                            .clone();
                    if settings["max_concurrent_runs"] != 0 {
                        out.push(format!(
                            "{name}: passive job {key} has max_concurrent_runs {}",
                            settings["max_concurrent_runs"]
                        ));
                    }
                    for field in ["schedule", "trigger", "continuous"] {
                        if let Some(block) = settings.get(field)
                            && block["pause_status"] != "PAUSED"
                        {
                            out.push(format!("{name}: passive job {key}'s {field} is not paused"));
                        }
                    }
                }
            }
            if let Some(lock) = ws.lock() {
                out.push(format!("{name}: lock left behind: {lock}"));
            }
        }
        out
    }

    /// Breaks every lock left behind with `tandem unlock`, as an operator would.
    fn unlock_all(&self) -> Result<(), String> {
        for name in WORKSPACES {
            if self.ws(name).lock().is_some() {
                let run = self.tandem(&["unlock", name, "--auto-approve"]);
                if run.code() != 0 || !run.stdout().contains(HOLDER_PREFIX) {
                    return Err(format!("unlock {name}:\n{}", tail(&run.all_output())));
                }
            }
        }
        Ok(())
    }
}

/// The last lines of a run's output (enough to see why it failed).
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

fn output_text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

// ---------------------------------------------------------------------------------------------
// Families: scenarios run in turn, results collected, one summary line
// ---------------------------------------------------------------------------------------------

/// What one scenario did.
struct Outcome {
    /// Runs of apply or promote until the plan was empty, the disturbed run included (runs a
    /// lock refused before they changed anything are not counted).
    runs: u32,
    /// Faults injected (emulator faults, process kills, outages, lock conflicts).
    faults: u64,
}

struct Family {
    name: &'static str,
    passed: usize,
    failed: Vec<String>,
    faults: u64,
    max_runs: u32,
}

impl Family {
    fn new(name: &'static str) -> Family {
        Family {
            name,
            passed: 0,
            failed: Vec::new(),
            faults: 0,
            max_runs: 0,
        }
    }

    /// Runs one scenario, then checks the invariants; a failed scenario's pair is rebuilt.
    fn run(
        &mut self,
        pair: &mut Pair,
        name: &str,
        scenario: impl FnOnce(&mut Pair) -> Result<Outcome, String>,
    ) {
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let outcome = scenario(pair)?;
            if outcome.runs > 2 {
                return Err(format!("{} runs to converge", outcome.runs));
            }
            let problems = pair.violations();
            if problems.is_empty() {
                Ok(outcome)
            } else {
                Err(problems.join("; "))
            }
        }))
        .unwrap_or_else(|panic| {
            Err(panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into()))
        });
        match result {
            Ok(outcome) => {
                if std::env::var_os("RELIABILITY_VERBOSE").is_some() {
                    let _ = writeln!(
                        std::io::stderr(),
                        "{}: `{name}` passed in {:.1}s (runs {}, faults {})",
                        self.name,
                        started.elapsed().as_secs_f64(),
                        outcome.runs,
                        outcome.faults
                    );
                }
                self.passed += 1;
                self.faults += outcome.faults;
                self.max_runs = self.max_runs.max(outcome.runs);
            }
            Err(why) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "{}: scenario `{name}` FAILED after {:.1}s: {why}",
                    self.name,
                    started.elapsed().as_secs_f64()
                );
                self.failed.push(name.to_string());
                *pair = pair.rebuilt();
            }
        }
    }

    /// Prints the summary line and fails the test if any scenario failed.
    fn finish(self) {
        let _ = writeln!(
            std::io::stderr(),
            "{}: {} passed, {} failed (faults injected: {}, runs to converge: max {})",
            self.name,
            self.passed,
            self.failed.len(),
            self.faults,
            self.max_runs
        );
        assert!(
            self.failed.is_empty(),
            "{}: failed scenarios: {}",
            self.name,
            self.failed.join(", ")
        );
    }
}

/// After a disturbed run (`runs` so far) whose plan is not empty: re-runs `rerun` until the plan
/// is empty, at most `2 - runs` more times; checks for duplicates after every run. Returns the
/// runs in all.
fn converge(pair: &Pair, runs: u32, rerun: &[&str]) -> Result<u32, String> {
    converge_to(pair, runs, rerun, None)
}

/// [`converge`], for a promotion: done when the plan is empty and the environment file makes
/// `target` active.
fn converge_to(
    pair: &Pair,
    mut runs: u32,
    rerun: &[&str],
    target: Option<&str>,
) -> Result<u32, String> {
    loop {
        if runs >= 2 {
            return Err(format!("plan not empty after {runs} runs"));
        }
        let run = pair.tandem(rerun);
        runs += 1;
        let duplicates = pair.duplicates();
        if !duplicates.is_empty() {
            return Err(format!("duplicates: {}", duplicates.join(", ")));
        }
        let converged = pair.converged()? && target.is_none_or(|t| pair.file_active() == t);
        if run.code() != 0 {
            return Err(format!(
                "re-run {} exited {}:\n{}",
                rerun.join(" "),
                run.code(),
                tail(&run.all_output())
            ));
        }
        if converged {
            return Ok(runs);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1 and 2. faults of every endpoint family, during apply and during promote
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Fault {
    /// 503 twice: retried (reads, idempotent writes) or looked up (creates).
    Unavailable,
    /// 429 with Retry-After: waited out.
    Throttled,
    /// The request is carried out, then answered 503, twice.
    CommitThenFail,
    /// 500 once after carrying the request out: not retried, so the run fails part-way and
    /// the next one must finish it.
    CommitThen500,
}

impl Fault {
    const ALL: [Fault; 4] = [
        Fault::Unavailable,
        Fault::Throttled,
        Fault::CommitThenFail,
        Fault::CommitThen500,
    ];

    fn label(self) -> &'static str {
        match self {
            Fault::Unavailable => "503",
            Fault::Throttled => "429",
            Fault::CommitThenFail => "commit-then-503",
            Fault::CommitThen500 => "commit-then-500",
        }
    }

    fn rule(self, method: &str, path: &str, skip_first: u64) -> Value {
        let mut rule = match self {
            Fault::Unavailable => json!({"status": 503, "times": 2}),
            // Once per rule: each 429 pauses the whole client for its Retry-After (1 s).
            Fault::Throttled => json!({"status": 429, "retry_after": 1, "times": 1}),
            Fault::CommitThenFail => json!({"status": 503, "commit": true, "times": 2}),
            Fault::CommitThen500 => json!({"status": 500, "commit": true, "times": 1}),
        };
        rule["method"] = json!(method);
        rule["path"] = json!(path);
        rule["skip_first"] = json!(skip_first);
        rule
    }
}

/// An endpoint family: the rules of its scenarios, `(method, path glob, skip_first)` each.
struct Endpoints {
    family: &'static str,
    rules: &'static [(&'static str, &'static str, u64)],
}

/// Every endpoint family tandem uses, writes and reads. The lock is a workspace file created with
/// `overwrite: false` and deleted at the end; the state record is the run's second import (the
/// first is the lock); SCIM answers who tandem runs as.
const FAMILIES: [Endpoints; 8] = [
    Endpoints {
        family: "jobs",
        rules: &[("POST", "/api/*/jobs/*", 0), ("GET", "/api/*/jobs/*", 0)],
    },
    Endpoints {
        family: "clusters",
        rules: &[
            ("POST", "/api/*/clusters/*", 0),
            ("GET", "/api/*/clusters/*", 0),
        ],
    },
    Endpoints {
        family: "pools",
        rules: &[
            ("POST", "/api/*/instance-pools/*", 0),
            ("GET", "/api/*/instance-pools/*", 0),
        ],
    },
    Endpoints {
        family: "secrets",
        rules: &[
            ("POST", "/api/*/secrets/*", 0),
            ("GET", "/api/*/secrets/*", 0),
        ],
    },
    Endpoints {
        family: "permissions",
        rules: &[
            ("PUT", "/api/*/permissions/*", 0),
            ("GET", "/api/*/permissions/*", 0),
        ],
    },
    Endpoints {
        family: "lock",
        rules: &[
            ("POST", "/api/*/workspace/import", 0),
            ("POST", "/api/*/workspace/delete", 0),
        ],
    },
    Endpoints {
        family: "state record",
        rules: &[
            ("POST", "/api/*/workspace/import", 1),
            ("GET", "/api/*/workspace/export", 0),
        ],
    },
    Endpoints {
        family: "scim",
        rules: &[("GET", "/api/*/preview/scim/*", 0)],
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Apply,
    Promote,
}

/// Injects `rules` (of kind `fault`) in both workspaces, runs the operation (apply of the other
/// config version, or promotion of the passive workspace), clears the rules and lets tandem
/// converge.
fn fault_scenario(
    pair: &mut Pair,
    op: Op,
    fault: Fault,
    rules: &[Value],
) -> Result<Outcome, String> {
    let before = pair.faults_injected();
    for name in WORKSPACES {
        for rule in rules {
            pair.add_fault(name, rule);
        }
    }
    let target = pair.passive();
    let command: Vec<&str> = match op {
        Op::Apply => {
            pair.toggle_version();
            vec!["apply", "--auto-approve"]
        }
        Op::Promote => vec!["promote", target, "--auto-approve"],
    };
    let first = pair.tandem(&command);
    let faults = pair.faults_injected() - before;
    pair.clear_faults();
    if faults == 0 {
        return Err("no fault fired: the rules matched no request".into());
    }
    // Faults within the retry budget are absorbed: only the 500 may fail the run.
    let absorbed = !matches!(fault, Fault::CommitThen500);
    if !matches!(first.code(), 0 | 1)
        || (absorbed && first.code() != 0)
        || first.stderr().contains("is locked by")
    {
        return Err(format!(
            "first run exited {}:\n{}",
            first.code(),
            tail(&first.all_output())
        ));
    }
    let duplicates = pair.duplicates();
    if !duplicates.is_empty() {
        return Err(format!("duplicates: {}", duplicates.join(", ")));
    }
    let promoted = op == Op::Apply || pair.file_active() == target;
    let runs = if promoted && pair.converged()? {
        1
    } else if first.code() == 0 {
        return Err(format!(
            "the faulted run said it succeeded but the plan is not empty:\n{}",
            tail(&first.all_output())
        ));
    } else {
        let target = (op == Op::Promote).then_some(target);
        converge_to(pair, 1, &command, target)?
    };
    if op == Op::Promote {
        pair.active = target;
    }
    Ok(Outcome { runs, faults })
}

fn fault_family(family: &'static str, op: Op) {
    let mut results = Family::new(family);
    let mut pair = Pair::new(&[]);
    for endpoints in &FAMILIES {
        for fault in Fault::ALL {
            let name = format!("{} {}", endpoints.family, fault.label());
            let rules: Vec<Value> = endpoints
                .rules
                .iter()
                .map(|(method, path, skip)| fault.rule(method, path, *skip))
                .collect();
            results.run(&mut pair, &name, |pair| {
                fault_scenario(pair, op, fault, &rules)
            });
        }
    }
    results.finish();
}

#[test]
fn reliability_endpoint_faults_during_apply() {
    fault_family("apply faults", Op::Apply);
}

#[test]
fn reliability_endpoint_faults_during_promote() {
    fault_family("promote faults", Op::Promote);
}

// ---------------------------------------------------------------------------------------------
// 3. tandem killed at random points of apply and of promote
// ---------------------------------------------------------------------------------------------

/// The kill delays' seed: the same delays (as fractions of a calibrated run) every time.
const KILL_SEED: u64 = 0x7a4d_3e11_c0ff_ee06;

/// splitmix64, enough to spread kill delays reproducibly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// The command of `op`: apply of the other config version (switched to here), or promotion of
/// the passive workspace.
fn command_for(pair: &mut Pair, op: Op) -> Vec<&'static str> {
    match op {
        Op::Apply => {
            pair.toggle_version();
            vec!["apply", "--auto-approve"]
        }
        Op::Promote => vec!["promote", pair.passive(), "--auto-approve"],
    }
}

/// Whether a run was refused because `holder_prefix` holds the lock, with a clear message: the
/// workspace, the holder, and the way out.
fn refused_by_lock(run: &TandemRun, holder_prefix: &str) -> Result<bool, String> {
    let err = run.stderr();
    if run.code() != 1 || !err.contains("is locked by") {
        return Ok(false);
    }
    let clear = err.contains(&format!("is locked by {holder_prefix}"))
        && err.contains("tandem unlock")
        && (err.contains("workspace primary") || err.contains("workspace secondary"));
    if clear {
        Ok(true)
    } else {
        Err(format!("unclear lock error:\n{}", tail(&err)))
    }
}

/// Sends `signal` (`KILL`, `TERM`, `INT`) to `op` after `delay`, then does what the operator
/// would: run it again; if the dead run's lock refuses that, break it with `tandem unlock` (the
/// error says so) and run it again. A SIGKILL allows no clean-up at all; a SIGTERM or SIGINT
/// (how CI cancels a job) must leave no lock behind.
fn kill_scenario(
    pair: &mut Pair,
    op: Op,
    signal: &str,
    delay: Duration,
    stats: &mut KillStats,
) -> Result<Outcome, String> {
    let target = pair.passive();
    let command = command_for(pair, op);
    let mut child = pair.spawn(&command, "reliability-bot");
    std::thread::sleep(delay);
    if signal == "KILL" {
        let _ = child.kill();
    } else {
        let _ = Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status();
    }
    let killed = child.wait_with_output().expect("wait");
    if output_text(&killed).contains(&format!("interrupted by SIG{signal}")) {
        stats.interrupted += 1;
    }
    let duplicates = pair.duplicates();
    if !duplicates.is_empty() {
        return Err(format!(
            "duplicates after the kill: {}",
            duplicates.join(", ")
        ));
    }
    let mut refused = false;
    loop {
        let run = pair.tandem(&command);
        if refused_by_lock(&run, HOLDER_PREFIX)? {
            if signal != "KILL" {
                return Err(format!(
                    "a run stopped by SIG{signal} left its lock:\n{}",
                    tail(&run.all_output())
                ));
            }
            if refused {
                return Err("refused by a lock after tandem unlock".into());
            }
            refused = true;
            stats.locks_left += 1;
            pair.unlock_all()?;
            continue;
        }
        if run.code() != 0 {
            return Err(format!(
                "re-run exited {}:\n{}",
                run.code(),
                tail(&run.all_output())
            ));
        }
        break;
    }
    let duplicates = pair.duplicates();
    if !duplicates.is_empty() {
        return Err(format!("duplicates: {}", duplicates.join(", ")));
    }
    if !pair.converged()? {
        return Err("plan not empty after the re-run".into());
    }
    if op == Op::Promote {
        pair.active = target;
    }
    // The killed run and one re-run.
    Ok(Outcome { runs: 2, faults: 1 })
}

/// What the killed runs did.
#[derive(Default)]
struct KillStats {
    /// SIGKILLed runs whose lock the re-run found.
    locks_left: u64,
    /// Runs that caught SIGTERM or SIGINT mid-run and stopped, giving their locks back.
    interrupted: u64,
}

/// How long `op` takes on this pair, in milliseconds (a calibration run, not killed).
fn calibrate(pair: &mut Pair, op: Op) -> u64 {
    let target = pair.passive();
    let command = command_for(pair, op);
    let started = Instant::now();
    let run = pair.tandem(&command);
    assert_eq!(run.code(), 0, "calibration:\n{}", run.all_output());
    if op == Op::Promote {
        pair.active = target;
    }
    started.elapsed().as_millis() as u64
}

#[test]
fn reliability_process_killed_during_apply_and_promote() {
    const KILLS: [(Op, &str, usize); 4] = [
        (Op::Apply, "KILL", 8),
        (Op::Apply, "TERM", 4),
        (Op::Promote, "KILL", 6),
        (Op::Promote, "INT", 4),
    ];
    let mut results = Family::new("process kills");
    // Latency stretches a run over many requests' worth of time, so kills land mid-run.
    let mut pair = Pair::new(&["--latency-ms", "15"]);
    let mut rng = Rng(KILL_SEED);
    let mut stats = KillStats::default();
    let (mut kills, mut signalled) = (0, 0);
    let mut durations = BTreeMap::new();
    for (op, signal, count) in KILLS {
        let key = op == Op::Apply;
        let duration = *durations
            .entry(key)
            .or_insert_with(|| calibrate(&mut pair, op));
        let label = if op == Op::Apply { "apply" } else { "promote" };
        for i in 0..count {
            // Anywhere from the start to just past the end of a run (a kill after the end is
            // the control case).
            let permille = rng.below(1100);
            let delay = Duration::from_millis(duration * permille / 1000);
            let name = format!(
                "{label} #{i} SIG{signal} at {permille}‰ ({} ms)",
                delay.as_millis()
            );
            if signal == "KILL" {
                kills += 1;
            } else {
                signalled += 1;
            }
            results.run(&mut pair, &name, |pair| {
                kill_scenario(pair, op, signal, delay, &mut stats)
            });
        }
    }
    let _ = writeln!(
        std::io::stderr(),
        "process kills: {} of {kills} SIGKILLed runs left a lock (broken with `tandem unlock`, as the refusal said); {} of {signalled} SIGTERM/SIGINT runs stopped mid-run, none left a lock",
        stats.locks_left,
        stats.interrupted
    );
    results.finish();
}

// ---------------------------------------------------------------------------------------------
// 4. one workspace down for a whole run
// ---------------------------------------------------------------------------------------------

/// The workspace `down` is down for a whole apply: the other is applied (and unlocked), the run
/// exits 1 naming it; once it is back, the next apply converges.
fn down_during_apply(pair: &mut Pair, down: &'static str) -> Result<Outcome, String> {
    let up = other(down);
    let up_record_before = pair.ws(up).record();
    pair.toggle_version();
    pair.emulator(down).kill();
    let run = pair.tandem(&["apply", "--auto-approve"]);
    let up_ws = pair.ws(up);
    let up_keys: BTreeMap<String, BTreeSet<String>> = ["jobs", "clusters", "instance_pools"]
        .into_iter()
        .map(|kind| {
            (
                kind.to_string(),
                up_ws.key_counts(kind).into_keys().collect(),
            )
        })
        .collect();
    let up_lock = up_ws.lock();
    let up_record = up_ws.record();
    pair.emulator(down).start();
    if run.code() != 1 || !run.stdout().contains(&format!("{down}  not applied")) {
        return Err(format!(
            "apply with {down} down exited {}:\n{}",
            run.code(),
            tail(&run.all_output())
        ));
    }
    let expected: BTreeMap<String, BTreeSet<String>> = expected_keys(pair.version)
        .into_iter()
        .map(|(kind, keys)| {
            (
                kind.to_string(),
                keys.iter().map(|k| k.to_string()).collect(),
            )
        })
        .collect();
    if up_keys != expected {
        return Err(format!("{up} was not applied: {up_keys:?}"));
    }
    if up_lock.is_some() {
        return Err(format!("{up}'s lock was not released"));
    }
    if up_record["role"] != up_record_before["role"]
        || up_record["last_applied"] == up_record_before["last_applied"]
    {
        return Err(format!("{up}'s record: {up_record}"));
    }
    let runs = converge(pair, 1, &["apply", "--auto-approve"])?;
    Ok(Outcome { runs, faults: 1 })
}

/// A promotion while a workspace is down, refused before anything changes: the active one
/// (it could not be fenced; --allow-unreachable not given) or the target itself.
fn down_promote_refused(pair: &mut Pair, down: &'static str) -> Result<Outcome, String> {
    let target = pair.passive();
    let records: Vec<Value> = [target, other(target)]
        .iter()
        .filter(|w| **w != down)
        .map(|w| pair.ws(w).record())
        .collect();
    pair.emulator(down).kill();
    let run = pair.tandem(&["promote", target, "--auto-approve"]);
    let after: Vec<Value> = [target, other(target)]
        .iter()
        .filter(|w| **w != down)
        .map(|w| pair.ws(w).record())
        .collect();
    pair.emulator(down).start();
    let expected = if down == target {
        format!("cannot promote {target}: it does not answer")
    } else {
        format!("not promoting: {down} cannot be reached")
    };
    if run.code() != 1 || !run.stderr().contains(&expected) {
        return Err(format!(
            "promote with {down} down exited {}:\n{}",
            run.code(),
            tail(&run.all_output())
        ));
    }
    if records != after {
        return Err(format!("a refused promotion wrote a record: {after:?}"));
    }
    if !pair.converged()? {
        return Err("a refused promotion changed something".into());
    }
    Ok(Outcome { runs: 1, faults: 1 })
}

/// Failover with the active workspace down: promote --allow-unreachable succeeds and records a
/// pending fence; when the old active workspace is back, the next apply fences it.
fn down_failover(pair: &mut Pair) -> Result<Outcome, String> {
    let (target, down) = (pair.passive(), pair.active);
    pair.emulator(down).kill();
    let run = pair.tandem(&["promote", target, "--allow-unreachable", "--auto-approve"]);
    let target_record = pair.ws(target).record();
    pair.emulator(down).start();
    if run.code() != 0 {
        return Err(format!(
            "promote --allow-unreachable exited {}:\n{}",
            run.code(),
            tail(&run.all_output())
        ));
    }
    pair.active = target;
    let fenced = target_record["pending_fences"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f["workspace"] == down));
    if target_record["role"] != "active" || !fenced {
        return Err(format!("{target}'s record: {target_record}"));
    }
    // The old active workspace answers again: its own record still says active until fenced.
    let returned = pair.ws(down).record();
    if returned["role"] != "active" {
        return Err(format!("{down} was changed while down: {returned}"));
    }
    let runs = converge(pair, 1, &["apply", "--auto-approve"])?;
    let record = pair.ws(target).record();
    if record["pending_fences"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        return Err(format!("the fence is still pending: {record}"));
    }
    Ok(Outcome { runs, faults: 1 })
}

#[test]
fn reliability_one_workspace_down_for_a_whole_run() {
    let mut results = Family::new("workspace down");
    let mut pair = Pair::new(&[]);
    let (active, passive) = (pair.active, pair.passive());
    results.run(
        &mut pair,
        &format!("apply, passive {passive} down"),
        |pair| down_during_apply(pair, passive),
    );
    results.run(&mut pair, &format!("apply, active {active} down"), |pair| {
        down_during_apply(pair, active)
    });
    results.run(
        &mut pair,
        &format!("promote {passive}, active {active} down, no --allow-unreachable"),
        |pair| down_promote_refused(pair, active),
    );
    results.run(
        &mut pair,
        &format!("promote {passive} while it is down"),
        |pair| down_promote_refused(pair, passive),
    );
    results.run(
        &mut pair,
        &format!("failover to {passive}, active {active} down, fenced on return"),
        down_failover,
    );
    // And back, the other way round (each workspace down once while active).
    results.run(
        &mut pair,
        &format!("failback to {active}, active {passive} down, fenced on return"),
        down_failover,
    );
    results.finish();
}

// ---------------------------------------------------------------------------------------------
// 5. locks: two runs at once, expired locks, a lock that cannot be taken
// ---------------------------------------------------------------------------------------------

/// The write paths of pools, clusters and jobs: one of them is the first write of any apply
/// or promote after it has locked (the lock itself is a workspace file).
const RESOURCE_WRITES: [&str; 3] = [
    "/api/2.0/instance-pools/*",
    "/api/2.1/clusters/*",
    "/api/2.2/jobs/*",
];

/// Waits until workspace `name` holds a lock; false after `limit`.
fn wait_for_lock(pair: &Pair, name: &str, limit: Duration) -> bool {
    let started = Instant::now();
    let ws = pair.ws(name);
    while started.elapsed() < limit {
        if ws.lock().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// `first` (as alice, one request at a time so it holds the lock a while) is running when
/// `second` (as bob) starts: bob is refused, naming alice and her operation; alice finishes.
fn racing(pair: &mut Pair, first: Op, second: Op) -> Result<Outcome, String> {
    let target = pair.passive();
    let mut command = command_for(pair, first);
    command.extend(["--parallelism", "1"]);
    // The first run's resource writes (after it locked; a refused run never writes) wait until
    // the second run is over, so the race is the same on a machine of any speed.
    for workspace in WORKSPACES {
        for path in RESOURCE_WRITES {
            pair.add_fault(
                workspace,
                &json!({"method": "POST", "path": path, "hold": true}),
            );
        }
    }
    let injected = pair.faults_injected();
    let child = pair.spawn(&command, "alice");
    if !wait_for_lock(pair, "secondary", Duration::from_secs(20)) {
        pair.clear_faults();
        let out = child.wait_with_output().expect("wait");
        return Err(format!(
            "the first run never locked:\n{}",
            output_text(&out)
        ));
    }
    let second_command = match second {
        Op::Apply => vec!["apply", "--auto-approve"],
        Op::Promote => vec!["promote", target, "--auto-approve"],
    };
    let refused = pair.tandem_as("bob", &second_command);
    pair.clear_faults();
    let out = child.wait_with_output().expect("wait");
    if pair.faults_injected() == injected {
        return Err("the first run wrote nothing: nothing held it in its lock".into());
    }
    if !out.status.success() {
        return Err(format!(
            "the first run failed:\n{}",
            tail(&output_text(&out))
        ));
    }
    if first == Op::Promote {
        pair.active = target;
    }
    let operation = if first == Op::Apply {
        "(apply)"
    } else {
        "(promote)"
    };
    if !refused_by_lock(&refused, "alice@")? || !refused.stderr().contains(operation) {
        return Err(format!(
            "the second run was not refused by alice's lock (exit {}):\n{}",
            refused.code(),
            tail(&refused.all_output())
        ));
    }
    if !pair.converged()? {
        return Err("plan not empty after the winning run".into());
    }
    Ok(Outcome { runs: 1, faults: 1 })
}

/// Two applies started at the same moment: whichever locks first wins; the other either
/// waits for nothing (it ran after) or is refused naming the winner.
fn simultaneous(pair: &mut Pair) -> Result<Outcome, String> {
    pair.toggle_version();
    let command = ["apply", "--auto-approve"];
    let alice = pair.spawn(&command, "alice");
    let bob = pair.spawn(&command, "bob");
    let outputs = [
        ("alice", "bob@", alice.wait_with_output().expect("wait")),
        ("bob", "alice@", bob.wait_with_output().expect("wait")),
    ];
    let mut winners = 0;
    for (who, other_holder, out) in &outputs {
        let text = output_text(out);
        if out.status.success() {
            winners += 1;
        } else if !(text.contains(&format!("is locked by {other_holder}"))
            && text.contains("tandem unlock"))
        {
            return Err(format!("{who} failed otherwise:\n{}", tail(&text)));
        }
    }
    if winners == 0 {
        return Err("neither run won the lock".into());
    }
    let duplicates = pair.duplicates();
    if !duplicates.is_empty() {
        return Err(format!("duplicates: {}", duplicates.join(", ")));
    }
    if !pair.converged()? {
        return Err("plan not empty after the winning run".into());
    }
    Ok(Outcome { runs: 1, faults: 1 })
}

/// A lock left by someone else's run that died 31 minutes ago (expired a minute ago).
fn expired_lock(operation: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    json!({
        "id": "feedfacecafebeef",
        "holder": "ci-runner@build-7",
        "operation": operation,
        "since": "2026-01-02T03:04:05Z",
        "since_ms": now - 31 * 60 * 1000,
        "expires_ms": now - 60 * 1000,
    })
}

/// Expired locks of a dead run in `workspaces`: the next `op` takes them over, saying so.
fn expired_taken_over(pair: &mut Pair, op: Op, workspaces: &[&str]) -> Result<Outcome, String> {
    let target = pair.passive();
    let operation = if op == Op::Apply { "apply" } else { "promote" };
    for name in workspaces {
        pair.ws(name)
            .write_file_json("/Shared/.tandem/test/lock.json", &expired_lock(operation));
    }
    let command = command_for(pair, op);
    let run = pair.tandem(&command);
    if run.code() != 0 || !run.stderr().contains("taking over an expired lock") {
        return Err(format!(
            "{operation} over expired locks exited {}:\n{}",
            run.code(),
            tail(&run.all_output())
        ));
    }
    if op == Op::Promote {
        pair.active = target;
    }
    if !pair.converged()? {
        return Err("plan not empty".into());
    }
    Ok(Outcome {
        runs: 1,
        faults: workspaces.len() as u64,
    })
}

/// A killed run's own locks, once expired, are taken over by the next run without `unlock`.
fn killed_then_expired(pair: &mut Pair) -> Result<Outcome, String> {
    let mut command = command_for(pair, Op::Apply);
    command.extend(["--parallelism", "1"]);
    let mut child = pair.spawn(&command, "reliability-bot");
    let locked = wait_for_lock(pair, "secondary", Duration::from_secs(20));
    let _ = child.kill();
    let _ = child.wait();
    if !locked {
        return Err("the killed run never locked".into());
    }
    for name in WORKSPACES {
        let ws = pair.ws(name);
        if let Some(mut lock) = ws.lock() {
            // Thirty-one minutes later.
            lock["expires_ms"] =
                json!(lock["expires_ms"].as_i64().unwrap_or_default() - 31 * 60 * 1000);
            ws.write_file_json("/Shared/.tandem/test/lock.json", &lock);
        }
    }
    let run = pair.tandem(&["apply", "--auto-approve"]);
    if run.code() != 0 {
        return Err(format!(
            "apply after the dead run's locks expired exited {}:\n{}",
            run.code(),
            tail(&run.all_output())
        ));
    }
    if !pair.converged()? {
        return Err("plan not empty".into());
    }
    Ok(Outcome { runs: 2, faults: 1 })
}

/// The lock cannot be created in `name` (every attempt answered 500): that workspace is left
/// out, untouched, while the other is applied; exit 1; the next run converges.
fn lock_unobtainable(pair: &mut Pair, name: &'static str) -> Result<Outcome, String> {
    let before: BTreeMap<String, usize> = pair.ws(name).key_counts("jobs");
    pair.add_fault(
        name,
        &json!({"method": "POST", "path": "/api/*/workspace/import", "status": 500, "times": 20}),
    );
    pair.toggle_version();
    let run = pair.tandem(&["apply", "--auto-approve"]);
    let faults = pair.ws(name).stats()["faults_injected"]
        .as_u64()
        .unwrap_or_default();
    pair.clear_faults();
    let after = pair.ws(name).key_counts("jobs");
    if run.code() != 1 || !run.stdout().contains(&format!("{name}  not applied")) {
        return Err(format!(
            "apply without {name}'s lock exited {}:\n{}",
            run.code(),
            tail(&run.all_output())
        ));
    }
    if before != after {
        return Err(format!(
            "{name} was written without its lock: {before:?} → {after:?}"
        ));
    }
    let up: BTreeSet<String> = pair
        .ws(other(name))
        .key_counts("jobs")
        .into_keys()
        .collect();
    let want: BTreeSet<String> = expected_keys(pair.version)["jobs"]
        .iter()
        .map(|k| k.to_string())
        .collect();
    if up != want {
        return Err(format!("{} was not applied: {up:?}", other(name)));
    }
    let runs = converge(pair, 1, &["apply", "--auto-approve"])?;
    Ok(Outcome { runs, faults })
}

#[test]
fn reliability_locks_two_runs_at_once_and_expired_locks() {
    let mut results = Family::new("locks");
    // Latency keeps the first of two racing runs inside its lock long enough to be raced.
    let mut pair = Pair::new(&["--latency-ms", "20"]);
    results.run(&mut pair, "apply while an apply runs", |pair| {
        racing(pair, Op::Apply, Op::Apply)
    });
    results.run(&mut pair, "promote while an apply runs", |pair| {
        racing(pair, Op::Apply, Op::Promote)
    });
    results.run(&mut pair, "apply while a promote runs", |pair| {
        racing(pair, Op::Promote, Op::Apply)
    });
    results.run(&mut pair, "promote while a promote runs", |pair| {
        racing(pair, Op::Promote, Op::Promote)
    });
    for i in 0..3 {
        results.run(
            &mut pair,
            &format!("two applies started together #{i}"),
            simultaneous,
        );
    }
    results.run(&mut pair, "expired lock on primary, apply", |pair| {
        expired_taken_over(pair, Op::Apply, &["primary"])
    });
    results.run(&mut pair, "expired lock on secondary, apply", |pair| {
        expired_taken_over(pair, Op::Apply, &["secondary"])
    });
    results.run(&mut pair, "expired locks on both, promote", |pair| {
        expired_taken_over(pair, Op::Promote, &WORKSPACES)
    });
    results.run(
        &mut pair,
        "a killed run's locks, expired",
        killed_then_expired,
    );
    results.run(&mut pair, "lock unobtainable on secondary", |pair| {
        lock_unobtainable(pair, "secondary")
    });
    results.run(&mut pair, "lock unobtainable on primary", |pair| {
        lock_unobtainable(pair, "primary")
    });
    results.finish();
}
