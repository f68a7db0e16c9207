//! Counters and archive entries over fakes.

use std::collections::HashMap;
use std::sync::Mutex;

use shopsphere_analytics::{Analytics, AnalyticsEffect, ArchivedEvent, effect_of};
use shopsphere_events::{decode_sqs_body, samples};
use shopsphere_idempotency::Deadline;
use shopsphere_messaging::{ApplyEffect, Consumer};

/// Counters `(count, revenue)` per key and the archive, in memory.
#[derive(Default)]
struct InMemoryAnalytics {
    counters: Mutex<HashMap<String, (u64, i64)>>,
    archive: Mutex<Vec<ArchivedEvent>>,
}

impl ApplyEffect<AnalyticsEffect> for &InMemoryAnalytics {
    fn apply(&self, effect: &AnalyticsEffect) -> Result<(), String> {
        let mut archive = self.archive.lock().unwrap();
        if archive.iter().any(|a| a.time_event_id == effect.archive.time_event_id) {
            return Err("archived already".into());
        }
        archive.push(effect.archive.clone());
        let mut counters = self.counters.lock().unwrap();
        let c = counters.entry(effect.counter.key.clone()).or_default();
        c.0 += 1;
        c.1 += effect.counter.revenue;
        Ok(())
    }
}

#[tokio::test]
async fn every_event_counts_once_and_is_archived_whole() {
    let state = InMemoryAnalytics::default();
    let c = Consumer::in_memory(Analytics, &state);
    let saga = samples::whole_saga("o-1");
    for event in saga.iter().chain(saga.iter()) {
        c.handle(event.clone(), Deadline::default()).await.unwrap();
    }
    let counters = state.counters.lock().unwrap();
    assert_eq!(counters.len(), 7);
    assert!(counters.values().all(|(count, _)| *count == 1), "{counters:?}");
    assert_eq!(counters["2026-11-28T10#PaymentProcessed"].1, 4500);
    assert_eq!(counters["2026-11-28T10#PaymentRefunded"].1, -4500);
    let archive = state.archive.lock().unwrap();
    assert_eq!(archive.len(), 7);
    for (entry, event) in archive.iter().zip(&saga) {
        assert_eq!(&decode_sqs_body(&entry.envelope).unwrap(), event, "the archive replays the exact envelope");
        assert_eq!(entry.order_id, "o-1");
    }
}

#[test]
fn archive_keys_sort_by_time() {
    let saga = samples::whole_saga("o-2");
    let e = effect_of(&saga[0]);
    assert_eq!(e.archive.time_event_id, format!("2026-11-28T10:00:00.000Z#{}", saga[0].id));
    assert_eq!(e.counter.key, "2026-11-28T10#OrderCreated");
    assert_eq!((e.counter.revenue, e.counter.currency), (0, None));
}
