//! The payments table (partition key `order_id`): each write conditioned on
//! the step the row is at and on the holder's lease. And the payment-tokens
//! table, where payment reads the token order-api deposited with the order.

use shopsphere_payment_tokens::PaymentTokensTable;
use shopsphere_runtime::dynamodb::{Change, Table, number, string};
use shopsphere_runtime::{TableError, Updated, Write, now_ms};

use crate::domain::{PaymentRecord, PaymentStatus, PaymentTokens, Payments};

#[derive(Debug, Clone)]
pub struct PaymentsTable(pub Table);

impl PaymentsTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        PaymentsTable(Table::new(client, table, "order_id"))
    }
}

/// Where the row is at `status` under the lease `lease_until`.
fn held_by(change: Change, status: PaymentStatus, lease_until: i64) -> Change {
    change
        .when("#status = :status AND lease_until = :lease")
        .name("#status", "status")
        .value(":status", string(status.as_str()))
        .value(":lease", number(lease_until))
}

impl Payments for PaymentsTable {
    async fn open(&self, intent: &PaymentRecord) -> Result<Write<PaymentRecord>, TableError> {
        self.0.put_new(intent).await
    }

    async fn settle(
        &self,
        record: &PaymentRecord,
        expected: PaymentStatus,
        lease_until: i64,
    ) -> Result<Write<PaymentRecord>, TableError> {
        self.0.put_when(record, &held_by(Change::default(), expected, lease_until)).await
    }

    async fn begin_refund(
        &self,
        order_id: &str,
        refund_key: &str,
        lease_until: i64,
    ) -> Result<Updated<PaymentRecord>, TableError> {
        let refunding = Change::new("SET #status = :refunding, refund_key = :key, lease_until = :lease")
            .when("#status = :charged")
            .name("#status", "status")
            .value(":refunding", string(PaymentStatus::Refunding.as_str()))
            .value(":charged", string(PaymentStatus::Charged.as_str()))
            .value(":key", string(refund_key))
            .value(":lease", number(lease_until));
        self.0.update_new(order_id, &refunding).await
    }

    async fn take_over(
        &self,
        order_id: &str,
        status: PaymentStatus,
        now_ms: i64,
        lease_until: i64,
    ) -> Result<Updated<PaymentRecord>, TableError> {
        let ours = Change::new("SET lease_until = :lease")
            .when("#status = :status AND lease_until < :now")
            .name("#status", "status")
            .value(":status", string(status.as_str()))
            .value(":now", number(now_ms))
            .value(":lease", number(lease_until));
        self.0.update_new(order_id, &ours).await
    }

    async fn release(&self, order_id: &str, status: PaymentStatus, lease_until: i64) -> Result<(), TableError> {
        let released = Change::new("SET lease_until = :released").value(":released", number(0));
        self.0.update::<PaymentRecord>(order_id, &held_by(released, status, lease_until)).await.map(drop)
    }
}

impl PaymentTokens for PaymentTokensTable {
    async fn token(&self, order_id: &str) -> Result<Option<String>, TableError> {
        Ok(self.live(order_id, now_ms() / 1000).await?.map(|t| t.token))
    }

    async fn forget(&self, order_id: &str) -> Result<(), TableError> {
        PaymentTokensTable::forget(self, order_id).await
    }
}
