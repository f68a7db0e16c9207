//! The archive and the counters derived from it, over a fake.

mod support;

use shopsphere_analytics::{ArchivedEvent, hourly};
use shopsphere_events::{decode_sqs_body, samples};
use shopsphere_runtime::Deadline;
use support::{InMemoryArchive, consumer};

#[tokio::test]
async fn every_event_is_archived_whole_once_and_counts_once() {
    let archive = InMemoryArchive::default();
    let c = consumer(&archive);
    let saga = samples::whole_saga("o-1");
    for event in saga.iter().chain(saga.iter()) {
        c.handle(event.clone(), Deadline::default()).await.unwrap();
    }
    let rows = archive.0.lock().unwrap();
    assert_eq!(rows.len(), 8);
    for (entry, event) in rows.iter().zip(&saga) {
        assert_eq!(&decode_sqs_body(&entry.envelope).unwrap(), event, "the archive replays the exact envelope");
        assert_eq!(entry.order_id, "o-1");
    }
    let counters = hourly(rows.iter());
    assert_eq!(counters.len(), 8);
    assert!(counters.values().all(|c| c.count == 1), "{counters:?}");
    let hour = |t: &str| ("2026-11-28T10".to_owned(), t.to_owned());
    assert_eq!(counters[&hour("PaymentProcessed")].revenue["EUR"], 4500);
    assert_eq!(counters[&hour("PaymentRefunded")].revenue["EUR"], -4500);
    assert!(counters[&hour("OrderCreated")].revenue.is_empty());
}

#[test]
fn archive_keys_sort_by_time() {
    let saga = samples::whole_saga("o-2");
    let row = ArchivedEvent::of(&saga[0]);
    assert_eq!(row.time_event_id, format!("2026-11-28T10:00:00.000Z#{}", saga[0].id));
    assert_eq!(row.hour(), "2026-11-28T10");
    assert_eq!((row.revenue, row.currency), (0, None));
}

#[tokio::test]
async fn an_order_created_published_with_a_payment_token_is_archived_without_it() {
    let archive = InMemoryArchive::default();
    let c = consumer(&archive);
    let current = samples::order_created("o-9").to_json();
    let old = current.replace("\"order_id\":\"o-9\",", "\"order_id\":\"o-9\",\"payment_token\":\"tok_visa\",");
    assert_ne!(old, current);
    // The archive keeps the envelope as decoded, re-serialized: a field the
    // schema does not have is not kept.
    c.handle(decode_sqs_body(&old).unwrap(), Deadline::default()).await.unwrap();
    let rows = archive.0.lock().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0].envelope.contains("tok_visa") && !rows[0].envelope.contains("payment_token"),
        "{}",
        rows[0].envelope
    );
    assert!(rows[0].envelope.contains("ada@example.com"), "the rest is kept whole, for replay");
}
