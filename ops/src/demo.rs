//! `shopsphere demo`: the whole system on this machine, played through a
//! scripted scenario with a live view: ~50 orders at a steady rate,
//! notification stopped and restarted, a poison message, and a final account
//! of what was lost (0). Two engines (the emulator must be up; `make demo`
//! sees to it): the local host on LocalStack, or MiniStack running the stack
//! `sam deploy` made of the `sam build` output.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use crossterm::{QueueableCommand, cursor, terminal};
use futures::future::try_join_all;
use serde_json::Value;
use shopsphere_orders::OrderView;
use shopsphere_runtime::dynamodb::Table;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use shopsphere_local::jwt;

use crate::{Ops, orders};

/// The scenario's knobs.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub orders: usize,
    pub interval: Duration,
    pub endpoint: String,
    pub keep: bool,
    pub engine: EngineKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// LocalStack with the functions off, the project's host running them.
    LocalHost,
    /// MiniStack, the stack deployed by `sam deploy`.
    #[value(name = "ministack")]
    MiniStack,
}

const STACK: &str = "shopsphere-demo";
const QUEUES: [&str; 6] = ["Payment", "Inventory", "Shipping", "Notification", "OrderStatus", "Analytics"];
const NOTIFICATION: &str = "NotificationFunction";
/// Tries per order: an order whose first try timed out waits out that try's
/// lease (the function's 10 s timeout) before a retry can take it over.
const PLACE_ATTEMPTS: u32 = 15;
/// How often the live view refreshes.
const TICK: Duration = Duration::from_secs(1);
/// How long the demo waits for the audit to come clean before it reports.
const AUDIT_SETTLE: Duration = Duration::from_secs(120);

/// Emails an order in a final status brought: one per event of its saga
/// that notification handles.
fn emails_for(status: &str) -> usize {
    match status {
        "SHIPPED" => 3,        // OrderCreated, PaymentProcessed, OrderShipped
        "REFUNDED" => 4,       // OrderCreated, PaymentProcessed, InventoryUpdateFailed, PaymentRefunded
        "PAYMENT_FAILED" => 2, // OrderCreated, PaymentFailed
        _ => 0,
    }
}

struct Host {
    child: Child,
    api: String,
    control: String,
    logs: PathBuf,
    /// The host's own JWT issuer's key file (its ready line's `auth.key_file`).
    key_file: PathBuf,
}

/// The customer the demo places its orders as (the tokens' subject).
const CUSTOMER: &str = "cus-demo";
/// The audience of the issuer the demo serves for MiniStack.
const DEMO_AUDIENCE: &str = "shopsphere-demo";

/// What runs the functions, and how the demo switches a consumer off and on.
#[derive(Clone)]
enum Engine {
    /// The local host's control interface.
    LocalHost { control: String },
    /// MiniStack: the function's event source mappings.
    MiniStack(Arc<shopsphere_ministack::Deployment>),
}

impl Engine {
    async fn set_consuming(&self, http: &reqwest::Client, function: &str, on: bool) -> anyhow::Result<()> {
        match self {
            Engine::LocalHost { control } => {
                let action = if on { "start" } else { "stop" };
                let response = http.post(format!("{control}/functions/{function}/{action}")).send().await?;
                anyhow::ensure!(response.status().is_success(), "{function} {action}: {}", response.status());
                Ok(())
            }
            Engine::MiniStack(deployment) => deployment.set_consuming(function, on).await,
        }
    }
}

fn bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("the executable has a folder")?.join(name);
    anyhow::ensure!(path.exists(), "{} is missing: cargo build --release --workspace --bins", path.display());
    Ok(path)
}

/// The host's own log (its stdout is the ready line).
const HOST_LOG: &str = "target/local-host/shopsphere-demo-host.log";

async fn start_host(endpoint: &str, keep: bool) -> anyhow::Result<Host> {
    std::fs::create_dir_all("target/local-host")?;
    let log = std::fs::File::create(HOST_LOG).with_context(|| format!("creating {HOST_LOG}"))?;
    let mut child = Command::new(bin("shopsphere-local")?)
        .args(["up", "--stack", STACK, "--api-port", "3000"])
        .args(["--parameter", "NotificationDelayMs=300", "--endpoint", endpoint])
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(!keep)
        .spawn()
        .context("starting shopsphere-local")?;
    let stdout = child.stdout.take().context("piped stdout")?;
    let line = tokio::time::timeout(Duration::from_secs(180), BufReader::new(stdout).lines().next_line())
        .await
        .context("the local host did not come up in 3 minutes")??
        .with_context(|| format!("the local host exited before it was ready (is port 3000 free?): see {HOST_LOG}"))?;
    let ready: Value = serde_json::from_str(&line)?;
    let text = |k: &str| ready[k].as_str().unwrap_or_default().to_owned();
    let key_file = ready["auth"]["key_file"].as_str().context("the host runs no issuer of its own")?;
    Ok(Host {
        child,
        api: text("api"),
        control: text("control"),
        logs: PathBuf::from(text("logs")),
        key_file: PathBuf::from(key_file),
    })
}

async fn seed(ops: &Ops, endpoint: &str) -> anyhow::Result<()> {
    let status = Command::new(bin("seed-catalog")?)
        .env("CATALOG_TABLE", ops.output("CatalogTableName")?)
        .env("INVENTORY_TABLE", ops.output("InventoryTableName")?)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdout(Stdio::null())
        .status()
        .await?;
    anyhow::ensure!(status.success(), "seed-catalog failed");
    Ok(())
}

/// What the view shows, read fresh each tick.
#[derive(Default)]
struct Snapshot {
    /// By status as the API spells it (SHIPPED...).
    statuses: BTreeMap<String, usize>,
    finished: usize,
    expected_emails: usize,
    queues: Vec<(String, u64, u64)>,
    dlqs: Vec<(String, u64)>,
    emails: usize,
}

async fn snapshot(ops: &Ops) -> anyhow::Result<Snapshot> {
    let orders = Table::new(ops.dynamodb.clone(), ops.output("OrdersTableName")?, "order_id");
    let (mut statuses, mut finished, mut expected_emails) = (BTreeMap::new(), 0, 0);
    for order in orders.scan::<OrderView>().await? {
        let status = serde_json::to_value(order.status)?.as_str().unwrap_or_default().to_owned();
        finished += usize::from(order.status.is_final());
        expected_emails += emails_for(&status);
        *statuses.entry(status).or_default() += 1;
    }
    let queues = try_join_all(QUEUES.map(|q| async move {
        let (visible, in_flight) = ops.depth(&ops.queue_url(&format!("{q}Queue"))?).await?;
        anyhow::Ok((q.to_owned(), visible, in_flight))
    }))
    .await?;
    let dlqs = try_join_all(ops.dlq_names().into_iter().map(|name| async move {
        let (visible, _) = ops.depth(&ops.queue_url(&name)?).await?;
        anyhow::Ok((name, visible))
    }))
    .await?;
    let emails = Table::new(ops.dynamodb.clone(), ops.output("NotificationsTableName")?, "event_id").count().await?;
    Ok(Snapshot { statuses, finished, expected_emails, queues, dlqs, emails })
}

/// The live view: redrawn in place on a terminal, plain lines otherwise.
struct View {
    tty: bool,
    drawn: u16,
    started: Instant,
    last_plain: Option<Instant>,
}

impl View {
    fn draw(
        &mut self,
        phase: &str,
        placed: usize,
        total: usize,
        latencies: &[Duration],
        s: &Snapshot,
    ) -> anyhow::Result<()> {
        let mut sorted = latencies.to_vec();
        sorted.sort();
        let pct = |p: f64| sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).map_or(0, |d| d.as_millis());
        let statuses: Vec<String> = s.statuses.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let queues: Vec<String> = s.queues.iter().map(|(q, v, f)| format!("{q} {v}/{f}")).collect();
        let dlqs: Vec<String> = s.dlqs.iter().filter(|(_, n)| *n > 0).map(|(q, n)| format!("{q} {n}")).collect();
        let lines = [
            format!("ShopSphere demo  {:>4} s  {phase}", self.started.elapsed().as_secs()),
            format!(
                "orders placed {placed}/{total}   API latency p50 {} ms  p99 {} ms  last {} ms",
                pct(0.5),
                pct(0.99),
                latencies.last().map_or(0, |d| d.as_millis())
            ),
            format!("orders by status: {}", if statuses.is_empty() { "-".into() } else { statuses.join("  ") }),
            format!("queues (waiting/in flight): {}", queues.join("  ")),
            format!("dead-letter queues: {}", if dlqs.is_empty() { "all empty".into() } else { dlqs.join("  ") }),
            format!("emails sent: {}", s.emails),
        ];
        let mut out = std::io::stdout();
        if self.tty {
            if self.drawn > 0 {
                out.queue(cursor::MoveUp(self.drawn))?;
            }
            out.queue(terminal::Clear(terminal::ClearType::FromCursorDown))?;
            for line in &lines {
                writeln!(out, "{line}")?;
            }
            self.drawn = lines.len() as u16;
        } else if self.last_plain.is_none_or(|t| t.elapsed() >= Duration::from_secs(2)) {
            writeln!(out, "{}", lines.join(" | "))?;
            self.last_plain = Some(Instant::now());
        }
        out.flush()?;
        Ok(())
    }

    /// A line that stays above the live view.
    fn note(&mut self, text: &str) -> anyhow::Result<()> {
        let mut out = std::io::stdout();
        if self.tty && self.drawn > 0 {
            out.queue(cursor::MoveUp(self.drawn))?;
            out.queue(terminal::Clear(terminal::ClearType::FromCursorDown))?;
            self.drawn = 0;
        }
        writeln!(out, "» {text}")?;
        out.flush()?;
        Ok(())
    }
}

/// The order mix: mostly fine, one in ten declined cards, one in ten out of stock.
fn nth_order(n: usize) -> Value {
    let email = format!("customer{n}@example.com");
    match n % 10 {
        3 => orders::order_body(&email, "tok_decline", &[("SKU-CAP".into(), 1)]),
        7 => orders::order_body(&email, "tok_visa", &[("SKU-RARE".into(), 1)]),
        _ => orders::order_body(&email, "tok_visa", &[("SKU-MUG".into(), 1), ("SKU-TEE".into(), 1)]),
    }
}

/// What the order placer reports to the view.
enum Progress {
    Placed(Duration),
    Retried(String),
    NotificationStopped,
}

/// Places the orders at a steady rate, whatever the view is doing, and stops
/// notification a third of the way in. Returns how many were accepted.
async fn place_orders(
    scenario: Scenario,
    api: String,
    bearer: String,
    engine: Engine,
    progress: tokio::sync::mpsc::UnboundedSender<Progress>,
) -> anyhow::Result<usize> {
    let http = reqwest::Client::new();
    let mut next = tokio::time::Instant::now();
    for n in 0..scenario.orders {
        if n == scenario.orders / 3 {
            engine.set_consuming(&http, NOTIFICATION, false).await?;
            progress.send(Progress::NotificationStopped).ok();
        }
        tokio::time::sleep_until(next).await;
        next += scenario.interval;
        let body = nth_order(n);
        let key = uuid::Uuid::new_v4().to_string();
        let start = Instant::now();
        for attempt in 1.. {
            // A 5xx, a lost answer or a 409 (the first try still in progress) is
            // retried with the same Idempotency-Key: the order is placed once
            // however often the client asks.
            match orders::place(&api, &bearer, &body, &key).await {
                Ok((202, _)) => break,
                Ok((status, answer)) if status < 500 && status != 409 => {
                    anyhow::bail!("order {n} was refused: {status} {answer}")
                }
                outcome if attempt < PLACE_ATTEMPTS => {
                    let why = outcome.map_or_else(|e| e.to_string(), |(status, _)| status.to_string());
                    progress.send(Progress::Retried(format!("order {n}: {why}; retrying with the same key"))).ok();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                outcome => anyhow::bail!("order {n} failed {attempt} times: {outcome:?}"),
            }
        }
        progress.send(Progress::Placed(start.elapsed())).ok();
    }
    Ok(scenario.orders)
}

pub async fn run(scenario: Scenario) -> anyhow::Result<()> {
    let config = crate::sdk_config(Some(&scenario.endpoint), Some("us-east-1")).await;
    let (mut host, api, bearer, engine) = match scenario.engine {
        EngineKind::LocalHost => {
            println!("Starting the local stack (template.yaml on LocalStack, the functions on the local host)...");
            let host = start_host(&scenario.endpoint, scenario.keep).await?;
            let (api, control) = (host.api.clone(), host.control.clone());
            let bearer = jwt::token_from_file(&host.key_file, CUSTOMER)?;
            (Some(host), api, bearer, Engine::LocalHost { control })
        }
        EngineKind::MiniStack => {
            println!("Deploying the stack into MiniStack with sam deploy (the sam build output)...");
            // MiniStack has no Cognito for the template's own user pool: the
            // stack trusts an issuer served here (a path of its own per run,
            // as MiniStack caches an issuer's keys by URL), alive while the demo runs.
            let key = Arc::new(jwt::SigningKey::generate()?);
            let path = format!("demo/{}", uuid::Uuid::new_v4().simple());
            let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            let issuer = jwt::LocalIssuer::serve(any_port, &path, DEMO_AUDIENCE, key).await?;
            let parameters = [
                ("NotificationDelayMs".into(), "300".into()),
                ("AuthIssuer".into(), issuer.url.clone()),
                ("AuthAudience".into(), DEMO_AUDIENCE.into()),
            ];
            let deployment =
                shopsphere_ministack::Deployment::deploy(&config, &scenario.endpoint, STACK, &parameters).await?;
            (None, deployment.api()?, issuer.token(CUSTOMER), Engine::MiniStack(Arc::new(deployment)))
        }
    };
    let ops = Ops::connect(&config, STACK).await?;
    seed(&ops, &scenario.endpoint).await?;
    let http = reqwest::Client::new();
    let mut view = View { tty: std::io::stdout().is_terminal(), drawn: 0, started: Instant::now(), last_plain: None };
    let baseline = snapshot(&ops).await?;
    // A kept stack from an earlier run may hold orders already: count from here.
    let (finished_before, expected_before, emails_before) =
        (baseline.finished, baseline.expected_emails, baseline.emails);

    let (progress, mut reports) = tokio::sync::mpsc::unbounded_channel();
    let mut placer =
        tokio::spawn(place_orders(scenario.clone(), api.clone(), bearer.clone(), engine.clone(), progress));
    let mut latencies = Vec::new();
    let mut retries = 0;
    let mut phase = "placing orders".to_owned();
    let accepted = loop {
        let finished = tokio::time::timeout(TICK, &mut placer).await;
        while let Ok(report) = reports.try_recv() {
            match report {
                Progress::Placed(latency) => latencies.push(latency),
                Progress::Retried(why) => {
                    retries += 1;
                    view.note(&why)?;
                }
                Progress::NotificationStopped => {
                    view.note("notification stopped")?;
                    phase = "placing orders; notification STOPPED: orders keep completing, its backlog grows".into();
                }
            }
        }
        if let Ok(result) = finished {
            break result??;
        }
        view.draw(&phase, latencies.len(), scenario.orders, &latencies, &snapshot(&ops).await?)?;
    };

    phase = "waiting for every order to finish (notification still stopped)".into();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let s = snapshot(&ops).await?;
        view.draw(&phase, accepted, scenario.orders, &latencies, &s)?;
        if s.finished >= finished_before + accepted {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "orders did not finish in 3 minutes");
        tokio::time::sleep(TICK).await;
    }
    let backlog = ops.depth(&ops.queue_url("NotificationQueue")?).await?.0;
    view.note(&format!("every order finished without notification; its backlog: {backlog} messages"))?;

    engine.set_consuming(&http, NOTIFICATION, true).await?;
    view.note("notification restarted")?;
    phase = "notification draining its backlog".into();
    loop {
        let s = snapshot(&ops).await?;
        view.draw(&phase, accepted, scenario.orders, &latencies, &s)?;
        let notification = s.queues.iter().find(|(q, ..)| q == "Notification").map_or((0, 0), |(_, v, f)| (*v, *f));
        if notification == (0, 0) {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline + Duration::from_secs(180), "the backlog did not drain");
        tokio::time::sleep(TICK).await;
    }

    view.note("injecting a poison message (not JSON) into the payment queue")?;
    let poison = ops.queue_url("PaymentQueue")?;
    ops.sqs.send_message().queue_url(&poison).message_body("{not json").send().await?;
    let dlq = ops.queue_url("PaymentDLQ")?;
    let dead = loop {
        let s = snapshot(&ops).await?;
        view.draw("waiting for the poison message to reach the DLQ", accepted, scenario.orders, &latencies, &s)?;
        let peeked = ops.peek(&dlq, 10).await?;
        if let Some(m) = peeked.into_iter().find(|m| m.body() == Some("{not json")) {
            break m;
        }
        tokio::time::sleep(TICK).await;
    };
    let reason = |name: &str| {
        dead.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value()).unwrap_or("?").to_owned()
    };
    view.note(&format!(
        "PaymentDLQ holds it: error_code={} error_reason={}",
        reason("error_code"),
        reason("error_reason")
    ))?;

    // Everything the orders caused is done once the audit finds nothing:
    // archived events, emails and stock settle a little after the statuses.
    let audit_started = Instant::now();
    let report = loop {
        let report = ops.audit(Duration::ZERO).await?;
        if report.violations.is_empty() || audit_started.elapsed() > AUDIT_SETTLE {
            break report;
        }
        let s = snapshot(&ops).await?;
        view.draw("waiting for `shopsphere audit` to find nothing wrong", accepted, scenario.orders, &latencies, &s)?;
        tokio::time::sleep(TICK).await;
    };

    let s = snapshot(&ops).await?;
    view.draw("done", accepted, scenario.orders, &latencies, &s)?;
    let finished = s.finished - finished_before;
    let expected_emails = s.expected_emails - expected_before;
    let emails = s.emails - emails_before;
    let duplicates = duplicates_absorbed(&engine, host.as_ref()).await?;
    let lost = (accepted - finished.min(accepted)) + expected_emails.saturating_sub(emails);
    println!();
    println!("Summary");
    println!("  orders accepted (202)      {accepted} ({retries} retries with the same Idempotency-Key)");
    for (status, count) in &s.statuses {
        println!("  {status:<26} {count}");
    }
    println!("  emails sent                {emails} (expected {expected_emails})");
    println!("  duplicates absorbed        {duplicates}");
    println!("  poison messages in the DLQ 1 ({})", reason("error_code"));
    println!("  messages lost              {lost}");
    println!("  shopsphere audit           {} violation(s)", report.violations.len());
    if !report.violations.is_empty() {
        print!("{}", report.text());
    }
    if scenario.keep {
        println!();
        let stop = match &host {
            Some(host) => {
                let pid = host.child.id().unwrap_or_default();
                println!("The stack keeps running (local host PID {pid}). Try:");
                println!(
                    "  TOKEN=$(target/release/shopsphere-local token --key-file {} --subject {CUSTOMER})",
                    host.key_file.display()
                );
                format!("kill {pid} && make localstack-down")
            }
            None => {
                println!("The stack keeps running in MiniStack. Try (the token is valid for an hour):");
                println!("  TOKEN={bearer}");
                "make ministack-down".to_owned()
            }
        };
        println!("  curl -s {api}/products");
        println!(
            "  curl -s -X POST {api}/orders -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' \\\n    -H 'Idempotency-Key: try-1' -d '{{\"email\":\"you@example.com\",\"items\":[{{\"sku\":\"SKU-MUG\",\"qty\":1}}],\"payment_token\":\"tok_visa\"}}'"
        );
        println!("  curl -s {api}/orders/<order_id> -H \"authorization: Bearer $TOKEN\"");
        println!("  cargo run --release --bin shopsphere -- --stack {STACK} --endpoint {} dlq list", scenario.endpoint);
        println!("Stop it: {stop}");
    } else if let Some(host) = &mut host {
        host.child.start_kill().ok();
        host.child.wait().await.ok();
    }
    anyhow::ensure!(lost == 0, "{lost} message(s) lost");
    anyhow::ensure!(report.violations.is_empty(), "shopsphere audit: {} violation(s)", report.violations.len());
    Ok(())
}

/// Repeats the consumers recognised and absorbed, from their logs: the
/// local host's files, or CloudWatch Logs.
async fn duplicates_absorbed(engine: &Engine, host: Option<&Host>) -> anyhow::Result<usize> {
    let texts: Vec<String> = match (engine, host) {
        (Engine::MiniStack(deployment), _) => {
            let mut texts = Vec::new();
            for function in deployment.functions.keys() {
                texts.extend(deployment.log_lines(function).await?);
            }
            texts
        }
        (Engine::LocalHost { .. }, host) => std::fs::read_dir(&host.context("the local host")?.logs)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect(),
    };
    Ok(texts.iter().map(|text| text.matches(shopsphere_messaging::REPEAT_RECOGNISED).count()).sum())
}
