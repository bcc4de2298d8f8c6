//! The runtime: connecting to workspaces (embedded emulators included), reading live state,
//! planning, applying, promoting; the state record and the lock in each workspace.

pub mod live;
pub mod state;
