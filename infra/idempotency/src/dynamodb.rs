//! DynamoDB adapter: conditional writes on the Powertools-compatible item.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem};
use serde::Serialize;

use crate::guard::Ticket;
use crate::record::{Acquire, IdempotencyRecord, IdempotencyStore, Status, StoreError};

pub const ATTR_ID: &str = "id";
pub const ATTR_STATUS: &str = "status";
pub const ATTR_EXPIRATION: &str = "expiration";
pub const ATTR_IN_PROGRESS_EXPIRATION: &str = "in_progress_expiration";
pub const ATTR_DATA: &str = "data";
pub const ATTR_VALIDATION: &str = "validation";

/// Lets exactly one caller in: no record, an expired one, or an INPROGRESS one
/// whose holder is past its deadline (the condition Powertools uses).
pub const ACQUIRE_CONDITION: &str = "attribute_not_exists(#id) OR #expiration < :now \
     OR (#status = :inprogress AND attribute_exists(#in_progress_expiration) AND #in_progress_expiration < :now_ms)";

/// Still ours: INPROGRESS with our in-progress expiry as ownership token.
pub const OWNER_CONDITION: &str = "#status = :inprogress AND #in_progress_expiration = :owner";

impl From<&IdempotencyRecord> for HashMap<String, AttributeValue> {
    fn from(r: &IdempotencyRecord) -> Self {
        let mut item = HashMap::from([
            (ATTR_ID.to_owned(), AttributeValue::S(r.key.clone())),
            (ATTR_STATUS.to_owned(), AttributeValue::S(r.status.as_str().to_owned())),
            (ATTR_EXPIRATION.to_owned(), AttributeValue::N(r.expiration.to_string())),
            (ATTR_VALIDATION.to_owned(), AttributeValue::S(r.validation.clone())),
        ]);
        if let Some(ipe) = r.in_progress_expiration {
            item.insert(ATTR_IN_PROGRESS_EXPIRATION.to_owned(), AttributeValue::N(ipe.to_string()));
        }
        if let Some(data) = &r.data {
            item.insert(ATTR_DATA.to_owned(), AttributeValue::S(data.clone()));
        }
        item
    }
}

impl TryFrom<&HashMap<String, AttributeValue>> for IdempotencyRecord {
    type Error = StoreError;

    fn try_from(item: &HashMap<String, AttributeValue>) -> Result<Self, StoreError> {
        let key = item.get(ATTR_ID).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let corrupt = |reason: String| StoreError::Corrupt { key: key.clone(), reason };
        let string = |name: &str| {
            item.get(name).map(|v| v.as_s().cloned().map_err(|_| corrupt(format!("{name} is not a string"))))
        };
        let number = |name: &str| {
            item.get(name).map(|v| {
                v.as_n()
                    .map_err(|_| corrupt(format!("{name} is not a number")))
                    .and_then(|n| n.parse::<i64>().map_err(|e| corrupt(format!("{name}: {e}"))))
            })
        };
        if key.is_empty() {
            return Err(corrupt("no id".into()));
        }
        let status = string(ATTR_STATUS).transpose()?.ok_or_else(|| corrupt("no status".into()))?;
        Ok(IdempotencyRecord {
            status: Status::parse(&status).ok_or_else(|| corrupt(format!("unknown status {status:?}")))?,
            expiration: number(ATTR_EXPIRATION).transpose()?.ok_or_else(|| corrupt("no expiration".into()))?,
            in_progress_expiration: number(ATTR_IN_PROGRESS_EXPIRATION).transpose()?,
            data: string(ATTR_DATA).transpose()?,
            validation: string(ATTR_VALIDATION).transpose()?.unwrap_or_default(),
            key: key.clone(),
        })
    }
}

fn names() -> HashMap<String, String> {
    [ATTR_ID, ATTR_STATUS, ATTR_EXPIRATION, ATTR_IN_PROGRESS_EXPIRATION]
        .into_iter()
        .map(|a| (format!("#{a}"), a.to_owned()))
        .collect()
}

fn owner_names() -> HashMap<String, String> {
    [ATTR_STATUS, ATTR_IN_PROGRESS_EXPIRATION].into_iter().map(|a| (format!("#{a}"), a.to_owned())).collect()
}

fn owner_values(owner_token: i64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (":inprogress".to_owned(), AttributeValue::S(Status::InProgress.as_str().to_owned())),
        (":owner".to_owned(), AttributeValue::N(owner_token.to_string())),
    ])
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

/// Idempotency records in a DynamoDB table (partition key `id`, TTL on `expiration`).
#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDbStore { client, table: table.into() }
    }

    /// The Put that replaces our INPROGRESS record by `completed`, conditioned
    /// on still holding it: commit it in the same TransactWriteItems as the
    /// business write so both happen or neither.
    pub fn completion_item(&self, completed: &IdempotencyRecord, owner_token: i64) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(completed.into()))
            .condition_expression(OWNER_CONDITION)
            .set_expression_attribute_names(Some(owner_names()))
            .set_expression_attribute_values(Some(owner_values(owner_token)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, item and condition are set");
        TransactWriteItem::builder().put(put).build()
    }

    async fn get(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ATTR_ID, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(IdempotencyRecord::try_from).transpose()
    }
}

impl IdempotencyStore for DynamoDbStore {
    async fn acquire(&self, record: &IdempotencyRecord, now_ms: i64) -> Result<Acquire, StoreError> {
        let values = HashMap::from([
            (":now".to_owned(), AttributeValue::N(now_ms.div_euclid(1000).to_string())),
            (":now_ms".to_owned(), AttributeValue::N(now_ms.to_string())),
            (":inprogress".to_owned(), AttributeValue::S(Status::InProgress.as_str().to_owned())),
        ]);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record.into()))
            .condition_expression(ACQUIRE_CONDITION)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Acquire::Acquired),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let old = match failed.item() {
                        Some(item) => Some(IdempotencyRecord::try_from(item)?),
                        // Stores that do not return the old item: read it.
                        None => self.get(&record.key).await?,
                    };
                    match old {
                        Some(existing) => Ok(Acquire::Existing(existing)),
                        // Gone between our put and our read: a passing race, retry.
                        None => Err(StoreError::Unavailable(
                            format!("record {} vanished during acquire", record.key).into(),
                        )),
                    }
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn complete(&self, completed: &IdempotencyRecord, owner_token: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(completed.into()))
            .condition_expression(OWNER_CONDITION)
            .set_expression_attribute_names(Some(owner_names()))
            .set_expression_attribute_values(Some(owner_values(owner_token)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StoreError::OwnershipLost { key: completed.key.clone() })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn release(&self, key: &str, owner_token: i64) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(ATTR_ID, AttributeValue::S(key.to_owned()))
            .condition_expression(OWNER_CONDITION)
            .set_expression_attribute_names(Some(owner_names()))
            .set_expression_attribute_values(Some(owner_values(owner_token)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Not ours any more: someone else's record stays.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Why a transactional commit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// These business writes (indexes into the caller's list) failed their conditions.
    #[error("business write(s) {0:?} failed their condition")]
    BusinessCondition(Vec<usize>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DynamoDbStore {
    /// Commit `writes` and the key's COMPLETED record (carrying `output`) in one
    /// TransactWriteItems: both or neither. The ticket is kept on failure; the
    /// caller completes differently or releases.
    pub async fn commit_with<T: Serialize>(
        &self,
        ticket: &Ticket,
        output: &T,
        writes: Vec<TransactWriteItem>,
    ) -> Result<(), CommitError> {
        let completed = ticket
            .completed_record(output)
            .map_err(|e| StoreError::Corrupt { key: ticket.key.clone(), reason: e.to_string() })?;
        let business = writes.len();
        let mut items = writes;
        items.push(self.completion_item(&completed, ticket.owner_token));
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e)) => match e.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let failed: Vec<usize> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
                        .map(|(i, _)| i)
                        .collect();
                    if failed.contains(&business) {
                        Err(StoreError::OwnershipLost { key: ticket.key.clone() }.into())
                    } else if !failed.is_empty() {
                        Err(CommitError::BusinessCondition(failed))
                    } else {
                        // Conflicts with another transaction, throttling: retryable.
                        Err(StoreError::Unavailable(format!("transaction cancelled: {cancelled}").into()).into())
                    }
                }
                _ => Err(unavailable(SdkError::ServiceError(e)).into()),
            },
            Err(e) => Err(unavailable(e).into()),
        }
    }
}
