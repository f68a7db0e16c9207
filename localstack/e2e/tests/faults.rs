//! The delivery guarantees under failure, end to end: duplicates, poison
//! messages, a consumer that is down, competing consumers, a crash between
//! "done" and "acknowledged", a stopped outbox.

use std::time::{Duration, Instant};

use serde_json::Value;
use shopsphere_e2e::{Shop, eventually, order};
use shopsphere_events::samples;

const SAGA: Duration = Duration::from_secs(120);

/// Deliveries the function recognised as repeats of a committed event.
async fn repeats_recognised(shop: &Shop, function: &str) -> usize {
    shop.log(function)
        .await
        .iter()
        .filter(|l| l["fields"]["message"] == shopsphere_messaging::REPEAT_RECOGNISED)
        .count()
}

fn envelope_json(envelope: &shopsphere_events::Envelope) -> String {
    serde_json::to_string(envelope).unwrap()
}

async fn place_many(shop: &Shop, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        ids.push(shop.place_ok(&order("tok_visa", &[("SKU-MUG", 1)])).await);
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_the_same_post_twice_with_one_idempotency_key_makes_one_order_and_one_charge() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    let body = order("tok_visa", &[("SKU-TEE", 2)]);
    let (first_status, first) = shop.place(&body, Some("e2e-same-key")).await;
    let (second_status, second) = shop.place(&body, Some("e2e-same-key")).await;
    assert_eq!((first_status, second_status), (202, 202));
    assert_eq!(first["order_id"], second["order_id"], "the repeat answers with the first order");

    let id = first["order_id"].as_str().unwrap();
    let shipped = shop.settles(id, "SHIPPED", SAGA).await;
    assert_eq!(shop.rows("OrdersTableName").await.len(), 1, "one order row");
    let order_created = &shipped["timeline"][0];
    assert_eq!(order_created["event_type"], "OrderCreated", "{shipped}");
    let charge_key = order_created["event_id"].as_str().unwrap();
    assert_eq!(shop.gateway_charges(charge_key).await, 1, "one call to the gateway");
    assert_eq!(shop.stock("SKU-TEE").await, 498);
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_the_same_envelope_delivered_three_times_has_one_effect() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    let created = samples::order_created(&uuid::Uuid::new_v4().to_string());
    let paid = envelope_json(&samples::payment_processed(&created));
    shop.send("InventoryQueueUrl", &[paid.clone(), paid.clone(), paid]).await;

    shop.wait_drained("InventoryQueueUrl", SAGA).await;
    assert_eq!((shop.stock("SKU-MUG").await, shop.stock("SKU-TEE").await), (498, 499), "stock taken once");
    // Copies in one batch are handled once; a copy in a later batch is a repeat.
    let copies: u64 = shop
        .log("InventoryFunction")
        .await
        .iter()
        .filter(|l| l["fields"]["message"] == "batch processed")
        .filter_map(|l| l["fields"]["copies"].as_u64())
        .sum();
    let repeats = repeats_recognised(&shop, "InventoryFunction").await as u64;
    assert_eq!(copies + repeats, 2, "both copies were recognised as such");
    assert_eq!(shop.depth("InventoryDLQUrl").await, (0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_poison_messages_go_to_the_dlq_with_their_reason_and_their_batch_siblings_are_processed() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    let sibling_order = uuid::Uuid::new_v4().to_string();
    shop.deposit_payment_token(&sibling_order, "tok_visa").await;
    let sibling = envelope_json(&samples::order_created(&sibling_order));
    let future_version = sibling.replace("OrderCreated.v1", "OrderCreated.v2");
    assert_ne!(future_version, sibling);
    shop.send("PaymentQueueUrl", &["{not json".to_owned(), future_version, sibling]).await;

    let dead = eventually("two messages in the payment DLQ", SAGA, || async {
        let messages = shop.emu.receive(&dlq(&shop), 2, Duration::from_secs(2)).await;
        (messages.len() == 2).then_some(messages)
    })
    .await;
    let mut codes: Vec<String> =
        dead.iter().map(|m| shopsphere_localstack_tests::attribute(m, "error_code").unwrap()).collect();
    codes.sort();
    assert_eq!(codes, ["not_json", "unsupported_version"]);
    for message in &dead {
        assert!(shopsphere_localstack_tests::attribute(message, "error_reason").is_some_and(|r| !r.is_empty()));
    }
    eventually("the sibling's charge", SAGA, || async {
        let rows = shop.rows("PaymentsTableName").await;
        rows.iter().any(|r| r["order_id"] == sibling_order.as_str() && r["status"] == "CHARGED").then_some(())
    })
    .await;
}

fn dlq(shop: &Shop) -> shopsphere_localstack_tests::Queue {
    shopsphere_localstack_tests::Queue { url: shop.output("PaymentDLQUrl").to_owned(), arn: String::new() }
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_consumer_down_holds_nobody_up_and_loses_nothing() {
    let shop = Shop::start(&[("NotificationDelayMs", "10")]).await;
    shop.control("NotificationFunction", "stop").await;
    let ids = place_many(&shop, 20).await;
    for id in &ids {
        shop.settles(id, "SHIPPED", SAGA).await;
    }
    let (backlog, _) = shop.depth("NotificationQueueUrl").await;
    assert!(backlog >= 20, "the notification backlog is {backlog}");

    shop.control("NotificationFunction", "start").await;
    shop.wait_drained("NotificationQueueUrl", SAGA).await;
    for id in &ids {
        // Provider sends: each of the three emails once, none lost.
        assert_eq!(shop.sent_emails(id).await, ["OrderCreated", "OrderShipped", "PaymentProcessed"], "order {id}");
    }
}

/// Stop notification, queue `count` OrderShipped events for it, start it with
/// at most `concurrency` instances: how long the backlog took to drain, and
/// the events' ids.
async fn drain(shop: &Shop, count: usize, concurrency: usize) -> (Duration, Vec<String>) {
    shop.control("NotificationFunction", "stop").await;
    let events: Vec<shopsphere_events::Envelope> = (0..count)
        .map(|_| {
            let created = samples::order_created(&uuid::Uuid::new_v4().to_string());
            let paid = samples::payment_processed(&created);
            samples::order_shipped(&samples::inventory_updated(&paid, &created), &created)
        })
        .collect();
    shop.send("NotificationQueueUrl", &events.iter().map(envelope_json).collect::<Vec<_>>()).await;
    let start = Instant::now();
    shop.control("NotificationFunction", &format!("start?concurrency={concurrency}")).await;
    shop.wait_drained("NotificationQueueUrl", SAGA).await;
    (start.elapsed(), events.iter().map(|e| e.id.to_string()).collect())
}

/// Instances that handled at least one invocation.
async fn busy_instances(shop: &Shop) -> usize {
    let function = shop.function("NotificationFunction").await;
    function["instances"].as_object().unwrap().values().filter(|i| i["invocations"].as_u64() > Some(0)).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_competing_consumers_share_a_backlog_each_message_once_and_drain_it_faster() {
    // Each email takes 1 s, so the drain is bound by the work the instances
    // share, not by the emulator's noise (at 150 ms one instance sometimes won).
    let shop = Shop::start(&[("NotificationDelayMs", "1000")]).await;
    let (alone, mut events) = drain(&shop, 60, 1).await;
    assert_eq!(busy_instances(&shop).await, 1);
    let (together, more) = drain(&shop, 60, 3).await;
    assert!(busy_instances(&shop).await > 1, "{}", shop.function("NotificationFunction").await);

    events.extend(more);
    for event in &events {
        assert_eq!(shop.mail_sends(event).await, 1, "the provider got event {event}'s email once");
    }
    assert!(together < alone, "3 instances drained in {together:?}, 1 in {alone:?}");
    eprintln!("60 messages: 1 instance {alone:?}, 3 instances {together:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_inventory_crashing_mid_batch_neither_loses_an_order_nor_takes_stock_twice() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    // Hold inventory back so its first batch carries several orders.
    shop.control("InventoryFunction", "stop").await;
    let ids = place_many(&shop, 5).await;
    eventually("5 payments waiting for inventory", SAGA, || async {
        (shop.depth("InventoryQueueUrl").await.0 >= 5).then_some(())
    })
    .await;
    shop.control("InventoryFunction", "crash").await;
    shop.control("InventoryFunction", "start").await;

    eventually("the crash", SAGA, || async {
        let function = shop.function("InventoryFunction").await;
        (function["errors"].as_u64() >= Some(1)).then_some(())
    })
    .await;
    for id in &ids {
        shop.settles(id, "SHIPPED", SAGA).await;
    }
    // The crashed batch was never acknowledged: it comes back after the
    // queue's visibility timeout (60 s) and must change nothing.
    shop.wait_drained("InventoryQueueUrl", Duration::from_secs(180)).await;
    assert_eq!(shop.stock("SKU-MUG").await, 495, "one unit per order, once");
    let repeats = repeats_recognised(&shop, "InventoryFunction").await;
    assert!(repeats >= 1, "the crashed batch had committed; its redelivery was recognised");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_stopped_outbox_delays_but_never_loses_or_repeats_order_created() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    // A probe subscriber sees every OrderCreated the topic delivers.
    let probe = shop.emu.create_queue("e2e-probe", Default::default()).await;
    shop.emu.subscribe(shop.output("OrderCreatedTopicArn"), &probe, true).await;
    shop.control("OrderOutboxFunction", "stop").await;
    let ids = place_many(&shop, 5).await;
    eventually("the 5 new orders on the stream", SAGA, || async { (shop.stream_inserts().await >= 5).then_some(()) })
        .await;
    for id in &ids {
        assert_eq!(shop.order(id).await["status"], "PENDING", "nothing published while the outbox is down");
    }
    assert!(shop.emu.receive(&probe, 1, Duration::from_secs(1)).await.is_empty(), "no OrderCreated yet");

    shop.control("OrderOutboxFunction", "start").await;
    for id in &ids {
        shop.settles(id, "SHIPPED", SAGA).await;
    }
    let delivered = shop.emu.receive(&probe, 6, Duration::from_secs(5)).await;
    let mut orders: Vec<String> = delivered
        .iter()
        .map(|m| {
            let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            envelope["data"]["order_id"].as_str().unwrap().to_owned()
        })
        .collect();
    orders.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(orders, expected, "each OrderCreated published once");
}
