//! The analytics handler on committed Lambda fixtures.

use shopsphere_analytics::Analytics;
use shopsphere_messaging::testing::run_sqs_fixture;
use shopsphere_messaging::{ApplyEffect, Consumer};

#[derive(Default)]
struct Counted(std::sync::Mutex<usize>);

impl ApplyEffect<shopsphere_analytics::AnalyticsEffect> for &Counted {
    fn apply(&self, _: &shopsphere_analytics::AnalyticsEffect) -> Result<(), String> {
        *self.0.lock().unwrap() += 1;
        Ok(())
    }
}

#[tokio::test]
async fn both_fixture_forms_count_each_event_once() {
    let counted = Counted::default();
    let c = Consumer::in_memory(Analytics, &counted);
    for fixture in ["analytics/sqs-raw.json", "analytics/sqs-sns.json"] {
        let (response, _) = run_sqs_fixture(&c, fixture, 10).await;
        assert!(response.batch_item_failures.is_empty(), "{fixture}");
    }
    assert_eq!(*counted.0.lock().unwrap(), 7);
}
