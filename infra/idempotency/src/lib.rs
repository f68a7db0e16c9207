//! The Powertools-compatible idempotency record, for what has no business key
//! to guard it: the HTTP API's Idempotency-Key (docs/adr/0002). Consumers do
//! not use it: their guard is a business row (docs/adr/0005).
//!
//! [`Idempotency::begin`] takes a key with a conditional put of an INPROGRESS
//! record (or finds the saved result of an earlier request); the DynamoDB
//! adapter commits the COMPLETED record in the same transaction as the
//! business write ([`DynamoDbStore::commit_with`]).

pub mod dynamodb;
pub mod guard;
pub mod memory;
pub mod record;

pub use dynamodb::{CommitError, DynamoDbStore};
pub use guard::{Begin, Clock, Idempotency, IdempotencyConfig, IdempotencyError, SystemClock, Ticket, payload_hash};
pub use memory::InMemoryStore;
pub use record::{Acquire, IdempotencyRecord, IdempotencyStore, Status, StoreError};
