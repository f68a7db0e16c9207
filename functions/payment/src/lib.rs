//! Payment service (DESIGN.md §1): charges on OrderCreated, refunds on
//! InventoryUpdateFailed, never twice for one order.

pub mod domain;
pub mod dynamodb;
pub mod gateway;

pub use domain::{PUBLISHES, Payment, PaymentEffect, PaymentRecord, PaymentStatus};
