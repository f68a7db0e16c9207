//! Fake of the inventory table (domain and handler tests only).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use shopsphere_inventory::domain::{RepoError, StockLevels};
use shopsphere_inventory::{Inventory, StockEffect};
use shopsphere_messaging::{ApplyEffect, Consumer, InMemoryPublisher, InMemorySink};

#[derive(Default)]
pub struct InMemoryStock(pub Mutex<HashMap<String, u32>>);

impl InMemoryStock {
    pub fn with(levels: &[(&str, u32)]) -> Self {
        InMemoryStock(Mutex::new(levels.iter().map(|(s, n)| (s.to_string(), *n)).collect()))
    }

    pub fn level(&self, sku: &str) -> u32 {
        self.0.lock().unwrap()[sku]
    }
}

impl StockLevels for &InMemoryStock {
    async fn levels(&self, skus: &[String]) -> Result<HashMap<String, u32>, RepoError> {
        let stock = self.0.lock().unwrap();
        Ok(skus.iter().filter_map(|s| stock.get(s).map(|n| (s.clone(), *n))).collect())
    }
}

impl ApplyEffect<StockEffect> for &InMemoryStock {
    fn apply(&self, effect: &StockEffect) -> Result<(), String> {
        let StockEffect::Deduct(items) = effect else { return Ok(()) };
        let mut stock = self.0.lock().unwrap();
        if let Some(short) = items.iter().find(|i| stock.get(&i.sku).is_none_or(|n| *n < i.qty)) {
            return Err(format!("stock >= {} failed for {}", short.qty, short.sku));
        }
        for i in items {
            *stock.get_mut(&i.sku).unwrap() -= i.qty;
        }
        Ok(())
    }
}

pub type TestConsumer<'a> = Consumer<
    Inventory<&'a InMemoryStock>,
    InMemorySink<&'a InMemoryStock>,
    std::sync::Arc<shopsphere_idempotency::InMemoryStore>,
    InMemoryPublisher,
>;

pub fn consumer(stock: &InMemoryStock) -> TestConsumer<'_> {
    Consumer::in_memory(Inventory { stock }, stock)
}
