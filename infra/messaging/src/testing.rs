//! Handler-test support: the committed Lambda event fixtures under `events/`.

use std::path::PathBuf;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Context, LambdaEvent};
use serde::de::DeserializeOwned;

use crate::batch::{BatchProcessor, InMemoryQueue, ProcessorConfig};
use crate::consumer::{Consumer, Service};
use crate::publisher::Publisher;

/// `events/<name>` at the repository root.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(name)
}

/// A committed fixture, parsed as Lambda would deliver it.
pub fn fixture<T: DeserializeOwned>(name: &str) -> T {
    let path = fixture_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Run an SQS fixture through `consumer` as one invocation with
/// `Context::default()`; returns the batch response and what was dead-lettered.
pub async fn run_sqs_fixture<Svc: Service, P: Publisher>(
    consumer: &Consumer<Svc, P>,
    name: &str,
    concurrency: usize,
) -> (SqsBatchResponse, InMemoryQueue) {
    let processor =
        BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig { concurrency, ..ProcessorConfig::default() });
    let event: SqsEvent = fixture(name);
    let response = consumer.handle_lambda(&processor, LambdaEvent::new(event, Context::default())).await;
    (response, processor.into_queue())
}
