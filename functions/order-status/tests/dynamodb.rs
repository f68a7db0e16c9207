//! The order-status adapter's exact requests, checked with aws-smithy-mocks.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use shopsphere_events::samples;
use shopsphere_order_status::domain::{Applied, OrderRows, StatusChange};
use shopsphere_orders::{OrderView, OrdersTable};

fn paid() -> shopsphere_events::Envelope {
    samples::payment_processed(&samples::order_created("o-1"))
}

fn refused(item: Option<HashMap<String, AttributeValue>>) -> UpdateItemError {
    UpdateItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().set_item(item).build())
}

#[tokio::test]
async fn an_event_is_one_conditional_update_keyed_by_its_id() {
    let event = paid();
    let event_id = event.id.to_string();
    let update = mock!(Client::update_item)
        .match_requests(move |r| {
            let names = r.expression_attribute_names().unwrap();
            let values = r.expression_attribute_values().unwrap();
            r.table_name() == Some("orders")
                && r.key().unwrap()["order_id"] == AttributeValue::S("o-1".into())
                && r.update_expression()
                    == Some("SET #timeline.#event = :happened, #updated_at = :updated_at, #status = :status")
                && r.condition_expression()
                    == Some(
                        "attribute_exists(#order_id) AND attribute_not_exists(#timeline.#event) AND #status IN (:from0)",
                    )
                && names["#event"] == event_id
                && values[":status"] == AttributeValue::S("PAID".into())
                && values[":from0"] == AttributeValue::S("PENDING".into())
                && r.return_values_on_condition_check_failure() == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let orders = OrdersTable::new(mock_client!(aws_sdk_dynamodb, [&update]), "orders");
    assert_eq!(orders.apply(&StatusChange::of(&paid()), true).await.unwrap(), Applied::Now);
}

#[tokio::test]
async fn a_refusal_tells_a_repeat_a_missing_row_and_a_status_ahead_apart() {
    let event = paid();
    let mut applied = OrderView::from_event(&event);
    applied.apply(&event);
    let mut ahead = OrderView::from_event(&event);
    ahead.status = shopsphere_orders::OrderStatus::Shipped;
    let rows: Vec<Option<HashMap<String, AttributeValue>>> =
        vec![Some(serde_dynamo::to_item(&applied).unwrap()), None, Some(serde_dynamo::to_item(&ahead).unwrap())];
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let update = mock!(Client::update_item).then_error(move || {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        refused(rows[n % rows.len()].clone())
    });
    let orders = OrdersTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&update]), "orders");
    let change = StatusChange::of(&event);
    assert_eq!(orders.apply(&change, true).await.unwrap(), Applied::Repeat);
    assert_eq!(orders.apply(&change, true).await.unwrap(), Applied::Missing);
    assert_eq!(orders.apply(&change, true).await.unwrap(), Applied::StatusAhead);
}

#[test]
fn order_created_names_every_attribute_it_sets_by_a_placeholder() {
    let change = StatusChange::of(&samples::order_created("o-1"));
    let update = shopsphere_order_status::dynamodb::status_update(&change, false);
    // `lines` and `total` are DynamoDB reserved words: used bare, the update is refused.
    for bare in [" lines", " total", " customer_id", " timeline", " reasons", " updated_at"] {
        assert!(!update.update.contains(bare), "{bare} in {}", update.update);
    }
    assert!(update.names.iter().any(|(p, a)| p == "#lines" && a == "lines"));
}
