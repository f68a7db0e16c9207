//! The catalog table (partition key `sku`): names and prices orders are made of.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::{Deserialize, Serialize};

use crate::dynamodb::RepoError;

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
pub struct CatalogTable {
    client: Client,
    table: String,
}

fn repo(e: impl std::fmt::Display) -> RepoError {
    RepoError(e.to_string())
}

impl CatalogTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        CatalogTable { client, table: table.into() }
    }

    /// The products of `skus` that exist.
    pub async fn products(&self, skus: &[String]) -> Result<HashMap<String, Product>, RepoError> {
        let mut found = HashMap::new();
        for chunk in skus.chunks(100) {
            let keys = chunk.iter().map(|sku| HashMap::from([("sku".to_owned(), AttributeValue::S(sku.clone()))]));
            let request = KeysAndAttributes::builder().set_keys(Some(keys.collect())).build().map_err(repo)?;
            let mut pending = Some(HashMap::from([(self.table.clone(), request)]));
            while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
                let out = self.client.batch_get_item().set_request_items(Some(items)).send().await.map_err(repo)?;
                for item in out.responses.unwrap_or_default().remove(&self.table).unwrap_or_default() {
                    let product: Product = serde_dynamo::from_item(item).map_err(repo)?;
                    found.insert(product.sku.clone(), product);
                }
                pending = out.unprocessed_keys;
            }
        }
        Ok(found)
    }

    /// Every product, by sku.
    pub async fn all(&self) -> Result<Vec<Product>, RepoError> {
        let pages = self.client.scan().table_name(&self.table).into_paginator().items().send();
        let items: Vec<_> = pages.collect::<Result<_, _>>().await.map_err(repo)?;
        let mut products: Vec<Product> = serde_dynamo::from_items(items).map_err(repo)?;
        products.sort_by(|a, b| a.sku.cmp(&b.sku));
        Ok(products)
    }

    pub async fn put(&self, product: &Product) -> Result<(), RepoError> {
        let item = serde_dynamo::to_item(product).map_err(repo)?;
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(repo)?;
        Ok(())
    }
}
