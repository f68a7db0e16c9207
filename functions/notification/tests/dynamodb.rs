//! The sent log adapter's exact requests, checked with aws-smithy-mocks.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use shopsphere_notification::dynamodb::NotificationsTable;
use shopsphere_notification::{Claim, SendStatus, SentEmail, SentLog};

fn claim(status: SendStatus) -> SentEmail {
    SentEmail {
        event_id: "e-1".into(),
        order_id: "o-1".into(),
        event_type: "OrderShipped".into(),
        to: "ada@example.com".into(),
        subject: "Order o-1 has shipped".into(),
        status,
        lease_until: 1_800_000_010_000,
        provider_message_id: None,
        sent_at: None,
    }
}

#[tokio::test]
async fn the_claim_is_one_put_where_no_row_is() {
    let put = mock!(Client::put_item)
        .match_requests(|r| {
            r.table_name() == Some("notifications")
                && r.condition_expression() == Some("attribute_not_exists(event_id)")
                && r.item().unwrap()["status"] == AttributeValue::S("SENDING".into())
                && r.return_values_on_condition_check_failure() == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(|| PutItemOutput::builder().build());
    let log = NotificationsTable::new(mock_client!(aws_sdk_dynamodb, [&put]), "notifications");
    assert_eq!(log.claim(&claim(SendStatus::Sending), 1_800_000_000_000).await.unwrap(), Claim::Ours);
}

#[tokio::test]
async fn a_claim_whose_lease_ran_out_is_taken_over_where_it_is_still_that_claim() {
    let mut stale = claim(SendStatus::Sending);
    stale.lease_until = 1_799_999_999_000;
    let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(stale).unwrap();
    let refused = mock!(Client::put_item)
        .match_requests(|r| r.condition_expression() == Some("attribute_not_exists(event_id)"))
        .then_error(move || {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().set_item(Some(item.clone())).build(),
            )
        });
    let takeover = mock!(Client::put_item)
        .match_requests(|r| {
            let values = r.expression_attribute_values().unwrap();
            r.condition_expression() == Some("#status = :sending AND lease_until = :lease AND lease_until < :now")
                && values[":lease"] == AttributeValue::N("1799999999000".into())
                && values[":now"] == AttributeValue::N("1800000000000".into())
        })
        .then_output(|| PutItemOutput::builder().build());
    let log = NotificationsTable::new(
        mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&refused, &takeover]),
        "notifications",
    );
    assert_eq!(log.claim(&claim(SendStatus::Sending), 1_800_000_000_000).await.unwrap(), Claim::TakenOver);
}

#[tokio::test]
async fn a_refused_claim_says_sent_from_the_old_row() {
    let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(claim(SendStatus::Sent)).unwrap();
    let put = mock!(Client::put_item).then_error(move || {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().set_item(Some(item.clone())).build(),
        )
    });
    let log = NotificationsTable::new(mock_client!(aws_sdk_dynamodb, [&put]), "notifications");
    assert_eq!(log.claim(&claim(SendStatus::Sending), 1_800_000_000_000).await.unwrap(), Claim::Sent);
}

#[tokio::test]
async fn sent_is_marked_only_under_our_lease() {
    let update = mock!(Client::update_item)
        .match_requests(|r| {
            let values = r.expression_attribute_values().unwrap();
            r.update_expression() == Some("SET #status = :sent, provider_message_id = :message_id, sent_at = :sent_at")
                && r.condition_expression() == Some("#status = :sending AND lease_until = :lease")
                && values[":lease"] == AttributeValue::N("1800000010000".into())
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let log = NotificationsTable::new(mock_client!(aws_sdk_dynamodb, [&update]), "notifications");
    assert!(log.mark_sent(&claim(SendStatus::Sending), "<m>", "2026-11-28T10:00:00Z").await.unwrap());
}
