//! The portal and its OpenID provider on the embedded engines over loopback (issue 13): password
//! sign-ins/s and token redemptions/s (each verifies an argon2id hash), the authorize → token →
//! userinfo round trip's latency, and RS256 id_token signing and argon2id verification in-process.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::callback::pct;
use crate::local::{Admin, start};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Concurrent clients of the closed-loop sign-in, authorize and token phases.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Accounts that sign in, in turn (none is ever refused, so no lockout counts).
    #[arg(long, default_value_t = 8)]
    accounts: usize,
    /// Password sign-ins (GET /login + POST /login) of the closed-loop phase.
    #[arg(long, default_value_t = 600)]
    sign_ins: usize,
    /// Codes obtained, then redeemed, in the token phase (all within a code's 60 s life).
    #[arg(long, default_value_t = 400)]
    codes: usize,
    /// authorize → token → userinfo round trips, one client back to back.
    #[arg(long, default_value_t = 1000)]
    round_trips: usize,
    /// Length of each in-process phase (RS256 signing, argon2id verification) on one core.
    #[arg(long, default_value_t = 5)]
    cpu_seconds: u64,
}

const PASSWORD: &str = "Bench-Portal-2026";
const REDIRECT: &str = "https://app.bench.example/callback";
/// RFC 7636 appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The provider as a browser without JavaScript and an app's back end reach it: redirects are
/// answers, cookies are passed by hand.
struct Provider {
    http: reqwest::Client,
    base: String,
    client_id: String,
    secret: String,
}

/// Tokens the token endpoint answered with.
struct Tokens {
    access: String,
    id_token: String,
}

/// A form body: reqwest is built without its `form` feature, `Url` encodes the same way.
pub(crate) fn form(pairs: &[(&str, &str)]) -> anyhow::Result<String> {
    let url = reqwest::Url::parse_with_params("http://form.invalid/", pairs)?;
    Ok(url.query().unwrap_or_default().to_owned())
}

/// The value of cookie `name` that a response sets.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().ok()?;
        let pair = text.split_once(';').map_or(text, |(pair, _)| pair);
        let (n, value) = pair.split_once('=')?;
        (n == name).then(|| value.to_owned())
    })
}

/// A hidden field's value on a page (askama escapes `&` as `&#38;`, and so on).
fn field(page: &str, name: &str) -> anyhow::Result<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).context("no such field")? + marker.len();
    let end = page[start..].find('"').context("unterminated field")? + start;
    Ok(unescape(&page[start..end]))
}

/// HTML character references: named (`&amp;`), decimal (`&#38;`) and hex (`&#x2f;`).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let reference = tail.find(';').map(|end| (&tail[1..end], end));
        let decoded = reference.and_then(|(name, end)| {
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => name
                    .strip_prefix("#x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Provider {
    /// Signs `username` in from a fresh browser (GET /login, then the form); the session id.
    async fn sign_in(&self, username: &str) -> anyhow::Result<String> {
        let page = self.http.get(format!("{}/login", self.base)).send().await?;
        anyhow::ensure!(page.status() == 200, "GET /login: {}", page.status());
        let csrf_cookie = set_cookie(&page, "dbcsrf").context("no dbcsrf cookie")?;
        let body = page.text().await?;
        let (csrf, next) = (field(&body, "csrf")?, field(&body, "next")?);
        let answer = self
            .http
            .post(format!("{}/login", self.base))
            .header(COOKIE, format!("dbcsrf={csrf_cookie}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[
                ("csrf", &csrf),
                ("next", &next),
                ("identifier", username),
                ("password", PASSWORD),
            ])?)
            .send()
            .await?;
        anyhow::ensure!(answer.status() == 303, "POST /login: {}", answer.status());
        set_cookie(&answer, "dbsid").context("no dbsid cookie")
    }

    /// An authorization request (code flow, PKCE S256) in session `sid`; the code.
    async fn authorize(&self, sid: &str, n: usize) -> anyhow::Result<String> {
        let state = format!("st-{n}");
        let nonce = format!("n-{n}");
        let url = reqwest::Url::parse_with_params(
            &format!("{}/oauth2/authorize", self.base),
            &[
                ("client_id", self.client_id.as_str()),
                ("redirect_uri", REDIRECT),
                ("response_type", "code"),
                ("scope", "openid profile email"),
                ("state", &state),
                ("nonce", &nonce),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        )?;
        let answer = self
            .http
            .get(url)
            .header(COOKIE, format!("dbsid={sid}"))
            .send()
            .await?;
        anyhow::ensure!(answer.status() == 303, "authorize: {}", answer.status());
        let location = answer
            .headers()
            .get(LOCATION)
            .context("no Location")?
            .to_str()?;
        let back = reqwest::Url::parse(location)?;
        anyhow::ensure!(location.starts_with(REDIRECT), "redirected to {location}");
        let param = |name: &str| {
            back.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        anyhow::ensure!(param("state") == Some(state), "state lost: {location}");
        param("code").with_context(|| format!("no code: {location}"))
    }

    /// Redeems `code` at the token endpoint (client_secret_basic, PKCE verifier).
    async fn redeem(&self, code: &str) -> anyhow::Result<Tokens> {
        let answer = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .basic_auth(&self.client_id, Some(&self.secret))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ])?)
            .send()
            .await?;
        let status = answer.status();
        let body: Value = answer.json().await?;
        anyhow::ensure!(status == 200, "token: {status} {body}");
        let text = |name: &str| {
            body[name]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no {name}"))
        };
        Ok(Tokens {
            access: text("access_token")?,
            id_token: text("id_token")?,
        })
    }

    async fn userinfo(&self, access: &str) -> anyhow::Result<Value> {
        let answer = self
            .http
            .get(format!("{}/oauth2/userinfo", self.base))
            .header(AUTHORIZATION, format!("Bearer {access}"))
            .send()
            .await?;
        let status = answer.status();
        let body: Value = answer.json().await?;
        anyhow::ensure!(
            status == 200 && body["sub"].is_string(),
            "userinfo: {status}"
        );
        Ok(body)
    }
}

/// What a closed-loop phase came to: the answers in job order, failures, wall time, and each
/// job's own latency (µs, sorted).
struct Closed<T> {
    done: Vec<Option<T>>,
    failures: usize,
    first_error: Option<String>,
    seconds: f64,
    latencies: Vec<u64>,
}

impl<T> Closed<T> {
    fn report(&self) -> Value {
        let ok = self.done.len() - self.failures;
        json!({"ok": ok, "failures": self.failures, "first_error": self.first_error,
            "seconds": self.seconds, "per_s": ok as f64 / self.seconds,
            "p50_ms": pct(&self.latencies, 0.5), "p99_ms": pct(&self.latencies, 0.99)})
    }
}

/// Jobs `0..n` run by `concurrency` clients back to back.
async fn closed_loop<T, F, Fut>(concurrency: usize, n: usize, job: F) -> anyhow::Result<Closed<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, job) = (next.clone(), job.clone());
            tokio::spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let began = Instant::now();
                    let result = job(i).await;
                    out.push((i, result, began.elapsed().as_micros() as u64));
                }
                out
            })
        })
        .collect();
    let mut done: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let (mut failures, mut first_error, mut latencies) = (0, None, Vec::with_capacity(n));
    for t in tasks {
        for (i, result, us) in t.await? {
            latencies.push(us);
            match result {
                Ok(v) => done[i] = Some(v),
                Err(e) => {
                    failures += 1;
                    first_error.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(Closed {
        done,
        failures,
        first_error,
        seconds,
        latencies,
    })
}

/// `accounts` enabled accounts with a password and no forced change; their usernames.
async fn accounts(admin: &Admin, n: usize) -> anyhow::Result<Vec<String>> {
    let root = admin.root().await?;
    let mut names = Vec::with_capacity(n);
    for i in 0..n {
        let username = format!("portal.bench{i}");
        let made = admin
            .post(
                "/admin/api/accounts",
                json!({"username": username, "display_name": format!("门户测试 {i}"),
                    "email": format!("{username}@bench.example"),
                    "mobile": format!("139{i:08}"), "org_unit_ids": [root], "password": PASSWORD}),
            )
            .await?;
        let id = made["id"].as_str().context("no account id")?;
        admin
            .post(
                &format!("/admin/api/accounts/{id}/password"),
                json!({"password": PASSWORD, "must_change": false}),
            )
            .await?;
        names.push(username);
    }
    Ok(names)
}

/// Calls of `f` on a blocking thread (one core) for `seconds`: calls/s.
async fn on_one_core(
    seconds: u64,
    f: impl Fn() -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<Value> {
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < Duration::from_secs(seconds) {
            f()?;
            calls += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        Ok(
            json!({"calls": calls, "seconds": secs, "per_s": calls as f64 / secs,
            "ms_each": secs * 1000.0 / calls.max(1) as f64}),
        )
    })
    .await?
}

/// RS256 signing of an id_token's claims with the deployment's key (made in a scratch table).
async fn signing(seconds: u64, claims: Value) -> anyhow::Result<(Value, usize)> {
    use dingbridge::adapters::embedded::EmbeddedStore;
    use dingbridge::ports::{Clock, SystemClock, Table};
    let dir = tempfile::tempdir()?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table: Arc<dyn Table> = Arc::new(EmbeddedStore::open(dir.path())?.table(clock.clone()));
    let keys = dingbridge::signing::SigningKeys::new(
        table,
        clock,
        dingbridge::secrets::SecretBox::ephemeral(),
    );
    let key = keys.get_or_create().await?.clone();
    let length = key.sign(&claims)?.len();
    let report = on_one_core(seconds, move || {
        std::hint::black_box(key.sign(&claims)?);
        Ok(())
    })
    .await?;
    Ok((report, length))
}

/// The claims the provider puts in an id_token for scope `openid profile email` (oidc.rs).
fn id_token_claims(issuer: &str, client_id: &str) -> Value {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    json!({
        "sub": "portal.bench0", "name": "门户测试 0", "preferred_username": "portal.bench0",
        "updated_at": now_s, "email": "portal.bench0@bench.example", "email_verified": true,
        "iss": issuer, "aud": client_id, "azp": client_id, "iat": now_s, "exp": now_s + 300,
        "auth_time": now_s, "at_hash": "hR0IWq3t0l8IezyQYOW9Fg", "amr": ["pwd"], "nonce": "n-1",
    })
}

fn ms(v: &Value, key: &str) -> String {
    format!("{:.2} ms", v[key].as_f64().unwrap_or_default())
}

fn rate(v: &Value) -> String {
    format!("{:.1}/s", v["per_s"].as_f64().unwrap_or_default())
}

pub async fn run(args: Args) -> anyhow::Result<Value> {
    let s = start(20, 30, false).await?;
    let admin = &s.admin;
    let usernames = accounts(admin, args.accounts.max(1)).await?;
    let app = admin
        .post(
            "/admin/api/apps",
            json!({"name": "bench app", "kind": "oidc", "redirect_uris": [REDIRECT],
                "scopes": ["openid", "profile", "email"], "public": false,
                "assigned_to": {"everyone": true}}),
        )
        .await?;
    let provider = Arc::new(Provider {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(64)
            .build()?,
        base: admin.base.clone(),
        client_id: app["client_id"].as_str().context("client_id")?.to_owned(),
        secret: app["client_secret"]
            .as_str()
            .context("client_secret")?
            .to_owned(),
    });
    let usernames = Arc::new(usernames);

    // Warm-up, and one session per account for the authorize phases.
    let mut sids = Vec::with_capacity(usernames.len());
    for u in usernames.iter() {
        sids.push(provider.sign_in(u).await?);
    }
    let sids = Arc::new(sids);

    let sign_ins = closed_loop(args.concurrency, args.sign_ins, {
        let (p, names) = (provider.clone(), usernames.clone());
        move |i| {
            let (p, names) = (p.clone(), names.clone());
            async move { p.sign_in(&names[i % names.len()]).await }
        }
    })
    .await?;

    // Codes first (the token phase must not wait on authorize), then every code redeemed.
    let authorize = closed_loop(args.concurrency, args.codes, {
        let (p, sids) = (provider.clone(), sids.clone());
        move |i| {
            let (p, sids) = (p.clone(), sids.clone());
            async move { p.authorize(&sids[i % sids.len()], i).await }
        }
    })
    .await?;
    let codes = Arc::new(authorize.done.iter().flatten().cloned().collect::<Vec<_>>());
    let tokens = closed_loop(args.concurrency, codes.len(), {
        let (p, codes) = (provider.clone(), codes.clone());
        move |i| {
            let (p, codes) = (p.clone(), codes.clone());
            async move { p.redeem(&codes[i]).await.map(|_| ()) }
        }
    })
    .await?;

    // One client, back to back: each round trip's own latency, and each step's.
    let (mut whole, mut steps) = (Vec::new(), [Vec::new(), Vec::new(), Vec::new()]);
    let mut id_token_len = 0;
    let mut trip_failures = 0usize;
    for i in 0..args.round_trips {
        let began = Instant::now();
        let trip = async {
            let code = provider.authorize(&sids[0], i).await?;
            let authorized = began.elapsed();
            let t = provider.redeem(&code).await?;
            let redeemed = began.elapsed();
            provider.userinfo(&t.access).await?;
            Ok::<_, anyhow::Error>((authorized, redeemed, t.id_token.len()))
        };
        match trip.await {
            Ok((authorized, redeemed, len)) => {
                let total = began.elapsed();
                whole.push(total.as_micros() as u64);
                steps[0].push(authorized.as_micros() as u64);
                steps[1].push((redeemed - authorized).as_micros() as u64);
                steps[2].push((total - redeemed).as_micros() as u64);
                id_token_len = len;
            }
            Err(_) => trip_failures += 1,
        }
    }
    whole.sort_unstable();
    for s in &mut steps {
        s.sort_unstable();
    }
    let round_trip = json!({"clients": 1, "round_trips": whole.len(), "failures": trip_failures,
        "p50_ms": pct(&whole, 0.5), "p99_ms": pct(&whole, 0.99), "max_ms": pct(&whole, 1.0),
        "authorize_p50_ms": pct(&steps[0], 0.5), "token_p50_ms": pct(&steps[1], 0.5),
        "userinfo_p50_ms": pct(&steps[2], 0.5)});

    let (sign, signed_len) = signing(
        args.cpu_seconds,
        id_token_claims(&admin.base, &provider.client_id),
    )
    .await?;
    let phc = dingbridge::secrets::hash_password(PASSWORD)?;
    let argon2_params = phc.split('$').nth(3).unwrap_or_default().to_owned();
    let argon2 = on_one_core(args.cpu_seconds, move || {
        anyhow::ensure!(dingbridge::secrets::verify_password(PASSWORD, &phc));
        Ok(())
    })
    .await?;

    let (sign_ins, authorize, tokens) = (sign_ins.report(), authorize.report(), tokens.report());
    let c = args.concurrency;
    println!("| what | figure |");
    println!("| --- | ---: |");
    println!(
        "| password sign-in (GET + POST /login), {c} clients closed loop, {} accounts | {} ({} sign-ins, {} failures) |",
        usernames.len(),
        rate(&sign_ins),
        sign_ins["ok"],
        sign_ins["failures"]
    );
    println!(
        "| `GET /oauth2/authorize` → code, {c} clients closed loop | {} ({} codes, {} failures) |",
        rate(&authorize),
        authorize["ok"],
        authorize["failures"]
    );
    println!(
        "| `POST /oauth2/token` (authorization_code, client_secret_basic), {c} clients closed loop | {} ({} tokens, {} failures) |",
        rate(&tokens),
        tokens["ok"],
        tokens["failures"]
    );
    println!(
        "| authorize → token → userinfo, 1 client back to back, {} round trips | p50 {}, p99 {}, max {} ({} failures) |",
        round_trip["round_trips"],
        ms(&round_trip, "p50_ms"),
        ms(&round_trip, "p99_ms"),
        ms(&round_trip, "max_ms"),
        trip_failures
    );
    println!(
        "| … of which authorize / token / userinfo (p50) | {} / {} / {} |",
        ms(&round_trip, "authorize_p50_ms"),
        ms(&round_trip, "token_p50_ms"),
        ms(&round_trip, "userinfo_p50_ms")
    );
    println!(
        "| RS256 id_token signing, in-process, one core ({signed_len}-byte token) | {} ({}) |",
        rate(&sign),
        ms(&sign, "ms_each")
    );
    println!(
        "| argon2id verification ({argon2_params}), in-process, one core | {} ({}) |",
        rate(&argon2),
        ms(&argon2, "ms_each")
    );
    Ok(json!({
        "accounts": usernames.len(),
        "sign_in": sign_ins,
        "authorize": authorize,
        "token": tokens,
        "round_trip": round_trip,
        "id_token_bytes_over_http": id_token_len,
        "rs256_sign": sign,
        "rs256_signed_bytes": signed_len,
        "argon2id_verify": argon2,
        "argon2id_params": argon2_params,
    }))
}
