//! The order-status handler on committed Lambda fixtures.

mod support;

use shopsphere_messaging::testing::run_sqs_fixture;
use shopsphere_orders::OrderStatus;
use support::{InMemoryOrders, consumer};

#[tokio::test]
async fn a_batch_with_the_whole_saga_applies_each_event_once() {
    let orders = InMemoryOrders::default();
    let c = consumer(&orders);
    // One record at a time: records of one order in one batch race on the row's version.
    for fixture in ["order-status/sqs-raw.json", "order-status/sqs-sns.json"] {
        let (response, _) = run_sqs_fixture(&c, fixture, 1).await;
        assert!(response.batch_item_failures.is_empty(), "{fixture}");
    }
    let view = orders.view("0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7");
    assert_eq!(view.timeline.len(), 7);
    assert!(matches!(view.status, OrderStatus::Shipped | OrderStatus::Refunded), "{:?}", view.status);
}

#[tokio::test]
async fn concurrent_records_of_one_order_lose_races_transiently_not_permanently() {
    let orders = InMemoryOrders::default();
    let c = consumer(&orders);
    let (_, queue) = run_sqs_fixture(&c, "order-status/sqs-raw.json", 10).await;
    assert!(queue.dead_letters().is_empty(), "a version race is never a poison message");
    let (retry, _) = run_sqs_fixture(&c, "order-status/sqs-raw.json", 1).await;
    assert!(retry.batch_item_failures.is_empty());
    assert_eq!(orders.view("0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7").timeline.len(), 7);
}
