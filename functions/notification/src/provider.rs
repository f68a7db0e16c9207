//! The default mail provider: a slow mail server, simulated, with a durable
//! send log so every send is counted wherever it ran.

use std::collections::BTreeSet;
use std::time::Duration;

use shopsphere_runtime::dynamodb::{Change, Table, call_id, string};

use crate::domain::{Email, MailError, MailProvider};

/// The simulated provider's own record of one idempotency key's sends.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct MailRecord {
    pub id: String,
    /// One id per send call with this key, a set so that the SDK retrying
    /// a write whose answer was lost counts it once.
    pub send_ids: BTreeSet<String>,
}

impl MailRecord {
    /// Send calls with this key: 1 when the email went once.
    pub fn sends(&self) -> u64 {
        self.send_ids.len() as u64
    }
}

/// Takes `delay` per message, as the seed's mail server does (~3 s), answers
/// with a message id derived from the idempotency key, and counts each send
/// under `mail#<key>` in the simulated providers' table.
#[derive(Debug, Clone)]
pub struct SlowMailServer {
    pub delay: Duration,
    pub ledger: Table,
}

/// The ledger key of a mail send.
pub fn mail_key(idempotency_key: &str) -> String {
    format!("mail#{idempotency_key}")
}

impl MailProvider for SlowMailServer {
    async fn send(&self, email: &Email, idempotency_key: &str) -> Result<String, MailError> {
        if !email.to.contains('@') {
            return Err(MailError("invalid recipient".into()));
        }
        tokio::time::sleep(self.delay).await;
        let count = Change::new("ADD send_ids :send SET subject = :subject")
            .value(":send", call_id())
            .value(":subject", string(&email.subject));
        let record: MailRecord =
            self.ledger.upsert(&mail_key(idempotency_key), &count).await.map_err(|e| MailError(e.to_string()))?;
        tracing::info!(sends = record.sends(), "email sent");
        Ok(message_id(idempotency_key))
    }

    async fn sent(&self, idempotency_key: &str) -> Result<Option<String>, MailError> {
        let record: Option<MailRecord> =
            self.ledger.get(&mail_key(idempotency_key)).await.map_err(|e| MailError(e.to_string()))?;
        Ok(record.filter(|r| r.sends() > 0).map(|_| message_id(idempotency_key)))
    }
}

fn message_id(idempotency_key: &str) -> String {
    format!("<{idempotency_key}@mail.shopsphere.local>")
}
