//! The orders adapter's exact requests, checked with aws-smithy-mocks: a new
//! order and its payment token go in one transaction.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{mock, mock_client};
use shopsphere_events::samples::eur;
use shopsphere_idempotency::DynamoDbStore;
use shopsphere_order_api::Orders;
use shopsphere_order_api::dynamodb::OrderStore;
use shopsphere_orders::{OrderStatus, OrderView, OrdersTable};
use shopsphere_payment_tokens::{KEPT_FOR_SECONDS, PaymentToken, PaymentTokensTable};
use shopsphere_runtime::Write;

fn order() -> OrderView {
    OrderView {
        order_id: "o-1".into(),
        status: OrderStatus::Pending,
        customer_id: "cus-ada".into(),
        email: "ada@example.com".into(),
        lines: vec![],
        total: eur(4500),
        correlation_id: "req-1".into(),
        traceparent: None,
        created_at: "2026-11-28T10:00:00+00:00".into(),
        updated_at: "2026-11-28T10:00:00+00:00".into(),
        timeline: Default::default(),
        reasons: vec![],
        rebuilt_from: None,
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[tokio::test]
async fn a_new_order_and_its_token_are_one_transaction_and_the_row_holds_no_token() {
    let transact = mock!(Client::transact_write_items)
        .match_requests(|r| {
            let [order, token] = r.transact_items() else { return false };
            let (Some(order), Some(token)) = (order.put(), token.put()) else { return false };
            order.table_name() == "orders"
                && order.item().get("order_id") == Some(&s("o-1"))
                && !order.item().contains_key("payment_token")
                && token.table_name() == "payment-tokens"
                && token.condition_expression() == Some("attribute_not_exists(order_id)")
                && token.item().get("order_id") == Some(&s("o-1"))
                && token.item().get("token") == Some(&s("tok_visa"))
                && token.item().get("expires_at") == Some(&AttributeValue::N((1_000 + KEPT_FOR_SECONDS).to_string()))
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let client = mock_client!(aws_sdk_dynamodb, [&transact]);
    let store = OrderStore {
        orders: OrdersTable::new(client.clone(), "orders"),
        requests: DynamoDbStore::new(client.clone(), "idempotency"),
        tokens: PaymentTokensTable::new(client, "payment-tokens"),
    };
    let written = store.create(&order(), &PaymentToken::new("o-1", "tok_visa", 1_000)).await.unwrap();
    assert!(matches!(written, Write::Done));
    assert_eq!(transact.num_calls(), 1);
}
