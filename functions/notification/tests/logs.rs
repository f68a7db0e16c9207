//! What the notification handler logs: never an email address. Its own
//! test binary, alone in its process, so that the subscriber it installs
//! sees every callsite (tracing caches interest per process).

mod support;

use shopsphere_messaging::testing::run_sqs_fixture;
use support::{InMemorySentLog, Outbox, consumer};

/// Everything logged, as the function's JSON lines, at every level.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn sending_every_customer_email_logs_no_address() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_current_span(true)
        .with_span_list(true)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this process");
    let (outbox, log) = (Outbox::default(), InMemorySentLog::default());
    let c = consumer(&outbox, &log);
    for fixture in ["notification/sqs-raw.json", "notification/sqs-sns.json"] {
        run_sqs_fixture(&c, fixture, 10).await;
    }
    assert_eq!(outbox.sends(), 7);
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("batch processed"), "the logs were captured: {logged}");
    assert!(!logged.contains("ada@example.com") && !logged.contains('@'), "an address in the logs: {logged}");
}
