//! The notifications table (partition key `event_id`): the sent log.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use shopsphere_messaging::TransactWrites;

use crate::domain::SentEmail;

#[derive(Debug, Clone)]
pub struct NotificationsTable {
    pub table: String,
}

impl TransactWrites<SentEmail> for NotificationsTable {
    fn writes(&self, sent: &SentEmail) -> Vec<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(sent).expect("a sent email maps to an item")))
            .condition_expression("attribute_not_exists(event_id)")
            .build()
            .expect("table and item are set");
        vec![TransactWriteItem::builder().put(put).build()]
    }
}
