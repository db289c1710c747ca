//! A token is only ever sent to the host that issued it: two credentials that share an app key but
//! differ in secret or hosts never share a cached token or a rate budget (issue: the token cache was
//! keyed by the app key alone and sent one connector's token to another connector's host).

use dingbridge::dingtalk::{
    CallbackRegistration, DeptId, DingApp, DingTalk, Endpoints, ErrorKind, SecretString,
};
use dingtalk_sim::SimConfig;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback HTTP listener that records every request it receives (head and body) and answers each
/// with DingTalk's "invalid appkey or appsecret" envelope, as a wrongly configured host would.
struct Recorder {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let request = read_request(&mut socket).await;
                    seen.lock().unwrap().push(request);
                    let body = r#"{"errcode":40089,"errmsg":"invalid appkey or appsecret"}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { base, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads one request: the head up to the blank line, then `content-length` bytes of body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut data = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                break;
            }
        }
    }
    String::from_utf8_lossy(&data).into_owned()
}

#[tokio::test]
async fn a_second_credential_with_the_same_app_key_never_receives_the_first_ones_token() {
    let sim = dingtalk_sim::start(
        ([127, 0, 0, 1], 0).into(),
        SimConfig {
            seed: 5,
            users: 10,
            depts: 3,
            qps_per_api: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let first = sim.apps().into_iter().next().unwrap();
    let genuine = DingApp {
        corp_id: first.corp_id.clone(),
        app_key: first.app_key.clone(),
        app_secret: SecretString::new(first.app_secret),
        agent_id: None,
        endpoints: Endpoints::single(&sim.base_url()),
    };
    let client = super::client();
    // The genuine connector works and its token is now cached.
    client
        .list_sub_departments(&genuine, DeptId::new(1).unwrap())
        .await
        .unwrap();
    let token = client.app_token(&genuine).await.unwrap();

    // Same app key, a wrong secret, another host: as a second connector saved with a typo would be.
    let elsewhere = Recorder::start().await;
    let impostor = DingApp {
        app_secret: SecretString::new("not-the-secret"),
        endpoints: Endpoints::single(&elsewhere.base),
        ..genuine.clone()
    };
    let registration = CallbackRegistration {
        tags: vec!["user_add_org".into()],
        token: SecretString::new("cbtoken"),
        aes_key: SecretString::new("a".repeat(43)),
        url: "http://127.0.0.1:9/callback".into(),
    };
    let err = client
        .register_callback(&impostor, &registration)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidCredentials),
        "the refused secret must fail the save, got {err:?}"
    );

    let seen = elsewhere.requests();
    assert!(!seen.is_empty(), "the other host was never asked");
    assert!(
        seen[0].starts_with("GET /gettoken?"),
        "the first request to the other host must fetch its own token: {}",
        seen[0]
    );
    assert!(
        seen.iter().all(|r| !r.contains(token.expose())),
        "the first connector's token reached another host: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|r| !r.contains("/call_back/register_call_back")),
        "nothing but the token request may go out before a token is issued: {seen:?}"
    );

    // The genuine connector still has its own token, untouched by the impostor's failure.
    assert_eq!(
        client.app_token(&genuine).await.unwrap().expose(),
        token.expose()
    );
}
