//! The operator's CLI against a live stack: a DLQ redrive is processed.
//! (Replay's end-to-end test waits on the rebuilt-row fix: docs/runbook.md.)

use std::time::Duration;

use shopsphere_e2e::{Shop, bin_dir, eventually};
use shopsphere_events::samples;
use shopsphere_localstack_tests::endpoint;

const SAGA: Duration = Duration::from_secs(120);

/// Run `shopsphere <args>` against the shop's stack; its stdout.
async fn shopsphere(shop: &Shop, args: &[&str]) -> String {
    let output = tokio::process::Command::new(bin_dir().join("shopsphere"))
        .args(args)
        .args(["--stack", &format!("shopsphere-{}", shop.stage), "--endpoint", &endpoint(), "--region", "us-east-1"])
        .output()
        .await
        .expect("run shopsphere");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "shopsphere {args:?}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn ops_a_redriven_dlq_message_is_processed_and_the_dlq_is_left_empty() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    // An order whose OrderCreated was dead-lettered (say, during an outage).
    let order_id = uuid::Uuid::new_v4().to_string();
    let created = serde_json::to_string(&samples::order_created(&order_id, "tok_visa")).unwrap();
    shop.send("PaymentDLQUrl", &[created]).await;
    let listed = shopsphere(&shop, &["dlq", "list"]).await;
    assert!(
        listed.lines().any(|l| l.starts_with("PaymentDLQ ") && l.split_whitespace().nth(1) == Some("1")),
        "{listed}"
    );
    let shown = shopsphere(&shop, &["dlq", "show", "PaymentDLQ"]).await;
    assert!(shown.contains(&order_id), "{shown}");

    let moved = shopsphere(&shop, &["dlq", "redrive", "PaymentDLQ"]).await;
    assert!(moved.contains("PaymentQueue"), "{moved}");
    eventually("the redriven order's charge", SAGA, || async {
        shop.rows("PaymentsTableName").await.iter().any(|r| r["order_id"] == order_id.as_str()).then_some(())
    })
    .await;
    assert_eq!(shop.depth("PaymentDLQUrl").await, (0, 0));
}
