//! The shipping handler on committed Lambda fixtures.

mod support;

use shopsphere_messaging::testing::run_sqs_fixture;
use support::{InMemoryShipments, consumer};

#[tokio::test]
async fn raw_and_sns_wrapped_batches_ship_once() {
    let shipments = InMemoryShipments::default();
    let c = consumer(&shipments);
    for fixture in ["shipping/sqs-raw.json", "shipping/sqs-sns.json"] {
        let (response, _) = run_sqs_fixture(&c, fixture, 10).await;
        assert!(response.batch_item_failures.is_empty(), "{fixture}");
    }
    assert_eq!(shipments.0.lock().unwrap().len(), 1);
}
