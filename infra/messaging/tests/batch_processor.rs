//! Batch processor semantics over an in-memory queue and publisher.

mod common;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use common::{batch, event, message};
use shopsphere_events::{Envelope, EventType};
use shopsphere_messaging::*;
use shopsphere_runtime::{BoxError, Deadline};

/// A queue whose DLQ cannot be reached.
struct UnreachableDlq;

impl QueueOps for UnreachableDlq {
    async fn dead_letter(&self, _: DeadLetter<'_>) -> Result<(), BoxError> {
        Err("DLQ unavailable".into())
    }

    async fn delay_retry(&self, _: &SqsMessage, _: Duration) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Publishes everything but the events of `refused` orders.
struct Refusing {
    refused: &'static [&'static str],
    published: InMemoryPublisher,
}

impl Publisher for Refusing {
    async fn publish_all(&self, events: &[Envelope]) -> Result<(), Unpublished> {
        let (bad, good): (Vec<Envelope>, Vec<Envelope>) =
            events.iter().cloned().partition(|e| self.refused.contains(&e.subject.as_str()));
        self.published.publish_all(&good).await?;
        if bad.is_empty() {
            return Ok(());
        }
        Err(Unpublished { events: bad.iter().map(|e| e.id).collect(), error: PublishError::Sns("throttled".into()) })
    }
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<String> {
    let mut ids: Vec<String> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    ids.sort();
    ids
}

fn ten_records() -> SqsEvent {
    batch((0..10).map(|i| message(&format!("m{i}"), &event(&format!("o{i}")).to_json())).collect())
}

/// One invocation without a deadline, publishing in memory.
async fn run<Q, H, Fut>(processor: &BatchProcessor<Q>, records: SqsEvent, handler: H) -> SqsBatchResponse
where
    Q: QueueOps,
    H: Fn(Envelope, RecordMeta) -> Fut,
    Fut: Future<Output = Result<Vec<Envelope>, HandlerError>>,
{
    processor.process(records, Deadline::default(), &InMemoryPublisher::default(), handler).await
}

#[tokio::test]
async fn three_transient_failures_in_ten_return_exactly_those_three() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let handled = AtomicUsize::new(0);
    let response = run(&processor, ten_records(), |env, _| {
        handled.fetch_add(1, Ordering::SeqCst);
        async move {
            match env.subject.as_str() {
                "o2" | "o5" | "o7" => Err(HandlerError::transient("table throttled")),
                _ => Ok(vec![]),
            }
        }
    })
    .await;
    assert_eq!(failed_ids(&response), ["m2", "m5", "m7"]);
    assert_eq!(handled.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn a_permanent_failure_goes_to_the_dlq_with_its_reason_and_is_acked() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let response = run(&processor, ten_records(), |env, _| async move {
        match env.subject.as_str() {
            "o3" => Err(HandlerError::permanent("unknown_sku", "sku SKU-X is not in the catalog")),
            "o4" => Err(HandlerError::transient("timeout")),
            _ => Ok(vec![]),
        }
    })
    .await;
    assert_eq!(failed_ids(&response), ["m4"]);
    let dead = processor_queue(&processor);
    assert_eq!(dead, [("m3".to_owned(), "unknown_sku".to_owned(), "sku SKU-X is not in the catalog".to_owned())]);
}

fn processor_queue(p: &BatchProcessor<InMemoryQueue>) -> Vec<(String, String, String)> {
    p.queue().dead_letters()
}

#[tokio::test]
async fn undecodable_bodies_are_dead_lettered_with_the_decode_error() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let mut v2 = serde_json::to_value(event("o1")).unwrap();
    v2["type"] = "shopsphere.inventory.InventoryUpdated.v2".into();
    let records = batch(vec![
        message("ok", &event("o0").to_json()),
        message("garbage", "{not json"),
        message("v2", &v2.to_string()),
    ]);
    let calls = AtomicUsize::new(0);
    let response = run(&processor, records, |_, _| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok(vec![]) }
    })
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the handler never sees undecodable records");
    let mut dead = processor_queue(&processor);
    dead.sort();
    assert_eq!(dead[0].0, "garbage");
    assert_eq!(dead[0].1, "not_json");
    assert_eq!(dead[1].0, "v2");
    assert_eq!(dead[1].1, "unsupported_version");
    assert!(dead[1].2.contains("v2 of InventoryUpdated"), "{}", dead[1].2);
}

#[tokio::test]
async fn a_panicking_handler_fails_its_record_not_the_batch() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let response = run(&processor, ten_records(), |env, _| async move {
        assert_ne!(env.subject, "o6", "simulated bug");
        Ok(vec![])
    })
    .await;
    assert_eq!(failed_ids(&response), ["m6"]);
}

#[tokio::test]
async fn a_batch_where_every_record_fails_lists_every_id() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let response = run(&processor, ten_records(), |_, _| async { Err(HandlerError::transient("down")) }).await;
    assert_eq!(failed_ids(&response).len(), 10);
}

#[tokio::test]
async fn when_the_dlq_is_unreachable_a_permanent_failure_is_retried_not_lost() {
    let processor = BatchProcessor::new(UnreachableDlq, ProcessorConfig::default());
    let response = run(&processor, batch(vec![message("bad", "nope")]), |_, _| async { Ok(vec![]) }).await;
    assert_eq!(failed_ids(&response), ["bad"]);
}

#[tokio::test]
async fn concurrency_is_bounded_by_the_config() {
    let config = ProcessorConfig { concurrency: 3, ..ProcessorConfig::default() };
    let processor = BatchProcessor::new(InMemoryQueue::default(), config);
    let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
    run(&processor, ten_records(), |_, _| async {
        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(10)).await;
        now.fetch_sub(1, Ordering::SeqCst);
        Ok(vec![])
    })
    .await;
    assert_eq!(peak.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn transient_failures_are_delayed_by_receive_count_when_backoff_is_on() {
    let backoff = Backoff { base: Duration::from_secs(5), max: Duration::from_secs(60) };
    let processor = BatchProcessor::new(
        InMemoryQueue::default(),
        ProcessorConfig { concurrency: 2, backoff: Some(backoff), ..ProcessorConfig::default() },
    );
    run(&processor, batch(vec![message("m1", &event("o1").to_json())]), |_, meta| async move {
        assert_eq!(meta.receive_count, 2);
        Err(HandlerError::transient("later"))
    })
    .await;
    assert_eq!(processor.queue().delays(), [("m1".to_owned(), Duration::from_secs(10))]);
}

#[tokio::test]
async fn handlers_get_the_typed_event_in_both_body_forms() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let raw = event("o1").to_json();
    // Another event: the same one twice would be handled once.
    let wrapped = serde_json::json!({
        "Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:000000000000:InventoryUpdated",
        "Message": event("o2").to_json(), "Timestamp": "2026-11-28T10:00:00Z"
    })
    .to_string();
    let seen = Mutex::new(Vec::new());
    let response = run(&processor, batch(vec![message("raw", &raw), message("sns", &wrapped)]), |env, meta| {
        seen.lock().unwrap().push((meta.message_id, env.kind()));
        async { Ok(vec![]) }
    })
    .await;
    assert!(response.batch_item_failures.is_empty());
    let mut seen = seen.into_inner().unwrap();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        [("raw".to_owned(), EventType::InventoryUpdated), ("sns".to_owned(), EventType::InventoryUpdated)]
    );
}

#[tokio::test]
async fn an_event_twice_in_one_batch_is_handled_once_and_both_copies_are_acked() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let body = event("o1").to_json();
    let wrapped = serde_json::json!({
        "Type": "Notification", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:000000000000:InventoryUpdated",
        "Message": body, "Timestamp": "2026-11-28T10:00:00Z"
    })
    .to_string();
    let records = batch(vec![message("a", &body), message("b", &event("o2").to_json()), message("a2", &wrapped)]);
    let calls = AtomicUsize::new(0);
    let publisher = InMemoryPublisher::default();
    let response = processor
        .process(records, Deadline::default(), &publisher, |env, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(vec![env]) }
        })
        .await;
    assert!(response.batch_item_failures.is_empty(), "the copy is not sent back as in progress");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "o1 once, o2 once");
    assert_eq!(publisher.published().len(), 2, "what o1 caused is published once");
}

#[tokio::test]
async fn a_copy_shares_the_failure_of_its_event() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let body = event("o1").to_json();
    let records = batch(vec![message("a", &body), message("a2", &body)]);
    let response = run(&processor, records, |_, _| async { Err(HandlerError::transient("down")) }).await;
    assert_eq!(failed_ids(&response), ["a", "a2"]);
    let records = batch(vec![message("a", &body), message("a2", &body)]);
    let response = run(&processor, records, |_, _| async { Err(HandlerError::permanent("bad", "x")) }).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(processor.queue().dead_letters().len(), 1, "one DLQ entry for the event");
}

#[tokio::test]
async fn the_batch_publishes_once_and_fails_exactly_the_records_whose_events_did_not_go_out() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let publisher = Refusing { refused: &["o3", "o8"], published: InMemoryPublisher::default() };
    let response =
        processor.process(ten_records(), Deadline::default(), &publisher, |env, _| async move { Ok(vec![env]) }).await;
    assert_eq!(failed_ids(&response), ["m3", "m8"]);
    assert_eq!(publisher.published.published().len(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_record_that_hangs_fails_alone_before_the_deadline() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let deadline = Deadline(Some(shopsphere_runtime::now_ms() + 5_000));
    let response = processor
        .process(ten_records(), deadline, &InMemoryPublisher::default(), |env, _| async move {
            if env.subject == "o4" {
                // A call that never answers.
                std::future::pending::<()>().await;
            }
            Ok(vec![env])
        })
        .await;
    assert_eq!(failed_ids(&response), ["m4"]);
}

#[tokio::test]
async fn work_held_elsewhere_comes_back_when_its_lease_runs_out() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let records = batch(vec![message("m1", &event("o1").to_json())]);
    let response = run(&processor, records, |_, _| async {
        Err(HandlerError::Held { what: "sending".into(), retry_after: Duration::from_secs(7) })
    })
    .await;
    assert_eq!(failed_ids(&response), ["m1"]);
    assert_eq!(processor.queue().delays(), [("m1".to_owned(), Duration::from_secs(7))]);
}

#[test]
fn table_errors_map_to_their_class() {
    use shopsphere_runtime::TableError;
    let throttled: HandlerError = TableError::unavailable("t", "throttled").into();
    assert!(matches!(throttled, HandlerError::Transient(_)));
    let invalid: HandlerError = TableError::corrupt("t", "ValidationException").into();
    assert!(matches!(invalid, HandlerError::Permanent { ref code, .. } if code == "table_request_rejected"));
}

fn last_receive_at(max: u32) -> ProcessorConfig {
    ProcessorConfig { max_receive_count: Some(max), ..ProcessorConfig::default() }
}

#[tokio::test]
async fn on_the_last_receive_a_transient_failure_goes_to_the_dlq_with_its_last_error() {
    // The records come with ApproximateReceiveCount 2.
    let records = || batch(vec![message("m1", &event("o1").to_json())]);
    let processor = BatchProcessor::new(InMemoryQueue::default(), last_receive_at(3));
    let response = run(&processor, records(), |_, _| async { Err(HandlerError::transient("table throttled")) }).await;
    assert_eq!(failed_ids(&response), ["m1"], "receives are left: retried");
    assert!(processor.queue().dead_letters().is_empty());

    let processor = BatchProcessor::new(InMemoryQueue::default(), last_receive_at(2));
    let response = run(&processor, records(), |_, _| async { Err(HandlerError::transient("table throttled")) }).await;
    assert!(response.batch_item_failures.is_empty(), "on the DLQ, so acked");
    let dead = processor.queue().dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].0.as_str(), dead[0].1.as_str()), ("m1", RETRIES_EXHAUSTED));
    assert!(dead[0].2.contains("table throttled"), "{}", dead[0].2);
}

#[tokio::test]
async fn a_step_that_gave_up_publishes_its_failure_then_dead_letters_its_record() {
    let failure = event("o1-failure");
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let publisher = InMemoryPublisher::default();
    let records = batch(vec![message("m1", &event("o1").to_json()), message("m2", &event("o2").to_json())]);
    let response = processor
        .process(records, Deadline::default(), &publisher, |env, _| {
            let failure = failure.clone();
            async move {
                match env.subject.as_str() {
                    "o1" => Err(HandlerError::GaveUp {
                        cause: Box::new(HandlerError::permanent("card_expired", "the card expired")),
                        publish: vec![failure],
                    }),
                    _ => Ok(vec![env]),
                }
            }
        })
        .await;
    assert!(response.batch_item_failures.is_empty());
    let subjects: Vec<String> = publisher.published().iter().map(|e| e.subject.clone()).collect();
    assert_eq!(subjects, ["o1-failure", "o2"]);
    assert_eq!(
        processor.queue().dead_letters(),
        [("m1".to_owned(), "card_expired".to_owned(), "the card expired".to_owned())]
    );
}

#[tokio::test]
async fn a_failure_event_that_did_not_go_out_keeps_its_record_for_a_retry() {
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let publisher = Refusing { refused: &["o1"], published: InMemoryPublisher::default() };
    let records = batch(vec![message("m1", &event("o1").to_json())]);
    let response = processor
        .process(records, Deadline::default(), &publisher, |env, _| async move {
            Err(HandlerError::GaveUp { cause: Box::new(HandlerError::permanent("bad", "x")), publish: vec![env] })
        })
        .await;
    assert_eq!(failed_ids(&response), ["m1"], "retried until its failure is out");
    assert!(processor.queue().dead_letters().is_empty());
}
