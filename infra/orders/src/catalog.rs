//! The catalog table (partition key `sku`): names and prices orders are made of.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use shopsphere_runtime::TableError;
use shopsphere_runtime::dynamodb::Table;

/// A product as sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: String,
    pub name: String,
    /// Minor units of `currency`.
    pub price: i64,
    pub currency: String,
}

#[derive(Debug, Clone)]
pub struct CatalogTable(pub Table);

impl CatalogTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        CatalogTable(Table::new(client, table, "sku"))
    }

    /// The products of `skus` that exist.
    pub async fn products(&self, skus: &[String]) -> Result<HashMap<String, Product>, TableError> {
        let products: Vec<Product> = self.0.batch_get(skus).await?;
        Ok(products.into_iter().map(|p| (p.sku.clone(), p)).collect())
    }

    /// Every product, by sku.
    pub async fn all(&self) -> Result<Vec<Product>, TableError> {
        let mut products: Vec<Product> = self.0.scan().await?;
        products.sort_by(|a, b| a.sku.cmp(&b.sku));
        Ok(products)
    }

    pub async fn put(&self, product: &Product) -> Result<(), TableError> {
        self.0.put(product).await
    }
}
