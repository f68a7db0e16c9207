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

/// The claim: a new row (a stale one is taken over by [`takeover_condition`]).
pub fn claim_condition() -> Change {
    Change::condition("attribute_not_exists(event_id)")
}

/// A claim whose lease ran out by `now_ms`, taken over: still that claim.
pub fn takeover_condition(stale: &SentEmail, now_ms: i64) -> Change {
    Change::condition("#status = :sending AND lease_until = :lease AND lease_until < :now")
        .name("#status", "status")
        .value(":sending", string(SENDING))
        .value(":lease", number(stale.lease_until))
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
        let refused_by = |row: &SentEmail| match row.status {
            SendStatus::Sent => Claim::Sent,
            SendStatus::Sending => Claim::Held { lease_until: row.lease_until },
        };
        let stale = match self.0.put_when(claim, &claim_condition()).await? {
            Write::Done => return Ok(Claim::Ours),
            Write::Refused(Some(row)) if row.status == SendStatus::Sending && row.lease_until < now_ms => row,
            Write::Refused(Some(row)) => return Ok(refused_by(&row)),
            Write::Refused(None) => {
                return Err(TableError::unavailable(self.0.name(), "the claim was refused by no row"));
            }
        };
        // A second request only here, off the happy path.
        match self.0.put_when(claim, &takeover_condition(&stale, now_ms)).await? {
            Write::Done => Ok(Claim::TakenOver),
            Write::Refused(Some(row)) => Ok(refused_by(&row)),
            Write::Refused(None) => Err(TableError::unavailable(self.0.name(), "the takeover was refused by no row")),
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
