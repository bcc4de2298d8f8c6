//! A YAML file and an HCL file describing the same resources load to the identical model.

use tandem::config::{self, LoadOptions, emit};
use tandem::model::{Kind, Resources};

use super::harness::{TestRepo, project_root};

fn load_project_env(env: &str) -> config::Config {
    config::load(&LoadOptions {
        root: project_root(),
        env: env.into(),
        git_ref: None,
        env_from: None,
    })
    .unwrap_or_else(|e| panic!("environment {env} does not load: {e:?}"))
}

#[test]
fn hand_written_yaml_and_hcl_pairs_load_identically() {
    let yaml = load_project_env("equivalence");
    let hcl = load_project_env("equivalence-hcl");
    for kind in Kind::ALL {
        assert_eq!(yaml.resources.count(kind), 1, "one {kind} in the YAML half");
    }
    assert_eq!(yaml.resources, hcl.resources);
    // The files really are in different formats.
    assert!(yaml.files.iter().all(|f| f.ends_with(".yaml")));
    assert!(hcl.files.iter().all(|f| f.ends_with(".hcl")));
}

/// The `local` environment's variables, with the default include (resources/**).
fn env_with_example_variables() -> String {
    let text = std::fs::read_to_string(project_root().join("environments/local.yaml"))
        .expect("local.yaml");
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line.starts_with("include:") {
            skipping = true;
            continue;
        }
        if skipping && (line.starts_with("  ") || line.starts_with('#') || line.is_empty()) {
            continue;
        }
        skipping = false;
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn reload(resources_file: &str, text: &str) -> Resources {
    let repo = TestRepo::with_env(&env_with_example_variables()).file(resources_file, text);
    config::load(&LoadOptions {
        root: repo.path().to_path_buf(),
        env: "test".into(),
        git_ref: None,
        env_from: None,
    })
    .unwrap_or_else(|e| match e {
        config::ConfigError::Invalid(p) => panic!("{}\n--- file ---\n{text}", p.render(false)),
        other => panic!("{other}"),
    })
    .resources
}

#[test]
fn every_example_means_the_same_in_yaml_and_in_hcl() {
    let examples = load_project_env("local");
    let resources = &examples.resources;
    assert!(resources.count(Kind::Jobs) >= 6);
    let from_yaml = reload(
        "resources/all.yaml",
        &emit::to_yaml(resources).expect("yaml"),
    );
    assert_eq!(&from_yaml, resources, "examples → YAML → load");
    let from_hcl = reload("resources/all.hcl", &emit::to_hcl(resources).expect("hcl"));
    assert_eq!(&from_hcl, resources, "examples → HCL → load");
}

#[test]
fn the_examples_are_half_yaml_and_half_hcl() {
    let examples = load_project_env("local");
    let yaml = examples
        .origins
        .values()
        .filter(|o| o.file.ends_with(".yaml"))
        .count();
    let hcl = examples
        .origins
        .values()
        .filter(|o| o.file.ends_with(".hcl"))
        .count();
    assert!(
        yaml.abs_diff(hcl) <= 2,
        "{yaml} YAML vs {hcl} HCL resources"
    );
}

/// The role step is typed: substituting in place gives what substituting the whole model as
/// JSON and reading it back gave (the way it was done before), for every environment of the
/// project, every workspace and both roles.
#[test]
fn the_typed_role_step_matches_substitution_through_json() {
    use tandem::config::refs::substitute;
    use tandem::model::{Placement, Role};
    for env in ["local", "prod", "equivalence", "equivalence-hcl"] {
        let config = load_project_env(env);
        for w in &config.environment.workspaces {
            for role in [Role::Active, Role::Passive] {
                let scope = config.workspace_scope(&w.name, role);
                let json = serde_json::to_value(&config.resources).expect("model as JSON");
                let mut expected: Resources =
                    serde_json::from_value(substitute(&json, &scope)).expect("read back");
                if role == Role::Passive {
                    expected.jobs.retain(|_, r| r.placement == Placement::Both);
                    expected
                        .clusters
                        .retain(|_, r| r.placement == Placement::Both);
                    expected
                        .instance_pools
                        .retain(|_, r| r.placement == Placement::Both);
                    expected
                        .secret_scopes
                        .retain(|_, r| r.placement == Placement::Both);
                }
                let typed = tandem::policy::resolved_for(&config.resources, &scope, role)
                    .unwrap_or_else(|e| panic!("{env}/{}: {e}", w.name));
                assert_eq!(typed, expected, "{env}/{} as {role:?}", w.name);
            }
        }
    }
}
