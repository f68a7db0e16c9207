//! order-outbox (docs/architecture.md, producer side): the orders table's stream is the outbox. Each
//! INSERT of a new order (not a row order-status rebuilt from the event
//! archive) becomes an OrderCreated event whose id derives
//! from the order id, so however often a record is retried, consumers see one
//! event. A publish that may succeed later reports the record as a batch
//! item failure: the stream retries from it until the record's age limit.
//! A row that can never become a published OrderCreated (unreadable, or
//! refused by SNS) is reported with its order id and skipped, so it never
//! blocks its shard; `shopsphere outbox republish` publishes it once fixed.

use std::future::Future;

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shopsphere_events::{Envelope, ErrorClass, EventType, OrderCreated, RootCause};
use shopsphere_messaging::Publisher;
use shopsphere_orders::OrderView;
use shopsphere_runtime::{BoxError, error_chain};

pub const PUBLISHES: &[EventType] = &[EventType::OrderCreated];

/// The OrderCreated event of a new order row.
pub fn order_created(order: OrderView) -> Envelope {
    let time =
        DateTime::parse_from_rfc3339(&order.created_at).map(|t| t.with_timezone(&Utc)).unwrap_or_else(|_| Utc::now());
    let cause = RootCause {
        correlation_id: order.correlation_id.clone(),
        causation_id: order.order_id.clone(),
        traceparent: order.traceparent.as_deref().and_then(|t| t.parse().ok()),
    };
    let payload = OrderCreated {
        order_id: order.order_id,
        customer_id: order.customer_id,
        email: order.email,
        lines: order.lines,
        total: order.total,
    };
    Envelope::root(payload, cause, time)
}

/// An order row the outbox skipped: what the failure queue receives (beside
/// Lambda's own records of batches it gave up on).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub order_id: String,
    pub reason: String,
    pub sequence_number: String,
    pub stream_event_id: String,
}

/// Where skipped rows are reported.
pub trait Reports: Send + Sync {
    fn skipped(&self, skipped: &Skipped) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Reports as messages on the outbox's failure queue (its alarm pages).
pub struct SqsReports {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl SqsReports {
    /// Reads `FAILURE_QUEUE_URL`.
    pub fn from_env(sqs: aws_sdk_sqs::Client) -> Result<Self, shopsphere_runtime::ConfigError> {
        Ok(SqsReports { sqs, queue_url: shopsphere_runtime::env_var("FAILURE_QUEUE_URL")? })
    }
}

impl Reports for SqsReports {
    async fn skipped(&self, skipped: &Skipped) -> Result<(), BoxError> {
        let body = serde_json::to_string(skipped)?;
        self.sqs.send_message().queue_url(&self.queue_url).message_body(body).send().await?;
        Ok(())
    }
}

fn failure(record: &EventRecord) -> DynamoDbBatchItemFailure {
    let mut f = DynamoDbBatchItemFailure::default();
    f.item_identifier = record.change.sequence_number.clone();
    f
}

pub struct Outbox<P, R> {
    pub publisher: P,
    pub reports: R,
}

impl<P: Publisher, R: Reports> Outbox<P, R> {
    /// Publish the OrderCreated of every INSERT, in stream order. On the first
    /// failure that may pass later, report that record: Lambda retries the
    /// batch from it.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in event.records.iter().filter(|r| r.event_name == "INSERT") {
            let order: OrderView = match serde_dynamo::from_item(record.change.new_image.clone()) {
                Ok(order) => order,
                Err(e) => {
                    if self.skip(record, format!("the row is not an order: {e}")).await.is_err() {
                        response.batch_item_failures.push(failure(record));
                        return response;
                    }
                    continue;
                }
            };
            // The stream filter leaves these out in AWS; a mapping without it must not either.
            if let Some(event_id) = &order.rebuilt_from {
                tracing::info!(order_id = %order.order_id, rebuilt_from = %event_id, "rebuilt row, not a new order: nothing to publish");
                continue;
            }
            let envelope = order_created(order);
            match self.publisher.publish(&envelope).await {
                Ok(()) => {
                    tracing::info!(order_id = %envelope.subject, event_id = %envelope.id, "OrderCreated published")
                }
                Err(e) if e.class() == ErrorClass::Permanent => {
                    if self.skip(record, format!("SNS refused its OrderCreated: {}", error_chain(&e))).await.is_err() {
                        response.batch_item_failures.push(failure(record));
                        return response;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %error_chain(&e), order_id = %envelope.subject, "OrderCreated not published; the stream retries");
                    response.batch_item_failures.push(failure(record));
                    return response;
                }
            }
        }
        response
    }

    /// Report `record` and move past it; an error when the report could not
    /// be made (then the record is retried rather than lost).
    async fn skip(&self, record: &EventRecord, reason: String) -> Result<(), ()> {
        let order_id = record.change.keys.get("order_id").and_then(|v| match v {
            serde_dynamo::AttributeValue::S(s) => Some(s.clone()),
            _ => None,
        });
        let skipped = Skipped {
            order_id: order_id.unwrap_or_default(),
            reason,
            sequence_number: record.change.sequence_number.clone().unwrap_or_default(),
            stream_event_id: record.event_id.clone(),
        };
        match self.reports.skipped(&skipped).await {
            Ok(()) => {
                tracing::error!(order_id = %skipped.order_id, reason = %skipped.reason, "order row skipped: reported to the failure queue");
                Ok(())
            }
            Err(e) => {
                tracing::error!(order_id = %skipped.order_id, error = %error_chain(&*e), "order row not publishable, and the report failed: retried");
                Err(())
            }
        }
    }
}
