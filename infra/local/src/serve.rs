//! The local HTTP server. On AWS, API Gateway bounds how long a client may take to send a request;
//! here hyper's header-read timeout and a body-read deadline in front of the routers do, so a
//! stalled client cannot hold a connection. Shutdown lets in-flight requests finish.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dingbridge::oauth::SourceIp;
use dingbridge::web::ApiError;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// The largest body read before a function sees it: axum's default limit, the largest any
/// function router uses (the admin API; the callback allows less and still checks its own).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// `app` with every request body read in full within `timeout` before it is routed: a body that
/// does not arrive in time is answered 408 and its connection closed.
pub fn with_body_deadline(app: Router, timeout: Duration) -> Router {
    app.layer(axum::middleware::from_fn_with_state(
        timeout,
        read_body_within,
    ))
}

async fn read_body_within(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) if too_large(&e) => ApiError::PayloadTooLarge.into_response(),
        Ok(Err(_)) => {
            ApiError::BadRequest("the request body could not be read".to_owned()).into_response()
        }
        Err(_) => request_timeout(timeout),
    }
}

fn too_large(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// 408 with the error body every API answers with (`shared::web` has no 408 of its own: only
/// this server's deadline produces one). `Connection: close` makes hyper drop the connection
/// instead of waiting for the rest of the body.
fn request_timeout(timeout: Duration) -> Response {
    let body = serde_json::json!({
        "error": "request_timeout",
        "message": format!("the request body did not arrive within {} ms", timeout.as_millis()),
    });
    let mut response = (StatusCode::REQUEST_TIMEOUT, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Serves `app` on `listener` (HTTP/1.1) until `stop` turns true, then waits for the open
/// connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|stop| *stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait a moment rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Small JSON answers go out at once instead of waiting on Nagle's algorithm for an ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set");
        }
        // The peer's address, as API Gateway's `sourceIp` on Lambda: the token endpoint's
        // failure counters (and the SCIM endpoint's) count per address.
        let source = SourceIp(peer.ip().to_string());
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(source.clone());
                request
            },
        ));
        let mut stop = stop.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                done = connection.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
            }
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}
