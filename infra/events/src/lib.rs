//! The ShopSphere event contract (docs/adr/0001-event-envelope.md): the CloudEvents envelope, the
//! catalog of event types and payloads, their JSON Schemas, and the decoder of
//! SQS bodies (raw envelope or SNS notification).

pub mod catalog;
pub mod decode;
pub mod envelope;
pub mod redact;
pub mod samples;
pub mod schemas;
pub mod trace;

pub use catalog::{
    Currency, Event, EventType, InventoryUpdateFailed, InventoryUpdated, MAX_ORDER_LINES, Money, OrderCreated,
    OrderLine, OrderShipped, Payload, PaymentFailed, PaymentProcessed, PaymentRefunded, Reason, ShippingFailed, SkuQty,
    StockShortfall,
};
pub use decode::{DecodeError, decode_envelope, decode_sqs_body};
pub use envelope::{Envelope, RootCause, derived_event_id};
pub use redact::{redact_text, redact_value};
pub use trace::TraceParent;

/// Whether retrying can help: the one distinction every failure path makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// May succeed later (throttling, a service down, a race): retry.
    Transient,
    /// Will fail the same way every time (bad payload, wiring error): dead-letter it.
    Permanent,
}
