//! Shipping service: on InventoryUpdated creates the order's shipment
//! (deterministic tracking id) and announces OrderShipped, once per order.

pub mod domain;
pub mod dynamodb;

pub use domain::{PUBLISHES, Shipment, ShipmentStatus, Shipping};
