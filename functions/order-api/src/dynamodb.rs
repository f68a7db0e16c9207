//! The catalog and orders tables, the Idempotency-Key records and the
//! payment-tokens table (deposits only), as order-api uses them.

use std::collections::HashMap;

use shopsphere_idempotency::{CommitError, DynamoDbStore, Ticket};
use shopsphere_orders::{CatalogTable, OrderView, OrdersTable, Product};
use shopsphere_payment_tokens::{PaymentToken, PaymentTokensTable};
use shopsphere_runtime::dynamodb::Transaction;
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

/// The orders table with the request records and the payment tokens beside it.
#[derive(Debug, Clone)]
pub struct OrderStore {
    pub orders: OrdersTable,
    pub requests: DynamoDbStore,
    pub tokens: PaymentTokensTable,
}

impl Orders for OrderStore {
    async fn get(&self, order_id: &str) -> Result<Option<OrderView>, TableError> {
        self.orders.get(order_id).await
    }

    /// One TransactWriteItems: the order row and its token, each where its
    /// order id is new.
    async fn create(&self, order: &OrderView, token: &PaymentToken) -> Result<Write<OrderView>, TableError> {
        let table = &self.orders.0;
        match table.transact(vec![table.tx_put_new(order), self.tokens.tx_deposit(token)]).await? {
            Transaction::Committed => Ok(Write::Done),
            Transaction::Cancelled(actions) => {
                let row = actions.into_iter().next().and_then(|order| order.item);
                Ok(Write::Refused(row.map(|item| table.decode(item)).transpose()?))
            }
        }
    }

    /// One TransactWriteItems: the order row (`attribute_not_exists(order_id)`),
    /// its token and the key's COMPLETED record.
    async fn create_keyed(
        &self,
        ticket: &Ticket,
        order: &OrderView,
        token: &PaymentToken,
        accepted: &Accepted,
    ) -> Result<(), CommitError> {
        let writes = vec![self.orders.0.tx_put_new(order), self.tokens.tx_deposit(token)];
        self.requests.commit_with(ticket, accepted, writes).await
    }
}
