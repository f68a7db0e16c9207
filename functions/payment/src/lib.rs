//! Payment service: charges on OrderCreated, refunds on InventoryUpdateFailed,
//! never twice for one order: the order's payment row is the guard, written
//! as an intent before the gateway is called.

pub mod domain;
pub mod dynamodb;
pub mod gateway;

pub use domain::{
    Charge, HANDLES, PUBLISHES, Payment, PaymentGateway, PaymentRecord, PaymentStatus, PaymentTokens, Payments,
};
