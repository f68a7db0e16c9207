//! The measurements. Each records how it was taken next to its figures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Serialize;
use serde_json::{Value, json};
use shopsphere_events::samples;
use shopsphere_inventory::dynamodb::InventoryTable;
use shopsphere_local::function::{Function, Target};
use shopsphere_local::stack::{EventSource, FunctionSpec, Stack};
use shopsphere_local::{Host, Options, Running};

use crate::{Cli, REGION};
use shopsphere_local::proxy::{Counts, Proxy};

/// Nearest-rank percentile of `values` (sorted here), in the values' unit.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[derive(Debug, Serialize)]
pub struct ColdStart {
    pub function: String,
    pub binary: String,
    pub median_ms: f64,
    pub p90_ms: f64,
    /// Median over /bin/true's median, same run.
    pub ratio_to_true: f64,
    pub size_bytes: u64,
    /// The arm64 bootstrap `sam build` (cargo-lambda) made, when there is one.
    pub arm64: Option<(String, u64)>,
}

#[derive(Debug, Serialize)]
pub struct ColdStarts {
    pub method: &'static str,
    pub starts: usize,
    pub true_median_ms: f64,
    pub true_p90_ms: f64,
    pub functions: Vec<ColdStart>,
}

async fn time_true() -> anyhow::Result<Duration> {
    let start = Instant::now();
    let status = tokio::process::Command::new("/bin/true").status().await?;
    anyhow::ensure!(status.success(), "/bin/true failed");
    Ok(start.elapsed())
}

fn arm64_bootstrap(spec: &FunctionSpec) -> Option<(String, u64)> {
    [format!(".aws-sam/build/{}/bootstrap", spec.logical_id), format!("target/lambda/{}/bootstrap", spec.binary)]
        .into_iter()
        .find_map(|p| Some((p.clone(), std::fs::metadata(&p).ok()?.len())))
}

pub async fn cold_starts(cli: &Cli, specs: &[FunctionSpec], stack: &Stack) -> anyhow::Result<ColdStarts> {
    let target = Target { endpoint: cli.endpoint.clone(), region: REGION.into(), crash_points: false };
    let logs = PathBuf::from("target/bench/cold-starts");
    std::fs::create_dir_all(&logs)?;
    let functions = specs
        .iter()
        .map(|s| Function::new(s, stack, &target, &cli.bin_dir, Some(&logs)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut baseline = Vec::new();
    let mut times = vec![Vec::new(); functions.len()];
    for _ in 0..cli.starts {
        // Interleaved, so every binary and the baseline share the machine's noise.
        baseline.push(ms(time_true().await?));
        for (i, function) in functions.iter().enumerate() {
            times[i].push(ms(function.cold_start(REGION).await?));
        }
    }
    let true_median_ms = percentile(&baseline, 50.0);
    let rows = specs
        .iter()
        .zip(times)
        .map(|(spec, t)| {
            let size_bytes = std::fs::metadata(cli.bin_dir.join(&spec.binary)).map(|m| m.len()).unwrap_or_default();
            ColdStart {
                function: spec.logical_id.clone(),
                binary: spec.binary.clone(),
                median_ms: percentile(&t, 50.0),
                p90_ms: percentile(&t, 90.0),
                ratio_to_true: percentile(&t, 50.0) / true_median_ms,
                size_bytes,
                arm64: arm64_bootstrap(spec),
            }
        })
        .collect();
    Ok(ColdStarts {
        method: "exec of the release binary, with the function's template environment, to its first Runtime API \
                 `next` request (the local host's Init Duration); /bin/true: exec to exit; interleaved in one run",
        starts: cli.starts,
        true_median_ms,
        true_p90_ms: percentile(&baseline, 90.0),
        functions: rows,
    })
}

#[derive(Debug, Serialize)]
pub struct Ceiling {
    pub method: &'static str,
    pub puts: u64,
    pub seconds: f64,
    pub puts_per_second: f64,
}

/// Bare conditional puts from one client, one at a time, for 5 s.
pub async fn emulator_ceiling(config: &aws_config::SdkConfig, stack: &Stack) -> anyhow::Result<Ceiling> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let table = stack.outputs.get("IdempotencyTableName").context("IdempotencyTableName output")?;
    let start = Instant::now();
    let mut puts = 0;
    while start.elapsed() < Duration::from_secs(5) {
        dynamodb
            .put_item()
            .table_name(table)
            .item("id", AttributeValue::S(uuid::Uuid::new_v4().to_string()))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await?;
        puts += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Ceiling {
        method: "PutItem with attribute_not_exists, one client, sequential, 5 s, straight to LocalStack",
        puts,
        seconds,
        puts_per_second: puts as f64 / seconds,
    })
}

async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<(u64, u64)> {
    shopsphere_messaging::sqs::queue_depth(sqs, url).await.map_err(|e| anyhow::anyhow!("reading {url}: {e}"))
}

/// The `platform.report` records of a function's log (see the local host).
fn reports(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "platform.report")
        .map(|v| v["record"]["metrics"].clone())
        .collect()
}

/// What the host-driven measurements share: settings, the emulator straight
/// and through the counting proxy, and the template's functions.
pub struct Rig {
    pub cli: Cli,
    pub direct: aws_config::SdkConfig,
    pub through_proxy: aws_config::SdkConfig,
    pub proxy: Proxy,
    pub specs: Vec<FunctionSpec>,
    /// The JWT issuer the stacks' API trusts: each order carries its token.
    pub issuer: std::sync::Arc<shopsphere_local::jwt::LocalIssuer>,
}

impl Rig {
    /// The local host for `specs` on `stack`, every AWS call through the proxy.
    async fn host(&self, stack: &Stack, specs: &[FunctionSpec], logs: &Path) -> anyhow::Result<Running> {
        self.host_of(stack, specs, logs, &self.cli.bin_dir).await
    }

    /// [`Rig::host`] running the binaries of `bin_dir`.
    async fn host_of(
        &self,
        stack: &Stack,
        specs: &[FunctionSpec],
        logs: &Path,
        bin_dir: &Path,
    ) -> anyhow::Result<Running> {
        let options = Options {
            target: Target { endpoint: self.proxy.endpoint.clone(), region: REGION.into(), crash_points: false },
            bin_dir: bin_dir.to_owned(),
            log_dir: Some(logs.to_owned()),
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            control: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        Host::up(&self.through_proxy, stack, specs, &options).await
    }
}

/// One consumer fed alone, as deployed: what each record costs it.
#[derive(Debug, Serialize)]
pub struct ConsumerRun {
    pub function: String,
    /// Which build of the binary: the tests' (LTO off, 16 codegen units) or the deploy profile's.
    pub build: &'static str,
    /// What it was fed (to its own queue, as SNS's raw delivery would).
    pub fed: &'static str,
    pub records: usize,
    pub invocations: u64,
    pub seconds: f64,
    pub records_per_second: f64,
    pub batch_p50_ms: f64,
    pub batch_p99_ms: f64,
    /// Of the service's own tables (the simulated providers' table is the
    /// gateway's and the mail server's, counted apart).
    pub dynamodb_requests_per_record: f64,
    pub write_units_per_record: f64,
    pub provider_requests_per_record: f64,
    pub sns_requests_per_record: f64,
    /// CPU time of the function's process (utime + stime, /proc/<pid>/stat)
    /// per record over the steady part (after its first batch).
    pub cpu_ms_per_record: f64,
    /// The same from the scheduler's nanosecond clock (/proc/<pid>/task/*/schedstat).
    pub cpu_ms_per_record_schedstat: f64,
    /// A fresh process given a batch of ten: exec → its first `next`, exec → the batch answered.
    pub exec_to_first_next_ms: f64,
    pub exec_to_first_batch_ms: f64,
    pub counts: Counts,
}

#[derive(Debug, Serialize)]
pub struct Consumers {
    pub method: &'static str,
    pub runs: Vec<ConsumerRun>,
}

/// CPU time of a process so far, in ms: (utime + stime from /proc/<pid>/stat,
/// summed schedstat run time of its threads).
fn cpu_ms(pid: u32) -> (f64, f64) {
    let ticks = {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        (field(11) + field(12)) / hz * 1000.0
    };
    let sched = std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .sum::<f64>()
        / 1e6;
    (ticks, sched)
}

/// CPU of every live process of the function (see [`cpu_ms`]).
fn function_cpu(function: &Function) -> (f64, f64) {
    function
        .instances()
        .iter()
        .filter(|(_, s)| s.alive)
        .map(|(pid, _)| cpu_ms(*pid))
        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
}

fn records_handled(function: &Function) -> u64 {
    function.instances().values().map(|i| i.records).sum()
}

/// What each consumer is fed: events of a type it handles, one order each.
fn feed(function: &str, n: usize) -> Option<(&'static str, shopsphere_events::Envelope)> {
    let created = samples::order_created(&format!("bench-{}", uuid::Uuid::new_v4()));
    let paid = samples::payment_processed(&created);
    let updated = samples::inventory_updated(&paid, &created);
    let _ = n;
    Some(match function {
        "PaymentFunction" => ("OrderCreated (tok_visa)", created),
        "InventoryFunction" => ("PaymentProcessed", paid),
        "ShippingFunction" => ("InventoryUpdated", updated.clone()),
        "NotificationFunction" => ("OrderShipped (NotificationDelayMs=0)", samples::order_shipped(&updated, &created)),
        "OrderStatusFunction" => ("PaymentProcessed of a PENDING order row", paid),
        "AnalyticsFunction" => ("PaymentProcessed", paid),
        _ => return None,
    })
}

/// Send `bodies` to a queue in batches of ten.
async fn send_all(sqs: &aws_sdk_sqs::Client, url: &str, bodies: &[String]) -> anyhow::Result<()> {
    for chunk in bodies.chunks(10) {
        let mut batch = sqs.send_message_batch().queue_url(url);
        for (i, body) in chunk.iter().enumerate() {
            batch = batch.entries(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()?,
            );
        }
        let out = batch.send().await?;
        anyhow::ensure!(out.failed.is_empty(), "send failed: {:?}", out.failed);
    }
    Ok(())
}

/// A batch of ten of `function`'s records as Lambda's SQS mapping delivers them.
fn lambda_batch(queue_arn: &str, bodies: &[String]) -> anyhow::Result<Vec<u8>> {
    let messages: Vec<aws_sdk_sqs::types::Message> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            aws_sdk_sqs::types::Message::builder()
                .message_id(format!("bench-first-{i}"))
                .receipt_handle(format!("bench-first-{i}"))
                .body(body)
                .attributes(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount, "1")
                .build()
        })
        .collect();
    let event = shopsphere_local::sqs::lambda_event(queue_arn, REGION, &messages);
    Ok(serde_json::to_vec(&event)?)
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .context("a queue ARN")
}

/// No event a consumer publishes reaches another's queue: each is measured alone.
async fn unsubscribe_all(sns: &aws_sdk_sns::Client, stack: &Stack) -> anyhow::Result<()> {
    for (name, topic) in stack.outputs.iter().filter(|(k, _)| k.ends_with("TopicArn") && *k != "AlarmTopicArn") {
        let subscriptions = sns.list_subscriptions_by_topic().topic_arn(topic).send().await?;
        for subscription in subscriptions.subscriptions() {
            if let Some(arn) = subscription.subscription_arn() {
                sns.unsubscribe()
                    .subscription_arn(arn)
                    .send()
                    .await
                    .with_context(|| format!("unsubscribing from {name}"))?;
            }
        }
    }
    Ok(())
}

/// The builds of the function binaries the consumers are measured on.
pub struct Builds<'a> {
    pub test: &'a Path,
    /// The deploy profile (opt-level s, fat LTO, one codegen unit), for the
    /// functions it was built for (`make bench` builds inventory's).
    pub deploy: Option<&'a Path>,
}

pub const TEST_BUILD: &str = "test build (LTO off, 16 codegen units)";
pub const DEPLOY_BUILD: &str = "deploy profile (opt-level s, fat LTO, 1 codegen unit)";

/// Each SQS-triggered function alone on its own queue: `cli.records` events
/// of a type it handles, fed before it starts (one instance, so its CPU per
/// record is one process's), then a fresh process's first batch. Each is
/// measured on the test build, and on the deploy profile where there is one.
pub async fn consumers(rig: &Rig, stack: &Stack, builds: &Builds<'_>) -> anyhow::Result<Consumers> {
    let (cli, direct, proxy) = (&rig.cli, &rig.direct, &rig.proxy);
    let output = |k: &str| stack.outputs.get(k).cloned().with_context(|| format!("output {k}"));
    let inventory = InventoryTable::new(aws_sdk_dynamodb::Client::new(direct), output("InventoryTableName")?);
    for sku in ["SKU-MUG", "SKU-TEE"] {
        inventory.put_stock(sku, 10_000_000).await?;
    }
    let orders = shopsphere_orders::OrdersTable::new(aws_sdk_dynamodb::Client::new(direct), output("OrdersTableName")?);
    let tokens = aws_sdk_dynamodb::Client::new(direct);
    let tokens = shopsphere_payment_tokens::PaymentTokensTable::new(tokens, output("PaymentTokensTableName")?);
    let providers = output("SimulatedProvidersTableName")?;
    let sqs = aws_sdk_sqs::Client::new(direct);
    unsubscribe_all(&aws_sdk_sns::Client::new(direct), stack).await?;
    let mut runs = Vec::new();
    let measured = rig.specs.iter().filter(|s| cli.function.as_ref().is_none_or(|f| *f == s.logical_id));
    let runs_of = measured.flat_map(|spec| {
        let deploy = builds.deploy.filter(|d| d.join(&spec.binary).is_file()).map(|d| (d, DEPLOY_BUILD));
        std::iter::once((builds.test, TEST_BUILD)).chain(deploy).map(move |build| (spec, build))
    });
    for (spec, (bin_dir, build)) in runs_of.collect::<Vec<_>>() {
        let Some(EventSource::Sqs(source)) = spec.events.first() else { continue };
        let queue = stack.physical.get(&source.queue).cloned().context("the consumer's queue")?;
        let events: Vec<(&'static str, shopsphere_events::Envelope)> =
            (0..cli.records + 10).filter_map(|i| feed(&spec.logical_id, i)).collect();
        let Some(fed) = events.first().map(|(fed, _)| *fed) else { continue };
        if spec.logical_id == "OrderStatusFunction" {
            for (_, event) in &events {
                let created = samples::order_created(&event.subject);
                let mut row = shopsphere_orders::OrderView::from_event(&created);
                row.rebuilt_from = None;
                orders.create(&row).await?;
            }
        }
        if spec.logical_id == "PaymentFunction" {
            // What order-api deposits with each order: payment charges with it.
            let now = shopsphere_runtime::now_ms() / 1000;
            for (_, event) in &events {
                tokens.0.put(&shopsphere_payment_tokens::PaymentToken::new(&event.subject, "tok_visa", now)).await?;
            }
        }
        let bodies: Vec<String> = events.iter().map(|(_, e)| e.to_json()).collect();
        let (first, steady) = bodies.split_at(10);

        let target = Target { endpoint: proxy.endpoint.clone(), region: REGION.into(), crash_points: false };
        let logs = PathBuf::from("target/bench/consumers");
        std::fs::create_dir_all(&logs)?;
        let fresh = Function::new(spec, stack, &target, bin_dir, Some(&logs))?;
        let (first_next, first_batch) =
            fresh.first_invocation(lambda_batch(&queue_arn(&sqs, &queue).await?, first)?, first.len(), REGION).await?;

        let running = rig.host_of(stack, std::slice::from_ref(spec), &logs, bin_dir).await?;
        let function = running.host.functions[&spec.logical_id].clone();
        function.start(Some(1));
        let before = proxy.counts();
        let started = Instant::now();
        send_all(&sqs, &queue, steady).await?;
        let deadline = Instant::now() + Duration::from_secs(300);
        while function.invocations.load(Ordering::Relaxed) < 1 {
            anyhow::ensure!(Instant::now() < deadline, "{} never ran", spec.logical_id);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (cpu_a, sched_a, records_a) = {
            let (c, s) = function_cpu(&function);
            (c, s, records_handled(&function))
        };
        while depth(&sqs, &queue).await? != (0, 0) {
            anyhow::ensure!(Instant::now() < deadline, "{} did not drain its queue in 5 minutes", spec.logical_id);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (cpu_b, sched_b) = function_cpu(&function);
        let steady_records = (records_handled(&function) - records_a).max(1) as f64;
        let seconds = started.elapsed().as_secs_f64();
        running.host.stop();
        while running.host.pollers(&spec.logical_id) > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let counts = proxy.counts().since(&before);
        let invocations = function.invocations.load(Ordering::Relaxed);
        let errors = function.errors.load(Ordering::Relaxed);
        anyhow::ensure!(errors == 0, "{} failed {errors} invocation(s): see {}", spec.logical_id, logs.display());
        let durations: Vec<f64> = reports(&logs.join(format!("{}.log", spec.logical_id)))
            .iter()
            .filter_map(|m| m["durationMs"].as_f64())
            .collect();
        let records = steady.len() as f64;
        let provider_requests = counts.table_requests.get(&providers).copied().unwrap_or(0) as f64;
        let write_units: f64 = counts.tables.iter().filter(|(t, _)| **t != providers).map(|(_, u)| u.write_units).sum();
        runs.push(ConsumerRun {
            function: spec.logical_id.clone(),
            build,
            fed,
            records: steady.len(),
            invocations,
            seconds,
            records_per_second: records / seconds,
            batch_p50_ms: percentile(&durations, 50.0),
            batch_p99_ms: percentile(&durations, 99.0),
            dynamodb_requests_per_record: (counts.service("dynamodb") as f64 - provider_requests) / records,
            write_units_per_record: write_units / records,
            provider_requests_per_record: provider_requests / records,
            sns_requests_per_record: counts.service("sns") as f64 / records,
            cpu_ms_per_record: (cpu_b - cpu_a) / steady_records,
            cpu_ms_per_record_schedstat: (sched_b - sched_a) / steady_records,
            exec_to_first_next_ms: ms(first_next),
            exec_to_first_batch_ms: ms(first_batch),
            counts,
        });
    }
    Ok(Consumers {
        method: "each SQS-triggered function alone, under the local host (one instance, batch 10, its template \
                 settings) on a stack of its own, fed events it handles straight to its queue; requests and \
                 write units counted by a proxy between the function and LocalStack (the simulated providers' \
                 table apart: in production those are the gateway's and mail server's own); CPU read from the \
                 process's /proc over the steady part (after its first batch); first batch: a fresh process \
                 invoked with ten records",
        runs,
    })
}

/// What one function did in the end-to-end run.
#[derive(Debug, Serialize)]
pub struct FunctionUse {
    pub invocations: u64,
    pub records: u64,
    pub billed_ms: u64,
    pub memory_mb: u64,
    /// Whether an SQS mapping invokes it (batch size matters).
    pub sqs: bool,
}

#[derive(Debug, Serialize)]
pub struct EndToEnd {
    pub method: &'static str,
    pub offered_orders_per_second: f64,
    pub seconds: u64,
    pub placed: usize,
    pub refused: usize,
    pub shipped: usize,
    pub achieved_orders_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// POST → SHIPPED of every shipped order, in ms.
    pub latencies_ms: Vec<f64>,
    pub window_seconds: f64,
    pub dynamodb_requests_per_second: f64,
    pub requests_per_second: f64,
    pub functions: BTreeMap<String, FunctionUse>,
    pub log_bytes: u64,
    pub counts: Counts,
}

fn order_body(n: usize) -> Value {
    json!({
        "email": format!("bench{n}@example.com"),
        "items": [{"sku": "SKU-MUG", "qty": 1}],
        "payment_token": "tok_visa",
    })
}

async fn seed_catalog(cli: &Cli, stack: &Stack) -> anyhow::Result<()> {
    let status = tokio::process::Command::new(cli.bin_dir.join("seed-catalog"))
        .env("CATALOG_TABLE", &stack.outputs["CatalogTableName"])
        .env("INVENTORY_TABLE", &stack.outputs["InventoryTableName"])
        .env("AWS_ENDPOINT_URL", &cli.endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(std::process::Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(status.success(), "seed-catalog failed");
    Ok(())
}

/// Order ids that are SHIPPED now, among `pending` (one BatchGetItem per 100).
async fn shipped(dynamodb: &aws_sdk_dynamodb::Client, table: &str, pending: &[String]) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for chunk in pending.chunks(100) {
        let keys = chunk.iter().map(|id| [("order_id".to_owned(), AttributeValue::S(id.clone()))].into()).collect();
        let request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .projection_expression("order_id, #s")
            .expression_attribute_names("#s", "status")
            .build()?;
        let answer = dynamodb.batch_get_item().request_items(table, request).send().await?;
        for item in answer.responses.unwrap_or_default().remove(table).unwrap_or_default() {
            if item.get("status").and_then(|s| s.as_s().ok()).is_some_and(|s| s == "SHIPPED") {
                done.push(item["order_id"].as_s().map_err(|_| anyhow::anyhow!("order_id"))?.clone());
            }
        }
    }
    Ok(done)
}

pub async fn end_to_end(rig: &Rig, stack: &Stack) -> anyhow::Result<EndToEnd> {
    let (cli, direct, proxy) = (&rig.cli, &rig.direct, &rig.proxy);
    seed_catalog(cli, stack).await?;
    let logs = PathBuf::from("target/bench/end-to-end");
    let before = proxy.counts();
    let running = rig.host(stack, &rig.specs, &logs).await?;
    let api = format!("http://{}/orders", running.api);
    let total = (cli.orders_per_second * cli.seconds as f64).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / cli.orders_per_second);
    let http = reqwest::Client::new();
    let start = tokio::time::Instant::now();
    // Orders are placed on schedule while the watcher below times them.
    let (placed_tx, mut placed_rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let issuer = rig.issuer.clone();
    tokio::spawn(async move {
        for n in 0..total {
            tokio::time::sleep_until(start + interval * n as u32).await;
            let (http, api, placed_tx) = (http.clone(), api.clone(), placed_tx.clone());
            let bearer = issuer.token(&format!("bench-{n}"));
            tokio::spawn(async move {
                let sent = Instant::now();
                let answer = http
                    .post(&api)
                    .bearer_auth(bearer)
                    .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                    .json(&order_body(n))
                    .send()
                    .await
                    .ok()?;
                (answer.status().as_u16() == 202).then_some(())?;
                let body: Value = answer.json().await.ok()?;
                placed_tx.send((body["order_id"].as_str()?.to_owned(), sent)).ok()
            });
        }
    });
    let dynamodb = aws_sdk_dynamodb::Client::new(direct);
    let orders_table = &stack.outputs["OrdersTableName"];
    let mut pending: BTreeMap<String, Instant> = BTreeMap::new();
    let (mut placed, mut placing, mut latencies) = (0, true, Vec::new());
    let mut last_shipped = Instant::now();
    let mut deadline = None;
    loop {
        loop {
            match placed_rx.try_recv() {
                Ok((id, sent)) => {
                    pending.insert(id, sent);
                    placed += 1;
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    placing = false;
                    break;
                }
            }
        }
        if !placing && pending.is_empty() {
            break;
        }
        let ids: Vec<String> = pending.keys().cloned().collect();
        for id in shipped(&dynamodb, orders_table, &ids).await? {
            latencies.push(ms(pending.remove(&id).expect("pending").elapsed()));
            last_shipped = Instant::now();
        }
        if !placing {
            let deadline = *deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(180));
            if Instant::now() > deadline {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let refused = total - placed;
    running.host.stop();
    let window_seconds = last_shipped.duration_since(start.into_std()).as_secs_f64();
    let counts = proxy.counts().since(&before);
    let functions = running
        .host
        .functions
        .iter()
        .map(|(id, f)| {
            let use_ = FunctionUse {
                invocations: f.invocations.load(Ordering::Relaxed),
                records: f.instances().values().map(|i| i.records).sum(),
                billed_ms: f.billed_ms.load(Ordering::Relaxed),
                memory_mb: f.spec.memory_mb,
                sqs: f.spec.events.iter().any(|e| matches!(e, shopsphere_local::stack::EventSource::Sqs(_))),
            };
            (id.clone(), use_)
        })
        .collect();
    drop(running);
    let log_bytes = std::fs::read_dir(&logs)?.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum();
    Ok(EndToEnd {
        method: "orders (1 × SKU-MUG, tok_visa) POSTed at a fixed rate to the local host's HTTP API, every function \
                 running under the host against LocalStack with NotificationDelayMs=0; POST → SHIPPED timed by \
                 polling the orders table (BatchGetItem every 250 ms, straight to LocalStack, not counted); \
                 requests counted by the proxy",
        offered_orders_per_second: cli.orders_per_second,
        seconds: cli.seconds,
        placed,
        refused,
        shipped: latencies.len(),
        achieved_orders_per_second: latencies.len() as f64 / window_seconds,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        latencies_ms: latencies,
        window_seconds,
        dynamodb_requests_per_second: counts.service("dynamodb") as f64 / window_seconds,
        requests_per_second: counts.total() as f64 / window_seconds,
        functions,
        log_bytes,
        counts,
    })
}

/// Criterion's estimate for one benchmark (run by `make bench` before this binary).
#[derive(Debug, Serialize)]
pub struct Micro {
    pub name: String,
    pub mean_ns: f64,
    pub low_ns: f64,
    pub high_ns: f64,
    /// Elements per iteration (records in a batch).
    pub per: u64,
}

pub fn criterion_results() -> anyhow::Result<Vec<Micro>> {
    let root = PathBuf::from("target/criterion");
    [("envelope_decode/raw", 1), ("envelope_decode/sns_wrapped", 1), ("batch_processor/noop_handler_10_records", 10)]
        .into_iter()
        .map(|(name, per)| {
            let path = root.join(name).join("new/estimates.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("{}: run `cargo bench -p shopsphere-bench` first", path.display()))?;
            let e: Value = serde_json::from_str(&text)?;
            let mean = &e["mean"];
            Ok(Micro {
                name: name.to_owned(),
                mean_ns: mean["point_estimate"].as_f64().context("point_estimate")?,
                low_ns: mean["confidence_interval"]["lower_bound"].as_f64().unwrap_or(f64::NAN),
                high_ns: mean["confidence_interval"]["upper_bound"].as_f64().unwrap_or(f64::NAN),
                per,
            })
        })
        .collect()
}
