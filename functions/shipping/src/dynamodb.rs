//! The shipments table (partition key `order_id`): the shipment row is its order's guard.

use shopsphere_runtime::dynamodb::Table;
use shopsphere_runtime::{TableError, Write};

use crate::domain::{Shipment, Shipments};

#[derive(Debug, Clone)]
pub struct ShipmentsTable(pub Table);

impl ShipmentsTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ShipmentsTable(Table::new(client, table, "order_id"))
    }
}

impl Shipments for ShipmentsTable {
    /// PutItem with `attribute_not_exists(order_id)`; a refusal returns the row (ALL_OLD).
    async fn create(&self, shipment: &Shipment) -> Result<Write<Shipment>, TableError> {
        self.0.put_new(shipment).await
    }
}
