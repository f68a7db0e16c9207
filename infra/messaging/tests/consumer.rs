//! The consumer loop over in-memory parts: decide, commit, publish, retry.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use shopsphere_events::{Envelope, EventType, samples};
use shopsphere_idempotency::{CommitError, Deadline, Idempotency, InMemoryStore, StoreError, Ticket};
use shopsphere_messaging::{
    ApplyEffect, Consumer, Decision, EffectSink, HandlerError, InMemoryPublisher, InMemorySink, Service,
};

/// Answers InventoryUpdated with OrderShipped; its effect is the decision count.
struct Racy {
    decisions: AtomicU32,
}

impl Service for &Racy {
    const FUNCTION: &'static str = "racy";
    const HANDLES: &'static [EventType] = &[EventType::InventoryUpdated];
    type Effect = u32;
    const COMMIT_ATTEMPTS: u32 = 3;

    async fn decide(&self, event: &Envelope) -> Result<Decision<u32>, HandlerError> {
        let n = self.decisions.fetch_add(1, Ordering::SeqCst) + 1;
        let order = samples::order_created(&event.subject, "tok_visa");
        Ok(Decision::new(n, vec![samples::order_shipped(event, &order)]))
    }
}

/// Loses the first `losses` commits to a concurrent writer.
struct Contended {
    losses: AtomicU32,
}

impl ApplyEffect<u32> for &Contended {
    fn apply(&self, _: &u32) -> Result<(), String> {
        match self.losses.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
            Ok(_) => Err("version changed".into()),
            Err(_) => Ok(()),
        }
    }
}

fn updated() -> Envelope {
    common::event("o-1")
}

#[tokio::test]
async fn a_lost_race_is_decided_again_within_the_attempts() {
    let (service, state) = (Racy { decisions: AtomicU32::new(0) }, Contended { losses: AtomicU32::new(2) });
    let c = Consumer::in_memory(&service, &state);
    c.handle(updated(), Deadline::default()).await.unwrap();
    assert_eq!(service.decisions.load(Ordering::SeqCst), 3);
    assert_eq!(c.publisher.published().len(), 1, "published once, after the commit that won");
}

#[tokio::test]
async fn losing_every_attempt_is_transient_and_frees_the_key() {
    let (service, state) = (Racy { decisions: AtomicU32::new(0) }, Contended { losses: AtomicU32::new(3) });
    let c = Consumer::in_memory(&service, &state);
    let err = c.handle(updated(), Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Transient(_)), "{err}");
    assert!(c.publisher.published().is_empty(), "nothing published without a commit");
    c.handle(updated(), Deadline::default()).await.unwrap();
    assert_eq!(c.publisher.published().len(), 1, "the redelivery runs again");
}

#[tokio::test]
async fn a_repeat_after_commit_republishes_the_stored_events_without_deciding() {
    let (service, state) = (Racy { decisions: AtomicU32::new(0) }, Contended { losses: AtomicU32::new(0) });
    let c = Consumer::in_memory(&service, &state);
    c.handle(updated(), Deadline::default()).await.unwrap();
    c.handle(updated(), Deadline::default()).await.unwrap();
    assert_eq!(service.decisions.load(Ordering::SeqCst), 1);
    let published = c.publisher.published();
    assert_eq!(published.len(), 2);
    assert_eq!(published[0], published[1], "the same envelope, id and all");
}

/// The store is unavailable for the first `outages` commits.
struct Unavailable<S> {
    outages: AtomicU32,
    inner: S,
}

impl<S: EffectSink<u32>> EffectSink<u32> for Unavailable<S> {
    async fn commit<T: serde::Serialize + Sync>(
        &self,
        ticket: &Ticket,
        effect: &u32,
        output: &T,
    ) -> Result<(), CommitError> {
        if self.outages.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(StoreError::Unavailable("throttled".into()).into());
        }
        self.inner.commit(ticket, effect, output).await
    }
}

fn consumer_with_outages<'a>(
    service: &'a Racy,
    state: &'a Contended,
    outages: u32,
) -> Consumer<&'a Racy, Unavailable<InMemorySink<&'a Contended>>, Arc<InMemoryStore>, InMemoryPublisher> {
    let store = Arc::new(InMemoryStore::new());
    Consumer {
        service,
        sink: Unavailable { outages: AtomicU32::new(outages), inner: InMemorySink { store: store.clone(), state } },
        idempotency: Idempotency::new(store),
        publisher: InMemoryPublisher::default(),
    }
}

#[tokio::test]
async fn a_briefly_unavailable_store_gets_the_same_decision_again_not_a_new_one() {
    let (service, state) = (Racy { decisions: AtomicU32::new(0) }, Contended { losses: AtomicU32::new(0) });
    let c = consumer_with_outages(&service, &state, 2);
    c.handle(updated(), Deadline::default()).await.unwrap();
    assert_eq!(service.decisions.load(Ordering::SeqCst), 1, "an outside effect of deciding is not repeated");
    assert_eq!(c.publisher.published().len(), 1);
}

#[tokio::test]
async fn a_store_that_stays_unavailable_fails_the_record_for_redelivery() {
    let (service, state) = (Racy { decisions: AtomicU32::new(0) }, Contended { losses: AtomicU32::new(0) });
    let c = consumer_with_outages(&service, &state, 10);
    let err = c.handle(updated(), Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Transient(_)), "{err}");
    assert!(c.publisher.published().is_empty());
}

#[tokio::test]
async fn a_replay_to_a_service_with_outside_effects_is_dead_lettered_not_redone() {
    let (service, state) = (Racy { decisions: AtomicU32::new(0) }, Contended { losses: AtomicU32::new(0) });
    let c = Consumer::in_memory(&service, &state);
    c.handle(updated(), Deadline::default()).await.unwrap();
    let err = c.handle_as(updated(), Some("r-1"), Deadline::default()).await.unwrap_err();
    assert!(matches!(&err, HandlerError::Permanent { code, .. } if code == "replay_not_allowed"), "{err}");
    assert_eq!(service.decisions.load(Ordering::SeqCst), 1);
}
