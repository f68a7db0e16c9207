//! The order saga end to end: HTTP API → orders table → stream → outbox →
//! SNS → SQS → payment, inventory, shipping, notification, order-status, on a
//! fresh stack per test.

use std::time::Duration;

use shopsphere_e2e::{Shop, eventually, order};
use shopsphere_payment::gateway::charge_key;

const SAGA: Duration = Duration::from_secs(90);
const QUICK_MAIL: [(&str, &str); 1] = [("NotificationDelayMs", "20")];

/// The emails the mail provider sent for the order (by event type, one per
/// send), once there are `count`.
async fn emails(shop: &Shop, id: &str, count: usize) -> Vec<String> {
    eventually(&format!("{count} emails for {id}"), SAGA, || async {
        let emails = shop.sent_emails(id).await;
        (emails.len() >= count).then_some(emails)
    })
    .await
}

/// The event types of an order's timeline, in order.
fn event_types(order: &serde_json::Value) -> Vec<&str> {
    order["timeline"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_happy_path_an_order_ships_with_four_events_three_emails_and_stock_taken_once() {
    let shop = Shop::start(&QUICK_MAIL).await;
    let id = shop.place_ok(&order("tok_visa", &[("SKU-MUG", 2), ("SKU-TEE", 1)])).await;

    let shipped = shop.settles(&id, "SHIPPED", SAGA).await;
    let timeline = event_types(&shipped);
    assert_eq!(timeline, ["OrderCreated", "PaymentProcessed", "InventoryUpdated", "OrderShipped"]);
    assert_eq!(emails(&shop, &id, 3).await, ["OrderCreated", "OrderShipped", "PaymentProcessed"]);
    shop.wait_drained("NotificationQueueUrl", SAGA).await;
    assert_eq!(shop.sent_emails(&id).await.len(), 3, "no extra email once the queue is empty");
    assert_eq!((shop.stock("SKU-MUG").await, shop.stock("SKU-TEE").await), (498, 499));
    assert_eq!(shop.gateway_charges(shipped["timeline"][0]["event_id"].as_str().unwrap()).await, 1);
    shop.audit_clean(SAGA).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_declined_payment_fails_the_order_sends_a_failure_email_and_leaves_stock_alone() {
    let shop = Shop::start(&QUICK_MAIL).await;
    let id = shop.place_ok(&order("tok_decline", &[("SKU-CAP", 3)])).await;

    let failed = shop.settles(&id, "PAYMENT_FAILED", SAGA).await;
    assert_eq!(failed["reasons"][0]["code"], "card_declined", "{failed}");
    assert_eq!(emails(&shop, &id, 2).await, ["OrderCreated", "PaymentFailed"]);
    // One call to the gateway, which declined it: no money moved.
    let created_id = failed["timeline"][0]["event_id"].as_str().unwrap();
    let gateway: serde_json::Value = shop.provider_record(&charge_key(created_id)).await.expect("the gateway's record");
    assert_eq!(gateway["charge"]["status"], "DECLINED", "{gateway}");
    assert_eq!(shop.gateway_charges(created_id).await, 1, "{gateway}");
    assert_eq!(shop.stock("SKU-CAP").await, 500);
    // Stock conserved, no payment, one email per event: every queue the order fed has done its part.
    shop.audit_clean(SAGA).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_stock_out_compensates_with_a_refund() {
    let shop = Shop::start(&QUICK_MAIL).await;
    let id = shop.place_ok(&order("tok_visa", &[("SKU-BAG", 1), ("SKU-RARE", 1)])).await;

    let refunded = shop.settles(&id, "REFUNDED", SAGA).await;
    let timeline = event_types(&refunded);
    assert_eq!(timeline, ["OrderCreated", "PaymentProcessed", "InventoryUpdateFailed", "PaymentRefunded"]);
    assert_eq!(
        emails(&shop, &id, 4).await,
        ["InventoryUpdateFailed", "OrderCreated", "PaymentProcessed", "PaymentRefunded"]
    );
    assert_eq!((shop.stock("SKU-BAG").await, shop.stock("SKU-RARE").await), (500, 0), "nothing reserved");
    shop.audit_clean(SAGA).await;
}
