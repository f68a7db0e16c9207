//! An event consumer: the one loop every SQS-triggered function runs.
//!
//! For each record: check the type is one the service declared, take the
//! idempotency key `<function>#<event id>`, let the service decide (domain
//! logic, reads only), commit its effect together with the COMPLETED record
//! (which stores the events to emit), then publish those events. A repeat of
//! a completed event re-publishes the stored events with the same ids, so a
//! crash between commit and publish loses nothing.

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Deserializer, Serialize};
use shopsphere_events::{Envelope, EventType, decode_envelope};
use shopsphere_idempotency::{
    Begin, CommitError, Deadline, DynamoDbStore, Idempotency, IdempotencyError, IdempotencyStore, InMemoryStore,
    StoreError, Ticket,
};

use crate::batch::{BatchProcessor, HandlerError, QueueOps};
use crate::publisher::{InMemoryPublisher, Publisher};

/// What a service decided for one event: a business effect and the events it causes.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision<E> {
    pub effect: E,
    pub emit: Vec<Envelope>,
}

impl<E> Decision<E> {
    pub fn new(effect: E, emit: Vec<Envelope>) -> Self {
        Decision { effect, emit }
    }
}

/// The domain side of a consumer.
pub trait Service: Send + Sync {
    /// Function name, the prefix of its idempotency keys.
    const FUNCTION: &'static str;
    /// The event types this service handles: also what its queue must be
    /// subscribed to (checked against template.yaml).
    const HANDLES: &'static [EventType];
    type Effect: Send + Sync;
    /// Decide-and-commit rounds within one invocation when the commit loses a
    /// race (a business condition fails). 1: a lost race is a transient
    /// failure, retried by SQS. More suits services whose `decide` has no
    /// external effect and whose state is contended (a row per order).
    const COMMIT_ATTEMPTS: u32 = 1;
    /// Whether replayed events (`replay_id` attribute) are handled again under
    /// a fresh idempotency key: only for services whose effect is a view that
    /// applying an event twice leaves unchanged, and that publish nothing.
    /// Others dead-letter a replay (a second charge is not a rebuild).
    const REPLAYABLE: bool = false;

    /// Decide what `event` means. May read state and call external ports; must
    /// not write state (the effect is committed by the consumer).
    fn decide(&self, event: &Envelope) -> impl Future<Output = Result<Decision<Self::Effect>, HandlerError>> + Send;
}

/// The events a completed record stores, to re-publish on a repeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Emitted(pub Vec<Envelope>);

impl<'de> Deserialize<'de> for Emitted {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<serde_json::Value>::deserialize(d)?;
        raw.into_iter().map(decode_envelope).collect::<Result<_, _>>().map(Emitted).map_err(serde::de::Error::custom)
    }
}

/// Commits an effect and the idempotency completion (carrying `output`, the
/// result a repeat gets) as one atomic step.
pub trait EffectSink<E>: Send + Sync {
    fn commit<T: Serialize + Sync>(
        &self,
        ticket: &Ticket,
        effect: &E,
        output: &T,
    ) -> impl Future<Output = Result<(), CommitError>> + Send;
}

/// How an effect becomes DynamoDB writes (implemented by a service's adapter).
pub trait TransactWrites<E>: Send + Sync {
    fn writes(&self, effect: &E) -> Vec<TransactWriteItem>;
}

/// The production sink: the effect's writes and the COMPLETED record in one
/// TransactWriteItems.
#[derive(Debug, Clone)]
pub struct DynamoDbSink<W> {
    store: DynamoDbStore,
    writes: W,
}

impl<W> DynamoDbSink<W> {
    pub fn new(store: DynamoDbStore, writes: W) -> Self {
        DynamoDbSink { store, writes }
    }
}

impl<E: Sync, W: TransactWrites<E>> EffectSink<E> for DynamoDbSink<W> {
    async fn commit<T: Serialize + Sync>(&self, ticket: &Ticket, effect: &E, output: &T) -> Result<(), CommitError> {
        self.store.commit_with(ticket, output, self.writes.writes(effect)).await
    }
}

/// Applies an effect to in-memory state (a service's fake repository).
pub trait ApplyEffect<E>: Send + Sync {
    /// Apply all of `effect` or none of it; `Err` names the failed condition.
    fn apply(&self, effect: &E) -> Result<(), String>;
}

/// The unit-test sink: applies the effect to a fake, completes in an in-memory store.
pub struct InMemorySink<A> {
    pub store: Arc<InMemoryStore>,
    pub state: A,
}

impl<E: Sync, A: ApplyEffect<E>> EffectSink<E> for InMemorySink<A> {
    async fn commit<T: Serialize + Sync>(&self, ticket: &Ticket, effect: &E, output: &T) -> Result<(), CommitError> {
        let completed = ticket
            .completed_record(output)
            .map_err(|e| StoreError::Corrupt { key: ticket.key.clone(), reason: e.to_string() })?;
        // Check ownership before applying, so a lost key changes nothing.
        let current = self.store.get(&ticket.key);
        if current.and_then(|r| r.in_progress_expiration) != Some(ticket.owner_token) {
            return Err(StoreError::OwnershipLost { key: ticket.key.clone() }.into());
        }
        self.state.apply(effect).map_err(|_| CommitError::BusinessCondition(vec![0]))?;
        self.store.complete(&completed, ticket.owner_token).await?;
        Ok(())
    }
}

/// A service wired to its idempotency store, effect sink and publisher.
pub struct Consumer<Svc, Sink, St, P> {
    pub service: Svc,
    pub sink: Sink,
    pub idempotency: Idempotency<St>,
    pub publisher: P,
}

impl<Svc, Sink, St, P> Consumer<Svc, Sink, St, P>
where
    Svc: Service,
    Sink: EffectSink<Svc::Effect>,
    St: IdempotencyStore,
    P: Publisher,
{
    /// One SQS batch (the Lambda handler's body).
    pub async fn handle_batch<Q: QueueOps>(
        &self,
        processor: &BatchProcessor<Q>,
        event: SqsEvent,
        deadline: Deadline,
    ) -> SqsBatchResponse {
        processor
            .process(event, |envelope, meta| async move {
                self.handle_as(envelope, meta.replay_id.as_deref(), deadline).await
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

    /// One event, exactly once in effect.
    pub async fn handle(&self, event: Envelope, deadline: Deadline) -> Result<(), HandlerError> {
        self.handle_as(event, None, deadline).await
    }

    /// One event, or one replay of it: once in effect per replay.
    pub async fn handle_as(
        &self,
        event: Envelope,
        replay: Option<&str>,
        deadline: Deadline,
    ) -> Result<(), HandlerError> {
        if !Svc::HANDLES.contains(&event.kind()) {
            return Err(HandlerError::permanent(
                "unexpected_event_type",
                format!("{} does not handle {} (subscription wiring is wrong)", Svc::FUNCTION, event.kind()),
            ));
        }
        let key = match replay {
            None => format!("{}#{}", Svc::FUNCTION, event.id),
            Some(replay) if Svc::REPLAYABLE => format!("{}#{}#replay/{replay}", Svc::FUNCTION, event.id),
            Some(replay) => {
                return Err(HandlerError::permanent(
                    "replay_not_allowed",
                    format!(
                        "{} does not take replays (replay {replay}): its effects are not a rebuildable view",
                        Svc::FUNCTION
                    ),
                ));
            }
        };
        let ticket = match self.idempotency.begin::<_, Emitted, HandlerError>(&key, &event.data, deadline).await? {
            Begin::Done(Emitted(events)) => {
                tracing::info!(key, republished = events.len(), "duplicate event: effect already committed");
                return Ok(self.publisher.publish_all(&events).await?);
            }
            Begin::Run(ticket) => ticket,
        };
        let mut attempt = 1;
        let emitted = loop {
            let decision = match self.service.decide(&event).await {
                Ok(decision) => decision,
                Err(e) => {
                    self.idempotency.release(&ticket).await;
                    return Err(e);
                }
            };
            let emitted = Emitted(decision.emit);
            match self.commit(&ticket, &decision.effect, &emitted).await {
                Ok(()) => break emitted,
                // Optimistic concurrency: someone wrote the state we decided on; decide again.
                Err(CommitError::BusinessCondition(_)) if attempt < Svc::COMMIT_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(10 * u64::from(attempt))).await;
                }
                Err(e) => {
                    if !matches!(e, CommitError::Store(StoreError::OwnershipLost { .. })) {
                        self.idempotency.release(&ticket).await;
                    }
                    return Err(commit_error(&key, e));
                }
            }
        };
        // Committed: a failure from here on is retried as a repeat, which re-publishes.
        self.publisher.publish_all(&emitted.0).await?;
        Ok(())
    }
}

/// Commits retried in place when the store is unavailable: the decision may
/// have had an outside effect (an email sent) that deciding again would repeat.
const STORE_RETRIES: u32 = 3;

impl<Svc, Sink, St, P> Consumer<Svc, Sink, St, P>
where
    Svc: Service,
    Sink: EffectSink<Svc::Effect>,
{
    /// Commit one decision, retrying a store that is briefly unavailable. If an
    /// earlier attempt did commit, the retry finds the key completed
    /// (`OwnershipLost`) and the redelivery re-publishes; nothing is redone.
    async fn commit(&self, ticket: &Ticket, effect: &Svc::Effect, emitted: &Emitted) -> Result<(), CommitError> {
        let mut retries = 0;
        loop {
            match self.sink.commit(ticket, effect, emitted).await {
                Err(CommitError::Store(StoreError::Unavailable(e))) if retries < STORE_RETRIES => {
                    retries += 1;
                    tracing::warn!(error = %shopsphere_runtime::error_chain(&*e), retries, "commit failed; retrying it");
                    tokio::time::sleep(std::time::Duration::from_millis(50 << retries)).await;
                }
                other => return other,
            }
        }
    }
}

impl<Svc: Service, A: ApplyEffect<Svc::Effect>> Consumer<Svc, InMemorySink<A>, Arc<InMemoryStore>, InMemoryPublisher> {
    /// A consumer over in-memory state, store and publisher (domain unit tests).
    pub fn in_memory(service: Svc, state: A) -> Self {
        let store = Arc::new(InMemoryStore::new());
        Consumer {
            service,
            sink: InMemorySink { store: store.clone(), state },
            idempotency: Idempotency::new(store),
            publisher: InMemoryPublisher::default(),
        }
    }
}

fn commit_error(key: &str, e: CommitError) -> HandlerError {
    match e {
        // Someone changed the state we decided on (a race): decide again on retry.
        CommitError::BusinessCondition(failed) => {
            HandlerError::transient(format!("commit of {key} lost a race: write(s) {failed:?} failed their condition"))
        }
        CommitError::Store(e) => IdempotencyError::<HandlerError>::Store(e).into(),
    }
}
