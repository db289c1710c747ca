//! The demo `cargo run` starts, across restarts on one data directory (issue 9, item 12): the
//! admin token is kept in a private file, the simulated org is saved beside the store, so a second
//! start continues the same demo; `reset` starts over.

use std::collections::BTreeSet;
use std::time::Duration;

use dingbridge_local::demo::DemoOptions;
use dingbridge_local::{Options, Running, start};
use serde_json::{Value, json};

use crate::system::eventually;

const PATIENCE: Duration = Duration::from_secs(60);

pub(crate) fn options(dir: &std::path::Path) -> Options {
    let mut o = Options::new("127.0.0.1:0".parse().unwrap(), dir.join("data"));
    o.demo = Some(DemoOptions {
        seed: 5,
        users: 25,
        depts: 5,
        reset: false,
    });
    o
}

fn token_of(running: &Running) -> String {
    std::fs::read_to_string(&running.token.file)
        .unwrap()
        .trim()
        .to_owned()
}

async fn admin(running: &Running, method: reqwest::Method, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("http://{}{path}", running.addr))
        .bearer_auth(token_of(running))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The department and user ids of the simulated org, as its control API shows them.
async fn org_ids(running: &Running) -> (BTreeSet<i64>, BTreeSet<String>) {
    let sim = running.demo.as_ref().unwrap().sim.base_url();
    let org: Value = reqwest::get(format!("{sim}/_sim/org"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let depts = org["depts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dept_id"].as_i64().unwrap())
        .collect();
    let users = org["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userid"].as_str().unwrap().to_owned())
        .collect();
    (depts, users)
}

/// The DingTalk ids the directory maps for the demo connector (`kind`: `user` or `dept`).
async fn directory_ids(running: &Running, path: &str) -> BTreeSet<String> {
    let (status, page) = admin(running, reqwest::Method::GET, &format!("{path}?limit=1000")).await;
    assert_eq!(status, 200, "{page}");
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|item| item["mappings"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["external_id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_continues_the_demo_with_the_same_token_connector_and_org() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(options(dir.path())).await.unwrap();
    let demo = first.demo.as_ref().expect("the first start has a demo");
    let connector = demo.connector_id.clone();
    let run = demo.run.clone().expect("the first start pulls for review");
    assert_eq!(run["state"], "awaiting_review", "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    let token = token_of(&first);
    assert!(!token.is_empty());
    let ids_before = org_ids(&first).await;
    #[cfg(unix)]
    for file in [&first.token.file, &demo.org_file] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
    first.shutdown().await.unwrap();

    // The second start: a demo again, the same connector and review, the same org.
    let second = start(options(dir.path())).await.unwrap();
    assert_eq!(token_of(&second), token, "the token file keeps the token");
    let demo = second.demo.as_ref().expect("the second start has a demo");
    assert_eq!(demo.connector_id, connector);
    let shown = demo.run.clone().expect("the waiting review is shown again");
    assert_eq!(
        (shown["id"].as_str(), &shown["state"]),
        (Some(run_id.as_str()), &json!("awaiting_review"))
    );
    assert_eq!(
        org_ids(&second).await,
        ids_before,
        "the simulated org continues"
    );
    let (status, listed) = admin(&second, reqwest::Method::GET, "/admin/api/connectors").await;
    assert_eq!(status, 200, "the token in the file works: {listed}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");

    // Confirm the review: the directory holds the org the simulator serves.
    let runs = format!("/admin/api/runs/{run_id}");
    let (status, _) = admin(
        &second,
        reqwest::Method::POST,
        &format!("{runs}/remove-invalid"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = admin(&second, reqwest::Method::POST, &format!("{runs}/confirm")).await;
    assert_eq!(status, 202, "{body}");
    eventually(PATIENCE, "the confirmed run is applied", || async {
        admin(&second, reqwest::Method::GET, &runs).await.1["state"] == "done"
    })
    .await;
    let (depts, users) = org_ids(&second).await;
    let accounts = directory_ids(&second, "/admin/api/accounts").await;
    assert!(!accounts.is_empty());
    assert!(
        accounts.iter().all(|a| users.contains(a)),
        "{accounts:?} vs {users:?}"
    );

    // A department made in the simulated org reaches the directory through its callback…
    let sim = second.demo.as_ref().unwrap().sim.base_url();
    let made: Value = reqwest::Client::new()
        .post(format!("{sim}/_sim/depts"))
        .json(&json!({ "name": "Restarted", "parent_id": 1 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_dept = made["dept_id"].as_i64().unwrap();
    assert!(!depts.contains(&new_dept));
    eventually(
        PATIENCE,
        "the new department reaches the directory",
        || async {
            directory_ids(&second, "/admin/api/org-units")
                .await
                .contains(&new_dept.to_string())
        },
    )
    .await;
    second.shutdown().await.unwrap();

    // …and is still in the simulated org after the next restart, which starts no new pull.
    let third = start(options(dir.path())).await.unwrap();
    let (depts, _) = org_ids(&third).await;
    assert!(depts.contains(&new_dept), "{depts:?}");
    let shown = third.demo.as_ref().unwrap().run.clone().unwrap();
    assert_eq!(
        (shown["id"].as_str(), &shown["state"]),
        (Some(run_id.as_str()), &json!("done"))
    );
    let units = directory_ids(&third, "/admin/api/org-units").await;
    let dept_ids: BTreeSet<String> = depts.iter().map(i64::to_string).collect();
    assert!(
        units.iter().all(|u| dept_ids.contains(u)),
        "{units:?} vs {dept_ids:?}"
    );
    third.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_starts_a_new_org_and_an_empty_directory_with_the_same_token() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(options(dir.path())).await.unwrap();
    let token = token_of(&first);
    let first_connector = first.demo.as_ref().unwrap().connector_id.clone();
    let sim = first.demo.as_ref().unwrap().sim.base_url();
    reqwest::Client::new()
        .post(format!("{sim}/_sim/depts"))
        .json(&json!({ "name": "Forgotten", "parent_id": 1 }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let changed = org_ids(&first).await;
    first.shutdown().await.unwrap();

    let mut reset = options(dir.path());
    if let Some(demo) = reset.demo.as_mut() {
        demo.reset = true;
    }
    let second = start(reset).await.unwrap();
    assert_eq!(token_of(&second), token);
    let demo = second.demo.as_ref().unwrap();
    assert_ne!(demo.connector_id, first_connector, "the store was cleared");
    assert_eq!(demo.run.as_ref().unwrap()["state"], "awaiting_review");
    let fresh = org_ids(&second).await;
    assert_ne!(fresh.0, changed.0, "the saved org's change is forgotten");
    assert!(
        directory_ids(&second, "/admin/api/accounts")
            .await
            .is_empty()
    );

    // The home page shows the demo and the review waiting, read from the stores.
    let home: Value = reqwest::Client::new()
        .get(format!("http://{}/", second.addr))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = demo.run.as_ref().unwrap()["id"].clone();
    assert_eq!(
        home["demo"]["connector_id"],
        json!(demo.connector_id),
        "{home}"
    );
    assert_eq!(
        home["demo"]["simulated_org"]["users"],
        json!(fresh.1.len()),
        "{home}"
    );
    assert_eq!(home["reviews"][0]["run_id"], run_id, "{home}");
    assert!(
        home["reviews"][0]["counters"]["planned_creates"]
            .as_u64()
            .unwrap()
            > 0
    );
    let next = home["next"].to_string();
    assert!(
        next.contains("/confirm") && !next.contains(&token),
        "{next}"
    );
    second.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banner_shows_the_review_before_the_directory_and_names_the_token_file() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(options(dir.path())).await.unwrap();
    let text = dingbridge_local::banner::banner(&running);
    let run = running.demo.as_ref().unwrap().run.clone().unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not in the banner:\n{text}"))
    };
    let confirm = at(&format!(
        "/admin/api/runs/{}/confirm",
        run["id"].as_str().unwrap()
    ));
    assert!(at("/remove-invalid") < confirm);
    assert!(confirm < at("/admin/api/accounts"), "{text}");
    assert!(at("/admin/api/accounts") < at("/_sim/depts"), "{text}");
    assert!(
        at("unit creates") > 0,
        "planned_unit_creates is shown:\n{text}"
    );
    at(&running.token.file.display().to_string());
    assert!(
        !text.contains(&token_of(&running)),
        "the token is not printed:\n{text}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banners_push_command_creates_an_account_that_appears_in_the_simulated_org() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(options(dir.path())).await.unwrap();
    let text = dingbridge_local::banner::banner(&running);
    let push = running
        .demo
        .as_ref()
        .unwrap()
        .push
        .clone()
        .expect("the demo pushes");

    // The printed command, run as curl would run it: its URL and body, the token from the file.
    let line = text
        .lines()
        .find(|l| l.contains("curl -X POST") && l.contains("/admin/api/accounts"))
        .unwrap_or_else(|| panic!("no account-creating command in the banner:\n{text}"));
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/admin/api/accounts"))
        .unwrap();
    let body: Value = serde_json::from_str(
        line.split("-d '")
            .nth(1)
            .unwrap()
            .trim_end()
            .trim_end_matches('\''),
    )
    .unwrap();
    assert_eq!(body["org_unit_ids"], json!([push.root_unit_id]), "{line}");
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(token_of(&running))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();

    // The simulator URL the banner names shows the user, in the pushed department.
    let after = text.split("then find the user").nth(1).unwrap();
    let org_url = after
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/_sim/org"))
        .unwrap();
    let mobile = body["mobile"].as_str().unwrap().to_owned();
    eventually(
        PATIENCE,
        "the account reaches the simulated org",
        || async {
            let org: Value = reqwest::get(org_url).await.unwrap().json().await.unwrap();
            org["users"].as_array().unwrap().iter().any(|u| {
                u["mobile"] == mobile.as_str() && u["dept_id_list"] == json!([push.dept_id])
            })
        },
    )
    .await;
    let path = format!("/admin/api/accounts/{}", created["id"].as_str().unwrap());
    eventually(PATIENCE, "the account's push settles", || async {
        admin(&running, reqwest::Method::GET, &path).await.1["push"][0]["state"] == "pushed"
    })
    .await;
    running.shutdown().await.unwrap();
}

/// The banner's token command, run as curl would run it: the client id and the secret file
/// it names, the URL it posts to.
async fn run_token_command(text: &str) -> (String, Value) {
    let line = text
        .lines()
        .find(|l| l.contains("curl -u") && l.contains("/oauth/token"))
        .unwrap_or_else(|| panic!("no token command in the banner:\n{text}"));
    let client_id = line
        .split("-u \"")
        .nth(1)
        .unwrap()
        .split(':')
        .next()
        .unwrap();
    let secret_file = line
        .split("$(cat ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let url = line.split_whitespace().last().unwrap();
    let secret = std::fs::read_to_string(secret_file).unwrap();
    let response = reqwest::Client::new()
        .post(url)
        .basic_auth(client_id, Some(secret.trim()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{line}");
    (client_id.to_owned(), response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_scim_client_gets_a_token_and_is_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(options(dir.path())).await.unwrap();
    let demo = running.demo.as_ref().unwrap();
    let scim = demo.scim.clone().expect("the demo has a SCIM client");
    assert!(scim.created);
    let secret = std::fs::read_to_string(&scim.secret_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&scim.secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the secret file is owner-only");
    }
    let text = dingbridge_local::banner::banner(&running);
    assert!(
        !text.contains(secret.trim()),
        "the secret is not printed:\n{text}"
    );
    let (client_id, answer) = run_token_command(&text).await;
    assert_eq!(client_id, scim.client_id);
    assert_eq!(answer["token_type"], "Bearer");

    // The SCIM endpoint's check accepts the token, scoped to the demo's pushed unit.
    let check = dingbridge::oauth::BearerCheck::new(
        running.engines.table.clone(),
        running.engines.clock.clone(),
        &running.public_url,
    );
    let bearer = format!("Bearer {}", answer["access_token"].as_str().unwrap());
    let caller = check.caller(Some(&bearer), None).await.unwrap();
    assert_eq!(caller.client_id, scim.client_id);
    assert_eq!(
        caller.connector_id.map(|c| c.to_string()),
        Some(demo.connector_id.clone())
    );
    let push = demo.push.clone().unwrap();
    assert_eq!(
        caller.root_org_unit_id.map(|u| u.to_string()),
        Some(push.root_unit_id)
    );
    // The check holds the store open; the restart needs it closed.
    drop(check);
    running.shutdown().await.unwrap();

    let again = start(options(dir.path())).await.unwrap();
    let kept = again.demo.as_ref().unwrap().scim.clone().unwrap();
    assert!(!kept.created);
    assert_eq!(kept.client_id, scim.client_id);
    let (client_id, _) = run_token_command(&dingbridge_local::banner::banner(&again)).await;
    assert_eq!(client_id, scim.client_id);
    again.shutdown().await.unwrap();
}

/// The banner's SCIM lines, run as printed in a shell (curl and sed): the token goes into
/// `$TOKEN`, the user is created and found by `userName`, and the push makes it a user of the
/// simulated org in the pushed department.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_banners_scim_commands_create_a_user_that_appears_in_the_simulated_org() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(options(dir.path())).await.unwrap();
    let text = dingbridge_local::banner::banner(&running);
    let push = running.demo.as_ref().unwrap().push.clone().unwrap();
    let printed = |needle: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in the banner:\n{text}"))
            .to_owned()
    };
    let script = [
        printed("TOKEN=$(curl"),
        printed("/scim/v2/Users -d"),
        "echo".to_owned(),
        printed("/scim/v2/Users?filter=userName"),
    ]
    .join("\n");
    let shell = format!("set -eu\n{script}");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .arg("-c")
            .arg(shell)
            .output()
    })
    .await
    .unwrap()
    .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut answers = stdout.lines().filter(|l| !l.trim().is_empty());
    let created: Value = serde_json::from_str(answers.next().unwrap()).unwrap();
    let found: Value = serde_json::from_str(answers.next().unwrap()).unwrap();
    assert_eq!(created["userName"], "han.meimei@example.com", "{stdout}");
    assert_eq!(found["totalResults"], 1, "{stdout}");
    assert_eq!(found["Resources"][0]["id"], created["id"], "{stdout}");

    let org_url = format!("{}/_sim/org", running.demo.as_ref().unwrap().sim.base_url());
    eventually(
        PATIENCE,
        "the SCIM user reaches the simulated org",
        || async {
            let org: Value = reqwest::get(&org_url).await.unwrap().json().await.unwrap();
            org["users"]
                .as_array()
                .unwrap()
                .iter()
                .any(|u| u["mobile"] == "16612345679" && u["dept_id_list"] == json!([push.dept_id]))
        },
    )
    .await;
    running.shutdown().await.unwrap();
}
