//! `shopsphere-local`: the Docker-free local Lambda host.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shopsphere_local::runtime_api::Outcome;
use shopsphere_local::{Function, Host, Options, Target, jwt, stack};
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
    /// Another template parameter, e.g. `--parameter NotificationDelayMs=0`.
    #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = key_value, global = true)]
    parameters: Vec<(String, String)>,
    /// Where the functions' binaries are (the Makefile's function build).
    #[arg(long, default_value_os_t = shopsphere_local::function_bin_dir(), global = true)]
    bin_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("{s}: expected KEY=VALUE"))
}

#[derive(Subcommand)]
enum Command {
    /// Deploy template.yaml to LocalStack with the functions off; print its outputs.
    Deploy,
    /// Deploy, then run every function behind its event sources until Ctrl-C.
    /// Prints one JSON line when ready: API and control URLs, logs, outputs.
    Up {
        /// The HTTP API's port (0: any free port).
        #[arg(long, default_value_t = 3000)]
        api_port: u16,
        /// The control interface's port (0: any free port).
        #[arg(long, default_value_t = 0)]
        control_port: u16,
        /// One log file per function here [default: target/local-host/<stack>].
        #[arg(long)]
        logs: Option<PathBuf>,
        /// Put a tap between each instance and AWS, so the control interface
        /// can crash it at a step boundary (`crash?at=claim|call|commit|publish`).
        #[arg(long)]
        crash_points: bool,
        /// Port of the host's own JWT issuer (OIDC discovery and JWKS), run
        /// when no `--parameter AuthIssuer=...` names one: the stack trusts
        /// it, and its key is written to `<logs>/issuer.json`.
        #[arg(long, default_value_t = 3001)]
        issuer_port: u16,
    },
    /// Print a JWT the local stack accepts, signed with the key the host's
    /// issuer wrote (`up` without an AuthIssuer).
    Token {
        /// The customer: the token's subject (`sub`).
        #[arg(long)]
        subject: String,
        /// The issuer file `up` wrote [default: target/local-host/<stack>/issuer.json].
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Deploy, then print a `sam local --env-vars` file: every function's
    /// variables as this stack resolves them, and the endpoint for containers.
    EnvVars {
        /// Where LocalStack answers from inside a container, e.g. http://172.17.0.1:4566.
        #[arg(long)]
        container_endpoint: String,
    },
    /// Invoke one function once with an event file, like `sam local invoke`; prints its answer.
    Invoke {
        /// The function's logical id in template.yaml, e.g. PaymentFunction.
        function: String,
        /// The event JSON, e.g. events/payment/sqs-raw.json.
        #[arg(short = 'e', long = "event")]
        event: PathBuf,
    },
}

/// The template parameters that name the JWT issuer and audience the API trusts.
const AUTH_ISSUER: &str = "AuthIssuer";
const AUTH_AUDIENCE: &str = "AuthAudience";
/// The audience of the host's own issuer's tokens, unless AuthAudience says.
const LOCAL_AUDIENCE: &str = "shopsphere-local";
const ISSUER_FILE: &str = "issuer.json";

fn default_log_dir(stack: &str) -> PathBuf {
    PathBuf::from("target/local-host").join(stack)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    shopsphere_runtime::init_tracing_stderr();
    if let Command::Token { subject, key_file } = &cli.command {
        let key_file = key_file.clone().unwrap_or_else(|| default_log_dir(&cli.stack).join(ISSUER_FILE));
        println!("{}", jwt::token_from_file(&key_file, subject)?);
        return Ok(());
    }
    let crash_points = matches!(cli.command, Command::Up { crash_points: true, .. });
    let target = Target { endpoint: cli.endpoint.clone(), region: cli.region.clone(), crash_points };
    let config = shopsphere_runtime::config_loader()
        .endpoint_url(&target.endpoint)
        .region(aws_config::Region::new(target.region.clone()))
        .credentials_provider(aws_sdk_cloudformation::config::Credentials::new("test", "test", None, None, "local"))
        .load()
        .await;
    let text = std::fs::read_to_string(template_path()).context("reading template.yaml")?;
    let template = Template::parse(&text)?;
    let mut parameters: BTreeMap<String, String> = cli.parameters.into_iter().collect();
    let own_issuer = match &cli.command {
        Command::Up { issuer_port, .. } if parameters.get(AUTH_ISSUER).is_none_or(|i| i.is_empty()) => {
            let audience = parameters.get(AUTH_AUDIENCE).filter(|a| !a.is_empty()).cloned();
            let audience = audience.unwrap_or_else(|| LOCAL_AUDIENCE.to_owned());
            let key = Arc::new(jwt::SigningKey::generate()?);
            let addr = SocketAddr::from(([127, 0, 0, 1], *issuer_port));
            let issuer = jwt::LocalIssuer::serve(addr, "", &audience, key).await.context("serving the local issuer")?;
            parameters.insert(AUTH_ISSUER.into(), issuer.url.clone());
            parameters.insert(AUTH_AUDIENCE.into(), audience);
            Some(issuer)
        }
        _ => None,
    };
    let stack = stack::ensure(&config, &cli.stack, &text, &parameters).await?;
    match cli.command {
        Command::Deploy => {
            for (key, value) in stack.outputs.iter().collect::<BTreeMap<_, _>>() {
                println!("{key}\t{value}");
            }
        }
        Command::EnvVars { container_endpoint } => {
            let file = stack::sam_env_vars(&stack::functions(&template)?, &stack, &container_endpoint)?;
            println!("{}", serde_json::to_string_pretty(&file)?);
        }
        Command::Up { api_port, control_port, logs, .. } => {
            let log_dir = logs.unwrap_or_else(|| default_log_dir(&cli.stack));
            let options = Options {
                target,
                bin_dir: cli.bin_dir,
                log_dir: Some(log_dir.clone()),
                api: SocketAddr::from(([127, 0, 0, 1], api_port)),
                control: SocketAddr::from(([127, 0, 0, 1], control_port)),
            };
            let running = Host::up(&config, &stack, &stack::functions(&template)?, &options).await?;
            let mut auth = serde_json::json!({
                "issuer": stack.parameters.get(AUTH_ISSUER),
                "audience": stack.parameters.get(AUTH_AUDIENCE),
            });
            if let Some(issuer) = &own_issuer {
                let key_file = log_dir.join(ISSUER_FILE);
                issuer.write_file(&key_file)?;
                auth["key_file"] = serde_json::json!(key_file);
            }
            let ready = serde_json::json!({
                "auth": auth,
                "api": format!("http://{}", running.api),
                "control": format!("http://{}", running.control),
                "stack": stack.name,
                "logs": log_dir,
                "functions": running.host.functions.keys().collect::<Vec<_>>(),
                "outputs": stack.outputs,
            });
            println!("{ready}");
            shopsphere_runtime::shutdown_signal().await?;
            running.host.stop();
            eprintln!("shopsphere-local: stopping; every function process is killed by its PID");
        }
        Command::Token { .. } => unreachable!("answered before the deploy"),
        Command::Invoke { function, event } => {
            let spec = stack::function(&template, &function)?;
            let payload = std::fs::read(&event).with_context(|| format!("reading {}", event.display()))?;
            let function = Function::new(&spec, &stack, &target, &cli.bin_dir, None)?;
            match function.invoke(payload.into(), 1, &target.region).await? {
                Outcome::Response(body) => println!("{}", String::from_utf8_lossy(&body)),
                Outcome::Error(body) => anyhow::bail!("{} failed: {}", spec.logical_id, String::from_utf8_lossy(&body)),
            }
        }
    }
    Ok(())
}
