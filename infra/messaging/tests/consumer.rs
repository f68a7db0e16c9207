//! The consumer loop over in-memory parts: handle, publish, repeat.

mod common;

use std::sync::Mutex;

use shopsphere_events::{Envelope, EventType, samples};
use shopsphere_messaging::{
    BatchProcessor, Consumer, HandlerError, InMemoryQueue, Outcome, ProcessorConfig, Service, StoredEvents,
};
use shopsphere_runtime::Deadline;

/// Answers InventoryUpdated with OrderShipped, guarded like a business row:
/// the first delivery of an order stores its event, a repeat gets it back.
#[derive(Default)]
struct Shipper {
    rows: Mutex<Vec<(String, StoredEvents)>>,
}

impl Service for &Shipper {
    const FUNCTION: &'static str = "shipper";
    const HANDLES: &'static [EventType] = &[EventType::InventoryUpdated];
    const PUBLISHES: &'static [EventType] = &[EventType::OrderShipped];

    async fn handle(&self, event: &Envelope, _: Deadline) -> Result<Outcome, HandlerError> {
        let mut rows = self.rows.lock().unwrap();
        if let Some((_, stored)) = rows.iter().find(|(order, _)| *order == event.subject) {
            return Ok(Outcome::Repeat(stored.0.clone()));
        }
        let order = samples::order_created(&event.subject);
        let shipped = StoredEvents(vec![samples::order_shipped(event, &order)]);
        rows.push((event.subject.clone(), shipped.clone()));
        Ok(Outcome::Applied(shipped.0))
    }
}

#[tokio::test]
async fn a_repeat_republishes_the_stored_event_with_its_id() {
    let shipper = Shipper::default();
    let c = Consumer::in_memory(&shipper);
    c.handle(common::event("o-1"), Deadline::default()).await.unwrap();
    c.handle(common::event("o-1"), Deadline::default()).await.unwrap();
    let published = c.publisher.published();
    assert_eq!(published.len(), 2);
    assert_eq!(published[0], published[1], "the same envelope, id and all");
    assert_eq!(shipper.rows.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_type_the_service_does_not_handle_is_a_wiring_error() {
    let shipper = Shipper::default();
    let c = Consumer::in_memory(&shipper);
    let err = c.handle(samples::order_created("o-2"), Deadline::default()).await.unwrap_err();
    assert!(matches!(&err, HandlerError::Permanent { code, .. } if code == "unexpected_event_type"), "{err}");
}

#[tokio::test]
async fn a_replay_to_a_service_with_outside_effects_is_dead_lettered_not_redone() {
    let shipper = Shipper::default();
    let c = Consumer::in_memory(&shipper);
    let err = c.handle_as(common::event("o-3"), Some("r-1"), Deadline::default()).await.unwrap_err();
    assert!(matches!(&err, HandlerError::Permanent { code, .. } if code == "replay_not_allowed"), "{err}");
    assert!(shipper.rows.lock().unwrap().is_empty());
}

#[test]
fn stored_events_are_one_string_read_back_tolerantly() {
    let stored = StoredEvents(vec![common::event("o-4")]);
    let text = serde_json::to_value(&stored).unwrap();
    assert!(text.is_string(), "{text}");
    // A newer producer added a field: the stored event still reads.
    let mut newer: serde_json::Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
    newer[0]["data"]["gift_wrap"] = true.into();
    let back: StoredEvents = serde_json::from_value(newer.to_string().into()).unwrap();
    assert_eq!(back, stored);
}

/// Whose table is down for good: every delivery fails transiently; giving
/// up answers with the order's failure (here: an InventoryUpdateFailed).
#[derive(Default)]
struct Brownout {
    gave_up: Mutex<Vec<String>>,
}

impl Service for &Brownout {
    const FUNCTION: &'static str = "brownout";
    const HANDLES: &'static [EventType] = &[EventType::InventoryUpdated];
    const PUBLISHES: &'static [EventType] = &[EventType::InventoryUpdateFailed];

    async fn handle(&self, _: &Envelope, _: Deadline) -> Result<Outcome, HandlerError> {
        Err(HandlerError::transient("table unavailable"))
    }

    async fn give_up(&self, event: &Envelope, why: &str, _: Deadline) -> Result<Option<Outcome>, HandlerError> {
        self.gave_up.lock().unwrap().push(why.to_owned());
        let created = samples::order_created(&event.subject);
        let paid = samples::payment_processed(&created);
        Ok(Some(Outcome::Applied(vec![samples::inventory_update_failed(&paid, &created)])))
    }
}

fn sqs_batch(envelope: &Envelope) -> aws_lambda_events::sqs::SqsEvent {
    common::batch(vec![common::message("m1", &envelope.to_json())])
}

#[tokio::test]
async fn a_step_gives_up_only_on_its_last_receive_and_its_failure_goes_out() {
    let brownout = Brownout::default();
    let c = Consumer::in_memory(&brownout);
    let config = |max| ProcessorConfig { max_receive_count: Some(max), ..ProcessorConfig::default() };
    // The record's ApproximateReceiveCount is 2.
    let early = BatchProcessor::new(InMemoryQueue::default(), config(5));
    let response = c.handle_batch(&early, sqs_batch(&common::event("o-5")), Deadline::default()).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(c.publisher.published().is_empty() && brownout.gave_up.lock().unwrap().is_empty());

    let last = BatchProcessor::new(InMemoryQueue::default(), config(2));
    let response = c.handle_batch(&last, sqs_batch(&common::event("o-5")), Deadline::default()).await;
    assert!(response.batch_item_failures.is_empty());
    let published: Vec<EventType> = c.publisher.published().iter().map(Envelope::kind).collect();
    assert_eq!(published, [EventType::InventoryUpdateFailed]);
    assert!(brownout.gave_up.lock().unwrap()[0].contains("table unavailable"));
    let dead = last.queue().dead_letters();
    assert_eq!(dead.len(), 1, "the record is kept for inspection");
    assert_eq!(dead[0].1, shopsphere_messaging::RETRIES_EXHAUSTED);
}

#[tokio::test]
async fn a_wiring_error_is_not_the_orders_failure() {
    let brownout = Brownout::default();
    let c = Consumer::in_memory(&brownout);
    let last = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let response = c.handle_batch(&last, sqs_batch(&samples::order_created("o-6")), Deadline::default()).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(brownout.gave_up.lock().unwrap().is_empty(), "no give-up for an event that reached the wrong queue");
    assert!(c.publisher.published().is_empty());
    assert_eq!(last.queue().dead_letters()[0].1, "unexpected_event_type");
}
