//! Shipping rules: one shipment per order, with a deterministic tracking id.

use std::future::Future;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shopsphere_events::{Envelope, Event, EventType, InventoryUpdated, OrderShipped, Reason, ShippingFailed, SkuQty};
use shopsphere_messaging::{HandlerError, Outcome, Service, StoredEvents};
use shopsphere_runtime::{Deadline, TableError, Write};
use uuid::Uuid;

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &[EventType::InventoryUpdated];

/// The event types this function publishes: it may publish to exactly these topics.
pub const PUBLISHES: &[EventType] = &[EventType::OrderShipped, EventType::ShippingFailed];
pub const CARRIER: &str = "DemoPost";
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x3f6e_2b90_7c14_4d8a_b5e2_91c0_6a7d_4e13);

/// Whether the order left the warehouse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentStatus {
    #[default]
    Shipped,
    /// The step gave up: nothing shipped, the order is refunded.
    Failed,
}

/// The shipments table's row: one per order, ever, holding its OrderShipped
/// or ShippingFailed (re-published when the order's InventoryUpdated comes again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub order_id: String,
    #[serde(default)]
    pub status: ShipmentStatus,
    pub shipment_id: String,
    pub carrier: String,
    pub tracking_id: String,
    pub email: String,
    pub items: Vec<SkuQty>,
    pub created_at: String,
    pub events: StoredEvents,
}

impl Shipment {
    /// The shipment of the order `parent` (its InventoryUpdated) is about: the
    /// same ids however often it is made, and the OrderShipped announcing it.
    pub fn for_order(parent: &Envelope, order: &InventoryUpdated) -> Self {
        let id = Uuid::new_v5(&ID_NAMESPACE, order.order_id.as_bytes());
        let digits = id.as_u128() % 10_u128.pow(12);
        let mut shipment = Shipment {
            order_id: order.order_id.clone(),
            status: ShipmentStatus::Shipped,
            shipment_id: format!("shp_{}", id.simple()),
            carrier: CARRIER.into(),
            tracking_id: format!("DP{digits:012}"),
            email: order.email.clone(),
            items: order.items.clone(),
            created_at: Utc::now().to_rfc3339(),
            events: StoredEvents::default(),
        };
        shipment.events = StoredEvents(vec![shipped(parent, &shipment)]);
        shipment
    }

    /// The order's shipment that could not be made, with its ShippingFailed.
    pub fn failed(parent: &Envelope, order: &InventoryUpdated, why: &str) -> Self {
        let mut shipment = Shipment::for_order(parent, order);
        shipment.status = ShipmentStatus::Failed;
        let failed = ShippingFailed {
            order_id: order.order_id.clone(),
            email: order.email.clone(),
            items: order.items.clone(),
            reason: Reason {
                code: "shipping_unavailable".into(),
                message: format!("the order could not be shipped: {why}"),
            },
        };
        shipment.events = StoredEvents(vec![Envelope::derive(parent, failed, Utc::now())]);
        shipment
    }
}

/// The shipments table.
pub trait Shipments: Send + Sync {
    /// Store `shipment` unless its order has one, which comes back.
    fn create(&self, shipment: &Shipment) -> impl Future<Output = Result<Write<Shipment>, TableError>> + Send;
}

pub struct Shipping<S> {
    pub shipments: S,
}

fn shipped(parent: &Envelope, s: &Shipment) -> Envelope {
    let payload = OrderShipped {
        order_id: s.order_id.clone(),
        email: s.email.clone(),
        shipment_id: s.shipment_id.clone(),
        carrier: s.carrier.clone(),
        tracking_id: s.tracking_id.clone(),
        items: s.items.clone(),
    };
    Envelope::derive(parent, payload, Utc::now())
}

impl<S: Shipments> Shipping<S> {
    /// Store `shipment` unless its order has one (whose events are a repeat's).
    async fn create(&self, shipment: Shipment) -> Result<Outcome, HandlerError> {
        match self.shipments.create(&shipment).await? {
            Write::Done => Ok(Outcome::Applied(shipment.events.0)),
            Write::Refused(Some(existing)) => Ok(Outcome::Repeat(existing.events.0)),
            Write::Refused(None) => Err(HandlerError::transient("the shipment that refused ours is gone")),
        }
    }
}

impl<S: Shipments> Service for Shipping<S> {
    const FUNCTION: &'static str = "shipping";
    const HANDLES: &'static [EventType] = HANDLES;
    const PUBLISHES: &'static [EventType] = PUBLISHES;

    async fn handle(&self, event: &Envelope, _: Deadline) -> Result<Outcome, HandlerError> {
        let Event::InventoryUpdated(updated) = &event.data else {
            return Err(HandlerError::permanent("unexpected_event_type", event.kind().to_string()));
        };
        self.create(Shipment::for_order(event, updated)).await
    }

    /// A shipment that cannot be made (its retries are spent) is recorded
    /// failed with ShippingFailed, so the order is refunded and its stock
    /// returned.
    async fn give_up(&self, event: &Envelope, why: &str, _: Deadline) -> Result<Option<Outcome>, HandlerError> {
        let Event::InventoryUpdated(updated) = &event.data else { return Ok(None) };
        self.create(Shipment::failed(event, updated, why)).await.map(Some)
    }
}
