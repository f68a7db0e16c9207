//! The Runtime API's protocol, spoken by hand over HTTP/1.1 as a bootstrap would.

use std::net::SocketAddr;
use std::time::Duration;

use shopsphere_local::runtime_api::{InvokeError, Outcome, RuntimeApi};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request on its own connection: (status, lower-cased head, body).
async fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_owned())
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines().find_map(|l| l.strip_prefix(&format!("{name}: "))).unwrap_or_else(|| panic!("no {name} in {head}"))
}

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const ARN: &str = "arn:aws:lambda:us-east-1:000000000000:function:shopsphere-t-payment";

#[tokio::test]
async fn next_carries_the_event_and_lambda_headers_and_response_completes_the_invocation() {
    let api = RuntimeApi::start(ARN.into()).await.unwrap();
    let invoker = api.clone();
    let invocation =
        tokio::spawn(async move { invoker.invoke(r#"{"Records":[]}"#.into(), Duration::from_secs(5)).await });

    let (status, head, body) = http(api.addr, "GET", NEXT, "").await;
    assert_eq!((status, body.as_str()), (200, r#"{"Records":[]}"#));
    let id = header(&head, "lambda-runtime-aws-request-id").to_owned();
    let deadline: u128 = header(&head, "lambda-runtime-deadline-ms").parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    assert!(deadline > now && deadline <= now + 5_000, "deadline {deadline} vs now {now}");
    assert_eq!(header(&head, "lambda-runtime-invoked-function-arn"), ARN);
    assert!(header(&head, "lambda-runtime-trace-id").starts_with("root=1-"));

    let (status, _, _) =
        http(api.addr, "POST", &format!("/2018-06-01/runtime/invocation/{id}/response"), "\"done\"").await;
    assert_eq!(status, 202);
    assert_eq!(invocation.await.unwrap().unwrap(), Outcome::Response("\"done\"".into()));
}

#[tokio::test]
async fn an_error_post_is_the_invocations_error_and_unknown_ids_are_rejected() {
    let api = RuntimeApi::start(ARN.into()).await.unwrap();
    let invoker = api.clone();
    let invocation = tokio::spawn(async move { invoker.invoke("{}".into(), Duration::from_secs(5)).await });
    let (_, head, _) = http(api.addr, "GET", NEXT, "").await;
    let id = header(&head, "lambda-runtime-aws-request-id").to_owned();
    let (status, _, _) = http(api.addr, "POST", "/2018-06-01/runtime/invocation/nope/response", "{}").await;
    assert_eq!(status, 400);
    let error = r#"{"errorType":"Panic","errorMessage":"boom"}"#;
    http(api.addr, "POST", &format!("/2018-06-01/runtime/invocation/{id}/error"), error).await;
    assert_eq!(invocation.await.unwrap().unwrap(), Outcome::Error(error.into()));
}

#[tokio::test]
async fn an_unanswered_invocation_times_out() {
    let api = RuntimeApi::start(ARN.into()).await.unwrap();
    let invoker = api.clone();
    let invocation = tokio::spawn(async move { invoker.invoke("{}".into(), Duration::from_millis(300)).await });
    http(api.addr, "GET", NEXT, "").await;
    assert!(matches!(invocation.await.unwrap(), Err(InvokeError::Timeout(_))));
}

#[tokio::test]
async fn init_errors_are_kept_for_the_report() {
    let api = RuntimeApi::start(ARN.into()).await.unwrap();
    let (status, _, _) = http(api.addr, "POST", "/2018-06-01/runtime/init/error", "QUEUE_URL is not set").await;
    assert_eq!(status, 202);
    assert_eq!(api.init_error().as_deref(), Some("QUEUE_URL is not set"));
}
