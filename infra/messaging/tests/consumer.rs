//! The consumer loop over in-memory parts: handle, publish, repeat.

mod common;

use std::sync::Mutex;

use shopsphere_events::{Envelope, EventType, samples};
use shopsphere_messaging::{Consumer, HandlerError, Outcome, Service, StoredEvents};
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
        let order = samples::order_created(&event.subject, "tok_visa");
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
    let err = c.handle(samples::order_created("o-2", "tok_visa"), Deadline::default()).await.unwrap_err();
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
