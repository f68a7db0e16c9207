//! Fake of the event archive (domain and handler tests only): one row per key.
#![allow(dead_code)]

use std::sync::Mutex;

use shopsphere_analytics::domain::Archive;
use shopsphere_analytics::{Analytics, ArchivedEvent};
use shopsphere_messaging::{Consumer, InMemoryPublisher};
use shopsphere_runtime::{TableError, Write};

#[derive(Default)]
pub struct InMemoryArchive(pub Mutex<Vec<ArchivedEvent>>);

impl Archive for &InMemoryArchive {
    async fn archive(&self, row: &ArchivedEvent) -> Result<Write<ArchivedEvent>, TableError> {
        let mut rows = self.0.lock().unwrap();
        if let Some(existing) = rows.iter().find(|r| r.order_id == row.order_id && r.time_event_id == row.time_event_id)
        {
            return Ok(Write::Refused(Some(existing.clone())));
        }
        rows.push(row.clone());
        Ok(Write::Done)
    }
}

pub fn consumer(archive: &InMemoryArchive) -> Consumer<Analytics<&InMemoryArchive>, InMemoryPublisher> {
    Consumer::in_memory(Analytics { archive })
}
