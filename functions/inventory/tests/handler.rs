//! The inventory handler on committed Lambda fixtures.

mod support;

use shopsphere_messaging::testing::run_sqs_fixture;
use support::{InMemoryStock, consumer};

#[tokio::test]
async fn raw_and_sns_wrapped_batches_deduct_once() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 10), ("SKU-TEE", 10)]);
    let c = consumer(&stock);
    for fixture in ["inventory/sqs-raw.json", "inventory/sqs-sns.json"] {
        let (response, queue) = run_sqs_fixture(&c, fixture, 10).await;
        assert!(response.batch_item_failures.is_empty(), "{fixture}");
        assert!(queue.dead_letters().is_empty());
    }
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (8, 9));
    assert_eq!(c.publisher.published().len(), 2, "published, then re-published for the repeat");
}

#[tokio::test]
async fn a_redelivery_from_a_newer_producer_with_an_extra_field_is_a_repeat_not_a_poison() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 10), ("SKU-TEE", 10)]);
    let c = consumer(&stock);
    let (first, _) = run_sqs_fixture(&c, "inventory/sqs-raw.json", 10).await;
    assert!(first.batch_item_failures.is_empty());
    // The same event again, its payload grown by an optional field.
    let mut event: aws_lambda_events::sqs::SqsEvent = shopsphere_messaging::testing::fixture("inventory/sqs-raw.json");
    for record in &mut event.records {
        let mut body: serde_json::Value = serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
        body["data"]["gift_wrap"] = true.into();
        record.body = Some(body.to_string());
    }
    let processor = shopsphere_messaging::BatchProcessor::new(
        shopsphere_messaging::InMemoryQueue::default(),
        shopsphere_messaging::ProcessorConfig::default(),
    );
    let again = c.handle_batch(&processor, event, shopsphere_runtime::Deadline::default()).await;
    assert!(again.batch_item_failures.is_empty());
    assert!(processor.queue().dead_letters().is_empty(), "not a mismatch");
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (8, 9), "stock taken once");
}
