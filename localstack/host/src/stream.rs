//! A DynamoDB stream event source mapping, driven as Lambda drives it: each
//! shard read in order (GetRecords, up to `BatchSize`, gathered for at most
//! the batching window), records outside the filter criteria skipped, a
//! failed batch retried (bisected when the mapping says so, from the first
//! reported failure with partial batch responses) until the retry limit or
//! record age runs out, then described to the on-failure destination and
//! skipped. The checkpoint lives as long as the host.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::dynamodb::{Event, EventRecord, StreamRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::function::Function;
use crate::stack::StreamSource;

/// Lambda polls each shard about four times a second.
const IDLE_POLL: Duration = Duration::from_millis(250);

pub struct StreamMapping {
    pub function: Arc<Function>,
    pub source: StreamSource,
    pub stream_arn: String,
    pub region: String,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// URL of the on-failure queue.
    pub on_failure: Option<String>,
}

/// A record in both forms: the SDK's (for its sequence number and age) and
/// the Lambda event's (what the function and the filters see).
#[derive(Clone)]
struct Item {
    sequence: String,
    created: DateTime<Utc>,
    event: EventRecord,
}

struct Shard {
    iterator: Option<String>,
    /// Last sequence number handed to the function for good.
    checkpoint: Option<String>,
    closed: bool,
}

impl StreamMapping {
    pub async fn run(self: Arc<Self>) {
        if !self.source.enabled {
            return;
        }
        let mut shards: HashMap<String, Shard> = HashMap::new();
        loop {
            self.wait_until_running().await;
            if let Err(e) = self.discover(&mut shards).await {
                tracing::warn!(stream = %self.stream_arn, "describe stream failed: {e:#}");
            }
            let mut busy = false;
            let mut ids: Vec<_> = shards.keys().cloned().collect();
            ids.sort();
            for id in ids {
                let shard = shards.get_mut(&id).expect("listed above");
                match self.read(&id, shard).await {
                    Ok((items, last)) => {
                        busy |= last.is_some();
                        self.process(&id, items).await;
                        shard.checkpoint = last.or(shard.checkpoint.take());
                    }
                    Err(e) => {
                        tracing::warn!(shard = %id, "GetRecords failed, re-reading from the checkpoint: {e:#}");
                        shard.iterator = None;
                    }
                }
            }
            if !busy {
                tokio::time::sleep(IDLE_POLL).await;
            }
        }
    }

    async fn wait_until_running(&self) {
        let mut switch = self.function.switch();
        while !switch.borrow_and_update().running {
            if switch.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    async fn discover(&self, shards: &mut HashMap<String, Shard>) -> anyhow::Result<()> {
        let description = self.streams.describe_stream().stream_arn(&self.stream_arn).send().await?;
        for shard in description.stream_description.map(|d| d.shards.unwrap_or_default()).unwrap_or_default() {
            if let Some(id) = shard.shard_id {
                shards.entry(id).or_insert(Shard { iterator: None, checkpoint: None, closed: false });
            }
        }
        Ok(())
    }

    /// The next batch of the shard that passes the filters, gathered for at
    /// most the batching window, and the last sequence number read (filtered
    /// records included: the checkpoint passes them once the batch is done).
    async fn read(&self, shard_id: &str, shard: &mut Shard) -> anyhow::Result<(Vec<Item>, Option<String>)> {
        let deadline = tokio::time::Instant::now() + self.source.batching_window;
        let mut items = Vec::new();
        let mut last = None;
        while !shard.closed && items.len() < self.source.batch_size {
            if shard.iterator.is_none() {
                let (kind, after) = match &shard.checkpoint {
                    Some(sequence) => (ShardIteratorType::AfterSequenceNumber, Some(sequence.clone())),
                    None if self.source.from_trim_horizon => (ShardIteratorType::TrimHorizon, None),
                    None => (ShardIteratorType::Latest, None),
                };
                let out = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&self.stream_arn)
                    .shard_id(shard_id)
                    .shard_iterator_type(kind)
                    .set_sequence_number(after)
                    .send()
                    .await?;
                shard.iterator = out.shard_iterator;
            }
            let Some(iterator) = shard.iterator.clone() else { break };
            let out = self
                .streams
                .get_records()
                .shard_iterator(iterator)
                .limit((self.source.batch_size - items.len()) as i32)
                .send()
                .await?;
            shard.closed = out.next_shard_iterator.is_none();
            shard.iterator = out.next_shard_iterator;
            let records = out.records.unwrap_or_default();
            let got = records.len();
            for record in records {
                let item = self.item(record);
                if let Some(item) = item {
                    last = Some(item.sequence.clone());
                    if self.passes(&item) {
                        items.push(item);
                    }
                }
            }
            if (got == 0 && items.is_empty()) || tokio::time::Instant::now() >= deadline {
                break;
            }
            if got == 0 {
                tokio::time::sleep(IDLE_POLL.min(deadline - tokio::time::Instant::now())).await;
            }
        }
        if last.is_none() {
            // Nothing new: ask for a fresh iterator from the checkpoint next
            // time. LocalStack's (moto's) stream sometimes leaves a held
            // iterator behind records written later; AWS iterators expire
            // after 15 minutes anyway.
            shard.iterator = None;
        }
        Ok((items, last))
    }

    fn item(&self, record: Record) -> Option<Item> {
        let change = record.dynamodb?;
        let sequence = change.sequence_number?;
        let created = change
            .approximate_creation_date_time
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos()))
            .unwrap_or_else(Utc::now);
        let mut stream_record = StreamRecord::default();
        stream_record.approximate_creation_date_time = created;
        stream_record.keys = change.keys.unwrap_or_default().into();
        stream_record.new_image = change.new_image.unwrap_or_default().into();
        stream_record.old_image = change.old_image.unwrap_or_default().into();
        stream_record.sequence_number = Some(sequence.clone());
        stream_record.size_bytes = change.size_bytes.unwrap_or_default();
        stream_record.stream_view_type =
            change.stream_view_type.and_then(|v| serde_json::from_value(Value::String(v.as_str().to_owned())).ok());
        let mut event = EventRecord::default();
        event.aws_region = record.aws_region.unwrap_or_else(|| self.region.clone());
        event.change = stream_record;
        event.event_id = record.event_id.unwrap_or_default();
        event.event_name = record.event_name.map(|n| n.as_str().to_owned()).unwrap_or_default();
        event.event_source = Some("aws:dynamodb".into());
        event.event_version = record.event_version.or(Some("1.1".into()));
        event.event_source_arn = Some(self.stream_arn.clone());
        Some(Item { sequence, created, event })
    }

    fn passes(&self, item: &Item) -> bool {
        if self.source.filters.is_empty() {
            return true;
        }
        let event = serde_json::to_value(&item.event).unwrap_or(Value::Null);
        self.source.filters.iter().any(|pattern| matches(pattern, &event))
    }

    /// Deliver `items` until each is done or given up on.
    async fn process(&self, shard_id: &str, items: Vec<Item>) {
        let mut pending: VecDeque<(Vec<Item>, u32)> = VecDeque::from([(items, 0)]);
        while let Some((batch, attempts)) = pending.pop_front() {
            self.wait_until_running().await;
            let (batch, expired): (Vec<_>, Vec<_>) = batch.into_iter().partition(|i| !self.too_old(i));
            if !expired.is_empty() {
                self.give_up(shard_id, &expired, attempts, "RecordAgeExceeded").await;
            }
            let Some(failed_from) = self.invoke(&batch).await else { continue };
            let rest = batch[failed_from..].to_vec();
            let attempts = attempts + 1;
            if self.source.maximum_retry_attempts.is_some_and(|max| attempts > max) {
                self.give_up(shard_id, &rest, attempts, "RetryAttemptsExhausted").await;
                continue;
            }
            tokio::time::sleep(Duration::from_millis(100 * u64::from(attempts.min(10)))).await;
            if self.source.bisect_on_error && rest.len() > 1 {
                let second = rest[rest.len() / 2..].to_vec();
                let first = rest[..rest.len() / 2].to_vec();
                pending.push_front((second, attempts));
                pending.push_front((first, attempts));
            } else {
                pending.push_front((rest, attempts));
            }
        }
    }

    fn too_old(&self, item: &Item) -> bool {
        self.source.maximum_record_age.is_some_and(|age| {
            Utc::now().signed_duration_since(item.created).to_std().is_ok_and(|elapsed| elapsed > age)
        })
    }

    /// One invocation; `None` when every record is done, else the index of
    /// the first record to retry.
    async fn invoke(&self, batch: &[Item]) -> Option<usize> {
        if batch.is_empty() {
            return None;
        }
        let mut event = Event::default();
        event.records = batch.iter().map(|i| i.event.clone()).collect();
        let payload = serde_json::to_vec(&event).expect("a stream event serializes");
        let Some(body) = self.function.answer(payload.into(), batch.len(), &self.region).await else {
            return Some(0);
        };
        if !self.source.report_batch_item_failures || body.is_empty() || body.as_ref() == b"null" {
            return None;
        }
        let Ok(response) = serde_json::from_slice::<DynamoDbEventResponse>(&body) else {
            tracing::warn!("unreadable batch response: the whole batch is retried");
            return Some(0);
        };
        // Lambda retries from the lowest reported sequence number; an
        // unknown or missing identifier fails the whole batch.
        response
            .batch_item_failures
            .iter()
            .map(|f| {
                f.item_identifier.as_ref().and_then(|id| batch.iter().position(|i| &i.sequence == id)).unwrap_or(0)
            })
            .min()
    }

    /// Describe skipped records to the on-failure destination, in Lambda's
    /// invocation record format, and move on.
    async fn give_up(&self, shard_id: &str, items: &[Item], attempts: u32, condition: &str) {
        let (Some(first), Some(last)) = (items.first(), items.last()) else { return };
        tracing::error!(shard = %shard_id, condition, records = items.len(), "records skipped");
        let Some(url) = &self.on_failure else { return };
        let record = json!({
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": self.function.arn(&self.region),
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first.sequence,
                "endSequenceNumber": last.sequence,
                "approximateArrivalOfFirstRecord": first.created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "approximateArrivalOfLastRecord": last.created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "batchSize": items.len(),
                "streamArn": self.stream_arn,
            },
        });
        if let Err(e) = self.sqs.send_message().queue_url(url).message_body(record.to_string()).send().await {
            tracing::error!("on-failure destination unreachable, records lost from the mapping: {e}");
        }
    }
}

/// Whether `event` matches a Lambda filter pattern. Supported: exact values
/// (lists of allowed scalars), nested objects, and the `exists`, `prefix`
/// and `anything-but` operators; anything else does not match.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Value::Object(fields) = pattern else { return false };
    fields.iter().all(|(key, rule)| {
        let value = event.get(key);
        match rule {
            // A missing object matches only rules such as `{"exists": false}` below it.
            Value::Object(_) => matches(rule, value.unwrap_or(&Value::Null)),
            Value::Array(allowed) => allowed.iter().any(|a| allows(a, value)),
            _ => false,
        }
    })
}

fn allows(rule: &Value, value: Option<&Value>) -> bool {
    let scalars: Vec<&Value> = match value {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
        None => vec![],
    };
    match rule {
        Value::Object(op) => match op.iter().next() {
            Some((name, Value::Bool(wanted))) if name == "exists" => value.is_some() == *wanted,
            Some((name, Value::String(prefix))) if name == "prefix" => {
                scalars.iter().any(|v| v.as_str().is_some_and(|s| s.starts_with(prefix.as_str())))
            }
            Some((name, excluded)) if name == "anything-but" => {
                let excluded: Vec<&Value> = match excluded {
                    Value::Array(list) => list.iter().collect(),
                    single => vec![single],
                };
                !scalars.is_empty() && scalars.iter().all(|v| !excluded.contains(v))
            }
            _ => false,
        },
        exact => scalars.contains(&exact),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_match_as_lambda_documents_them() {
        let insert = json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"status": {"S": "PENDING"}}}});
        let modify = json!({"eventName": "MODIFY", "dynamodb": {"NewImage": {"status": {"S": "PAID"}}}});
        let by_name = json!({"eventName": ["INSERT"]});
        assert!(matches(&by_name, &insert));
        assert!(!matches(&by_name, &modify));
        let nested = json!({"dynamodb": {"NewImage": {"status": {"S": [{"prefix": "PEN"}]}}}});
        assert!(matches(&nested, &insert));
        assert!(!matches(&nested, &modify));
        let but = json!({"eventName": [{"anything-but": ["REMOVE", "MODIFY"]}]});
        assert!(matches(&but, &insert));
        assert!(!matches(&but, &modify));
        assert!(matches(&json!({"userIdentity": [{"exists": false}]}), &insert));
        assert!(!matches(&json!({"eventName": [{"numeric": [">", 0]}]}), &insert));
        // exists: false below an object the record lacks (the outbox's filter).
        let new_orders =
            json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"rebuilt_from": {"S": [{"exists": false}]}}}});
        let rebuilt = json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"rebuilt_from": {"S": "e-1"}}}});
        assert!(matches(&new_orders, &insert));
        assert!(!matches(&new_orders, &rebuilt));
        assert!(!matches(&json!({"dynamodb": {"OldImage": {"status": {"S": ["PENDING"]}}}}), &insert));
    }
}
