//! Every accepted order reaches a final state on its own: a step whose
//! retries are spent publishes its failure before it lets go, compensation
//! runs, the customer hears of it, and `shopsphere audit` finds nothing wrong.
//! An order whose OrderCreated SNS refused is reported, and `shopsphere outbox
//! republish` completes it. (MaxReceiveCount 3 keeps the retry budget short.)

use std::time::Duration;

use serde_json::Value;
use shopsphere_e2e::{Engine, Shop, eventually, order};
use shopsphere_local::proxy::{Fault, FaultAnswer};
use shopsphere_localstack_tests::{Queue, attribute};

const SAGA: Duration = Duration::from_secs(120);

fn queue(shop: &Shop, output: &str) -> Queue {
    Queue { url: shop.output(output).to_owned(), arn: String::new() }
}

/// The order's OrderCreated event id (the gateway's charge key).
fn order_created_id(order: &Value) -> String {
    order["timeline"][0]["event_id"].as_str().expect("the timeline starts with OrderCreated").to_owned()
}

/// Wait for `count` messages on the DLQ an output names (left there).
async fn dead_letters(shop: &Shop, output: &str, count: usize) -> Vec<aws_sdk_sqs::types::Message> {
    eventually(&format!("{count} message(s) on {output}"), SAGA, || async {
        let messages = shop.emu.peek(&queue(shop, output), count, Duration::from_secs(2)).await;
        (messages.len() >= count).then_some(messages)
    })
    .await
}

async fn emails(shop: &Shop, id: &str, count: usize) -> Vec<String> {
    eventually(&format!("{count} emails for {id}"), SAGA, || async {
        let sent = shop.sent_emails(id).await;
        (sent.len() >= count).then_some(sent)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_flaky_gateway_orders_under_several_payment_instances_ship_charged_once() {
    // tok_flaky fails twice per order, counted by the gateway itself: the
    // third receive charges, whichever instance it lands on.
    let shop = Shop::start(&[("NotificationDelayMs", "0"), ("MaxReceiveCount", "3"), ("FlakyFailures", "2")]).await;
    shop.control("PaymentFunction", "start?concurrency=3").await;
    let body = order("tok_flaky", &[("SKU-MUG", 1)]);
    let ids = futures::future::join_all((0..6).map(|_| shop.place_ok(&body))).await;
    for id in &ids {
        let shipped = shop.settles(id, "SHIPPED", SAGA).await;
        assert_eq!(shop.gateway_charges(&order_created_id(&shipped)).await, 1, "order {id}: one charge call");
        assert_eq!(shop.flaky_attempts(id).await, 3, "order {id}: two failures, then the charge");
    }
    if let Engine::LocalHost(_) = shop.engine {
        eprintln!("payment instances: {}", shop.function("PaymentFunction").await["instances"]);
    }
    shop.audit_clean(SAGA).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_gateway_down_past_the_retry_budget_fails_the_payment_and_tells_the_customer() {
    let shop = Shop::start(&[("NotificationDelayMs", "0"), ("MaxReceiveCount", "3"), ("FlakyFailures", "100")]).await;
    let id = shop.place_ok(&order("tok_flaky", &[("SKU-MUG", 1)])).await;

    let failed = shop.settles(&id, "PAYMENT_FAILED", SAGA).await;
    assert_eq!(failed["reasons"][0]["code"], "gateway_unavailable", "{failed}");
    assert_eq!(emails(&shop, &id, 2).await, ["OrderCreated", "PaymentFailed"]);
    assert_eq!(shop.gateway_charges(&order_created_id(&failed)).await, 0, "no money moved");
    assert_eq!(shop.stock("SKU-MUG").await, 500);
    // The record is kept for inspection, with why and after how many receives.
    let dead = dead_letters(&shop, "PaymentDLQUrl", 1).await;
    assert_eq!(attribute(&dead[0], "error_code").as_deref(), Some("retries_exhausted"));
    assert_eq!(attribute(&dead[0], "error_class").as_deref(), Some("transient"));
    assert_eq!(attribute(&dead[0], "receive_count").as_deref(), Some("3"));
    assert!(attribute(&dead[0], "error_reason").is_some_and(|r| r.contains("simulated outage")));
    let report = shop.audit_clean(SAGA).await;
    assert_eq!(report["dead_letters"][0]["order_id"], id.as_str(), "the audit lists the DLQ message: {report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_shipping_down_past_the_retry_budget_refunds_the_order_and_returns_its_stock() {
    let shop = Shop::start_with_proxy(&[("NotificationDelayMs", "0"), ("MaxReceiveCount", "3")]).await;
    // Every attempt to record a shipment fails; recording it failed does not.
    shop.proxy.as_ref().unwrap().inject(Fault {
        service: "dynamodb".into(),
        action: "PutItem".into(),
        table: Some(shop.output("ShipmentsTableName").to_owned()),
        body_contains: Some("\"SHIPPED\"".into()),
        times: u32::MAX,
        answer: FaultAnswer::ServerError,
    });
    let id = shop.place_ok(&order("tok_visa", &[("SKU-MUG", 2)])).await;

    let refunded = shop.settles(&id, "REFUNDED", SAGA).await;
    let codes: Vec<&str> =
        refunded["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["shipping_unavailable", "shipping_failed"], "{refunded}");
    assert_eq!(emails(&shop, &id, 4).await, ["OrderCreated", "PaymentProcessed", "PaymentRefunded", "ShippingFailed"]);
    // Inventory gave the two mugs back once.
    eventually("the stock given back", SAGA, || async { (shop.stock("SKU-MUG").await == 500).then_some(()) }).await;
    let dead = dead_letters(&shop, "ShippingDLQUrl", 1).await;
    assert_eq!(attribute(&dead[0], "error_code").as_deref(), Some("retries_exhausted"));
    shop.audit_clean(SAGA).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_inventory_down_past_the_retry_budget_refunds_the_order() {
    let shop = Shop::start_with_proxy(&[("NotificationDelayMs", "0"), ("MaxReceiveCount", "3")]).await;
    // Taking stock (one transaction with the reservation) always fails.
    shop.proxy.as_ref().unwrap().inject(Fault {
        service: "dynamodb".into(),
        action: "TransactWriteItems".into(),
        table: Some(shop.output("ReservationsTableName").to_owned()),
        body_contains: None,
        times: u32::MAX,
        answer: FaultAnswer::ServerError,
    });
    let id = shop.place_ok(&order("tok_visa", &[("SKU-TEE", 1)])).await;

    let refunded = shop.settles(&id, "REFUNDED", SAGA).await;
    assert_eq!(refunded["reasons"][0]["code"], "inventory_unavailable", "{refunded}");
    assert_eq!(
        emails(&shop, &id, 4).await,
        ["InventoryUpdateFailed", "OrderCreated", "PaymentProcessed", "PaymentRefunded"]
    );
    assert_eq!(shop.stock("SKU-TEE").await, 500, "nothing taken");
    shop.audit_clean(SAGA).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_an_order_created_sns_refused_is_reported_then_republished_and_the_order_completes() {
    let shop = Shop::start_with_proxy(&[("NotificationDelayMs", "0")]).await;
    let proxy = shop.proxy.as_ref().unwrap();
    // Only this customer's OrderCreated is refused.
    let customer = "cus-republish";
    proxy.inject(Fault {
        service: "sns".into(),
        action: "Publish".into(),
        table: None,
        body_contains: Some(customer.into()),
        times: u32::MAX,
        answer: FaultAnswer::Invalid,
    });
    let id = shop.place_ok_as(customer, &order("tok_visa", &[("SKU-CAP", 1)])).await;

    // The outbox reports the row with its order id and moves on.
    let reported = dead_letters(&shop, "OrderOutboxFailureQueueUrl", 1).await;
    let skipped: Value = serde_json::from_str(reported[0].body().unwrap()).unwrap();
    assert_eq!(skipped["order_id"], id.as_str(), "{skipped}");
    assert!(skipped["reason"].as_str().unwrap().contains("InvalidParameter"), "{skipped}");
    let other = shop.place_ok(&order("tok_visa", &[("SKU-CAP", 1)])).await;
    shop.settles(&other, "SHIPPED", SAGA).await;
    let pending = shop.order_of(customer, &id).await.expect("the customer's order");
    assert_eq!(pending["status"], "PENDING", "the shard moved past it; it waits for the operator");

    // Its cause fixed, the operator publishes it; a second run finds nothing to do.
    proxy.clear();
    let published = shop.shopsphere(&["outbox", "republish", "--older-than", "0s"]).await;
    assert!(published.contains(&id) && published.contains("published OrderCreated for 1 order(s)"), "{published}");
    shop.settles_as(customer, &id, "SHIPPED", SAGA).await;
    let again = shop.shopsphere(&["outbox", "republish", "--older-than", "0s"]).await;
    assert!(again.contains("published OrderCreated for 0 order(s)"), "{again}");
    shop.audit_clean(SAGA).await;
}
