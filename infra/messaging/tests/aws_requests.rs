//! The SNS and SQS adapters' exact request shapes, checked with aws-smithy-mocks.

mod common;

use std::time::Duration;

use aws_sdk_sns::operation::publish::PublishOutput;
use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
use aws_sdk_sns::types::{BatchResultErrorEntry, PublishBatchResultEntry};
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityOutput;
use aws_sdk_sqs::operation::send_message::SendMessageOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use common::{event, message};
use shopsphere_events::{Envelope, ErrorClass, EventType, OrderShipped};
use shopsphere_messaging::*;

const UPDATED_ARN: &str = "arn:aws:sns:us-east-1:000000000000:InventoryUpdated";
const FAILED_ARN: &str = "arn:aws:sns:us-east-1:000000000000:InventoryUpdateFailed";

fn topics() -> TopicMap {
    TopicMap::new([
        (EventType::InventoryUpdated, UPDATED_ARN.to_owned()),
        (EventType::InventoryUpdateFailed, FAILED_ARN.to_owned()),
    ])
}

fn attr(
    attrs: Option<&std::collections::HashMap<String, aws_sdk_sns::types::MessageAttributeValue>>,
    name: &str,
) -> Option<String> {
    attrs?.get(name).and_then(|v| v.string_value().map(str::to_owned))
}

fn update_failed(order: &str) -> Envelope {
    let created = shopsphere_events::samples::order_created(order);
    shopsphere_events::samples::inventory_update_failed(
        &shopsphere_events::samples::payment_processed(&created),
        &created,
    )
}

#[tokio::test]
async fn one_event_is_one_publish_with_type_and_correlation_attributes() {
    let e = event("o1");
    let body = e.to_json();
    let publish = mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| {
            r.topic_arn() == Some(UPDATED_ARN)
                && r.message() == Some(body.as_str())
                && attr(r.message_attributes(), "event_type").as_deref() == Some("InventoryUpdated")
                && attr(r.message_attributes(), "correlation_id").as_deref() == Some("req-o1")
                && r.message_attributes().unwrap()["event_type"].data_type() == "String"
        })
        .then_output(|| PublishOutput::builder().message_id("m").build());
    let publisher = SnsPublisher::new(mock_client!(aws_sdk_sns, [&publish]), topics());
    publisher.publish(&e).await.unwrap();
    assert_eq!(publish.num_calls(), 1);
}

#[tokio::test]
async fn many_events_are_batched_per_topic_in_chunks_of_ten() {
    let events: Vec<Envelope> =
        (0..25).map(|i| if i % 5 == 0 { update_failed(&format!("o{i}")) } else { event(&format!("o{i}")) }).collect();
    let batch = mock!(aws_sdk_sns::Client::publish_batch)
        .match_requests(|r| {
            let entries = r.publish_batch_request_entries();
            let expected_type =
                if r.topic_arn() == Some(UPDATED_ARN) { "InventoryUpdated" } else { "InventoryUpdateFailed" };
            entries.len() <= 10
                && entries.iter().all(|e| attr(e.message_attributes(), "event_type").as_deref() == Some(expected_type))
                && entries.iter().all(|e| e.message().contains(e.id()))
        })
        .then_compute_output(|r| {
            let ok =
                r.publish_batch_request_entries().iter().map(|e| PublishBatchResultEntry::builder().id(e.id()).build());
            PublishBatchOutput::builder().set_successful(Some(ok.collect())).set_failed(Some(vec![])).build()
        });
    let publisher = SnsPublisher::new(mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&batch]), topics());
    publisher.publish_all(&events).await.unwrap();
    // 20 InventoryUpdated (10 + 10) and 5 InventoryUpdateFailed (5): three calls.
    assert_eq!(batch.num_calls(), 3);
}

fn failure(id: &str, sender_fault: bool) -> BatchResultErrorEntry {
    BatchResultErrorEntry::builder()
        .id(id)
        .code("InternalError")
        .message("try again")
        .sender_fault(sender_fault)
        .build()
        .unwrap()
}

#[tokio::test]
async fn failed_batch_entries_are_retried_alone_until_they_pass() {
    let events = vec![event("o1"), event("o2"), event("o3")];
    let flaky = events[1].id.to_string();
    let (first_flaky, retry_flaky) = (flaky.clone(), flaky.clone());
    let first = mock!(aws_sdk_sns::Client::publish_batch)
        .match_requests(|r| r.publish_batch_request_entries().len() == 3)
        .then_output(move || PublishBatchOutput::builder().failed(failure(&first_flaky, false)).build());
    let retry = mock!(aws_sdk_sns::Client::publish_batch)
        .match_requests(move |r| {
            let e = r.publish_batch_request_entries();
            e.len() == 1 && e[0].id() == retry_flaky
        })
        .then_output(|| PublishBatchOutput::builder().build());
    let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&first, &retry]);
    SnsPublisher::new(client, topics()).publish_all(&events).await.unwrap();
    assert_eq!((first.num_calls(), retry.num_calls()), (1, 1));
}

#[tokio::test]
async fn entries_that_keep_failing_are_an_error_naming_them() {
    let events = vec![event("o1"), event("o2")];
    let id = events[0].id.to_string();
    let always = mock!(aws_sdk_sns::Client::publish_batch)
        .then_output(move || PublishBatchOutput::builder().failed(failure(&id, false)).build());
    let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&always]);
    let err = SnsPublisher::new(client, topics()).publish_all(&events).await.unwrap_err();
    assert!(
        matches!(&err.error, PublishError::Rejected(r) if r.len() == 1 && r[0].event_id == events[0].id.to_string()),
        "{err}"
    );
    assert_eq!(err.events, [events[0].id], "the failed entry, not its batch siblings");
    assert_eq!(err.error.class(), ErrorClass::Transient);
    assert_eq!(always.num_calls(), 3);
}

#[tokio::test]
async fn sender_faults_are_not_retried() {
    let events = vec![event("o1"), event("o2")];
    let id = events[0].id.to_string();
    let rejected = mock!(aws_sdk_sns::Client::publish_batch)
        .then_output(move || PublishBatchOutput::builder().failed(failure(&id, true)).build());
    let client = mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&rejected]);
    let err = SnsPublisher::new(client, topics()).publish_all(&events).await.unwrap_err();
    assert_eq!(err.error.class(), ErrorClass::Permanent);
    assert_eq!(rejected.num_calls(), 1);
}

#[tokio::test]
async fn a_type_without_a_configured_topic_is_refused_before_any_request() {
    let publish = mock!(aws_sdk_sns::Client::publish).then_output(|| PublishOutput::builder().build());
    let publisher = SnsPublisher::new(mock_client!(aws_sdk_sns, [&publish]), topics());
    let parent = event("o1");
    let shipped = OrderShipped {
        order_id: "o1".into(),
        email: "a@b.c".into(),
        shipment_id: "s".into(),
        carrier: "c".into(),
        tracking_id: "t".into(),
        items: vec![],
    };
    let err = publisher.publish(&Envelope::derive(&parent, shipped, chrono::Utc::now())).await.unwrap_err();
    assert!(matches!(err, PublishError::NoTopic(EventType::OrderShipped)));
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(publish.num_calls(), 0);
}

#[tokio::test]
async fn dead_letters_keep_the_body_and_carry_the_reason() {
    let mut m = message("m1", "{not json");
    let mut attr = aws_lambda_events::sqs::SqsMessageAttribute::default();
    attr.string_value = Some("req-9".into());
    attr.data_type = Some("String".into());
    m.message_attributes.insert("correlation_id".into(), attr);
    let send = mock!(aws_sdk_sqs::Client::send_message)
        .match_requests(|r| {
            let a = r.message_attributes().unwrap();
            let s = |k: &str| a.get(k).and_then(|v| v.string_value()).map(str::to_owned);
            r.queue_url() == Some("https://dlq")
                && r.message_body() == Some("{not json")
                && s("error_code").as_deref() == Some("not_json")
                && s("error_reason").as_deref() == Some("body is not JSON")
                && s("original_message_id").as_deref() == Some("m1")
                && s("source_queue_arn").as_deref() == Some("arn:aws:sqs:us-east-1:000000000000:shipping")
                && s("receive_count").as_deref() == Some("2")
                && s("correlation_id").as_deref() == Some("req-9")
                && s("error_class").as_deref() == Some("permanent")
                && s("failed_at").is_some()
        })
        .then_output(|| SendMessageOutput::builder().build());
    let queue = SqsQueue::new(mock_client!(aws_sdk_sqs, [&send]), "https://queue", "https://dlq");
    let letter = DeadLetter { message: &m, code: "not_json", reason: "body is not JSON", class: ErrorClass::Permanent };
    queue.dead_letter(letter).await.unwrap();
    assert_eq!(send.num_calls(), 1);
}

#[tokio::test]
async fn retry_delay_changes_the_record_visibility() {
    let change = mock!(aws_sdk_sqs::Client::change_message_visibility)
        .match_requests(|r| {
            r.queue_url() == Some("https://queue")
                && r.receipt_handle() == Some("rh-m1")
                && r.visibility_timeout() == Some(40)
        })
        .then_output(|| ChangeMessageVisibilityOutput::builder().build());
    let queue = SqsQueue::new(mock_client!(aws_sdk_sqs, [&change]), "https://queue", "https://dlq");
    queue.delay_retry(&message("m1", "x"), Duration::from_secs(40)).await.unwrap();
    assert_eq!(change.num_calls(), 1);
}

#[tokio::test]
async fn a_request_sns_refuses_as_invalid_is_permanent_and_a_throttled_one_transient() {
    use aws_sdk_sns::error::ErrorMetadata;
    use aws_sdk_sns::operation::publish::PublishError as SnsPublishError;
    let answer = |code: &'static str| {
        mock!(aws_sdk_sns::Client::publish).then_error(move || {
            SnsPublishError::generic(ErrorMetadata::builder().code(code).message("from the mock").build())
        })
    };
    let invalid = answer("InvalidParameter");
    let err =
        SnsPublisher::new(mock_client!(aws_sdk_sns, [&invalid]), topics()).publish(&event("o1")).await.unwrap_err();
    assert!(matches!(err, PublishError::Refused(_)), "{err}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    let throttled = answer("Throttling");
    let err =
        SnsPublisher::new(mock_client!(aws_sdk_sns, [&throttled]), topics()).publish(&event("o1")).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Transient, "{err}");
}
