//! The DingTalk client (`HttpDingTalk`) against the simulator over real HTTP: every call it offers,
//! token expiry mid-run, 90018 bursts, 60020, 60011, injected 5xx, hangs and malformed bodies.

use dingbridge::dingtalk::crypto::CallbackCrypto;
use dingbridge::dingtalk::{
    CallbackRegistration, ClientConfig, DepartmentPatch, DeptId, DingApp, DingTalk, DingUserId,
    Endpoints, ErrorCode, ErrorKind, HttpDingTalk, NewDepartment, NewUser, Rate, RateLimiter,
    SecretString, TokenSource, UserPatch,
};
use dingtalk_sim::{SimConfig, SimHandle};
use futures::TryStreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

struct Harness {
    sim: SimHandle,
    app: DingApp,
    control: reqwest::Client,
}

impl Harness {
    async fn start(config: SimConfig) -> Self {
        let sim = dingtalk_sim::start(([127, 0, 0, 1], 0).into(), config)
            .await
            .unwrap();
        let first = sim.apps().into_iter().next().unwrap();
        let app = DingApp {
            corp_id: first.corp_id,
            app_key: first.app_key,
            app_secret: SecretString::new(first.app_secret),
            agent_id: Some(first.agent_id.to_string()),
            endpoints: Endpoints::single(&sim.base_url()),
        };
        let control = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { sim, app, control }
    }

    async fn small() -> Self {
        Self::start(SimConfig {
            seed: 11,
            users: 120,
            depts: 12,
            qps_per_api: 0,
            ..Default::default()
        })
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .control
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.control
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn fault(&self, spec: Value) {
        self.post("/_sim/faults", spec).await;
    }

    async fn counter(&self, api: &str, field: &str) -> u64 {
        self.get("/_sim/counters").await[api][field]
            .as_u64()
            .unwrap_or(0)
    }

    async fn first_user(&self) -> DingUserId {
        DingUserId::parse(self.org().await["users"][0]["userid"].as_str().unwrap()).unwrap()
    }

    async fn org(&self) -> Value {
        self.get("/_sim/org").await
    }
}

/// Fast retries so fault tests take milliseconds; the policy is the production one otherwise.
fn quick_config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_millis(800),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(200),
        throttle_backoff: Duration::from_millis(100),
        max_retries: 4,
        ..ClientConfig::default()
    }
}

fn client() -> HttpDingTalk {
    HttpDingTalk::new(quick_config()).unwrap()
}

fn dept(id: u64) -> DeptId {
    DeptId::new(id).unwrap()
}

/// A member of the org that has a mobile, for the by-mobile lookups.
fn some_user_with_mobile(org: &Value) -> Value {
    org["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["mobile"].is_string())
        .unwrap()
        .clone()
}

#[tokio::test]
async fn app_tokens_come_from_both_token_endpoints() {
    let h = Harness::small().await;
    let c = client();
    let legacy = c
        .fetch_app_token(&h.app, TokenSource::Legacy)
        .await
        .unwrap();
    let v1 = c.fetch_app_token(&h.app, TokenSource::V1).await.unwrap();
    assert!(!legacy.token.is_empty() && legacy.expires_in_secs > 0);
    assert!(!v1.token.is_empty() && v1.expires_in_secs > 0);
    assert!(!format!("{legacy:?}").contains(legacy.token.expose()));

    let mut wrong = h.app.clone();
    wrong.app_secret = SecretString::new("not-the-secret");
    for source in [TokenSource::Legacy, TokenSource::V1] {
        let err = c.fetch_app_token(&wrong, source).await.unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert_eq!(err.kind(), &ErrorKind::InvalidCredentials, "{err}");
        assert!(!err.to_string().contains("not-the-secret"));
    }
}

#[tokio::test]
async fn department_reads_walk_the_whole_tree() {
    let h = Harness::small().await;
    let c = client();
    let org = h.org().await;
    let all: BTreeSet<u64> = org["depts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["dept_id"].as_u64().unwrap())
        .filter(|&id| id != 1)
        .collect();

    let walked: Vec<_> = c
        .departments_under(&h.app, DeptId::ROOT)
        .try_collect()
        .await
        .unwrap();
    let walked_ids: BTreeSet<u64> = walked.iter().map(|d| d.id.get()).collect();
    assert_eq!(walked_ids, all);
    // Breadth-first: every parent is listed before its children.
    let mut seen = HashSet::from([1u64]);
    for d in &walked {
        assert!(seen.contains(&d.parent.unwrap().get()), "{d:?}");
        seen.insert(d.id.get());
    }

    let top = c.list_sub_departments(&h.app, DeptId::ROOT).await.unwrap();
    let top_ids = c
        .list_sub_department_ids(&h.app, DeptId::ROOT)
        .await
        .unwrap();
    assert_eq!(
        top.iter().map(|d| d.id).collect::<BTreeSet<_>>(),
        top_ids.into_iter().collect::<BTreeSet<_>>()
    );

    let deepest = walked.last().unwrap();
    let got = c.get_department(&h.app, deepest.id).await.unwrap();
    assert_eq!(got.name, deepest.name);
    assert_eq!(got.parent, deepest.parent);
    let parents = c.list_parent_departments(&h.app, deepest.id).await.unwrap();
    assert_eq!(parents.first(), Some(&deepest.id));
    assert_eq!(parents.last(), Some(&DeptId::ROOT));

    let missing = c
        .get_department(&h.app, dept(987_654_321))
        .await
        .unwrap_err();
    assert_eq!(missing.errcode(), Some(60003));
    assert_eq!(missing.kind(), &ErrorKind::NotFound);
}

#[tokio::test]
async fn user_reads_page_through_every_member() {
    let h = Harness::small().await;
    let c = client();
    let org = h.org().await;
    let users = org["users"].as_array().unwrap();

    // Every user, reached through the departments they are direct members of.
    let mut depts: Vec<u64> = vec![1];
    depts.extend(
        org["depts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["dept_id"].as_u64().unwrap()),
    );
    depts.sort_unstable();
    depts.dedup();
    let mut seen = BTreeSet::new();
    let mut biggest = (0usize, DeptId::ROOT);
    for id in depts {
        let members: Vec<_> = c.users(&h.app, dept(id)).try_collect().await.unwrap();
        let simple: Vec<_> = c
            .simple_users(&h.app, dept(id))
            .try_collect()
            .await
            .unwrap();
        let ids = c.list_user_ids(&h.app, dept(id)).await.unwrap();
        assert_eq!(members.len(), simple.len());
        assert_eq!(members.len(), ids.len());
        if members.len() > biggest.0 {
            biggest = (members.len(), dept(id));
        }
        seen.extend(members.into_iter().map(|u| u.userid.to_string()));
    }
    let expected: BTreeSet<String> = users
        .iter()
        .map(|u| u["userid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, expected);

    // Small pages still reach the end, and cursors advance.
    let mut cursor = 0;
    let mut paged = 0;
    loop {
        let page = c
            .list_users_page(&h.app, biggest.1, cursor, 7)
            .await
            .unwrap();
        paged += page.items.len();
        match page.next_cursor {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(paged, biggest.0);

    let sample = some_user_with_mobile(&org);
    let userid = DingUserId::parse(sample["userid"].as_str().unwrap()).unwrap();
    let user = c.get_user(&h.app, &userid).await.unwrap();
    assert_eq!(user.name, sample["name"].as_str().unwrap());
    assert_eq!(user.mobile.as_deref(), sample["mobile"].as_str());
    assert!(!user.dept_ids.is_empty());

    let by_mobile = c
        .user_id_by_mobile(&h.app, sample["mobile"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(by_mobile, userid);
    let by_union = c
        .user_by_unionid(&h.app, sample["unionid"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(by_union.userid, userid);
    let count = c.count_users(&h.app, false).await.unwrap();
    assert_eq!(count, users.len() as u64);

    let stranger = c
        .user_by_unionid(&h.app, "nosuchunionid")
        .await
        .unwrap_err();
    assert_eq!(stranger.kind(), &ErrorKind::NotFound);
}

#[tokio::test]
async fn writes_create_update_and_delete_departments_and_users() {
    let h = Harness::small().await;
    let c = client();
    let mut new_dept = NewDepartment {
        name: "客户端测试部".into(),
        parent: DeptId::ROOT,
        order: Some(5),
        source_identifier: Some("ext-42".into()),
    };
    let id = c.create_department(&h.app, &new_dept).await.unwrap();
    let again = c.create_department(&h.app, &new_dept).await.unwrap_err();
    assert_eq!(again.kind(), &ErrorKind::Conflict, "{again}");

    let mut patch = DepartmentPatch::new(id);
    patch.name = Some("客户端测试二部".into());
    c.update_department(&h.app, &patch).await.unwrap();
    let got = c.get_department(&h.app, id).await.unwrap();
    assert_eq!(got.name, "客户端测试二部");
    assert_eq!(got.source_identifier.as_deref(), Some("ext-42"));

    let mut user = NewUser::new("测试用户", "13912345678", vec![id]);
    user.userid = Some(DingUserId::parse("client-test-1").unwrap());
    user.email = Some("client-test-1@example.com".into());
    user.title = Some("工程师".into());
    let created = c.create_user(&h.app, &user).await.unwrap();
    assert_eq!(created.userid.as_str(), "client-test-1");
    let duplicate = c.create_user(&h.app, &user).await.unwrap_err();
    assert_eq!(duplicate.kind(), &ErrorKind::Conflict, "{duplicate}");

    let mut up = UserPatch::new(created.userid.clone());
    up.title = Some("高级工程师".into());
    up.dept_ids = Some(vec![id, DeptId::ROOT]);
    c.update_user(&h.app, &up).await.unwrap();
    let read = c.get_user(&h.app, &created.userid).await.unwrap();
    assert_eq!(read.title.as_deref(), Some("高级工程师"));
    assert_eq!(
        read.dept_ids.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([id, DeptId::ROOT])
    );

    // A department with members cannot go (60005); after the user leaves it can.
    let busy = c.delete_department(&h.app, id).await.unwrap_err();
    assert_eq!(busy.kind(), &ErrorKind::Rejected, "{busy}");
    c.delete_user(&h.app, &created.userid).await.unwrap();
    let gone = c.get_user(&h.app, &created.userid).await.unwrap_err();
    assert_eq!(gone.kind(), &ErrorKind::NotFound);
    c.delete_department(&h.app, id).await.unwrap();
    assert_eq!(
        c.get_department(&h.app, id).await.unwrap_err().errcode(),
        Some(60003)
    );

    new_dept.parent = dept(999_999);
    let orphan = c.create_department(&h.app, &new_dept).await.unwrap_err();
    assert!(!orphan.is_transient(), "{orphan}");
}

/// A callback receiver on loopback that answers with the encrypted `success` (or fails on demand).
async fn callback_receiver(
    crypto: CallbackCrypto,
    failing: Arc<AtomicBool>,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::{Query, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use std::collections::HashMap;

    type Shared = (CallbackCrypto, Arc<AtomicBool>);
    async fn receive(
        State(shared): State<Arc<Shared>>,
        Query(q): Query<HashMap<String, String>>,
        axum::Json(body): axum::Json<Value>,
    ) -> axum::response::Response {
        let (crypto, failing) = &*shared;
        if failing.load(Ordering::SeqCst) {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        let sig = q
            .get("msg_signature")
            .or_else(|| q.get("signature"))
            .cloned()
            .unwrap_or_default();
        let ts = q.get("timestamp").cloned().unwrap_or_default();
        let nonce = q.get("nonce").cloned().unwrap_or_default();
        let encrypt = body["encrypt"].as_str().unwrap_or_default();
        match crypto.verify_and_decrypt(&sig, &ts, &nonce, encrypt) {
            Ok(_) => axum::Json(crypto.success_reply(&ts, &nonce).unwrap()).into_response(),
            Err(_) => StatusCode::FORBIDDEN.into_response(),
        }
    }
    let router = axum::Router::new()
        .route("/cb", axum::routing::post(receive))
        .with_state(Arc::new((crypto, failing)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (url, task)
}

#[tokio::test]
async fn callback_registration_round_trips_and_failed_events_drain() {
    let h = Harness::start(SimConfig {
        seed: 5,
        users: 20,
        depts: 4,
        qps_per_api: 0,
        callback_time_scale: 0.001,
        callback_timeout_ms: 500,
        ..Default::default()
    })
    .await;
    let c = client();
    let token = "cbtoken123";
    let aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    // Registered through the legacy API, so the receive-id is the CorpId (§1.1).
    let crypto = CallbackCrypto::new(token, aes_key, h.app.corp_id.clone()).unwrap();
    let failing = Arc::new(AtomicBool::new(false));
    let (url, _server) = callback_receiver(crypto, failing.clone()).await;
    let mut registration = CallbackRegistration {
        tags: vec!["user_add_org".into(), "user_modify_org".into()],
        token: SecretString::new(token),
        aes_key: SecretString::new(aes_key),
        url: url.clone(),
    };
    c.register_callback(&h.app, &registration).await.unwrap();
    let got = c.get_callback(&h.app).await.unwrap();
    assert_eq!(got.url, url);
    assert_eq!(
        got.tags.iter().collect::<BTreeSet<_>>(),
        registration.tags.iter().collect()
    );
    assert!(!format!("{got:?}").contains(token));

    registration.tags.push("user_leave_org".into());
    c.update_callback(&h.app, &registration).await.unwrap();
    assert_eq!(c.get_callback(&h.app).await.unwrap().tags.len(), 3);

    // The receiver goes down; an org change exhausts DingTalk's retries and lands in the failed list.
    failing.store(true, Ordering::SeqCst);
    let dept_id = h.org().await["depts"][0]["dept_id"].as_i64().unwrap();
    h.post(
        "/_sim/users",
        json!({"name": "回调测试", "mobile": "13700000001", "dept_id_list": dept_id.to_string()}),
    )
    .await;
    let mut events = Vec::new();
    for _ in 0..100 {
        events.extend(
            c.failed_events(&h.app)
                .try_collect::<Vec<_>>()
                .await
                .unwrap(),
        );
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(events.iter().any(|e| e.tag == "user_add_org"), "{events:?}");
    // Reading cleared them.
    assert!(
        c.failed_events_page(&h.app)
            .await
            .unwrap()
            .events
            .is_empty()
    );

    c.delete_callback(&h.app).await.unwrap();
    assert!(
        c.get_callback(&h.app).await.is_err()
            || c.get_callback(&h.app).await.unwrap().url.is_empty()
    );
}

/// Follows the simulator's login page as a browser would and returns the code it redirects with.
async fn login_code(h: &Harness, flow: &str, userid: &str) -> String {
    let query = [
        ("flow", flow),
        ("client_id", h.app.app_key.as_str()),
        ("redirect_uri", "http://127.0.0.1/forward"),
        ("state", "s1"),
        ("userid", userid),
    ];
    let url = reqwest::Url::parse_with_params(&h.url("/_sim/login/pick"), query).unwrap();
    let r = h.control.get(url).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&location).unwrap();
    let key = if flow == "sns" { "code" } else { "authCode" };
    url.query_pairs()
        .find(|(k, _)| k == key)
        .unwrap()
        .1
        .into_owned()
}

#[tokio::test]
async fn login_calls_identify_the_user_and_codes_are_single_use() {
    let h = Harness::small().await;
    let c = client();
    let org = h.org().await;
    let member = &org["users"][0];
    let userid = member["userid"].as_str().unwrap();
    let unionid = member["unionid"].as_str().unwrap();

    let code = login_code(&h, "oauth2", userid).await;
    let token = c.user_access_token(&h.app, &code).await.unwrap();
    assert!(token.expires_in_secs > 0);
    assert_eq!(token.corp_id.as_deref(), Some(h.app.corp_id.as_str()));
    let me = c.current_user(&h.app, &token.access_token).await.unwrap();
    assert_eq!(me.union_id, unionid);
    let reused = c.user_access_token(&h.app, &code).await.unwrap_err();
    assert_eq!(reused.kind(), &ErrorKind::InvalidAuthCode, "{reused}");

    let sns = login_code(&h, "sns", userid).await;
    let sns_user = c.sns_user_by_code(&h.app, &sns).await.unwrap();
    assert_eq!(sns_user.unionid, unionid);
    let byunion = c.user_by_unionid(&h.app, &sns_user.unionid).await.unwrap();
    assert_eq!(byunion.userid.as_str(), userid);

    let micro = h
        .post(
            "/_sim/microapp/code",
            json!({"userid": userid, "app_key": h.app.app_key}),
        )
        .await;
    let micro = micro["code"].as_str().unwrap();
    let who = c.micro_app_user(&h.app, micro).await.unwrap();
    assert_eq!(who.userid.as_str(), userid);
    let again = c.micro_app_user(&h.app, micro).await.unwrap_err();
    assert_eq!(again.errcode(), Some(40078));
    assert_eq!(again.kind(), &ErrorKind::InvalidAuthCode);
}

#[tokio::test]
async fn token_expiry_mid_run_refreshes_once_and_carries_on() {
    let h = Harness::small().await;
    let c = client();
    let first = h.first_user().await;
    c.get_user(&h.app, &first).await.unwrap();
    for round in 0..3 {
        h.post("/_sim/tokens/expire", json!({})).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (c, app, id) = (c.clone(), h.app.clone(), first.clone());
                tokio::spawn(async move { c.get_user(&app, &id).await })
            })
            .collect();
        for t in tasks {
            t.await
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
    // One initial fetch plus one refresh per expiry, however many tasks saw the refusal.
    assert_eq!(h.counter("/gettoken", "calls").await, 4);

    // Token errors wrapped in errcode 88 with a sub_code are refreshed the same way.
    h.fault(json!({"api": "/topapi/v2/user/get", "errcode": 88, "sub_code": 42001, "count": 1}))
        .await;
    c.get_user(&h.app, &first).await.unwrap();
    assert_eq!(h.counter("/gettoken", "calls").await, 5);

    // A token refused again right after a refresh is not refreshed in a loop.
    h.fault(json!({"api": "/topapi/v2/user/get", "errcode": 40014, "count": 5}))
        .await;
    let err = c.get_user(&h.app, &first).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidToken);
    assert_eq!(h.counter("/gettoken", "calls").await, 6);
}

#[tokio::test]
async fn bursts_stay_under_the_limit_and_no_90018_reaches_the_caller() {
    let h = Harness::start(SimConfig {
        seed: 3,
        users: 40,
        depts: 4,
        qps_per_api: 5,
        ..Default::default()
    })
    .await;
    let id = h.first_user().await;

    // The client's limiter matches the simulator's: evenly spaced, nothing bounced.
    let limiter = Arc::new(RateLimiter::new(Rate::per_second(5.0)));
    let c = HttpDingTalk::with_limiter(quick_config(), limiter).unwrap();
    let tasks: Vec<_> = (0..15)
        .map(|_| {
            let (c, app, id) = (c.clone(), h.app.clone(), id.clone());
            tokio::spawn(async move { c.get_user(&app, &id).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(h.counter("/topapi/v2/user/get", "throttled").await, 0);
    assert!(h.counter("/topapi/v2/user/get", "max_qps").await <= 6);

    // A client that ignores the limit is throttled, and still never hands 90018 to its caller
    // within its retry budget.
    let careless = HttpDingTalk::with_limiter(
        ClientConfig {
            max_retries: 20,
            ..quick_config()
        },
        Arc::new(RateLimiter::new(Rate::per_second(1000.0))),
    )
    .unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (c, app, id) = (careless.clone(), h.app.clone(), id.clone());
            tokio::spawn(async move { c.get_user(&app, &id).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(h.counter("/topapi/v2/user/get", "throttled").await > 0);

    // With no retries left, throttling surfaces as a transient error carrying 90018.
    let impatient = HttpDingTalk::with_limiter(
        ClientConfig {
            max_retries: 0,
            ..quick_config()
        },
        Arc::new(RateLimiter::new(Rate::per_second(1000.0))),
    )
    .unwrap();
    h.fault(json!({"api": "/topapi/v2/user/get", "errcode": 90018, "count": 1}))
        .await;
    let err = impatient.get_user(&h.app, &id).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.errcode(), Some(90018));
    assert_eq!(err.kind(), &ErrorKind::Throttled);
}

#[tokio::test]
async fn ip_not_whitelisted_reports_the_ip_to_add() {
    let h = Harness::small().await;
    let c = client();
    // Warm the token first so the whitelist failure comes from a contact call.
    c.count_users(&h.app, false).await.unwrap();
    h.post(
        &format!("/_sim/apps/{}", h.app.app_key),
        json!({"ip_whitelist": ["198.51.100.7"]}),
    )
    .await;
    let err = c.count_users(&h.app, false).await.unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(err.errcode(), Some(60020));
    assert_eq!(
        err.kind(),
        &ErrorKind::IpNotWhitelisted {
            ip: Some("127.0.0.1".into())
        }
    );
    assert!(err.message().contains("request ip=127.0.0.1"));
}

#[tokio::test]
async fn missing_permissions_are_permanent_60011() {
    let h = Harness::small().await;
    let c = client();
    h.post(
        &format!("/_sim/apps/{}", h.app.app_key),
        json!({"permissions": ["qyapi_get_department_list"]}),
    )
    .await;
    c.list_sub_departments(&h.app, DeptId::ROOT).await.unwrap();
    let err = c.list_user_ids(&h.app, DeptId::ROOT).await.unwrap_err();
    assert!(!err.is_transient());
    assert_eq!(err.errcode(), Some(60011));
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    // Called once: a permission error is not retried.
    assert_eq!(h.counter("/topapi/user/listid", "calls").await, 1);

    // The same, wrapped as errcode 88 + sub_code.
    h.post(
        &format!("/_sim/apps/{}", h.app.app_key),
        json!({"permissions": ["qyapi_get_department_list", "qyapi_get_department_member"]}),
    )
    .await;
    h.fault(json!({"api": "/topapi/user/listid", "errcode": 88, "sub_code": 60011, "count": 1}))
        .await;
    let err = c.list_user_ids(&h.app, DeptId::ROOT).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
}

#[tokio::test]
async fn server_errors_hangs_and_garbage_are_retried_within_budget() {
    let h = Harness::small().await;
    let c = client();
    let api = "/topapi/user/count";
    let expected = c.count_users(&h.app, false).await.unwrap();
    for fault in [
        json!({"api": api, "http_status": 503, "count": 2}),
        json!({"api": api, "hang_ms": 2000, "count": 1}),
        json!({"api": api, "malformed": true, "count": 2}),
        json!({"api": api, "errcode": -1, "count": 2}),
        json!({"api": api, "errcode": 90002, "count": 1}),
    ] {
        h.fault(fault.clone()).await;
        assert_eq!(
            c.count_users(&h.app, false).await.unwrap(),
            expected,
            "{fault}"
        );
    }

    // Beyond the retry budget the failure surfaces, transient, with its cause.
    h.fault(json!({"api": api, "http_status": 502, "count": 10}))
        .await;
    let err = c.count_users(&h.app, false).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.code(), &ErrorCode::Http(502));
    let _ = h
        .control
        .delete(h.url("/_sim/faults"))
        .send()
        .await
        .unwrap();

    let hung = HttpDingTalk::new(ClientConfig {
        max_retries: 0,
        ..quick_config()
    })
    .unwrap();
    h.fault(json!({"api": api, "hang_ms": 3000, "count": 1}))
        .await;
    let err = hung.count_users(&h.app, false).await.unwrap_err();
    assert_eq!(err.code(), &ErrorCode::Timeout);
    assert!(err.is_transient());
    assert!(!err.to_string().contains("access_token"), "{err}");
}

#[tokio::test]
async fn creates_are_not_repeated_after_an_ambiguous_failure() {
    let h = Harness::small().await;
    let c = client();
    c.count_users(&h.app, false).await.unwrap();
    let api = "/topapi/v2/department/create";
    h.fault(json!({"api": api, "http_status": 503, "count": 1}))
        .await;
    let dept = NewDepartment {
        name: "只建一次".into(),
        parent: DeptId::ROOT,
        order: None,
        source_identifier: None,
    };
    let err = c.create_department(&h.app, &dept).await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(h.counter(api, "calls").await, 1);
    // Throttling is unambiguous (nothing was done), so a create is retried after it.
    h.fault(json!({"api": api, "errcode": 90018, "count": 1}))
        .await;
    c.create_department(&h.app, &dept).await.unwrap();
    assert_eq!(h.counter(api, "calls").await, 3);
}
