//! `shopsphere`: the operator's CLI for a deployed stack (AWS by default,
//! LocalStack with `--endpoint`).

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use shopsphere_events::EventType;
use shopsphere_ops::{Ops, demo, dlq, orders, sdk_config};

#[derive(Parser)]
#[command(about = "Operate a ShopSphere stack: dead-letter queues, replay, orders")]
struct Cli {
    /// The CloudFormation stack.
    #[arg(long, env = "SHOPSPHERE_STACK", default_value = "shopsphere-dev", global = true)]
    stack: String,
    /// An emulator endpoint (LocalStack); AWS with the default credential chain otherwise.
    #[arg(long, env = "AWS_ENDPOINT_URL", global = true)]
    endpoint: Option<String>,
    #[arg(long, env = "AWS_REGION", global = true)]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Operate(OperateCommand),
    /// The live demo against LocalStack or MiniStack (`make demo` starts the emulator first).
    Demo {
        /// Orders to place.
        #[arg(long, default_value_t = 50)]
        orders: usize,
        /// Time between orders.
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        interval: Duration,
        /// Leave the stack running and print the API URL and example requests.
        #[arg(long)]
        keep: bool,
        /// What runs the functions: the project's local host on LocalStack,
        /// or MiniStack (the stack deployed by `sam deploy`).
        #[arg(long, value_enum, default_value_t = demo::EngineKind::LocalHost)]
        engine: demo::EngineKind,
    },
}

/// What works against any deployed stack.
#[derive(Subcommand)]
enum OperateCommand {
    /// Dead-letter queues.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Send archived events of one type (since a time) to a queue, to rebuild a view.
    Replay {
        /// Event type, e.g. OrderCreated.
        #[arg(long = "type")]
        event_type: String,
        /// RFC 3339 time, e.g. 2026-11-28T00:00:00Z.
        #[arg(long)]
        since: Option<DateTime<Utc>>,
        /// Target queue, e.g. OrderStatusQueue.
        #[arg(long)]
        to: String,
        /// Count what would be sent; send nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Orders.
    Orders {
        #[command(subcommand)]
        command: OrdersCommand,
    },
    /// The outbox: orders accepted but never published.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Check what must hold once the sagas have run (orders final, stock,
    /// money, shipments, emails, archive) and list every DLQ message; exits
    /// non-zero on any violation.
    Audit {
        /// What changed more recently than this is in flight: only checked
        /// for what may never happen (a second charge, a duplicate email...).
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        settle_after: Duration,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Hourly counters per event type (count, revenue per currency), added up from the event archive.
    Analytics {
        /// RFC 3339 time, e.g. 2026-11-28T00:00:00Z.
        #[arg(long)]
        since: Option<DateTime<Utc>>,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Every dead-letter queue with its depth and oldest message age.
    List,
    /// Messages of one DLQ with their reason attributes (left in the queue).
    Show {
        /// e.g. PaymentDLQ.
        queue: String,
        #[arg(short = 'n', default_value_t = 10)]
        n: usize,
    },
    /// Move a DLQ's messages back to the queue it serves (or --to); those
    /// dead-lettered for a permanent reason stay unless --force.
    Redrive {
        queue: String,
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        dry_run: bool,
        /// Move permanent failures too (after fixing their cause, e.g. a consumer upgrade).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// Publish OrderCreated for PENDING orders older than --older-than that
    /// the event archive has no OrderCreated for (same event ids as the
    /// outbox's: running it twice is safe).
    Republish {
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        older_than: Duration,
        /// List the orders; publish nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum OrdersCommand {
    /// One order's status view.
    Get { id: String },
    /// Place an order through the HTTP API.
    Place {
        /// The API's base URL [default: the stack's ApiUrl output].
        #[arg(long, env = "SHOPSPHERE_API")]
        api: Option<String>,
        /// SKU:QTY, repeatable.
        #[arg(long = "item", value_parser = item, required = true)]
        items: Vec<(String, u32)>,
        /// The payment token.
        #[arg(long, default_value = "tok_visa")]
        token: String,
        #[arg(long, default_value = "you@example.com")]
        email: String,
        /// The customer's JWT (the order is its subject's); for the local
        /// host's issuer: `shopsphere-local token --subject <customer>`.
        #[arg(long, env = "SHOPSPHERE_AUTH_TOKEN", hide_env_values = true)]
        bearer: String,
    },
    /// Orders in a non-final state for longer than --older-than.
    Stuck {
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        older_than: Duration,
    },
}

fn item(s: &str) -> Result<(String, u32), String> {
    let (sku, qty) = s.split_once(':').ok_or("expected SKU:QTY")?;
    Ok((sku.to_owned(), qty.parse().map_err(|e| format!("{qty}: {e}"))?))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo { orders, interval, keep, engine } => {
            let endpoint = cli.endpoint.unwrap_or_else(|| "http://127.0.0.1:4566".to_owned());
            // Returning drops the demo, and with it the local host it started.
            tokio::select! {
                result = demo::run(demo::Scenario { orders, interval, endpoint, keep, engine }) => result,
                signal = shopsphere_runtime::shutdown_signal() => {
                    signal?;
                    anyhow::bail!("interrupted: the local host is stopped")
                }
            }
        }
        Command::Operate(command) => {
            let config = sdk_config(cli.endpoint.as_deref(), cli.region.as_deref()).await;
            operate(command, &Ops::connect(&config, &cli.stack).await?).await
        }
    }
}

async fn operate(command: OperateCommand, ops: &Ops) -> anyhow::Result<()> {
    match command {
        OperateCommand::Dlq { command: DlqCommand::List } => {
            println!("{:<28} {:>8} {:>10} {:>12}", "DLQ", "messages", "in flight", "oldest");
            for q in ops.dlq_list().await? {
                let age = q.oldest_age.map_or("-".to_owned(), |a| {
                    humantime::format_duration(Duration::from_secs(a.as_secs())).to_string()
                });
                println!("{:<28} {:>8} {:>10} {:>12}", q.name, q.visible, q.in_flight, age);
            }
        }
        OperateCommand::Dlq { command: DlqCommand::Show { queue, n } } => {
            let messages = ops.peek(&ops.queue_url(&queue)?, n).await?;
            println!("{queue}: {} message(s) shown", messages.len());
            for m in &messages {
                print!("{}", dlq::describe(m));
            }
        }
        OperateCommand::Dlq { command: DlqCommand::Redrive { queue, to, dry_run, force } } => {
            let (dlq_url, (target, target_url)) = (ops.queue_url(&queue)?, ops.redrive_target(&queue, to.as_deref())?);
            let (visible, _) = ops.depth(&dlq_url).await?;
            if dry_run {
                println!("would move up to {visible} message(s) from {queue} to {target}");
                return Ok(());
            }
            let done = ops.redrive(&dlq_url, &target_url, force).await?;
            if done.by_task {
                println!("moved {queue} to {target} (StartMessageMoveTask)");
            } else {
                println!("moved {} message(s) from {queue} to {target}", done.moved);
            }
            if done.kept > 0 {
                println!(
                    "kept {} message(s) that failed for a permanent reason (see `dlq show`; --force moves them)",
                    done.kept
                );
            }
        }
        OperateCommand::Replay { event_type, since, to, dry_run } => {
            let kind = EventType::from_name(&event_type).with_context(|| format!("unknown event type {event_type}"))?;
            let envelopes = ops.archived(kind, since).await?;
            let target = ops.queue_url(&to)?;
            if dry_run {
                println!("would replay {} {event_type} event(s) to {to}", envelopes.len());
                return Ok(());
            }
            let replay_id = uuid::Uuid::new_v4().to_string();
            let sent = ops.replay(&envelopes, &target, &replay_id).await?;
            println!("replayed {sent} {event_type} event(s) to {to} (replay {replay_id})");
        }
        OperateCommand::Outbox { command: OutboxCommand::Republish { older_than, dry_run } } => {
            let orders = ops.unpublished(older_than).await?;
            for o in &orders {
                println!("{}  created {}", o.order_id, o.created_at);
            }
            if dry_run {
                println!("would publish OrderCreated for {} order(s)", orders.len());
            } else {
                println!("published OrderCreated for {} order(s)", ops.republish(orders).await?);
            }
        }
        OperateCommand::Audit { settle_after, json } => {
            let report = ops.audit(settle_after).await?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&report)?),
                false => print!("{}", report.text()),
            }
            anyhow::ensure!(report.violations.is_empty(), "{} violation(s)", report.violations.len());
        }
        OperateCommand::Analytics { since } => {
            println!("{:<14} {:<22} {:>7}  revenue", "hour", "event type", "count");
            for ((hour, event_type), counter) in ops.hourly(since).await? {
                let revenue: Vec<String> =
                    counter.revenue.iter().map(|(currency, minor)| format!("{minor} {currency}")).collect();
                println!("{hour:<14} {event_type:<22} {:>7}  {}", counter.count, revenue.join(", "));
            }
        }
        OperateCommand::Orders { command: OrdersCommand::Get { id } } => match ops.order(&id).await? {
            Some(order) => println!("{}", serde_json::to_string_pretty(&orders::public_view(&order))?),
            None => anyhow::bail!("no order {id}"),
        },
        OperateCommand::Orders { command: OrdersCommand::Place { api, items, token, email, bearer } } => {
            let api = match api {
                Some(api) => api,
                None => ops.output("ApiUrl").context("no ApiUrl output: pass --api")?.to_owned(),
            };
            let key = uuid::Uuid::new_v4().to_string();
            let (status, body) =
                orders::place(&api, &bearer, &orders::order_body(&email, &token, &items), &key).await?;
            println!("{status} {body}");
            anyhow::ensure!(status == 202, "the order was not accepted");
        }
        OperateCommand::Orders { command: OrdersCommand::Stuck { older_than } } => {
            let stuck = ops.stuck(older_than).await?;
            println!("{} order(s) not final for more than {}", stuck.len(), humantime::format_duration(older_than));
            for o in stuck {
                println!("{}  {:?}  since {}", o.order_id, o.status, o.updated_at);
            }
        }
    }
    Ok(())
}
