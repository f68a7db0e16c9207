//! The inventory table (partition key `sku`, number attribute `stock`) and
//! the reservations table (partition key `order_id`).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use shopsphere_runtime::dynamodb::{Change, Table, Transaction, number, string};
use shopsphere_runtime::{TableError, Write};

use crate::domain::{Reservation, ReservationStatus, Reserve, Stock};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StockRow {
    pub sku: String,
    /// Units on hand.
    pub stock: u32,
    /// Units ever put in (the seed, restocks): `received - stock` is what
    /// reservations hold, which `shopsphere audit` checks.
    #[serde(default)]
    pub received: u32,
}

/// Stock per sku.
#[derive(Debug, Clone)]
pub struct InventoryTable(pub Table);

impl InventoryTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        InventoryTable(Table::new(client, table, "sku"))
    }

    /// Set a sku's stock as just received (seeding).
    pub async fn put_stock(&self, sku: &str, stock: u32) -> Result<(), TableError> {
        self.0.put(&StockRow { sku: sku.to_owned(), stock, received: stock }).await
    }
}

/// Stock and the reservation that guards taking it.
#[derive(Debug, Clone)]
pub struct InventoryStore {
    pub stock: InventoryTable,
    pub reservations: Table,
}

impl InventoryStore {
    pub fn new(client: Client, inventory_table: impl Into<String>, reservations_table: impl Into<String>) -> Self {
        InventoryStore {
            stock: InventoryTable::new(client.clone(), inventory_table),
            reservations: Table::new(client, reservations_table, "order_id"),
        }
    }
}

impl Stock for InventoryStore {
    /// One TransactWriteItems: the reservation (unless the order has one) and
    /// `stock = stock - qty` where `stock >= qty` for every sku.
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserve, TableError> {
        let stock = &self.stock.0;
        let mut actions = vec![self.reservations.tx_put_new(reservation)];
        actions.extend(reservation.items.iter().map(|item| {
            let take = Change::new("SET stock = stock - :qty").when("stock >= :qty").value(":qty", number(item.qty));
            stock.tx_update(&item.sku, &take)
        }));
        let reasons = match self.reservations.transact(actions).await? {
            Transaction::Committed => return Ok(Reserve::Reserved),
            Transaction::Cancelled(reasons) => reasons,
        };
        let guard = reasons.into_iter().next().filter(|r| r.condition_failed);
        match guard {
            None => Ok(Reserve::Short),
            Some(refused) => {
                let existing = match refused.item {
                    Some(item) => self.reservations.decode(item)?,
                    // An emulator that does not return the item: read it.
                    None => self.reservations.get(&reservation.order_id).await?.ok_or_else(|| {
                        TableError::unavailable(self.reservations.name(), "the reservation that refused ours is gone")
                    })?,
                };
                Ok(Reserve::Existing(existing))
            }
        }
    }

    async fn reject(&self, reservation: &Reservation) -> Result<Write<Reservation>, TableError> {
        self.reservations.put_new(reservation).await
    }

    /// One TransactWriteItems: the reservation RESERVED → RELEASED and
    /// `stock = stock + qty` for each of its skus.
    async fn release(&self, order_id: &str) -> Result<Write<Reservation>, TableError> {
        let Some(reservation) = self.reservations.get::<Reservation>(order_id).await? else {
            return Ok(Write::Refused(None));
        };
        if reservation.status != ReservationStatus::Reserved {
            return Ok(Write::Refused(Some(reservation)));
        }
        let released = Change::new("SET #status = :released")
            .when("#status = :reserved")
            .name("#status", "status")
            .value(":released", string("RELEASED"))
            .value(":reserved", string("RESERVED"));
        let mut actions = vec![self.reservations.tx_update(order_id, &released)];
        actions.extend(reservation.items.iter().map(|item| {
            let give = Change::new("ADD stock :qty").value(":qty", number(item.qty));
            self.stock.0.tx_update(&item.sku, &give)
        }));
        match self.reservations.transact(actions).await? {
            Transaction::Committed => Ok(Write::Done),
            Transaction::Cancelled(reasons) => {
                let item = reasons.into_iter().next().and_then(|r| r.item);
                Ok(Write::Refused(item.map(|i| self.reservations.decode(i)).transpose()?))
            }
        }
    }

    async fn levels(&self, skus: &[String]) -> Result<HashMap<String, u32>, TableError> {
        let rows: Vec<StockRow> = self.stock.0.batch_get(skus).await?;
        Ok(rows.into_iter().map(|r| (r.sku, r.stock)).collect())
    }
}
