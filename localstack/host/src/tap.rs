//! Crash points: with `--crash-points`, each instance of a function reaches
//! AWS through its own tap (a loopback forwarder), which kills the instance's
//! process (SIGKILL) when an armed step boundary passes, before the process
//! hears the answer. With the host's own crash after the answer, these are
//! the places a real crash can fall between "done" and "acknowledged".

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::proxy::{AwsRequest, send_upstream};

/// Where a crash falls in a step, in the order a step passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrashPoint {
    /// A write to the function's own tables succeeded (a claim, an acquire,
    /// a commit): the process dies before it hears so.
    Claim,
    /// A write to the simulated providers' table succeeded: the gateway
    /// charged or refunded, the mail server sent.
    Call,
    /// The first SNS publish, not forwarded: the effect is committed, its
    /// events not out.
    Commit,
    /// SNS took the events; the process dies before it answers.
    Publish,
    /// The function answered; the process dies before the event source
    /// acknowledges the batch.
    Answer,
}

impl CrashPoint {
    pub fn parse(name: &str) -> Option<CrashPoint> {
        serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
    }
}

/// The crashes armed for a function and those that fired.
#[derive(Debug, Default)]
pub struct Crashes {
    armed: Mutex<BTreeMap<CrashPoint, u32>>,
    fired: Mutex<BTreeMap<CrashPoint, u64>>,
}

impl Crashes {
    /// Crash the next `times` instances that pass `point`.
    pub fn arm(&self, point: CrashPoint, times: u32) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()).entry(point).or_default() += times;
    }

    /// Whether to crash at `point` now (one armed crash is used up).
    pub fn fire(&self, point: CrashPoint) -> bool {
        let mut armed = self.armed.lock().unwrap_or_else(|e| e.into_inner());
        let Some(left) = armed.get_mut(&point).filter(|n| **n > 0) else { return false };
        *left -= 1;
        *self.fired.lock().unwrap_or_else(|e| e.into_inner()).entry(point).or_default() += 1;
        true
    }

    pub fn describe(&self) -> serde_json::Value {
        let armed = self.armed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let fired = self.fired.lock().unwrap_or_else(|e| e.into_inner()).clone();
        serde_json::json!({"armed": armed, "fired": fired})
    }
}

struct Relay {
    upstream: String,
    http: reqwest::Client,
    crashes: Arc<Crashes>,
    /// The instance's process, once spawned.
    pid: Arc<AtomicU32>,
    /// The simulated providers' table: a write there is the outside call.
    providers_table: Option<String>,
}

/// One instance's tap; it stops when dropped.
pub struct Tap {
    pub url: String,
    pub pid: Arc<AtomicU32>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Tap {
    pub async fn start(upstream: &str, crashes: Arc<Crashes>, providers_table: Option<String>) -> anyhow::Result<Tap> {
        let pid = Arc::new(AtomicU32::new(0));
        let relay = Arc::new(Relay {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            crashes,
            pid: pid.clone(),
            providers_table,
        });
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = axum::Router::new().fallback(relay_request).with_state(relay);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Ok(Tap { url, pid, server })
    }
}

impl Relay {
    fn crash(&self, point: CrashPoint) -> Response {
        let pid = self.pid.load(Ordering::SeqCst);
        tracing::warn!(pid, ?point, "crash point: killing the instance");
        if pid > 0 {
            // SAFETY: kill(2) on a process this host spawned and still owns.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        Response::builder().status(502).body(Body::from("crashed on purpose")).expect("a response")
    }
}

async fn relay_request(State(relay): State<Arc<Relay>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 << 20).await.unwrap_or_default();
    let aws = AwsRequest::of(&parts.headers, &parts.method, &body);
    if aws.is_sns_publish() && relay.crashes.fire(CrashPoint::Commit) {
        return relay.crash(CrashPoint::Commit);
    }
    let answer = match send_upstream(&relay.http, &relay.upstream, &parts, body).await {
        Ok(answer) => answer,
        Err(response) => return response,
    };
    let passed = if !answer.status.is_success() {
        None
    } else if aws.is_sns_publish() {
        Some(CrashPoint::Publish)
    } else if aws.is_dynamodb_write() {
        let outside = aws.tables.iter().any(|t| Some(t) == relay.providers_table.as_ref());
        Some(if outside { CrashPoint::Call } else { CrashPoint::Claim })
    } else {
        None
    };
    match passed {
        Some(point) if relay.crashes.fire(point) => relay.crash(point),
        _ => answer.into_response(),
    }
}
