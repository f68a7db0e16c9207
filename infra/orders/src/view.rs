//! The order as the Order service knows it, and how events move it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shopsphere_events::{Envelope, Event, EventType, Money, OrderLine, Reason};

/// Where an order is in the saga.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Paid,
    InventoryUpdated,
    Shipped,
    PaymentFailed,
    InventoryFailed,
    ShippingFailed,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::InventoryUpdated,
        OrderStatus::Shipped,
        OrderStatus::PaymentFailed,
        OrderStatus::InventoryFailed,
        OrderStatus::ShippingFailed,
        OrderStatus::Refunded,
    ];

    /// The status an event of `event_type` moves an order to.
    pub fn after(event_type: EventType) -> OrderStatus {
        match event_type {
            EventType::OrderCreated => OrderStatus::Pending,
            EventType::PaymentProcessed => OrderStatus::Paid,
            EventType::PaymentFailed => OrderStatus::PaymentFailed,
            EventType::InventoryUpdated => OrderStatus::InventoryUpdated,
            EventType::InventoryUpdateFailed => OrderStatus::InventoryFailed,
            EventType::PaymentRefunded => OrderStatus::Refunded,
            EventType::OrderShipped => OrderStatus::Shipped,
            EventType::ShippingFailed => OrderStatus::ShippingFailed,
        }
    }

    /// How far along the saga: PENDING → PAID | PAYMENT_FAILED →
    /// INVENTORY_UPDATED | INVENTORY_FAILED → SHIPPED | SHIPPING_FAILED →
    /// REFUNDED (after either failure). A status only moves forward, so a
    /// late or redelivered event never moves it back.
    pub fn rank(self) -> u8 {
        match self {
            OrderStatus::Pending => 0,
            OrderStatus::Paid | OrderStatus::PaymentFailed => 1,
            OrderStatus::InventoryUpdated | OrderStatus::InventoryFailed => 2,
            OrderStatus::Shipped | OrderStatus::ShippingFailed => 3,
            OrderStatus::Refunded => 4,
        }
    }

    /// The statuses an event of `event_type` may move an order from: those
    /// behind the one it leads to (none for OrderCreated: every order starts PENDING).
    pub fn moves_from(event_type: EventType) -> Vec<OrderStatus> {
        let next = OrderStatus::after(event_type);
        OrderStatus::ALL.into_iter().filter(|s| s.rank() < next.rank()).collect()
    }

    /// No event moves it further.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Shipped | OrderStatus::Refunded | OrderStatus::PaymentFailed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Paid => "PAID",
            OrderStatus::InventoryUpdated => "INVENTORY_UPDATED",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::PaymentFailed => "PAYMENT_FAILED",
            OrderStatus::InventoryFailed => "INVENTORY_FAILED",
            OrderStatus::ShippingFailed => "SHIPPING_FAILED",
            OrderStatus::Refunded => "REFUNDED",
        }
    }
}

/// One event in an order's history, as the timeline keeps it under its event id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Happened {
    pub event_type: String,
    pub time: String,
}

/// One event in an order's history, as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub event_type: String,
    pub time: String,
    pub event_id: String,
}

impl Happened {
    pub fn of(event: &Envelope) -> Self {
        Happened { event_type: event.kind().name().to_owned(), time: event.time.to_rfc3339() }
    }
}

/// The orders table's row: written PENDING by order-api, moved by order-status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderView {
    pub order_id: String,
    pub status: OrderStatus,
    #[serde(default)]
    pub customer_id: String,
    pub email: String,
    #[serde(default)]
    pub lines: Vec<OrderLine>,
    pub total: Money,
    #[serde(default)]
    pub correlation_id: String,
    #[serde(default)]
    pub traceparent: Option<String>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
    /// The events applied to the order, by event id: the guard that makes
    /// order-status apply each event once.
    #[serde(default)]
    pub timeline: BTreeMap<String, Happened>,
    #[serde(default)]
    pub reasons: Vec<Reason>,
    /// The id of the event order-status rebuilt this row from, when the row
    /// was missing (lost, then replayed from the event archive). Such a row is
    /// not a new order: the outbox publishes no OrderCreated for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuilt_from: Option<String>,
}

fn amount_of(event: &Event) -> Option<Money> {
    match event {
        Event::OrderCreated(o) => Some(o.total),
        Event::PaymentProcessed(p) => Some(p.amount),
        Event::PaymentFailed(p) => Some(p.amount),
        Event::PaymentRefunded(p) => Some(p.amount),
        Event::InventoryUpdateFailed(p) => Some(p.amount),
        Event::InventoryUpdated(_) | Event::OrderShipped(_) | Event::ShippingFailed(_) => None,
    }
}

fn email_of(event: &Event) -> &str {
    match event {
        Event::OrderCreated(e) => &e.email,
        Event::PaymentProcessed(e) => &e.email,
        Event::PaymentFailed(e) => &e.email,
        Event::PaymentRefunded(e) => &e.email,
        Event::InventoryUpdated(e) => &e.email,
        Event::InventoryUpdateFailed(e) => &e.email,
        Event::OrderShipped(e) => &e.email,
        Event::ShippingFailed(e) => &e.email,
    }
}

impl OrderView {
    /// A view rebuilt from any event when its row is missing (a replay may
    /// not begin with OrderCreated); it remembers that event in `rebuilt_from`.
    pub fn from_event(event: &Envelope) -> OrderView {
        let zero = Money { amount: 0, currency: "EUR".parse().expect("EUR is a currency") };
        OrderView {
            order_id: event.subject.clone(),
            status: OrderStatus::Pending,
            customer_id: String::new(),
            email: email_of(&event.data).to_owned(),
            lines: vec![],
            total: amount_of(&event.data).unwrap_or(zero),
            correlation_id: event.correlationid.clone(),
            traceparent: None,
            created_at: event.time.to_rfc3339(),
            updated_at: event.time.to_rfc3339(),
            timeline: BTreeMap::new(),
            reasons: vec![],
            rebuilt_from: Some(event.id.to_string()),
        }
    }

    /// Apply an event: record it once in the timeline, move the status
    /// forward only, keep failure reasons. Returns whether anything changed.
    pub fn apply(&mut self, event: &Envelope) -> bool {
        let event_id = event.id.to_string();
        if self.timeline.contains_key(&event_id) {
            return false;
        }
        self.timeline.insert(event_id, Happened::of(event));
        let next = OrderStatus::after(event.kind());
        if next.rank() > self.status.rank() {
            self.status = next;
        }
        match &event.data {
            Event::OrderCreated(o) => {
                self.customer_id = o.customer_id.clone();
                self.lines = o.lines.clone();
                self.total = o.total;
            }
            Event::PaymentFailed(f) => self.reasons.push(f.reason.clone()),
            Event::InventoryUpdateFailed(f) => self.reasons.push(f.reason.clone()),
            Event::PaymentRefunded(r) => self.reasons.push(r.reason.clone()),
            Event::ShippingFailed(f) => self.reasons.push(f.reason.clone()),
            _ => {}
        }
        self.updated_at = event.time.to_rfc3339();
        true
    }

    /// The timeline in time order (event id breaks ties).
    pub fn timeline_entries(&self) -> Vec<TimelineEntry> {
        let mut entries: Vec<TimelineEntry> = self
            .timeline
            .iter()
            .map(|(id, h)| TimelineEntry {
                event_type: h.event_type.clone(),
                time: h.time.clone(),
                event_id: id.clone(),
            })
            .collect();
        entries.sort_by(|a, b| a.time.cmp(&b.time).then(a.event_id.cmp(&b.event_id)));
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shopsphere_events::samples;

    #[test]
    fn the_happy_path_ends_shipped_with_four_timeline_entries() {
        let saga = samples::whole_saga("o-1");
        let (order, paid, updated, shipped) = (&saga[0], &saga[1], &saga[3], &saga[6]);
        let mut view = OrderView::from_event(order);
        for e in [order, paid, updated, shipped] {
            assert!(view.apply(e));
        }
        assert_eq!(view.status, OrderStatus::Shipped);
        assert_eq!(view.timeline.len(), 4);
        assert_eq!(view.lines.len(), 2);
    }

    #[test]
    fn out_of_order_and_repeated_events_never_move_the_status_back() {
        let saga = samples::whole_saga("o-2");
        let (order, paid, updated, shipped) = (&saga[0], &saga[1], &saga[3], &saga[6]);
        let mut view = OrderView::from_event(shipped);
        for e in [shipped, paid, updated, order] {
            view.apply(e);
        }
        assert_eq!(view.status, OrderStatus::Shipped, "a late PaymentProcessed does not undo SHIPPED");
        assert!(!view.apply(paid), "a repeat changes nothing");
        assert_eq!(view.timeline.len(), 4);
        let mut types: Vec<String> = view.timeline_entries().into_iter().map(|t| t.event_type).collect();
        types.sort();
        assert_eq!(types, ["InventoryUpdated", "OrderCreated", "OrderShipped", "PaymentProcessed"]);
        assert_eq!(view.customer_id, "cus-ada", "OrderCreated fills the details even when late");
        let shipped_id = shipped.id.to_string();
        assert_eq!(view.rebuilt_from.as_deref(), Some(shipped_id.as_str()), "marked: not a new order for the outbox");
    }

    #[test]
    fn compensation_ends_refunded_with_its_reasons() {
        let saga = samples::whole_saga("o-3");
        let mut view = OrderView::from_event(&saga[0]);
        for i in [0, 1, 4, 5] {
            view.apply(&saga[i]);
        }
        assert_eq!(view.status, OrderStatus::Refunded);
        assert_eq!(
            view.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>(),
            ["insufficient_stock", "inventory_unavailable"]
        );
    }

    #[test]
    fn a_declined_payment_is_final() {
        let saga = samples::whole_saga("o-4");
        let mut view = OrderView::from_event(&saga[0]);
        view.apply(&saga[0]);
        view.apply(&saga[2]);
        assert_eq!(view.status, OrderStatus::PaymentFailed);
        assert!(view.status.is_final());
        assert_eq!(view.reasons[0].code, "card_declined");
    }
}
