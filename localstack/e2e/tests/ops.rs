//! The operator's CLI against a live stack: a DLQ redrive is processed; a
//! replay from the event archive rebuilds a lost order view.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use shopsphere_e2e::{Shop, eventually, order};
use shopsphere_events::samples;

const SAGA: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn ops_a_redriven_dlq_message_is_processed_and_the_dlq_is_left_empty() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    // An order whose OrderCreated was dead-lettered (say, during an outage),
    // published before the payment token left OrderCreated: it still carries one.
    let order_id = uuid::Uuid::new_v4().to_string();
    shop.deposit_payment_token(&order_id, "tok_visa").await;
    let mut created = serde_json::to_value(samples::order_created(&order_id)).unwrap();
    created["data"]["payment_token"] = "tok_visa".into();
    shop.send("PaymentDLQUrl", &[created.to_string()]).await;
    let listed = shop.shopsphere(&["dlq", "list"]).await;
    assert!(
        listed.lines().any(|l| l.starts_with("PaymentDLQ ") && l.split_whitespace().nth(1) == Some("1")),
        "{listed}"
    );
    let shown = shop.shopsphere(&["dlq", "show", "PaymentDLQ"]).await;
    assert!(shown.contains(&order_id), "{shown}");
    assert!(!shown.contains("tok_visa") && shown.contains("[redacted]"), "the token is masked: {shown}");

    let moved = shop.shopsphere(&["dlq", "redrive", "PaymentDLQ"]).await;
    assert!(moved.contains("PaymentQueue"), "{moved}");
    eventually("the redriven order's charge", SAGA, || async {
        let rows = shop.rows("PaymentsTableName").await;
        rows.iter().any(|r| r["order_id"] == order_id.as_str() && r["status"] == "CHARGED").then_some(())
    })
    .await;
    assert!(
        shop.rows("PaymentTokensTableName").await.iter().all(|r| r["order_id"] != order_id.as_str()),
        "the token is deleted once the charge is decided"
    );
    assert_eq!(shop.depth("PaymentDLQUrl").await, (0, 0));
}

/// How often the outbox published an OrderCreated for `order_id`.
async fn order_created_published(shop: &Shop, order_id: &str) -> usize {
    shop.log("OrderOutboxFunction")
        .await
        .iter()
        .filter(|l| l["fields"]["message"] == "OrderCreated published" && l["fields"]["order_id"] == order_id)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn ops_replay_from_the_archive_rebuilds_a_deleted_order_view_and_starts_no_saga() {
    const SHIPPED: [&str; 4] = ["OrderCreated", "PaymentProcessed", "InventoryUpdated", "OrderShipped"];
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    let order_id = shop.place_ok(&order("tok_visa", &[("SKU-MUG", 1)])).await;
    let before = shop.settles(&order_id, "SHIPPED", SAGA).await;
    eventually("the order's four events in the archive", SAGA, || async {
        let archived = shop.rows("EventArchiveTableName").await;
        (archived.iter().filter(|r| r["order_id"] == order_id.as_str()).count() == SHIPPED.len()).then_some(())
    })
    .await;

    // The hourly counters, added up from the archive: each event once, the charge as revenue.
    let counters = shop.shopsphere(&["analytics"]).await;
    for event_type in SHIPPED {
        let line = counters.lines().find(|l| l.split_whitespace().nth(1) == Some(event_type));
        assert_eq!(line.and_then(|l| l.split_whitespace().nth(2)), Some("1"), "{event_type} once in:\n{counters}");
    }
    let paid = counters.lines().find(|l| l.contains("PaymentProcessed")).unwrap();
    assert!(paid.ends_with(&format!("{} EUR", before["total"]["amount"])), "{paid}");

    // The view is lost.
    shop.emu
        .dynamodb
        .delete_item()
        .table_name(shop.output("OrdersTableName"))
        .key("order_id", AttributeValue::S(order_id.clone()))
        .send()
        .await
        .expect("delete the order row");
    assert!(shop.order_if_any(&order_id).await.is_none());

    for event_type in SHIPPED {
        let replayed = shop.shopsphere(&["replay", "--type", event_type, "--to", "OrderStatusQueue"]).await;
        assert!(replayed.starts_with(&format!("replayed 1 {event_type}")), "{replayed}");
    }
    let rebuilt = eventually("the rebuilt view with its whole timeline", SAGA, || async {
        let view = shop.order_if_any(&order_id).await?;
        (view["timeline"].as_array()?.len() == SHIPPED.len()).then_some(view)
    })
    .await;
    for field in ["status", "timeline", "total", "lines", "email"] {
        assert_eq!(rebuilt[field], before[field], "{field} of the rebuilt view");
    }

    // The rebuilt row's INSERT must not reach the outbox: a later order's
    // OrderCreated comes after it in the stream, so once that one is out, the
    // rebuilt row was seen (and passed over).
    let later = shop.place_ok(&order("tok_visa", &[("SKU-MUG", 1)])).await;
    shop.settles(&later, "SHIPPED", SAGA).await;
    assert_eq!(order_created_published(&shop, &order_id).await, 1, "the replay started the saga again");
    for dlq in ["OrderStatusDLQUrl", "PaymentDLQUrl", "NotificationDLQUrl", "OrderOutboxFailureQueueUrl"] {
        assert_eq!(shop.depth(dlq).await, (0, 0), "{dlq}");
    }
}
