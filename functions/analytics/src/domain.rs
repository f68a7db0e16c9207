//! Analytics: every event archived whole, once (its archive row is the
//! guard), and hourly counters per type derived from the archive.

use std::collections::BTreeMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use shopsphere_events::{Envelope, Event, EventType};
use shopsphere_messaging::{HandlerError, Outcome, Service};
use shopsphere_runtime::{Deadline, TableError, Write};

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &EventType::ALL;

/// The event types this function publishes (none).
pub const PUBLISHES: &[EventType] = &[];

/// The event archive's row: the whole envelope, keyed for replay by order and
/// (through a GSI on `event_type` + `time_event_id`) by type and time, with
/// what the hourly counters add up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchivedEvent {
    pub order_id: String,
    /// `<time>#<event id>`: the sort key, in time order.
    pub time_event_id: String,
    pub event_id: String,
    pub event_type: String,
    /// RFC 3339 in UTC (`2026-11-28T10:00:00.000Z`): its first 13 characters are the hour it counts in.
    pub time: String,
    /// Money taken in (+) or given back (−), minor units; 0 for other types.
    #[serde(default)]
    pub revenue: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub envelope: String,
}

/// Revenue moves: a charge adds, a refund takes back.
pub fn revenue_of(event: &Event) -> Option<(i64, String)> {
    match event {
        Event::PaymentProcessed(p) => Some((p.amount.amount, p.amount.currency.to_string())),
        Event::PaymentRefunded(r) => Some((-r.amount.amount, r.amount.currency.to_string())),
        _ => None,
    }
}

impl ArchivedEvent {
    pub fn of(event: &Envelope) -> Self {
        let time = event.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (revenue, currency) = revenue_of(&event.data).map_or((0, None), |(r, c)| (r, Some(c)));
        ArchivedEvent {
            order_id: event.subject.clone(),
            time_event_id: format!("{time}#{}", event.id),
            event_id: event.id.to_string(),
            event_type: event.kind().name().to_owned(),
            time,
            revenue,
            currency,
            envelope: event.to_json(),
        }
    }
}

/// One hour's figures for one event type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counter {
    pub count: u64,
    /// Per currency: sums of different currencies mean nothing together.
    pub revenue: BTreeMap<String, i64>,
}

impl ArchivedEvent {
    /// `2026-11-28T10`: the hour the event counts in.
    pub fn hour(&self) -> &str {
        self.time.get(..13).unwrap_or(&self.time)
    }
}

/// Counters per (hour, event type), from archived events.
pub fn hourly<'a>(archived: impl IntoIterator<Item = &'a ArchivedEvent>) -> BTreeMap<(String, String), Counter> {
    let mut counters: BTreeMap<(String, String), Counter> = BTreeMap::new();
    for row in archived {
        let counter = counters.entry((row.hour().to_owned(), row.event_type.clone())).or_default();
        counter.count += 1;
        if let Some(currency) = &row.currency {
            *counter.revenue.entry(currency.clone()).or_default() += row.revenue;
        }
    }
    counters
}

/// The event archive.
pub trait Archive: Send + Sync {
    /// Store `row` unless the event is archived already.
    fn archive(&self, row: &ArchivedEvent) -> impl Future<Output = Result<Write<ArchivedEvent>, TableError>> + Send;
}

pub struct Analytics<A> {
    pub archive: A,
}

impl<A: Archive> Service for Analytics<A> {
    const FUNCTION: &'static str = "analytics";
    const HANDLES: &'static [EventType] = HANDLES;
    const PUBLISHES: &'static [EventType] = PUBLISHES;

    async fn handle(&self, event: &Envelope, _: Deadline) -> Result<Outcome, HandlerError> {
        match self.archive.archive(&ArchivedEvent::of(event)).await? {
            Write::Done => Ok(Outcome::Applied(vec![])),
            Write::Refused(_) => Ok(Outcome::Repeat(vec![])),
        }
    }
}
