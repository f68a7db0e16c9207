//! Inventory service: on PaymentProcessed takes the stock of every line and
//! stores the order's reservation in one transaction, or takes nothing and
//! announces the short skus; the reservation row makes it once per order.

pub mod domain;
pub mod dynamodb;

pub use domain::{Inventory, PUBLISHES, Reservation, ReservationStatus};
