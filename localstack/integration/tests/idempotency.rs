//! The DynamoDB idempotency store against LocalStack's DynamoDB (real conditions and transactions).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use shopsphere_idempotency::*;
use shopsphere_localstack_tests::emulator;

type Guard = Idempotency<DynamoDbStore>;

async fn guard() -> (Guard, shopsphere_localstack_tests::Emulator, String) {
    let emu = emulator().await;
    let table = emu.create_table("idempotency", "id").await;
    (Idempotency::new(DynamoDbStore::new(emu.dynamodb.clone(), &table)), emu, table)
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
async fn twenty_concurrent_run_once_on_one_key_run_the_work_once() {
    let (guard, _, _) = guard().await;
    let guard = Arc::new(guard);
    let runs = Arc::new(AtomicUsize::new(0));
    let calls = (0..20).map(|i| {
        let (guard, runs) = (guard.clone(), runs.clone());
        tokio::spawn(async move {
            guard
                .run_once("payment#evt-1", "order o-1", Deadline::default(), || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok::<_, std::io::Error>(format!("charged by caller {i}"))
                })
                .await
        })
    });
    let results = futures::future::join_all(calls).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the work ran more than once");
    let mut saved = None;
    for r in results {
        match r.unwrap() {
            Ok(value) => assert_eq!(saved.get_or_insert(value.clone()), &value, "every success returns the one result"),
            Err(IdempotencyError::AlreadyInProgress { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert!(saved.is_some());
}

#[tokio::test]
async fn completed_replay_returns_the_saved_data_from_a_powertools_item() {
    let (guard, emu, table) = guard().await;
    let first: Result<u32, IdempotencyError<std::io::Error>> =
        guard.run_once("inventory#evt-2", &("o-2", 3), Deadline::default(), || async { Ok(17) }).await;
    assert_eq!(first.unwrap(), 17);
    let replay: Result<u32, IdempotencyError<std::io::Error>> =
        guard.run_once("inventory#evt-2", &("o-2", 3), Deadline::default(), || async { panic!("must not run") }).await;
    assert_eq!(replay.unwrap(), 17);

    let stored = item(&emu, &table, "id", "inventory#evt-2").await.expect("record stored");
    assert_eq!(stored["status"], AttributeValue::S("COMPLETED".into()));
    assert_eq!(stored["data"], AttributeValue::S("17".into()));
    assert_eq!(stored["validation"], AttributeValue::S(payload_hash(&("o-2", 3)).unwrap()));
    let expiration: i64 = stored["expiration"].as_n().unwrap().parse().unwrap();
    let now = SystemClock.now_ms() / 1000;
    assert!((now + 7 * 24 * 3600 - expiration).abs() < 60, "expiration {expiration} is not now + 7 days");
    assert!(!stored.contains_key("in_progress_expiration"));
}

#[tokio::test]
async fn an_in_progress_record_past_its_expiry_is_taken_over() {
    let (guard, emu, table) = guard().await;
    let now_ms = SystemClock.now_ms();
    // What a crashed invocation leaves behind: INPROGRESS, its deadline passed.
    let stale = IdempotencyRecord {
        key: "shipping#evt-3".into(),
        status: Status::InProgress,
        expiration: now_ms / 1000 + 3600,
        in_progress_expiration: Some(now_ms - 1_000),
        data: None,
        validation: payload_hash("p").unwrap(),
    };
    emu.dynamodb.put_item().table_name(&table).set_item(Some((&stale).into())).send().await.unwrap();
    let r: Result<String, IdempotencyError<std::io::Error>> =
        guard.run_once("shipping#evt-3", "p", Deadline::default(), || async { Ok("shipped".to_owned()) }).await;
    assert_eq!(r.unwrap(), "shipped");

    // A live INPROGRESS record is not taken over.
    let live =
        IdempotencyRecord { key: "shipping#evt-4".into(), in_progress_expiration: Some(now_ms + 60_000), ..stale };
    emu.dynamodb.put_item().table_name(&table).set_item(Some((&live).into())).send().await.unwrap();
    let r: Result<String, IdempotencyError<std::io::Error>> =
        guard.run_once("shipping#evt-4", "p", Deadline::default(), || async { Ok("shipped".to_owned()) }).await;
    assert!(matches!(r, Err(IdempotencyError::AlreadyInProgress { .. })), "{r:?}");
}

#[tokio::test]
async fn the_same_key_with_another_payload_is_a_mismatch() {
    let (guard, _, _) = guard().await;
    let _: u8 = guard
        .run_once::<_, _, std::io::Error, _, _>("api#key-1", "body A", Deadline::default(), || async { Ok(1) })
        .await
        .unwrap();
    let err = guard
        .run_once::<_, u8, std::io::Error, _, _>("api#key-1", "body B", Deadline::default(), || async { Ok(2) })
        .await
        .unwrap_err();
    assert!(matches!(err, IdempotencyError::PayloadMismatch { .. }), "{err}");
}

fn decrement(table: &str, sku: &str, qty: i64) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .key("sku", AttributeValue::S(sku.into()))
        .update_expression("SET stock = stock - :qty")
        .condition_expression("stock >= :qty")
        .expression_attribute_values(":qty", AttributeValue::N(qty.to_string()))
        .build()
        .unwrap();
    TransactWriteItem::builder().update(update).build()
}

async fn stock_table(emu: &shopsphere_localstack_tests::Emulator) -> String {
    let table = emu.create_table("stock", "sku").await;
    emu.dynamodb
        .put_item()
        .table_name(&table)
        .item("sku", AttributeValue::S("SKU-MUG".into()))
        .item("stock", AttributeValue::N("3".into()))
        .send()
        .await
        .unwrap();
    table
}

#[tokio::test]
async fn transactional_completion_whose_business_write_fails_writes_neither_item() {
    let (guard, emu, table) = guard().await;
    let stock = stock_table(&emu).await;
    let err = guard
        .run_once_transactional::<_, String, std::io::Error, _, _>(
            "inventory#evt-5",
            "o-5",
            Deadline::default(),
            || async { Ok(("deducted".to_owned(), vec![decrement(&stock, "SKU-MUG", 5)])) },
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, IdempotencyError::BusinessConditionFailed { failed, .. } if failed == &[0]), "{err}");
    assert!(item(&emu, &table, "id", "inventory#evt-5").await.is_none(), "no idempotency record may remain");
    assert_eq!(item(&emu, &stock, "sku", "SKU-MUG").await.unwrap()["stock"], AttributeValue::N("3".into()));
}

#[tokio::test]
async fn transactional_completion_commits_the_business_write_once() {
    let (guard, emu, table) = guard().await;
    let stock = stock_table(&emu).await;
    for _ in 0..3 {
        let out: String = guard
            .run_once_transactional::<_, _, std::io::Error, _, _>(
                "inventory#evt-6",
                "o-6",
                Deadline::default(),
                || async { Ok(("deducted".to_owned(), vec![decrement(&stock, "SKU-MUG", 2)])) },
            )
            .await
            .unwrap();
        assert_eq!(out, "deducted");
    }
    assert_eq!(item(&emu, &stock, "sku", "SKU-MUG").await.unwrap()["stock"], AttributeValue::N("1".into()));
    assert_eq!(
        item(&emu, &table, "id", "inventory#evt-6").await.unwrap()["status"],
        AttributeValue::S("COMPLETED".into())
    );
}
