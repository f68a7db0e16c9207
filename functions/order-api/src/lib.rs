//! order-api (DESIGN.md §1, §5): validates and prices an order from the
//! catalog, writes the PENDING row and the Idempotency-Key record in one
//! transaction, answers 202 at once. The OrderCreated event follows from the
//! table's stream (order-outbox), never from here.

pub mod api;
pub mod request;

pub use api::{Accepted, Api, Catalog, NewOrder, Orders};
