//! Sample events for tests, fixtures and demos: one order and the events of its saga.

use chrono::{DateTime, Utc};

use crate::catalog::*;
use crate::envelope::{Envelope, RootCause};

pub fn eur(amount: i64) -> Money {
    Money { amount, currency: "EUR".parse().expect("EUR is a currency") }
}

/// `OrderCreated` for `order_id`: 2 × SKU-MUG at 12.50 and 1 × SKU-TEE at 20.00.
pub fn order_created(order_id: &str) -> Envelope {
    let lines = vec![
        OrderLine { sku: "SKU-MUG".into(), name: "Mug".into(), qty: 2, unit_price: 1250, line_total: 2500 },
        OrderLine { sku: "SKU-TEE".into(), name: "T-shirt".into(), qty: 1, unit_price: 2000, line_total: 2000 },
    ];
    Envelope::root(
        OrderCreated {
            order_id: order_id.into(),
            customer_id: "cus-ada".into(),
            email: "ada@example.com".into(),
            lines,
            total: eur(4500),
        },
        RootCause { correlation_id: format!("req-{order_id}"), causation_id: order_id.into(), traceparent: None },
        sample_time(),
    )
}

fn items(order: &OrderCreated) -> Vec<SkuQty> {
    order.lines.iter().map(|l| SkuQty { sku: l.sku.clone(), qty: l.qty }).collect()
}

fn order_of(parent: &Envelope) -> &OrderCreated {
    match &parent.data {
        Event::OrderCreated(o) => o,
        other => panic!("samples derive from OrderCreated, got {}", other.event_type()),
    }
}

pub fn payment_processed(order: &Envelope) -> Envelope {
    let o = order_of(order);
    let payload = PaymentProcessed {
        order_id: o.order_id.clone(),
        payment_id: format!("pay-{}", o.order_id),
        email: o.email.clone(),
        amount: o.total,
        items: items(o),
    };
    Envelope::derive(order, payload, sample_time())
}

pub fn payment_failed(order: &Envelope) -> Envelope {
    let o = order_of(order);
    let reason = Reason { code: "card_declined".into(), message: "the card was declined".into() };
    let payload = PaymentFailed { order_id: o.order_id.clone(), email: o.email.clone(), amount: o.total, reason };
    Envelope::derive(order, payload, sample_time())
}

pub fn inventory_updated(paid: &Envelope, order: &Envelope) -> Envelope {
    let o = order_of(order);
    let payload = InventoryUpdated { order_id: o.order_id.clone(), email: o.email.clone(), items: items(o) };
    Envelope::derive(paid, payload, sample_time())
}

pub fn inventory_update_failed(paid: &Envelope, order: &Envelope) -> Envelope {
    let o = order_of(order);
    let payload = InventoryUpdateFailed {
        order_id: o.order_id.clone(),
        email: o.email.clone(),
        payment_id: format!("pay-{}", o.order_id),
        amount: o.total,
        shortfalls: vec![StockShortfall { sku: "SKU-MUG".into(), requested: 2, available: 0 }],
        reason: Reason { code: "insufficient_stock".into(), message: "SKU-MUG: 2 requested, 0 available".into() },
    };
    Envelope::derive(paid, payload, sample_time())
}

pub fn payment_refunded(failed: &Envelope, order: &Envelope) -> Envelope {
    let o = order_of(order);
    let payload = PaymentRefunded {
        order_id: o.order_id.clone(),
        payment_id: format!("pay-{}", o.order_id),
        refund_id: format!("re-{}", o.order_id),
        email: o.email.clone(),
        amount: o.total,
        reason: Reason { code: "inventory_unavailable".into(), message: "stock could not be reserved".into() },
    };
    Envelope::derive(failed, payload, sample_time())
}

pub fn order_shipped(updated: &Envelope, order: &Envelope) -> Envelope {
    let o = order_of(order);
    let payload = OrderShipped {
        order_id: o.order_id.clone(),
        email: o.email.clone(),
        shipment_id: format!("shp-{}", o.order_id),
        carrier: "DemoPost".into(),
        tracking_id: format!("DP{}", o.order_id.len()),
        items: items(o),
    };
    Envelope::derive(updated, payload, sample_time())
}

pub fn shipping_failed(updated: &Envelope, order: &Envelope) -> Envelope {
    let o = order_of(order);
    let payload = ShippingFailed {
        order_id: o.order_id.clone(),
        email: o.email.clone(),
        items: items(o),
        reason: Reason { code: "shipping_unavailable".into(), message: "the carrier did not take the parcel".into() },
    };
    Envelope::derive(updated, payload, sample_time())
}

/// Every event of the happy path and of the failure paths, in saga order
/// (a ShippingFailed last: it is not part of one saga with OrderShipped).
pub fn whole_saga(order_id: &str) -> Vec<Envelope> {
    let order = order_created(order_id);
    let paid = payment_processed(&order);
    let updated = inventory_updated(&paid, &order);
    let failed = inventory_update_failed(&paid, &order);
    vec![
        order.clone(),
        paid.clone(),
        payment_failed(&order),
        updated.clone(),
        failed.clone(),
        payment_refunded(&failed, &order),
        order_shipped(&updated, &order),
        shipping_failed(&updated, &order),
    ]
}

fn sample_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z").expect("valid time").with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_whole_saga_covers_every_type_once() {
        let saga = super::whole_saga("o-1");
        let mut types: Vec<_> = saga.iter().map(|e| e.kind()).collect();
        types.sort();
        let mut all = crate::EventType::ALL.to_vec();
        all.sort();
        assert_eq!(types, all);
    }
}
