//! How an event moves its order: recorded once in the timeline under its
//! event id (the guard), the status moved forward only, failure reasons kept.

use std::future::Future;

use shopsphere_events::{Envelope, Event, EventType, Money, OrderLine, Reason};
use shopsphere_messaging::{HandlerError, Outcome, Service};
use shopsphere_orders::{Happened, OrderStatus, OrderView};
use shopsphere_runtime::{Deadline, TableError, Write};

/// The event types this function consumes: its queue is subscribed to exactly these topics.
pub const HANDLES: &[EventType] = &EventType::ALL;

/// The event types this function publishes (none).
pub const PUBLISHES: &[EventType] = &[];

/// What the order is, as OrderCreated tells it (a row rebuilt from a later
/// event lacks it until then).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDetails {
    pub customer_id: String,
    pub lines: Vec<OrderLine>,
    pub total: Money,
}

/// One event's change to its order's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub order_id: String,
    pub event_id: String,
    pub happened: Happened,
    /// Where the event moves the order, from any of `moves_from` (empty: it moves nothing).
    pub status: OrderStatus,
    pub moves_from: Vec<OrderStatus>,
    pub reason: Option<Reason>,
    pub details: Option<OrderDetails>,
    pub updated_at: String,
}

impl StatusChange {
    pub fn of(event: &Envelope) -> Self {
        let reason = match &event.data {
            Event::PaymentFailed(f) => Some(f.reason.clone()),
            Event::InventoryUpdateFailed(f) => Some(f.reason.clone()),
            Event::PaymentRefunded(r) => Some(r.reason.clone()),
            Event::ShippingFailed(f) => Some(f.reason.clone()),
            _ => None,
        };
        let details = match &event.data {
            Event::OrderCreated(o) => {
                Some(OrderDetails { customer_id: o.customer_id.clone(), lines: o.lines.clone(), total: o.total })
            }
            _ => None,
        };
        StatusChange {
            order_id: event.subject.clone(),
            event_id: event.id.to_string(),
            happened: Happened::of(event),
            status: OrderStatus::after(event.kind()),
            moves_from: OrderStatus::moves_from(event.kind()),
            reason,
            details,
            updated_at: event.time.to_rfc3339(),
        }
    }
}

impl StatusChange {
    /// The milestones this change marks once written; `moved`: it moved the
    /// order's status (a late event joins the timeline and moves nothing).
    pub fn milestones(&self, moved: bool) -> impl Iterator<Item = Milestone> {
        let placed = self.details.is_some().then_some(Milestone::Placed);
        let finalised = (moved && self.status.is_final()).then_some(Milestone::Finalised);
        placed.into_iter().chain(finalised)
    }
}

/// An order's milestone, counted as a metric: order-status sees every
/// order's events, so it sees orders come in and reach a final state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    /// Its OrderCreated.
    Placed,
    /// It reached SHIPPED, REFUNDED or PAYMENT_FAILED.
    Finalised,
}

impl Milestone {
    /// The metric's name (template.yaml's StuckOrdersAlarm and dashboard).
    pub fn metric(self) -> &'static str {
        match self {
            Milestone::Placed => "OrdersPlaced",
            Milestone::Finalised => "OrdersFinalised",
        }
    }
}

/// Where milestones are counted.
pub trait Milestones: Send + Sync {
    fn record(&self, milestone: Milestone);
}

/// What applying a change to the row came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Written.
    Now,
    /// The row's timeline has the event: applied before.
    Repeat,
    /// There is no row (lost, and rebuilt from a replay; or an event that came
    /// before its order).
    Missing,
    /// The order's status is already past where the event moves it.
    StatusAhead,
}

/// The orders table, as order-status writes it.
pub trait OrderRows: Send + Sync {
    /// Apply `change` in one conditional write: unless the row is missing or
    /// has the event, and (`move_status`) only while its status is one of
    /// `change.moves_from`.
    fn apply(
        &self,
        change: &StatusChange,
        move_status: bool,
    ) -> impl Future<Output = Result<Applied, TableError>> + Send;
    /// Write `view` as the order's row unless it has one.
    fn rebuild(&self, view: &OrderView) -> impl Future<Output = Result<Write<OrderView>, TableError>> + Send;
}

pub struct OrderStatusService<O, M> {
    pub orders: O,
    pub milestones: M,
}

/// Writes tried for one event: a status already ahead, then a row missing
/// and created meanwhile, each cost one more.
const APPLY_ATTEMPTS: u32 = 4;

impl<O: OrderRows, M: Milestones> Service for OrderStatusService<O, M> {
    const FUNCTION: &'static str = "order-status";
    const HANDLES: &'static [EventType] = HANDLES;
    const PUBLISHES: &'static [EventType] = PUBLISHES;
    // The view is forward-only and its timeline keyed by event id: applying
    // history again rebuilds a lost row and changes nothing else.
    const REPLAYABLE: bool = true;

    async fn handle(&self, event: &Envelope, _: Deadline) -> Result<Outcome, HandlerError> {
        let change = StatusChange::of(event);
        let mut move_status = !change.moves_from.is_empty();
        for _ in 0..APPLY_ATTEMPTS {
            match self.orders.apply(&change, move_status).await? {
                Applied::Now => {
                    change.milestones(move_status).for_each(|m| self.milestones.record(m));
                    return Ok(Outcome::Applied(vec![]));
                }
                Applied::Repeat => return Ok(Outcome::Repeat(vec![])),
                // A late event: it joins the timeline, the status stays.
                Applied::StatusAhead => move_status = false,
                Applied::Missing => {
                    let mut view = OrderView::from_event(event);
                    view.apply(event);
                    if self.orders.rebuild(&view).await? == Write::Done {
                        change.milestones(view.status.is_final()).for_each(|m| self.milestones.record(m));
                        return Ok(Outcome::Applied(vec![]));
                    }
                }
            }
        }
        Err(HandlerError::transient(format!("order {} kept changing under event {}", change.order_id, change.event_id)))
    }
}
