//! A tampered state record and lock: corrupt, forged, replayed, raced.
//!
//! Any workspace user can write `/Shared`, where the record lives. tandem trusts a record only
//! when its SHA-256 is named in the seal scope `tandem.<env>`, which only the deployer (and
//! admins) can read or write; everything else fails closed until `tandem repair`.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tandem::client::{ClientOptions, Token, WorkspaceClient};
use tandem::engine::run::LockKeeper;
use tandem::engine::state::{self, LockError, Renewal};

use crate::harness::{Emulator, PAIR_ENV, TestRepo, Ws, ok, remote_env, sha256_hex, with_local};

const SECRET: &str = "493817";

const RESOURCES: &str = r#"resources:
  jobs:
    etl:
      name: Hostile ETL
      max_concurrent_runs: 3
      schedule: {quartz_cron_expression: "0 0 2 * * ?", timezone_id: UTC}
      tasks:
        - task_key: ingest
          notebook_task: {notebook_path: /Repos/etl/ingest}
  secret_scopes:
    etl:
      name: hostile-etl
      secrets:
        pin: {env: HOSTILE_PIN}
"#;

const RECORD: &str = "/Shared/.tandem/test/state.json";

fn tandem(repo: &TestRepo, args: &[&str]) -> crate::harness::TandemRun {
    let mut all = vec!["-e", "test"];
    all.extend_from_slice(args);
    repo.tandem_env(
        &all,
        &[("HOSTILE_PIN", SECRET), ("TANDEM_TEST_TOKEN", "dev")],
    )
}

fn applied_pair() -> TestRepo {
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", RESOURCES);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    repo
}

/// The record's bytes exactly as stored.
fn raw_record(ws: &Ws) -> Vec<u8> {
    let answer = ws.get(&format!(
        "/api/2.0/workspace/export?path={RECORD}&format=SOURCE"
    ));
    base64::engine::general_purpose::STANDARD
        .decode(answer["content"].as_str().expect("content"))
        .expect("base64")
}

/// Overwrites the record with `bytes`, as any workspace user can.
fn overwrite_record(ws: &Ws, bytes: &[u8]) {
    let content = base64::engine::general_purpose::STANDARD.encode(bytes);
    ws.post(
        "/api/2.0/workspace/import",
        json!({"path": RECORD, "content": content, "format": "AUTO", "overwrite": true}),
    );
}

/// Asserts a command failed closed on `workspace`'s record, pointing at `tandem repair`.
fn assert_untrusted(run: &crate::harness::TandemRun, workspace: &str, why: &str) {
    assert_eq!(run.code(), 1, "{}", run.all_output());
    // Diagnostics wrap long lines in a frame: compare the words.
    let out = run
        .all_output()
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(out.contains("cannot be trusted"), "{out}");
    assert!(out.contains(workspace), "{out}");
    assert!(out.contains(why), "expected `{why}` in:\n{out}");
    assert!(
        out.contains("tandem repair") || out.contains("upgrade tandem"),
        "no way out in: {out}"
    );
}

#[test]
fn a_corrupt_record_of_an_active_workspace_stops_apply_instead_of_fencing_it() {
    let repo = applied_pair();
    // A promotion whose change to the environment file was not merged: the secondary is active.
    ok(&tandem(
        &repo,
        &["promote", "secondary", "--auto-approve", "--no-commit"],
    ));
    repo.write("environments/test.yaml", PAIR_ENV);
    with_local(&repo, "secondary", |ws| {
        assert_eq!(ws.job_settings("etl")["max_concurrent_runs"], 3);
        overwrite_record(ws, b"{\"format_version\": 2, \"role\": ");
    });
    assert_untrusted(&tandem(&repo, &["plan"]), "secondary", "is not JSON");
    let run = tandem(&repo, &["apply", "--auto-approve"]);
    assert_untrusted(&run, "secondary", "is not JSON");
    with_local(&repo, "secondary", |ws| {
        assert_eq!(
            ws.job_settings("etl")["max_concurrent_runs"],
            3,
            "the active secondary was fenced"
        );
    });
    let run = tandem(
        &repo,
        &["promote", "primary", "--auto-approve", "--no-commit"],
    );
    assert_untrusted(&run, "secondary", "is not JSON");
}

#[test]
fn a_record_from_a_newer_tandem_or_deleted_or_replayed_is_refused() {
    // Committed, so that each apply's record names another commit and so differs.
    let repo = TestRepo::with_env(PAIR_ENV)
        .file("resources/r.yaml", RESOURCES)
        .git_init();
    repo.commit("one");
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    let first = with_local(&repo, "primary", raw_record);

    // Newer format, even properly sealed: this tandem cannot know what it says.
    with_local(&repo, "primary", |ws| {
        let mut record: Value = serde_json::from_slice(&first).expect("json");
        record["format_version"] = json!(99);
        ws.write_record(&record);
    });
    assert_untrusted(&tandem(&repo, &["plan"]), "primary", "newer tandem");

    // Deleted: not a workspace tandem never saw (that would skip the guard).
    with_local(&repo, "primary", |ws| {
        ws.post("/api/2.0/workspace/delete", json!({"path": RECORD}));
    });
    assert_untrusted(&tandem(&repo, &["plan"]), "primary", "missing");
    ok(&tandem(&repo, &["repair", "primary", "--auto-approve"]));
    ok(&tandem(&repo, &["apply", "--auto-approve"]));

    // Replayed: a record tandem wrote once, put back after a newer one replaced it.
    let old = with_local(&repo, "primary", raw_record);
    repo.write(
        "resources/r.yaml",
        &RESOURCES.replace("max_concurrent_runs: 3", "max_concurrent_runs: 4"),
    );
    repo.commit("two");
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    with_local(&repo, "primary", |ws| {
        assert_ne!(raw_record(ws), old, "the apply rewrote the record");
        overwrite_record(ws, &old);
    });
    assert_untrusted(&tandem(&repo, &["plan"]), "primary", "does not match");
}

#[test]
fn a_scope_a_workspace_user_adds_to_the_record_is_never_deleted() {
    let dir = tempfile::tempdir().expect("dir");
    let tokens = ["--token", "dev", "--token", "user-token=alice@example.com"];
    let primary = Emulator::spawn(&dir.path().join("p.json"), &tokens);
    let secondary = Emulator::spawn(&dir.path().join("s.json"), &tokens);
    let repo = TestRepo::with_env(&remote_env(&primary.url, &secondary.url))
        .file("resources/r.yaml", RESOURCES);
    ok(&tandem(&repo, &["apply", "--auto-approve"]));

    // alice, no admin, makes a scope of her own and claims it is tandem's.
    let alice = Ws::remote(&primary.url, "user-token");
    alice.post(
        "/api/2.0/secrets/scopes/create",
        json!({"scope": "alice-team"}),
    );
    let mut record = primary.client().record();
    record["managed_scopes"] = json!(["alice-team", "hostile-etl"]);
    let bytes = serde_json::to_vec_pretty(&record).expect("json");
    overwrite_record(&alice, &bytes);
    // She can neither seal her record nor read the seal (nor so the fingerprint key).
    let digest = sha256_hex(&bytes);
    let (status, _) = alice.call(
        "POST",
        "/api/2.0/secrets/put",
        Some(
            json!({"scope": "tandem.test", "key": format!("record.{digest}"), "string_value": "x"}),
        ),
    );
    assert_eq!(status, 403, "a workspace user sealed a record");
    let (status, _) = alice.call("GET", "/api/2.0/secrets/list?scope=tandem.test", None);
    assert_eq!(status, 403, "a workspace user read the seal scope");

    assert_untrusted(&tandem(&repo, &["plan"]), "primary", "does not match");
    let run = tandem(&repo, &["apply", "--auto-approve"]);
    assert_untrusted(&run, "primary", "does not match");
    assert!(primary.client().scopes().contains("alice-team"));
    // A read-only principal (a pull request's plan, with READ on the seal scope) checks the
    // record too, though it may not list the scope's ACL.
    primary.client().post(
        "/api/2.0/secrets/acls/put",
        json!({"scope": "tandem.test", "principal": "alice@example.com", "permission": "READ"}),
    );
    let as_alice = repo.tandem_env(
        &["-e", "test", "plan"],
        &[("HOSTILE_PIN", SECRET), ("TANDEM_TEST_TOKEN", "user-token")],
    );
    assert_untrusted(&as_alice, "primary", "does not match");

    // Repair keeps none of the claims unless asked; the scope is still never deleted.
    let run = tandem(&repo, &["repair", "primary", "--auto-approve"]);
    let out = ok(&run);
    assert!(out.contains("alice-team"), "repair shows the claims: {out}");
    assert_eq!(primary.client().record()["managed_scopes"], json!([]));
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
    assert!(primary.client().scopes().contains("alice-team"));
}

#[test]
fn a_seal_scope_open_to_every_user_seals_nothing() {
    let repo = applied_pair();
    with_local(&repo, "secondary", |ws| {
        ws.post(
            "/api/2.0/secrets/acls/put",
            json!({"scope": "tandem.test", "principal": "users", "permission": "READ"}),
        );
    });
    assert_untrusted(&tandem(&repo, &["plan"]), "secondary", "`users`");
    // Repair cannot help until the grant is gone.
    let run = tandem(&repo, &["repair", "secondary", "--auto-approve"]);
    assert_eq!(run.code(), 1, "{}", run.all_output());
    with_local(&repo, "secondary", |ws| {
        ws.post(
            "/api/2.0/secrets/acls/delete",
            json!({"scope": "tandem.test", "principal": "users"}),
        );
    });
    let run = tandem(&repo, &["plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}", run.all_output());
}

#[test]
fn the_record_holds_nothing_that_tests_a_guess_at_a_secret() {
    let repo = applied_pair();
    let record = with_local(&repo, "primary", |ws| ws.record());
    assert!(record.get("salt").is_none(), "{record:#}");
    let fingerprint = record["secrets"]["hostile-etl"]["pin"]["fingerprint"]
        .as_str()
        .expect("a fingerprint")
        .to_string();
    let sha = |text: &str| sha256_hex(text.as_bytes());
    // The old scheme: SHA-256 of the value, or of `salt:value` with the salt beside it.
    assert_ne!(fingerprint, sha(SECRET));
    let text = record.to_string();
    for word in text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '.') {
        assert_ne!(
            fingerprint,
            sha(&format!("{word}:{SECRET}")),
            "salted with `{word}`"
        );
    }
    // The key exists only as a secret name in the seal scope.
    let seal = with_local(&repo, "primary", |ws| ws.secrets("tandem.test"));
    let key = seal
        .keys()
        .find_map(|k| k.strip_prefix("fingerprint-key."))
        .expect("a fingerprint key");
    assert!(!text.contains(key), "the key sits in the record");
    // And no second apply rewrites the secret: the keyed fingerprints still match.
    let run = tandem(&repo, &["plan", "--detailed-exitcode"]);
    assert_eq!(run.code(), 0, "{}", run.all_output());
}

// ---------------------------------------------------------------------------------------------
// Locks
// ---------------------------------------------------------------------------------------------

fn client(url: &str, name: &str) -> WorkspaceClient {
    let options = ClientOptions {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        ..ClientOptions::default()
    };
    WorkspaceClient::new(name, url, Token::new("dev"), options).expect("client")
}

fn expired_lock(ws: &Ws, id: &str) {
    let now = state::now_ms();
    ws.write_file_json(
        "/Shared/.tandem/test/lock.json",
        &json!({"id": id, "holder": "dead@ci", "operation": "apply", "since": "then",
                "expires_ms": now - 1000, "since_ms": now - 3_600_000}),
    );
}

#[test]
fn two_runs_taking_over_one_expired_lock_never_both_hold_it() {
    let dir = tempfile::tempdir().expect("dir");
    let emulator = Emulator::spawn(&dir.path().join("p.json"), &["--latency-ms", "4"]);
    let ws = emulator.client();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (a, b) = (client(&emulator.url, "a"), client(&emulator.url, "b"));
    for round in 0..4u64 {
        expired_lock(&ws, &format!("dead{round}"));
        // The first delete of the expired lock is held up for a second (a 503 asking to retry
        // later): the other run meanwhile reads, removes and re-creates the lock, and a delayed
        // delete that checks nothing then removes the new holder's lock.
        ws.add_fault(
            json!({"method": "POST", "path": "/api/*/workspace/delete", "status": 503,
                            "retry_after": 1, "times": 1}),
        );
        let (first, second) = rt.block_on(async {
            tokio::join!(state::acquire_lock(&a, "test", "apply", 60_000), async {
                tokio::time::sleep(Duration::from_millis(round * 3)).await;
                state::acquire_lock(&b, "test", "apply", 60_000).await
            })
        });
        let (winner, loser) = match (first, second) {
            (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
            other => panic!("round {round}: not exactly one holder: {other:?}"),
        };
        let held = ws.lock().expect("a lock");
        assert_eq!(held["id"], winner.id, "round {round}");
        assert!(
            matches!(loser, LockError::Held(ref l) if l.id == winner.id),
            "round {round}: {loser:?}"
        );
        ws.post(
            "/api/2.0/workspace/delete",
            json!({"path": "/Shared/.tandem/test/lock.json"}),
        );
    }
}

#[test]
fn a_held_lock_is_renewed_and_a_taken_over_one_is_lost() {
    let dir = tempfile::tempdir().expect("dir");
    let emulator = Emulator::spawn(&dir.path().join("p.json"), &[]);
    let ws = emulator.client();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let a = std::sync::Arc::new(client(&emulator.url, "a"));
    let b = client(&emulator.url, "b");
    rt.block_on(async {
        let lock = state::acquire_lock(&a, "test", "apply", 1_500)
            .await
            .expect("lock");
        let keeper = LockKeeper::start(
            "test",
            vec![(a.clone(), lock.clone())],
            Duration::from_millis(300),
            1_500,
        );
        // Twice its lifetime later, the lock is still ours: nobody may take it over.
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        match state::acquire_lock(&b, "test", "apply", 1_500).await {
            Err(LockError::Held(l)) => assert_eq!(l.id, lock.id),
            other => panic!("a renewed lock was taken: {other:?}"),
        }
        keeper.stop();
        // Once renewals stop it expires, another run takes over, and the first learns it lost.
        tokio::time::sleep(Duration::from_millis(1_700)).await;
        let taker = state::acquire_lock(&b, "test", "apply", 60_000)
            .await
            .expect("expired lock taken over");
        assert_eq!(
            state::renew_lock(&a, "test", &lock, 1_500)
                .await
                .expect("renew"),
            Renewal::Lost
        );
        assert_eq!(
            state::read_lock(&b, "test")
                .await
                .expect("read")
                .map(|l| l.id),
            Some(taker.id),
            "the loser's renewal must not overwrite the new holder's lock"
        );
    });
    drop(ws);
}

#[test]
fn a_lock_file_that_is_not_a_lock_is_never_taken_over() {
    let repo = applied_pair();
    with_local(&repo, "primary", |ws| {
        ws.write_file_json("/Shared/.tandem/test/lock.json", &json!({"whatever": 1}));
    });
    let run = tandem(&repo, &["apply", "--auto-approve"]);
    let out = run.all_output();
    assert_eq!(run.code(), 1, "{out}");
    assert!(out.contains("not a tandem lock"), "{out}");
    ok(&tandem(&repo, &["unlock", "primary", "--auto-approve"]));
    ok(&tandem(&repo, &["apply", "--auto-approve"]));
}
