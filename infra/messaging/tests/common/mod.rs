#![allow(dead_code)] // each test binary uses a part of these helpers

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use shopsphere_events::{Envelope, samples};

/// An InventoryUpdated event of order `order` (correlation id `req-<order>`).
pub fn event(order: &str) -> Envelope {
    let created = samples::order_created(order);
    samples::inventory_updated(&samples::payment_processed(&created), &created)
}

pub fn message(id: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.receipt_handle = Some(format!("rh-{id}"));
    m.body = Some(body.into());
    m.event_source_arn = Some("arn:aws:sqs:us-east-1:000000000000:shipping".into());
    m.attributes.insert("ApproximateReceiveCount".into(), "2".into());
    m
}

pub fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = messages;
    e
}
