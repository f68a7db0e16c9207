//! Stock rules: deduct every line of a paid order, or none and say which skus are short.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use chrono::Utc;
use shopsphere_events::{
    Envelope, Event, EventType, InventoryUpdateFailed, InventoryUpdated, PaymentProcessed, Reason, SkuQty,
    StockShortfall,
};
use shopsphere_messaging::{Decision, HandlerError, Service};

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &[EventType::PaymentProcessed];

/// The event types this function publishes: it may publish to exactly these topics.
pub const PUBLISHES: &[EventType] = &[EventType::InventoryUpdated, EventType::InventoryUpdateFailed];

/// What to write: deduct these quantities (one per sku), or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockEffect {
    Deduct(Vec<SkuQty>),
    None,
}

#[derive(Debug, thiserror::Error)]
#[error("inventory table: {0}")]
pub struct RepoError(pub String);

/// Reads of the inventory table.
pub trait StockLevels: Send + Sync {
    /// Units available per sku; unknown skus are absent.
    fn levels(&self, skus: &[String]) -> impl Future<Output = Result<HashMap<String, u32>, RepoError>> + Send;
}

pub struct Inventory<S> {
    pub stock: S,
}

/// Quantities per sku (an order may list a sku twice).
pub fn merged(items: &[SkuQty]) -> Vec<SkuQty> {
    let mut by_sku: BTreeMap<&str, u32> = BTreeMap::new();
    for item in items {
        *by_sku.entry(&item.sku).or_default() += item.qty;
    }
    by_sku.into_iter().map(|(sku, qty)| SkuQty { sku: sku.to_owned(), qty }).collect()
}

impl<S: StockLevels> Inventory<S> {
    async fn reserve(&self, parent: &Envelope, paid: &PaymentProcessed) -> Result<Decision<StockEffect>, HandlerError> {
        let wanted = merged(&paid.items);
        let skus: Vec<String> = wanted.iter().map(|i| i.sku.clone()).collect();
        let levels = self.stock.levels(&skus).await.map_err(HandlerError::transient)?;
        let shortfalls: Vec<StockShortfall> = wanted
            .iter()
            .filter_map(|i| {
                let available = levels.get(&i.sku).copied().unwrap_or(0);
                (available < i.qty).then(|| StockShortfall { sku: i.sku.clone(), requested: i.qty, available })
            })
            .collect();
        if shortfalls.is_empty() {
            let event =
                InventoryUpdated { order_id: paid.order_id.clone(), email: paid.email.clone(), items: wanted.clone() };
            return Ok(Decision::new(StockEffect::Deduct(wanted), vec![Envelope::derive(parent, event, Utc::now())]));
        }
        let message = shortfalls
            .iter()
            .map(|s| format!("{}: {} requested, {} available", s.sku, s.requested, s.available))
            .collect::<Vec<_>>()
            .join("; ");
        let event = InventoryUpdateFailed {
            order_id: paid.order_id.clone(),
            email: paid.email.clone(),
            payment_id: paid.payment_id.clone(),
            amount: paid.amount,
            shortfalls,
            reason: Reason { code: "insufficient_stock".into(), message },
        };
        Ok(Decision::new(StockEffect::None, vec![Envelope::derive(parent, event, Utc::now())]))
    }
}

impl<S: StockLevels> Service for Inventory<S> {
    const FUNCTION: &'static str = "inventory";
    const HANDLES: &'static [EventType] = HANDLES;
    type Effect = StockEffect;

    async fn decide(&self, event: &Envelope) -> Result<Decision<StockEffect>, HandlerError> {
        match &event.data {
            Event::PaymentProcessed(paid) => self.reserve(event, paid).await,
            other => Err(HandlerError::permanent("unexpected_event_type", other.event_type().to_string())),
        }
    }
}
