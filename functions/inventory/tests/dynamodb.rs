//! The inventory adapter's exact requests, checked with aws-smithy-mocks.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, ReturnValuesOnConditionCheckFailure};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use shopsphere_events::{SkuQty, samples};
use shopsphere_inventory::ReservationStatus;
use shopsphere_inventory::domain::{Reservation, Reserve, Stock};
use shopsphere_inventory::dynamodb::InventoryStore;
use shopsphere_messaging::StoredEvents;

fn reservation() -> Reservation {
    let created = samples::order_created("o-1");
    let paid = samples::payment_processed(&created);
    Reservation {
        order_id: "o-1".into(),
        status: ReservationStatus::Reserved,
        items: vec![SkuQty { sku: "SKU-MUG".into(), qty: 2 }, SkuQty { sku: "SKU-TEE".into(), qty: 1 }],
        events: StoredEvents(vec![samples::inventory_updated(&paid, &created)]),
        created_at: "2026-11-28T10:00:00Z".into(),
    }
}

fn store(client: Client) -> InventoryStore {
    InventoryStore::new(client, "inventory", "reservations")
}

fn cancelled(reasons: Vec<CancellationReason>) -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder().set_cancellation_reasons(Some(reasons)).build(),
    )
}

fn code(code: &str) -> CancellationReason {
    CancellationReason::builder().code(code).build()
}

#[tokio::test]
async fn a_reservation_is_one_transaction_of_the_guard_and_every_stock_update() {
    let transact = mock!(Client::transact_write_items)
        .match_requests(|r| {
            let items = r.transact_items();
            let guard = items[0].put().unwrap();
            let take = |i: usize, sku: &str, qty: &str| {
                let u = items[i].update().unwrap();
                u.table_name() == "inventory"
                    && u.key()["sku"] == AttributeValue::S(sku.into())
                    && u.update_expression() == "SET stock = stock - :qty"
                    && u.condition_expression() == Some("stock >= :qty")
                    && u.expression_attribute_values().unwrap()[":qty"] == AttributeValue::N(qty.into())
            };
            items.len() == 3
                && guard.table_name() == "reservations"
                && guard.condition_expression() == Some("attribute_not_exists(order_id)")
                && guard.return_values_on_condition_check_failure()
                    == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
                && guard.item()["status"] == AttributeValue::S("RESERVED".into())
                && guard.item()["events"].as_s().is_ok_and(|e| e.contains("InventoryUpdated"))
                && take(1, "SKU-MUG", "2")
                && take(2, "SKU-TEE", "1")
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let store = store(mock_client!(aws_sdk_dynamodb, [&transact]));
    assert_eq!(store.reserve(&reservation()).await.unwrap(), Reserve::Reserved);
    assert_eq!(transact.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_guard_is_a_repeat_read_from_the_cancellation_reason() {
    let existing = reservation();
    let item: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(&existing).unwrap();
    let transact = mock!(Client::transact_write_items).then_error(move || {
        cancelled(vec![
            CancellationReason::builder().code("ConditionalCheckFailed").set_item(Some(item.clone())).build(),
            code("None"),
            code("None"),
        ])
    });
    let store = store(mock_client!(aws_sdk_dynamodb, [&transact]));
    assert_eq!(store.reserve(&reservation()).await.unwrap(), Reserve::Existing(existing));
}

#[tokio::test]
async fn a_failed_stock_condition_is_short_and_writes_nothing() {
    let transact = mock!(Client::transact_write_items)
        .then_error(|| cancelled(vec![code("None"), code("ConditionalCheckFailed"), code("None")]));
    let store = store(mock_client!(aws_sdk_dynamodb, [&transact]));
    assert_eq!(store.reserve(&reservation()).await.unwrap(), Reserve::Short);
}

#[tokio::test]
async fn a_conflicting_transaction_is_retried_then_transient() {
    let transact = mock!(Client::transact_write_items)
        .then_error(|| cancelled(vec![code("None"), code("TransactionConflict"), code("None")]));
    let store = store(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&transact]));
    let err = store.reserve(&reservation()).await.unwrap_err();
    assert!(err.transient, "{err}");
    assert_eq!(transact.num_calls(), 3);
}
