//! The orders table (partition key `order_id`, stream NEW_IMAGE for the outbox).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use crate::view::OrderView;

#[derive(Debug, thiserror::Error)]
#[error("orders table: {0}")]
pub struct RepoError(pub String);

#[derive(Debug, Clone)]
pub struct OrdersTable {
    client: Client,
    table: String,
}

impl OrdersTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        OrdersTable { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn get(&self, order_id: &str) -> Result<Option<OrderView>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("order_id", AttributeValue::S(order_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError(e.to_string()))?;
        out.item.map(|item| serde_dynamo::from_item(item).map_err(|e| RepoError(e.to_string()))).transpose()
    }

    /// Write `view` (whose `version` is already the new one) if the stored row
    /// still has the version it was read at (or, for version 1, does not exist).
    pub fn versioned_put(&self, view: &OrderView) -> TransactWriteItem {
        let item = serde_dynamo::to_item(view).expect("an order maps to an item");
        let put = Put::builder().table_name(&self.table).set_item(Some(item));
        let put = if view.version <= 1 {
            put.condition_expression("attribute_not_exists(order_id)")
        } else {
            put.condition_expression("version = :read")
                .expression_attribute_values(":read", AttributeValue::N((view.version - 1).to_string()))
        };
        TransactWriteItem::builder().put(put.build().expect("table and item are set")).build()
    }
}
