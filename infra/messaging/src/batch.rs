//! The SQS batch processor: decode, run the handler per record (concurrently,
//! bounded), answer with the failed ids (ReportBatchItemFailures), dead-letter
//! permanent failures at once.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{FutureExt, StreamExt};
use shopsphere_events::{DecodeError, Envelope, ErrorClass, decode_sqs_body};
use shopsphere_idempotency::IdempotencyError;
use shopsphere_runtime::error_chain;
use tracing::{Instrument, field};

use crate::publisher::{BoxError, PublishError};

/// A handler's failure, classified by type.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// May succeed on redelivery: the record is reported failed and retried.
    #[error("{0}")]
    Transient(#[source] BoxError),
    /// Will never succeed: the record goes to the DLQ with `code` and `reason`.
    #[error("{code}: {reason}")]
    Permanent { code: String, reason: String },
}

impl HandlerError {
    pub fn transient(error: impl Into<BoxError>) -> Self {
        HandlerError::Transient(error.into())
    }

    pub fn permanent(code: impl Into<String>, reason: impl Into<String>) -> Self {
        HandlerError::Permanent { code: code.into(), reason: reason.into() }
    }

    fn classified(class: ErrorClass, code: &str, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        match class {
            ErrorClass::Transient => HandlerError::transient(error),
            ErrorClass::Permanent => HandlerError::permanent(code, error.to_string()),
        }
    }
}

impl From<DecodeError> for HandlerError {
    fn from(e: DecodeError) -> Self {
        HandlerError::permanent(e.code(), e.to_string())
    }
}

impl From<PublishError> for HandlerError {
    fn from(e: PublishError) -> Self {
        HandlerError::classified(e.class(), "publish_rejected", e)
    }
}

impl<E: Into<HandlerError> + std::error::Error + Send + Sync + 'static> From<IdempotencyError<E>> for HandlerError {
    fn from(e: IdempotencyError<E>) -> Self {
        match e {
            IdempotencyError::Work(inner) => inner.into(),
            other => {
                let code = match &other {
                    IdempotencyError::PayloadMismatch { .. } => "idempotency_payload_mismatch",
                    IdempotencyError::BusinessConditionFailed { .. } => "business_condition_failed",
                    _ => "idempotency",
                };
                HandlerError::classified(other.class(), code, other)
            }
        }
    }
}

/// What the handler gets beside the decoded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub message_id: String,
    /// SQS ApproximateReceiveCount: 1 on first delivery.
    pub receive_count: u32,
    /// The `replay_id` message attribute of a replayed event (`shopsphere replay`).
    pub replay_id: Option<String>,
}

/// Message attribute that marks a replayed event and names its replay.
pub const REPLAY_ID: &str = "replay_id";

/// Why a record was dead-lettered, sent along as message attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter<'a> {
    pub message: &'a SqsMessage,
    pub code: &'a str,
    pub reason: &'a str,
}

/// Queue operations the processor needs beyond Lambda's own deletes.
pub trait QueueOps: Send + Sync {
    /// Put the record on the DLQ with its reason (then the processor acks it).
    fn dead_letter(&self, letter: DeadLetter<'_>) -> impl Future<Output = Result<(), BoxError>> + Send;
    /// Keep a failed record invisible for `delay` before its retry.
    fn delay_retry(&self, message: &SqsMessage, delay: Duration) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Exponential retry delay by receive count: `base × 2^(n-1)`, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn delay(&self, receive_count: u32) -> Duration {
        let factor = 2u32.saturating_pow(receive_count.saturating_sub(1).min(20));
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Records handled at once within one invocation.
    pub concurrency: usize,
    /// Delay transient retries by ChangeMessageVisibility; `None`: the queue's visibility timeout.
    pub backoff: Option<Backoff>,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig { concurrency: 10, backoff: None }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    DeadLettered,
    Failed,
}

/// Processes SQS batches for one function.
pub struct BatchProcessor<Q> {
    queue: Q,
    config: ProcessorConfig,
}

impl<Q: QueueOps> BatchProcessor<Q> {
    pub fn new(queue: Q, config: ProcessorConfig) -> Self {
        BatchProcessor { queue, config }
    }

    pub fn queue(&self) -> &Q {
        &self.queue
    }

    pub fn into_queue(self) -> Q {
        self.queue
    }

    /// Handle every record; the response lists exactly the records to retry.
    /// Never fails as a whole: a batch where every record failed lists them all.
    pub async fn process<H, Fut>(&self, event: SqsEvent, handler: H) -> SqsBatchResponse
    where
        H: Fn(Envelope, RecordMeta) -> Fut,
        Fut: Future<Output = Result<(), HandlerError>>,
    {
        let outcomes: Vec<(Option<String>, Outcome)> = futures::stream::iter(&event.records)
            .map(|message| async { (message.message_id.clone(), self.process_record(message, &handler).await) })
            .buffer_unordered(self.config.concurrency.max(1))
            .collect()
            .await;
        let mut response = SqsBatchResponse::default();
        let (mut dead_lettered, mut failed) = (0, 0);
        for (message_id, outcome) in outcomes {
            match outcome {
                Outcome::Done => {}
                Outcome::DeadLettered => dead_lettered += 1,
                Outcome::Failed => {
                    failed += 1;
                    response.add_failure(message_id.unwrap_or_default());
                }
            }
        }
        tracing::info!(records = event.records.len(), failed, dead_lettered, "batch processed");
        response
    }

    async fn process_record<H, Fut>(&self, message: &SqsMessage, handler: &H) -> Outcome
    where
        H: Fn(Envelope, RecordMeta) -> Fut,
        Fut: Future<Output = Result<(), HandlerError>>,
    {
        let meta = RecordMeta {
            message_id: message.message_id.clone().unwrap_or_default(),
            receive_count: message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
            replay_id: message.message_attributes.get(REPLAY_ID).and_then(|a| a.string_value.clone()),
        };
        let span = tracing::info_span!(
            "sqs_record",
            message_id = %meta.message_id,
            receive_count = meta.receive_count,
            event_id = field::Empty,
            event_type = field::Empty,
            correlation_id = field::Empty,
        );
        async {
            let result = match decode_sqs_body(message.body.as_deref().unwrap_or_default()) {
                Ok(envelope) => {
                    span.record("event_id", field::display(envelope.id));
                    span.record("event_type", envelope.kind().name());
                    span.record("correlation_id", envelope.correlationid.as_str());
                    AssertUnwindSafe(handler(envelope, meta.clone()))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|panic| Err(HandlerError::transient(panic_message(&panic))))
                }
                Err(e) => Err(e.into()),
            };
            match result {
                Ok(()) => Outcome::Done,
                Err(HandlerError::Permanent { code, reason }) => {
                    let letter = DeadLetter { message, code: &code, reason: &reason };
                    match self.queue.dead_letter(letter).await {
                        Ok(()) => {
                            tracing::error!(code, reason, "permanent failure: sent to the DLQ");
                            Outcome::DeadLettered
                        }
                        Err(e) => {
                            // Not on the DLQ, so not acked: SQS redelivers it.
                            tracing::error!(code, reason, error = %error_chain(&*e), "permanent failure, DLQ send failed: left for retry");
                            Outcome::Failed
                        }
                    }
                }
                Err(HandlerError::Transient(e)) => {
                    tracing::warn!(error = %error_chain(&*e), "transient failure: will be retried");
                    if let Some(backoff) = self.config.backoff {
                        let delay = backoff.delay(meta.receive_count);
                        if let Err(e) = self.queue.delay_retry(message, delay).await {
                            tracing::warn!(error = %error_chain(&*e), "could not delay the retry");
                        }
                    }
                    Outcome::Failed
                }
            }
        }
        .instrument(span.clone())
        .await
    }
}

/// Records dead letters and retry delays in memory, for handler tests.
#[derive(Debug, Default)]
pub struct InMemoryQueue {
    dead_letters: std::sync::Mutex<Vec<(String, String, String)>>,
    delays: std::sync::Mutex<Vec<(String, Duration)>>,
}

impl InMemoryQueue {
    /// `(message id, error code, reason)` of each dead-lettered record.
    pub fn dead_letters(&self) -> Vec<(String, String, String)> {
        self.dead_letters.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `(message id, delay)` of each delayed retry.
    pub fn delays(&self) -> Vec<(String, Duration)> {
        self.delays.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl QueueOps for InMemoryQueue {
    async fn dead_letter(&self, letter: DeadLetter<'_>) -> Result<(), BoxError> {
        let id = letter.message.message_id.clone().unwrap_or_default();
        self.dead_letters.lock().unwrap_or_else(|e| e.into_inner()).push((
            id,
            letter.code.to_owned(),
            letter.reason.to_owned(),
        ));
        Ok(())
    }

    async fn delay_retry(&self, message: &SqsMessage, delay: Duration) -> Result<(), BoxError> {
        let id = message.message_id.clone().unwrap_or_default();
        self.delays.lock().unwrap_or_else(|e| e.into_inner()).push((id, delay));
        Ok(())
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    format!("handler panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_receive_and_caps() {
        let b = Backoff { base: Duration::from_secs(2), max: Duration::from_secs(30) };
        let delays: Vec<u64> = (1..=6).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 30, 30]);
        assert_eq!(b.delay(0).as_secs(), 2);
        assert_eq!(b.delay(u32::MAX).as_secs(), 30);
    }
}
