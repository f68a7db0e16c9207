//! The payments table (partition key `order_id`).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use shopsphere_messaging::TransactWrites;

use crate::domain::{PaymentEffect, PaymentRecord, Payments, RepoError};

#[derive(Debug, Clone)]
pub struct PaymentsTable {
    client: Client,
    table: String,
}

impl PaymentsTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        PaymentsTable { client, table: table.into() }
    }
}

impl Payments for PaymentsTable {
    async fn get(&self, order_id: &str) -> Result<Option<PaymentRecord>, RepoError> {
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

impl TransactWrites<PaymentEffect> for PaymentsTable {
    fn writes(&self, effect: &PaymentEffect) -> Vec<TransactWriteItem> {
        match effect {
            PaymentEffect::None => vec![],
            PaymentEffect::Record(record) => {
                let item = serde_dynamo::to_item(record).expect("a payment record maps to an item");
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(order_id)")
                    .build()
                    .expect("table and item are set");
                vec![TransactWriteItem::builder().put(put).build()]
            }
            PaymentEffect::Refund { order_id, refund_id, reason } => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .key("order_id", AttributeValue::S(order_id.clone()))
                    .update_expression("SET #status = :refunded, refund_id = :refund_id, reason = :reason")
                    .condition_expression("#status = :charged")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":refunded", AttributeValue::S("REFUNDED".into()))
                    .expression_attribute_values(":charged", AttributeValue::S("CHARGED".into()))
                    .expression_attribute_values(":refund_id", AttributeValue::S(refund_id.clone()))
                    .expression_attribute_values(
                        ":reason",
                        AttributeValue::M(serde_dynamo::to_item(reason).expect("a reason maps to a map")),
                    )
                    .build()
                    .expect("table, key and expression are set");
                vec![TransactWriteItem::builder().update(update).build()]
            }
        }
    }
}
