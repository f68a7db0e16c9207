//! The Docker-free local Lambda host (DESIGN.md §6): template.yaml deployed
//! to LocalStack with the functions off, and each function's real binary run
//! as a child process behind a Lambda Runtime API served here.

pub mod runtime_api;
pub mod stack;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use axum::body::Bytes;
use tokio::process::{Child, Command};

use crate::runtime_api::{Outcome, RuntimeApi};
use crate::stack::{FunctionSpec, Stack};

pub const ACCOUNT: &str = "000000000000";

/// Where the host runs against: the emulator and its region.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: String,
    pub region: String,
}

/// The deployed name of a function (`shopsphere-<stage>-<binary>`).
pub fn function_name(stack: &Stack, spec: &FunctionSpec) -> String {
    let stage = stack.parameters.get("Stage").map(String::as_str).unwrap_or("local");
    format!("shopsphere-{stage}-{}", spec.binary)
}

/// One function process behind its own Runtime API. Dropping it kills the
/// process (by its PID, through the child handle).
pub struct FunctionProcess {
    pub api: RuntimeApi,
    pub child: Child,
    pub spec: FunctionSpec,
}

impl FunctionProcess {
    /// Start `bin_dir/<binary>` with the environment Lambda would give it.
    pub async fn start(spec: &FunctionSpec, stack: &Stack, target: &Target, bin_dir: &Path) -> anyhow::Result<Self> {
        let name = function_name(stack, spec);
        let arn = format!("arn:aws:lambda:{}:{ACCOUNT}:function:{name}", target.region);
        let api = RuntimeApi::start(arn).await.context("starting the Runtime API")?;
        let binary: PathBuf = bin_dir.join(&spec.binary);
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/[$LATEST]{}", uuid::Uuid::new_v4().simple()))
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("_HANDLER", "bootstrap")
            .env("TZ", ":UTC")
            .env("AWS_REGION", &target.region)
            .env("AWS_DEFAULT_REGION", &target.region)
            .env("AWS_ENDPOINT_URL", &target.endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Logs go to stderr so stdout stays the invocation's answer.
            .stdout(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?))
            .stderr(Stdio::inherit())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (key, value) in &spec.environment {
            command.env(key, stack.resolve(value).with_context(|| format!("{}: {key}", spec.logical_id))?);
        }
        let child =
            command.spawn().with_context(|| format!("starting {} (build it: cargo build)", binary.display()))?;
        Ok(FunctionProcess { api, child, spec: spec.clone() })
    }

    /// One invocation, as Lambda runs it: the answer, the function's error, or
    /// a timeout (the process is then killed, as Lambda does).
    pub async fn invoke(&mut self, payload: Bytes) -> anyhow::Result<Outcome> {
        let timeout = self.spec.timeout;
        tokio::select! {
            outcome = self.api.invoke(payload, timeout) => match outcome {
                Ok(outcome) => Ok(outcome),
                Err(e) => {
                    self.child.kill().await.ok();
                    Err(e.into())
                }
            },
            status = self.child.wait() => {
                let init = self.api.init_error().unwrap_or_default();
                anyhow::bail!("{} exited ({:?}) before answering {init}", self.spec.binary, status.ok())
            }
        }
    }
}
