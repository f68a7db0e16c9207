//! The shipments adapter's exact request, checked with aws-smithy-mocks.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_mocks::{mock, mock_client};
use shopsphere_events::{Event, samples};
use shopsphere_runtime::Write;
use shopsphere_shipping::Shipment;
use shopsphere_shipping::domain::Shipments;
use shopsphere_shipping::dynamodb::ShipmentsTable;

fn shipment() -> Shipment {
    let order = samples::order_created("o-1");
    let updated = samples::inventory_updated(&samples::payment_processed(&order), &order);
    let Event::InventoryUpdated(u) = &updated.data else { unreachable!() };
    Shipment::for_order(&updated, u)
}

#[tokio::test]
async fn the_shipment_is_put_where_its_order_has_none_asking_for_the_old_row() {
    let put = mock!(Client::put_item)
        .match_requests(|r| {
            r.table_name() == Some("shipments")
                && r.condition_expression() == Some("attribute_not_exists(order_id)")
                && r.return_values_on_condition_check_failure() == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
                && r.item().unwrap()["events"].as_s().is_ok_and(|e| e.contains("OrderShipped"))
        })
        .then_output(|| PutItemOutput::builder().build());
    let table = ShipmentsTable::new(mock_client!(aws_sdk_dynamodb, [&put]), "shipments");
    assert_eq!(table.create(&shipment()).await.unwrap(), Write::Done);
}

#[tokio::test]
async fn a_refused_put_returns_the_existing_shipment() {
    let existing = shipment();
    let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(&existing).unwrap();
    let put = mock!(Client::put_item).then_error(move || {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().set_item(Some(item.clone())).build(),
        )
    });
    let table = ShipmentsTable::new(mock_client!(aws_sdk_dynamodb, [&put]), "shipments");
    assert_eq!(table.create(&shipment()).await.unwrap(), Write::Refused(Some(existing)));
}
