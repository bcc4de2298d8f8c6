//! A tampered state record and lock: corrupt, forged, replayed, raced.
