//! The event archive (analytics keeps every envelope, by type and time):
//! replay, the way to rebuild a view such as the order status, and the
//! hourly counters derived from it.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageAttributeValue;
use chrono::{DateTime, Utc};
use shopsphere_analytics::{ArchivedEvent, Counter, hourly};
use shopsphere_events::EventType;
use shopsphere_messaging::batch::REPLAY_ID;

use crate::Ops;

const BY_TYPE_AND_TIME: &str = "ByTypeAndTime";

impl Ops {
    /// Archived events of `event_type` since `since`, oldest first, secrets
    /// masked (rows archived before OrderCreated lost its payment token hold one).
    pub async fn archived(
        &self,
        event_type: EventType,
        since: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Vec<ArchivedEvent>> {
        let table = self.output("EventArchiveTableName")?;
        // The sort key is `<time>#<event id>`: a time string orders with it.
        let from = since.map(|t| AttributeValue::S(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        let condition = match from {
            Some(_) => "event_type = :type AND time_event_id >= :from",
            None => "event_type = :type",
        };
        let mut archived = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .dynamodb
                .query()
                .table_name(table)
                .index_name(BY_TYPE_AND_TIME)
                .key_condition_expression(condition)
                .expression_attribute_values(":type", AttributeValue::S(event_type.name().to_owned()));
            if let Some(from) = &from {
                query = query.expression_attribute_values(":from", from.clone());
            }
            let page = query.set_exclusive_start_key(start).send().await.context("querying the event archive")?;
            for item in page.items() {
                let mut row: ArchivedEvent = serde_dynamo::from_item(item.clone()).context("an archive row")?;
                row.envelope = shopsphere_events::redact_text(&row.envelope);
                archived.push(row);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(archived);
            }
        }
    }

    /// Send the archived events' envelopes to the queue, marked as replay
    /// `replay_id`: only consumers whose effect is a rebuildable view take
    /// them (others dead-letter them with `replay_not_allowed`).
    pub async fn replay(&self, events: &[ArchivedEvent], queue_url: &str, replay_id: &str) -> anyhow::Result<usize> {
        let marker = MessageAttributeValue::builder().data_type("String").string_value(replay_id).build()?;
        for event in events {
            self.sqs
                .send_message()
                .queue_url(queue_url)
                .message_body(&event.envelope)
                .message_attributes(REPLAY_ID, marker.clone())
                .send()
                .await
                .context("sending a replayed event")?;
        }
        Ok(events.len())
    }

    /// Hourly counters per event type since `since`, added up from the archive.
    pub async fn hourly(&self, since: Option<DateTime<Utc>>) -> anyhow::Result<BTreeMap<(String, String), Counter>> {
        let mut archived = Vec::new();
        for event_type in EventType::ALL {
            archived.extend(self.archived(event_type, since).await?);
        }
        Ok(hourly(&archived))
    }
}
