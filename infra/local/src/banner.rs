//! What `cargo run` prints on stdout once the system runs: where everything is and what to do next.

use std::fmt::Write;

use serde_json::Value;

use crate::Running;

/// The first full pull's summary and the admin calls that review and confirm it.
fn first_pull(out: &mut String, run: &Value, base: &str, token: &str) {
    let id = run["id"].as_str().unwrap_or("?");
    let c = &run["counters"];
    let _ = writeln!(
        out,
        "\nFirst full pull (review mode): run {id}, state {}",
        run["state"]
    );
    let _ = writeln!(
        out,
        "  departments {} · users {} · invalid rows {} · planned: create {} update {} move {} disable {}",
        c["departments"],
        c["users"],
        c["invalid_rows"],
        c["planned_creates"],
        c["planned_updates"],
        c["planned_moves"],
        c["planned_disables"]
    );
    let auth = format!("-H 'Authorization: Bearer {token}'");
    let _ = writeln!(out, "  review:   curl {auth} {base}/admin/api/runs/{id}/org-units");
    let _ = writeln!(
        out,
        "  confirm:  curl -X POST {auth} {base}/admin/api/runs/{id}/confirm"
    );
}

/// The banner of a started system (the old order: the directory before the review).
pub fn banner(running: &Running) -> String {
    let mut out = String::new();
    let base = format!("http://{}", running.addr);
    let token = running.admin_token.clone().unwrap_or_default();
    let _ = writeln!(out, "dingbridge {} is running", env!("CARGO_PKG_VERSION"));
    if let Some(demo) = &running.demo {
        let sim = demo.sim.base_url();
        let _ = writeln!(out, "  simulator:  {sim}");
        let _ = writeln!(
            out,
            "  directory:  curl -H 'Authorization: Bearer {token}' {base}/admin/api/accounts"
        );
        let _ = writeln!(out, "  change the org and watch the directory follow");
        if let Some(run) = &demo.run {
            first_pull(&mut out, run, &base, &token);
        }
    }
    out
}
