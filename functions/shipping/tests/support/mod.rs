//! Fake of the shipments table (domain and handler tests only).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use shopsphere_messaging::{ApplyEffect, Consumer, InMemoryPublisher, InMemorySink};
use shopsphere_shipping::domain::{RepoError, Shipments};
use shopsphere_shipping::{Shipment, ShipmentEffect, Shipping};

#[derive(Default)]
pub struct InMemoryShipments(pub Mutex<HashMap<String, Shipment>>);

impl Shipments for &InMemoryShipments {
    async fn get(&self, order_id: &str) -> Result<Option<Shipment>, RepoError> {
        Ok(self.0.lock().unwrap().get(order_id).cloned())
    }
}

impl ApplyEffect<ShipmentEffect> for &InMemoryShipments {
    fn apply(&self, effect: &ShipmentEffect) -> Result<(), String> {
        let ShipmentEffect::Create(s) = effect else { return Ok(()) };
        let mut rows = self.0.lock().unwrap();
        if rows.contains_key(&s.order_id) {
            return Err("shipment exists".into());
        }
        rows.insert(s.order_id.clone(), s.clone());
        Ok(())
    }
}

pub fn consumer(
    shipments: &InMemoryShipments,
) -> Consumer<
    Shipping<&InMemoryShipments>,
    InMemorySink<&InMemoryShipments>,
    std::sync::Arc<shopsphere_idempotency::InMemoryStore>,
    InMemoryPublisher,
> {
    Consumer::in_memory(Shipping { shipments }, shipments)
}
