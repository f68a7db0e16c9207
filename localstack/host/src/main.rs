//! `shopsphere-local`: the Docker-free local Lambda host.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shopsphere_local::runtime_api::Outcome;
use shopsphere_local::{FunctionProcess, Target, stack};
use shopsphere_template::{Template, template_path};

#[derive(Parser)]
#[command(about = "Run ShopSphere's functions against LocalStack, without Docker")]
struct Cli {
    /// LocalStack's endpoint.
    #[arg(long, env = "AWS_ENDPOINT_URL", default_value = "http://127.0.0.1:4566", global = true)]
    endpoint: String,
    #[arg(long, default_value = "us-east-1", global = true)]
    region: String,
    /// The stack template.yaml is deployed as.
    #[arg(long, default_value = "shopsphere-local", global = true)]
    stack: String,
    /// The template's Stage parameter.
    #[arg(long, default_value = "local", global = true)]
    stage: String,
    /// Where the functions' binaries are (`cargo build --release`).
    #[arg(long, default_value = "target/release", global = true)]
    bin_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy template.yaml to LocalStack with the functions off; print its outputs.
    Deploy,
    /// Invoke one function once with an event file, like `sam local invoke`; prints its answer.
    Invoke {
        /// The function's logical id in template.yaml, e.g. PaymentFunction.
        function: String,
        /// The event JSON, e.g. events/payment/sqs-raw.json.
        #[arg(short = 'e', long = "event")]
        event: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let target = Target { endpoint: cli.endpoint.clone(), region: cli.region.clone() };
    let config = shopsphere_runtime::config_loader()
        .endpoint_url(&target.endpoint)
        .region(aws_config::Region::new(target.region.clone()))
        .credentials_provider(aws_sdk_cloudformation::config::Credentials::new("test", "test", None, None, "local"))
        .load()
        .await;
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let text = std::fs::read_to_string(template_path()).context("reading template.yaml")?;
    let stack = stack::ensure(&cfn, &cli.stack, &text, &cli.stage).await?;
    match cli.command {
        Command::Deploy => {
            let mut outputs: Vec<_> = stack.outputs.iter().collect();
            outputs.sort();
            for (key, value) in outputs {
                println!("{key}\t{value}");
            }
        }
        Command::Invoke { function, event } => {
            let spec = stack::function(&Template::parse(&text)?, &function)?;
            let payload = std::fs::read(&event).with_context(|| format!("reading {}", event.display()))?;
            let mut process = FunctionProcess::start(&spec, &stack, &target, &cli.bin_dir).await?;
            match process.invoke(payload.into()).await? {
                Outcome::Response(body) => println!("{}", String::from_utf8_lossy(&body)),
                Outcome::Error(body) => anyhow::bail!("{function} failed: {}", String::from_utf8_lossy(&body)),
            }
        }
    }
    Ok(())
}
