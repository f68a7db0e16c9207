//! Orders: read one, place one, find the ones stuck on the way.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shopsphere_orders::{OrderView, OrdersTable};
use shopsphere_runtime::dynamodb::Table;

use crate::Ops;

impl Ops {
    fn orders(&self) -> anyhow::Result<OrdersTable> {
        Ok(OrdersTable::new(self.dynamodb.clone(), self.output("OrdersTableName")?))
    }

    pub async fn order(&self, id: &str) -> anyhow::Result<Option<OrderView>> {
        Ok(self.orders()?.get(id).await?)
    }

    /// Orders not in a final state whose last change is older than `older_than`.
    pub async fn stuck(&self, older_than: Duration) -> anyhow::Result<Vec<OrderView>> {
        let table = Table::new(self.dynamodb.clone(), self.output("OrdersTableName")?, "order_id");
        let cutoff = Utc::now() - chrono::Duration::from_std(older_than)?;
        let mut stuck: Vec<OrderView> = table
            .scan::<OrderView>()
            .await?
            .into_iter()
            .filter(|o| !o.status.is_final())
            .filter(|o| DateTime::parse_from_rfc3339(&o.updated_at).is_ok_and(|t| t < cutoff))
            .collect();
        stuck.sort_by(|a, b| a.updated_at.cmp(&b.updated_at));
        Ok(stuck)
    }
}

/// The order as an operator sees it: the timeline in time order.
pub fn public_view(order: &OrderView) -> Value {
    let mut value = serde_json::to_value(order).unwrap_or_default();
    if let Some(fields) = value.as_object_mut() {
        fields.insert("timeline".into(), serde_json::to_value(order.timeline_entries()).unwrap_or_default());
    }
    value
}

/// POST /orders through the HTTP API as the customer `bearer` (a JWT the
/// API's authorizer accepts) names; the status and JSON answer.
pub async fn place(api: &str, bearer: &str, order: &Value, idempotency_key: &str) -> anyhow::Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{}/orders", api.trim_end_matches('/')))
        .bearer_auth(bearer)
        .header("Idempotency-Key", idempotency_key)
        .json(order)
        .send()
        .await
        .with_context(|| format!("POST {api}/orders"))?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// An order body for `items` as (sku, qty); its customer is the bearer token's subject.
pub fn order_body(email: &str, token: &str, items: &[(String, u32)]) -> Value {
    json!({
        "email": email,
        "items": items.iter().map(|(sku, qty)| json!({"sku": sku, "qty": qty})).collect::<Vec<_>>(),
        "payment_token": token,
    })
}
