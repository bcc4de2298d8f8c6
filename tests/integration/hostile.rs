//! One test per attack on tandem by someone who controls a pull request, a workspace's `/Shared`
//! folder, or the server at the other end: each fails without the defence it names.

mod config;
mod emulator;
mod saved_plan;
mod server;
mod state;
