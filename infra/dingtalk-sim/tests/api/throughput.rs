//! Not a check: prints how many calls per second the simulator serves without limits
//! (`cargo test -p dingtalk-sim --test api throughput -- --ignored --nocapture`).

use std::time::{Duration, Instant};

use dingtalk_sim::SimConfig;
use serde_json::{Value, json};

use crate::support::{config, env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn throughput_without_limits() {
    let env = env(SimConfig {
        ip_calls_per_20s: 0,
        users: 2000,
        depts: 150,
        ..config()
    })
    .await;
    let t = env.token().await;
    let userid = env.sim.state().corps[0]
        .org
        .read()
        .unwrap()
        .users
        .keys()
        .next()
        .unwrap()
        .clone();
    let url = format!("{}/topapi/v2/user/get?access_token={t}", env.base);
    let window = Duration::from_secs(3);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (http, url, userid) = (env.http.clone(), url.clone(), userid.clone());
        tasks.spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < window {
                let body: Value = http
                    .post(&url)
                    .json(&json!({"userid": userid}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(body["errcode"], 0);
                n += 1;
            }
            n
        });
    }
    let total: u64 = tasks.join_all().await.into_iter().sum();
    let rate = total as f64 / start.elapsed().as_secs_f64();
    println!(
        "dingtalk-sim served {total} calls in {:?}: {rate:.0} calls/s",
        start.elapsed()
    );
    assert!(total > 0);
}
