//! A DynamoDB table of serde-mapped rows with one string partition key: the
//! reads and conditional writes every service's adapter needs, written once.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
#[error("table {table}: {reason}")]
pub struct TableError {
    pub table: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Table {
    client: Client,
    name: String,
    key: &'static str,
}

impl Table {
    /// `key`: the partition key attribute (a string).
    pub fn new(client: Client, name: impl Into<String>, key: &'static str) -> Self {
        Table { client, name: name.into(), key }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn error(&self, e: impl std::fmt::Display) -> TableError {
        TableError { table: self.name.clone(), reason: e.to_string() }
    }

    pub fn key_of(&self, key: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([(self.key.to_owned(), AttributeValue::S(key.to_owned()))])
    }

    /// The row at `key`, read consistently.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, TableError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .set_key(Some(self.key_of(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        out.item.map(|item| serde_dynamo::from_item(item).map_err(|e| self.error(e))).transpose()
    }

    /// The rows at `keys` that exist (BatchGetItem in hundreds, unprocessed keys retried).
    pub async fn batch_get<T: DeserializeOwned>(&self, keys: &[String]) -> Result<Vec<T>, TableError> {
        let mut rows = Vec::new();
        for chunk in keys.chunks(100) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|k| self.key_of(k)).collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| self.error(e))?;
            let mut pending = Some(HashMap::from([(self.name.clone(), request)]));
            while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .map_err(|e| self.error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
                for item in out.responses.unwrap_or_default().remove(&self.name).unwrap_or_default() {
                    rows.push(serde_dynamo::from_item(item).map_err(|e| self.error(e))?);
                }
                pending = out.unprocessed_keys;
            }
        }
        Ok(rows)
    }

    /// Every row (a scan: for small tables and tools only).
    pub async fn scan<T: DeserializeOwned>(&self) -> Result<Vec<T>, TableError> {
        let pages = self.client.scan().table_name(&self.name).into_paginator().items().send();
        let items: Vec<_> = pages
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| self.error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        serde_dynamo::from_items(items).map_err(|e| self.error(e))
    }

    /// How many rows the table holds (a counting scan: no items come back).
    pub async fn count(&self) -> Result<usize, TableError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.name)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .into_paginator()
            .send();
        let mut count = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            count += usize::try_from(page.count).unwrap_or_default();
        }
        Ok(count)
    }

    /// Write a row unconditionally (seeding, tools).
    pub async fn put<T: Serialize>(&self, row: &T) -> Result<(), TableError> {
        let item = serde_dynamo::to_item(row).map_err(|e| self.error(e))?;
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| self.error(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    /// A transactional Put of `row` with `condition` (and its values).
    pub fn put_if<T: Serialize>(
        &self,
        row: &T,
        condition: &str,
        values: impl IntoIterator<Item = (&'static str, AttributeValue)>,
    ) -> TransactWriteItem {
        let item = serde_dynamo::to_item(row).expect("rows are plain serde structs");
        let values: HashMap<String, AttributeValue> = values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let put = Put::builder()
            .table_name(&self.name)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }

    /// A transactional Put of a row whose key must not exist yet.
    pub fn put_new<T: Serialize>(&self, row: &T) -> TransactWriteItem {
        self.put_if(row, &format!("attribute_not_exists({})", self.key), [])
    }
}
