//! The Lambda Runtime API (2018-06-01) a function's `bootstrap` talks to:
//! `next` (long poll), `response`, `error`, `init/error`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use shopsphere_events::TraceParent;
use tokio::sync::{mpsc, oneshot};

/// How an invocation ended, as the function reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handler's response body.
    Response(Bytes),
    /// The error document the runtime posted (errorType, errorMessage).
    Error(Bytes),
}

struct Invocation {
    request_id: String,
    payload: Bytes,
    deadline_ms: u128,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    function_arn: String,
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
    /// Set by the first `next`: the function's init is over.
    initialized: tokio::sync::watch::Sender<bool>,
}

/// A running Runtime API for one function process.
#[derive(Clone)]
pub struct RuntimeApi {
    pub addr: SocketAddr,
    submit: mpsc::Sender<Invocation>,
    shared: Arc<Shared>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("Task timed out after {0:?}")]
    Timeout(Duration),
    #[error("the function process stopped before answering")]
    Gone,
}

const PREFIX: &str = "/2018-06-01/runtime";

impl RuntimeApi {
    /// Serve on an ephemeral loopback port.
    pub async fn start(function_arn: String) -> std::io::Result<RuntimeApi> {
        let (submit, queue) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            function_arn,
            queue: tokio::sync::Mutex::new(queue),
            in_flight: Mutex::default(),
            init_error: Mutex::default(),
            initialized: tokio::sync::watch::Sender::new(false),
        });
        let app = Router::new()
            .route(&format!("{PREFIX}/invocation/next"), get(next))
            .route(&format!("{PREFIX}/invocation/{{id}}/response"), post(response))
            .route(&format!("{PREFIX}/invocation/{{id}}/error"), post(error))
            .route(&format!("{PREFIX}/init/error"), post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(RuntimeApi { addr, submit, shared })
    }

    /// Queue one invocation and wait for its outcome, at most `timeout`.
    pub async fn invoke(&self, payload: Bytes, timeout: Duration) -> Result<Outcome, InvokeError> {
        let (reply, answer) = oneshot::channel();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let invocation = Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            payload,
            deadline_ms: (now + timeout).as_millis(),
            reply,
        };
        self.submit.send(invocation).await.map_err(|_| InvokeError::Gone)?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(outcome)) => Ok(outcome),
            Ok(Err(_)) => Err(InvokeError::Gone),
            Err(_) => Err(InvokeError::Timeout(timeout)),
        }
    }

    /// Wait until the function asked for its first event (its init is done).
    pub async fn initialized(&self) {
        let mut ready = self.shared.initialized.subscribe();
        // The sender lives in `shared`, which `self` holds: this cannot fail.
        let _ = ready.wait_for(|ready| *ready).await;
    }

    /// The error the function reported from its initialisation, if any.
    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    shared.initialized.send_replace(true);
    let Some(invocation) = shared.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", header(&invocation.request_id));
    headers.insert("lambda-runtime-deadline-ms", header(&invocation.deadline_ms.to_string()));
    headers.insert("lambda-runtime-invoked-function-arn", header(&shared.function_arn));
    headers.insert("lambda-runtime-trace-id", header(&TraceParent::new_root().to_xray()));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    shared.in_flight.lock().unwrap_or_else(|e| e.into_inner()).insert(invocation.request_id, invocation.reply);
    (StatusCode::OK, headers, invocation.payload).into_response()
}

fn finish(shared: &Shared, id: &str, outcome: Outcome) -> StatusCode {
    match shared.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(id) {
        Some(reply) => {
            // The invoker may have given up (timeout); the answer is then dropped.
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&shared, &id, Outcome::Response(body))
}

async fn error(State(shared): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&shared, &id, Outcome::Error(body))
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *shared.init_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
