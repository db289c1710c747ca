//! Full pull against the simulator over HTTP, on the embedded engines: pull, review, confirm,
//! auto mode and its guard, partial snapshots, and resumes after a kill.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auto;
mod partial;
mod resume;
mod review;
mod schedule;
mod support;
