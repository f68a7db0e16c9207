//! order-outbox (docs/architecture.md, producer side): the orders table's stream is the outbox. Each
//! INSERT of a new order (not a row order-status rebuilt from the event
//! archive) becomes an OrderCreated event whose id derives
//! from the order id, so however often a record is retried, consumers see one
//! event. A failed publish reports the record as a batch item failure, so the
//! stream retries from it (bisecting as configured); nothing is dropped.

use aws_lambda_events::dynamodb::{Event as StreamEvent, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::{DateTime, Utc};
use shopsphere_events::{Envelope, EventType, OrderCreated, RootCause};
use shopsphere_messaging::Publisher;
use shopsphere_orders::OrderView;

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
        payment_token: order.payment_token,
    };
    Envelope::root(payload, cause, time)
}

fn failure(record: &EventRecord) -> DynamoDbBatchItemFailure {
    let mut f = DynamoDbBatchItemFailure::default();
    f.item_identifier = record.change.sequence_number.clone();
    f
}

pub struct Outbox<P> {
    pub publisher: P,
}

impl<P: Publisher> Outbox<P> {
    /// Publish the OrderCreated of every INSERT, in stream order. On the first
    /// failure, report that record: Lambda retries the batch from it.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        for record in event.records.iter().filter(|r| r.event_name == "INSERT") {
            let order: OrderView = match serde_dynamo::from_item(record.change.new_image.clone()) {
                Ok(order) => order,
                Err(e) => {
                    // Retried until the mapping's retry limit, then sent to its on-failure destination.
                    tracing::error!(error = %e, event_id = %record.event_id, "stream record is not an order row");
                    response.batch_item_failures.push(failure(record));
                    return response;
                }
            };
            // The stream filter leaves these out in AWS; a mapping without it must not either.
            if let Some(event_id) = &order.rebuilt_from {
                tracing::info!(order_id = %order.order_id, rebuilt_from = %event_id, "rebuilt row, not a new order: nothing to publish");
                continue;
            }
            let envelope = order_created(order);
            if let Err(e) = self.publisher.publish(&envelope).await {
                tracing::warn!(error = %e, order_id = %envelope.subject, "OrderCreated not published; the stream retries");
                response.batch_item_failures.push(failure(record));
                return response;
            }
            tracing::info!(order_id = %envelope.subject, event_id = %envelope.id, "OrderCreated published");
        }
        response
    }
}
