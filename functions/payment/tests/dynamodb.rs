//! The payments adapter's exact requests, checked with aws-smithy-mocks.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use shopsphere_events::samples::eur;
use shopsphere_messaging::StoredEvents;
use shopsphere_payment::dynamodb::PaymentsTable;
use shopsphere_payment::{PaymentRecord, PaymentStatus, Payments};
use shopsphere_runtime::{Updated, Write};

fn intent() -> PaymentRecord {
    PaymentRecord {
        order_id: "o-1".into(),
        status: PaymentStatus::Charging,
        amount: eur(4500),
        email: "ada@example.com".into(),
        items: vec![],
        charge_key: "e-1".into(),
        lease_until: 1_800_000_010_000,
        payment_id: None,
        reason: None,
        refund_key: None,
        refund_id: None,
        charge_events: StoredEvents::default(),
        refund_events: StoredEvents::default(),
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[tokio::test]
async fn the_intent_is_put_where_the_order_has_no_payment_and_settled_under_its_lease() {
    let open = mock!(Client::put_item)
        .match_requests(|r| {
            r.condition_expression() == Some("attribute_not_exists(order_id)")
                && r.item().unwrap()["status"] == s("CHARGING")
                && r.item().unwrap()["charge_key"] == s("e-1")
                && r.return_values_on_condition_check_failure() == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(|| PutItemOutput::builder().build());
    let settle = mock!(Client::put_item)
        .match_requests(|r| {
            let values = r.expression_attribute_values().unwrap();
            r.condition_expression() == Some("#status = :status AND lease_until = :lease")
                && values[":status"] == s("CHARGING")
                && values[":lease"] == AttributeValue::N("1800000010000".into())
                && r.item().unwrap()["status"] == s("CHARGED")
        })
        .then_output(|| PutItemOutput::builder().build());
    let table = PaymentsTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&open, &settle]), "payments");
    assert_eq!(table.open(&intent()).await.unwrap(), Write::Done);
    let charged = PaymentRecord { status: PaymentStatus::Charged, payment_id: Some("pay_1".into()), ..intent() };
    assert_eq!(table.settle(&charged, PaymentStatus::Charging, 1_800_000_010_000).await.unwrap(), Write::Done);
}

#[tokio::test]
async fn a_refund_starts_only_from_charged_and_returns_the_row() {
    let row = PaymentRecord { status: PaymentStatus::Refunding, refund_key: Some("e-2".into()), ..intent() };
    let item: std::collections::HashMap<String, AttributeValue> = serde_dynamo::to_item(&row).unwrap();
    let begin = mock!(Client::update_item)
        .match_requests(|r| {
            r.update_expression() == Some("SET #status = :refunding, refund_key = :key, lease_until = :lease")
                && r.condition_expression() == Some("#status = :charged")
                && r.return_values() == Some(&ReturnValue::AllNew)
                && r.return_values_on_condition_check_failure() == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(move || UpdateItemOutput::builder().set_attributes(Some(item.clone())).build());
    let table = PaymentsTable::new(mock_client!(aws_sdk_dynamodb, [&begin]), "payments");
    assert_eq!(table.begin_refund("o-1", "e-2", 1_800_000_010_000).await.unwrap(), Updated::Done(row));
}
