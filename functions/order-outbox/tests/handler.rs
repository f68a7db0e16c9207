//! The outbox on the committed stream fixture.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_lambda_events::dynamodb::Event as StreamEvent;
use shopsphere_events::{Envelope, Event, EventType, derived_event_id};
use shopsphere_messaging::testing::fixture;
use shopsphere_messaging::{InMemoryPublisher, PublishError, Publisher, RejectedEntry, Unpublished};
use shopsphere_order_outbox::{Outbox, Reports, Skipped};
use shopsphere_runtime::BoxError;

const ORDER: &str = "0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7";

/// The failure queue in memory; `down`: every report fails.
#[derive(Default)]
struct InMemoryReports {
    skipped: Mutex<Vec<Skipped>>,
    down: bool,
}

impl Reports for InMemoryReports {
    async fn skipped(&self, skipped: &Skipped) -> Result<(), BoxError> {
        if self.down {
            return Err("SQS unavailable".into());
        }
        self.skipped.lock().unwrap().push(skipped.clone());
        Ok(())
    }
}

fn outbox<P>(publisher: P) -> Outbox<P, InMemoryReports> {
    Outbox { publisher, reports: InMemoryReports::default() }
}

/// The fixture's INSERT, then a copy of it whose row lost its total (not an
/// order any more), then another good order.
fn with_a_broken_row() -> StreamEvent {
    let mut event = fixture::<StreamEvent>("order-outbox/stream-insert.json");
    event.records.retain(|r| r.event_name == "INSERT");
    let good = event.records[0].clone();
    let mut broken = good.clone();
    broken.change.new_image.remove("total");
    broken.change.sequence_number = Some("100000000000000000002".into());
    let mut next = good.clone();
    let other = "1c8e2b63-4d5f-4a71-9b82-a3c4d5e6f708";
    for image in [&mut next.change.new_image, &mut next.change.keys] {
        image.insert("order_id".into(), serde_dynamo::AttributeValue::S(other.into()));
    }
    next.change.sequence_number = Some("100000000000000000003".into());
    event.records = vec![good, broken, next];
    event
}

#[tokio::test]
async fn an_insert_publishes_order_created_with_a_deterministic_id_and_modify_is_ignored() {
    let outbox = outbox(InMemoryPublisher::default());
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
    assert_eq!((o.total.amount, o.lines.len(), o.email.as_str()), (4500, 2, "ada@example.com"));
}

#[tokio::test]
async fn a_row_written_with_a_payment_token_before_it_moved_out_publishes_no_token() {
    let mut event = fixture::<StreamEvent>("order-outbox/stream-insert.json");
    event.records.retain(|r| r.event_name == "INSERT");
    event.records[0]
        .change
        .new_image
        .insert("payment_token".into(), serde_dynamo::AttributeValue::S("tok_visa".into()));
    let outbox = outbox(InMemoryPublisher::default());
    assert!(outbox.handle(event).await.batch_item_failures.is_empty());
    let published = outbox.publisher.published();
    assert_eq!(published.len(), 1);
    let json = published[0].to_json();
    assert!(!json.contains("payment_token") && !json.contains("tok_visa"), "{json}");
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
    let outbox = outbox(DownPublisher(AtomicBool::new(false)));
    let response = outbox.handle(fixture::<StreamEvent>("order-outbox/stream-insert.json")).await;
    assert!(outbox.publisher.0.load(Ordering::SeqCst));
    let ids: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
    assert_eq!(ids, ["100000000000000000001"]);
}

#[tokio::test]
async fn a_row_rebuilt_by_order_status_is_not_a_new_order() {
    let outbox = outbox(InMemoryPublisher::default());
    let response = outbox.handle(fixture::<StreamEvent>("order-outbox/stream-insert-rebuilt.json")).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(outbox.publisher.published().is_empty(), "a replay must not start the saga again");
}

#[tokio::test]
async fn a_row_that_is_not_an_order_is_reported_with_its_id_and_skipped_not_blocking_the_shard() {
    let outbox = outbox(InMemoryPublisher::default());
    let response = outbox.handle(with_a_broken_row()).await;
    assert!(response.batch_item_failures.is_empty(), "the shard moves on");
    assert_eq!(outbox.publisher.published().len(), 2, "the orders before and after it are published");
    let skipped = outbox.reports.skipped.lock().unwrap().clone();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].order_id, ORDER);
    assert_eq!(skipped[0].sequence_number, "100000000000000000002");
    assert!(skipped[0].reason.contains("total"), "{}", skipped[0].reason);
}

#[tokio::test]
async fn a_row_that_cannot_be_reported_is_retried_not_lost() {
    let outbox = Outbox {
        publisher: InMemoryPublisher::default(),
        reports: InMemoryReports { down: true, ..Default::default() },
    };
    let response = outbox.handle(with_a_broken_row()).await;
    let ids: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone().unwrap()).collect();
    assert_eq!(ids, ["100000000000000000002"]);
    assert_eq!(outbox.publisher.published().len(), 1, "stream order: nothing after it yet");
}

/// SNS refuses every OrderCreated for good (a sender fault).
struct RefusingPublisher;

impl Publisher for RefusingPublisher {
    async fn publish_all(&self, events: &[Envelope]) -> Result<(), Unpublished> {
        Err(Unpublished {
            events: events.iter().map(|e| e.id).collect(),
            error: PublishError::Rejected(
                events
                    .iter()
                    .map(|e| RejectedEntry {
                        event_id: e.id.to_string(),
                        code: "InvalidParameter".into(),
                        message: "message too long".into(),
                        sender_fault: true,
                    })
                    .collect(),
            ),
        })
    }
}

#[tokio::test]
async fn an_order_created_sns_refuses_is_reported_and_skipped() {
    let outbox = outbox(RefusingPublisher);
    let response = outbox.handle(fixture::<StreamEvent>("order-outbox/stream-insert.json")).await;
    assert!(response.batch_item_failures.is_empty());
    let skipped = outbox.reports.skipped.lock().unwrap().clone();
    assert_eq!(skipped.iter().map(|s| s.order_id.as_str()).collect::<Vec<_>>(), [ORDER]);
}
