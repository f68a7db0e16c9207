//! Fakes of the mail provider and the sent log (domain and handler tests only).
#![allow(dead_code)]

use std::sync::Mutex;

use shopsphere_messaging::{ApplyEffect, Consumer, InMemoryPublisher, InMemorySink};
use shopsphere_notification::domain::MailError;
use shopsphere_notification::{Email, MailProvider, Notification, SentEmail};

#[derive(Default)]
pub struct Outbox(pub Mutex<Vec<Email>>);

impl MailProvider for &Outbox {
    async fn send(&self, email: &Email, event_id: &str) -> Result<String, MailError> {
        self.0.lock().unwrap().push(email.clone());
        Ok(format!("msg-{event_id}"))
    }
}

#[derive(Default)]
pub struct SentLog(pub Mutex<Vec<SentEmail>>);

impl ApplyEffect<SentEmail> for &SentLog {
    fn apply(&self, sent: &SentEmail) -> Result<(), String> {
        let mut log = self.0.lock().unwrap();
        if log.iter().any(|s| s.event_id == sent.event_id) {
            return Err("already recorded".into());
        }
        log.push(sent.clone());
        Ok(())
    }
}

pub fn consumer<'a>(
    outbox: &'a Outbox,
    log: &'a SentLog,
) -> Consumer<
    Notification<&'a Outbox>,
    InMemorySink<&'a SentLog>,
    std::sync::Arc<shopsphere_idempotency::InMemoryStore>,
    InMemoryPublisher,
> {
    Consumer::in_memory(Notification { mail: outbox }, log)
}
