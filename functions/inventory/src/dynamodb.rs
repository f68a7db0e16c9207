//! The inventory table (partition key `sku`, number attribute `stock`).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use shopsphere_messaging::TransactWrites;
use shopsphere_runtime::dynamodb::Table;

use crate::domain::{RepoError, StockEffect, StockLevels};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockRow {
    pub sku: String,
    pub stock: u32,
}

#[derive(Debug, Clone)]
pub struct InventoryTable(pub Table);

impl InventoryTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        InventoryTable(Table::new(client, table, "sku"))
    }

    /// Set a sku's stock (seeding).
    pub async fn put_stock(&self, sku: &str, stock: u32) -> Result<(), RepoError> {
        self.0.put(&StockRow { sku: sku.to_owned(), stock }).await.map_err(|e| RepoError(e.to_string()))
    }
}

impl StockLevels for InventoryTable {
    async fn levels(&self, skus: &[String]) -> Result<HashMap<String, u32>, RepoError> {
        let rows: Vec<StockRow> = self.0.batch_get(skus).await.map_err(|e| RepoError(e.to_string()))?;
        Ok(rows.into_iter().map(|r| (r.sku, r.stock)).collect())
    }
}

impl TransactWrites<StockEffect> for InventoryTable {
    fn writes(&self, effect: &StockEffect) -> Vec<TransactWriteItem> {
        let StockEffect::Deduct(items) = effect else { return vec![] };
        items
            .iter()
            .map(|item| {
                let update = Update::builder()
                    .table_name(self.0.name())
                    .set_key(Some(self.0.key_of(&item.sku)))
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
