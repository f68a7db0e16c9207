//! The order-status handler on committed Lambda fixtures.

mod support;

use shopsphere_messaging::testing::run_sqs_fixture;
use shopsphere_orders::OrderStatus;
use support::{InMemoryOrders, consumer};

#[tokio::test]
async fn a_batch_with_the_whole_saga_applies_each_event_once() {
    let orders = InMemoryOrders::default();
    let c = consumer(&orders);
    for fixture in ["order-status/sqs-raw.json", "order-status/sqs-sns.json"] {
        let (response, _) = run_sqs_fixture(&c, fixture, 10).await;
        assert!(response.batch_item_failures.is_empty(), "{fixture}");
    }
    let view = orders.view("0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7");
    assert_eq!(view.timeline.len(), 8);
    assert!(matches!(view.status, OrderStatus::Shipped | OrderStatus::Refunded), "{:?}", view.status);
}
