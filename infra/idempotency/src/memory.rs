//! In-memory store with the DynamoDB store's semantics, for unit tests.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::record::{Acquire, IdempotencyRecord, IdempotencyStore, Status, StoreError};

#[derive(Debug, Default)]
pub struct InMemoryStore {
    records: Mutex<HashMap<String, IdempotencyRecord>>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The stored record, for assertions.
    pub fn get(&self, key: &str) -> Option<IdempotencyRecord> {
        self.lock().get(key).cloned()
    }

    /// Store a record as is (e.g. a stale INPROGRESS one left by a crash).
    pub fn insert(&self, record: IdempotencyRecord) {
        self.lock().insert(record.key.clone(), record);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, IdempotencyRecord>> {
        // A poisoned lock only means a test panicked mid-operation; the map is still whole.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn held_by(record: Option<&IdempotencyRecord>, owner_token: i64) -> bool {
    record.is_some_and(|r| r.status == Status::InProgress && r.in_progress_expiration == Some(owner_token))
}

impl IdempotencyStore for InMemoryStore {
    async fn acquire(&self, record: &IdempotencyRecord, now_ms: i64) -> Result<Acquire, StoreError> {
        let mut records = self.lock();
        match records.get(&record.key) {
            Some(existing) if existing.is_live(now_ms) => Ok(Acquire::Existing(existing.clone())),
            _ => {
                records.insert(record.key.clone(), record.clone());
                Ok(Acquire::Acquired)
            }
        }
    }

    async fn complete(&self, completed: &IdempotencyRecord, owner_token: i64) -> Result<(), StoreError> {
        let mut records = self.lock();
        if !held_by(records.get(&completed.key), owner_token) {
            return Err(StoreError::OwnershipLost { key: completed.key.clone() });
        }
        records.insert(completed.key.clone(), completed.clone());
        Ok(())
    }

    async fn release(&self, key: &str, owner_token: i64) -> Result<(), StoreError> {
        let mut records = self.lock();
        if held_by(records.get(key), owner_token) {
            records.remove(key);
        }
        Ok(())
    }
}
