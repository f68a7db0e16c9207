//! The orders table (partition key `order_id`, stream NEW_IMAGE for the outbox).

use aws_sdk_dynamodb::Client;
use shopsphere_runtime::dynamodb::Table;
use shopsphere_runtime::{TableError, Write};

use crate::view::OrderView;

#[derive(Debug, Clone)]
pub struct OrdersTable(pub Table);

impl OrdersTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        OrdersTable(Table::new(client, table, "order_id"))
    }

    pub async fn get(&self, order_id: &str) -> Result<Option<OrderView>, TableError> {
        self.0.get(order_id).await
    }

    /// Write a new order's row, unless one with its id exists.
    pub async fn create(&self, view: &OrderView) -> Result<Write<OrderView>, TableError> {
        self.0.put_new(view).await
    }
}
