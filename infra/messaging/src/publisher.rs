//! Publishing events: one SNS topic per event type (docs/architecture.md).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_sns::Client;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use shopsphere_events::{Envelope, ErrorClass, EventType};
use shopsphere_runtime::{BoxError, ConfigError, env_var};
use uuid::Uuid;

/// SNS accepts at most ten entries per PublishBatch.
pub const SNS_BATCH_LIMIT: usize = 10;
/// Attempts per batch entry that SNS reports failed (not sender faults).
const ENTRY_ATTEMPTS: u32 = 3;

/// One entry SNS would not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEntry {
    pub event_id: String,
    pub code: String,
    pub message: String,
    pub sender_fault: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("no topic configured for {0} (this function may not publish it)")]
    NoTopic(EventType),
    #[error("SNS request failed: {0}")]
    Sns(#[source] BoxError),
    /// SNS refused the request itself as invalid (`InvalidParameter`...): the
    /// same request fails the same way.
    #[error("SNS refused the request: {0}")]
    Refused(#[source] BoxError),
    #[error("SNS rejected {} event(s): {}", .0.len(), describe(.0))]
    Rejected(Vec<RejectedEntry>),
}

fn describe(entries: &[RejectedEntry]) -> String {
    entries.iter().map(|e| format!("{} ({}: {})", e.event_id, e.code, e.message)).collect::<Vec<_>>().join(", ")
}

/// Events that are not on their topics after `publish_all`, and why (the
/// first failure; the others were of the same request or kind).
#[derive(Debug, thiserror::Error)]
#[error("{} event(s) not published", .events.len())]
pub struct Unpublished {
    pub events: Vec<Uuid>,
    #[source]
    pub error: PublishError,
}

impl PublishError {
    pub fn class(&self) -> ErrorClass {
        match self {
            PublishError::NoTopic(_) | PublishError::Refused(_) => ErrorClass::Permanent,
            PublishError::Rejected(entries) if entries.iter().all(|e| e.sender_fault) => ErrorClass::Permanent,
            _ => ErrorClass::Transient,
        }
    }
}

/// Where events go. Implemented by [`SnsPublisher`]; domain tests use fakes.
pub trait Publisher: Send + Sync {
    /// Publish every event; on success each is on its topic, else the error
    /// names those that are not (the others went out).
    fn publish_all(&self, events: &[Envelope]) -> impl Future<Output = Result<(), Unpublished>> + Send;

    fn publish(&self, event: &Envelope) -> impl Future<Output = Result<(), PublishError>> + Send {
        async move { self.publish_all(std::slice::from_ref(event)).await.map_err(|e| e.error) }
    }
}

/// Topic ARN per event type, from configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMap(BTreeMap<EventType, String>);

impl TopicMap {
    pub fn new(topics: impl IntoIterator<Item = (EventType, String)>) -> Self {
        TopicMap(topics.into_iter().collect())
    }

    /// The topics of `types`, each from its `<TYPE>_TOPIC_ARN` variable; a
    /// missing one fails at cold start.
    pub fn from_env(types: &[EventType]) -> Result<Self, ConfigError> {
        types.iter().map(|t| Ok((*t, env_var(&t.topic_env_var())?))).collect::<Result<_, _>>().map(TopicMap)
    }

    pub fn arn(&self, event_type: EventType) -> Option<&str> {
        self.0.get(&event_type).map(String::as_str)
    }
}

/// The SNS message attributes every event carries (subscription filters and
/// consumers read them without parsing the body).
fn message_attributes(event: &Envelope) -> Vec<(String, MessageAttributeValue)> {
    let string = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build();
    let mut attrs = vec![("event_type".to_owned(), string(event.kind().name()))];
    if !event.correlationid.is_empty() {
        attrs.push(("correlation_id".to_owned(), string(&event.correlationid)));
    }
    attrs.into_iter().map(|(k, v)| (k, v.expect("data type is set"))).collect()
}

#[derive(Debug, Clone)]
pub struct SnsPublisher {
    client: Client,
    topics: TopicMap,
}

impl SnsPublisher {
    pub fn new(client: Client, topics: TopicMap) -> Self {
        SnsPublisher { client, topics }
    }

    /// Open the connection to SNS at init (GetTopicAttributes of one of its
    /// topics), so the first publish pays no handshake; a failure is only logged.
    pub async fn warm_up(&self) {
        let Some(topic) = self.topics.0.values().next() else { return };
        if let Err(e) = self.client.get_topic_attributes().topic_arn(topic).send().await {
            tracing::warn!(topic, error = %shopsphere_runtime::error_chain(&e), "warm-up request failed");
        }
    }

    fn topic(&self, event: &Envelope) -> Result<&str, PublishError> {
        self.topics.arn(event.kind()).ok_or(PublishError::NoTopic(event.kind()))
    }

    async fn publish_one(&self, event: &Envelope) -> Result<(), PublishError> {
        let topic = self.topic(event)?;
        self.client
            .publish()
            .topic_arn(topic)
            .message(event.to_json())
            .set_message_attributes(Some(message_attributes(event).into_iter().collect()))
            .send()
            .await
            .map_err(request_error)?;
        Ok(())
    }

    /// One PublishBatch of up to ten events to one topic; entries SNS reports
    /// failed are retried (unless the fault is ours), then returned.
    async fn publish_chunk(&self, topic: &str, chunk: &[&Envelope]) -> Result<(), PublishError> {
        let mut pending: Vec<&Envelope> = chunk.to_vec();
        let mut rejected = Vec::new();
        for attempt in 1..=ENTRY_ATTEMPTS {
            let entries = pending
                .iter()
                .map(|e| {
                    PublishBatchRequestEntry::builder()
                        .id(e.id.to_string())
                        .message(e.to_json())
                        .set_message_attributes(Some(message_attributes(e).into_iter().collect()))
                        .build()
                        .expect("id and message are set")
                })
                .collect();
            let out = self
                .client
                .publish_batch()
                .topic_arn(topic)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
                .map_err(request_error)?;
            rejected = out
                .failed()
                .iter()
                .map(|f| RejectedEntry {
                    event_id: f.id().to_owned(),
                    code: f.code().to_owned(),
                    message: f.message().unwrap_or_default().to_owned(),
                    sender_fault: f.sender_fault(),
                })
                .collect::<Vec<_>>();
            if rejected.is_empty() {
                return Ok(());
            }
            if rejected.iter().any(|r| r.sender_fault) || attempt == ENTRY_ATTEMPTS {
                break;
            }
            tracing::warn!(topic, failed = rejected.len(), attempt, "SNS rejected batch entries; retrying them");
            pending.retain(|e| rejected.iter().any(|r| r.event_id == e.id.to_string()));
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
        }
        Err(PublishError::Rejected(rejected))
    }
}

/// Codes of requests SNS will refuse again however often they are sent.
const INVALID_REQUEST_CODES: [&str; 2] = ["InvalidParameter", "InvalidParameterValue"];

/// A failed SNS request's class, from the error code SNS answered with.
fn request_error<E, R>(e: aws_sdk_sns::error::SdkError<E, R>) -> PublishError
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let invalid = e.as_service_error().and_then(|s| s.code()).is_some_and(|c| INVALID_REQUEST_CODES.contains(&c));
    match invalid {
        true => PublishError::Refused(Box::new(e)),
        false => PublishError::Sns(Box::new(e)),
    }
}

impl Publisher for SnsPublisher {
    /// One Publish for a lone event, else one PublishBatch per topic and ten
    /// events; a failed request or entry does not stop the others.
    async fn publish_all(&self, events: &[Envelope]) -> Result<(), Unpublished> {
        let mut by_topic: BTreeMap<&str, Vec<&Envelope>> = BTreeMap::new();
        let mut unpublished = Vec::new();
        let mut first_error = None;
        for event in events {
            match self.topic(event) {
                Ok(topic) => by_topic.entry(topic).or_default().push(event),
                Err(e) => {
                    unpublished.push(event.id);
                    first_error.get_or_insert(e);
                }
            }
        }
        for (topic, events) in by_topic {
            for chunk in events.chunks(SNS_BATCH_LIMIT) {
                let result = match chunk {
                    [event] => self.publish_one(event).await,
                    chunk => self.publish_chunk(topic, chunk).await,
                };
                if let Err(e) = result {
                    match &e {
                        PublishError::Rejected(entries) => {
                            unpublished.extend(
                                chunk
                                    .iter()
                                    .map(|c| c.id)
                                    .filter(|id| entries.iter().any(|r| r.event_id == id.to_string())),
                            );
                        }
                        _ => unpublished.extend(chunk.iter().map(|c| c.id)),
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            None => Ok(()),
            Some(error) => Err(Unpublished { events: unpublished, error }),
        }
    }
}

/// Records what was published, for domain unit tests.
#[derive(Debug, Default)]
pub struct InMemoryPublisher {
    published: std::sync::Mutex<Vec<Envelope>>,
}

impl InMemoryPublisher {
    pub fn published(&self) -> Vec<Envelope> {
        self.published.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Publisher for InMemoryPublisher {
    async fn publish_all(&self, events: &[Envelope]) -> Result<(), Unpublished> {
        self.published.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(events);
        Ok(())
    }
}
