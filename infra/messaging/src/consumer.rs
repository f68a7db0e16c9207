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

use crate::batch::{BatchProcessor, HandlerError, QueueOps, RecordMeta};
use crate::publisher::{InMemoryPublisher, Publisher};

/// What a consumer logs when a guard row shows an event was handled before
/// (tests and the demo count these lines).
pub const REPEAT_RECOGNISED: &str = "repeat of a handled event: its effect was made before";

/// Permanent errors that say the event reached the wrong consumer, not that
/// its order cannot go on: no step gives up on them.
const NOT_THE_ORDERS_FAULT: [&str; 2] = ["unexpected_event_type", "replay_not_allowed"];

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

    /// `event` can no longer succeed here (`why`: its permanent error, or its
    /// retries spent): the step's failure as its outcome, so the saga moves
    /// on (compensation runs), or `None` when nothing downstream waits on
    /// this step (a view, a message) and the DLQ alone keeps it.
    fn give_up(
        &self,
        event: &Envelope,
        why: &str,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Option<Outcome>, HandlerError>> + Send {
        let _ = (event, why, deadline);
        std::future::ready(Ok(None))
    }
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
        let config = processor.config();
        processor
            .process(event, deadline, &self.publisher, |envelope, meta| async move {
                let last = config.is_last_receive(meta.receive_count);
                self.outcome(&envelope, &meta, last, deadline).await
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

    /// One event, or one replay of it, with its publish (a first delivery).
    pub async fn handle_as(
        &self,
        event: Envelope,
        replay: Option<&str>,
        deadline: Deadline,
    ) -> Result<(), HandlerError> {
        let meta = RecordMeta { message_id: String::new(), receive_count: 1, replay_id: replay.map(str::to_owned) };
        self.deliver(event, &meta, false, deadline).await
    }

    /// One delivery of `event` with its publish; `last`: the queue's last
    /// chance for it (its receive count reached maxReceiveCount).
    pub async fn deliver(
        &self,
        event: Envelope,
        meta: &RecordMeta,
        last: bool,
        deadline: Deadline,
    ) -> Result<(), HandlerError> {
        match self.outcome(&event, meta, last, deadline).await {
            Ok(events) => Ok(self.publisher.publish_all(&events).await?),
            Err(HandlerError::GaveUp { cause, publish }) => {
                self.publisher.publish_all(&publish).await?;
                Err(*cause)
            }
            Err(e) => Err(e),
        }
    }

    /// What to publish for `event`: what its effect caused now, what the
    /// guard row kept from the delivery that made it, or, when this step can
    /// no longer succeed, its failure (the record still goes to the DLQ).
    async fn outcome(
        &self,
        event: &Envelope,
        meta: &RecordMeta,
        last: bool,
        deadline: Deadline,
    ) -> Result<Vec<Envelope>, HandlerError> {
        match self.attempt(event, meta.replay_id.as_deref(), deadline).await {
            Ok(events) => Ok(events),
            Err(e) if e.is_transient() && !last => Err(e),
            Err(e) => {
                let cause =
                    if e.is_transient() { HandlerError::Exhausted(shopsphere_runtime::error_chain(&e)) } else { e };
                // A wiring or replay refusal is not this step failing its order.
                if matches!(&cause, HandlerError::Permanent { code, .. } if NOT_THE_ORDERS_FAULT.contains(&code.as_str()))
                {
                    return Err(cause);
                }
                match self.service.give_up(event, &cause.to_string(), deadline).await? {
                    None => Err(cause),
                    Some(outcome) => {
                        let publish = self.published(outcome);
                        tracing::warn!(failures = publish.len(), "gave up on the event: its step's failure goes out");
                        Err(HandlerError::GaveUp { cause: Box::new(cause), publish })
                    }
                }
            }
        }
    }

    fn published(&self, outcome: Outcome) -> Vec<Envelope> {
        match outcome {
            Outcome::Applied(events) => events,
            Outcome::Repeat(events) => {
                tracing::info!(republished = events.len(), "{REPEAT_RECOGNISED}");
                events
            }
        }
    }

    /// `event` handled once: what to publish.
    async fn attempt(
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
        Ok(self.published(self.service.handle(event, deadline).await?))
    }
}

impl<Svc: Service> Consumer<Svc, InMemoryPublisher> {
    /// A consumer publishing in memory (domain unit tests).
    pub fn in_memory(service: Svc) -> Self {
        Consumer { service, publisher: InMemoryPublisher::default() }
    }
}
