//! The local system as `cargo run` starts it: served over real HTTP, stopped cleanly, restarted
//! on the same data directory with nothing lost.

use std::time::Duration;

use dingbridge::ports::{OutMessage, Queue, QueueConsumer};
use dingbridge_local::{Options, start};

fn options(dir: &std::path::Path) -> Options {
    Options::new("127.0.0.1:0".parse().unwrap(), dir.join("data"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_with_the_version_and_the_embedded_engines() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(options(dir.path())).await.unwrap();
    let url = format!("http://{}/healthz", running.addr);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: health::Health = response.json().await.unwrap();
    assert_eq!(body.status, "ok");
    assert_eq!(body.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (body.engines.table.as_str(), body.engines.queue.as_str()),
        ("embedded", "embedded")
    );
    running.shutdown().await.unwrap();
    // Stopped means stopped: the port no longer answers.
    assert!(reqwest::get(&url).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_messages_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    // No consumers: the test itself plays the worker that was interrupted.
    let quiet = || {
        let mut o = options(dir.path());
        o.run_workers = false;
        o
    };
    let running = start(quiet()).await.unwrap();
    let queue = running.engines.sync_queue.clone();
    queue
        .send(OutMessage::new("conn-1", "evt-1", "{\"event\":1}"))
        .await
        .unwrap();
    queue
        .send(OutMessage::new("conn-1", "evt-2", "{\"event\":2}"))
        .await
        .unwrap();
    // One message is in flight (received, not acknowledged) when the process stops.
    let in_flight = queue.receive(1, Duration::from_millis(200)).await.unwrap();
    assert_eq!(in_flight.len(), 1);
    drop(queue);
    running.shutdown().await.unwrap();

    let running = start(quiet()).await.unwrap();
    let queue = running.engines.sync_queue.clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut bodies = Vec::new();
    for m in queue.receive(10, Duration::from_secs(30)).await.unwrap() {
        bodies.push(m.body.clone());
        queue.ack(&m.receipt).await.unwrap();
    }
    if bodies.len() < 2 {
        // FIFO: the second message of the group waits for the first to be acknowledged.
        for m in queue.receive(10, Duration::from_secs(30)).await.unwrap() {
            bodies.push(m.body.clone());
            queue.ack(&m.receipt).await.unwrap();
        }
    }
    assert_eq!(bodies, ["{\"event\":1}", "{\"event\":2}"]);
    drop(queue);
    running.shutdown().await.unwrap();
}

/// Sends `request` on a raw socket and reads until the server closes the connection (bounded by
/// a generous `patience`): what a stalled client gets.
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8], patience: Duration) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(patience, socket.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the stalled connection was still open after {patience:?}"
    );
    String::from_utf8_lossy(&answer).into_owned()
}

fn short_timeouts(dir: &std::path::Path) -> Options {
    let mut o = options(dir);
    o.header_read_timeout = Duration::from_millis(500);
    o.body_read_timeout = Duration::from_millis(500);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_is_answered_408_and_the_connection_closed() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(short_timeouts(dir.path())).await.unwrap();
    // One byte of the thousand announced, then silence.
    let request = b"POST /dingtalk/callback/c1 HTTP/1.1\r\nHost: local\r\n\
        Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
    let answer = raw_exchange(running.addr, request, Duration::from_secs(15)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_that_stop_arriving_close_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(short_timeouts(dir.path())).await.unwrap();
    // The blank line that ends the headers never comes.
    let request = b"GET /healthz HTTP/1.1\r\nHost: local\r\nX-Slow: 1";
    let answer = raw_exchange(running.addr, request, Duration::from_secs(15)).await;
    assert!(!answer.contains("200 OK"), "{answer}");
    // A complete request on a new connection is still served.
    let health = reqwest::get(format!("http://{}/healthz", running.addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    running.shutdown().await.unwrap();
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn the_data_directory_and_its_files_are_private_to_their_owner() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let engines = dingbridge_local::Engines::open(&data).unwrap();
    drop(engines);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("dingbridge.redb")), 0o600);
    assert_eq!(mode(&data.join("data.key")), 0o600);
}

#[cfg(unix)]
#[test]
fn a_data_directory_made_world_readable_is_tightened_when_opened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(dingbridge_local::Engines::open(&data).unwrap());
    let open = |p: &std::path::Path, m| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    open(&data, 0o755);
    open(&data.join("dingbridge.redb"), 0o644);
    open(&data.join("data.key"), 0o644);
    drop(dingbridge_local::Engines::open(&data).unwrap());
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("dingbridge.redb")), 0o600);
    assert_eq!(mode(&data.join("data.key")), 0o600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_lists_what_runs_here_with_every_value_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(options(dir.path())).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();
    let token = running.token.value.clone();
    // Names come from DingTalk and admins: markup in one must reach the page as text.
    let created = http
        .post(format!("{base}/admin/api/connectors"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "name": "<script>alert(1)</script> & co", "corp_id": "dingcorp1",
            "app_key": "dingkey1", "app_secret": "secret-1", "register_callback": false,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());

    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let content_type = page.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/healthz") && html.contains("/admin/api/"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "{html}");
    let token_file = running.token.file.display().to_string();
    assert!(html.contains(&token_file), "{html}");
    assert!(
        !html.contains(&token),
        "the token itself must not be on the page"
    );

    let json: serde_json::Value = http
        .get(format!("{base}/"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths: Vec<&str> = json["functions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["paths"].as_array().unwrap())
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/healthz") && paths.contains(&"/admin/api/"),
        "{json}"
    );
    assert_eq!(
        json["connectors"][0]["name"],
        "<script>alert(1)</script> & co"
    );
    assert_eq!(json["admin_token_file"], token_file);
    assert!(json["reviews"].as_array().unwrap().is_empty(), "{json}");
    assert!(json["demo"].is_null(), "{json}");

    // `/admin` is the console: without a session, the sign-in page first.
    let admin = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/admin"))
        .send()
        .await
        .unwrap();
    assert!(admin.status().is_redirection(), "{}", admin.status());
    assert_eq!(admin.headers()["location"], "/login?next=%2Fadmin");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_path_answers_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(options(dir.path())).await.unwrap();
    let response = reqwest::get(format!("http://{}/no/such/page", running.addr))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found", "{body}");
    assert!(body["message"].is_string(), "{body}");
    running.shutdown().await.unwrap();
}
