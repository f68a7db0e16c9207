//! The idempotency record and the store port.

use std::future::Future;

use shopsphere_runtime::BoxError;

/// Record status, spelled as Powertools for AWS Lambda spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Completed,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "INPROGRESS",
            Status::Completed => "COMPLETED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "INPROGRESS" => Some(Status::InProgress),
            "COMPLETED" => Some(Status::Completed),
            _ => None,
        }
    }
}

/// One idempotency record (Powertools-compatible item, see docs/adr/0002).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// `<function>#<event id>` for consumers, `<api>#<Idempotency-Key>` for the API.
    pub key: String,
    pub status: Status,
    /// Epoch seconds after which the record is void (DynamoDB TTL deletes it later).
    pub expiration: i64,
    /// Epoch milliseconds after which an INPROGRESS record may be taken over
    /// (its holder is past its Lambda deadline). Also the holder's ownership token.
    pub in_progress_expiration: Option<i64>,
    /// The saved result (JSON), set once COMPLETED.
    pub data: Option<String>,
    /// Hash of the payload the key was first used with.
    pub validation: String,
}

impl IdempotencyRecord {
    /// Whether the record still holds its key at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        if self.expiration < now_ms.div_euclid(1000) {
            return false;
        }
        match (self.status, self.in_progress_expiration) {
            (Status::InProgress, Some(until)) => until >= now_ms,
            _ => true,
        }
    }
}

/// Outcome of trying to take a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// Our INPROGRESS record is stored: run the work.
    Acquired,
    /// A live record already holds the key.
    Existing(IdempotencyRecord),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Our INPROGRESS record was taken over (we ran past the in-progress expiry).
    #[error("idempotency record {key} is no longer held by this invocation")]
    OwnershipLost { key: String },
    #[error("idempotency record {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("idempotency store request failed: {0}")]
    Unavailable(#[source] BoxError),
}

/// Storage of idempotency records. Every operation is atomic per key.
pub trait IdempotencyStore: Send + Sync {
    /// Store `record` (INPROGRESS) unless a live record holds its key at `now_ms`;
    /// otherwise return the live one.
    fn acquire(
        &self,
        record: &IdempotencyRecord,
        now_ms: i64,
    ) -> impl Future<Output = Result<Acquire, StoreError>> + Send;

    /// Replace our INPROGRESS record (identified by its in-progress expiry,
    /// `owner_token`) with `completed`.
    fn complete(
        &self,
        completed: &IdempotencyRecord,
        owner_token: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Delete our INPROGRESS record so a retry can run the work; a record that
    /// is no longer ours is left alone.
    fn release(&self, key: &str, owner_token: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A shared store is a store (tests share one between the guard and a fake sink).
impl<S: IdempotencyStore> IdempotencyStore for std::sync::Arc<S> {
    fn acquire(
        &self,
        record: &IdempotencyRecord,
        now_ms: i64,
    ) -> impl Future<Output = Result<Acquire, StoreError>> + Send {
        (**self).acquire(record, now_ms)
    }

    fn complete(
        &self,
        completed: &IdempotencyRecord,
        owner_token: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).complete(completed, owner_token)
    }

    fn release(&self, key: &str, owner_token: i64) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key, owner_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: Status, expiration: i64, ipe: Option<i64>) -> IdempotencyRecord {
        IdempotencyRecord {
            key: "k".into(),
            status,
            expiration,
            in_progress_expiration: ipe,
            data: None,
            validation: "v".into(),
        }
    }

    #[test]
    fn liveness_follows_ttl_and_in_progress_expiry() {
        let now_ms = 1_000_000;
        assert!(record(Status::Completed, 1000, None).is_live(now_ms));
        assert!(!record(Status::Completed, 999, None).is_live(now_ms));
        assert!(record(Status::InProgress, 2000, Some(now_ms)).is_live(now_ms));
        assert!(!record(Status::InProgress, 2000, Some(now_ms - 1)).is_live(now_ms));
        assert!(record(Status::InProgress, 2000, None).is_live(now_ms));
    }

    #[test]
    fn status_spelling_is_powertools() {
        for s in [Status::InProgress, Status::Completed] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::InProgress.as_str(), "INPROGRESS");
        assert_eq!(Status::parse("EXPIRED"), None);
    }
}
