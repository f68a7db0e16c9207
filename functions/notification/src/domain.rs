//! Which email each event sends, and the sent log that makes it once.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shopsphere_events::{Envelope, Event, EventType, Money};
use shopsphere_messaging::{HandlerError, Outcome, Service};
use shopsphere_runtime::{Deadline, TableError, now_ms, retried};

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &[
    EventType::OrderCreated,
    EventType::PaymentProcessed,
    EventType::PaymentFailed,
    EventType::InventoryUpdateFailed,
    EventType::PaymentRefunded,
    EventType::OrderShipped,
    EventType::ShippingFailed,
];

/// The event types this function publishes (none).
pub const PUBLISHES: &[EventType] = &[];

/// One rendered email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Where an event's email is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SendStatus {
    /// Claimed: an invocation is handing it to the mail provider.
    Sending,
    /// The provider took it.
    Sent,
}

/// The notifications table's row: one per event, ever. It is claimed
/// (SENDING, with a lease) before the mail provider is called and marked SENT
/// after, so an event's email is sent once, or once more after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    /// The event id the email is for.
    pub event_id: String,
    pub order_id: String,
    pub event_type: String,
    pub to: String,
    pub subject: String,
    pub status: SendStatus,
    /// Epoch ms until which the claimer may still be sending (its invocation's deadline).
    pub lease_until: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
}

/// What claiming an event's email came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Ours to send.
    Ours,
    /// Ours, taken over from a claimer whose lease ran out: it may have sent
    /// before it died, so the provider is asked first.
    TakenOver,
    /// Sent before.
    Sent,
    /// Another invocation is sending it until `lease_until` (epoch ms).
    Held { lease_until: i64 },
}

/// The sent log.
pub trait SentLog: Send + Sync {
    /// Write `claim` (SENDING) unless the event's row is SENT, or SENDING
    /// under a lease that has not run out at `now_ms` (one that has is taken over).
    fn claim(&self, claim: &SentEmail, now_ms: i64) -> impl Future<Output = Result<Claim, TableError>> + Send;
    /// Mark our claim (its lease) SENT; `false`: it is not ours any more.
    fn mark_sent(
        &self,
        claim: &SentEmail,
        provider_message_id: &str,
        sent_at: &str,
    ) -> impl Future<Output = Result<bool, TableError>> + Send;
    /// Give our claim up at once (the send failed), so a retry need not wait for the lease.
    fn release(&self, claim: &SentEmail) -> impl Future<Output = Result<(), TableError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("mail provider failed: {0}")]
pub struct MailError(pub String);

/// Where emails go.
pub trait MailProvider: Send + Sync {
    /// Send, with the event id as the provider's idempotency key; returns the
    /// provider's message id.
    fn send(&self, email: &Email, idempotency_key: &str) -> impl Future<Output = Result<String, MailError>> + Send;
    /// The message id of what was sent with `idempotency_key`, if anything was.
    fn sent(&self, idempotency_key: &str) -> impl Future<Output = Result<Option<String>, MailError>> + Send;
}

fn money(m: &Money) -> String {
    format!("{}.{:02} {}", m.amount / 100, (m.amount % 100).abs(), m.currency)
}

/// The email for an event, `None` for types that send none.
pub fn render(event: &Event) -> Option<Email> {
    let (to, subject, text) = match event {
        Event::OrderCreated(o) => {
            let lines: Vec<String> = o
                .lines
                .iter()
                .map(|l| {
                    format!(
                        "  {} × {} ({}) = {}",
                        l.qty,
                        l.name,
                        l.sku,
                        money(&Money { amount: l.line_total, currency: o.total.currency })
                    )
                })
                .collect();
            (
                &o.email,
                format!("We received your order {}", o.order_id),
                format!("Thank you for your order.\n{}\nTotal: {}\n", lines.join("\n"), money(&o.total)),
            )
        }
        Event::PaymentProcessed(p) => (
            &p.email,
            format!("Payment received for order {}", p.order_id),
            format!("We charged {} (payment {}).\n", money(&p.amount), p.payment_id),
        ),
        Event::PaymentFailed(p) => (
            &p.email,
            format!("Payment failed for order {}", p.order_id),
            format!("We could not charge {}: {}.\nYour order was not placed.\n", money(&p.amount), p.reason.message),
        ),
        Event::InventoryUpdateFailed(f) => {
            let skus: Vec<&str> = f.shortfalls.iter().map(|s| s.sku.as_str()).collect();
            let why = match skus.is_empty() {
                // The step gave up (inventory_unavailable): no sku was short.
                true => "we could not reserve your items".to_owned(),
                false => format!("{} out of stock", skus.join(", ")),
            };
            (
                &f.email,
                format!("Order {} cannot be fulfilled", f.order_id),
                format!("Sorry: {why} ({}). Your payment will be refunded.\n", f.reason.message),
            )
        }
        Event::PaymentRefunded(r) => (
            &r.email,
            format!("Refund issued for order {}", r.order_id),
            format!("We refunded {} (refund {}).\n", money(&r.amount), r.refund_id),
        ),
        Event::OrderShipped(s) => (
            &s.email,
            format!("Order {} has shipped", s.order_id),
            format!("Your parcel is on its way with {}: tracking number {}.\n", s.carrier, s.tracking_id),
        ),
        Event::ShippingFailed(f) => (
            &f.email,
            format!("Order {} could not be shipped", f.order_id),
            format!("Sorry: we could not ship your order ({}). Your payment will be refunded.\n", f.reason.message),
        ),
        Event::InventoryUpdated(_) => return None,
    };
    Some(Email { to: to.clone(), subject, text })
}

pub struct Notification<M, L> {
    pub mail: M,
    pub sent_log: L,
}

impl<M: MailProvider, L: SentLog> Service for Notification<M, L> {
    const FUNCTION: &'static str = "notification";
    const HANDLES: &'static [EventType] = HANDLES;
    const PUBLISHES: &'static [EventType] = PUBLISHES;

    async fn handle(&self, event: &Envelope, deadline: Deadline) -> Result<Outcome, HandlerError> {
        let email = render(&event.data)
            .ok_or_else(|| HandlerError::permanent("unexpected_event_type", event.kind().to_string()))?;
        let now = now_ms();
        let claim = SentEmail {
            event_id: event.id.to_string(),
            order_id: event.subject.clone(),
            event_type: event.kind().name().to_owned(),
            to: email.to.clone(),
            subject: email.subject.clone(),
            status: SendStatus::Sending,
            lease_until: deadline.or_fallback(now),
            provider_message_id: None,
            sent_at: None,
        };
        let sent_before = match self.sent_log.claim(&claim, now).await? {
            Claim::Ours => None,
            Claim::TakenOver => self.mail.sent(&claim.event_id).await.map_err(HandlerError::transient)?,
            Claim::Sent => return Ok(Outcome::Repeat(vec![])),
            Claim::Held { lease_until } => {
                return Err(HandlerError::Held {
                    what: format!("the email for event {} is being sent by another invocation", claim.event_id),
                    retry_after: Duration::from_millis(u64::try_from(lease_until - now).unwrap_or(0)),
                });
            }
        };
        let sent = match sent_before {
            // The claimer before us sent it and died before marking it: mark it.
            Some(id) => Ok(id),
            None => self.mail.send(&email, &claim.event_id).await,
        };
        let message_id = match sent {
            Ok(id) => id,
            Err(e) => {
                if let Err(release) = self.sent_log.release(&claim).await {
                    tracing::warn!(error = %release, "could not release the claim; a retry waits for its lease");
                }
                return Err(HandlerError::transient(e));
            }
        };
        // Sent: the mark is retried in place; if it still fails, a redelivery
        // sends again once the lease has run out (the provider gets the same key).
        let sent_at = Utc::now().to_rfc3339();
        if !retried(|| self.sent_log.mark_sent(&claim, &message_id, &sent_at)).await? {
            tracing::warn!("the claim was taken over before it was marked sent: the email may go twice");
        }
        Ok(Outcome::Applied(vec![]))
    }
}
