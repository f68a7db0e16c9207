//! The notifications table (partition key `event_id`): the sent log.

use aws_sdk_dynamodb::types::TransactWriteItem;
use shopsphere_messaging::TransactWrites;
use shopsphere_runtime::dynamodb::Table;

use crate::domain::SentEmail;

#[derive(Debug, Clone)]
pub struct NotificationsTable(pub Table);

impl NotificationsTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        NotificationsTable(Table::new(client, table, "event_id"))
    }
}

impl TransactWrites<SentEmail> for NotificationsTable {
    fn writes(&self, sent: &SentEmail) -> Vec<TransactWriteItem> {
        vec![self.0.put_new(sent)]
    }
}
