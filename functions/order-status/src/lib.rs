//! order-status (DESIGN.md §1): the Order service's consumer of every event.
//! It applies each to its order with the state machine of
//! [`shopsphere_orders::OrderView::apply`] and writes the row with an
//! optimistic version check, in the same transaction as the idempotency
//! completion. A lost race is transient: the retry reads and applies again.

use std::future::Future;

use aws_sdk_dynamodb::types::TransactWriteItem;
use shopsphere_events::{Envelope, EventType};
use shopsphere_messaging::{Decision, HandlerError, Service, TransactWrites};
use shopsphere_orders::{OrderView, OrdersTable};

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &EventType::ALL;

/// The event types this function publishes (none).
pub const PUBLISHES: &[EventType] = &[];

/// Reads of the orders table.
pub trait Orders: Send + Sync {
    fn get(&self, order_id: &str) -> impl Future<Output = Result<Option<OrderView>, String>> + Send;
}

impl Orders for OrdersTable {
    async fn get(&self, order_id: &str) -> Result<Option<OrderView>, String> {
        OrdersTable::get(self, order_id).await.map_err(|e| e.to_string())
    }
}

/// The new row to write, or nothing (the event was already applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEffect(pub Option<OrderView>);

pub struct OrderStatusService<O> {
    pub orders: O,
}

impl<O: Orders> Service for OrderStatusService<O> {
    const FUNCTION: &'static str = "order-status";
    const HANDLES: &'static [EventType] = HANDLES;
    // The view is forward-only and its timeline keyed by event id: applying
    // history again rebuilds a lost row and changes nothing else.
    const REPLAYABLE: bool = true;
    type Effect = StatusEffect;
    /// Events of one order arrive close together and race on its row's version.
    const COMMIT_ATTEMPTS: u32 = 5;

    async fn decide(&self, event: &Envelope) -> Result<Decision<StatusEffect>, HandlerError> {
        let stored = self.orders.get(&event.subject).await.map_err(HandlerError::transient)?;
        let mut view = stored.unwrap_or_else(|| OrderView::from_event(event));
        if !view.apply(event) {
            return Ok(Decision::new(StatusEffect(None), vec![]));
        }
        view.version += 1;
        Ok(Decision::new(StatusEffect(Some(view)), vec![]))
    }
}

impl TransactWrites<StatusEffect> for OrdersTable {
    fn writes(&self, effect: &StatusEffect) -> Vec<TransactWriteItem> {
        effect.0.iter().map(|view| self.versioned_put(view)).collect()
    }
}
