//! Fake of the shipments table (domain and handler tests only): one row per order.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use shopsphere_messaging::{Consumer, InMemoryPublisher};
use shopsphere_runtime::{TableError, Write};
use shopsphere_shipping::domain::Shipments;
use shopsphere_shipping::{Shipment, Shipping};

#[derive(Default)]
pub struct InMemoryShipments(pub Mutex<HashMap<String, Shipment>>);

impl Shipments for &InMemoryShipments {
    async fn create(&self, shipment: &Shipment) -> Result<Write<Shipment>, TableError> {
        let mut rows = self.0.lock().unwrap();
        if let Some(existing) = rows.get(&shipment.order_id) {
            return Ok(Write::Refused(Some(existing.clone())));
        }
        rows.insert(shipment.order_id.clone(), shipment.clone());
        Ok(Write::Done)
    }
}

pub fn consumer(shipments: &InMemoryShipments) -> Consumer<Shipping<&InMemoryShipments>, InMemoryPublisher> {
    Consumer::in_memory(Shipping { shipments })
}
