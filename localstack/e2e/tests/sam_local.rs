//! Every function in a Lambda container: `sam local invoke` on the committed
//! fixtures and `sam local start-api`, against template.yaml deployed to
//! LocalStack, each answer and its effect in LocalStack checked.
//!
//! Needs a Docker engine with the base image, an x86_64 `sam build` and the
//! env-vars file `shopsphere-local env-vars` writes: `make sam-local-test`
//! prepares all of that and runs this file. `make test` does not (no Docker
//! there): the target has `test = false` in Cargo.toml.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shopsphere_e2e::{root, seed_catalog};
use shopsphere_localstack_tests::{Emulator, Queue, attribute, emulator, endpoint};
use shopsphere_messaging::sqs::DEAD_LETTER_ATTRIBUTES;
use shopsphere_payment_tokens::PaymentToken;
use shopsphere_runtime::dynamodb::Table;
use tokio::process::Command;

/// What `shopsphere-local env-vars` wrote: each function's variables by logical id.
struct EnvVars {
    path: PathBuf,
    functions: HashMap<String, HashMap<String, String>>,
}

impl EnvVars {
    fn load() -> EnvVars {
        let path =
            std::env::var_os("SAM_ENV_VARS").map_or_else(|| root().join(".aws-sam/local-env-vars.json"), PathBuf::from);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (make sam-local-test writes it)", path.display()));
        let mut functions: HashMap<String, HashMap<String, String>> =
            serde_json::from_str(&text).expect("an env-vars file of strings");
        functions.remove("Parameters");
        EnvVars { path, functions }
    }

    fn get(&self, function: &str, variable: &str) -> &str {
        self.functions
            .get(function)
            .and_then(|v| v.get(variable))
            .unwrap_or_else(|| panic!("{}: no {function}.{variable}", self.path.display()))
    }
}

/// `sam local invoke FUNCTION -e EVENT`, the way the README shows it (EVENT
/// relative to the project root); the function's answer, printed for the CI log.
async fn invoke(env: &EnvVars, function: &str, event: &str) -> Value {
    let started = Instant::now();
    let output = sam()
        .args(["local", "invoke", function, "--config-env", "local", "--skip-pull-image", "-e", event])
        .arg("--env-vars")
        .arg(&env.path)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run sam (on PATH: make sam-local-test puts it there)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sam local invoke {function} failed:\n{stderr}");
    // SAM writes its own messages and the function's logs to stderr, the answer to stdout.
    let answer: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{function}: answer is not JSON ({e}): {stdout}\n{stderr}"));
    println!("sam local invoke {function} -e {event} ({:.1} s) -> {answer}", started.elapsed().as_secs_f64());
    answer
}

fn sam() -> Command {
    let mut command = Command::new("sam");
    command
        .current_dir(root())
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_REGION", shopsphere_localstack_tests::REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        // SAM asks STS for the account id first; the AWS endpoint is out of
        // reach here and its DNS lookup alone costs ~5 s per command.
        .env("AWS_ENDPOINT_URL_STS", endpoint())
        .kill_on_drop(true);
    command
}

fn no_failures(function: &str, answer: &Value) {
    assert_eq!(answer, &json!({ "batchItemFailures": [] }), "{function}: every record handled");
}

/// Items in `table` (partition key `key`).
async fn count(emu: &Emulator, table: &str, key: &'static str) -> usize {
    Table::new(emu.dynamodb.clone(), table, key).count().await.expect("count")
}

/// A queue that receives everything published to `topic_arn`.
async fn probe(emu: &Emulator, topic_arn: &str) -> Queue {
    let queue = emu.create_queue("sam-local-probe", HashMap::new()).await;
    emu.subscribe(topic_arn, &queue, true).await;
    queue
}

/// Invoke `function` on `events/<fixture>`, a batch it must handle whole, and
/// return the one event it published to the topic its variable `topic` names.
async fn handled_and_published(env: &EnvVars, emu: &Emulator, function: &str, topic: &str, fixture: &str) -> Value {
    let queue = probe(emu, env.get(function, topic)).await;
    no_failures(function, &invoke(env, function, &format!("events/{fixture}")).await);
    let mut events: Vec<Value> = emu
        .receive(&queue, 1, Duration::from_secs(15))
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or_default()).expect("a JSON event"))
        .collect();
    assert_eq!(events.len(), 1, "{function}: one event on {topic}: {events:?}");
    let event = events.remove(0);
    assert_eq!(event["data"]["order_id"], ORDER, "{function}: the fixture's order");
    event
}

const ORDER: &str = "0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7";

#[tokio::test]
async fn every_function_answers_in_a_lambda_container_and_acts_on_localstack() {
    let (env, emu) = (EnvVars::load(), emulator().await);
    seed_catalog(env.get("OrderApiFunction", "CATALOG_TABLE"), env.get("InventoryFunction", "INVENTORY_TABLE")).await;

    // order-api: the order is accepted and its row written, the customer
    // the fixture's authorizer claims name (`sub`).
    let answer = invoke(&env, "OrderApiFunction", "events/order-api/post-order.json").await;
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().expect("a body")).expect("a JSON body");
    let order_id = body["order_id"].as_str().expect("order_id");
    let orders = env.get("OrderApiFunction", "ORDERS_TABLE");
    let row = emu.dynamodb.get_item().table_name(orders).key("order_id", attr(order_id)).send().await.expect("get");
    let row = row.item.unwrap_or_else(|| panic!("order {order_id} is not in {orders}"));
    assert_eq!(row["customer_id"].as_s().map(String::as_str), Ok("cus-ada"), "the token's subject");
    // The same request without authorizer claims: 401, no row.
    let before = count(&emu, orders, "order_id").await;
    let answer = invoke(&env, "OrderApiFunction", "events/order-api/post-order-unauthenticated.json").await;
    assert_eq!(answer["statusCode"], 401, "{answer}");
    assert_eq!(count(&emu, orders, "order_id").await, before);
    let answer = invoke(&env, "OrderApiFunction", "events/order-api/post-order-malformed.json").await;
    assert_eq!(answer["statusCode"], 400, "{answer}");

    // order-outbox: the new order's INSERT becomes one OrderCreated (the MODIFY beside it, none).
    let event = handled_and_published(
        &env,
        &emu,
        "OrderOutboxFunction",
        "ORDER_CREATED_TOPIC_ARN",
        "order-outbox/stream-insert.json",
    )
    .await;
    assert_eq!(event["type"], "shopsphere.order.OrderCreated.v1");

    // payment: charged once with the token order-api deposited for the fixture's
    // order, PaymentProcessed published; poison goes to the DLQ with its reason.
    let tokens = Table::new(emu.dynamodb.clone(), env.get("PaymentFunction", "PAYMENT_TOKENS_TABLE"), "order_id");
    let token = PaymentToken::new(ORDER, "tok_visa", shopsphere_runtime::now_ms() / 1000);
    tokens.put(&token).await.expect("deposit the fixture order's payment token");
    let event =
        handled_and_published(&env, &emu, "PaymentFunction", "PAYMENT_PROCESSED_TOPIC_ARN", "payment/sqs-sns.json")
            .await;
    assert_eq!(event["type"], "shopsphere.payment.PaymentProcessed.v1");
    assert_eq!(count(&emu, env.get("PaymentFunction", "PAYMENTS_TABLE"), "order_id").await, 1);
    let dlq = Queue { url: env.get("PaymentFunction", "DLQ_URL").to_owned(), arn: String::new() };
    // The stack outlives a run when LocalStack was already up: start from an empty DLQ.
    emu.sqs.purge_queue().queue_url(&dlq.url).send().await.expect("purge the DLQ");
    no_failures("PaymentFunction", &invoke(&env, "PaymentFunction", "events/payment/sqs-poison.json").await);
    let mut reasons: Vec<String> = emu
        .receive(&dlq, 2, Duration::from_secs(15))
        .await
        .iter()
        .map(|m| attribute(m, DEAD_LETTER_ATTRIBUTES[0]).expect("an error_code attribute"))
        .collect();
    reasons.sort();
    assert_eq!(reasons, ["not_json", "unsupported_version"]);
    assert_eq!(
        count(&emu, env.get("PaymentFunction", "PAYMENTS_TABLE"), "order_id").await,
        1,
        "the valid sibling was a repeat"
    );

    // inventory: stock reserved, InventoryUpdated published.
    let event =
        handled_and_published(&env, &emu, "InventoryFunction", "INVENTORY_UPDATED_TOPIC_ARN", "inventory/sqs-sns.json")
            .await;
    assert_eq!(event["type"], "shopsphere.inventory.InventoryUpdated.v1");

    // shipping: a shipment row, OrderShipped published.
    let event =
        handled_and_published(&env, &emu, "ShippingFunction", "ORDER_SHIPPED_TOPIC_ARN", "shipping/sqs-sns.json").await;
    assert_eq!(event["type"], "shopsphere.shipping.OrderShipped.v1");
    assert_eq!(count(&emu, env.get("ShippingFunction", "SHIPMENTS_TABLE"), "order_id").await, 1);

    // notification, order-status, analytics: one batch of the whole saga's events each.
    let notifications = env.get("NotificationFunction", "NOTIFICATIONS_TABLE");
    no_failures(
        "NotificationFunction",
        &invoke(&env, "NotificationFunction", "events/notification/sqs-sns.json").await,
    );
    assert_eq!(count(&emu, notifications, "event_id").await, 7, "one email per event");
    // Eight events of one order in one batch, applied concurrently: one conditional update each.
    no_failures("OrderStatusFunction", &invoke(&env, "OrderStatusFunction", "events/order-status/sqs-sns.json").await);
    let row = emu.dynamodb.get_item().table_name(orders).key("order_id", attr(ORDER)).send().await.expect("get");
    let timeline = row.item.and_then(|i| Some(i.get("timeline")?.as_m().ok()?.len()));
    assert_eq!(timeline, Some(8), "order-status applied each event once to the fixture order's view");
    no_failures("AnalyticsFunction", &invoke(&env, "AnalyticsFunction", "events/analytics/sqs-sns.json").await);
    assert_eq!(
        count(&emu, env.get("AnalyticsFunction", "EVENT_ARCHIVE_TABLE"), "order_id").await,
        8,
        "every event archived"
    );
}

fn attr(s: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(s.to_owned())
}

/// `sam local start-api`, stopped by its PID when dropped.
struct StartApi {
    child: tokio::process::Child,
    url: String,
}

impl StartApi {
    async fn start(env: &EnvVars) -> StartApi {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = sam()
            .args(["local", "start-api", "--config-env", "local", "--skip-pull-image", "--port"])
            .arg(port.to_string())
            .arg("--env-vars")
            .arg(&env.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run sam local start-api");
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(start.elapsed() < Duration::from_secs(60), "sam local start-api did not listen within 60 s");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        println!("sam local start-api --port {port}: listening after {:.1} s", start.elapsed().as_secs_f64());
        StartApi { child, url }
    }
}

impl Drop for StartApi {
    fn drop(&mut self) {
        // SIGINT: SAM's Ctrl-C path, which removes its containers; if it has
        // not exited after 10 s, kill_on_drop sends SIGKILL.
        if let Some(pid) = self.child.id() {
            unsafe { libc::kill(pid as i32, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

async fn request(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&str>,
    authorization: Option<&str>,
) -> (u16, Value) {
    let mut request = http.request(method.clone(), url).header("content-type", "application/json");
    if let Some(body) = body {
        request = request.header("Idempotency-Key", uuid::Uuid::new_v4().to_string()).body(body.to_owned());
    }
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: not JSON ({e}): {text}"));
    println!("sam local start-api: {method} {url} -> {status} {json}");
    (status, json)
}

/// `sam local start-api` runs no JWT authorizer ("not supported for local
/// emulation, requests will not be authorized"): the function gets no
/// claims, so every order operation is the function's own 401, whatever
/// Authorization header comes (nothing verified it), and the public catalog
/// answers. Placing and reading orders in a container is `sam local invoke`
/// on the fixtures, which carry the claims API Gateway would pass.
#[tokio::test]
async fn the_http_api_under_sam_local_start_api_serves_products_and_refuses_orders_without_claims() {
    let env = EnvVars::load();
    let emu = emulator().await;
    seed_catalog(env.get("OrderApiFunction", "CATALOG_TABLE"), env.get("InventoryFunction", "INVENTORY_TABLE")).await;
    let api = StartApi::start(&env).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/order-api/post-order.json")).expect("fixture"),
    )
    .expect("JSON");
    let order = fixture["body"].as_str().expect("the fixture's body");

    let (status, body) = request(&http, reqwest::Method::GET, &format!("{}/products", api.url), None, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["products"].as_array().is_some_and(|p| !p.is_empty()), "{body}");
    let unverified = Some("Bearer not-checked-by-sam-local");
    for authorization in [None, unverified] {
        let url = format!("{}/orders", api.url);
        let (status, body) = request(&http, reqwest::Method::POST, &url, Some(order), authorization).await;
        assert_eq!((status, body["title"].as_str()), (401, Some("Unauthorized")), "{body}");
        let url = format!("{}/orders/{}", api.url, uuid::Uuid::new_v4());
        let (status, body) = request(&http, reqwest::Method::GET, &url, None, authorization).await;
        assert_eq!(status, 401, "{body}");
    }
    let orders = env.get("OrderApiFunction", "ORDERS_TABLE");
    let before = count(&emu, orders, "order_id").await;
    let url = format!("{}/orders", api.url);
    request(&http, reqwest::Method::POST, &url, Some(order), None).await;
    assert_eq!(count(&emu, orders, "order_id").await, before, "a 401 writes no order");
}
