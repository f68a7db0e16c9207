//! Payment rules: one charge per order, one refund per charge. The order's
//! payment row is written as an intent (CHARGING, REFUNDING, with the
//! gateway's idempotency key and a lease) before the gateway is called, and
//! settled after; a retry that finds an intent whose lease ran out asks the
//! gateway what that key came to instead of calling it blindly. The card's
//! token is not in OrderCreated: it is read from where order-api deposited it
//! for the charge, and forgotten once the charge is decided.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shopsphere_events::{
    Envelope, Event, EventType, Money, OrderCreated, PaymentFailed, PaymentProcessed, PaymentRefunded, Reason, SkuQty,
};
use shopsphere_messaging::{HandlerError, Outcome, Service, StoredEvents};
use shopsphere_runtime::{Deadline, TableError, Updated, Write, now_ms, retried};

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] =
    &[EventType::OrderCreated, EventType::InventoryUpdateFailed, EventType::ShippingFailed];

/// The event types this function publishes: it may publish to exactly these topics.
pub const PUBLISHES: &[EventType] =
    &[EventType::PaymentProcessed, EventType::PaymentFailed, EventType::PaymentRefunded];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// The charge is being asked of the gateway.
    Charging,
    Charged,
    Declined,
    /// The refund is being asked of the gateway.
    Refunding,
    Refunded,
}

impl PaymentStatus {
    /// As stored (the serde name).
    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Charging => "CHARGING",
            PaymentStatus::Charged => "CHARGED",
            PaymentStatus::Declined => "DECLINED",
            PaymentStatus::Refunding => "REFUNDING",
            PaymentStatus::Refunded => "REFUNDED",
        }
    }
}

/// The payments table's row: one per order, ever, the guard of its charge and refund.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub order_id: String,
    pub status: PaymentStatus,
    pub amount: Money,
    pub email: String,
    pub items: Vec<SkuQty>,
    /// The gateway's idempotency key of the charge: the OrderCreated's event id.
    pub charge_key: String,
    /// Epoch ms until which the holder of a CHARGING or REFUNDING step may
    /// still be at the gateway (its invocation's deadline); 0 once given up.
    pub lease_until: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// The gateway's idempotency key of the refund: the id of the event that
    /// asked for it (InventoryUpdateFailed or ShippingFailed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// The charge's outcome event, re-published when OrderCreated comes again.
    #[serde(default)]
    pub charge_events: StoredEvents,
    /// The refund's event, re-published when InventoryUpdateFailed comes again.
    #[serde(default)]
    pub refund_events: StoredEvents,
}

/// What the gateway made of a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Charge {
    Charged { payment_id: String },
    Declined { reason: Reason },
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No answer, or an answer that says nothing about the outcome.
    #[error("payment gateway unavailable: {0}")]
    Unavailable(String),
}

/// The payment provider. Charges and refunds are idempotent by their key: the
/// same key again answers the first outcome and moves no money.
pub trait PaymentGateway: Send + Sync {
    fn charge(
        &self,
        key: &str,
        order_id: &str,
        amount: Money,
        token: &str,
    ) -> impl Future<Output = Result<Charge, GatewayError>> + Send;
    /// What a charge with `key` came to, if the gateway has it.
    fn charge_outcome(&self, key: &str) -> impl Future<Output = Result<Option<Charge>, GatewayError>> + Send;
    /// Refund a charge; returns the refund id.
    fn refund(
        &self,
        key: &str,
        payment_id: &str,
        amount: Money,
    ) -> impl Future<Output = Result<String, GatewayError>> + Send;
    /// The refund id of a refund with `key`, if the gateway has it.
    fn refund_outcome(&self, key: &str) -> impl Future<Output = Result<Option<String>, GatewayError>> + Send;
}

/// The payments table.
pub trait Payments: Send + Sync {
    /// Store `intent` (CHARGING) unless the order has a payment row, which comes back.
    fn open(&self, intent: &PaymentRecord) -> impl Future<Output = Result<Write<PaymentRecord>, TableError>> + Send;
    /// Replace the row by `record` where it is still `expected` under our lease.
    fn settle(
        &self,
        record: &PaymentRecord,
        expected: PaymentStatus,
        lease_until: i64,
    ) -> impl Future<Output = Result<Write<PaymentRecord>, TableError>> + Send;
    /// Move a CHARGED row to REFUNDING under our lease, with the refund's key.
    fn begin_refund(
        &self,
        order_id: &str,
        refund_key: &str,
        lease_until: i64,
    ) -> impl Future<Output = Result<Updated<PaymentRecord>, TableError>> + Send;
    /// Take a step (`status`) over whose holder's lease ran out before `now_ms`.
    fn take_over(
        &self,
        order_id: &str,
        status: PaymentStatus,
        now_ms: i64,
        lease_until: i64,
    ) -> impl Future<Output = Result<Updated<PaymentRecord>, TableError>> + Send;
    /// Give our lease up at once (the gateway failed), so a retry need not wait for it.
    fn release(
        &self,
        order_id: &str,
        status: PaymentStatus,
        lease_until: i64,
    ) -> impl Future<Output = Result<(), TableError>> + Send;
}

/// The payment tokens order-api deposits with each order (the
/// payment-tokens table): read for the charge only.
pub trait PaymentTokens: Send + Sync {
    /// The order's token, unless none is on file (never deposited, expired, forgotten).
    fn token(&self, order_id: &str) -> impl Future<Output = Result<Option<String>, TableError>> + Send;
    /// Delete the order's token: its charge is decided.
    fn forget(&self, order_id: &str) -> impl Future<Output = Result<(), TableError>> + Send;
}

pub struct Payment<R, G, T> {
    pub payments: R,
    pub gateway: G,
    pub tokens: T,
}

/// The decline of an order that has no token on file: its OrderCreated came
/// after the token expired, or was published before tokens moved out of it.
fn no_token() -> Charge {
    Charge::Declined {
        reason: Reason {
            code: "payment_token_missing".into(),
            message: "no payment token is on file for the order: it expired, or was never deposited".into(),
        },
    }
}

fn outcome_event(parent: &Envelope, record: &PaymentRecord) -> Envelope {
    let now = Utc::now();
    match (record.status, &record.reason) {
        (PaymentStatus::Declined, reason) => Envelope::derive(
            parent,
            PaymentFailed {
                order_id: record.order_id.clone(),
                email: record.email.clone(),
                amount: record.amount,
                reason: reason
                    .clone()
                    .unwrap_or_else(|| Reason { code: "declined".into(), message: "declined".into() }),
            },
            now,
        ),
        _ => Envelope::derive(
            parent,
            PaymentProcessed {
                order_id: record.order_id.clone(),
                payment_id: record.payment_id.clone().unwrap_or_default(),
                email: record.email.clone(),
                amount: record.amount,
                items: record.items.clone(),
            },
            now,
        ),
    }
}

fn refunded_event(parent: &Envelope, record: &PaymentRecord, refund_id: &str, reason: Reason) -> Envelope {
    Envelope::derive(
        parent,
        PaymentRefunded {
            order_id: record.order_id.clone(),
            payment_id: record.payment_id.clone().unwrap_or_default(),
            refund_id: refund_id.to_owned(),
            email: record.email.clone(),
            amount: record.amount,
            reason,
        },
        Utc::now(),
    )
}

fn held(record: &PaymentRecord, now: i64) -> HandlerError {
    HandlerError::Held {
        what: format!("the payment of order {} is {:?} by another invocation", record.order_id, record.status),
        retry_after: Duration::from_millis(u64::try_from(record.lease_until - now).unwrap_or(0)),
    }
}

fn gateway_down(e: GatewayError) -> HandlerError {
    HandlerError::transient(e)
}

impl<R: Payments, G: PaymentGateway, T: PaymentTokens> Payment<R, G, T> {
    /// The row's step is ours now: a live lease makes the retry wait for it.
    async fn take_over(&self, row: PaymentRecord, now: i64, lease: i64) -> Result<PaymentRecord, HandlerError> {
        if row.lease_until >= now {
            return Err(held(&row, now));
        }
        match self.payments.take_over(&row.order_id, row.status, now, lease).await? {
            Updated::Done(row) => {
                tracing::info!(status = row.status.as_str(), "took over a payment step whose lease ran out");
                Ok(row)
            }
            Updated::Refused(Some(current)) if current.lease_until >= now => Err(held(&current, now)),
            Updated::Refused(_) => Err(HandlerError::transient("the payment row changed during the take-over")),
        }
    }

    /// Charge the order with its token, or decline it when none is on file.
    async fn ask_gateway(&self, record: &PaymentRecord, order: &OrderCreated) -> Result<Charge, HandlerError> {
        let Some(token) = self.tokens.token(&order.order_id).await? else {
            tracing::warn!("no payment token on file: the order is declined");
            return Ok(no_token());
        };
        self.gateway.charge(&record.charge_key, &order.order_id, order.total, &token).await.map_err(gateway_down)
    }

    /// The charge is decided (the row says how): its token is needed no more.
    /// A failure leaves it to the table's TTL.
    async fn forget_token(&self, order_id: &str) {
        if let Err(e) = self.tokens.forget(order_id).await {
            tracing::warn!(error = %e, "could not delete the order's payment token; its TTL will");
        }
    }

    async fn release(&self, record: &PaymentRecord) {
        if let Err(e) = self.payments.release(&record.order_id, record.status, record.lease_until).await {
            tracing::warn!(error = %e, "could not release the payment step; a retry waits for its lease");
        }
    }

    /// The intent of charging `order`: CHARGING, the gateway's key derived
    /// from the event, our lease.
    fn intent(parent: &Envelope, order: &OrderCreated, lease_until: i64) -> PaymentRecord {
        PaymentRecord {
            order_id: order.order_id.clone(),
            status: PaymentStatus::Charging,
            amount: order.total,
            email: order.email.clone(),
            items: order.lines.iter().map(|l| SkuQty { sku: l.sku.clone(), qty: l.qty }).collect(),
            charge_key: parent.id.to_string(),
            lease_until,
            payment_id: None,
            reason: None,
            refund_key: None,
            refund_id: None,
            charge_events: StoredEvents::default(),
            refund_events: StoredEvents::default(),
        }
    }

    /// The row once the gateway said what the charge came to, with the event that says it.
    fn settled(parent: &Envelope, record: &PaymentRecord, charge: Charge) -> PaymentRecord {
        let mut settled = record.clone();
        match charge {
            Charge::Charged { payment_id } => {
                settled.status = PaymentStatus::Charged;
                settled.payment_id = Some(payment_id);
            }
            Charge::Declined { reason } => {
                settled.status = PaymentStatus::Declined;
                settled.reason = Some(reason);
            }
        }
        settled.charge_events = StoredEvents(vec![outcome_event(parent, &settled)]);
        settled
    }

    /// Write the settled charge where the row is still our CHARGING intent.
    async fn finish_charge(&self, settled: PaymentRecord, lease_until: i64) -> Result<Outcome, HandlerError> {
        match retried(|| self.payments.settle(&settled, PaymentStatus::Charging, lease_until)).await? {
            Write::Done => Ok(Outcome::Applied(settled.charge_events.0)),
            Write::Refused(Some(row)) => Self::charge_repeat(row),
            Write::Refused(None) => Err(HandlerError::transient("the payment row changed under the charge")),
        }
    }

    /// What a row that already has the order's charge outcome answers a repeat with.
    fn charge_repeat(row: PaymentRecord) -> Result<Outcome, HandlerError> {
        match row.status {
            PaymentStatus::Charged | PaymentStatus::Declined => Ok(Outcome::Repeat(row.charge_events.0)),
            // Charged, then refunded: its PaymentProcessed went out before the refund; never again.
            PaymentStatus::Refunding | PaymentStatus::Refunded => Ok(Outcome::Repeat(vec![])),
            PaymentStatus::Charging => Err(HandlerError::transient("the charge is still an intent")),
        }
    }

    async fn charge(
        &self,
        parent: &Envelope,
        order: &OrderCreated,
        deadline: Deadline,
    ) -> Result<Outcome, HandlerError> {
        let now = now_ms();
        let intent = Self::intent(parent, order, deadline.or_fallback(now));
        let (record, taken_over) = match self.payments.open(&intent).await? {
            Write::Done => (intent, false),
            Write::Refused(Some(row)) if row.status == PaymentStatus::Charging => {
                (self.take_over(row, now, intent.lease_until).await?, true)
            }
            Write::Refused(Some(row)) => return Self::charge_repeat(row),
            Write::Refused(None) => return Err(HandlerError::transient("the payment row that refused ours is gone")),
        };
        let known = match taken_over {
            true => self.gateway.charge_outcome(&record.charge_key).await.map_err(gateway_down)?,
            false => None,
        };
        let charge = match known {
            Some(charge) => charge,
            None => match self.ask_gateway(&record, order).await {
                Ok(charge) => charge,
                Err(e) => {
                    self.release(&record).await;
                    return Err(e);
                }
            },
        };
        self.finish_charge(Self::settled(parent, &record, charge), record.lease_until).await
    }

    /// The charge cannot be made (its retries are spent): the order's payment
    /// is declined with `gateway_unavailable`, so the order ends
    /// PAYMENT_FAILED and its customer hears of it. An intent left by an
    /// earlier attempt is settled from what the gateway says of its key: a
    /// charge the gateway made is kept, one it never made is declined.
    async fn decline(
        &self,
        parent: &Envelope,
        order: &OrderCreated,
        why: &str,
        deadline: Deadline,
    ) -> Result<Outcome, HandlerError> {
        let now = now_ms();
        let unavailable = Charge::Declined {
            reason: Reason {
                code: "gateway_unavailable".into(),
                message: format!("the charge could not be made: {why}"),
            },
        };
        let intent = Self::intent(parent, order, deadline.or_fallback(now));
        let declined = Self::settled(parent, &intent, unavailable.clone());
        match self.payments.open(&declined).await? {
            Write::Done => Ok(Outcome::Applied(declined.charge_events.0)),
            Write::Refused(Some(row)) if row.status == PaymentStatus::Charging => {
                let record = self.take_over(row, now, intent.lease_until).await?;
                let charge = self.gateway.charge_outcome(&record.charge_key).await.map_err(gateway_down)?;
                self.finish_charge(Self::settled(parent, &record, charge.unwrap_or(unavailable)), record.lease_until)
                    .await
            }
            Write::Refused(Some(row)) => Self::charge_repeat(row),
            Write::Refused(None) => Err(HandlerError::transient("the payment row that refused ours is gone")),
        }
    }

    /// Refund the order's charge because of `failure` (its InventoryUpdateFailed
    /// or ShippingFailed, `parent`), once: CHARGED → REFUNDING → REFUNDED.
    async fn refund(
        &self,
        parent: &Envelope,
        order_id: &str,
        reason: Reason,
        deadline: Deadline,
    ) -> Result<Outcome, HandlerError> {
        let now = now_ms();
        let lease = deadline.or_fallback(now);
        let (record, taken_over) = match self.payments.begin_refund(order_id, &parent.id.to_string(), lease).await? {
            Updated::Done(row) => (row, false),
            Updated::Refused(None) => {
                return Err(HandlerError::permanent(
                    "no_payment",
                    format!("refund requested for order {order_id} which has no payment"),
                ));
            }
            Updated::Refused(Some(row)) => match row.status {
                PaymentStatus::Refunded => return Ok(Outcome::Repeat(row.refund_events.0)),
                PaymentStatus::Refunding => (self.take_over(row, now, lease).await?, true),
                PaymentStatus::Charging => return Err(held(&row, now)),
                PaymentStatus::Charged => {
                    return Err(HandlerError::transient("the payment row changed during the refund's start"));
                }
                PaymentStatus::Declined => {
                    return Err(HandlerError::permanent(
                        "not_refundable",
                        format!("order {order_id} payment was declined, nothing to refund"),
                    ));
                }
            },
        };
        let refund_key = record.refund_key.clone().unwrap_or_else(|| parent.id.to_string());
        let known = match taken_over {
            true => self.gateway.refund_outcome(&refund_key).await.map_err(gateway_down)?,
            false => None,
        };
        let refund_id = match known {
            Some(id) => id,
            None => {
                let payment_id = record.payment_id.clone().unwrap_or_default();
                match self.gateway.refund(&refund_key, &payment_id, record.amount).await {
                    Ok(id) => id,
                    Err(e) => {
                        self.release(&record).await;
                        return Err(gateway_down(e));
                    }
                }
            }
        };
        let mut settled = record.clone();
        settled.status = PaymentStatus::Refunded;
        settled.refund_id = Some(refund_id.clone());
        settled.refund_events = StoredEvents(vec![refunded_event(parent, &record, &refund_id, reason.clone())]);
        settled.reason = Some(reason);
        match retried(|| self.payments.settle(&settled, PaymentStatus::Refunding, record.lease_until)).await? {
            Write::Done => Ok(Outcome::Applied(settled.refund_events.0)),
            Write::Refused(Some(row)) if row.status == PaymentStatus::Refunded => {
                Ok(Outcome::Repeat(row.refund_events.0))
            }
            Write::Refused(_) => Err(HandlerError::transient("the payment row changed under the refund")),
        }
    }
}

impl<R: Payments, G: PaymentGateway, T: PaymentTokens> Service for Payment<R, G, T> {
    const FUNCTION: &'static str = "payment";
    const HANDLES: &'static [EventType] = HANDLES;
    const PUBLISHES: &'static [EventType] = PUBLISHES;

    async fn handle(&self, event: &Envelope, deadline: Deadline) -> Result<Outcome, HandlerError> {
        match &event.data {
            Event::OrderCreated(order) => {
                let decided = self.charge(event, order, deadline).await?;
                self.forget_token(&order.order_id).await;
                Ok(decided)
            }
            Event::InventoryUpdateFailed(failed) => {
                let reason = Reason {
                    code: "inventory_unavailable".into(),
                    message: format!("refunded because stock could not be reserved: {}", failed.reason.message),
                };
                self.refund(event, &failed.order_id, reason, deadline).await
            }
            Event::ShippingFailed(failed) => {
                let reason = Reason {
                    code: "shipping_failed".into(),
                    message: format!("refunded because the order could not be shipped: {}", failed.reason.message),
                };
                self.refund(event, &failed.order_id, reason, deadline).await
            }
            other => Err(HandlerError::permanent("unexpected_event_type", format!("{}", other.event_type()))),
        }
    }

    /// A charge that cannot be made declines the order; a refund that cannot
    /// be made goes to the DLQ only (`shopsphere audit` reports the order).
    async fn give_up(&self, event: &Envelope, why: &str, deadline: Deadline) -> Result<Option<Outcome>, HandlerError> {
        match &event.data {
            Event::OrderCreated(order) => {
                let decided = self.decline(event, order, why, deadline).await?;
                self.forget_token(&order.order_id).await;
                Ok(Some(decided))
            }
            _ => Ok(None),
        }
    }
}
