//! The Idempotency-Key store against LocalStack's DynamoDB (real conditions
//! and transactions): what order-api relies on.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use shopsphere_idempotency::*;
use shopsphere_localstack_tests::emulator;
use shopsphere_runtime::Deadline;

type Guard = Idempotency<DynamoDbStore>;

async fn guard() -> (Guard, DynamoDbStore, shopsphere_localstack_tests::Emulator, String) {
    let emu = emulator().await;
    let table = emu.create_table("idempotency", "id").await;
    let store = DynamoDbStore::new(emu.dynamodb.clone(), &table);
    (Idempotency::new(store.clone()), store, emu, table)
}

async fn item(
    emu: &shopsphere_localstack_tests::Emulator,
    table: &str,
    key_name: &str,
    key: &str,
) -> Option<HashMap<String, AttributeValue>> {
    emu.dynamodb
        .get_item()
        .table_name(table)
        .key(key_name, AttributeValue::S(key.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_key_let_exactly_one_in() {
    let (guard, _, _, _) = guard().await;
    let guard = Arc::new(guard);
    let calls = (0..20).map(|_| {
        let guard = guard.clone();
        tokio::spawn(async move { guard.begin::<_, u32>("order-api#key-1", "body", Deadline::default()).await })
    });
    let results = futures::future::join_all(calls).await;
    let mut admitted = 0;
    for r in results {
        match r.unwrap() {
            Ok(Begin::Run(_)) => admitted += 1,
            Err(IdempotencyError::AlreadyInProgress { .. }) => {}
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!(admitted, 1);
}

fn order_put(table: &str, order_id: &str) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .item("order_id", AttributeValue::S(order_id.into()))
        .condition_expression("attribute_not_exists(order_id)")
        .build()
        .unwrap();
    TransactWriteItem::builder().put(put).build()
}

#[tokio::test]
async fn a_completed_request_answers_its_repeat_from_a_powertools_item_that_outlives_the_dlq() {
    let (guard, store, emu, table) = guard().await;
    let orders = emu.create_table("orders", "order_id").await;
    let Begin::Run(ticket) = guard.begin::<_, u32>("order-api#key-2", &("o-2", 3), Deadline::default()).await.unwrap()
    else {
        panic!("fresh key")
    };
    store.commit_with(&ticket, &17u32, vec![order_put(&orders, "o-2")]).await.unwrap();
    let repeat = guard.begin::<_, u32>("order-api#key-2", &("o-2", 3), Deadline::default()).await.unwrap();
    assert!(matches!(repeat, Begin::Done(17)), "{repeat:?}");

    let stored = item(&emu, &table, "id", "order-api#key-2").await.expect("record stored");
    assert_eq!(stored["status"], AttributeValue::S("COMPLETED".into()));
    assert_eq!(stored["data"], AttributeValue::S("17".into()));
    assert_eq!(stored["validation"], AttributeValue::S(payload_hash(&("o-2", 3)).unwrap()));
    let expiration: i64 = stored["expiration"].as_n().unwrap().parse().unwrap();
    let now = SystemClock.now_ms() / 1000;
    assert!((now + 30 * 24 * 3600 - expiration).abs() < 60, "expiration {expiration} is not now + 30 days");
    assert!(!stored.contains_key("in_progress_expiration"));
    assert!(item(&emu, &orders, "order_id", "o-2").await.is_some());
}

#[tokio::test]
async fn an_in_progress_record_past_its_expiry_is_taken_over_and_a_live_one_is_not() {
    let (guard, _, emu, table) = guard().await;
    let now_ms = SystemClock.now_ms();
    // What a crashed invocation leaves behind: INPROGRESS, its deadline passed.
    let stale = IdempotencyRecord {
        key: "order-api#key-3".into(),
        status: Status::InProgress,
        expiration: now_ms / 1000 + 3600,
        in_progress_expiration: Some(now_ms - 1_000),
        data: None,
        validation: payload_hash("p").unwrap(),
    };
    emu.dynamodb.put_item().table_name(&table).set_item(Some((&stale).into())).send().await.unwrap();
    let r = guard.begin::<_, u32>("order-api#key-3", "p", Deadline::default()).await.unwrap();
    assert!(matches!(r, Begin::Run(_)), "{r:?}");

    let live =
        IdempotencyRecord { key: "order-api#key-4".into(), in_progress_expiration: Some(now_ms + 60_000), ..stale };
    emu.dynamodb.put_item().table_name(&table).set_item(Some((&live).into())).send().await.unwrap();
    let r = guard.begin::<_, u32>("order-api#key-4", "p", Deadline::default()).await;
    assert!(matches!(r, Err(IdempotencyError::AlreadyInProgress { .. })), "{r:?}");
}

#[tokio::test]
async fn the_same_key_with_another_payload_is_a_mismatch() {
    let (guard, _, _, _) = guard().await;
    let Begin::Run(ticket) = guard.begin::<_, u8>("order-api#key-5", "body A", Deadline::default()).await.unwrap()
    else {
        panic!()
    };
    guard.complete(&ticket, &1u8).await.unwrap();
    let err = guard.begin::<_, u8>("order-api#key-5", "body B", Deadline::default()).await.unwrap_err();
    assert!(matches!(err, IdempotencyError::PayloadMismatch { .. }), "{err}");
}

#[tokio::test]
async fn a_completion_whose_order_write_fails_writes_neither_item() {
    let (guard, store, emu, table) = guard().await;
    let orders = emu.create_table("orders", "order_id").await;
    emu.dynamodb.put_item().table_name(&orders).item("order_id", AttributeValue::S("o-6".into())).send().await.unwrap();
    let Begin::Run(ticket) = guard.begin::<_, u32>("order-api#key-6", "p", Deadline::default()).await.unwrap() else {
        panic!()
    };
    let err = store.commit_with(&ticket, &1u32, vec![order_put(&orders, "o-6")]).await.unwrap_err();
    assert!(matches!(&err, CommitError::BusinessCondition(failed) if failed == &[0]), "{err}");
    let record = item(&emu, &table, "id", "order-api#key-6").await.unwrap();
    assert_eq!(record["status"], AttributeValue::S("INPROGRESS".into()), "the completion was not written");
}
