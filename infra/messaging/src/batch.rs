//! The SQS batch processor: decode, run the handler once per event
//! (concurrently, bounded, within the invocation's deadline), publish what the
//! batch caused in one go, answer with the failed ids (ReportBatchItemFailures),
//! dead-letter permanent failures at once.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::{FutureExt, StreamExt};
use shopsphere_events::{DecodeError, Envelope, ErrorClass, decode_sqs_body};
use shopsphere_runtime::dynamodb::TableError;
use shopsphere_runtime::{BoxError, Deadline, error_chain, now_ms};
use tracing::{Instrument, Span, field};
use uuid::Uuid;

use crate::publisher::{PublishError, Publisher, Unpublished};

/// A handler's failure, classified by type.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// May succeed on redelivery: the record is reported failed and retried.
    #[error("{0}")]
    Transient(#[source] BoxError),
    /// Another invocation holds this work (its lease) for `retry_after`: the
    /// record comes back once the lease has run out, not before.
    #[error("{what} (held for {retry_after:?} more)")]
    Held { what: String, retry_after: Duration },
    /// Will never succeed: the record goes to the DLQ with `code` and `reason`.
    #[error("{code}: {reason}")]
    Permanent { code: String, reason: String },
    /// Failed transiently on the last receive the queue allows
    /// (`maxReceiveCount`): the record goes to the DLQ with its last error
    /// (`retries_exhausted`), for an operator; a redrive may succeed.
    #[error("retries spent: {0}")]
    Exhausted(String),
    /// The step gave up on its event (`cause`: a permanent error, or its
    /// retries spent) and made its failure the outcome: `publish` goes out so
    /// the saga moves on (compensation runs), then the record goes to the DLQ
    /// with `cause`, for inspection.
    #[error("gave up ({cause}): {} failure event(s)", publish.len())]
    GaveUp { cause: Box<HandlerError>, publish: Vec<Envelope> },
}

/// The DLQ `error_code` of a record whose retries were spent.
pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";

impl HandlerError {
    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, HandlerError::Transient(_) | HandlerError::Held { .. })
    }

    pub fn transient(error: impl Into<BoxError>) -> Self {
        HandlerError::Transient(error.into())
    }

    pub fn permanent(code: impl Into<String>, reason: impl Into<String>) -> Self {
        HandlerError::Permanent { code: code.into(), reason: reason.into() }
    }

    fn classified(class: ErrorClass, code: &str, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        match class {
            ErrorClass::Transient => HandlerError::transient(error),
            ErrorClass::Permanent => HandlerError::permanent(code, error_chain(&error)),
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

impl From<Unpublished> for HandlerError {
    fn from(e: Unpublished) -> Self {
        e.error.into()
    }
}

impl From<TableError> for HandlerError {
    fn from(e: TableError) -> Self {
        let class = if e.transient { ErrorClass::Transient } else { ErrorClass::Permanent };
        HandlerError::classified(class, "table_request_rejected", e)
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
    /// Whether a redrive may succeed (its retries were spent) or cannot (the
    /// same bytes fail the same way).
    pub class: ErrorClass,
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

/// The cap of a transient retry's delay: SQS's longest visibility timeout is 12 h, 15 min is plenty.
pub const MAX_BACKOFF: Duration = Duration::from_secs(900);

impl Backoff {
    pub fn delay(&self, receive_count: u32) -> Duration {
        let factor = 2u32.saturating_pow(receive_count.saturating_sub(1).min(20));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// How long a record that always fails transiently is retried before its
    /// last receive: the delays after each receive but the last.
    pub fn budget(&self, max_receive_count: u32) -> Duration {
        (1..max_receive_count).map(|n| self.delay(n)).sum()
    }
}

#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Events handled at once within one invocation.
    pub concurrency: usize,
    /// Delay transient retries by ChangeMessageVisibility; `None`: the queue's visibility timeout.
    pub backoff: Option<Backoff>,
    /// The queue's `maxReceiveCount`: a record that fails transiently on that
    /// receive is its step's last chance (`HandlerError::Exhausted`). `None`:
    /// SQS's redrive decides alone.
    pub max_receive_count: Option<u32>,
}

impl ProcessorConfig {
    /// Whether a record on its `receive_count`th receive has no retry left.
    pub fn is_last_receive(&self, receive_count: u32) -> bool {
        self.max_receive_count.is_some_and(|max| receive_count >= max)
    }
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig { concurrency: 10, backoff: None, max_receive_count: None }
    }
}

/// Of the invocation's time, what handling stops short of: the publish, the
/// DLQ sends, the retry delays and the answer itself must fit in it.
pub const ANSWER_RESERVE: Duration = Duration::from_millis(1500);

/// One record of the batch, decoded.
struct Record<'a> {
    message: &'a SqsMessage,
    meta: RecordMeta,
    decoded: Result<Envelope, DecodeError>,
}

/// Records carrying the same event (same id, same replay): handled once.
struct Group {
    records: Vec<usize>,
    span: Span,
    result: Result<Vec<Envelope>, HandlerError>,
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

    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    /// Handle every record and publish the events the handlers return, once
    /// for the whole batch; the response lists exactly the records to retry.
    /// An event that came twice in the batch is handled once and both copies
    /// share its outcome. Never fails as a whole: a batch where every record
    /// failed lists them all.
    pub async fn process<H, Fut, P>(
        &self,
        event: SqsEvent,
        deadline: Deadline,
        publisher: &P,
        handler: H,
    ) -> SqsBatchResponse
    where
        H: Fn(Envelope, RecordMeta) -> Fut,
        Fut: Future<Output = Result<Vec<Envelope>, HandlerError>>,
        P: Publisher,
    {
        let records: Vec<Record<'_>> = event.records.iter().map(decode).collect();
        let work_until = deadline.0.map(|d| d.saturating_sub(duration_ms(ANSWER_RESERVE)));
        let mut groups: Vec<Group> = futures::stream::iter(group(&records))
            .map(|members| self.run_group(&records, members, work_until, &handler))
            .buffered(self.config.concurrency.max(1))
            .collect()
            .await;
        self.publish(&mut groups, deadline, publisher).await;
        // A transient failure on the last receive the queue allows: to the DLQ
        // with its reason now, rather than by SQS's redrive with none.
        for group in &mut groups {
            let last = self.config.is_last_receive(records[group.records[0]].meta.receive_count);
            if last && group.result.as_ref().is_err_and(HandlerError::is_transient) {
                let cause = group.result.as_ref().err().map(|e| error_chain(e)).unwrap_or_default();
                group.result = Err(HandlerError::Exhausted(cause));
            }
        }

        let mut response = SqsBatchResponse::default();
        let (mut dead_lettered, mut failed, mut copies) = (0, 0, 0);
        for group in &groups {
            copies += group.records.len() - 1;
            let leader = &records[group.records[0]];
            let (code, reason, class) = match &group.result {
                Ok(_) => continue,
                Err(HandlerError::Held { retry_after, .. }) => {
                    failed += self.fail(&records, group, &mut response, Some(*retry_after)).await;
                    continue;
                }
                Err(HandlerError::Transient(_)) => {
                    failed += self.fail(&records, group, &mut response, None).await;
                    continue;
                }
                Err(e) => dead_letter_of(e),
            };
            let letter = DeadLetter { message: leader.message, code, reason: &reason, class };
            match self.queue.dead_letter(letter).instrument(group.span.clone()).await {
                Ok(()) => {
                    group.span.in_scope(|| tracing::error!(code, reason, "sent to the DLQ"));
                    dead_lettered += 1;
                }
                Err(e) => {
                    // Not on the DLQ, so not acked: SQS redelivers it.
                    group.span.in_scope(
                        || tracing::error!(code, reason, error = %error_chain(&*e), "DLQ send failed: left for retry"),
                    );
                    failed += self.fail(&records, group, &mut response, None).await;
                }
            }
        }
        tracing::info!(records = records.len(), failed, dead_lettered, copies, "batch processed");
        response
    }

    /// Report the group's records failed, each delayed by its backoff (or
    /// until `held` runs out); how many.
    async fn fail(
        &self,
        records: &[Record<'_>],
        group: &Group,
        response: &mut SqsBatchResponse,
        held: Option<Duration>,
    ) -> usize {
        for &i in &group.records {
            let record = &records[i];
            response.add_failure(record.meta.message_id.clone());
            let backoff = self.config.backoff.map(|b| b.delay(record.meta.receive_count));
            if let Some(delay) = backoff.into_iter().chain(held).max()
                && let Err(e) = self.queue.delay_retry(record.message, delay).instrument(group.span.clone()).await
            {
                group.span.in_scope(|| tracing::warn!(error = %error_chain(&*e), "could not delay the retry"));
            }
        }
        group.records.len()
    }

    async fn run_group<H, Fut>(
        &self,
        records: &[Record<'_>],
        members: Vec<usize>,
        work_until: Option<i64>,
        handler: &H,
    ) -> Group
    where
        H: Fn(Envelope, RecordMeta) -> Fut,
        Fut: Future<Output = Result<Vec<Envelope>, HandlerError>>,
    {
        let leader = &records[members[0]];
        let span = tracing::info_span!(
            "sqs_record",
            message_id = %leader.meta.message_id,
            receive_count = leader.meta.receive_count,
            event_id = field::Empty,
            event_type = field::Empty,
            correlation_id = field::Empty,
        );
        let result = async {
            if members.len() > 1 {
                tracing::info!(copies = members.len() - 1, "the same event came more than once in this batch");
            }
            let envelope = match &leader.decoded {
                Ok(envelope) => envelope.clone(),
                Err(e) => return Err(e.clone().into()),
            };
            Span::current().record("event_id", field::display(envelope.id));
            Span::current().record("event_type", envelope.kind().name());
            Span::current().record("correlation_id", envelope.correlationid.as_str());
            let work = AssertUnwindSafe(handler(envelope, leader.meta.clone())).catch_unwind();
            let outcome = match work_until {
                Some(until) => {
                    let left = Duration::from_millis(u64::try_from(until - now_ms()).unwrap_or(0));
                    match tokio::time::timeout(left, work).await {
                        Ok(outcome) => outcome,
                        Err(_) => return Err(HandlerError::transient("not done before the invocation's deadline")),
                    }
                }
                None => work.await,
            };
            let result = outcome.unwrap_or_else(|panic| Err(HandlerError::transient(panic_message(&panic))));
            if let Err(e) = &result
                && e.is_transient()
            {
                tracing::warn!(error = %error_chain(e), "transient failure: will be retried");
            }
            result
        }
        .instrument(span.clone())
        .await;
        Group { records: members, span, result }
    }

    /// Publish every event the batch caused in one go (PublishBatch per topic);
    /// the groups whose events did not all get out fail, so SQS retries them
    /// and their guard rows re-publish.
    async fn publish<P: Publisher>(&self, groups: &mut [Group], deadline: Deadline, publisher: &P) {
        let events: Vec<Envelope> = groups.iter().flat_map(|g| to_publish(&g.result)).cloned().collect();
        if events.is_empty() {
            return;
        }
        let publish = publisher.publish_all(&events);
        let result = match deadline.remaining(now_ms()) {
            Some(left) => {
                tokio::time::timeout(left.saturating_sub(ANSWER_RESERVE / 2), publish).await.unwrap_or_else(|_| {
                    Err(Unpublished {
                        events: events.iter().map(|e| e.id).collect(),
                        error: PublishError::Sns("no answer before the invocation's deadline".into()),
                    })
                })
            }
            None => publish.await,
        };
        let Err(unpublished) = result else { return };
        tracing::warn!(error = %error_chain(&unpublished), "events not published: their records are retried");
        let class = unpublished.error.class();
        for group in groups.iter_mut() {
            let missed = to_publish(&group.result).iter().any(|e| unpublished.events.contains(&e.id));
            if missed {
                let reason = error_chain(&unpublished);
                group.result = Err(match class {
                    ErrorClass::Transient => HandlerError::transient(reason),
                    ErrorClass::Permanent => HandlerError::permanent("publish_rejected", reason),
                });
            }
        }
    }
}

/// The events a handler's result has the batch publish.
fn to_publish(result: &Result<Vec<Envelope>, HandlerError>) -> &[Envelope] {
    match result {
        Ok(events) | Err(HandlerError::GaveUp { publish: events, .. }) => events,
        Err(_) => &[],
    }
}

/// The DLQ code, reason and class of an error that ends a record's retries.
fn dead_letter_of(e: &HandlerError) -> (&str, String, ErrorClass) {
    match e {
        HandlerError::Permanent { code, reason } => (code, reason.clone(), ErrorClass::Permanent),
        HandlerError::GaveUp { cause, .. } => dead_letter_of(cause),
        other => (RETRIES_EXHAUSTED, error_chain(other), ErrorClass::Transient),
    }
}

fn decode(message: &SqsMessage) -> Record<'_> {
    let meta = RecordMeta {
        message_id: message.message_id.clone().unwrap_or_default(),
        receive_count: message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1),
        replay_id: message.message_attributes.get(REPLAY_ID).and_then(|a| a.string_value.clone()),
    };
    Record { message, meta, decoded: decode_sqs_body(message.body.as_deref().unwrap_or_default()) }
}

/// Indexes of the records, grouped by the event they carry (id and replay);
/// an undecodable record is a group of its own.
fn group(records: &[Record<'_>]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_event: HashMap<(Uuid, Option<&str>), usize> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        match &record.decoded {
            Ok(envelope) => match by_event.entry((envelope.id, record.meta.replay_id.as_deref())) {
                std::collections::hash_map::Entry::Occupied(g) => groups[*g.get()].push(i),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(groups.len());
                    groups.push(vec![i]);
                }
            },
            Err(_) => groups.push(vec![i]),
        }
    }
    groups
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
        assert_eq!(b.budget(4).as_secs(), 2 + 4 + 8);
        assert_eq!(b.budget(1), Duration::ZERO);
    }
}
