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
