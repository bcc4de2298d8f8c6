//! The JSON contract (docs/json-output.md): the JSON of `plan`, `show`, `promote --dry-run`,
//! `drift`, `readiness` and `status`, taken from real runs on a deployed pair (and on an
//! environment with a workspace that does not answer), validated against its schema in
//! `schemas/` — strictly, so a field the schema does not describe fails too — and no secret
//! fingerprint, fingerprint key or record digest in any output of any command in any format.

use std::path::Path;

use serde_json::{Value, json};

use super::harness::{PAIR_ENV, TestRepo, Ws, ok, project_root};
use super::plan_text::{REPORT_JOB, SMALL, SMALL_FILE, small_with};

/// The values of the small config's secrets.
const SECRETS: &[(&str, &str)] = &[
    ("TANDEM_SNAP_DB_PASSWORD", "json-password-value"),
    ("TANDEM_SNAP_API_KEY", "json-api-key-value"),
];

/// The small config edited so that a plan updates, replaces, deletes, rewrites grants and
/// removes a secret and an ACL.
fn edited() -> String {
    small_with(&[
        ("max_concurrent_runs: 2", "max_concurrent_runs: 3"),
        ("[15.4.x-scala2.12]", "[16.4.x-scala2.12]"),
        (REPORT_JOB, ""),
        ("        api_key: {env: TANDEM_SNAP_API_KEY}\n", ""),
        (
            "      acls:\n        - {principal: data-eng, permission: READ}\n",
            "",
        ),
        (
            "{group_name: analysts, level: CAN_VIEW}",
            "{user_name: alice@example.com, level: CAN_VIEW}",
        ),
    ])
}

/// A pair with the small config applied from a commit, then [`edited`] and committed; drifted by hand
/// (the passive job unpaused, a look-alike job, a lock held on the primary); and a second
/// environment, `broken`, whose secondary does not answer.
struct Deployed {
    repo: TestRepo,
    /// Where saved plans and exports go.
    scratch: tempfile::TempDir,
}

impl Deployed {
    fn new() -> Deployed {
        let repo = TestRepo::with_env(PAIR_ENV)
            .file(SMALL_FILE, SMALL)
            .git_init();
        repo.commit("base");
        ok(&repo.tandem_env(&["-e", "test", "apply", "--auto-approve"], SECRETS));
        repo.write(SMALL_FILE, &edited());
        repo.commit("edit");
        Ws::local(&repo, "secondary").close_after(|ws| {
            ws.update_job(
                "etl",
                json!({"max_concurrent_runs": 2, "schedule": {"quartz_cron_expression": "0 30 1 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"}}),
            );
        });
        Ws::local(&repo, "primary").close_after(|ws| {
            ws.post(
                "/api/2.2/jobs/create",
                json!({"name": "heartbeat", "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": "/x"}}]}),
            );
            ws.write_file_json(
                "/Shared/.tandem/test/lock.json",
                &json!({"id": "0123456789abcdef", "holder": "someone@ci", "operation": "apply",
                        "since": "2026-01-02T03:04:05Z", "expires_ms": 4_102_444_800_000_i64,
                        "since_ms": 1_767_323_045_000_i64}),
            );
        });
        // Nothing listens on a port just given back.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        repo.write(
            "environments/broken.yaml",
            &format!(
                "workspaces:\n  primary:\n    host: local:primary\n  secondary:\n    host: http://127.0.0.1:{port}\n    token_env: TANDEM_TEST_TOKEN\nactive: primary\n"
            ),
        );
        repo.write(
            "environments/locked.yaml",
            &format!(
                "workspaces:\n  primary:\n    host: local:primary\n  secondary:\n    host: http://127.0.0.1:{port}\n    token_env: TANDEM_NO_SUCH_TOKEN\nactive: primary\n"
            ),
        );
        Deployed {
            repo,
            scratch: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// `tandem <args>` with the secrets' variables and a token set; its stdout and stderr.
    fn run(&self, args: &[&str]) -> (String, String) {
        let mut envs = SECRETS.to_vec();
        envs.push(("TANDEM_TEST_TOKEN", "dev"));
        let run = self.repo.tandem_env(args, &envs);
        (run.stdout(), run.stderr())
    }

    /// A path in the scratch directory.
    fn scratch(&self, name: &str) -> String {
        self.scratch.path().join(name).display().to_string()
    }
}

/// Test helpers on [`Ws`].
trait CloseAfter {
    /// Runs `f` on the workspace, then closes it (the embedded emulator writes its state).
    fn close_after(self, f: impl FnOnce(&Ws));
}

impl CloseAfter for Ws {
    fn close_after(self, f: impl FnOnce(&Ws)) {
        f(&self);
        self.close();
    }
}

/// `tandem promote secondary --dry-run --format`, its format to follow.
const PROMOTE_DRY_RUN: [&str; 6] = [
    "-e",
    "test",
    "promote",
    "secondary",
    "--dry-run",
    "--format",
];

/// The schema of a command's JSON output (`schemas/<name>-output.schema.json`).
fn schema(name: &str) -> Value {
    let path = project_root().join(format!("schemas/{name}-output.schema.json"));
    let text = std::fs::read_to_string(&path).expect("schema file");
    serde_json::from_str(&text).expect("schema is JSON")
}

/// `schema` with every object schema that lists properties closed to others: what tandem prints
/// must all be described, though consumers get open schemas (fields may be added).
fn strict(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> = map
                .iter()
                .map(|(k, v)| {
                    // `const` and `enum` values are data, not schemas.
                    if k == "const" || k == "enum" {
                        (k.clone(), v.clone())
                    } else {
                        (k.clone(), strict(v))
                    }
                })
                .collect();
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), json!(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strict).collect()),
        other => other.clone(),
    }
}

/// Checks `output` (one JSON document, as printed by `what`) against the strict `name` schema.
pub fn assert_valid(name: &str, what: &str, output: &str) -> Value {
    let document: Value = serde_json::from_str(output)
        .unwrap_or_else(|e| panic!("{what}: not one JSON document ({e}):\n{output}"));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&strict(&schema(name)))
        .expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match schemas/{name}-output.schema.json:\n{}\n{output}",
        errors.join("\n")
    );
    document
}

#[test]
fn every_json_output_matches_its_schema() {
    let d = Deployed::new();
    let saved = d.scratch("plan.json");
    let documents = [
        (
            "plan",
            vec!["-e", "test", "plan", "--format", "json", "--base", "HEAD~1"],
        ),
        (
            "plan",
            vec!["-e", "test", "plan", "--format", "json", "--out", &saved],
        ),
        ("plan", vec!["show", &saved, "--format", "json"]),
        ("plan", vec!["-e", "broken", "plan", "--format", "json"]),
        ("plan", [&PROMOTE_DRY_RUN[..], &["json"]].concat()),
        ("drift", vec!["-e", "test", "drift", "--format", "json"]),
        ("drift", vec!["-e", "broken", "drift", "--format", "json"]),
        (
            "readiness",
            vec!["-e", "test", "readiness", "--format", "json"],
        ),
        (
            "readiness",
            vec!["-e", "broken", "readiness", "--format", "json"],
        ),
        ("status", vec!["-e", "test", "status", "--format", "json"]),
        (
            "status",
            vec![
                "-e",
                "broken",
                "status",
                "--format",
                "json",
                "--timeout",
                "2",
            ],
        ),
    ];
    // The last documents: a workspace without credentials. (A plan without the secrets'
    // values is checked in absent_secrets.rs: embedded workspaces have placeholder values.)
    let locked = documents.len();
    let documents = [
        &documents[..],
        &[
            ("plan", vec!["-e", "locked", "plan", "--format", "json"]),
            ("drift", vec!["-e", "locked", "drift", "--format", "json"]),
            (
                "status",
                vec![
                    "-e",
                    "locked",
                    "status",
                    "--format",
                    "json",
                    "--timeout",
                    "2",
                ],
            ),
        ],
    ]
    .concat();
    let mut seen = Vec::new();
    for (name, args) in &documents {
        let (stdout, stderr) = d.run(args);
        let what = format!("tandem {}", args.join(" "));
        assert!(!stdout.is_empty(), "{what} printed nothing: {stderr}");
        seen.push(assert_valid(name, &what, &stdout));
    }
    // What the runs must have shown, or the schemas were checked against too little.
    let actions: Vec<&str> = seen[0]["workspaces"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| w["actions"].as_array().into_iter().flatten())
        .filter_map(|a| a["action"]["type"].as_str())
        .collect();
    for kind in [
        "update",
        "replace",
        "delete",
        "set_permissions",
        "delete_secret",
        "delete_acl",
    ] {
        assert!(
            actions.contains(&kind),
            "no {kind} in the plan: {actions:?}"
        );
    }
    assert!(seen[0]["changed_files"].is_array(), "--base: {}", seen[0]);
    assert!(!seen[3]["failures"].as_array().expect("failures").is_empty());
    let drift_kinds: Vec<&str> = seen[5]["drift"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert!(drift_kinds.contains(&"passive_breach"), "{drift_kinds:?}");
    assert!(drift_kinds.contains(&"lookalike"), "{drift_kinds:?}");
    assert!(seen[9]["workspaces"][0]["lock"].is_object(), "{}", seen[9]);
    assert!(
        seen[9]["workspaces"][0]["record"].is_object(),
        "{}",
        seen[9]
    );
    assert_eq!(seen[10]["workspaces"][1]["reachable"], json!(false));
    for (at, path) in [(0, "/failures/0"), (1, "/failures/0")] {
        let failure = seen[locked + at].pointer(path).expect(path);
        assert_eq!(failure["authentication"], json!(true), "{failure}");
    }
    let locked_out = &seen[locked + 2]["workspaces"][1];
    assert_eq!(
        locked_out["authentication_failed"],
        json!(true),
        "{locked_out}"
    );
    // Every document says its version, as its schema does.
    for ((name, _), document) in documents.iter().zip(&seen) {
        assert_eq!(
            document["format_version"],
            schema(name)["properties"]["format_version"]["const"],
            "{name}"
        );
    }
}

#[test]
fn the_strict_schemas_refuse_a_field_they_do_not_describe() {
    let document = json!({"format_version": 1, "environment": "e", "ready": true, "error": false,
                          "checks": [{"check": "reachable", "workspace": "w", "ok": true,
                                      "detail": "", "fingerprint": "ab12"}]});
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&strict(&schema("readiness")))
        .expect("the schema compiles");
    assert!(!validator.is_valid(&document));
    let open = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema("readiness"))
        .expect("the schema compiles");
    assert!(
        open.is_valid(&document),
        "consumers' schemas stay open to added fields"
    );
}

/// The secrets' fingerprints recorded in both workspaces' state records, the fingerprint keys
/// and the record digests named in their seal scopes: what no output may show.
fn internals(repo: &TestRepo) -> Vec<String> {
    let mut out = Vec::new();
    for name in ["primary", "secondary"] {
        let ws = Ws::local(repo, name);
        let record = ws.record();
        for keys in record["secrets"].as_object().into_iter().flatten() {
            for write in keys.1.as_object().into_iter().flatten() {
                let fingerprint = write.1["fingerprint"].as_str().expect("a fingerprint");
                out.push(fingerprint.to_string());
            }
        }
        for key in ws.secrets("tandem.test").into_keys() {
            let hex = key.rsplit('.').next().expect("hex").to_string();
            assert!(hex.len() >= 32, "{key}");
            out.push(hex);
        }
        ws.close();
    }
    out
}

/// Every file under `dir`, read.
fn files_under(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push((path.display().to_string(), text));
        }
    }
    out
}

#[test]
fn no_output_shows_a_secret_fingerprint_or_the_fingerprint_key() {
    let d = Deployed::new();
    let forbidden = internals(&d.repo);
    assert!(
        forbidden.len() >= 2 * 2 + 2,
        "fingerprints of every secret and a key per workspace: {forbidden:?}"
    );
    let saved = d.scratch("plan.json");
    let exported = d.scratch("exported");
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut run = |args: &[&str]| {
        let (stdout, stderr) = d.run(args);
        let what = args.join(" ");
        outputs.push((format!("{what} (stdout)"), stdout));
        outputs.push((format!("{what} (stderr)"), stderr));
    };
    for format in ["text", "json", "markdown"] {
        run(&["-e", "test", "plan", "--format", format, "-v"]);
        run(&["-e", "test", "drift", "--format", format]);
    }
    for format in ["text", "json"] {
        run(&["-e", "test", "readiness", "--format", format]);
        run(&["-e", "test", "validate", "--format", format]);
        for env in ["test", "broken"] {
            run(&["-e", env, "status", "--format", format, "--timeout", "2"]);
        }
    }
    run(&["-e", "test", "plan", "--out", &saved]);
    for format in ["text", "json", "markdown"] {
        run(&["show", &saved, "--format", format]);
        run(&[&PROMOTE_DRY_RUN[..], &[format]].concat());
    }
    run(&[
        "-e", "test", "export", "--from", "primary", "--out", &exported,
    ]);
    run(&["-e", "test", "unlock", "primary"]);
    run(&["-e", "test", "apply", "--auto-approve"]);
    run(&["-e", "test", "adopt", "--auto-approve"]);
    run(&["-e", "test", "status", "--format", "json"]);
    outputs.extend(files_under(Path::new(&exported)));
    outputs.push((
        "the saved plan".into(),
        std::fs::read_to_string(&saved).expect("saved plan"),
    ));
    let status = &outputs
        .iter()
        .rfind(|(what, _)| what == "-e test status --format json (stdout)")
        .expect("status")
        .1;
    assert!(
        status.contains("\"secrets_recorded\""),
        "status ran and read the records: {status}"
    );
    for (what, text) in &outputs {
        for secret in &forbidden {
            assert!(
                !text.contains(secret.as_str()),
                "{what} shows {secret}:\n{text}"
            );
        }
        for (_, value) in SECRETS {
            assert!(!text.contains(value), "{what} shows a secret value");
        }
    }
}
