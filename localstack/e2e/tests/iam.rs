//! IAM is enforced on MiniStack (started with AUTH=true), so a green run there
//! means the template's policies are enough: take one statement away and the
//! step it allows is refused; give it back and the step goes on.
//! MiniStack only (the local host and LocalStack do not enforce IAM):
//! `make e2e-ministack` runs it by name.

use std::time::Duration;

use shopsphere_e2e::{Engine, Shop, eventually, order};
use shopsphere_localstack_tests::{Queue, attribute};

const SAGA: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn iam_order_status_without_its_table_statement_is_denied_and_the_view_catches_up_once_it_is_back() {
    let shop = Shop::start(&[("NotificationDelayMs", "0")]).await;
    let Engine::MiniStack(deployment) = &shop.engine else {
        panic!("IAM is enforced on MiniStack alone: run it with make e2e-ministack")
    };
    // The statement that lets order-status write the orders table's view.
    let revoked = deployment.revoke("OrderStatusFunction", "dynamodb:UpdateItem").await.expect("revoke the statement");

    let id = shop.place_ok(&order("tok_visa", &[("SKU-MUG", 1)])).await;
    // The saga itself does not need order-status: the order ships...
    eventually("the order's shipment", SAGA, || async {
        shop.rows("ShipmentsTableName").await.iter().any(|r| r["order_id"] == id.as_str()).then_some(())
    })
    .await;
    // ...while every event of it the view was given is refused, with IAM's reason.
    let dlq = Queue { url: shop.output("OrderStatusDLQUrl").to_owned(), arn: String::new() };
    let dead = eventually("order-status's four events on its DLQ", SAGA, || async {
        let messages = shop.emu.peek(&dlq, 4, Duration::from_secs(2)).await;
        (messages.len() >= 4).then_some(messages)
    })
    .await;
    for message in &dead {
        let reason = attribute(message, "error_reason").unwrap_or_default();
        assert!(reason.contains("AccessDenied") && reason.contains("dynamodb:"), "{reason}");
    }
    assert_eq!(shop.order(&id).await["status"], "PENDING", "the view never moved");

    deployment.restore_statements("OrderStatusFunction", revoked).await.expect("restore the statement");
    // Refused for a permanent reason: an operator redrives them by force once it is fixed.
    shop.shopsphere(&["dlq", "redrive", "OrderStatusDLQ", "--force"]).await;
    shop.settles(&id, "SHIPPED", SAGA).await;
    assert_eq!(shop.depth("OrderStatusDLQUrl").await, (0, 0));
}
