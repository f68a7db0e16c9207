//! Shipping service (DESIGN.md §1): on InventoryUpdated creates the order's
//! shipment (deterministic tracking id) and announces OrderShipped.

pub mod domain;
pub mod dynamodb;

pub use domain::{PUBLISHES, Shipment, ShipmentEffect, Shipping};
