//! One email per event, ever.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use shopsphere_events::{EventType, samples};
use shopsphere_messaging::HandlerError;
use shopsphere_notification::{MailProvider, SendStatus, SentEmail};
use shopsphere_runtime::{Deadline, now_ms};
use support::{InMemorySentLog, Outbox, consumer};

#[tokio::test]
async fn every_customer_facing_event_sends_one_recorded_email() {
    let (outbox, log) = (Outbox::default(), InMemorySentLog::default());
    let c = consumer(&outbox, &log);
    let saga = samples::whole_saga("o-1");
    for event in saga.iter().filter(|e| e.kind() != EventType::InventoryUpdated) {
        c.handle(event.clone(), Deadline::default()).await.unwrap();
    }
    let sent = outbox.0.lock().unwrap().clone();
    let subjects: Vec<&str> = sent.iter().map(|(e, _)| e.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "We received your order o-1",
            "Payment received for order o-1",
            "Payment failed for order o-1",
            "Order o-1 cannot be fulfilled",
            "Refund issued for order o-1",
            "Order o-1 has shipped",
            "Order o-1 could not be shipped",
        ]
    );
    assert!(sent.iter().all(|(e, _)| e.to == "ada@example.com"));
    assert_eq!(log.len(), 7);
    assert!(log.rows.lock().unwrap().values().all(|r| r.status == SendStatus::Sent));
    assert!(c.publisher.published().is_empty(), "notification publishes nothing");
}

#[tokio::test]
async fn a_redelivered_event_sends_no_second_email() {
    let (outbox, log) = (Outbox::default(), InMemorySentLog::default());
    let c = consumer(&outbox, &log);
    let order = samples::order_created("o-2");
    for _ in 0..3 {
        c.handle(order.clone(), Deadline::default()).await.unwrap();
    }
    assert_eq!(outbox.sends(), 1);
    assert_eq!(outbox.0.lock().unwrap()[0].1, order.id.to_string(), "the event id is the provider's key");
    assert_eq!(log.row(&order.id.to_string()).provider_message_id.as_deref(), Some(&*format!("msg-{}", order.id)));
}

#[tokio::test]
async fn inventory_updated_is_not_for_customers() {
    let (outbox, log) = (Outbox::default(), InMemorySentLog::default());
    let c = consumer(&outbox, &log);
    let saga = samples::whole_saga("o-3");
    let err = c.handle(saga[3].clone(), Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Permanent { ref code, .. } if code == "unexpected_event_type"));
    assert_eq!(outbox.sends(), 0);
}

fn claim_by_another(event: &shopsphere_events::Envelope, lease_until: i64) -> SentEmail {
    SentEmail {
        event_id: event.id.to_string(),
        order_id: event.subject.clone(),
        event_type: event.kind().name().to_owned(),
        to: "ada@example.com".into(),
        subject: "s".into(),
        status: SendStatus::Sending,
        lease_until,
        provider_message_id: None,
        sent_at: None,
    }
}

#[tokio::test]
async fn an_email_being_sent_elsewhere_waits_for_its_lease_then_goes_once_more() {
    let (outbox, log) = (Outbox::default(), InMemorySentLog::default());
    let c = consumer(&outbox, &log);
    let order = samples::order_created("o-4");
    let live = claim_by_another(&order, now_ms() + 20_000);
    log.rows.lock().unwrap().insert(live.event_id.clone(), live);
    let err = c.handle(order.clone(), Deadline::default()).await.unwrap_err();
    let HandlerError::Held { retry_after, .. } = err else { panic!("{err}") };
    assert!(retry_after > Duration::from_secs(15) && retry_after <= Duration::from_secs(20), "{retry_after:?}");
    assert_eq!(outbox.sends(), 0, "not while another invocation may be sending");

    // That invocation crashed before the provider had it: once its lease ran out, one send.
    let crashed = claim_by_another(&order, now_ms() - 1);
    log.rows.lock().unwrap().insert(crashed.event_id.clone(), crashed);
    c.handle(order.clone(), Deadline::default()).await.unwrap();
    c.handle(order.clone(), Deadline::default()).await.unwrap();
    assert_eq!(outbox.sends(), 1);
    assert_eq!(log.row(&order.id.to_string()).status, SendStatus::Sent);
}

#[tokio::test]
async fn a_claimer_that_died_after_the_provider_sent_is_not_sent_again() {
    let (outbox, log) = (Outbox::default(), InMemorySentLog::default());
    let c = consumer(&outbox, &log);
    let order = samples::order_created("o-6");
    // It sent, then died before marking the row SENT; its lease ran out.
    let email = shopsphere_notification::render(&order.data).unwrap();
    (&outbox).send(&email, &order.id.to_string()).await.unwrap();
    let crashed = claim_by_another(&order, now_ms() - 1);
    log.rows.lock().unwrap().insert(crashed.event_id.clone(), crashed);

    c.handle(order.clone(), Deadline::default()).await.unwrap();
    assert_eq!(outbox.sends(), 1, "the provider said it had sent it");
    let row = log.row(&order.id.to_string());
    assert_eq!(
        (row.status, row.provider_message_id.as_deref()),
        (SendStatus::Sent, Some(&*format!("msg-{}", order.id)))
    );
}

#[tokio::test]
async fn a_mark_that_fails_briefly_is_retried_in_place_not_resent() {
    let (outbox, log) = (Outbox::default(), InMemorySentLog::default());
    log.mark_outages.store(2, Ordering::SeqCst);
    let c = consumer(&outbox, &log);
    let order = samples::order_created("o-5");
    c.handle(order.clone(), Deadline::default()).await.unwrap();
    c.handle(order.clone(), Deadline::default()).await.unwrap();
    assert_eq!(outbox.sends(), 1);
    assert_eq!(log.row(&order.id.to_string()).status, SendStatus::Sent);
}
