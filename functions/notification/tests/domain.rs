//! One email per event, ever.

mod support;

use shopsphere_events::samples;
use shopsphere_idempotency::Deadline;
use shopsphere_messaging::HandlerError;
use support::{Outbox, SentLog, consumer};

#[tokio::test]
async fn every_customer_facing_event_sends_one_recorded_email() {
    let (outbox, log) = (Outbox::default(), SentLog::default());
    let c = consumer(&outbox, &log);
    let saga = samples::whole_saga("o-1");
    for event in saga.iter().filter(|e| e.kind() != shopsphere_events::EventType::InventoryUpdated) {
        c.handle(event.clone(), Deadline::default()).await.unwrap();
    }
    let subjects: Vec<String> = outbox.0.lock().unwrap().iter().map(|e| e.subject.clone()).collect();
    assert_eq!(
        subjects,
        [
            "We received your order o-1",
            "Payment received for order o-1",
            "Payment failed for order o-1",
            "Order o-1 cannot be fulfilled",
            "Refund issued for order o-1",
            "Order o-1 has shipped",
        ]
    );
    assert!(outbox.0.lock().unwrap().iter().all(|e| e.to == "ada@example.com"));
    assert_eq!(log.0.lock().unwrap().len(), 6);
    assert!(c.publisher.published().is_empty(), "notification publishes nothing");
}

#[tokio::test]
async fn a_redelivered_event_sends_no_second_email() {
    let (outbox, log) = (Outbox::default(), SentLog::default());
    let c = consumer(&outbox, &log);
    let order = samples::order_created("o-2", "tok_visa");
    for _ in 0..3 {
        c.handle(order.clone(), Deadline::default()).await.unwrap();
    }
    assert_eq!(outbox.0.lock().unwrap().len(), 1);
    let sent = log.0.lock().unwrap();
    assert_eq!(sent[0].event_id, order.id.to_string());
    assert!(sent[0].text.contains("Total: 45.00 EUR"), "{}", sent[0].text);
}

#[tokio::test]
async fn inventory_updated_is_not_for_customers() {
    let (outbox, log) = (Outbox::default(), SentLog::default());
    let c = consumer(&outbox, &log);
    let saga = samples::whole_saga("o-3");
    let err = c.handle(saga[3].clone(), Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Permanent { ref code, .. } if code == "unexpected_event_type"));
    assert!(outbox.0.lock().unwrap().is_empty());
}
