//! SNS publisher → real SNS→SQS fan-out in LocalStack.

use std::collections::HashMap;
use std::time::Duration;

use shopsphere_events::{Envelope, EventType, decode_sqs_body, samples};
use shopsphere_localstack_tests::{Emulator, attribute, emulator};
use shopsphere_messaging::{Publisher, SnsPublisher, TopicMap};

fn inventory_updated(order: &str) -> Envelope {
    let created = samples::order_created(order);
    samples::inventory_updated(&samples::payment_processed(&created), &created)
}

fn payment_failed(order: &str) -> Envelope {
    samples::payment_failed(&samples::order_created(order))
}

async fn two_topics(emu: &Emulator) -> (String, String, SnsPublisher) {
    let updated = emu.create_topic("InventoryUpdated").await;
    let failed = emu.create_topic("PaymentFailed").await;
    let topics =
        TopicMap::new([(EventType::InventoryUpdated, updated.clone()), (EventType::PaymentFailed, failed.clone())]);
    (updated, failed, SnsPublisher::new(emu.sns.clone(), topics))
}

#[tokio::test]
async fn one_topic_fans_out_to_every_subscribed_queue_and_no_other() {
    let emu = emulator().await;
    let (updated, failed, publisher) = two_topics(&emu).await;
    let shipping = emu.create_queue("shipping", HashMap::new()).await;
    let analytics = emu.create_queue("analytics", HashMap::new()).await;
    let notification = emu.create_queue("notification", HashMap::new()).await;
    emu.subscribe(&updated, &shipping, true).await;
    emu.subscribe(&updated, &analytics, true).await;
    emu.subscribe(&failed, &notification, true).await;

    let event = inventory_updated("o-1");
    publisher.publish(&event).await.unwrap();

    for queue in [&shipping, &analytics] {
        let got = emu.receive(queue, 1, Duration::from_secs(10)).await;
        assert_eq!(got.len(), 1, "{} did not get the event", queue.arn);
        let m = &got[0];
        assert_eq!(decode_sqs_body(m.body().unwrap()).unwrap(), event, "raw delivery: the body is the envelope");
        assert_eq!(serde_json::from_str::<serde_json::Value>(m.body().unwrap()).unwrap()["id"], event.id.to_string());
        assert_eq!(attribute(m, "event_type").as_deref(), Some("InventoryUpdated"));
        assert_eq!(attribute(m, "correlation_id").as_deref(), Some("req-o-1"));
    }
    assert!(
        emu.receive(&notification, 1, Duration::from_secs(2)).await.is_empty(),
        "another type's queue got the event"
    );
}

#[tokio::test]
async fn without_raw_delivery_the_sns_wrapper_decodes_to_the_same_event() {
    let emu = emulator().await;
    let (updated, _, publisher) = two_topics(&emu).await;
    let queue = emu.create_queue("wrapped", HashMap::new()).await;
    emu.subscribe(&updated, &queue, false).await;
    let event = inventory_updated("o-2");
    publisher.publish(&event).await.unwrap();
    let got = emu.receive(&queue, 1, Duration::from_secs(10)).await;
    let body: serde_json::Value = serde_json::from_str(got[0].body().unwrap()).unwrap();
    assert_eq!(body["Type"], "Notification", "expected the SNS wrapper, got {body}");
    assert_eq!(body["MessageAttributes"]["event_type"]["Value"], "InventoryUpdated");
    assert_eq!(decode_sqs_body(got[0].body().unwrap()).unwrap(), event);
}

#[tokio::test]
async fn publish_batch_of_25_over_two_topics_arrives_complete() {
    let emu = emulator().await;
    let (updated, failed, publisher) = two_topics(&emu).await;
    let updated_queue = emu.create_queue("updated", HashMap::new()).await;
    let failed_queue = emu.create_queue("failed", HashMap::new()).await;
    emu.subscribe(&updated, &updated_queue, true).await;
    emu.subscribe(&failed, &failed_queue, true).await;

    let events: Vec<Envelope> = (0..25)
        .map(|i| if i % 5 == 0 { payment_failed(&format!("o-{i}")) } else { inventory_updated(&format!("o-{i}")) })
        .collect();
    publisher.publish_all(&events).await.unwrap();

    let expected = |t: EventType| {
        let mut ids: Vec<String> = events.iter().filter(|e| e.kind() == t).map(|e| e.id.to_string()).collect();
        ids.sort();
        ids
    };
    let received = |queue, count| {
        let emu = &emu;
        async move {
            let got = emu.receive(queue, count, Duration::from_secs(15)).await;
            let mut ids: Vec<String> =
                got.iter().map(|m| decode_sqs_body(m.body().unwrap()).unwrap().id.to_string()).collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(received(&updated_queue, 20).await, expected(EventType::InventoryUpdated));
    assert_eq!(received(&failed_queue, 5).await, expected(EventType::PaymentFailed));
}
