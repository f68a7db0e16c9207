//! The notification handler on committed Lambda fixtures.

mod support;

use shopsphere_messaging::testing::run_sqs_fixture;
use support::{InMemorySentLog, Outbox, consumer};

#[tokio::test]
async fn a_batch_of_every_customer_event_sends_seven_emails_once() {
    let (outbox, log) = (Outbox::default(), InMemorySentLog::default());
    let c = consumer(&outbox, &log);
    for fixture in ["notification/sqs-raw.json", "notification/sqs-sns.json"] {
        let (response, _) = run_sqs_fixture(&c, fixture, 10).await;
        assert!(response.batch_item_failures.is_empty(), "{fixture}");
    }
    assert_eq!(outbox.sends(), 7);
    assert_eq!(log.len(), 7);
}
