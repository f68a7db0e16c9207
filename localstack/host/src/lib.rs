//! The Docker-free local Lambda host (docs/local-host.md): template.yaml deployed
//! to LocalStack with the functions off, each function's real binary run as
//! child processes behind a Lambda Runtime API served here, and driven by
//! the event sources the template gives it: SQS mappings, the orders-table
//! stream, the HTTP API.

pub mod control;
pub mod function;
pub mod http_api;
pub mod jwt;
pub mod proxy;
pub mod runtime_api;
pub mod sqs;
pub mod stack;
pub mod stream;
pub mod tap;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use aws_config::SdkConfig;
use serde_json::{Value, json};

pub use crate::function::{Function, Target};
use crate::http_api::HttpApi;
use crate::jwt::JwtAuthorizer;
use crate::sqs::SqsMapping;
use crate::stack::{AuthorizerSpec, EventSource, FunctionSpec, Stack};
use crate::stream::StreamMapping;

/// Where the function binaries are, relative to the repository: built as
/// `sam build` ships them (the function packages alone, no dev-dependency
/// features) for the host's own triple, apart from `target/release`, where
/// the tests' build puts binaries with test features (see the Makefile).
pub fn function_bin_dir() -> PathBuf {
    PathBuf::from(format!("target/{}-unknown-linux-gnu/release", std::env::consts::ARCH))
}

/// Where the host finds binaries, puts logs and listens.
#[derive(Debug, Clone)]
pub struct Options {
    pub target: Target,
    pub bin_dir: PathBuf,
    pub log_dir: Option<PathBuf>,
    pub api: SocketAddr,
    pub control: SocketAddr,
}

/// Every function of the stack, running, with its event sources.
pub struct Host {
    pub functions: BTreeMap<String, Arc<Function>>,
    sqs_mappings: BTreeMap<String, Vec<Arc<SqsMapping>>>,
}

/// A started host and where it listens.
pub struct Running {
    pub host: Arc<Host>,
    pub api: SocketAddr,
    pub control: SocketAddr,
}

/// The template's JWT authorizer with its issuer and audience as `stack`
/// resolves them (LocalStack has no Cognito: the stack names an issuer).
fn jwt_authorizer(stack: &Stack, spec: &AuthorizerSpec) -> anyhow::Result<JwtAuthorizer> {
    let context = || format!("authorizer {} of stack {}", spec.name, stack.name);
    let issuer = stack.resolve_if(&spec.conditions, &spec.issuer).with_context(context)?;
    let audience = spec
        .audience
        .iter()
        .map(|a| stack.resolve_if(&spec.conditions, a))
        .collect::<anyhow::Result<_>>()
        .with_context(context)?;
    JwtAuthorizer::new(&spec.name, &issuer, audience, &spec.identity_source)
        .with_context(|| format!("{}: give the stack an AuthIssuer and AuthAudience", context()))
}

impl Host {
    /// Start `specs` against `stack`: one warm instance per function, then
    /// their event sources, the HTTP API and the control interface.
    pub async fn up(
        config: &SdkConfig,
        stack: &Stack,
        specs: &[FunctionSpec],
        options: &Options,
    ) -> anyhow::Result<Running> {
        if let Some(dir) = &options.log_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let region = options.target.region.clone();
        let sqs = aws_sdk_sqs::Client::new(config);
        let dynamodb = aws_sdk_dynamodb::Client::new(config);
        let streams = aws_sdk_dynamodbstreams::Client::new(config);
        let physical = |logical: &str| {
            stack.physical.get(logical).cloned().with_context(|| format!("stack {} has no {logical}", stack.name))
        };
        let mut functions = BTreeMap::new();
        for spec in specs {
            let function = Function::new(spec, stack, &options.target, &options.bin_dir, options.log_dir.as_deref())?;
            functions.insert(spec.logical_id.clone(), Arc::new(function));
        }
        let warm_ups =
            functions.values().map(|f| async { f.warm_up(&region).await.with_context(|| f.spec.logical_id.clone()) });
        futures::future::try_join_all(warm_ups).await?;

        let mut sqs_mappings: BTreeMap<String, Vec<Arc<SqsMapping>>> = BTreeMap::new();
        let mut routes = Vec::new();
        let mut authorizers: BTreeMap<String, Arc<JwtAuthorizer>> = BTreeMap::new();
        for (id, function) in &functions {
            for source in &function.spec.events {
                match source {
                    EventSource::Sqs(source) => {
                        let url = physical(&source.queue)?;
                        let mapping =
                            SqsMapping::new(function.clone(), source.clone(), url, region.clone(), sqs.clone()).await?;
                        tokio::spawn(mapping.clone().run());
                        sqs_mappings.entry(id.clone()).or_default().push(mapping);
                    }
                    EventSource::Stream(source) => {
                        let table = physical(&source.table)?;
                        let stream_arn = dynamodb
                            .describe_table()
                            .table_name(&table)
                            .send()
                            .await?
                            .table
                            .and_then(|t| t.latest_stream_arn)
                            .with_context(|| format!("table {table} has no stream"))?;
                        let on_failure = source.on_failure.as_deref().map(physical).transpose()?;
                        let mapping = StreamMapping {
                            function: function.clone(),
                            source: source.clone(),
                            stream_arn,
                            region: region.clone(),
                            streams: streams.clone(),
                            sqs: sqs.clone(),
                            on_failure,
                        };
                        tokio::spawn(Arc::new(mapping).run());
                    }
                    EventSource::Http(route) => {
                        let authorizer = match &route.authorizer {
                            None => None,
                            Some(spec) => Some(match authorizers.get(&spec.name) {
                                Some(known) => Arc::clone(known),
                                None => {
                                    let made = Arc::new(jwt_authorizer(stack, spec)?);
                                    authorizers.insert(spec.name.clone(), made.clone());
                                    made
                                }
                            }),
                        };
                        routes.push((route.clone(), function.clone(), authorizer));
                    }
                }
            }
        }
        let api =
            HttpApi { routes, region: region.clone() }.serve(options.api).await.context("serving the HTTP API")?;
        let host = Arc::new(Host { functions, sqs_mappings });
        let control = control::serve(host.clone(), options.control).await.context("serving the control interface")?;
        Ok(Running { host, api, control })
    }

    /// SQS pollers of the function that are still running.
    pub fn pollers(&self, id: &str) -> usize {
        self.sqs_mappings.get(id).map_or(0, |ms| ms.iter().map(|m| m.pollers()).sum())
    }

    /// The function as the control interface shows it.
    pub fn describe(&self, id: &str) -> Option<Value> {
        let function = self.functions.get(id)?;
        let switch = function.current_switch();
        Some(json!({
            "function": id,
            "name": function.name,
            "running": switch.running,
            "concurrency": switch.concurrency,
            "pollers": self.pollers(id),
            "invocations": function.invocations.load(Ordering::Relaxed),
            "errors": function.errors.load(Ordering::Relaxed),
            "billed_ms": function.billed_ms.load(Ordering::Relaxed),
            "instances": function.instances(),
            "crashes": function.crashes.describe(),
        }))
    }

    /// Stop every function; their processes end when the host drops them.
    pub fn stop(&self) {
        for function in self.functions.values() {
            function.stop();
        }
    }
}
