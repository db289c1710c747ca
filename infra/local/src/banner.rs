//! What `cargo run` prints on stdout once the system runs, in the order a newcomer needs it:
//! where things are, then the review waiting, then what follows its confirm. Logs go to stderr.

use std::fmt::Write;

use serde_json::Value;

use crate::Running;
use crate::home::{
    Command, directory_commands, org_change_commands, push_commands, review_commands, scim_commands,
};
use crate::token::TokenSource;

fn commands(out: &mut String, list: &[Command]) {
    for c in list {
        let _ = writeln!(out, "     {}:\n       {}", c.what, c.command);
    }
}

/// The demo's run: its counters, and the calls that review and confirm it when it waits.
fn run_summary(out: &mut String, run: &Value) {
    let c = &run["counters"];
    let _ = writeln!(
        out,
        "     read: departments {} · users {} · invalid rows {} · removed as invalid {}",
        c["departments"], c["users"], c["invalid_rows"], c["removed_invalid"]
    );
    let _ = writeln!(
        out,
        "     planned: create {} · update {} · move {} · disable {} · unit creates {} · unit updates {} · unit removals {}",
        c["planned_creates"],
        c["planned_updates"],
        c["planned_moves"],
        c["planned_disables"],
        c["planned_unit_creates"],
        c["planned_unit_updates"],
        c["planned_unit_removals"]
    );
}

/// The banner of a started system.
pub fn banner(running: &Running) -> String {
    let mut out = String::new();
    let base = format!("http://{}", running.addr);
    let token = &running.token;
    let _ = writeln!(out, "dingbridge {} is running", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "  home:       {base}/  (open it in a browser)");
    let _ = writeln!(out, "  health:     {base}/healthz");
    let _ = writeln!(
        out,
        "  admin API:  {base}/admin/api/  (Authorization: Bearer <admin token>)"
    );
    let _ = writeln!(
        out,
        "  console:    {}/admin  (sign in as a person; the first time, give the admin token to become\n              \
         the administrator)",
        running.public_url
    );
    match token.source {
        TokenSource::Environment => {
            let _ = writeln!(out, "  admin token: $DINGBRIDGE_ADMIN_TOKEN");
        }
        TokenSource::File { created } => {
            let when = if created {
                "made at this start"
            } else {
                "kept from an earlier start"
            };
            let _ = writeln!(
                out,
                "  admin token: in {} (owner-only, {when}); the commands below read it from there",
                token.file.display()
            );
        }
    }
    let _ = writeln!(
        out,
        "  callbacks:  {}/dingtalk/callback/<connector id>",
        running.public_url
    );
    let _ = writeln!(out, "  data:       {}", running.data_dir.display());

    let Some(demo) = &running.demo else {
        match &running.demo_error {
            Some(e) => {
                let _ = writeln!(out, "\nThe demo could not start: {e}");
            }
            None => {
                let _ = writeln!(out, "\nNo demo (--no-demo).");
            }
        }
        return out;
    };
    let sim = demo.sim.base_url();
    let (depts, users) = demo.sim.state().org_size(0).unwrap_or_default();
    let _ = writeln!(
        out,
        "\nDemo: a simulated DingTalk org and a connector syncing it"
    );
    let _ = writeln!(
        out,
        "  simulator:  {sim}  (apps: {sim}/_sim/apps, org: {sim}/_sim/org)"
    );
    let origin = if demo.continued {
        "continued from"
    } else {
        "new, kept in"
    };
    let _ = writeln!(
        out,
        "  org:        {users} users in {} departments below the root ({origin} {}; --reset-demo starts a new org and clears the store)",
        depts.saturating_sub(1),
        demo.org_file.display()
    );
    let _ = writeln!(out, "  connector:  {}", demo.connector_id);
    if let Some(ok) = demo.callback["ok"].as_bool() {
        let said = if ok {
            "registered at the simulator".to_owned()
        } else {
            format!("not registered: {}", demo.callback)
        };
        let _ = writeln!(out, "  callback:   {said}");
    }

    let run = demo.run.as_ref();
    let state = run.and_then(|r| r["state"].as_str()).unwrap_or("none");
    let id = run.and_then(|r| r["id"].as_str()).unwrap_or("?");
    let step_after = match (run, state) {
        (Some(run), "awaiting_review") => {
            let _ = writeln!(
                out,
                "\n1. The first full pull waits for your review (run {id}). Nothing is in the directory until you confirm it."
            );
            run_summary(&mut out, run);
            commands(&mut out, &review_commands(&base, token, id));
            "2. After the confirm, the directory fills"
        }
        (Some(run), _) => {
            let _ = writeln!(out, "\n1. The demo's latest run {id} is {state}.");
            run_summary(&mut out, run);
            let c = &run["counters"];
            let _ = writeln!(
                out,
                "     applied: creates {} · updates {} · disables {} · units {} · failures {}",
                c["applied_creates"],
                c["applied_updates"],
                c["applied_disables"],
                c["applied_units"],
                c["apply_failures"]
            );
            if let Some(errors) = run["errors"].as_array().filter(|e| !e.is_empty()) {
                let _ = writeln!(out, "     errors: {}", Value::from(errors.clone()));
            }
            "2. The directory"
        }
        (None, _) => {
            let _ = writeln!(out, "\n1. The demo has no run yet.");
            "2. The directory"
        }
    };
    let _ = writeln!(out, "\n{step_after}:");
    commands(&mut out, &directory_commands(&base, token));
    let _ = writeln!(
        out,
        "\n3. Then change the simulated org and watch the directory follow (by callback, within seconds):"
    );
    commands(&mut out, &org_change_commands(&sim));
    match &demo.push {
        Ok(push) => {
            let _ = writeln!(
                out,
                "\n4. And the other way: accounts and org units made under org unit {} (the \
                 department \"{}\", {}) are pushed to the simulated DingTalk:",
                push.root_unit_id,
                crate::demo::PUSH_DEPT_NAME,
                push.dept_id
            );
            commands(&mut out, &push_commands(&base, token, &push.root_unit_id));
            let _ = writeln!(
                out,
                "     then find the user in the simulated org (department {}):\n       {sim}/_sim/org",
                push.dept_id
            );
        }
        Err(e) => {
            let _ = writeln!(out, "\n4. The demo's push is off: {e}");
        }
    }
    match &demo.scim {
        Ok(scim) => {
            let kept = if scim.created {
                "made at this start"
            } else {
                "kept from an earlier start"
            };
            let _ = writeln!(
                out,
                "\n5. Or push over SCIM 2.0, as an identity system would ({base}/scim/v2, writes \
                 scoped to the pushed unit):"
            );
            let _ = writeln!(out, "     client id:     {}", scim.client_id);
            let _ = writeln!(
                out,
                "     client secret: in {} (owner-only, {kept})",
                scim.secret_file.display()
            );
            commands(&mut out, &scim_commands(&base, scim));
        }
        Err(e) => {
            let _ = writeln!(out, "\n5. No demo SCIM client: {e}");
        }
    }
    match &demo.sso {
        Ok(sso) => {
            let portal = format!("{}/login", running.public_url.trim_end_matches('/'));
            let _ = writeln!(
                out,
                "\n6. Sign in to the user portal in a browser and click into an app (single sign-on):"
            );
            let _ = writeln!(out, "     {portal}");
            let _ = writeln!(
                out,
                "     username: {}   password: in {} (owner-only)",
                sso.username,
                sso.password_file.display()
            );
            let _ = writeln!(
                out,
                "     the portal lists 演示 OIDC 应用 (OpenID Connect, code flow with PKCE) and 演示 JWT 应用\n     \
                 (a signed JWT); each opens a page of the demo app that shows the claims it received."
            );
        }
        Err(e) => {
            let _ = writeln!(out, "\n6. No demo sign-in: {e}");
        }
    }
    match demo.sso.as_ref().map(|s| &s.dingtalk) {
        Ok(Ok(dt)) => {
            let _ = writeln!(
                out,
                "\n7. Sign in with DingTalk (simulated): the QR login, also a button on the sign-in page:"
            );
            let _ = writeln!(out, "     {}", dt.qr_url);
            let _ = writeln!(
                out,
                "     the simulator's login page lets you \"scan\" as any member. A member synced to an account\n                      (confirm the demo's first pull) signs straight in; anyone else links an account once on the bind\n                      page (e.g. the demo person above). Free login from a workbench micro-app, straight into an app\n                      (a LOCAL stand-in plays DingTalk's JSAPI in the browser):"
            );
            for (name, url) in &dt.micro_urls {
                let _ = writeln!(out, "     {name}: {url}");
            }
        }
        Ok(Err(e)) => {
            let _ = writeln!(out, "\n7. No demo DingTalk sign-in: {e}");
        }
        Err(_) => {}
    }
    out
}
