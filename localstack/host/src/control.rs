//! The control interface (HTTP on loopback) fault tests and the demo use:
//! see each function, stop and start it (its event sources and instances),
//! change how many instances may run, crash instances at a step boundary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::Host;
use crate::tap::CrashPoint;

/// How long `stop` waits for in-flight batches to finish.
const DRAIN: Duration = Duration::from_secs(30);

pub async fn serve(host: Arc<Host>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let app = Router::new()
        .route("/functions", get(list))
        .route("/functions/{id}", get(show))
        .route("/functions/{id}/stop", post(stop))
        .route("/functions/{id}/start", post(start))
        .route("/functions/{id}/crash", post(crash))
        .with_state(host);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(bound)
}

fn not_found(id: &str) -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"message": format!("no function {id}")}))).into_response()
}

async fn list(State(host): State<Arc<Host>>) -> Json<Value> {
    Json(Value::Array(host.functions.keys().filter_map(|id| host.describe(id)).collect()))
}

async fn show(State(host): State<Arc<Host>>, Path(id): Path<String>) -> Response {
    host.describe(&id).map_or_else(|| not_found(&id), |d| Json(d).into_response())
}

/// Stop feeding the function; answers once its in-flight batches are done.
async fn stop(State(host): State<Arc<Host>>, Path(id): Path<String>) -> Response {
    let Some(function) = host.functions.get(&id) else { return not_found(&id) };
    function.stop();
    let start = Instant::now();
    while host.pollers(&id) > 0 {
        if start.elapsed() > DRAIN {
            return (StatusCode::GATEWAY_TIMEOUT, Json(json!({"message": "in-flight batches did not finish"})))
                .into_response();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    show(State(host), Path(id)).await
}

/// Feed it again; `?concurrency=N` caps its instances (default: the template's).
async fn start(State(host): State<Arc<Host>>, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some(function) = host.functions.get(&id) else { return not_found(&id) };
    let concurrency = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "concurrency")
        .map(|(_, v)| v.parse::<usize>());
    let concurrency = match concurrency.transpose() {
        Ok(n) => n.filter(|n| *n > 0),
        Err(e) => {
            return (StatusCode::BAD_REQUEST, Json(json!({"message": format!("concurrency: {e}")}))).into_response();
        }
    };
    function.start(concurrency);
    show(State(host), Path(id)).await
}

/// Crash the next instance that passes a step boundary: `?at=` claim, call,
/// commit, publish (these need `--crash-points`) or answer (the default);
/// `&times=N` for the next N.
async fn crash(State(host): State<Arc<Host>>, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    let Some(function) = host.functions.get(&id) else { return not_found(&id) };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let Some(point) = CrashPoint::parse(param("at").unwrap_or("answer")) else {
        let message = "at: one of claim, call, commit, publish, answer";
        return (StatusCode::BAD_REQUEST, Json(json!({"message": message}))).into_response();
    };
    let times = match param("times").map(str::parse::<u32>).transpose() {
        Ok(times) => times.unwrap_or(1),
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({"message": format!("times: {e}")}))).into_response(),
    };
    function.crashes.arm(point, times);
    show(State(host), Path(id)).await
}
