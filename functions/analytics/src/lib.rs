//! Analytics: every event is archived whole, append-only, for replay; its
//! archive row is the guard, so a redelivery is archived (and counted) once.
//! Hourly counters per type are derived from the archive (`shopsphere analytics`).

pub mod domain;
pub mod dynamodb;

pub use domain::{Analytics, ArchivedEvent, Counter, HANDLES, PUBLISHES, hourly, revenue_of};
