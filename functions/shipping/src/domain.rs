//! Shipping rules: one shipment per order, with a deterministic tracking id.

use std::future::Future;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shopsphere_events::{Envelope, Event, EventType, InventoryUpdated, OrderShipped, SkuQty};
use shopsphere_messaging::{Decision, HandlerError, Service};
use uuid::Uuid;

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &[EventType::InventoryUpdated];

/// The event types this function publishes: it may publish to exactly these topics.
pub const PUBLISHES: &[EventType] = &[EventType::OrderShipped];
pub const CARRIER: &str = "DemoPost";
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x3f6e_2b90_7c14_4d8a_b5e2_91c0_6a7d_4e13);

/// The shipments table's row for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    pub order_id: String,
    pub shipment_id: String,
    pub carrier: String,
    pub tracking_id: String,
    pub email: String,
    pub items: Vec<SkuQty>,
    pub created_at: String,
}

impl Shipment {
    /// The shipment of `order_id`: the same ids however often it is created.
    pub fn for_order(order: &InventoryUpdated) -> Self {
        let id = Uuid::new_v5(&ID_NAMESPACE, order.order_id.as_bytes());
        let digits = id.as_u128() % 10_u128.pow(12);
        Shipment {
            order_id: order.order_id.clone(),
            shipment_id: format!("shp_{}", id.simple()),
            carrier: CARRIER.into(),
            tracking_id: format!("DP{digits:012}"),
            email: order.email.clone(),
            items: order.items.clone(),
            created_at: Utc::now().to_rfc3339(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("shipments table: {0}")]
pub struct RepoError(pub String);

pub trait Shipments: Send + Sync {
    fn get(&self, order_id: &str) -> impl Future<Output = Result<Option<Shipment>, RepoError>> + Send;
}

/// What to write: a new shipment, or nothing (it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipmentEffect {
    Create(Shipment),
    None,
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

impl<S: Shipments> Service for Shipping<S> {
    const FUNCTION: &'static str = "shipping";
    const HANDLES: &'static [EventType] = HANDLES;
    type Effect = ShipmentEffect;

    async fn decide(&self, event: &Envelope) -> Result<Decision<ShipmentEffect>, HandlerError> {
        let Event::InventoryUpdated(updated) = &event.data else {
            return Err(HandlerError::permanent("unexpected_event_type", event.kind().to_string()));
        };
        match self.shipments.get(&updated.order_id).await.map_err(HandlerError::transient)? {
            Some(existing) => Ok(Decision::new(ShipmentEffect::None, vec![shipped(event, &existing)])),
            None => {
                let shipment = Shipment::for_order(updated);
                let event = shipped(event, &shipment);
                Ok(Decision::new(ShipmentEffect::Create(shipment), vec![event]))
            }
        }
    }
}
