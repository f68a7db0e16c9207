//! Wiring of an SQS-triggered function: everything but its service, from the environment.

use std::convert::Infallible;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use shopsphere_runtime::dynamodb::Table;
use shopsphere_runtime::{ConfigError, env_or};

use crate::batch::{Backoff, BatchProcessor, MAX_BACKOFF, ProcessorConfig};
use crate::consumer::{Consumer, Service};
use crate::publisher::{SnsPublisher, TopicMap};
use crate::sqs::SqsQueue;

/// A consumer function as deployed: SNS out, SQS in.
pub struct SqsFunction<Svc> {
    consumer: Consumer<Svc, SnsPublisher>,
    processor: BatchProcessor<SqsQueue>,
    tables: Vec<Table>,
}

impl<Svc: Service> SqsFunction<Svc> {
    /// Reads `QUEUE_URL`, `DLQ_URL`, the `<TYPE>_TOPIC_ARN` of every type the
    /// service publishes, and optionally `RECORD_CONCURRENCY` (10),
    /// `RETRY_BACKOFF_BASE_SECONDS` (off) and `MAX_RECEIVE_COUNT` (the
    /// queue's; unset: SQS's redrive alone ends the retries).
    pub fn from_env(config: &SdkConfig, service: Svc) -> Result<Self, ConfigError> {
        let backoff_base: u64 = env_or("RETRY_BACKOFF_BASE_SECONDS", 0)?;
        let max_receive_count: u32 = env_or("MAX_RECEIVE_COUNT", 0)?;
        let processor_config = ProcessorConfig {
            concurrency: env_or("RECORD_CONCURRENCY", 10)?,
            backoff: (backoff_base > 0).then(|| Backoff { base: Duration::from_secs(backoff_base), max: MAX_BACKOFF }),
            max_receive_count: (max_receive_count > 0).then_some(max_receive_count),
        };
        Ok(SqsFunction {
            consumer: Consumer {
                service,
                publisher: SnsPublisher::new(aws_sdk_sns::Client::new(config), TopicMap::from_env(Svc::PUBLISHES)?),
            },
            processor: BatchProcessor::new(SqsQueue::from_env(aws_sdk_sqs::Client::new(config))?, processor_config),
            tables: Vec::new(),
        })
    }

    /// A table of the service's, to open DynamoDB's connection with at init.
    pub fn warming(mut self, table: &Table) -> Self {
        self.tables.push(table.clone());
        self
    }

    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Infallible> {
        // Boxed: with the runtime's own layers, the batch future is one type too deep to lay out.
        Ok(Box::pin(self.consumer.handle_lambda(&self.processor, event)).await)
    }

    /// Open the connections the first batch will use (DynamoDB, SNS, SQS),
    /// then serve invocations until the runtime stops.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        let tables = futures::future::join_all(self.tables.iter().map(Table::warm_up));
        tokio::join!(tables, self.consumer.publisher.warm_up(), self.processor.queue().warm_up());
        lambda_runtime::run(service_fn(|event| self.handle(event))).await
    }
}
