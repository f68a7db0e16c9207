//! Effects that happen once for good: the guard of every effect is a row
//! keyed by the business, which lives as long as the data, so a repeat is
//! recognised however late it comes (after any idempotency record's TTL),
//! through a DLQ, a replay or a store outage.

use std::time::Duration;

use serde_json::Value;
use shopsphere_e2e::{Shop, eventually, order};
use shopsphere_events::samples;
use shopsphere_local::proxy::{Fault, FaultAnswer};
use shopsphere_messaging::REPEAT_RECOGNISED;

const SAGA: Duration = Duration::from_secs(120);

fn envelope_json(envelope: &shopsphere_events::Envelope) -> String {
    serde_json::to_string(envelope).unwrap()
}

/// Wait until `function` has recognised `count` repeats.
async fn repeats(shop: &Shop, function: &str, count: usize) {
    eventually(&format!("{count} repeat(s) recognised by {function}"), SAGA, || async {
        (shop.logged(function, REPEAT_RECOGNISED).await >= count).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_payment_redriven_after_its_idempotency_records_expired_takes_no_stock() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    let created = samples::order_created(&uuid::Uuid::new_v4().to_string());
    let paid = envelope_json(&samples::payment_processed(&created));
    shop.send("InventoryQueueUrl", std::slice::from_ref(&paid)).await;
    shop.wait_drained("InventoryQueueUrl", SAGA).await;
    assert_eq!((shop.stock("SKU-MUG").await, shop.stock("SKU-TEE").await), (498, 499));

    // Two weeks later: whatever idempotency records there were are gone; the
    // same PaymentProcessed sits in the DLQ and is redriven.
    shop.expire_idempotency_records().await;
    shop.send("InventoryDLQUrl", &[paid]).await;
    let moved = shop.shopsphere(&["dlq", "redrive", "InventoryDLQ"]).await;
    assert!(moved.contains("moved 1 message(s)"), "{moved}");
    repeats(&shop, "InventoryFunction", 1).await;
    shop.wait_drained("InventoryQueueUrl", SAGA).await;
    assert_eq!((shop.stock("SKU-MUG").await, shop.stock("SKU-TEE").await), (498, 499), "stock taken once, ever");
    assert_eq!(shop.rows("ReservationsTableName").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_notification_repeated_after_expiry_sends_nothing() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    let created = samples::order_created(&uuid::Uuid::new_v4().to_string());
    let paid = samples::payment_processed(&created);
    let shipped = samples::order_shipped(&samples::inventory_updated(&paid, &created), &created);
    let event_id = shipped.id.to_string();
    shop.send("NotificationQueueUrl", &[envelope_json(&shipped)]).await;
    eventually("the email sent", SAGA, || async { (shop.mail_sends(&event_id).await == 1).then_some(()) }).await;

    shop.expire_idempotency_records().await;
    shop.send("NotificationQueueUrl", &[envelope_json(&shipped)]).await;
    repeats(&shop, "NotificationFunction", 1).await;
    shop.wait_drained("NotificationQueueUrl", SAGA).await;
    assert_eq!(shop.mail_sends(&event_id).await, 1, "the mail server was asked once");
}

/// The messages of a DLQ, left there.
async fn dead_letters(shop: &Shop, output: &str, count: usize) -> Vec<aws_sdk_sqs::types::Message> {
    let dlq = shopsphere_localstack_tests::Queue { url: shop.output(output).to_owned(), arn: String::new() };
    eventually(&format!("{count} message(s) in {output}"), SAGA, || async {
        let messages = shop.emu.peek(&dlq, count + 1, Duration::from_secs(1)).await;
        (messages.len() == count).then_some(messages)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_replayed_order_created_redriven_from_the_dlq_neither_charges_nor_ships() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    let id = shop.place_ok(&order("tok_visa", &[("SKU-RARE", 1)])).await;
    shop.settles(&id, "REFUNDED", SAGA).await;
    let created = eventually("the OrderCreated archived", SAGA, || async {
        shop.rows("EventArchiveTableName").await.into_iter().find(|r| r["event_type"] == "OrderCreated")
    })
    .await;
    let charge_key = created["event_id"].as_str().unwrap().to_owned();
    assert_eq!(shop.gateway_charges(&charge_key).await, 1);

    // An operator replays OrderCreated to payment by mistake: dead-lettered as a replay.
    let replayed = shop.shopsphere(&["replay", "--type", "OrderCreated", "--to", "PaymentQueue"]).await;
    assert!(replayed.starts_with("replayed 1 OrderCreated"), "{replayed}");
    let dead = dead_letters(&shop, "PaymentDLQUrl", 1).await;
    assert_eq!(shopsphere_localstack_tests::attribute(&dead[0], "error_code").as_deref(), Some("replay_not_allowed"));
    assert!(shopsphere_localstack_tests::attribute(&dead[0], "replay_id").is_some(), "the DLQ copy is still a replay");

    // Later, with stock back and every idempotency record expired, a redrive
    // leaves it; a forced one moves it once, and payment turns it away again.
    shop.emu
        .dynamodb
        .update_item()
        .table_name(shop.output("InventoryTableName"))
        .key("sku", aws_sdk_dynamodb::types::AttributeValue::S("SKU-RARE".into()))
        .update_expression("ADD stock :restock, received :restock")
        .expression_attribute_values(":restock", aws_sdk_dynamodb::types::AttributeValue::N("100".into()))
        .send()
        .await
        .unwrap();
    shop.expire_idempotency_records().await;
    let kept = shop.shopsphere(&["dlq", "redrive", "PaymentDLQ"]).await;
    assert!(kept.contains("moved 0 message(s)") && kept.contains("kept 1"), "{kept}");
    let forced = shop.shopsphere(&["dlq", "redrive", "PaymentDLQ", "--force"]).await;
    assert!(forced.starts_with("moved"), "{forced}");
    eventually("payment to turn the replay away again", SAGA, || async {
        (shop.logged("PaymentFunction", "sent to the DLQ").await >= 2).then_some(())
    })
    .await;
    dead_letters(&shop, "PaymentDLQUrl", 1).await;
    shop.wait_drained("InventoryQueueUrl", SAGA).await;

    assert_eq!(shop.order(&id).await["status"], "REFUNDED", "the refunded order stays refunded");
    assert_eq!(shop.gateway_charges(&charge_key).await, 1, "no second charge");
    assert!(shop.rows("ShipmentsTableName").await.is_empty(), "nothing shipped");
    assert_eq!(shop.stock("SKU-RARE").await, 100, "no stock taken");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_commit_outage_after_a_successful_charge_does_not_charge_again() {
    let shop = Shop::start_with_proxy(&[("NotificationDelayMs", "0"), ("MaxReceiveCount", "20")]).await;
    let proxy = shop.proxy.as_ref().expect("a proxy");
    // The payments table refuses every write of a settled charge until the
    // first attempt has given up.
    proxy.inject(Fault {
        service: "dynamodb".into(),
        action: "PutItem".into(),
        table: Some(shop.output("PaymentsTableName").to_owned()),
        body_contains: Some("\"CHARGED\"".into()),
        times: u32::MAX,
        answer: FaultAnswer::ServerError,
    });
    let id = shop.place_ok(&order("tok_visa", &[("SKU-MUG", 1)])).await;
    eventually("the first charge to fail its commit", SAGA, || async {
        (shop.logged("PaymentFunction", "transient failure: will be retried").await >= 1).then_some(())
    })
    .await;
    proxy.clear();
    shop.settles(&id, "SHIPPED", SAGA).await;

    let charged: Vec<Value> = shop.rows("PaymentsTableName").await;
    assert_eq!(charged.len(), 1);
    let charge_key = charged[0]["charge_key"].as_str().unwrap();
    assert!(proxy.injected("dynamodb:PutItem") >= 1, "the outage happened");
    assert_eq!(shop.gateway_charges(charge_key).await, 1, "the retry asked the gateway, it did not charge again");
    assert!(shop.logged("PaymentFunction", "took over a payment step whose lease ran out").await >= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_an_event_twice_in_one_batch_is_handled_once_without_a_retry() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    shop.control("ShippingFunction", "stop").await;
    let created = samples::order_created(&uuid::Uuid::new_v4().to_string());
    let updated = envelope_json(&samples::inventory_updated(&samples::payment_processed(&created), &created));
    shop.send("ShippingQueueUrl", &[updated.clone(), updated]).await;
    shop.control("ShippingFunction", "start").await;
    shop.wait_drained("ShippingQueueUrl", SAGA).await;

    assert_eq!(shop.rows("ShipmentsTableName").await.len(), 1);
    assert_eq!(shop.logged("ShippingFunction", "the same event came more than once in this batch").await, 1);
    assert_eq!(
        shop.logged("ShippingFunction", "transient failure: will be retried").await,
        0,
        "the copy was not sent back"
    );
    // One invocation, which handled its batch (a function error logs no "batch processed").
    let batches: Vec<Value> = shop
        .log("ShippingFunction")
        .await
        .into_iter()
        .filter(|l| l["fields"]["message"] == "batch processed")
        .collect();
    assert_eq!(batches.len(), 1, "{batches:?}");
    assert_eq!((batches[0]["fields"]["records"].as_u64(), batches[0]["fields"]["failed"].as_u64()), (Some(2), Some(0)));
}
