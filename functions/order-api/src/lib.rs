//! order-api: validates and prices an order from the catalog, writes the
//! PENDING row (with the Idempotency-Key's record, in one transaction, when
//! the request has one), answers 202 at once. The OrderCreated event follows
//! from the table's stream (order-outbox), never from here.

pub mod api;
pub mod domain;
pub mod dynamodb;
pub mod request;

pub use api::Api;
pub use domain::{Accepted, Catalog, Orders};
