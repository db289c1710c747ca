//! Store tests for runs (filled in below).
