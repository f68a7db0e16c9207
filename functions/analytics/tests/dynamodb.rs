//! The archive adapter's exact request, checked with aws-smithy-mocks.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use shopsphere_analytics::ArchivedEvent;
use shopsphere_analytics::domain::Archive;
use shopsphere_analytics::dynamodb::ArchiveTable;
use shopsphere_events::samples;
use shopsphere_runtime::Write;

#[tokio::test]
async fn an_event_is_one_put_where_its_archive_row_is_missing() {
    let row = ArchivedEvent::of(&samples::order_created("o-1"));
    let put = mock!(Client::put_item)
        .match_requests(|r| {
            r.table_name() == Some("archive")
                && r.condition_expression() == Some("attribute_not_exists(time_event_id)")
                && r.return_values_on_condition_check_failure() == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
        })
        .then_output(|| PutItemOutput::builder().build());
    let refused = mock!(Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().build())
    });
    let table = ArchiveTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&put, &refused]), "archive");
    assert_eq!(table.archive(&row).await.unwrap(), Write::Done);
    assert!(matches!(table.archive(&row).await.unwrap(), Write::Refused(_)), "a repeat");
}
