//! The inventory table (partition key `sku`, number attribute `stock`) and the
//! catalog table (partition key `sku`), which the seed tool fills.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, TransactWriteItem, Update};
use serde::Deserialize;
use shopsphere_messaging::TransactWrites;

use crate::domain::{RepoError, StockEffect, StockLevels};

#[derive(Debug, Clone)]
pub struct InventoryTable {
    client: Client,
    table: String,
}

impl InventoryTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        InventoryTable { client, table: table.into() }
    }

    /// Set a sku's stock (seeding).
    pub async fn put_stock(&self, sku: &str, stock: u32) -> Result<(), RepoError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("sku", AttributeValue::S(sku.to_owned()))
            .item("stock", AttributeValue::N(stock.to_string()))
            .send()
            .await
            .map_err(|e| RepoError(e.to_string()))?;
        Ok(())
    }
}

impl StockLevels for InventoryTable {
    async fn levels(&self, skus: &[String]) -> Result<HashMap<String, u32>, RepoError> {
        let mut levels = HashMap::new();
        // BatchGetItem takes at most 100 keys; an order has at most 100 lines.
        for chunk in skus.chunks(100) {
            let keys = chunk.iter().map(|sku| HashMap::from([("sku".to_owned(), AttributeValue::S(sku.clone()))]));
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys.collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| RepoError(e.to_string()))?;
            let mut pending = Some(HashMap::from([(self.table.clone(), request)]));
            while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .map_err(|e| RepoError(e.to_string()))?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    let row: StockRow = serde_dynamo::from_item(item).map_err(|e| RepoError(e.to_string()))?;
                    levels.insert(row.sku, row.stock);
                }
                pending = out.unprocessed_keys;
            }
        }
        Ok(levels)
    }
}

#[derive(Debug, Deserialize)]
struct StockRow {
    sku: String,
    stock: u32,
}

impl TransactWrites<StockEffect> for InventoryTable {
    fn writes(&self, effect: &StockEffect) -> Vec<TransactWriteItem> {
        let StockEffect::Deduct(items) = effect else { return vec![] };
        items
            .iter()
            .map(|item| {
                let update = Update::builder()
                    .table_name(&self.table)
                    .key("sku", AttributeValue::S(item.sku.clone()))
                    .update_expression("SET stock = stock - :qty")
                    .condition_expression("stock >= :qty")
                    .expression_attribute_values(":qty", AttributeValue::N(item.qty.to_string()))
                    .build()
                    .expect("table, key and expression are set");
                TransactWriteItem::builder().update(update).build()
            })
            .collect()
    }
}
