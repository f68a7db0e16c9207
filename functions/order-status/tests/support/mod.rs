//! Fake of the orders table (domain and handler tests only).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use shopsphere_messaging::{ApplyEffect, Consumer, InMemoryPublisher, InMemorySink};
use shopsphere_order_status::{OrderStatusService, Orders, StatusEffect};
use shopsphere_orders::OrderView;

#[derive(Default)]
pub struct InMemoryOrders(pub Mutex<HashMap<String, OrderView>>);

impl InMemoryOrders {
    pub fn view(&self, order_id: &str) -> OrderView {
        self.0.lock().unwrap()[order_id].clone()
    }
}

impl Orders for &InMemoryOrders {
    async fn get(&self, order_id: &str) -> Result<Option<OrderView>, String> {
        Ok(self.0.lock().unwrap().get(order_id).cloned())
    }
}

impl ApplyEffect<StatusEffect> for &InMemoryOrders {
    fn apply(&self, effect: &StatusEffect) -> Result<(), String> {
        let StatusEffect(Some(view)) = effect else { return Ok(()) };
        let mut rows = self.0.lock().unwrap();
        let stored = rows.get(&view.order_id).map(|v| v.version).unwrap_or(0);
        if stored + 1 != view.version {
            return Err(format!("version {stored} is not {}", view.version - 1));
        }
        rows.insert(view.order_id.clone(), view.clone());
        Ok(())
    }
}

pub fn consumer(
    orders: &InMemoryOrders,
) -> Consumer<
    OrderStatusService<&InMemoryOrders>,
    InMemorySink<&InMemoryOrders>,
    std::sync::Arc<shopsphere_idempotency::InMemoryStore>,
    InMemoryPublisher,
> {
    Consumer::in_memory(OrderStatusService { orders }, orders)
}
