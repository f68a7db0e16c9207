//! One ShopSphere per test: a fresh stack of template.yaml (its own stack
//! name, so its own topics, queues and tables), stock seeded, on one of two engines:
//! - the local host (default): LocalStack with the functions off, the
//!   project's host running the real release binaries against it. Dropping
//!   the shop kills the host by PID; its function processes die with it
//!   (PDEATHSIG).
//! - MiniStack (`SHOPSPHERE_ENGINE=ministack`, `make e2e-ministack`): the
//!   real `sam deploy` of the `sam build` output, MiniStack running the
//!   bootstraps and polling the queues; consumers are driven through the
//!   Lambda API and logs read from CloudWatch Logs. Dropping the shop
//!   deletes the stack.
//!
//! On both, the API trusts the shop's own JWT issuer (the template's
//! AuthIssuer and AuthAudience parameters), which the harness serves on a
//! local port: the engine's JWT authorizer fetches its JWKS as API Gateway
//! does, and every request to the order routes carries a token it signs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use shopsphere_local::jwt::{LocalIssuer, SigningKey};
use shopsphere_localstack_tests::{Emulator, emulator, endpoint};
use shopsphere_notification::provider::{MailRecord, mail_key};
use shopsphere_payment::gateway::{FlakyAttempts, GatewayRecord, charge_key, flaky_key};
use shopsphere_payment_tokens::{PaymentToken, PaymentTokensTable};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Semaphore, SemaphorePermit};

/// One signing key for every shop of the process (each shop's issuer has
/// its own URL, so a verifier's JWKS cache never mixes runs).
static SIGNING_KEY: LazyLock<Arc<SigningKey>> =
    LazyLock::new(|| Arc::new(SigningKey::generate().expect("an RSA key pair")));

/// The audience the shops' tokens carry (the stack's AuthAudience).
pub const AUDIENCE: &str = "shopsphere-e2e";

/// The customer the harness places and reads orders as.
pub const CUSTOMER: &str = "cus-e2e";

/// Whole stacks at once on 2 cores: more only makes each slower.
static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(3));

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where `cargo build --release` put the tools (the host, the CLI, seed-catalog).
pub fn bin_dir() -> PathBuf {
    root().join("target/release")
}

/// Where the function binaries are, built as `sam build` ships them.
pub fn function_bin_dir() -> PathBuf {
    root().join(shopsphere_local::function_bin_dir())
}

/// The demo catalog and its stock, written by the `seed-catalog` binary.
pub async fn seed_catalog(catalog_table: &str, inventory_table: &str) {
    let status = Command::new(bin_dir().join("seed-catalog"))
        .env("CATALOG_TABLE", catalog_table)
        .env("INVENTORY_TABLE", inventory_table)
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_REGION", shopsphere_localstack_tests::REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(Stdio::null())
        .status()
        .await
        .expect("run seed-catalog");
    assert!(status.success(), "seed-catalog failed");
}

pub struct Shop {
    /// The proxy between the functions and the emulator, when the test
    /// injects faults.
    pub proxy: Option<shopsphere_local::proxy::Proxy>,
    pub stage: String,
    pub api: String,
    pub outputs: HashMap<String, String>,
    pub emu: Emulator,
    pub http: reqwest::Client,
    pub engine: Engine,
    /// The JWT issuer the stack's API trusts.
    pub issuer: Arc<LocalIssuer>,
    _slot: SemaphorePermit<'static>,
}

/// What runs the functions.
pub enum Engine {
    LocalHost(LocalHost),
    MiniStack(shopsphere_ministack::Deployment),
}

/// The project's host: its process, control interface and log folder.
pub struct LocalHost {
    pub process: Child,
    pub control: String,
    pub logs: PathBuf,
}

/// Which engine this run's shops use: `SHOPSPHERE_ENGINE` (`local-host`, the
/// default, or `ministack`).
pub fn on_ministack() -> bool {
    match std::env::var("SHOPSPHERE_ENGINE").as_deref() {
        Ok("ministack") => true,
        Ok("local-host") | Err(_) => false,
        Ok(other) => panic!("SHOPSPHERE_ENGINE={other}: expected local-host or ministack"),
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        if let Engine::MiniStack(deployment) = &self.engine {
            // DeleteStack from a thread of its own: drop cannot await.
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                    if let Ok(runtime) = runtime
                        && let Err(e) = runtime.block_on(deployment.delete())
                    {
                        eprintln!("deleting stack {}: {e:#}", deployment.stack);
                    }
                });
            });
        }
    }
}

/// A result or a panic after `timeout`, naming what was awaited.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Shop {
    /// A fresh stack with `parameters` (template parameters), up and seeded.
    pub async fn start(parameters: &[(&str, &str)]) -> Shop {
        Self::start_via(parameters, None, false).await
    }

    /// [`Shop::start`] with every AWS request of the host and its functions
    /// through a proxy the test can inject faults into (`shop.proxy`).
    pub async fn start_with_proxy(parameters: &[(&str, &str)]) -> Shop {
        let proxy = shopsphere_local::proxy::Proxy::start(&endpoint()).await.expect("start the proxy");
        Self::start_via(parameters, Some(proxy), false).await
    }

    /// [`Shop::start_with_proxy`] whose host also runs each function instance
    /// behind a tap, so `crash?at=claim|call|commit|publish` works (the local
    /// host only: on MiniStack this is the proxy alone, see [`Shop::can_crash`]).
    pub async fn start_with_crash_points(parameters: &[(&str, &str)]) -> Shop {
        let proxy = shopsphere_local::proxy::Proxy::start(&endpoint()).await.expect("start the proxy");
        Self::start_via(parameters, Some(proxy), true).await
    }

    async fn start_via(
        parameters: &[(&str, &str)],
        proxy: Option<shopsphere_local::proxy::Proxy>,
        crash_points: bool,
    ) -> Shop {
        let slot = SLOTS.acquire().await.expect("the semaphore is never closed");
        let emu = emulator().await;
        let stage = format!("e2e{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let stack = format!("shopsphere-{stage}");
        let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let issuer = LocalIssuer::serve(any_port, &format!("e2e/{stage}"), AUDIENCE, SIGNING_KEY.clone())
            .await
            .expect("serve the shop's JWT issuer");
        let mut parameters: Vec<(String, String)> =
            parameters.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        parameters.push(("AuthIssuer".into(), issuer.url.clone()));
        parameters.push(("AuthAudience".into(), AUDIENCE.into()));
        let (engine, api, outputs) = if on_ministack() {
            // The functions reach the proxy through the template's EndpointUrl.
            if let Some(proxy) = &proxy {
                parameters.push(("EndpointUrl".into(), proxy.endpoint.clone()));
            }
            let deployment = shopsphere_ministack::Deployment::deploy(&emu.config, &endpoint(), &stack, &parameters)
                .await
                .unwrap_or_else(|e| panic!("{e:#}"));
            let api = deployment.api().expect("the API's URL");
            let outputs = deployment.outputs.clone();
            (Engine::MiniStack(deployment), api, outputs)
        } else {
            let upstream = proxy.as_ref().map_or_else(endpoint, |p| p.endpoint.clone());
            start_host(&stack, &stage, &upstream, &parameters, crash_points).await
        };
        let http = reqwest::Client::new();
        let shop = Shop { proxy, stage, api, outputs, emu, http, engine, issuer, _slot: slot };
        shop.seed().await;
        shop
    }

    /// The local host (a test of the host itself); panics on another engine.
    pub fn local_host(&mut self) -> &mut LocalHost {
        match &mut self.engine {
            Engine::LocalHost(host) => host,
            Engine::MiniStack(_) => panic!("this test needs the local host (SHOPSPHERE_ENGINE=local-host)"),
        }
    }

    /// Whether the engine can crash a function at a step boundary
    /// (`crash?at=`): the local host's taps can, MiniStack cannot.
    pub fn can_crash(&self) -> bool {
        matches!(self.engine, Engine::LocalHost(_))
    }

    /// The inventory crate's seed binary against this stack's tables.
    async fn seed(&self) {
        seed_catalog(self.output("CatalogTableName"), self.output("InventoryTableName")).await;
    }

    pub fn output(&self, key: &str) -> &str {
        self.outputs.get(key).unwrap_or_else(|| panic!("the stack has no output {key}"))
    }

    /// A token the stack's API accepts for customer `subject`.
    pub fn token(&self, subject: &str) -> String {
        self.issuer.token(subject)
    }

    /// POST /orders as [`CUSTOMER`]; the status and JSON body.
    pub async fn place(&self, order: &Value, idempotency_key: Option<&str>) -> (u16, Value) {
        self.place_with(Some(&self.token(CUSTOMER)), order, idempotency_key).await
    }

    /// POST /orders with `token` as its bearer token (none: no Authorization
    /// header); the status and JSON body.
    pub async fn place_with(&self, token: Option<&str>, order: &Value, idempotency_key: Option<&str>) -> (u16, Value) {
        let mut request = self.http.post(format!("{}/orders", self.api)).json(order);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("POST /orders");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// POST /orders as [`CUSTOMER`] that must be accepted; the order id.
    pub async fn place_ok(&self, order: &Value) -> String {
        self.place_ok_as(CUSTOMER, order).await
    }

    /// POST /orders as customer `subject` that must be accepted; the order id.
    pub async fn place_ok_as(&self, subject: &str, order: &Value) -> String {
        let key = uuid::Uuid::new_v4().to_string();
        let (status, body) = self.place_with(Some(&self.token(subject)), order, Some(&key)).await;
        assert_eq!(status, 202, "{body}");
        body["order_id"].as_str().expect("order_id").to_owned()
    }

    /// GET /orders/{id} with `token` (none: no Authorization header); the
    /// status and JSON body.
    pub async fn get_order_with(&self, token: Option<&str>, id: &str) -> (u16, Value) {
        let mut request = self.http.get(format!("{}/orders/{id}", self.api));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("GET /orders/{id}");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    pub async fn order(&self, id: &str) -> Value {
        self.order_if_any(id).await.unwrap_or_else(|| panic!("GET /orders/{id}: 404"))
    }

    /// The order (placed as [`CUSTOMER`]), or `None` on a 404.
    pub async fn order_if_any(&self, id: &str) -> Option<Value> {
        self.order_of(CUSTOMER, id).await
    }

    /// Customer `subject`'s order, or `None` on a 404.
    pub async fn order_of(&self, subject: &str, id: &str) -> Option<Value> {
        match self.get_order_with(Some(&self.token(subject)), id).await {
            (404, _) => None,
            (200, order) => Some(order),
            (other, body) => panic!("GET /orders/{id}: {other} {body}"),
        }
    }

    /// Wait until the order is in `status` (a final one: it will not move on).
    pub async fn settles(&self, id: &str, status: &str, timeout: Duration) -> Value {
        self.settles_as(CUSTOMER, id, status, timeout).await
    }

    /// [`Shop::settles`] for an order customer `subject` placed.
    pub async fn settles_as(&self, subject: &str, id: &str, status: &str, timeout: Duration) -> Value {
        eventually(&format!("order {id} to be {status}"), timeout, || async {
            self.order_of(subject, id).await.filter(|order| order["status"] == status)
        })
        .await
    }

    /// Drive a consumer: `stop`, `start`, `start?concurrency=N` on either
    /// engine (the local host's control interface; MiniStack's event source
    /// mappings and reserved concurrency); `crash...` on the local host only.
    pub async fn control(&self, function: &str, action: &str) {
        match &self.engine {
            Engine::LocalHost(host) => {
                let url = format!("{}/functions/{function}/{action}", host.control);
                let response = self.http.post(url).send().await.expect("control interface");
                assert!(response.status().is_success(), "{function} {action}: {}", response.status());
            }
            Engine::MiniStack(deployment) => {
                let outcome = match (action, action.strip_prefix("start?concurrency=")) {
                    ("stop", _) => deployment.set_consuming(function, false).await,
                    ("start", _) => deployment.set_consuming(function, true).await,
                    (_, Some(n)) => {
                        let instances = n.parse().expect("a number of instances");
                        async {
                            deployment.set_concurrency(function, instances).await?;
                            deployment.set_consuming(function, true).await
                        }
                        .await
                    }
                    _ => panic!("{function} {action}: the local host's alone (SHOPSPHERE_ENGINE=local-host)"),
                };
                outcome.unwrap_or_else(|e| panic!("{function} {action}: {e:#}"));
            }
        }
    }

    /// The local host's account of a function (instances, invocations,
    /// crashes); MiniStack has none.
    pub async fn function(&self, function: &str) -> Value {
        let Engine::LocalHost(host) = &self.engine else {
            panic!("{function}: instance counts are the local host's alone (SHOPSPHERE_ENGINE=local-host)")
        };
        let response =
            self.http.get(format!("{}/functions/{function}", host.control)).send().await.expect("control interface");
        response.json().await.expect("a JSON body")
    }

    /// (visible, in flight) messages of the queue an output names.
    pub async fn depth(&self, queue_output: &str) -> (u64, u64) {
        shopsphere_messaging::sqs::queue_depth(&self.emu.sqs, self.output(queue_output))
            .await
            .expect("queue attributes")
    }

    pub async fn wait_drained(&self, queue_output: &str, timeout: Duration) {
        eventually(&format!("{queue_output} to drain"), timeout, || async {
            (self.depth(queue_output).await == (0, 0)).then_some(())
        })
        .await
    }

    /// Every row of the table an output names, as JSON.
    pub async fn rows(&self, table_output: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .emu
                .dynamodb
                .scan()
                .table_name(self.output(table_output))
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            for item in page.items.unwrap_or_default() {
                rows.push(serde_dynamo::from_item(item).expect("a row"));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return rows;
            }
        }
    }

    pub async fn stock(&self, sku: &str) -> i64 {
        let item = self
            .emu
            .dynamodb
            .get_item()
            .table_name(self.output("InventoryTableName"))
            .key("sku", AttributeValue::S(sku.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get stock")
            .item
            .expect("a stock row");
        item["stock"].as_n().expect("a number").parse().expect("an integer")
    }

    /// Set a sku's stock, as if it had been seeded with `units` (its
    /// `received` too, which the audit's stock check starts from).
    pub async fn set_stock(&self, sku: &str, units: u32) {
        self.emu
            .dynamodb
            .update_item()
            .table_name(self.output("InventoryTableName"))
            .key("sku", AttributeValue::S(sku.into()))
            .update_expression("SET stock = :units, received = :units")
            .expression_attribute_values(":units", AttributeValue::N(units.to_string()))
            .send()
            .await
            .expect("set the stock");
    }

    /// INSERT records on the orders table's stream, from its start: orders
    /// written, whether or not the outbox has read them.
    pub async fn stream_inserts(&self) -> usize {
        let streams = aws_sdk_dynamodbstreams::Client::new(&self.emu.config);
        let table = self.emu.dynamodb.describe_table().table_name(self.output("OrdersTableName")).send().await;
        let arn = table.expect("describe the orders table").table.and_then(|t| t.latest_stream_arn).expect("a stream");
        let shards = streams.describe_stream().stream_arn(&arn).send().await.expect("describe the stream");
        let mut inserts = 0;
        for shard in shards.stream_description.and_then(|d| d.shards).unwrap_or_default() {
            let iterator = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard.shard_id.unwrap_or_default())
                .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
                .send()
                .await
                .expect("a shard iterator");
            let mut next = iterator.shard_iterator;
            while let Some(it) = next {
                let page = streams.get_records().shard_iterator(it).send().await.expect("stream records");
                let records = page.records.unwrap_or_default();
                inserts +=
                    records.iter().filter(|r| r.event_name.as_ref().is_some_and(|n| n.as_str() == "INSERT")).count();
                next = if records.is_empty() { None } else { page.next_shard_iterator };
            }
        }
        inserts
    }

    /// A function's log lines (JSON): from its file on the local host, from
    /// its CloudWatch Logs group on MiniStack.
    pub async fn log(&self, function: &str) -> Vec<Value> {
        let lines = match &self.engine {
            Engine::LocalHost(host) => std::fs::read_to_string(host.logs.join(format!("{function}.log")))
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect(),
            Engine::MiniStack(deployment) => deployment.log_lines(function).await.expect("the function's log"),
        };
        lines.iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// What a crashed and long-forgotten world looks like to the guards: every
    /// Powertools idempotency record of the stack expired (`expiration` 0),
    /// as after its TTL. Returns how many there were.
    pub async fn expire_idempotency_records(&self) -> usize {
        let table = self.output("IdempotencyTableName");
        let rows = self.rows("IdempotencyTableName").await;
        for row in &rows {
            self.emu
                .dynamodb
                .update_item()
                .table_name(table)
                .key("id", AttributeValue::S(row["id"].as_str().expect("an id").to_owned()))
                .update_expression("SET expiration = :zero")
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .send()
                .await
                .expect("expire a record");
        }
        rows.len()
    }

    /// A record of the simulated providers (gateway, mail server), by its ledger key.
    pub async fn provider_record<T: serde::de::DeserializeOwned>(&self, id: &str) -> Option<T> {
        let item = self
            .emu
            .dynamodb
            .get_item()
            .table_name(self.output("SimulatedProvidersTableName"))
            .key("id", AttributeValue::S(id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get a provider record")
            .item?;
        Some(serde_dynamo::from_item(item).expect("a provider record"))
    }

    /// Calls the payment gateway got with this charge key (an OrderCreated's event id).
    pub async fn gateway_charges(&self, key: &str) -> u64 {
        self.provider_record::<GatewayRecord>(&charge_key(key)).await.map_or(0, |r| r.calls())
    }

    /// The simulated gateway's `tok_flaky` attempts for this order.
    pub async fn flaky_attempts(&self, order_id: &str) -> u32 {
        self.provider_record::<FlakyAttempts>(&flaky_key(order_id)).await.map_or(0, |r| r.count())
    }

    /// Sends the mail server got for this event.
    pub async fn mail_sends(&self, event_id: &str) -> u64 {
        self.provider_record::<MailRecord>(&mail_key(event_id)).await.map_or(0, |r| r.sends())
    }

    /// Emails the mail provider sent for the order's events, by event type:
    /// one entry per send (a duplicate shows twice), sorted.
    pub async fn sent_emails(&self, order_id: &str) -> Vec<String> {
        let order = self.order(order_id).await;
        let mut sent = Vec::new();
        for event in order["timeline"].as_array().into_iter().flatten() {
            let sends = self.mail_sends(event["event_id"].as_str().unwrap_or_default()).await;
            sent.extend((0..sends).map(|_| event["event_type"].as_str().unwrap_or_default().to_owned()));
        }
        sent.sort();
        sent
    }

    /// Wait until `shopsphere audit --settle-after 0s` finds no violation
    /// (everything the orders caused is done); its JSON report. On timeout,
    /// panics with the last report.
    pub async fn audit_clean(&self, timeout: Duration) -> Value {
        let start = Instant::now();
        loop {
            let (ok, stdout) = self.shopsphere_status(&["audit", "--json", "--settle-after", "0s"]).await;
            let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("audit JSON: {e}: {stdout}"));
            if ok {
                return report;
            }
            assert!(start.elapsed() < timeout, "audit still finds violations after {timeout:?}: {report:#}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Log lines of `function` whose message is `message`.
    pub async fn logged(&self, function: &str, message: &str) -> usize {
        self.log(function).await.iter().filter(|l| l["fields"]["message"] == message).count()
    }

    /// Run the operator's CLI (`shopsphere <args>`) against this stack; its stdout.
    pub async fn shopsphere(&self, args: &[&str]) -> String {
        let (ok, stdout) = self.shopsphere_status(args).await;
        assert!(ok, "shopsphere {args:?} failed: {stdout}");
        stdout
    }

    /// [`Shop::shopsphere`] that may fail: whether it exited 0, and its stdout
    /// (its stderr goes to the test's).
    pub async fn shopsphere_status(&self, args: &[&str]) -> (bool, String) {
        let output = Command::new(bin_dir().join("shopsphere"))
            .args(args)
            .args([
                "--stack",
                &format!("shopsphere-{}", self.stage),
                "--endpoint",
                &endpoint(),
                "--region",
                "us-east-1",
            ])
            .stderr(Stdio::inherit())
            .output()
            .await
            .expect("run shopsphere");
        (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Send bodies straight to a consumer queue, as one batch.
    pub async fn send(&self, queue_output: &str, bodies: &[String]) {
        for chunk in bodies.chunks(10) {
            let mut batch = self.emu.sqs.send_message_batch().queue_url(self.output(queue_output));
            for (i, body) in chunk.iter().enumerate() {
                batch = batch.entries(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .expect("id and body"),
                );
            }
            let out = batch.send().await.expect("send batch");
            assert!(out.failed.is_empty(), "{:?}", out.failed);
        }
    }

    /// Deposit `token` for `order_id`, as order-api does with a new order:
    /// for an OrderCreated sent straight to a queue, which payment charges with it.
    pub async fn deposit_payment_token(&self, order_id: &str, token: &str) {
        let tokens = PaymentTokensTable::new(self.emu.dynamodb.clone(), self.output("PaymentTokensTableName"));
        let deposit = PaymentToken::new(order_id, token, shopsphere_runtime::now_ms() / 1000);
        tokens.0.put(&deposit).await.expect("deposit a payment token");
    }
}

/// `shopsphere-local up` for the stack; (engine, API URL, outputs) from its ready line.
async fn start_host(
    stack: &str,
    stage: &str,
    upstream: &str,
    parameters: &[(String, String)],
    crash_points: bool,
) -> (Engine, String, HashMap<String, String>) {
    let host_binary = bin_dir().join("shopsphere-local");
    assert!(host_binary.exists(), "build the release binaries first: cargo build --release --workspace --bins");
    let logs = root().join("target/e2e").join(stage);
    let mut command = Command::new(&host_binary);
    command
        .current_dir(root())
        .args(["up", "--stack", stack, "--api-port", "0"])
        .arg("--bin-dir")
        .arg(function_bin_dir())
        .arg("--logs")
        .arg(&logs)
        .args(["--endpoint", upstream])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (key, value) in parameters {
        command.arg("--parameter").arg(format!("{key}={value}"));
    }
    if crash_points {
        command.arg("--crash-points");
    }
    let mut process = command.spawn().expect("start shopsphere-local");
    let stdout = process.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(180), lines.next_line()).await;
    let ready: Value = match ready {
        Ok(Ok(Some(line))) => serde_json::from_str(&line).expect("the ready line is JSON"),
        other => panic!("shopsphere-local did not come up ({other:?}): see its stderr above"),
    };
    let text = |key: &str| ready[key].as_str().expect("ready line field").to_owned();
    let outputs = ready["outputs"]
        .as_object()
        .expect("outputs")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    (Engine::LocalHost(LocalHost { process, control: text("control"), logs }), text("api"), outputs)
}

/// A valid order for the seeded catalog (its customer is the token's subject).
pub fn order(token: &str, items: &[(&str, u32)]) -> Value {
    json!({
        "email": "e2e@example.com",
        "items": items.iter().map(|(sku, qty)| json!({"sku": sku, "qty": qty})).collect::<Vec<_>>(),
        "payment_token": token,
    })
}
