//! order-status: the Order service's consumer of every event. It records each
//! in its order's timeline under the event id and moves the status forward
//! with one conditional UpdateItem; the timeline is the guard that applies an
//! event once.

pub mod domain;
pub mod dynamodb;
pub mod emf;

pub use domain::{HANDLES, OrderRows, OrderStatusService, PUBLISHES};
pub use emf::EmfMilestones;
