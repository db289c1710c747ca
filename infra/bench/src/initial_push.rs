//! The initial push (issue 11): a subtree built in the directory before the push was enabled —
//! `accounts` accounts in `depts` departments, `depth` levels deep — planned and applied in `auto`
//! mode by `full-pull` against the simulator at `qps` calls/s per API and `latency_ms` per call.
//! The apply is timed against the rate-limit bound `max(department creates, user creates) / qps`
//! (DingTalk limits each API apart, so users of finished levels are created while deeper
//! departments are still being made), and the same push with one call at a time is measured in
//! the same run for comparison.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dingbridge::worker::{BatchHandler, PumpSettings, pump};
use futures::{StreamExt, stream};
use serde_json::{Value, json};

#[derive(Clone, Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 2000)]
    accounts: usize,
    #[arg(long, default_value_t = 150)]
    depts: usize,
    /// Levels of departments below the push root (at least 1).
    #[arg(long, default_value_t = 5)]
    depth: usize,
    #[arg(long, default_value_t = 20)]
    qps: u32,
    #[arg(long, default_value_t = 30)]
    latency_ms: u64,
    /// Entities the push run pushes at once, per kind.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Also measure the same push one call at a time (concurrency 1).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    one_at_a_time: bool,
}

/// Departments per level: each level about twice the one above, the last taking the rest.
fn level_sizes(depts: usize, depth: usize) -> Vec<usize> {
    let depth = depth.clamp(1, depts.max(1));
    let mut sizes = Vec::with_capacity(depth);
    let mut left = depts;
    for level in 0..depth {
        let levels_left = depth - level;
        let size = if levels_left == 1 {
            left
        } else {
            (1usize << level.min(20)).min(left - (levels_left - 1))
        };
        sizes.push(size.max(1));
        left -= size.max(1).min(left);
    }
    sizes
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let sizes = level_sizes(args.depts, args.depth);
    let pipelined = once(&args, &sizes, args.concurrency).await?;
    let sequential = if args.one_at_a_time {
        Some(once(&args, &sizes, 1).await?)
    } else {
        None
    };
    let bound_s = (args.depts.max(args.accounts) as f64) / f64::from(args.qps.max(1));
    let ratio = |v: &Value| v["apply_s"].as_f64().map(|s| s / bound_s);
    Ok(json!({
        "accounts": args.accounts,
        "departments": args.depts,
        "levels": sizes,
        "bound_s": bound_s,
        "pipelined": pipelined,
        "pipelined_apply_over_bound": ratio(&pipelined),
        "one_at_a_time": sequential,
        "one_at_a_time_apply_over_bound": sequential.as_ref().and_then(ratio),
    }))
}

/// One initial push on a fresh simulator and local system; `concurrency` per kind.
async fn once(args: &Args, sizes: &[usize], concurrency: usize) -> anyhow::Result<Value> {
    // The pull queue is fed to a full-pull built here, with the concurrency under test.
    let crate::local::Started {
        sim,
        running,
        admin,
        ..
    } = crate::local::start(args.qps, args.latency_ms, false).await?;
    use reqwest::Method;
    let push_root = admin.unit("Pushed", &admin.root().await?).await?;
    // The tree, level by level, each unit under a unit of the level above in turn.
    let mut above = vec![push_root.clone()];
    let mut all_units = Vec::new();
    for (level, size) in sizes.iter().enumerate() {
        let bodies: Vec<Value> = (0..*size)
            .map(|i| json!({"name": format!("L{} {i}", level + 1), "parent_id": above[i % above.len()]}))
            .collect();
        let made: Vec<anyhow::Result<Value>> = stream::iter(bodies)
            .map(|b| admin.call(Method::POST, "/admin/api/org-units", b))
            .buffered(16)
            .collect()
            .await;
        let mut level_ids = Vec::new();
        for m in made {
            level_ids.push(m?["id"].as_str().context("no unit id")?.to_owned());
        }
        all_units.extend(level_ids.iter().cloned());
        above = level_ids;
    }
    let bodies: Vec<Value> = (0..args.accounts)
        .map(|i| {
            json!({"username": format!("init{i}"), "display_name": format!("初始{i}"),
                   "mobile": format!("135{i:08}"), "org_unit_ids": [all_units[i % all_units.len()]]})
        })
        .collect();
    let made: Vec<anyhow::Result<Value>> = stream::iter(bodies)
        .map(|b| admin.call(Method::POST, "/admin/api/accounts", b))
        .buffered(16)
        .collect()
        .await;
    for m in made {
        m?;
    }
    let connector = admin
        .pushing_connector(&sim, "bench initial push", &push_root)
        .await?;

    let engines = &running.engines;
    let deps = full_pull::Deps::new(
        engines.table.clone(),
        engines.pull_queue.clone(),
        engines.dingtalk.clone(),
        engines.clock.clone(),
        engines.secrets.clone(),
        full_pull::PullSettings {
            push_concurrency: concurrency,
            ..full_pull::PullSettings::default()
        },
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let handler: Arc<dyn BatchHandler> = Arc::new(deps);
    let pumping = tokio::spawn(pump(
        engines.pull_queue.clone(),
        handler,
        PumpSettings {
            visibility: Duration::from_secs(16 * 60),
            idle_poll: Duration::from_millis(20),
            ..PumpSettings::default()
        },
        None,
        stopped,
    ));

    let started = Instant::now();
    let run = admin
        .call(
            Method::POST,
            &format!("/admin/api/connectors/{connector}/push"),
            json!({"mode": "auto"}),
        )
        .await?;
    let run_id = run["id"].as_str().context("no run id")?.to_owned();
    let mut applying_at = None;
    let run = loop {
        let run = admin
            .call(
                Method::GET,
                &format!("/admin/api/runs/{run_id}"),
                Value::Null,
            )
            .await?;
        match run["state"].as_str() {
            Some("applying") if applying_at.is_none() => applying_at = Some(started.elapsed()),
            Some("done" | "failed" | "awaiting_review" | "discarded") => break run,
            _ => {}
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "the push did not finish: {run}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let total = started.elapsed();
    anyhow::ensure!(run["state"] == "done", "the push did not apply: {run}");
    let org: Value = admin
        .http
        .get(format!("{}/_sim/org", sim.base_url()))
        .send()
        .await?
        .json()
        .await?;
    let users = org["users"].as_array().map_or(0, Vec::len);
    let depts = org["depts"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        users == args.accounts,
        "{users} of {} users in DingTalk",
        args.accounts
    );
    // A second initial push of the same subtree: its plan reads every entity back from
    // DingTalk and should find nothing to do.
    let replan = if concurrency > 1 {
        let started = Instant::now();
        let again = admin
            .call(
                Method::POST,
                &format!("/admin/api/connectors/{connector}/push"),
                Value::Null,
            )
            .await?;
        let again_id = again["id"].as_str().context("no run id")?.to_owned();
        let again = loop {
            let run = admin
                .call(
                    Method::GET,
                    &format!("/admin/api/runs/{again_id}"),
                    Value::Null,
                )
                .await?;
            if run["state"] != "pulling" {
                break run;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let c = &again["counters"];
        let planned: u64 = [
            "planned_creates",
            "planned_updates",
            "planned_disables",
            "planned_unit_creates",
            "planned_unit_updates",
        ]
        .iter()
        .filter_map(|k| c[*k].as_u64())
        .sum();
        Some(
            json!({"state": again["state"], "plan_s": started.elapsed().as_secs_f64(),
                    "planned_changes": planned}),
        )
    } else {
        None
    };
    let _ = stop.send(true);
    pumping.await?;
    running.shutdown().await?;
    let plan = applying_at.unwrap_or_default();
    Ok(json!({
        "concurrency": concurrency,
        "plan_s": plan.as_secs_f64(),
        "apply_s": (total - plan).as_secs_f64(),
        "total_s": total.as_secs_f64(),
        "departments_in_dingtalk": depts,
        "users_in_dingtalk": users,
        "second_push": replan,
        "counters": run["counters"],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_levels_hold_every_department_and_reach_the_depth() {
        assert_eq!(level_sizes(150, 5), vec![1, 2, 4, 8, 135]);
        assert_eq!(level_sizes(150, 5).iter().sum::<usize>(), 150);
        assert_eq!(level_sizes(3, 5), vec![1, 1, 1]);
        assert_eq!(level_sizes(10, 1), vec![10]);
    }
}
