//! Analytics (DESIGN.md §1): every event adds to an hourly counter of its type
//! (count and revenue) and is archived whole, append-only, for replay. Both
//! writes commit with the idempotency completion, so a redelivery counts once.

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use shopsphere_events::{Envelope, Event, EventType};
use shopsphere_messaging::{Decision, HandlerError, Service, TransactWrites};
use shopsphere_runtime::dynamodb::Table;

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &EventType::ALL;

/// The event types this function publishes (none).
pub const PUBLISHES: &[EventType] = &[];

/// What one event adds to its hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterDelta {
    /// `<hour>#<type>`, e.g. `2026-11-28T10#OrderShipped`.
    pub key: String,
    pub hour: String,
    pub event_type: String,
    /// Money taken in (+) or given back (−), minor units; 0 for other types.
    pub revenue: i64,
    pub currency: Option<String>,
}

/// The event archive's row: the whole envelope, keyed for replay by order and
/// (through a GSI on `event_type` + `time_event_id`) by type and time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedEvent {
    pub order_id: String,
    /// `<time>#<event id>`: the sort key, in time order.
    pub time_event_id: String,
    pub event_id: String,
    pub event_type: String,
    pub time: String,
    pub envelope: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsEffect {
    pub counter: CounterDelta,
    pub archive: ArchivedEvent,
}

/// Revenue moves: a charge adds, a refund takes back.
pub fn revenue_of(event: &Event) -> Option<(i64, String)> {
    match event {
        Event::PaymentProcessed(p) => Some((p.amount.amount, p.amount.currency.to_string())),
        Event::PaymentRefunded(r) => Some((-r.amount.amount, r.amount.currency.to_string())),
        _ => None,
    }
}

pub fn effect_of(event: &Envelope) -> AnalyticsEffect {
    let hour = event.time.format("%Y-%m-%dT%H").to_string();
    let event_type = event.kind().name().to_owned();
    let time = event.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (revenue, currency) = revenue_of(&event.data).map_or((0, None), |(r, c)| (r, Some(c)));
    AnalyticsEffect {
        counter: CounterDelta {
            key: format!("{hour}#{event_type}"),
            hour,
            event_type: event_type.clone(),
            revenue,
            currency,
        },
        archive: ArchivedEvent {
            order_id: event.subject.clone(),
            time_event_id: format!("{time}#{}", event.id),
            event_id: event.id.to_string(),
            event_type,
            time,
            envelope: event.to_json(),
        },
    }
}

pub struct Analytics;

impl Service for Analytics {
    const FUNCTION: &'static str = "analytics";
    const HANDLES: &'static [EventType] = HANDLES;
    type Effect = AnalyticsEffect;

    async fn decide(&self, event: &Envelope) -> Result<Decision<AnalyticsEffect>, HandlerError> {
        Ok(Decision::new(effect_of(event), vec![]))
    }
}

/// The analytics (counters, partition key `pk`) and event archive (`order_id`
/// + `time_event_id`) tables.
#[derive(Debug, Clone)]
pub struct AnalyticsTables {
    pub counters: String,
    pub archive: Table,
}

impl TransactWrites<AnalyticsEffect> for AnalyticsTables {
    fn writes(&self, effect: &AnalyticsEffect) -> Vec<TransactWriteItem> {
        let c = &effect.counter;
        let mut update = Update::builder()
            .table_name(&self.counters)
            .key("pk", AttributeValue::S(c.key.clone()))
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":revenue", AttributeValue::N(c.revenue.to_string()))
            .expression_attribute_values(":hour", AttributeValue::S(c.hour.clone()))
            .expression_attribute_values(":type", AttributeValue::S(c.event_type.clone()));
        update = match &c.currency {
            // One currency per counter: a second one would make the sum meaningless.
            Some(currency) => update
                .update_expression(
                    "ADD #count :one, revenue :revenue SET #hour = :hour, event_type = :type, currency = :currency",
                )
                .condition_expression("attribute_not_exists(currency) OR currency = :currency")
                .expression_attribute_values(":currency", AttributeValue::S(currency.clone())),
            None => update.update_expression("ADD #count :one, revenue :revenue SET #hour = :hour, event_type = :type"),
        }
        .expression_attribute_names("#hour", "hour");
        vec![
            TransactWriteItem::builder().update(update.build().expect("table, key and expression are set")).build(),
            self.archive.put_if(&effect.archive, "attribute_not_exists(time_event_id)", []),
        ]
    }
}
