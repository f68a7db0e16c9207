//! The payments table (partition key `order_id`).

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use shopsphere_messaging::TransactWrites;
use shopsphere_runtime::dynamodb::Table;

use crate::domain::{PaymentEffect, PaymentRecord, Payments, RepoError};

#[derive(Debug, Clone)]
pub struct PaymentsTable(pub Table);

impl PaymentsTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        PaymentsTable(Table::new(client, table, "order_id"))
    }
}

impl Payments for PaymentsTable {
    async fn get(&self, order_id: &str) -> Result<Option<PaymentRecord>, RepoError> {
        self.0.get(order_id).await.map_err(|e| RepoError(e.to_string()))
    }
}

impl TransactWrites<PaymentEffect> for PaymentsTable {
    fn writes(&self, effect: &PaymentEffect) -> Vec<TransactWriteItem> {
        match effect {
            PaymentEffect::None => vec![],
            PaymentEffect::Record(record) => vec![self.0.put_new(record)],
            PaymentEffect::Refund { order_id, refund_id, reason } => {
                let update = Update::builder()
                    .table_name(self.0.name())
                    .set_key(Some(self.0.key_of(order_id)))
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
