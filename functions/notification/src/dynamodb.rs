//! The notifications table (partition key `event_id`): the sent log, whose
//! row per event is claimed before the mail provider is called.

use shopsphere_runtime::dynamodb::{Change, Table, number, string};
use shopsphere_runtime::{TableError, Write};

use crate::domain::{Claim, SendStatus, SentEmail, SentLog};

#[derive(Debug, Clone)]
pub struct NotificationsTable(pub Table);

impl NotificationsTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        NotificationsTable(Table::new(client, table, "event_id"))
    }
}

const SENDING: &str = "SENDING";

/// The claim: a new row, or one whose claimer's lease ran out.
pub fn claim_condition(now_ms: i64) -> Change {
    Change::condition("attribute_not_exists(event_id) OR (#status = :sending AND lease_until < :now)")
        .name("#status", "status")
        .value(":sending", string(SENDING))
        .value(":now", number(now_ms))
}

/// Still our claim: SENDING under our lease.
fn ours(claim: &SentEmail, change: Change) -> Change {
    change
        .when("#status = :sending AND lease_until = :lease")
        .name("#status", "status")
        .value(":sending", string(SENDING))
        .value(":lease", number(claim.lease_until))
}

impl SentLog for NotificationsTable {
    async fn claim(&self, claim: &SentEmail, now_ms: i64) -> Result<Claim, TableError> {
        match self.0.put_when(claim, &claim_condition(now_ms)).await? {
            Write::Done => Ok(Claim::Ours),
            Write::Refused(Some(row)) if row.status == SendStatus::Sent => Ok(Claim::Sent),
            Write::Refused(Some(row)) => Ok(Claim::Held { lease_until: row.lease_until }),
            Write::Refused(None) => Err(TableError::unavailable(self.0.name(), "the claim was refused by no row")),
        }
    }

    async fn mark_sent(&self, claim: &SentEmail, provider_message_id: &str, sent_at: &str) -> Result<bool, TableError> {
        let sent = Change::new("SET #status = :sent, provider_message_id = :message_id, sent_at = :sent_at")
            .value(":sent", string("SENT"))
            .value(":message_id", string(provider_message_id))
            .value(":sent_at", string(sent_at));
        let written = self.0.update::<SentEmail>(&claim.event_id, &ours(claim, sent)).await?;
        Ok(written == Write::Done)
    }

    async fn release(&self, claim: &SentEmail) -> Result<(), TableError> {
        let release = Change::new("SET lease_until = :released").value(":released", number(0));
        self.0.update::<SentEmail>(&claim.event_id, &ours(claim, release)).await.map(drop)
    }
}
