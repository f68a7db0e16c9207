//! Payment rules: one charge per order, one refund per charge.

use std::future::Future;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shopsphere_events::{
    Envelope, Event, EventType, InventoryUpdateFailed, Money, OrderCreated, PaymentFailed, PaymentProcessed,
    PaymentRefunded, Reason, SkuQty,
};
use shopsphere_messaging::{Decision, HandlerError, Service};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Charged,
    Declined,
    Refunded,
}

/// The payments table's row for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub order_id: String,
    pub payment_id: String,
    pub status: PaymentStatus,
    pub amount: Money,
    pub email: String,
    pub items: Vec<SkuQty>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
}

/// What to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEffect {
    /// First outcome for an order (charged or declined); the row must not exist.
    Record(PaymentRecord),
    /// The charge was refunded; the row must still say CHARGED.
    Refund { order_id: String, refund_id: String, reason: Reason },
    /// The outcome is already recorded (the decision re-emits it).
    None,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("declined: {}", .0.message)]
    Declined(Reason),
    #[error("payment gateway unavailable: {0}")]
    Unavailable(String),
}

/// The payment provider. Both calls are idempotent by their key (the order id).
pub trait PaymentGateway: Send + Sync {
    fn charge(
        &self,
        order_id: &str,
        amount: Money,
        token: &str,
    ) -> impl Future<Output = Result<String, GatewayError>> + Send;
    fn refund(&self, payment_id: &str, amount: Money) -> impl Future<Output = Result<String, GatewayError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("payments table: {0}")]
pub struct RepoError(pub String);

/// Reads of the payments table.
pub trait Payments: Send + Sync {
    fn get(&self, order_id: &str) -> impl Future<Output = Result<Option<PaymentRecord>, RepoError>> + Send;
}

pub struct Payment<R, G> {
    pub payments: R,
    pub gateway: G,
}

/// The event types this function publishes (its topics).
/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &[EventType::OrderCreated, EventType::InventoryUpdateFailed];

/// The event types this function publishes: it may publish to exactly these topics.
pub const PUBLISHES: &[EventType] =
    &[EventType::PaymentProcessed, EventType::PaymentFailed, EventType::PaymentRefunded];

fn outcome_event(parent: &Envelope, record: &PaymentRecord) -> Envelope {
    let now = Utc::now();
    match (record.status, &record.reason, &record.refund_id) {
        (PaymentStatus::Declined, reason, _) => Envelope::derive(
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
                payment_id: record.payment_id.clone(),
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
            payment_id: record.payment_id.clone(),
            refund_id: refund_id.to_owned(),
            email: record.email.clone(),
            amount: record.amount,
            reason,
        },
        Utc::now(),
    )
}

impl<R: Payments, G: PaymentGateway> Payment<R, G> {
    async fn charge(&self, parent: &Envelope, order: &OrderCreated) -> Result<Decision<PaymentEffect>, HandlerError> {
        if let Some(existing) = self.payments.get(&order.order_id).await.map_err(HandlerError::transient)? {
            // Never charge twice for one order: repeat the recorded outcome.
            return Ok(Decision::new(PaymentEffect::None, vec![outcome_event(parent, &existing)]));
        }
        let items = order.lines.iter().map(|l| SkuQty { sku: l.sku.clone(), qty: l.qty }).collect();
        let mut record = PaymentRecord {
            order_id: order.order_id.clone(),
            payment_id: String::new(),
            status: PaymentStatus::Charged,
            amount: order.total,
            email: order.email.clone(),
            items,
            reason: None,
            refund_id: None,
        };
        match self.gateway.charge(&order.order_id, order.total, &order.payment_token).await {
            Ok(payment_id) => record.payment_id = payment_id,
            Err(GatewayError::Declined(reason)) => {
                record.status = PaymentStatus::Declined;
                record.reason = Some(reason);
            }
            Err(e @ GatewayError::Unavailable(_)) => return Err(HandlerError::transient(e)),
        }
        let event = outcome_event(parent, &record);
        Ok(Decision::new(PaymentEffect::Record(record), vec![event]))
    }

    async fn refund(
        &self,
        parent: &Envelope,
        failed: &InventoryUpdateFailed,
    ) -> Result<Decision<PaymentEffect>, HandlerError> {
        let Some(record) = self.payments.get(&failed.order_id).await.map_err(HandlerError::transient)? else {
            return Err(HandlerError::permanent(
                "no_payment",
                format!("refund requested for order {} which has no payment", failed.order_id),
            ));
        };
        let reason = Reason {
            code: "inventory_unavailable".into(),
            message: format!("refunded because stock could not be reserved: {}", failed.reason.message),
        };
        match (record.status, &record.refund_id) {
            // Never refund twice: repeat the recorded refund.
            (PaymentStatus::Refunded, Some(refund_id)) => {
                Ok(Decision::new(PaymentEffect::None, vec![refunded_event(parent, &record, refund_id, reason)]))
            }
            (PaymentStatus::Charged, _) => {
                let refund_id = match self.gateway.refund(&record.payment_id, record.amount).await {
                    Ok(id) => id,
                    Err(e) => return Err(HandlerError::transient(e)),
                };
                let event = refunded_event(parent, &record, &refund_id, reason.clone());
                let effect = PaymentEffect::Refund { order_id: record.order_id.clone(), refund_id, reason };
                Ok(Decision::new(effect, vec![event]))
            }
            (status, _) => Err(HandlerError::permanent(
                "not_refundable",
                format!("order {} payment is {status:?}, nothing to refund", failed.order_id),
            )),
        }
    }
}

impl<R: Payments, G: PaymentGateway> Service for Payment<R, G> {
    const FUNCTION: &'static str = "payment";
    const HANDLES: &'static [EventType] = HANDLES;
    type Effect = PaymentEffect;

    async fn decide(&self, event: &Envelope) -> Result<Decision<PaymentEffect>, HandlerError> {
        match &event.data {
            Event::OrderCreated(order) => self.charge(event, order).await,
            Event::InventoryUpdateFailed(failed) => self.refund(event, failed).await,
            other => Err(HandlerError::permanent("unexpected_event_type", format!("{}", other.event_type()))),
        }
    }
}
