//! tandem converges where a workspace normalises what it stores: a real workspace keeps user
//! names (e-mails) and service principal application IDs lower-case in permissions and secret
//! ACLs whatever case they were written in. The embedded emulators echo names as given, so each
//! test rewrites the live side the way a workspace stores it, through the workspace's own API,
//! then plans.

use serde_json::{Value, json};

use super::harness::{PAIR_ENV, TestRepo, Ws, assert_converged, ok, with_local};

/// The application ID of the emulators' service principal.
const APP_ID: &str = "6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f";

/// A pool, a job and a scope, each granting to users named in mixed case and to a group.
fn resources(app_id: &str, group: &str) -> String {
    format!(
        r#"resources:
  instance_pools:
    workers:
      instance_pool_name: converge-workers
      node_type_id: Standard_DS3_v2
      max_capacity: 4
      permissions:
        - {{user_name: Alice@Example.com, level: CAN_MANAGE}}
        - {{service_principal_name: {app_id}, level: CAN_ATTACH_TO}}
  jobs:
    etl:
      name: Converge ETL
      tasks:
        - task_key: main
          notebook_task: {{notebook_path: /Repos/etl/main}}
      permissions:
        - {{user_name: Etl-Bot@Example.com, level: IS_OWNER}}
        - {{user_name: Alice@Example.com, level: CAN_MANAGE_RUN}}
        - {{group_name: {group}, level: CAN_VIEW}}
  secret_scopes:
    etl:
      name: converge-etl
      acls:
        - {{principal: Alice@Example.com, permission: READ}}
        - {{principal: {group}, permission: WRITE}}
"#
    )
}

/// Rewrites an object's direct grants with user names lower-cased, as a workspace stores them.
fn lower_case_grants(ws: &Ws, object: &str, id: &Value) {
    let id = id
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| id.to_string());
    let path = format!("/api/2.0/permissions/{object}/{id}");
    let answer = ws.get(&path);
    let mut acl = Vec::new();
    for entry in answer["access_control_list"].as_array().expect("acl") {
        for p in entry["all_permissions"].as_array().expect("levels") {
            if p["inherited"] == json!(true) {
                continue;
            }
            let level = p["permission_level"].clone();
            for field in ["user_name", "group_name", "service_principal_name"] {
                if let Some(name) = entry[field].as_str() {
                    let stored = if field == "group_name" {
                        name.to_string()
                    } else {
                        name.to_lowercase()
                    };
                    acl.push(json!({field: stored, "permission_level": level}));
                }
            }
        }
    }
    let (status, body) = ws.call("PUT", &path, Some(json!({"access_control_list": acl})));
    assert_eq!(status, 200, "{body}");
    let rewritten = ws.get(&path).to_string();
    assert!(
        !rewritten.contains("Alice@") && !rewritten.contains("Etl-Bot@"),
        "{rewritten}"
    );
}

/// Rewrites a scope's ACLs with e-mails lower-cased, as a workspace stores them.
fn lower_case_acls(ws: &Ws, scope: &str) {
    for (principal, permission) in ws.acls(scope) {
        let stored = principal.to_lowercase();
        if stored != principal && principal.contains('@') {
            ws.post(
                "/api/2.0/secrets/acls/delete",
                json!({"scope": scope, "principal": principal}),
            );
            ws.post(
                "/api/2.0/secrets/acls/put",
                json!({"scope": scope, "principal": stored, "permission": permission}),
            );
        }
    }
    assert!(ws.acls(scope).contains_key("alice@example.com"));
}

/// What `plan --detailed-exitcode` says, with its output for the assertion message.
fn plan_code(repo: &TestRepo) -> (i32, String) {
    let run = repo.tandem(&["-e", "test", "plan", "--detailed-exitcode"]);
    (run.code(), run.all_output())
}

#[test]
fn permissions_and_acls_naming_users_in_another_case_converge() {
    let repo =
        TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", &resources(APP_ID, "data-eng"));
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    for name in ["primary", "secondary"] {
        with_local(&repo, name, |ws| {
            let pool = ws.one("instance_pools", "workers")["instance_pool_id"].clone();
            lower_case_grants(ws, "instance-pools", &pool);
            let job = ws.one("jobs", "etl")["job_id"].clone();
            lower_case_grants(ws, "jobs", &job);
            lower_case_acls(ws, "converge-etl");
        });
    }
    assert_converged(&repo, &[]);
    let drift = repo.tandem(&["-e", "test", "drift", "--detailed-exitcode"]);
    assert_eq!(drift.code(), 0, "{}", drift.all_output());

    // An application ID in capitals is the same service principal.
    repo.write(
        "resources/r.yaml",
        &resources(&APP_ID.to_uppercase(), "data-eng"),
    );
    assert_converged(&repo, &[]);

    // Group names are case-sensitive: another case names another group.
    repo.write("resources/r.yaml", &resources(APP_ID, "Data-Eng"));
    let (code, out) = plan_code(&repo);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("Data-Eng"), "{out}");
}

#[test]
fn an_application_id_written_as_a_user_name_converges_on_the_service_principal_it_is() {
    let repo =
        TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", &resources(APP_ID, "data-eng"));
    ok(&repo.tandem(&["-e", "test", "apply", "--auto-approve"]));
    // A workspace answers an application ID given as `user_name` with `service_principal_name`.
    let as_user = resources(APP_ID, "data-eng").replace(
        &format!("service_principal_name: {APP_ID}"),
        &format!("user_name: {}", APP_ID.to_uppercase()),
    );
    repo.write("resources/r.yaml", &as_user);
    assert_converged(&repo, &[]);
}

#[test]
fn readiness_finds_users_in_any_case_but_groups_only_in_their_own() {
    let config = resources(&APP_ID.to_uppercase(), "Data-Eng");
    let repo = TestRepo::with_env(PAIR_ENV).file("resources/r.yaml", &config);
    let run = repo.tandem(&["-e", "test", "readiness", "--format", "json"]);
    let report: Value = serde_json::from_str(&run.stdout()).expect("readiness JSON");
    for workspace in ["primary", "secondary"] {
        let check = report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["workspace"] == workspace && c["check"] == "every principal exists")
            .unwrap_or_else(|| panic!("no principal check on {workspace}: {report:#}"));
        assert_eq!(check["ok"], false, "{check}");
        // Alice@Example.com, Etl-Bot@Example.com and the application ID in capitals exist.
        assert_eq!(
            check["detail"],
            "unknown: Data-Eng (group names are case-sensitive: the workspace has data-eng)",
            "{check}"
        );
    }
}
