//! The orders table (partition key `order_id`, stream NEW_IMAGE for the outbox).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use shopsphere_runtime::dynamodb::{Table, TableError};

use crate::view::OrderView;

pub type RepoError = TableError;

#[derive(Debug, Clone)]
pub struct OrdersTable(pub Table);

impl OrdersTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        OrdersTable(Table::new(client, table, "order_id"))
    }

    pub async fn get(&self, order_id: &str) -> Result<Option<OrderView>, RepoError> {
        self.0.get(order_id).await
    }

    /// Write `view` (whose `version` is already the new one) if the stored row
    /// still has the version it was read at (or, for version 1, does not exist).
    pub fn versioned_put(&self, view: &OrderView) -> TransactWriteItem {
        if view.version <= 1 {
            self.0.put_new(view)
        } else {
            self.0.put_if(view, "version = :read", [(":read", AttributeValue::N((view.version - 1).to_string()))])
        }
    }
}
