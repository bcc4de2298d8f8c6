//! tandem's integration tests: one binary, a fluent harness (temporary repositories, the real
//! `tandem` binary), insta snapshots.

mod absent_secrets;
mod apply;
#[cfg(unix)]
mod auth;
#[cfg(unix)]
mod auth_support;
#[cfg(unix)]
mod ci_scripts;
mod ci_workflows;
mod cli;
mod client;
mod config_corpus;
mod converge;
mod destroy;
mod drift;
mod emulator;
mod equivalence;
mod export;
mod git_ref;
mod harness;
mod hostile;
mod import;
mod json_output;
mod model_roundtrip;
mod plan_text;
mod promote;
mod reliability;
mod validate;
