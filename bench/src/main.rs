//! `shopsphere-bench` (`make bench`): every figure measured in one run, side
//! by side with its baseline, on the real release binaries against LocalStack
//! through the local host. Writes bench/results/<date>.md, .json and .png.

mod cost;
mod measure;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use shopsphere_local::jwt::{LocalIssuer, SigningKey};
use shopsphere_local::stack::{self, Stack};
use shopsphere_template::{Template, template_path};

#[derive(Parser, Clone, serde::Serialize)]
#[command(about = "Cold starts, consumer throughput, end-to-end load and the cost model, in one run")]
pub struct Cli {
    /// LocalStack (`make bench` starts it).
    #[arg(long, default_value = "http://127.0.0.1:4566")]
    pub endpoint: String,
    /// Cold starts per function (and of /bin/true).
    #[arg(long, default_value_t = 20)]
    pub starts: usize,
    /// Records fed to each consumer (after a first batch of ten).
    #[arg(long, default_value_t = 300)]
    pub records: usize,
    /// Function binaries built with the deploy profile, measured beside the test build's.
    #[arg(long)]
    pub deploy_bin_dir: Option<PathBuf>,
    /// Measure only this consumer (e.g. InventoryFunction) and nothing else: for profiling.
    #[arg(long)]
    pub function: Option<String>,
    /// The run whose figures are shown beside this one's.
    #[arg(long, default_value = "bench/results/2026-11-28.json")]
    pub baseline: PathBuf,
    /// Offered end-to-end load (LocalStack on 2 cores saturates near 2 orders/s).
    #[arg(long, default_value_t = 1.0)]
    pub orders_per_second: f64,
    #[arg(long, default_value_t = 40)]
    pub seconds: u64,
    /// The function binaries (the Makefile's function build; `seed-catalog` is there too).
    #[arg(long, default_value_os_t = shopsphere_local::function_bin_dir())]
    pub bin_dir: PathBuf,
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,
}

pub const REGION: &str = "us-east-1";

/// A fresh stack of template.yaml (functions off), whatever an earlier run
/// left; its API trusts `issuer`.
async fn fresh_stack(config: &aws_config::SdkConfig, name: &str, issuer: &LocalIssuer) -> anyhow::Result<Stack> {
    stack::delete(config, name).await.ok();
    let text = std::fs::read_to_string(template_path()).context("reading template.yaml")?;
    let parameters = BTreeMap::from([
        ("NotificationDelayMs".to_owned(), "0".to_owned()),
        ("AuthIssuer".to_owned(), issuer.url.clone()),
        ("AuthAudience".to_owned(), issuer.audience.clone()),
    ]);
    stack::ensure(config, name, &text, &parameters).await
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    shopsphere_runtime::config_loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(aws_sdk_cloudformation::config::Credentials::new("test", "test", None, None, "bench"))
        .load()
        .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    shopsphere_runtime::init_tracing_stderr();
    let started = chrono::Utc::now();
    let direct = sdk_config(&cli.endpoint).await;
    let template = Template::load(&template_path())?;
    let specs = stack::functions(&template)?;
    let proxy = shopsphere_local::proxy::Proxy::start(&cli.endpoint).await?;
    let through_proxy = sdk_config(&proxy.endpoint).await;
    let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let issuer = LocalIssuer::serve(any_port, "bench", "shopsphere-bench", Arc::new(SigningKey::generate()?)).await?;
    let rig =
        measure::Rig { cli: cli.clone(), direct: direct.clone(), through_proxy, proxy, specs: specs.clone(), issuer };

    let consumer_stack = fresh_stack(&direct, "shopsphere-bench-consumer", &rig.issuer).await?;
    let builds = measure::Builds { test: &cli.bin_dir, deploy: cli.deploy_bin_dir.as_deref() };
    if cli.function.is_some() {
        let consumers = measure::consumers(&rig, &consumer_stack, &builds).await?;
        println!("{}", serde_json::to_string_pretty(&consumers)?);
        return Ok(());
    }
    eprintln!("bench: deploying the end-to-end stack (functions off)");
    let e2e_stack = fresh_stack(&direct, "shopsphere-bench-e2e", &rig.issuer).await?;

    eprintln!("bench: cold starts ({} per function, and /bin/true)", cli.starts);
    let cold = measure::cold_starts(&cli, &specs, &e2e_stack).await?;
    eprintln!("bench: emulator ceiling (bare conditional puts from one client)");
    let ceiling = measure::emulator_ceiling(&direct, &consumer_stack).await?;
    eprintln!("bench: each consumer alone, {} records in batches of 10", cli.records);
    let consumers = measure::consumers(&rig, &consumer_stack, &builds).await?;
    eprintln!("bench: end to end, {} orders/s for {} s", cli.orders_per_second, cli.seconds);
    let load = measure::end_to_end(&rig, &e2e_stack).await?;
    let cost = cost::model(&load);
    let micro = measure::criterion_results()?;

    let baseline = std::fs::read_to_string(&cli.baseline).ok().and_then(|t| serde_json::from_str(&t).ok());
    let results =
        report::Results { started, parameters: cli.clone(), cold, ceiling, consumers, load, cost, micro, baseline };
    let written = report::write(&results, &cli.out)?;
    for path in written {
        println!("{}", path.display());
    }
    stack::delete(&direct, &e2e_stack.name).await.ok();
    stack::delete(&direct, &consumer_stack.name).await.ok();
    Ok(())
}
