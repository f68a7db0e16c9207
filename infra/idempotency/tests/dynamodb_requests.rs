//! The DynamoDB adapter's exact request shapes, checked with aws-smithy-mocks.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{TransactWriteItemsError, TransactWriteItemsOutput};
use aws_sdk_dynamodb::types::error::{ConditionalCheckFailedException, TransactionCanceledException};
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use shopsphere_idempotency::dynamodb::{ACQUIRE_CONDITION, OWNER_CONDITION};
use shopsphere_idempotency::*;
use shopsphere_runtime::Deadline;

const TABLE: &str = "idempotency";

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn in_progress(key: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.into(),
        status: Status::InProgress,
        expiration: 1_800_000_100,
        in_progress_expiration: Some(1_800_000_050_000),
        data: None,
        validation: "abc".into(),
    }
}

fn completed_item(key: &str, data: &str, validation: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("id".into(), s(key)),
        ("status".into(), s("COMPLETED")),
        ("expiration".into(), n(1_900_000_000)),
        ("data".into(), s(data)),
        ("validation".into(), s(validation)),
    ])
}

#[tokio::test]
async fn acquire_is_a_conditional_put_of_the_powertools_item() {
    let put = mock!(Client::put_item)
        .match_requests(|r| {
            let item = r.item().unwrap();
            let names = r.expression_attribute_names().unwrap();
            let values = r.expression_attribute_values().unwrap();
            r.table_name() == Some(TABLE)
                && item.get("id") == Some(&s("fn#e1"))
                && item.get("status") == Some(&s("INPROGRESS"))
                && item.get("expiration") == Some(&n(1_800_000_100))
                && item.get("in_progress_expiration") == Some(&n(1_800_000_050_000))
                && item.get("validation") == Some(&s("abc"))
                && !item.contains_key("data")
                && r.condition_expression() == Some(ACQUIRE_CONDITION)
                && names.get("#id").map(String::as_str) == Some("id")
                && names.get("#in_progress_expiration").map(String::as_str) == Some("in_progress_expiration")
                && values.get(":now") == Some(&n(1_800_000_000))
                && values.get(":now_ms") == Some(&n(1_800_000_000_123))
                && values.get(":inprogress") == Some(&s("INPROGRESS"))
                && r.return_values_on_condition_check_failure() == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(|| PutItemOutput::builder().build());
    let store = DynamoDbStore::new(mock_client!(aws_sdk_dynamodb, [&put]), TABLE);
    assert_eq!(store.acquire(&in_progress("fn#e1"), 1_800_000_000_123).await.unwrap(), Acquire::Acquired);
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_condition_returns_the_existing_record_from_the_error() {
    let put = mock!(Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .set_item(Some(completed_item("fn#e1", "\"saved\"", "abc")))
                .build(),
        )
    });
    let store = DynamoDbStore::new(mock_client!(aws_sdk_dynamodb, [&put]), TABLE);
    let Acquire::Existing(existing) = store.acquire(&in_progress("fn#e1"), 0).await.unwrap() else { panic!() };
    assert_eq!(existing.status, Status::Completed);
    assert_eq!(existing.data.as_deref(), Some("\"saved\""));
}

#[tokio::test]
async fn a_failed_condition_without_the_old_item_reads_it_consistently() {
    let put = mock!(Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
    });
    let get = mock!(Client::get_item)
        .match_requests(|r| r.consistent_read() == Some(true) && r.key().unwrap().get("id") == Some(&s("fn#e1")))
        .then_output(|| {
            aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder()
                .set_item(Some(completed_item("fn#e1", "1", "abc")))
                .build()
        });
    let store = DynamoDbStore::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put, &get]), TABLE);
    assert!(matches!(store.acquire(&in_progress("fn#e1"), 0).await.unwrap(), Acquire::Existing(_)));
    assert_eq!(get.num_calls(), 1);
}

#[tokio::test]
async fn complete_replaces_only_our_in_progress_record() {
    let put = mock!(Client::put_item)
        .match_requests(|r| {
            let item = r.item().unwrap();
            let values = r.expression_attribute_values().unwrap();
            item.get("status") == Some(&s("COMPLETED"))
                && item.get("data") == Some(&s("{\"ok\":true}"))
                && !item.contains_key("in_progress_expiration")
                && r.condition_expression() == Some(OWNER_CONDITION)
                && values.get(":owner") == Some(&n(77))
        })
        .sequence()
        .output(|| PutItemOutput::builder().build())
        .error(|| PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build()))
        .build();
    let store = DynamoDbStore::new(mock_client!(aws_sdk_dynamodb, [&put]), TABLE);
    let mut done = in_progress("fn#e1");
    done.status = Status::Completed;
    done.in_progress_expiration = None;
    done.data = Some("{\"ok\":true}".into());
    store.complete(&done, 77).await.unwrap();
    let lost = store.complete(&done, 77).await.unwrap_err();
    assert!(matches!(lost, StoreError::OwnershipLost { .. }), "{lost}");
}

#[tokio::test]
async fn release_deletes_only_our_record_and_ignores_a_lost_one() {
    let delete = mock!(Client::delete_item)
        .match_requests(|r| {
            r.key().unwrap().get("id") == Some(&s("fn#e1"))
                && r.condition_expression() == Some(OWNER_CONDITION)
                && r.expression_attribute_values().unwrap().get(":owner") == Some(&n(77))
        })
        .sequence()
        .output(|| DeleteItemOutput::builder().build())
        .error(|| DeleteItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build()))
        .build();
    let store = DynamoDbStore::new(mock_client!(aws_sdk_dynamodb, [&delete]), TABLE);
    store.release("fn#e1", 77).await.unwrap();
    store.release("fn#e1", 77).await.unwrap();
    assert_eq!(delete.num_calls(), 2);
}

fn business_put() -> TransactWriteItem {
    let put = Put::builder()
        .table_name("stock")
        .item("sku", s("SKU-1"))
        .condition_expression("attribute_not_exists(sku)")
        .build()
        .unwrap();
    TransactWriteItem::builder().put(put).build()
}

fn acquire_ok() -> aws_smithy_mocks::Rule {
    mock!(Client::put_item)
        .match_requests(|r| r.condition_expression() == Some(ACQUIRE_CONDITION))
        .then_output(|| PutItemOutput::builder().build())
}

fn cancelled(codes: &'static [&'static str]) -> TransactWriteItemsError {
    TransactWriteItemsError::TransactionCanceledException(
        TransactionCanceledException::builder()
            .set_cancellation_reasons(Some(
                codes.iter().map(|c| CancellationReason::builder().code(*c).build()).collect(),
            ))
            .build(),
    )
}

/// The ticket `begin` hands out for `fn#e1` (acquired through the mock).
async fn ticket(client: Client) -> (DynamoDbStore, Ticket) {
    let store = DynamoDbStore::new(client, TABLE);
    let g = Idempotency::new(store.clone());
    let Begin::Run(ticket) = g.begin::<_, u32>("fn#e1", "p", Deadline::default()).await.unwrap() else { panic!() };
    (store, ticket)
}

#[tokio::test]
async fn transactional_completion_commits_business_write_and_record_together() {
    let transact = mock!(Client::transact_write_items)
        .match_requests(|r| {
            let items = r.transact_items();
            let completion = items.get(1).and_then(|i| i.put());
            items.len() == 2
                && items[0].put().map(|p| p.table_name()) == Some("stock")
                && completion.is_some_and(|p| {
                    p.table_name() == TABLE
                        && p.item().get("status") == Some(&s("COMPLETED"))
                        && p.item().get("data") == Some(&s("5"))
                        && p.condition_expression() == Some(OWNER_CONDITION)
                })
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let (store, ticket) = ticket(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&acquire_ok(), &transact])).await;
    store.commit_with(&ticket, &5u32, vec![business_put()]).await.unwrap();
    assert_eq!(transact.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_business_condition_names_the_write() {
    let transact = mock!(Client::transact_write_items).then_error(|| cancelled(&["ConditionalCheckFailed", "None"]));
    let (store, ticket) = ticket(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&acquire_ok(), &transact])).await;
    let err = store.commit_with(&ticket, &5u32, vec![business_put()]).await.unwrap_err();
    assert!(matches!(&err, CommitError::BusinessCondition(failed) if failed == &[0]), "{err:?}");
}

#[tokio::test]
async fn a_failed_completion_condition_means_ownership_was_lost() {
    let transact = mock!(Client::transact_write_items).then_error(|| cancelled(&["None", "ConditionalCheckFailed"]));
    let (store, ticket) = ticket(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&acquire_ok(), &transact])).await;
    let err = store.commit_with(&ticket, &5u32, vec![business_put()]).await.unwrap_err();
    assert!(matches!(err, CommitError::Store(StoreError::OwnershipLost { .. })), "{err:?}");
}

#[test]
fn records_map_to_items_and_back() {
    let record = IdempotencyRecord { data: Some("{}".into()), ..in_progress("fn#e1") };
    let item: HashMap<String, AttributeValue> = (&record).into();
    assert_eq!(IdempotencyRecord::try_from(&item).unwrap(), record);
    let mut broken = item.clone();
    broken.insert("status".into(), s("DONE"));
    assert!(matches!(IdempotencyRecord::try_from(&broken), Err(StoreError::Corrupt { .. })));
    broken.insert("status".into(), n(1));
    assert!(matches!(IdempotencyRecord::try_from(&broken), Err(StoreError::Corrupt { .. })));
}
