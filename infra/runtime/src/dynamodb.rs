//! A DynamoDB table of serde-mapped rows with one string partition key: the
//! reads and conditional writes every service's adapter needs, written once.
//!
//! Every conditional write asks for the item as it was when its condition
//! failed (`ReturnValuesOnConditionCheckFailure=ALL_OLD`, also inside
//! TransactWriteItems cancellation reasons): that is how a guard row tells a
//! repeat from a first delivery in the same request, without a read.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::BoxError;

/// One DynamoDB item, as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

/// A table request that failed, with its cause. `transient` says whether the
/// same request may succeed later (throttling, a service fault, a timeout, a
/// conflicting transaction); validation, missing tables and denied access
/// will not.
#[derive(Debug, thiserror::Error)]
#[error("table {table}: {}", crate::error_chain(&**.source))]
pub struct TableError {
    pub table: String,
    pub transient: bool,
    #[source]
    pub source: BoxError,
}

/// Error codes DynamoDB answers when the same request may succeed later.
const TRANSIENT_CODES: [&str; 9] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
    "LimitExceededException",
    "ReplicatedWriteConflictException",
];

impl TableError {
    /// A failure of a dependency that is expected to pass: for fakes and adapters.
    pub fn unavailable(table: impl Into<String>, reason: impl Into<BoxError>) -> Self {
        TableError { table: table.into(), transient: true, source: reason.into() }
    }

    /// A row the table holds that the code cannot read: retrying will not help.
    pub fn corrupt(table: impl Into<String>, reason: impl Into<BoxError>) -> Self {
        TableError { table: table.into(), transient: false, source: reason.into() }
    }

    fn of_sdk<E, R>(table: &str, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let transient = match &error {
            SdkError::ServiceError(e) => e.err().code().is_some_and(|code| TRANSIENT_CODES.contains(&code)),
            // No answer, a cut connection, a timeout, an unreadable answer: try again.
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
            _ => false,
        };
        TableError { table: table.to_owned(), transient, source: Box::new(error) }
    }
}

/// A conditional write's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write<T> {
    /// The condition held: the write happened.
    Done,
    /// The condition failed and nothing was written; the row as it was
    /// (`None`: there was no row with that key).
    Refused(Option<T>),
}

/// A conditional update's outcome, with the row as it is after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated<T> {
    /// The condition held; the row as the update left it.
    Done(T),
    /// The condition failed and nothing was written; the row as it was
    /// (`None`: there was no row with that key).
    Refused(Option<T>),
}

/// One action of a transaction that was cancelled.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    /// This action's own condition failed (others in the transaction may have held).
    pub condition_failed: bool,
    /// The item as it was, when its condition failed and there was one.
    pub item: Option<Item>,
}

/// A transaction's outcome: all its writes, or none and why, per action.
#[derive(Debug, Clone, PartialEq)]
pub enum Transaction {
    Committed,
    /// At least one condition failed; one entry per action, in order.
    Cancelled(Vec<Cancellation>),
}

/// What an UpdateItem does: expressions and their placeholders.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub update: String,
    pub condition: Option<String>,
    pub names: Vec<(String, String)>,
    pub values: Vec<(String, AttributeValue)>,
}

impl Change {
    pub fn new(update: impl Into<String>) -> Self {
        Change { update: update.into(), ..Change::default() }
    }

    /// Only a condition (with its placeholders): what a conditional Put takes.
    pub fn condition(condition: impl Into<String>) -> Self {
        Change { condition: Some(condition.into()), ..Change::default() }
    }

    pub fn when(mut self, condition: impl Into<String>) -> Self {
        self.condition = Some(condition.into());
        self
    }

    pub fn name(mut self, placeholder: impl Into<String>, attribute: impl Into<String>) -> Self {
        self.names.push((placeholder.into(), attribute.into()));
        self
    }

    pub fn value(mut self, placeholder: impl Into<String>, value: AttributeValue) -> Self {
        self.values.push((placeholder.into(), value));
        self
    }

    fn names_map(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.iter().cloned().collect())
    }

    fn values_map(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.iter().cloned().collect())
    }
}

/// A number attribute value.
pub fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// A string attribute value.
pub fn string(s: impl Into<String>) -> AttributeValue {
    AttributeValue::S(s.into())
}

/// A string set of one fresh id, for a counter of calls: `ADD ids :call`
/// counts each call once, where `ADD count :one` counts twice a write the SDK
/// retried after its answer was lost (the retry adds the same id again).
pub fn call_id() -> AttributeValue {
    AttributeValue::Ss(vec![uuid::Uuid::new_v4().to_string()])
}

/// A serde value as an attribute (a map for structs, a list for sequences).
pub fn attribute<T: Serialize + ?Sized>(value: &T) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).expect("plain serde values map to attributes")
}

/// Attempts of a write whose store is briefly unavailable, made in place
/// (see [`retried`]).
const WRITE_ATTEMPTS: u32 = 4;

/// `write`, tried again in place while it fails transiently (up to four
/// times, 50 ms then doubling): for the write that records an outside effect
/// already made, which a redelivery would have to reconcile.
pub async fn retried<T, F, Fut>(mut write: F) -> Result<T, TableError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, TableError>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(e) if e.transient && attempt < WRITE_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, "write failed; trying it again");
                tokio::time::sleep(Duration::from_millis(50 << (attempt - 1))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Attempts of a transaction that conflicts with another one on the same item.
const TRANSACTION_ATTEMPTS: u32 = 3;

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

    pub fn key_attribute(&self) -> &'static str {
        self.key
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn corrupt(&self, e: impl std::fmt::Display) -> TableError {
        TableError::corrupt(&self.name, e.to_string())
    }

    fn row<T: DeserializeOwned>(&self, item: Item) -> Result<T, TableError> {
        serde_dynamo::from_item(item).map_err(|e| self.corrupt(e))
    }

    fn item<T: Serialize>(&self, row: &T) -> Item {
        serde_dynamo::to_item(row).expect("rows are plain serde structs")
    }

    /// Open the connection to DynamoDB at init (DescribeTable), so the first
    /// record pays no handshake. A failure is only logged: the first real
    /// request will say what is wrong.
    pub async fn warm_up(&self) {
        if let Err(e) = self.client.describe_table().table_name(&self.name).send().await {
            tracing::warn!(table = %self.name, error = %TableError::of_sdk(&self.name, e), "warm-up request failed");
        }
    }

    pub fn key_of(&self, key: &str) -> Item {
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
            .map_err(|e| TableError::of_sdk(&self.name, e))?;
        out.item.map(|item| self.row(item)).transpose()
    }

    /// The rows at `keys` that exist (BatchGetItem in hundreds, unprocessed
    /// keys retried). A key asked for twice is read once: DynamoDB refuses a
    /// request that lists a key twice.
    pub async fn batch_get<T: DeserializeOwned>(&self, keys: &[String]) -> Result<Vec<T>, TableError> {
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let mut rows = Vec::new();
        for chunk in unique.chunks(100) {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(chunk.iter().map(|k| self.key_of(k)).collect()))
                .consistent_read(true)
                .build()
                .map_err(|e| self.corrupt(e))?;
            let mut pending = Some(HashMap::from([(self.name.clone(), request)]));
            while let Some(items) = pending.take().filter(|p| !p.is_empty()) {
                let out = self
                    .client
                    .batch_get_item()
                    .set_request_items(Some(items))
                    .send()
                    .await
                    .map_err(|e| TableError::of_sdk(&self.name, e))?;
                for item in out.responses.unwrap_or_default().remove(&self.name).unwrap_or_default() {
                    rows.push(self.row(item)?);
                }
                pending = out.unprocessed_keys;
            }
        }
        Ok(rows)
    }

    /// Every row (a scan: for small tables and tools only).
    pub async fn scan<T: DeserializeOwned>(&self) -> Result<Vec<T>, TableError> {
        let pages = self.client.scan().table_name(&self.name).into_paginator().items().send();
        let items: Vec<_> = pages.collect::<Result<_, _>>().await.map_err(|e| TableError::of_sdk(&self.name, e))?;
        serde_dynamo::from_items(items).map_err(|e| self.corrupt(e))
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
            let page = page.map_err(|e| TableError::of_sdk(&self.name, e))?;
            count += usize::try_from(page.count).unwrap_or_default();
        }
        Ok(count)
    }

    /// Write a row unconditionally (seeding, tools).
    pub async fn put<T: Serialize>(&self, row: &T) -> Result<(), TableError> {
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(self.item(row)))
            .send()
            .await
            .map_err(|e| TableError::of_sdk(&self.name, e))?;
        Ok(())
    }

    /// Delete the row at `key`, if there is one.
    pub async fn delete(&self, key: &str) -> Result<(), TableError> {
        self.client
            .delete_item()
            .table_name(&self.name)
            .set_key(Some(self.key_of(key)))
            .send()
            .await
            .map_err(|e| TableError::of_sdk(&self.name, e))?;
        Ok(())
    }

    fn not_exists(&self) -> String {
        format!("attribute_not_exists({})", self.key)
    }

    /// Write `row` unless a row with its key exists; that row comes back instead.
    pub async fn put_new<T: Serialize + DeserializeOwned>(&self, row: &T) -> Result<Write<T>, TableError> {
        self.put_when(row, &Change::condition(self.not_exists())).await
    }

    /// Write `row` if `when`'s condition holds; else the row as it was comes back.
    pub async fn put_when<T: Serialize + DeserializeOwned>(
        &self,
        row: &T,
        when: &Change,
    ) -> Result<Write<T>, TableError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(self.item(row)))
            .set_condition_expression(when.condition.clone())
            .set_expression_attribute_names(when.names_map())
            .set_expression_attribute_values(when.values_map())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Write::Done),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let old = match e.into_err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(f) => f.item,
                    _ => None,
                };
                Ok(Write::Refused(old.map(|item| self.row(item)).transpose()?))
            }
            Err(e) => Err(TableError::of_sdk(&self.name, e)),
        }
    }

    /// Update the row at `key` as `change` says, if its condition holds; else
    /// the row as it was comes back.
    pub async fn update<T: DeserializeOwned>(&self, key: &str, change: &Change) -> Result<Write<T>, TableError> {
        Ok(match self.update_item(key, change, ReturnValue::None).await? {
            Ok(_) => Write::Done,
            Err(old) => Write::Refused(old.map(|item| self.row(item)).transpose()?),
        })
    }

    /// [`Table::update`] that also returns the row as the update left it.
    pub async fn update_new<T: DeserializeOwned>(&self, key: &str, change: &Change) -> Result<Updated<T>, TableError> {
        Ok(match self.update_item(key, change, ReturnValue::AllNew).await? {
            Ok(new) => Updated::Done(self.row(new.unwrap_or_default())?),
            Err(old) => Updated::Refused(old.map(|item| self.row(item)).transpose()?),
        })
    }

    /// Update the row at `key`, made if missing (`change` has no condition),
    /// and return it as it is now: counters and the like.
    pub async fn upsert<T: DeserializeOwned>(&self, key: &str, change: &Change) -> Result<T, TableError> {
        match self.update_item(key, change, ReturnValue::AllNew).await? {
            Ok(new) => self.row(new.unwrap_or_default()),
            Err(_) => Err(self.corrupt("an upsert's condition failed: upserts take none")),
        }
    }

    /// The UpdateItem: `Ok(new item)` when written, `Err(old item)` when its condition failed.
    async fn update_item(
        &self,
        key: &str,
        change: &Change,
        return_values: ReturnValue,
    ) -> Result<Result<Option<Item>, Option<Item>>, TableError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.name)
            .set_key(Some(self.key_of(key)))
            .update_expression(&change.update)
            .set_condition_expression(change.condition.clone())
            .set_expression_attribute_names(change.names_map())
            .set_expression_attribute_values(change.values_map())
            .return_values(return_values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Ok(out.attributes)),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => match e.into_err() {
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(f) => {
                    Ok(Err(f.item))
                }
                _ => Ok(Err(None)),
            },
            Err(e) => Err(TableError::of_sdk(&self.name, e)),
        }
    }

    /// Decode a row that came back from a cancelled transaction.
    pub fn decode<T: DeserializeOwned>(&self, item: Item) -> Result<T, TableError> {
        self.row(item)
    }

    /// The transactional Put of `row` unless its key exists (the row as it was
    /// comes back in the cancellation reasons).
    pub fn tx_put_new<T: Serialize>(&self, row: &T) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.name)
            .set_item(Some(self.item(row)))
            .condition_expression(self.not_exists())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }

    /// The transactional Update of the row at `key`.
    pub fn tx_update(&self, key: &str, change: &Change) -> TransactWriteItem {
        let update = Update::builder()
            .table_name(&self.name)
            .set_key(Some(self.key_of(key)))
            .update_expression(&change.update)
            .set_condition_expression(change.condition.clone())
            .set_expression_attribute_names(change.names_map())
            .set_expression_attribute_values(change.values_map())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    /// Commit `actions` (on this or other tables of the same client) in one
    /// TransactWriteItems: all or none. A conflict with a concurrent
    /// transaction on the same item is retried here a few times.
    pub async fn transact(&self, actions: Vec<TransactWriteItem>) -> Result<Transaction, TableError> {
        let mut attempt = 1;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(actions.clone())).send().await;
            let cancelled = match result {
                Ok(_) => return Ok(Transaction::Committed),
                Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                    let TransactWriteItemsError::TransactionCanceledException(cancelled) = e.into_err() else {
                        unreachable!("checked above")
                    };
                    cancelled
                }
                Err(e) => return Err(TableError::of_sdk(&self.name, e)),
            };
            let reasons = cancelled.cancellation_reasons();
            if reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed")) {
                let per_action = reasons
                    .iter()
                    .map(|r| Cancellation {
                        condition_failed: r.code() == Some("ConditionalCheckFailed"),
                        item: r.item().cloned(),
                    })
                    .collect();
                return Ok(Transaction::Cancelled(per_action));
            }
            // TransactionConflict, throttling, a validation error: no condition decided it.
            let transient = reasons.iter().any(|r| {
                matches!(r.code(), Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"))
            });
            if transient && attempt < TRANSACTION_ATTEMPTS {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                continue;
            }
            return Err(TableError { table: self.name.clone(), transient, source: Box::new(cancelled) });
        }
    }
}
