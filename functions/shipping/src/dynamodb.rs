//! The shipments table (partition key `order_id`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use shopsphere_messaging::TransactWrites;

use crate::domain::{RepoError, Shipment, ShipmentEffect, Shipments};

#[derive(Debug, Clone)]
pub struct ShipmentsTable {
    client: Client,
    table: String,
}

impl ShipmentsTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        ShipmentsTable { client, table: table.into() }
    }
}

impl Shipments for ShipmentsTable {
    async fn get(&self, order_id: &str) -> Result<Option<Shipment>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("order_id", AttributeValue::S(order_id.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError(e.to_string()))?;
        out.item.map(|item| serde_dynamo::from_item(item).map_err(|e| RepoError(e.to_string()))).transpose()
    }
}

impl TransactWrites<ShipmentEffect> for ShipmentsTable {
    fn writes(&self, effect: &ShipmentEffect) -> Vec<TransactWriteItem> {
        let ShipmentEffect::Create(shipment) = effect else { return vec![] };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(serde_dynamo::to_item(shipment).expect("a shipment maps to an item")))
            .condition_expression("attribute_not_exists(order_id)")
            .build()
            .expect("table and item are set");
        vec![TransactWriteItem::builder().put(put).build()]
    }
}
