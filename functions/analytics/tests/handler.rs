//! The analytics handler on committed Lambda fixtures.

mod support;

use shopsphere_messaging::testing::run_sqs_fixture;
use support::{InMemoryArchive, consumer};

#[tokio::test]
async fn both_fixture_forms_archive_each_event_once() {
    let archive = InMemoryArchive::default();
    let c = consumer(&archive);
    for fixture in ["analytics/sqs-raw.json", "analytics/sqs-sns.json"] {
        let (response, _) = run_sqs_fixture(&c, fixture, 10).await;
        assert!(response.batch_item_failures.is_empty(), "{fixture}");
    }
    assert_eq!(archive.0.lock().unwrap().len(), 8);
}
