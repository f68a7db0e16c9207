//! The simulated mail server and payment gateway count calls, not HTTP
//! attempts: a write whose answer is lost (the proxy forwards it, then
//! answers 500) is retried by the SDK and applied twice by DynamoDB, yet the
//! call it belongs to is counted once. The audit and the end-to-end tests
//! read these counts as "emails sent" and "charges made".

use std::time::Duration;

use shopsphere_local::proxy::{Fault, FaultAnswer, Proxy};
use shopsphere_localstack_tests::{emulator, endpoint};
use shopsphere_notification::domain::{Email, MailProvider};
use shopsphere_notification::provider::{MailRecord, SlowMailServer, mail_key};
use shopsphere_payment::gateway::{DynamoDbLedger, GatewayRecord, Ledger, charge_key, flaky_key};
use shopsphere_runtime::dynamodb::Table;

/// A providers table reached through a proxy that loses the answer of its
/// next UpdateItem.
async fn ledger_losing_one_answer() -> (Table, Proxy) {
    let emu = emulator().await;
    let name = emu.create_table("providers", "id").await;
    let proxy = Proxy::start(&endpoint()).await.expect("start the proxy");
    proxy.inject(Fault {
        service: "dynamodb".into(),
        action: "UpdateItem".into(),
        table: Some(name.clone()),
        body_contains: None,
        times: 1,
        answer: FaultAnswer::LostAnswer,
    });
    let config = aws_sdk_dynamodb::config::Builder::from(&emu.config).endpoint_url(&proxy.endpoint).build();
    (Table::new(aws_sdk_dynamodb::Client::from_conf(config), name, "id"), proxy)
}

#[tokio::test]
async fn an_email_whose_ledger_write_is_retried_counts_one_send() {
    let (ledger, proxy) = ledger_losing_one_answer().await;
    let mail = SlowMailServer { delay: Duration::ZERO, ledger: ledger.clone() };
    let email = Email { to: "ada@example.com".into(), subject: "Order o-1 has shipped".into(), text: "…".into() };
    mail.send(&email, "event-1").await.expect("sent, after the SDK's retry");
    assert_eq!(proxy.injected("dynamodb:UpdateItem"), 1, "the first answer was lost");
    let record: MailRecord = ledger.get(&mail_key("event-1")).await.unwrap().expect("a send record");
    assert_eq!(record.sends(), 1, "{record:?}");
}

#[tokio::test]
async fn a_charge_whose_ledger_write_is_retried_counts_one_call() {
    let (table, proxy) = ledger_losing_one_answer().await;
    let ledger = DynamoDbLedger(table);
    let first =
        GatewayRecord { id: charge_key("event-1"), call_ids: Default::default(), charge: None, refund_id: None };
    let record = ledger.keep_first(&first).await.expect("kept, after the SDK's retry");
    assert_eq!(proxy.injected("dynamodb:UpdateItem"), 1, "the first answer was lost");
    assert_eq!(record.calls(), 1, "{record:?}");
}

#[tokio::test]
async fn a_flaky_attempt_whose_ledger_write_is_retried_counts_once() {
    let (table, proxy) = ledger_losing_one_answer().await;
    let ledger = DynamoDbLedger(table);
    assert_eq!(ledger.attempt(&flaky_key("o-1")).await.expect("counted, after the SDK's retry"), 1);
    assert_eq!(proxy.injected("dynamodb:UpdateItem"), 1, "the first answer was lost");
    assert_eq!(ledger.attempt(&flaky_key("o-1")).await.unwrap(), 2);
}
