//! Fake of the orders table as order-status writes it (domain and handler
//! tests only): the conditions of the real UpdateItem, on a row in memory.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use shopsphere_messaging::{Consumer, InMemoryPublisher};
use shopsphere_order_status::OrderStatusService;
use shopsphere_order_status::domain::{Applied, Milestone, Milestones, OrderRows, StatusChange};
use shopsphere_orders::OrderView;
use shopsphere_runtime::{TableError, Write};

#[derive(Default)]
pub struct InMemoryOrders(pub Mutex<HashMap<String, OrderView>>);

impl InMemoryOrders {
    pub fn view(&self, order_id: &str) -> OrderView {
        self.0.lock().unwrap()[order_id].clone()
    }
}

impl OrderRows for &InMemoryOrders {
    async fn apply(&self, change: &StatusChange, move_status: bool) -> Result<Applied, TableError> {
        let mut rows = self.0.lock().unwrap();
        let Some(row) = rows.get_mut(&change.order_id) else { return Ok(Applied::Missing) };
        if row.timeline.contains_key(&change.event_id) {
            return Ok(Applied::Repeat);
        }
        if move_status && !change.moves_from.contains(&row.status) {
            return Ok(Applied::StatusAhead);
        }
        row.timeline.insert(change.event_id.clone(), change.happened.clone());
        row.updated_at = change.updated_at.clone();
        if move_status {
            row.status = change.status;
        }
        row.reasons.extend(change.reason.clone());
        if let Some(d) = &change.details {
            row.customer_id = d.customer_id.clone();
            row.lines = d.lines.clone();
            row.total = d.total;
        }
        Ok(Applied::Now)
    }

    async fn rebuild(&self, view: &OrderView) -> Result<Write<OrderView>, TableError> {
        let mut rows = self.0.lock().unwrap();
        if let Some(existing) = rows.get(&view.order_id) {
            return Ok(Write::Refused(Some(existing.clone())));
        }
        rows.insert(view.order_id.clone(), view.clone());
        Ok(Write::Done)
    }
}

/// The milestones recorded, in order.
#[derive(Default)]
pub struct InMemoryMilestones(pub Mutex<Vec<Milestone>>);

impl Milestones for InMemoryMilestones {
    fn record(&self, milestone: Milestone) {
        self.0.lock().unwrap().push(milestone);
    }
}

impl Milestones for &InMemoryMilestones {
    fn record(&self, milestone: Milestone) {
        (*self).record(milestone)
    }
}

pub fn consumer(
    orders: &InMemoryOrders,
) -> Consumer<OrderStatusService<&InMemoryOrders, InMemoryMilestones>, InMemoryPublisher> {
    Consumer::in_memory(OrderStatusService { orders, milestones: InMemoryMilestones::default() })
}

pub fn counting_consumer<'a>(
    orders: &'a InMemoryOrders,
    milestones: &'a InMemoryMilestones,
) -> Consumer<OrderStatusService<&'a InMemoryOrders, &'a InMemoryMilestones>, InMemoryPublisher> {
    Consumer::in_memory(OrderStatusService { orders, milestones })
}
