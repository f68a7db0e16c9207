//! Fakes of the catalog and orders tables (API tests only).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use shopsphere_idempotency::{Idempotency, InMemoryStore};
use shopsphere_messaging::{ApplyEffect, InMemorySink};
use shopsphere_order_api::{Api, Catalog, NewOrder, Orders};
use shopsphere_orders::{OrderView, Product, RepoError};

pub struct FakeCatalog(pub Vec<Product>);

impl Catalog for &FakeCatalog {
    async fn products(&self, skus: &[String]) -> Result<HashMap<String, Product>, RepoError> {
        Ok(self.0.iter().filter(|p| skus.contains(&p.sku)).map(|p| (p.sku.clone(), p.clone())).collect())
    }

    async fn all(&self) -> Result<Vec<Product>, RepoError> {
        Ok(self.0.clone())
    }
}

pub fn catalog() -> FakeCatalog {
    let product =
        |sku: &str, name: &str, price| Product { sku: sku.into(), name: name.into(), price, currency: "EUR".into() };
    FakeCatalog(vec![product("SKU-MUG", "Mug", 1250), product("SKU-TEE", "T-shirt", 2000)])
}

#[derive(Default)]
pub struct InMemoryOrders(pub Mutex<HashMap<String, OrderView>>);

impl Orders for &InMemoryOrders {
    async fn get(&self, order_id: &str) -> Result<Option<OrderView>, RepoError> {
        Ok(self.0.lock().unwrap().get(order_id).cloned())
    }
}

impl ApplyEffect<NewOrder> for &InMemoryOrders {
    fn apply(&self, order: &NewOrder) -> Result<(), String> {
        let mut rows = self.0.lock().unwrap();
        if rows.contains_key(&order.0.order_id) {
            return Err("order exists".into());
        }
        rows.insert(order.0.order_id.clone(), order.0.clone());
        Ok(())
    }
}

pub type TestApi<'a> = Api<&'a FakeCatalog, &'a InMemoryOrders, InMemorySink<&'a InMemoryOrders>, Arc<InMemoryStore>>;

pub fn api<'a>(catalog: &'a FakeCatalog, orders: &'a InMemoryOrders) -> TestApi<'a> {
    let store = Arc::new(InMemoryStore::new());
    Api {
        catalog,
        orders,
        sink: InMemorySink { store: store.clone(), state: orders },
        idempotency: Idempotency::new(store),
    }
}
