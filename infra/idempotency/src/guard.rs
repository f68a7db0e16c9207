//! The guard of a request that has no business key (the HTTP API's
//! Idempotency-Key): take the key, do the work, complete it with the result a
//! repeat gets.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use shopsphere_events::ErrorClass;
use shopsphere_runtime::Deadline;

use crate::record::{Acquire, IdempotencyRecord, IdempotencyStore, Status, StoreError};

/// Milliseconds since the Unix epoch; injectable so expiry is testable.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        shopsphere_runtime::now_ms()
    }
}

#[derive(Debug, Clone)]
pub struct IdempotencyConfig {
    /// How long a COMPLETED record answers repeats.
    pub record_ttl: Duration,
    /// In-progress window when the invocation has no deadline.
    pub in_progress_fallback: Duration,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        // 30 days: longer than a message can live in the system, queue (4 days)
        // then DLQ (14 days) then a redrive back to its queue (4 days), so a
        // repeat of anything still in flight meets its record.
        IdempotencyConfig { record_ttl: Duration::from_secs(30 * 24 * 3600), in_progress_fallback: Deadline::FALLBACK }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// Another invocation holds the key right now; retry later.
    #[error("idempotency key {key} is already in progress")]
    AlreadyInProgress { key: String },
    /// The key was first used with another payload: a client or wiring bug.
    #[error("idempotency key {key} was already used with a different payload")]
    PayloadMismatch { key: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("saved result of idempotency key {key} cannot be read: {reason}")]
    CorruptResult { key: String, reason: String },
}

impl IdempotencyError {
    /// Transient errors may succeed on a retry; permanent ones never will.
    pub fn class(&self) -> ErrorClass {
        match self {
            IdempotencyError::AlreadyInProgress { .. } | IdempotencyError::Store(StoreError::Unavailable(_)) => {
                ErrorClass::Transient
            }
            IdempotencyError::Store(StoreError::OwnershipLost { .. }) => ErrorClass::Transient,
            IdempotencyError::PayloadMismatch { .. }
            | IdempotencyError::CorruptResult { .. }
            | IdempotencyError::Store(StoreError::Corrupt { .. }) => ErrorClass::Permanent,
        }
    }
}

/// Proof that this invocation holds a key: complete it or release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub key: String,
    pub validation: String,
    /// Our INPROGRESS record's in-progress expiry; the ownership token.
    pub owner_token: i64,
    pub expiration: i64,
}

impl Ticket {
    /// The COMPLETED record that replaces ours, carrying `output`.
    pub fn completed_record<T: Serialize>(&self, output: &T) -> Result<IdempotencyRecord, serde_json::Error> {
        Ok(IdempotencyRecord {
            key: self.key.clone(),
            status: Status::Completed,
            expiration: self.expiration,
            in_progress_expiration: None,
            data: Some(serde_json::to_string(output)?),
            validation: self.validation.clone(),
        })
    }
}

/// What `begin` found.
#[derive(Debug)]
pub enum Begin<T> {
    /// The key is ours: do the work, then `complete` (or `release` on failure).
    Run(Ticket),
    /// The work was done before; here is its saved result.
    Done(T),
}

/// Hex SHA-256 of the payload's JSON: a repeat must carry the same payload.
pub fn payload_hash<P: Serialize + ?Sized>(payload: &P) -> Result<String, serde_json::Error> {
    Ok(hex::encode(Sha256::digest(serde_json::to_vec(payload)?)))
}

/// The guard over a store.
pub struct Idempotency<S> {
    store: S,
    config: IdempotencyConfig,
    clock: Arc<dyn Clock>,
}

impl<S: IdempotencyStore> Idempotency<S> {
    pub fn new(store: S) -> Self {
        Self::with_config(store, IdempotencyConfig::default(), Arc::new(SystemClock))
    }

    pub fn with_config(store: S, config: IdempotencyConfig, clock: Arc<dyn Clock>) -> Self {
        Idempotency { store, config, clock }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Take the key, or learn that the work was done (or is being done).
    pub async fn begin<P, T>(&self, key: &str, payload: &P, deadline: Deadline) -> Result<Begin<T>, IdempotencyError>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let validation = payload_hash(payload)
            .map_err(|e| IdempotencyError::CorruptResult { key: key.to_owned(), reason: e.to_string() })?;
        let now_ms = self.clock.now_ms();
        let fallback = i64::try_from(self.config.in_progress_fallback.as_millis()).unwrap_or(i64::MAX);
        let owner_token = deadline.0.filter(|d| *d > now_ms).unwrap_or(now_ms.saturating_add(fallback));
        let ttl = i64::try_from(self.config.record_ttl.as_secs()).unwrap_or(i64::MAX);
        let record = IdempotencyRecord {
            key: key.to_owned(),
            status: Status::InProgress,
            expiration: now_ms.div_euclid(1000).saturating_add(ttl),
            in_progress_expiration: Some(owner_token),
            data: None,
            validation: validation.clone(),
        };
        match self.store.acquire(&record, now_ms).await? {
            Acquire::Acquired => {
                Ok(Begin::Run(Ticket { key: key.to_owned(), validation, owner_token, expiration: record.expiration }))
            }
            Acquire::Existing(existing) if existing.validation != validation => {
                Err(IdempotencyError::PayloadMismatch { key: key.to_owned() })
            }
            Acquire::Existing(existing) => match (existing.status, existing.data) {
                (Status::Completed, Some(data)) => serde_json::from_str(&data)
                    .map(Begin::Done)
                    .map_err(|e| IdempotencyError::CorruptResult { key: key.to_owned(), reason: e.to_string() }),
                (Status::Completed, None) => Err(IdempotencyError::CorruptResult {
                    key: key.to_owned(),
                    reason: "COMPLETED record without data".into(),
                }),
                (Status::InProgress, _) => Err(IdempotencyError::AlreadyInProgress { key: key.to_owned() }),
            },
        }
    }

    /// Save `output` as the key's result.
    pub async fn complete<T: Serialize>(&self, ticket: &Ticket, output: &T) -> Result<(), IdempotencyError> {
        let completed = ticket
            .completed_record(output)
            .map_err(|e| IdempotencyError::CorruptResult { key: ticket.key.clone(), reason: e.to_string() })?;
        self.store.complete(&completed, ticket.owner_token).await?;
        Ok(())
    }

    /// Give the key back after a failure. A failed release only delays the
    /// retry until the in-progress expiry, so it is logged, not returned.
    pub async fn release(&self, ticket: &Ticket) {
        if let Err(e) = self.store.release(&ticket.key, ticket.owner_token).await {
            tracing::warn!(key = %ticket.key, error = %e, "idempotency release failed; the key frees at its in-progress expiry");
        }
    }
}
