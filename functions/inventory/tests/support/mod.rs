//! Fake of the inventory and reservations tables (domain and handler tests
//! only), with DynamoDB's semantics: one reservation per order, all stock or none.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use shopsphere_inventory::Inventory;
use shopsphere_inventory::domain::{Reservation, ReservationStatus, Reserve, Stock};
use shopsphere_messaging::{Consumer, InMemoryPublisher};
use shopsphere_runtime::{TableError, Write};

#[derive(Default)]
pub struct InMemoryStock {
    pub levels: Mutex<HashMap<String, u32>>,
    pub reservations: Mutex<HashMap<String, Reservation>>,
}

impl InMemoryStock {
    pub fn with(levels: &[(&str, u32)]) -> Self {
        InMemoryStock {
            levels: Mutex::new(levels.iter().map(|(s, n)| (s.to_string(), *n)).collect()),
            reservations: Mutex::default(),
        }
    }

    pub fn level(&self, sku: &str) -> u32 {
        self.levels.lock().unwrap()[sku]
    }

    pub fn set(&self, sku: &str, level: u32) {
        self.levels.lock().unwrap().insert(sku.to_owned(), level);
    }

    pub fn reservation(&self, order_id: &str) -> Option<Reservation> {
        self.reservations.lock().unwrap().get(order_id).cloned()
    }
}

impl Stock for &InMemoryStock {
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserve, TableError> {
        let mut reservations = self.reservations.lock().unwrap();
        if let Some(existing) = reservations.get(&reservation.order_id) {
            return Ok(Reserve::Existing(existing.clone()));
        }
        let mut stock = self.levels.lock().unwrap();
        if reservation.items.iter().any(|i| stock.get(&i.sku).is_none_or(|n| *n < i.qty)) {
            return Ok(Reserve::Short);
        }
        for i in &reservation.items {
            *stock.get_mut(&i.sku).unwrap() -= i.qty;
        }
        reservations.insert(reservation.order_id.clone(), reservation.clone());
        Ok(Reserve::Reserved)
    }

    async fn reject(&self, reservation: &Reservation) -> Result<Write<Reservation>, TableError> {
        let mut reservations = self.reservations.lock().unwrap();
        if let Some(existing) = reservations.get(&reservation.order_id) {
            return Ok(Write::Refused(Some(existing.clone())));
        }
        reservations.insert(reservation.order_id.clone(), reservation.clone());
        Ok(Write::Done)
    }

    async fn release(&self, order_id: &str) -> Result<Write<Reservation>, TableError> {
        let mut reservations = self.reservations.lock().unwrap();
        let Some(reservation) = reservations.get_mut(order_id) else { return Ok(Write::Refused(None)) };
        if reservation.status != ReservationStatus::Reserved {
            return Ok(Write::Refused(Some(reservation.clone())));
        }
        let mut stock = self.levels.lock().unwrap();
        for i in &reservation.items {
            *stock.get_mut(&i.sku).unwrap() += i.qty;
        }
        reservation.status = ReservationStatus::Released;
        Ok(Write::Done)
    }

    async fn levels(&self, skus: &[String]) -> Result<HashMap<String, u32>, TableError> {
        let mut unique = skus.to_vec();
        unique.sort();
        unique.dedup();
        if unique.len() != skus.len() {
            return Err(TableError::corrupt("inventory", "ValidationException: duplicate keys"));
        }
        let stock = self.levels.lock().unwrap();
        Ok(skus.iter().filter_map(|s| stock.get(s).map(|n| (s.clone(), *n))).collect())
    }
}

pub type TestConsumer<'a> = Consumer<Inventory<&'a InMemoryStock>, InMemoryPublisher>;

pub fn consumer(stock: &InMemoryStock) -> TestConsumer<'_> {
    Consumer::in_memory(Inventory { stock })
}
