//! The event archive (partition key `order_id`, sort key `time_event_id`).

use shopsphere_runtime::dynamodb::{Change, Table};
use shopsphere_runtime::{TableError, Write};

use crate::domain::{Archive, ArchivedEvent};

#[derive(Debug, Clone)]
pub struct ArchiveTable(pub Table);

impl ArchiveTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ArchiveTable(Table::new(client, table, "order_id"))
    }
}

impl Archive for ArchiveTable {
    /// PutItem where no row has the event's key (`attribute_not_exists(time_event_id)`).
    async fn archive(&self, row: &ArchivedEvent) -> Result<Write<ArchivedEvent>, TableError> {
        self.0.put_when(row, &Change::condition("attribute_not_exists(time_event_id)")).await
    }
}
