//! An event consumer: the one loop every SQS-triggered function runs.
//!
//! The service makes each event's effect once, guarded by a row keyed by the
//! business (a reservation per order, the shipment per order, the sent-log row
//! per event...), written in the same request as the effect. The guard keeps
//! the events the effect caused; a repeat, recognised from the guard's failed
//! condition, re-publishes them with the same ids, so a crash between commit
//! and publish loses nothing and a repeat causes nothing new. See
//! docs/adr/0005-effect-protocol.md.

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use shopsphere_events::{Envelope, EventType, decode_envelope};
use shopsphere_runtime::Deadline;

use crate::batch::{BatchProcessor, HandlerError, QueueOps};
use crate::publisher::{InMemoryPublisher, Publisher};

/// What a consumer logs when a guard row shows an event was handled before
/// (tests and the demo count these lines).
pub const REPEAT_RECOGNISED: &str = "repeat of a handled event: its effect was made before";

/// What handling one event came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// This delivery made the effect: publish what it caused.
    Applied(Vec<Envelope>),
    /// The guard row shows an earlier delivery made it: re-publish the events
    /// that row keeps (same ids; consumers downstream recognise them).
    Repeat(Vec<Envelope>),
}

/// The domain side of a consumer.
pub trait Service: Send + Sync {
    /// Function name, for logs.
    const FUNCTION: &'static str;
    /// The event types this service handles: also what its queue must be
    /// subscribed to (checked against template.yaml).
    const HANDLES: &'static [EventType];
    /// The event types it publishes: the topics it is given (checked against
    /// template.yaml, read by the wiring).
    const PUBLISHES: &'static [EventType];
    /// Whether replayed events (`replay_id` attribute) are handled: only for
    /// services whose effect is a view that applying an event twice leaves
    /// unchanged, and that publish nothing. Others dead-letter a replay (a
    /// second charge is not a rebuild).
    const REPLAYABLE: bool = false;

    /// Make `event`'s effect once and say what to publish.
    fn handle(
        &self,
        event: &Envelope,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Outcome, HandlerError>> + Send;
}

/// The events a guard row keeps, to re-publish on a repeat: one string
/// attribute holding the envelopes as published (JSON), read back with the
/// tolerant decoder (unknown fields pass).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StoredEvents(pub Vec<Envelope>);

impl Serialize for StoredEvents {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for StoredEvents {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let raw: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(serde::de::Error::custom)?;
        raw.into_iter()
            .map(decode_envelope)
            .collect::<Result<_, _>>()
            .map(StoredEvents)
            .map_err(serde::de::Error::custom)
    }
}

/// A service wired to its publisher.
pub struct Consumer<Svc, P> {
    pub service: Svc,
    pub publisher: P,
}

impl<Svc: Service, P: Publisher> Consumer<Svc, P> {
    /// One SQS batch (the Lambda handler's body): what the batch caused is
    /// published once the events are handled.
    pub async fn handle_batch<Q: QueueOps>(
        &self,
        processor: &BatchProcessor<Q>,
        event: SqsEvent,
        deadline: Deadline,
    ) -> SqsBatchResponse {
        processor
            .process(event, deadline, &self.publisher, |envelope, meta| async move {
                self.outcome(&envelope, meta.replay_id.as_deref(), deadline).await
            })
            .await
    }

    /// One Lambda invocation: the deadline comes from its context.
    pub async fn handle_lambda<Q: QueueOps>(
        &self,
        processor: &BatchProcessor<Q>,
        event: lambda_runtime::LambdaEvent<SqsEvent>,
    ) -> SqsBatchResponse {
        let deadline = Deadline::from(&event.context);
        self.handle_batch(processor, event.payload, deadline).await
    }

    /// One event, its effect and its publish.
    pub async fn handle(&self, event: Envelope, deadline: Deadline) -> Result<(), HandlerError> {
        self.handle_as(event, None, deadline).await
    }

    /// One event, or one replay of it, with its publish.
    pub async fn handle_as(
        &self,
        event: Envelope,
        replay: Option<&str>,
        deadline: Deadline,
    ) -> Result<(), HandlerError> {
        let events = self.outcome(&event, replay, deadline).await?;
        Ok(self.publisher.publish_all(&events).await?)
    }

    /// What to publish for `event`: what its effect caused now, or what the
    /// guard row kept from the delivery that made it.
    async fn outcome(
        &self,
        event: &Envelope,
        replay: Option<&str>,
        deadline: Deadline,
    ) -> Result<Vec<Envelope>, HandlerError> {
        if !Svc::HANDLES.contains(&event.kind()) {
            return Err(HandlerError::permanent(
                "unexpected_event_type",
                format!("{} does not handle {} (subscription wiring is wrong)", Svc::FUNCTION, event.kind()),
            ));
        }
        if let Some(replay) = replay.filter(|_| !Svc::REPLAYABLE) {
            return Err(HandlerError::permanent(
                "replay_not_allowed",
                format!(
                    "{} does not take replays (replay {replay}): its effects are not a rebuildable view",
                    Svc::FUNCTION
                ),
            ));
        }
        match self.service.handle(event, deadline).await? {
            Outcome::Applied(events) => Ok(events),
            Outcome::Repeat(events) => {
                tracing::info!(republished = events.len(), "{REPEAT_RECOGNISED}");
                Ok(events)
            }
        }
    }
}

impl<Svc: Service> Consumer<Svc, InMemoryPublisher> {
    /// A consumer publishing in memory (domain unit tests).
    pub fn in_memory(service: Svc) -> Self {
        Consumer { service, publisher: InMemoryPublisher::default() }
    }
}
