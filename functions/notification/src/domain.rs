//! Which email each event sends, and the record of having sent it.

use std::future::Future;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shopsphere_events::{Envelope, Event, EventType, Money};
use shopsphere_messaging::{Decision, HandlerError, Service};

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &[
    EventType::OrderCreated,
    EventType::PaymentProcessed,
    EventType::PaymentFailed,
    EventType::InventoryUpdateFailed,
    EventType::PaymentRefunded,
    EventType::OrderShipped,
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

/// The notifications table's row: one per event, ever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentEmail {
    /// The event id the email was sent for.
    pub event_id: String,
    pub order_id: String,
    pub event_type: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub provider_message_id: String,
    pub sent_at: String,
}

#[derive(Debug, thiserror::Error)]
#[error("mail provider failed: {0}")]
pub struct MailError(pub String);

/// Where emails go.
pub trait MailProvider: Send + Sync {
    /// Send; returns the provider's message id.
    fn send(&self, email: &Email, event_id: &str) -> impl Future<Output = Result<String, MailError>> + Send;
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
            (
                &f.email,
                format!("Order {} cannot be fulfilled", f.order_id),
                format!(
                    "Sorry: {} out of stock ({}). Your payment will be refunded.\n",
                    skus.join(", "),
                    f.reason.message
                ),
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
        Event::InventoryUpdated(_) => return None,
    };
    Some(Email { to: to.clone(), subject, text })
}

pub struct Notification<M> {
    pub mail: M,
}

impl<M: MailProvider> Service for Notification<M> {
    const FUNCTION: &'static str = "notification";
    const HANDLES: &'static [EventType] = HANDLES;
    /// The sent email to record.
    type Effect = SentEmail;

    async fn decide(&self, event: &Envelope) -> Result<Decision<SentEmail>, HandlerError> {
        let email = render(&event.data)
            .ok_or_else(|| HandlerError::permanent("unexpected_event_type", event.kind().to_string()))?;
        let event_id = event.id.to_string();
        // Sending is the one effect outside DynamoDB: a crash after it and
        // before the commit sends again on the retry (at least once).
        let provider_message_id = self.mail.send(&email, &event_id).await.map_err(HandlerError::transient)?;
        let sent = SentEmail {
            event_id,
            order_id: event.subject.clone(),
            event_type: event.kind().name().to_owned(),
            to: email.to,
            subject: email.subject,
            text: email.text,
            provider_message_id,
            sent_at: Utc::now().to_rfc3339(),
        };
        Ok(Decision::new(sent, vec![]))
    }
}
