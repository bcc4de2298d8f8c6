//! tandem keeps a primary and one or more disaster-recovery Databricks workspaces in the state
//! described by a Git repository: jobs, clusters, instance pools, secret scopes and permissions,
//! with the passive side held passive until `tandem promote`.

pub mod cli;
pub mod client;
pub mod config;
pub mod emulator;
pub mod engine;
pub mod kinds;
pub mod model;
pub mod parallel;
pub mod plan;
pub mod policy;
