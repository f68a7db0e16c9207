//! An SQS event source mapping, driven as Lambda drives it: long polls,
//! batches of up to `BatchSize` gathered for at most the batching window,
//! one invocation per batch on its own instance, delete on success, keep the
//! ids a partial batch response names, keep the whole batch on a function
//! error (SQS's redrive then moves a message that keeps failing to its DLQ).
//! Pollers scale up while messages come, to the mapping's maximum
//! concurrency, and back down to one when the queue is empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName};
use futures::future::BoxFuture;

use crate::function::Function;
use crate::stack::SqsSource;

/// Long-poll wait. Shorter than Lambda's 20 s so a stopped mapping lets go
/// of the queue within this long (a receive is never abandoned: its
/// messages would stay invisible for the visibility timeout).
const WAIT: Duration = Duration::from_secs(2);
/// Between the short polls that fill the last second of a batching window.
const SHORT_POLL_GAP: Duration = Duration::from_millis(250);

pub struct SqsMapping {
    pub function: Arc<Function>,
    pub source: SqsSource,
    pub queue_url: String,
    pub queue_arn: String,
    pub region: String,
    pub sqs: aws_sdk_sqs::Client,
    pollers: AtomicUsize,
}

impl SqsMapping {
    pub async fn new(
        function: Arc<Function>,
        source: SqsSource,
        queue_url: String,
        region: String,
        sqs: aws_sdk_sqs::Client,
    ) -> anyhow::Result<Arc<SqsMapping>> {
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| anyhow::anyhow!("{queue_url} has no QueueArn"))?;
        Ok(Arc::new(SqsMapping { function, source, queue_url, queue_arn, region, sqs, pollers: AtomicUsize::new(0) }))
    }

    /// Pollers running now.
    pub fn pollers(&self) -> usize {
        self.pollers.load(Ordering::SeqCst)
    }

    /// Run until the host stops: one poller while the function is switched
    /// on, more while batches keep coming.
    pub async fn run(self: Arc<Self>) {
        if !self.source.enabled {
            return;
        }
        let mut switch = self.function.switch();
        loop {
            if switch.borrow_and_update().running {
                self.spawn_poller(true);
            }
            if switch.changed().await.is_err() {
                return;
            }
            // Wait for the running pollers to wind down before a restart
            // starts a new base poller.
            while self.pollers() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    fn concurrency(&self) -> usize {
        self.function.current_switch().concurrency.unwrap_or(self.source.maximum_concurrency).max(1)
    }

    fn spawn_poller(self: &Arc<Self>, base: bool) {
        self.pollers.fetch_add(1, Ordering::SeqCst);
        // Boxed: a poller spawns pollers, and a recursive future needs a name.
        let poller: BoxFuture<'static, ()> = Box::pin(self.clone().poll(base));
        tokio::spawn(poller);
    }

    /// One poller. The base poller runs while the function is on; the others
    /// leave when the queue runs dry or the concurrency was lowered.
    async fn poll(self: Arc<Self>, base: bool) {
        // Any switch change (stop, start, new concurrency) ends every poller;
        // `run` then starts afresh.
        let switch = self.function.switch();
        loop {
            let changed = switch.has_changed().unwrap_or(true);
            if changed || !switch.borrow().running || (!base && self.pollers() > self.concurrency()) {
                break;
            }
            let batch = match self.gather().await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(function = %self.function.spec.logical_id, "receive failed: {e:#}");
                    tokio::time::sleep(WAIT).await;
                    continue;
                }
            };
            if batch.is_empty() {
                if base {
                    continue;
                }
                break;
            }
            // A batch came: another poller may help, up to the maximum.
            if self.pollers() < self.concurrency() {
                self.spawn_poller(false);
            }
            self.deliver(batch).await;
        }
        self.pollers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Up to `BatchSize` messages: the first long poll, then more for at most
    /// the batching window.
    async fn gather(&self) -> anyhow::Result<Vec<Message>> {
        let mut batch = self.receive(self.source.batch_size, WAIT).await?;
        let deadline = Instant::now() + self.source.batching_window;
        while !batch.is_empty() && batch.len() < self.source.batch_size {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // SQS waits in whole seconds: under one second left, poll at short
            // intervals rather than spin with zero-second receives (that
            // loaded LocalStack with ~100 empty receives a second).
            let wait = if left < Duration::from_secs(1) {
                tokio::time::sleep(left.min(SHORT_POLL_GAP)).await;
                Duration::ZERO
            } else {
                left
            };
            let more = self.receive(self.source.batch_size - batch.len(), wait).await?;
            batch.extend(more);
        }
        Ok(batch)
    }

    async fn receive(&self, max: usize, wait: Duration) -> anyhow::Result<Vec<Message>> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await?;
        Ok(out.messages.unwrap_or_default())
    }

    /// Invoke with the batch and settle it with SQS.
    async fn deliver(&self, batch: Vec<Message>) {
        let event = lambda_event(&self.queue_arn, &self.region, &batch);
        let payload = serde_json::to_vec(&event).expect("an SQS event serializes");
        let keep = self
            .function
            .answer(payload.into(), batch.len(), &self.region)
            .await
            .and_then(|body| self.failed_ids(&body, &batch));
        // None: the whole batch stays; its messages return after the visibility timeout.
        let Some(keep) = keep else { return };
        let done: Vec<_> =
            batch.iter().filter(|m| !keep.iter().any(|id| Some(id.as_str()) == m.message_id())).collect();
        for chunk in done.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .expect("id and receipt handle are set")
                })
                .collect();
            let deleted =
                self.sqs.delete_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await;
            match deleted {
                Ok(out) if out.failed().is_empty() => {}
                Ok(out) => tracing::warn!("some deletes failed (they will be redelivered): {:?}", out.failed()),
                Err(e) => tracing::warn!("delete failed (the batch will be redelivered): {e}"),
            }
        }
    }

    /// The ids to keep from a response: the listed failures when the mapping
    /// reports batch item failures, none otherwise. `None` (keep the whole
    /// batch) for a response Lambda would reject: not a batch response, or
    /// naming an id that is not in the batch.
    fn failed_ids(&self, body: &[u8], batch: &[Message]) -> Option<Vec<String>> {
        if !self.source.report_batch_item_failures {
            return Some(vec![]);
        }
        if body.is_empty() || body == b"null" {
            return Some(vec![]);
        }
        let response: SqsBatchResponse = match serde_json::from_slice(body) {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!("unreadable batch response ({e}): the whole batch is retried");
                return None;
            }
        };
        let ids: Vec<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
        let known = ids.iter().all(|id| batch.iter().any(|m| m.message_id() == Some(id.as_str())));
        known.then_some(ids)
    }
}

/// The Lambda SQS event for `messages` received from the queue `queue_arn`.
pub fn lambda_event(queue_arn: &str, region: &str, messages: &[Message]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.md5_of_message_attributes = m.md5_of_message_attributes.clone();
            record.event_source = Some("aws:sqs".into());
            record.event_source_arn = Some(queue_arn.to_owned());
            record.aws_region = Some(region.to_owned());
            record.attributes = m
                .attributes()
                .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
                .unwrap_or_default();
            record.message_attributes = m
                .message_attributes()
                .map(|attrs| {
                    attrs
                        .iter()
                        .map(|(k, v)| {
                            let mut a = SqsMessageAttribute::default();
                            a.string_value = v.string_value.clone();
                            a.binary_value = v.binary_value.as_ref().map(|b| {
                                let mut data = Base64Data::default();
                                data.extend_from_slice(b.as_ref());
                                data
                            });
                            a.data_type = Some(v.data_type.clone());
                            (k.clone(), a)
                        })
                        .collect()
                })
                .unwrap_or_default();
            record
        })
        .collect();
    event
}
