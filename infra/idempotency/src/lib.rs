//! Exactly-once effects over at-least-once delivery (DESIGN.md §5).
//!
//! A guard ([`Idempotency::run_once`]) keyed by `<function>#<event id>` (or the
//! API's Idempotency-Key) stores an INPROGRESS record with a conditional put,
//! runs the work, and replaces the record with COMPLETED + the saved result.
//! Repeats get the saved result; concurrent repeats are told to retry. The
//! DynamoDB adapter can commit the COMPLETED record in the same transaction as
//! the business write ([`Idempotency::run_once_transactional`]).

pub mod dynamodb;
pub mod guard;
pub mod memory;
pub mod record;

pub use dynamodb::{CommitError, DynamoDbStore};
pub use guard::{
    Begin, Clock, Deadline, Idempotency, IdempotencyConfig, IdempotencyError, SystemClock, Ticket, payload_hash,
};
pub use memory::InMemoryStore;
pub use record::{Acquire, IdempotencyRecord, IdempotencyStore, Status, StoreError};
