//! Fakes of the mail provider and the sent log (domain and handler tests
//! only), the log with the conditions of the real writes.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use shopsphere_messaging::{Consumer, InMemoryPublisher};
use shopsphere_notification::domain::MailError;
use shopsphere_notification::{Claim, Email, MailProvider, Notification, SendStatus, SentEmail, SentLog};
use shopsphere_runtime::TableError;

/// Every send, with the key it came with.
#[derive(Default)]
pub struct Outbox(pub Mutex<Vec<(Email, String)>>);

impl Outbox {
    pub fn sends(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

impl MailProvider for &Outbox {
    async fn send(&self, email: &Email, idempotency_key: &str) -> Result<String, MailError> {
        self.0.lock().unwrap().push((email.clone(), idempotency_key.to_owned()));
        Ok(format!("msg-{idempotency_key}"))
    }

    async fn sent(&self, idempotency_key: &str) -> Result<Option<String>, MailError> {
        let sends = self.0.lock().unwrap();
        Ok(sends.iter().any(|(_, key)| key == idempotency_key).then(|| format!("msg-{idempotency_key}")))
    }
}

#[derive(Default)]
pub struct InMemorySentLog {
    pub rows: Mutex<HashMap<String, SentEmail>>,
    /// Marks that fail (the table briefly unavailable) before one passes.
    pub mark_outages: AtomicU32,
}

impl InMemorySentLog {
    pub fn row(&self, event_id: &str) -> SentEmail {
        self.rows.lock().unwrap()[event_id].clone()
    }

    pub fn len(&self) -> usize {
        self.rows.lock().unwrap().len()
    }
}

impl SentLog for &InMemorySentLog {
    async fn claim(&self, claim: &SentEmail, now_ms: i64) -> Result<Claim, TableError> {
        let mut rows = self.rows.lock().unwrap();
        let claimed = match rows.get(&claim.event_id) {
            Some(row) if row.status == SendStatus::Sent => return Ok(Claim::Sent),
            Some(row) if row.lease_until >= now_ms => return Ok(Claim::Held { lease_until: row.lease_until }),
            Some(_) => Claim::TakenOver,
            None => Claim::Ours,
        };
        rows.insert(claim.event_id.clone(), claim.clone());
        Ok(claimed)
    }

    async fn mark_sent(&self, claim: &SentEmail, provider_message_id: &str, sent_at: &str) -> Result<bool, TableError> {
        if self.mark_outages.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(TableError::unavailable("notifications", "throttled"));
        }
        let mut rows = self.rows.lock().unwrap();
        let Some(row) = rows.get_mut(&claim.event_id) else { return Ok(false) };
        if row.status != SendStatus::Sending || row.lease_until != claim.lease_until {
            return Ok(false);
        }
        row.status = SendStatus::Sent;
        row.provider_message_id = Some(provider_message_id.to_owned());
        row.sent_at = Some(sent_at.to_owned());
        Ok(true)
    }

    async fn release(&self, claim: &SentEmail) -> Result<(), TableError> {
        let mut rows = self.rows.lock().unwrap();
        if let Some(row) = rows.get_mut(&claim.event_id).filter(|r| r.lease_until == claim.lease_until) {
            row.lease_until = 0;
        }
        Ok(())
    }
}

pub type TestConsumer<'a> = Consumer<Notification<&'a Outbox, &'a InMemorySentLog>, InMemoryPublisher>;

pub fn consumer<'a>(outbox: &'a Outbox, log: &'a InMemorySentLog) -> TestConsumer<'a> {
    Consumer::in_memory(Notification { mail: outbox, sent_log: log })
}
