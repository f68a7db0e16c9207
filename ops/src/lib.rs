//! Operator tools for a deployed ShopSphere stack, on AWS or LocalStack:
//! dead-letter queues (list, show, redrive), replay from the event archive,
//! orders (get, place, stuck), the outbox's repair (republish) and the audit. The stack's outputs say where everything is.

pub mod audit;
pub mod demo;
pub mod dlq;
pub mod orders;
pub mod outbox;
pub mod replay;

use std::collections::BTreeMap;

use anyhow::Context;
use aws_config::SdkConfig;

/// A deployed stack: its outputs, and clients for its resources.
pub struct Ops {
    pub stack: String,
    pub outputs: BTreeMap<String, String>,
    pub sqs: aws_sdk_sqs::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
}

/// The SDK configuration: the default credential chain for AWS, or the
/// emulator's test credentials when an endpoint is given.
pub async fn sdk_config(endpoint: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = shopsphere_runtime::config_loader();
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(endpoint) = endpoint {
        loader = loader.endpoint_url(endpoint).credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "localstack",
        ));
    }
    loader.load().await
}

impl Ops {
    pub async fn connect(config: &SdkConfig, stack: &str) -> anyhow::Result<Ops> {
        let cfn = aws_sdk_cloudformation::Client::new(config);
        let described = cfn
            .describe_stacks()
            .stack_name(stack)
            .send()
            .await
            .with_context(|| format!("describing stack {stack} (is it deployed, and is this the right region?)"))?;
        let outputs = described
            .stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Ops {
            stack: stack.to_owned(),
            outputs,
            sqs: aws_sdk_sqs::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        })
    }

    pub fn output(&self, key: &str) -> anyhow::Result<&str> {
        self.outputs.get(key).map(String::as_str).with_context(|| format!("stack {} has no output {key}", self.stack))
    }

    /// A queue's URL from its name as the outputs spell it (`PaymentDLQ`,
    /// `OrderStatusQueue`...), or a URL as given.
    pub fn queue_url(&self, queue: &str) -> anyhow::Result<String> {
        if queue.starts_with("http") {
            return Ok(queue.to_owned());
        }
        let key = format!("{}Url", queue.trim_end_matches("Url"));
        self.output(&key).map(str::to_owned).with_context(|| {
            let known: Vec<_> =
                self.outputs.keys().filter_map(|k| k.strip_suffix("Url")).filter(|k| !k.starts_with("Api")).collect();
            format!("queues of this stack: {}", known.join(", "))
        })
    }
}
