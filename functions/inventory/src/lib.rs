//! Inventory service (DESIGN.md §1): on PaymentProcessed deducts the stock of
//! every line in one transaction (with the idempotency completion), or deducts
//! nothing and announces the short skus.

pub mod domain;
pub mod dynamodb;

pub use domain::{Inventory, PUBLISHES, StockEffect};
