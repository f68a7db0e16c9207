//! Stock rules: an order's lines are taken from stock all at once or not at
//! all, and at most once, ever: its reservation row is the guard.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use shopsphere_events::{
    Envelope, Event, EventType, InventoryUpdateFailed, InventoryUpdated, MAX_ORDER_LINES, PaymentProcessed, Reason,
    ShippingFailed, SkuQty, StockShortfall,
};
use shopsphere_messaging::{HandlerError, Outcome, Service, StoredEvents};
use shopsphere_runtime::{Deadline, TableError, Write};

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &[EventType::PaymentProcessed, EventType::ShippingFailed];

/// The event types this function publishes: it may publish to exactly these topics.
pub const PUBLISHES: &[EventType] = &[EventType::InventoryUpdated, EventType::InventoryUpdateFailed];

/// Whether the order's stock was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// Every line was taken from stock.
    Reserved,
    /// A sku was short, or the step gave up: nothing was taken.
    Rejected,
    /// Taken, then given back (the order could not be shipped).
    Released,
}

/// The reservations table's row: one per order, ever, holding the outcome
/// event that is re-published when the order's payment comes again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub order_id: String,
    pub status: ReservationStatus,
    pub items: Vec<SkuQty>,
    pub events: StoredEvents,
    pub created_at: String,
}

/// What trying to take an order's stock came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Reserve {
    /// Taken, and the reservation stored with it.
    Reserved,
    /// The order already has a reservation (this one): nothing was taken.
    Existing(Reservation),
    /// A sku has less than asked for: nothing was written.
    Short,
}

/// The inventory and reservations tables.
pub trait Stock: Send + Sync {
    /// Take `reservation.items` from stock and store `reservation`, all in one
    /// write, unless the order has a reservation or a sku is short.
    fn reserve(&self, reservation: &Reservation) -> impl Future<Output = Result<Reserve, TableError>> + Send;
    /// Store a rejected reservation (no stock taken), unless the order has one.
    fn reject(&self, reservation: &Reservation) -> impl Future<Output = Result<Write<Reservation>, TableError>> + Send;
    /// Units available per sku; unknown skus are absent.
    fn levels(&self, skus: &[String]) -> impl Future<Output = Result<HashMap<String, u32>, TableError>> + Send;
    /// Give a RESERVED order's stock back and mark its reservation RELEASED,
    /// in one write; a reservation in another state comes back instead
    /// (`None`: the order has none).
    fn release(&self, order_id: &str) -> impl Future<Output = Result<Write<Reservation>, TableError>> + Send;
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

/// Reservations tried when the stock a failed one found short is there after all
/// (another order's stock came back between the write and the read).
const RESERVE_ATTEMPTS: u32 = 3;

fn reservation(paid: &PaymentProcessed, status: ReservationStatus, items: &[SkuQty], event: Envelope) -> Reservation {
    Reservation {
        order_id: paid.order_id.clone(),
        status,
        items: items.to_vec(),
        events: StoredEvents(vec![event]),
        created_at: Utc::now().to_rfc3339(),
    }
}

fn shortfalls(wanted: &[SkuQty], levels: &HashMap<String, u32>) -> Vec<StockShortfall> {
    wanted
        .iter()
        .filter_map(|i| {
            let available = levels.get(&i.sku).copied().unwrap_or(0);
            (available < i.qty).then(|| StockShortfall { sku: i.sku.clone(), requested: i.qty, available })
        })
        .collect()
}

impl<S: Stock> Inventory<S> {
    async fn reserve(&self, parent: &Envelope, paid: &PaymentProcessed) -> Result<Outcome, HandlerError> {
        let wanted = merged(&paid.items);
        if wanted.len() > MAX_ORDER_LINES {
            return Err(HandlerError::permanent(
                "too_many_lines",
                format!("{} skus: one reservation takes at most {MAX_ORDER_LINES}", wanted.len()),
            ));
        }
        for _ in 0..RESERVE_ATTEMPTS {
            let updated =
                InventoryUpdated { order_id: paid.order_id.clone(), email: paid.email.clone(), items: wanted.clone() };
            let taken =
                reservation(paid, ReservationStatus::Reserved, &wanted, Envelope::derive(parent, updated, Utc::now()));
            match self.stock.reserve(&taken).await? {
                Reserve::Reserved => return Ok(Outcome::Applied(taken.events.0)),
                Reserve::Existing(existing) => return Ok(Outcome::Repeat(existing.events.0)),
                Reserve::Short => {}
            }
            let skus: Vec<String> = wanted.iter().map(|i| i.sku.clone()).collect();
            let shortfalls = shortfalls(&wanted, &self.stock.levels(&skus).await?);
            if shortfalls.is_empty() {
                continue;
            }
            let message = shortfalls
                .iter()
                .map(|s| format!("{}: {} requested, {} available", s.sku, s.requested, s.available))
                .collect::<Vec<_>>()
                .join("; ");
            let failed = InventoryUpdateFailed {
                order_id: paid.order_id.clone(),
                email: paid.email.clone(),
                payment_id: paid.payment_id.clone(),
                amount: paid.amount,
                shortfalls,
                reason: Reason { code: "insufficient_stock".into(), message },
            };
            let rejected =
                reservation(paid, ReservationStatus::Rejected, &wanted, Envelope::derive(parent, failed, Utc::now()));
            return self.reject(rejected).await;
        }
        Err(HandlerError::transient("stock kept changing between the reservation and the read of its levels"))
    }
}

impl<S: Stock> Inventory<S> {
    /// Store a rejected reservation with its InventoryUpdateFailed, unless the
    /// order has a reservation (whose events are a repeat's).
    async fn reject(&self, rejected: Reservation) -> Result<Outcome, HandlerError> {
        match self.stock.reject(&rejected).await? {
            Write::Done => Ok(Outcome::Applied(rejected.events.0)),
            Write::Refused(Some(existing)) => Ok(Outcome::Repeat(existing.events.0)),
            Write::Refused(None) => Err(HandlerError::transient("the reservation that refused ours is gone")),
        }
    }

    /// The order could not be shipped: its stock goes back, once.
    async fn release(&self, failed: &ShippingFailed) -> Result<Outcome, HandlerError> {
        match self.stock.release(&failed.order_id).await? {
            Write::Done => Ok(Outcome::Applied(vec![])),
            // Released before; or never taken (rejected): nothing to give back.
            Write::Refused(Some(r)) if r.status != ReservationStatus::Reserved => Ok(Outcome::Repeat(vec![])),
            Write::Refused(_) => Err(HandlerError::permanent(
                "no_reservation",
                format!("order {} has no reservation to release", failed.order_id),
            )),
        }
    }
}

impl<S: Stock> Service for Inventory<S> {
    const FUNCTION: &'static str = "inventory";
    const HANDLES: &'static [EventType] = HANDLES;
    const PUBLISHES: &'static [EventType] = PUBLISHES;

    async fn handle(&self, event: &Envelope, _: Deadline) -> Result<Outcome, HandlerError> {
        match &event.data {
            Event::PaymentProcessed(paid) => self.reserve(event, paid).await,
            Event::ShippingFailed(failed) => self.release(failed).await,
            other => Err(HandlerError::permanent("unexpected_event_type", other.event_type().to_string())),
        }
    }

    /// A reservation that cannot be made (its retries are spent) is
    /// rejected with `inventory_unavailable`, so the payment is refunded. A
    /// release that cannot be made goes to the DLQ only (`shopsphere audit`
    /// reports the stock).
    async fn give_up(&self, event: &Envelope, why: &str, _: Deadline) -> Result<Option<Outcome>, HandlerError> {
        let Event::PaymentProcessed(paid) = &event.data else { return Ok(None) };
        let failed = InventoryUpdateFailed {
            order_id: paid.order_id.clone(),
            email: paid.email.clone(),
            payment_id: paid.payment_id.clone(),
            amount: paid.amount,
            shortfalls: vec![],
            reason: Reason {
                code: "inventory_unavailable".into(),
                message: format!("stock could not be reserved: {why}"),
            },
        };
        let items = merged(&paid.items);
        let rejected =
            reservation(paid, ReservationStatus::Rejected, &items, Envelope::derive(event, failed, Utc::now()));
        self.reject(rejected).await.map(Some)
    }
}
