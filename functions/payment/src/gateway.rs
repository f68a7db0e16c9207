//! The simulated payment gateway (the default adapter of [`PaymentGateway`]),
//! with durable state of its own, as a real gateway has: its [`Ledger`] (the
//! simulated providers' table when deployed), so every instance of the
//! function sees the same charges.
//!
//! Tokens: `tok_visa` succeeds, `tok_decline` is declined, `tok_flaky` fails
//! transiently its first `flaky_failures` attempts per order; any amount above
//! `limit` (minor units) is declined. Each key's first outcome is kept: the
//! same key again answers it and moves no money, and the ledger counts calls.

use std::collections::BTreeSet;
use std::future::Future;

use serde::{Deserialize, Serialize};
use shopsphere_events::{Money, Reason};
use shopsphere_runtime::TableError;
use shopsphere_runtime::dynamodb::{Change, Table, attribute, call_id, string};
use uuid::Uuid;

use crate::domain::{Charge, GatewayError, PaymentGateway};

const ID_NAMESPACE: Uuid = Uuid::from_u128(0x9d2c_51aa_0f3e_4b7c_8e11_6a4d_2c9b_7f05);

/// The gateway's record of one idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayRecord {
    pub id: String,
    /// One id per call made with the key, a set so that the SDK retrying a
    /// write whose answer was lost counts it once.
    #[serde(default)]
    pub call_ids: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<Charge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
}

impl GatewayRecord {
    /// Calls made with the key: 1 when it was charged (or refunded) once.
    pub fn calls(&self) -> u64 {
        self.call_ids.len() as u64
    }
}

/// The ledger key of a charge.
pub fn charge_key(key: &str) -> String {
    format!("charge#{key}")
}

/// The ledger key of a refund.
pub fn refund_key(key: &str) -> String {
    format!("refund#{key}")
}

/// The ledger key of an order's failed `tok_flaky` attempts.
pub fn flaky_key(order_id: &str) -> String {
    format!("flaky#{order_id}")
}

/// Where the simulated gateway keeps what it did.
pub trait Ledger: Send + Sync {
    /// Count one more attempt under `id`; the count now.
    fn attempt(&self, id: &str) -> impl Future<Output = Result<u32, TableError>> + Send;
    /// Count a call under `record.id` and keep `record`'s outcome unless one
    /// is kept already; the record as it is now.
    fn keep_first(&self, record: &GatewayRecord) -> impl Future<Output = Result<GatewayRecord, TableError>> + Send;
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<GatewayRecord>, TableError>> + Send;
}

/// The ledger in a DynamoDB table (partition key `id`).
#[derive(Debug, Clone)]
pub struct DynamoDbLedger(pub Table);

/// The gateway's count of an order's `tok_flaky` attempts (under [`flaky_key`]).
#[derive(Debug, Clone, Deserialize)]
pub struct FlakyAttempts {
    /// One id per attempt (a set: see [`GatewayRecord::call_ids`]).
    pub attempt_ids: BTreeSet<String>,
}

impl FlakyAttempts {
    pub fn count(&self) -> u32 {
        u32::try_from(self.attempt_ids.len()).unwrap_or(u32::MAX)
    }
}

impl Ledger for DynamoDbLedger {
    async fn attempt(&self, id: &str) -> Result<u32, TableError> {
        let attempt = Change::new("ADD attempt_ids :attempt").value(":attempt", call_id());
        Ok(self.0.upsert::<FlakyAttempts>(id, &attempt).await?.count())
    }

    /// `ADD call_ids :call SET charge = if_not_exists(charge, :charge)` (or the refund id): one UpdateItem.
    async fn keep_first(&self, record: &GatewayRecord) -> Result<GatewayRecord, TableError> {
        let mut keep = Change::new("ADD call_ids :call").value(":call", call_id());
        if let Some(charge) = &record.charge {
            keep.update.push_str(" SET charge = if_not_exists(charge, :charge)");
            keep = keep.value(":charge", attribute(charge));
        }
        if let Some(refund_id) = &record.refund_id {
            keep.update.push_str(" SET refund_id = if_not_exists(refund_id, :refund)");
            keep = keep.value(":refund", string(refund_id));
        }
        self.0.upsert(&record.id, &keep).await
    }

    async fn get(&self, id: &str) -> Result<Option<GatewayRecord>, TableError> {
        self.0.get(id).await
    }
}

#[derive(Debug, Clone)]
pub struct SimulatedGateway<L> {
    pub limit: i64,
    pub flaky_failures: u32,
    pub ledger: L,
}

fn declined(code: &str, message: String) -> Charge {
    Charge::Declined { reason: Reason { code: code.into(), message } }
}

fn down(e: TableError) -> GatewayError {
    GatewayError::Unavailable(e.to_string())
}

impl<L: Ledger> SimulatedGateway<L> {
    /// What the card and amount decide, before any money moves.
    async fn decide(&self, order_id: &str, amount: Money, token: &str) -> Result<Charge, GatewayError> {
        if amount.amount > self.limit {
            return Ok(declined(
                "amount_over_limit",
                format!("{} {} exceeds the limit of {}", amount.amount, amount.currency, self.limit),
            ));
        }
        match token {
            "tok_visa" => {}
            "tok_decline" => return Ok(declined("card_declined", "the card was declined".into())),
            "tok_flaky" => {
                let attempt = self.ledger.attempt(&flaky_key(order_id)).await.map_err(down)?;
                if attempt <= self.flaky_failures {
                    return Err(GatewayError::Unavailable(format!(
                        "simulated outage (attempt {attempt} of {})",
                        self.flaky_failures
                    )));
                }
            }
            _ => return Ok(declined("invalid_token", "unknown payment token".into())),
        }
        Ok(Charge::Charged { payment_id: format!("pay_{}", Uuid::new_v5(&ID_NAMESPACE, order_id.as_bytes()).simple()) })
    }
}

impl<L: Ledger> PaymentGateway for SimulatedGateway<L> {
    async fn charge(&self, key: &str, order_id: &str, amount: Money, token: &str) -> Result<Charge, GatewayError> {
        let decided = self.decide(order_id, amount, token).await?;
        let first =
            GatewayRecord { id: charge_key(key), call_ids: BTreeSet::new(), charge: Some(decided), refund_id: None };
        let record = self.ledger.keep_first(&first).await.map_err(down)?;
        tracing::info!(calls = record.calls(), "gateway charge");
        record.charge.ok_or_else(|| GatewayError::Unavailable("the charge record has no outcome".into()))
    }

    async fn charge_outcome(&self, key: &str) -> Result<Option<Charge>, GatewayError> {
        Ok(self.ledger.get(&charge_key(key)).await.map_err(down)?.and_then(|r| r.charge))
    }

    async fn refund(&self, key: &str, payment_id: &str, _amount: Money) -> Result<String, GatewayError> {
        let refund_id = format!("re_{}", Uuid::new_v5(&ID_NAMESPACE, payment_id.as_bytes()).simple());
        let first =
            GatewayRecord { id: refund_key(key), call_ids: BTreeSet::new(), charge: None, refund_id: Some(refund_id) };
        let record = self.ledger.keep_first(&first).await.map_err(down)?;
        tracing::info!(calls = record.calls(), "gateway refund");
        record.refund_id.ok_or_else(|| GatewayError::Unavailable("the refund record has no id".into()))
    }

    async fn refund_outcome(&self, key: &str) -> Result<Option<String>, GatewayError> {
        Ok(self.ledger.get(&refund_key(key)).await.map_err(down)?.and_then(|r| r.refund_id))
    }
}
