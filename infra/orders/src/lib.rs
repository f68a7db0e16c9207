//! The Order service's data, shared by its three functions (order-api,
//! order-outbox, order-status): the order row, which is also the status view,
//! and the explicit state machine that moves it.

pub mod catalog;
pub mod dynamodb;
pub mod view;

pub use catalog::{CatalogTable, Product};
pub use dynamodb::OrdersTable;
pub use view::{Happened, OrderStatus, OrderView, TimelineEntry};
