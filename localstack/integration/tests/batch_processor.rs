//! The batch processor on a real queue with a real DLQ: SQS's own redrive for
//! transient failures, our DLQ hand-off for permanent ones.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use shopsphere_events::{Envelope, InventoryUpdated, RootCause};
use shopsphere_localstack_tests::{attribute, emulator, sqs_event};
use shopsphere_messaging::{BatchProcessor, HandlerError, InMemoryPublisher, ProcessorConfig, SqsQueue};
use shopsphere_runtime::Deadline;

fn event(order: &str) -> Envelope {
    Envelope::root(
        InventoryUpdated { order_id: order.into(), email: "ada@example.com".into(), items: vec![] },
        RootCause { correlation_id: format!("req-{order}"), causation_id: order.into(), traceparent: None },
        Utc::now(),
    )
}

#[tokio::test]
async fn transient_failures_are_redriven_by_sqs_permanent_ones_dead_lettered_at_once() {
    let emu = emulator().await;
    // maxReceiveCount 2, visibility 1 s: a transient failure is seen twice, then SQS moves it.
    let (queue, dlq) = emu.create_queue_with_dlq("shipping", 2, 1).await;
    for order in ["ok-1", "transient", "permanent", "ok-2"] {
        emu.sqs.send_message().queue_url(&queue.url).message_body(event(order).to_json()).send().await.unwrap();
    }
    emu.sqs.send_message().queue_url(&queue.url).message_body("this is not an event").send().await.unwrap();

    let processor =
        BatchProcessor::new(SqsQueue::new(emu.sqs.clone(), &queue.url, &dlq.url), ProcessorConfig::default());
    let handled = Mutex::new(Vec::new());
    let start = Instant::now();
    // Poll like an event source mapping until the queue stays empty.
    let mut empty_polls = 0;
    while empty_polls < 3 && start.elapsed() < Duration::from_secs(40) {
        let received = emu.receive_batch(&queue, 10).await;
        if received.is_empty() {
            empty_polls += 1;
            continue;
        }
        empty_polls = 0;
        let publisher = InMemoryPublisher::default();
        let response = processor
            .process(sqs_event(&queue, &received), Deadline::default(), &publisher, |env: Envelope, meta| {
                handled.lock().unwrap().push((env.subject.clone(), meta.receive_count));
                async move {
                    match env.subject.as_str() {
                        "transient" => Err(HandlerError::transient("downstream unavailable")),
                        "permanent" => Err(HandlerError::permanent("unknown_sku", "sku SKU-X is not in the catalog")),
                        _ => Ok(vec![]),
                    }
                }
            })
            .await;
        emu.ack_successes(&queue, &received, &response).await;
    }

    let handled = handled.into_inner().unwrap();
    let seen = |subject: &str| handled.iter().filter(|(s, _)| s == subject).map(|(_, n)| *n).collect::<Vec<_>>();
    assert_eq!(seen("ok-1"), [1], "successes are deleted after one delivery");
    assert_eq!(seen("ok-2"), [1]);
    assert_eq!(seen("permanent"), [1], "permanent failures are not retried");
    assert_eq!(seen("transient"), [1, 2], "transient failures are redelivered until maxReceiveCount");

    let dead = emu.receive(&dlq, 3, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 3, "DLQ holds the permanent, the transient and the garbage message");
    let by_body = |needle: &str| {
        dead.iter().find(|m| m.body().unwrap().contains(needle)).unwrap_or_else(|| panic!("{needle} not in DLQ"))
    };
    let permanent = by_body("\"subject\":\"permanent\"");
    assert_eq!(attribute(permanent, "error_code").as_deref(), Some("unknown_sku"));
    assert_eq!(attribute(permanent, "error_reason").as_deref(), Some("sku SKU-X is not in the catalog"));
    assert_eq!(attribute(permanent, "error_class").as_deref(), Some("permanent"));
    assert_eq!(attribute(permanent, "source_queue_arn").as_deref(), Some(queue.arn.as_str()));
    let garbage = by_body("this is not an event");
    assert_eq!(attribute(garbage, "error_code").as_deref(), Some("not_json"));
    let transient = by_body("\"subject\":\"transient\"");
    assert_eq!(attribute(transient, "error_code"), None, "moved by SQS redrive, not by us");
    assert!(emu.receive(&queue, 1, Duration::from_secs(2)).await.is_empty(), "the source queue is drained");
}
