//! The catalog and orders tables, and the Idempotency-Key records, as order-api uses them.

use std::collections::HashMap;

use shopsphere_idempotency::{CommitError, DynamoDbStore, Ticket};
use shopsphere_orders::{CatalogTable, OrderView, OrdersTable, Product};
use shopsphere_runtime::{TableError, Write};

use crate::domain::{Accepted, Catalog, Orders};

impl Catalog for CatalogTable {
    async fn products(&self, skus: &[String]) -> Result<HashMap<String, Product>, TableError> {
        CatalogTable::products(self, skus).await
    }

    async fn all(&self) -> Result<Vec<Product>, TableError> {
        CatalogTable::all(self).await
    }
}

/// The orders table with the request records beside it.
#[derive(Debug, Clone)]
pub struct OrderStore {
    pub orders: OrdersTable,
    pub requests: DynamoDbStore,
}

impl Orders for OrderStore {
    async fn get(&self, order_id: &str) -> Result<Option<OrderView>, TableError> {
        self.orders.get(order_id).await
    }

    async fn create(&self, order: &OrderView) -> Result<Write<OrderView>, TableError> {
        self.orders.create(order).await
    }

    /// One TransactWriteItems: the order row (`attribute_not_exists(order_id)`)
    /// and the key's COMPLETED record.
    async fn create_keyed(&self, ticket: &Ticket, order: &OrderView, accepted: &Accepted) -> Result<(), CommitError> {
        self.requests.commit_with(ticket, accepted, vec![self.orders.0.tx_put_new(order)]).await
    }
}
