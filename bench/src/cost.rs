//! Cost per million orders, from the requests the end-to-end run counted and
//! public us-east-1 list prices (the table below, with its date).

use serde::Serialize;

use crate::measure::EndToEnd;

/// us-east-1 on-demand list prices in USD, as published on the AWS pricing
/// pages (checked for this table in 2025; confirm before you quote them).
#[derive(Debug, Clone, Serialize)]
pub struct Prices {
    pub as_of: &'static str,
    pub lambda_per_million_requests: f64,
    /// arm64, the template's architecture.
    pub lambda_per_gb_second: f64,
    pub http_api_per_million_requests: f64,
    pub sns_per_million_publishes: f64,
    pub sqs_per_million_requests: f64,
    pub dynamodb_per_million_write_units: f64,
    pub dynamodb_per_million_read_units: f64,
    pub logs_per_gb_ingested: f64,
}

pub const PRICES: Prices = Prices {
    as_of: "2025 (us-east-1 list prices, free tiers ignored)",
    lambda_per_million_requests: 0.20,
    lambda_per_gb_second: 0.000_013_333_4,
    http_api_per_million_requests: 1.00,
    sns_per_million_publishes: 0.50,
    sqs_per_million_requests: 0.40,
    dynamodb_per_million_write_units: 0.625,
    dynamodb_per_million_read_units: 0.125,
    logs_per_gb_ingested: 0.50,
};

#[derive(Debug, Serialize)]
pub struct Line {
    pub item: String,
    /// Units per order, as measured.
    pub per_order: f64,
    pub unit: &'static str,
    pub usd_per_million_orders: f64,
}

#[derive(Debug, Serialize)]
pub struct Lever {
    pub choice: &'static str,
    pub usd_per_million_orders: f64,
    pub how: String,
}

#[derive(Debug, Serialize)]
pub struct CostModel {
    pub prices: Prices,
    pub orders: usize,
    pub lines: Vec<Line>,
    pub usd_per_million_orders: f64,
    /// What each design choice costs (or saves), per million orders.
    pub levers: Vec<Lever>,
    pub not_counted: Vec<&'static str>,
}

/// The name suffix of the simulated providers' table (template.yaml).
pub const SIMULATED_PROVIDERS: &str = "-simulated-providers";

pub fn model(run: &EndToEnd) -> CostModel {
    let p = PRICES;
    let orders = run.shipped.max(1) as f64;
    let per = |n: f64| n / orders;
    let million = 1_000_000.0;
    let invocations: u64 = run.functions.values().map(|f| f.invocations).sum();
    let gb_seconds: f64 =
        run.functions.values().map(|f| f.billed_ms as f64 / 1000.0 * f.memory_mb as f64 / 1024.0).sum();
    let sqs_requests = run.counts.service("sqs") as f64;
    let sqs_billed = sqs_requests - run.counts.empty_receives as f64;
    let (mut wru, mut rru, mut tx_wru) = (0.0, 0.0, 0.0);
    // The simulated providers' table stands in for the gateway's and the mail
    // server's own systems: their fees are not DynamoDB's.
    for (_, units) in run.counts.tables.iter().filter(|(name, _)| !name.ends_with(SIMULATED_PROVIDERS)) {
        wru += units.write_units;
        rru += units.read_units;
        tx_wru += units.transactional_write_units;
    }
    let archive = run
        .counts
        .tables
        .iter()
        .filter(|(name, _)| name.ends_with("-event-archive"))
        .map(|(_, u)| {
            u.write_units * p.dynamodb_per_million_write_units + u.read_units * p.dynamodb_per_million_read_units
        })
        .sum::<f64>();
    let log_kb = run.log_bytes as f64 / 1024.0;
    let line = |item: &str, count: f64, unit: &'static str, price_per_unit: f64| Line {
        item: item.to_owned(),
        per_order: per(count),
        unit,
        usd_per_million_orders: per(count) * million * price_per_unit,
    };
    let lines = vec![
        line("Lambda requests", invocations as f64, "invocations", p.lambda_per_million_requests / million),
        line("Lambda compute", gb_seconds, "GB-s", p.lambda_per_gb_second),
        line("HTTP API requests", run.placed as f64, "requests", p.http_api_per_million_requests / million),
        line("SNS publishes", run.counts.sns_messages as f64, "messages", p.sns_per_million_publishes / million),
        line("SQS requests (excl. empty receives)", sqs_billed, "requests", p.sqs_per_million_requests / million),
        line("DynamoDB writes", wru, "write units", p.dynamodb_per_million_write_units / million),
        line("DynamoDB reads", rru, "read units", p.dynamodb_per_million_read_units / million),
        line("CloudWatch Logs ingestion", log_kb, "KB", p.logs_per_gb_ingested / (1u64 << 20) as f64),
    ];
    let total = lines.iter().map(|l| l.usd_per_million_orders).sum();
    let sqs_records: u64 = run.functions.values().filter(|f| f.sqs).map(|f| f.records).sum();
    let sqs_invocations: u64 = run.functions.values().filter(|f| f.sqs).map(|f| f.invocations).sum();
    let levers = vec![
        Lever {
            choice: "SQS batch size 10 (vs 1)",
            usd_per_million_orders: per((sqs_records - sqs_invocations.min(sqs_records)) as f64)
                * p.lambda_per_million_requests,
            how: format!(
                "{sqs_records} records came in {sqs_invocations} invocations; at batch size 1 each record is one \
                 invocation: the extra Lambda requests (compute per record not re-measured)"
            ),
        },
        Lever {
            choice: "Transactions (inventory's reservation with its stock, order-api's order with its \
                     Idempotency-Key record)",
            usd_per_million_orders: per(tx_wru / 2.0) * p.dynamodb_per_million_write_units,
            how: format!(
                "{tx_wru:.0} of {wru:.0} write units were transactional, which DynamoDB charges double: the \
                 premium over plain writes (which would lose the all-or-nothing commit)"
            ),
        },
        Lever {
            choice: "Event archive (analytics keeps every event for replay)",
            usd_per_million_orders: per(archive),
            how: "write and read units on the event-archive table".to_owned(),
        },
    ];
    CostModel {
        prices: p,
        orders: run.shipped,
        lines,
        usd_per_million_orders: total,
        levers,
        not_counted: vec![
            "empty SQS receives: they depend on time, not orders (the local host polls every 2 s per poller; \
             Lambda's pollers long-poll 20 s); counted separately in the JSON",
            "DynamoDB Streams reads by Lambda (free), SNS→SQS deliveries (free), data transfer in one region",
            "storage (DynamoDB, logs retention), alarms and dashboards",
            "the simulated payment gateway's and mail server's requests (their table stands in for the \
             providers' own systems, whose fees are theirs)",
            "Lambda compute is billed time measured against LocalStack on 2 cores, where each AWS call takes tens \
             of milliseconds (single digits on AWS): read that line as an upper bound",
        ],
    }
}
