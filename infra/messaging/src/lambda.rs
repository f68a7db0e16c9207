//! Wiring of an SQS-triggered function: everything but its service, from the environment.

use std::convert::Infallible;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use shopsphere_events::EventType;
use shopsphere_idempotency::{DynamoDbStore, Idempotency};
use shopsphere_runtime::{ConfigError, env_or, env_var};

use crate::batch::{Backoff, BatchProcessor, ProcessorConfig};
use crate::consumer::{Consumer, DynamoDbSink, Service, TransactWrites};
use crate::publisher::{SnsPublisher, TopicMap};
use crate::sqs::SqsQueue;

/// A consumer function as deployed: DynamoDB idempotency and effects, SNS out, SQS in.
pub struct SqsFunction<Svc, W> {
    consumer: Consumer<Svc, DynamoDbSink<W>, DynamoDbStore, SnsPublisher>,
    processor: BatchProcessor<SqsQueue>,
}

impl<Svc, W> SqsFunction<Svc, W>
where
    Svc: Service,
    W: TransactWrites<Svc::Effect>,
{
    /// Reads `IDEMPOTENCY_TABLE`, `QUEUE_URL`, `DLQ_URL`, the `<TYPE>_TOPIC_ARN`
    /// of every type in `publishes`, and optionally `RECORD_CONCURRENCY` (10)
    /// and `RETRY_BACKOFF_BASE_SECONDS` (off).
    pub fn from_env(config: &SdkConfig, service: Svc, writes: W, publishes: &[EventType]) -> Result<Self, ConfigError> {
        let store = DynamoDbStore::new(aws_sdk_dynamodb::Client::new(config), env_var("IDEMPOTENCY_TABLE")?);
        let backoff_base: u64 = env_or("RETRY_BACKOFF_BASE_SECONDS", 0)?;
        let processor_config = ProcessorConfig {
            concurrency: env_or("RECORD_CONCURRENCY", 10)?,
            backoff: (backoff_base > 0)
                .then(|| Backoff { base: Duration::from_secs(backoff_base), max: Duration::from_secs(900) }),
        };
        Ok(SqsFunction {
            consumer: Consumer {
                service,
                sink: DynamoDbSink::new(store.clone(), writes),
                idempotency: Idempotency::new(store),
                publisher: SnsPublisher::new(aws_sdk_sns::Client::new(config), TopicMap::from_env(publishes)?),
            },
            processor: BatchProcessor::new(SqsQueue::from_env(aws_sdk_sqs::Client::new(config))?, processor_config),
        })
    }

    pub async fn handle(&self, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Infallible> {
        Ok(self.consumer.handle_lambda(&self.processor, event).await)
    }

    /// Serve invocations until the runtime stops.
    pub async fn run(self) -> Result<(), lambda_runtime::Error> {
        lambda_runtime::run(service_fn(|event| self.handle(event))).await
    }
}
