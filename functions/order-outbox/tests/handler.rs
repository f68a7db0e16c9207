//! The outbox on the committed stream fixture.

use std::sync::atomic::{AtomicBool, Ordering};

use aws_lambda_events::dynamodb::Event as StreamEvent;
use shopsphere_events::{Envelope, Event, EventType, derived_event_id};
use shopsphere_messaging::testing::fixture;
use shopsphere_messaging::{InMemoryPublisher, PublishError, Publisher, Unpublished};
use shopsphere_order_outbox::Outbox;

const ORDER: &str = "0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7";

#[tokio::test]
async fn an_insert_publishes_order_created_with_a_deterministic_id_and_modify_is_ignored() {
    let outbox = Outbox { publisher: InMemoryPublisher::default() };
    for _ in 0..2 {
        let response = outbox.handle(fixture::<StreamEvent>("order-outbox/stream-insert.json")).await;
        assert!(response.batch_item_failures.is_empty());
    }
    let published = outbox.publisher.published();
    assert_eq!(published.len(), 2, "one per INSERT delivery; MODIFY publishes nothing");
    let e = &published[0];
    assert_eq!(e.kind(), EventType::OrderCreated);
    assert_eq!(e.id, derived_event_id(ORDER, EventType::OrderCreated));
    assert_eq!(published[1].id, e.id, "a retried record re-publishes the same event id");
    assert_eq!(e.correlationid, "req-fixture-1");
    assert!(e.traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "the request's trace continues");
    let Event::OrderCreated(o) = &e.data else { panic!() };
    assert_eq!((o.total.amount, o.lines.len(), o.payment_token.as_str()), (4500, 2, "tok_visa"));
}

struct DownPublisher(AtomicBool);

impl Publisher for DownPublisher {
    async fn publish_all(&self, events: &[Envelope]) -> Result<(), Unpublished> {
        self.0.store(true, Ordering::SeqCst);
        Err(Unpublished {
            events: events.iter().map(|e| e.id).collect(),
            error: PublishError::Sns("SNS unavailable".into()),
        })
    }
}

#[tokio::test]
async fn a_failed_publish_reports_the_record_for_retry() {
    let outbox = Outbox { publisher: DownPublisher(AtomicBool::new(false)) };
    let response = outbox.handle(fixture::<StreamEvent>("order-outbox/stream-insert.json")).await;
    assert!(outbox.publisher.0.load(Ordering::SeqCst));
    let ids: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
    assert_eq!(ids, ["100000000000000000001"]);
}

#[tokio::test]
async fn a_row_rebuilt_by_order_status_is_not_a_new_order() {
    let outbox = Outbox { publisher: InMemoryPublisher::default() };
    let response = outbox.handle(fixture::<StreamEvent>("order-outbox/stream-insert-rebuilt.json")).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(outbox.publisher.published().is_empty(), "a replay must not start the saga again");
}
