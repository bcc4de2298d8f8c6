//! Local state and the emulator: symlinks under `.tandem/`, tampered journals, admin routes.
