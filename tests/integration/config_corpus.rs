//! The bad-input corpus: every directory under tests/corpus/ is a repository with one kind of
//! mistake. Loading it must fail, and the rendered diagnostics (file:line:col, message, label,
//! help) are snapshotted.

use tandem::config::{self, ConfigError, LoadOptions};

#[test]
fn every_corpus_repository_is_rejected_with_precise_diagnostics() {
    insta::glob!("../corpus", "*/environments/test.yaml", |env_file| {
        let root = env_file
            .parent()
            .and_then(|p| p.parent())
            .expect("corpus root");
        let options = LoadOptions {
            root: root.to_path_buf(),
            env: "test".into(),
            git_ref: None,
            env_from: None,
        };
        let rendered = match config::load(&options) {
            Ok(_) => panic!("{} loaded without problems", root.display()),
            Err(ConfigError::Invalid(problems)) => {
                // Every problem points into a real file at a real line.
                for line in problems.to_short_lines() {
                    let position = line.split(": ").next().unwrap_or_default();
                    assert!(position.matches(':').count() >= 2, "no line:col in {line}");
                }
                problems.render(false)
            }
            Err(other) => format!("{other}\n"),
        };
        insta::assert_snapshot!(rendered);
    });
}

#[test]
fn the_corpus_is_large_enough() {
    let cases = std::fs::read_dir(super::harness::project_root().join("tests/corpus"))
        .expect("corpus dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().join("environments/test.yaml").exists())
        })
        .count();
    assert!(cases >= 30, "only {cases} corpus repositories");
}
