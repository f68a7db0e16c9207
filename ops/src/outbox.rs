//! The outbox's repair: orders the API accepted whose OrderCreated never
//! went out (the stream skipped their row, or lost it past its 24 h), found
//! by their absence from the event archive and published again. The event id
//! derives from the order id, so a second run, or an OrderCreated that did
//! go out after all, is a repeat every consumer recognises.

use std::time::Duration;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use shopsphere_events::EventType;
use shopsphere_messaging::{Publisher, SnsPublisher, TopicMap};
use shopsphere_orders::{OrderStatus, OrderView};
use shopsphere_runtime::dynamodb::Table;

use crate::Ops;

impl Ops {
    /// PENDING orders created more than `older_than` ago with no OrderCreated
    /// in the event archive, oldest first.
    pub async fn unpublished(&self, older_than: Duration) -> anyhow::Result<Vec<OrderView>> {
        let orders = Table::new(self.dynamodb.clone(), self.output("OrdersTableName")?, "order_id");
        let cutoff = Utc::now() - chrono::Duration::from_std(older_than)?;
        let mut pending: Vec<OrderView> = orders
            .scan::<OrderView>()
            .await?
            .into_iter()
            .filter(|o| o.status == OrderStatus::Pending && o.rebuilt_from.is_none())
            .filter(|o| DateTime::parse_from_rfc3339(&o.created_at).is_ok_and(|t| t < cutoff))
            .collect();
        pending.sort_by(|a, b| a.created_at.cmp(&b.created_at));
        let mut unpublished = Vec::new();
        for order in pending {
            if !self.archived_order_created(&order.order_id).await? {
                unpublished.push(order);
            }
        }
        Ok(unpublished)
    }

    async fn archived_order_created(&self, order_id: &str) -> anyhow::Result<bool> {
        let found = self
            .dynamodb
            .query()
            .table_name(self.output("EventArchiveTableName")?)
            .key_condition_expression("order_id = :order")
            .filter_expression("event_type = :type")
            .expression_attribute_values(":order", AttributeValue::S(order_id.to_owned()))
            .expression_attribute_values(":type", AttributeValue::S(EventType::OrderCreated.name().to_owned()))
            .into_paginator()
            .items()
            .send()
            .next()
            .await
            .transpose()
            .context("querying the event archive")?;
        Ok(found.is_some())
    }

    /// Publish each order's OrderCreated, as the outbox derives it; how many.
    pub async fn republish(&self, orders: Vec<OrderView>) -> anyhow::Result<usize> {
        let topic = self.output(&format!("{}TopicArn", EventType::OrderCreated.name()))?;
        let publisher =
            SnsPublisher::new(self.sns.clone(), TopicMap::new([(EventType::OrderCreated, topic.to_owned())]));
        let events: Vec<_> = orders.into_iter().map(shopsphere_order_outbox::order_created).collect();
        publisher.publish_all(&events).await.context("publishing OrderCreated")?;
        Ok(events.len())
    }
}
