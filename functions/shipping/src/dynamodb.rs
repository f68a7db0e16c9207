//! The shipments table (partition key `order_id`).

use aws_sdk_dynamodb::types::TransactWriteItem;
use shopsphere_messaging::TransactWrites;
use shopsphere_runtime::dynamodb::Table;

use crate::domain::{RepoError, Shipment, ShipmentEffect, Shipments};

#[derive(Debug, Clone)]
pub struct ShipmentsTable(pub Table);

impl ShipmentsTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ShipmentsTable(Table::new(client, table, "order_id"))
    }
}

impl Shipments for ShipmentsTable {
    async fn get(&self, order_id: &str) -> Result<Option<Shipment>, RepoError> {
        self.0.get(order_id).await.map_err(|e| RepoError(e.to_string()))
    }
}

impl TransactWrites<ShipmentEffect> for ShipmentsTable {
    fn writes(&self, effect: &ShipmentEffect) -> Vec<TransactWriteItem> {
        match effect {
            ShipmentEffect::Create(shipment) => vec![self.0.put_new(shipment)],
            ShipmentEffect::None => vec![],
        }
    }
}
