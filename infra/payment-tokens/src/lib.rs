//! The payment-token hand-over (docs/security.md, personal data and tokens).
//!
//! The client's payment token is needed by payment only, once, to charge the
//! order. order-api deposits it in the payment-tokens table in the same
//! transaction that writes the order row (so an order exists only with its
//! token), payment reads it for the charge and deletes it once the charge is
//! decided; the table's TTL removes any token left behind. No event, log,
//! archive or DLQ carries it. IAM lets order-api put and payment get and
//! delete; nothing else touches the table.

use std::fmt;

use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};
use shopsphere_runtime::TableError;
use shopsphere_runtime::dynamodb::Table;

/// How long a token is kept at most: the outbox publishes an order's
/// OrderCreated within the stream's 24 h retention, and payment's retries of
/// it end within a day more (its last one declines the order).
pub const KEPT_FOR_SECONDS: i64 = 48 * 3600;

/// One order's token: the payment-tokens table's row.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentToken {
    pub order_id: String,
    /// Opaque token from the client's payment form (never card data).
    pub token: String,
    /// Epoch seconds from which the token is void: the table's TTL attribute
    /// (DynamoDB deletes expired rows within days, so reads check it too).
    pub expires_at: i64,
}

impl PaymentToken {
    /// `order_id`'s token, deposited at `now_seconds` (epoch).
    pub fn new(order_id: impl Into<String>, token: impl Into<String>, now_seconds: i64) -> Self {
        PaymentToken { order_id: order_id.into(), token: token.into(), expires_at: now_seconds + KEPT_FOR_SECONDS }
    }

    pub fn is_live(&self, now_seconds: i64) -> bool {
        now_seconds < self.expires_at
    }
}

/// The token never appears in a log or a panic message.
impl fmt::Debug for PaymentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PaymentToken")
            .field("order_id", &self.order_id)
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The payment-tokens table (partition key `order_id`, TTL on `expires_at`).
#[derive(Debug, Clone)]
pub struct PaymentTokensTable(pub Table);

impl PaymentTokensTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        PaymentTokensTable(Table::new(client, table, "order_id"))
    }

    /// The deposit of `token`, for the transaction that writes its order
    /// (a new order id has no token yet: the put is conditioned on it).
    pub fn tx_deposit(&self, token: &PaymentToken) -> TransactWriteItem {
        self.0.tx_put_new(token)
    }

    /// The order's token, unless there is none or it expired (read consistently).
    pub async fn live(&self, order_id: &str, now_seconds: i64) -> Result<Option<PaymentToken>, TableError> {
        Ok(self.0.get::<PaymentToken>(order_id).await?.filter(|t| t.is_live(now_seconds)))
    }

    /// Delete the order's token (done when it is not there).
    pub async fn forget(&self, order_id: &str) -> Result<(), TableError> {
        self.0.delete(order_id).await
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::types::AttributeValue;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    fn keyed(key: Option<&std::collections::HashMap<String, AttributeValue>>, order_id: &str) -> bool {
        key.and_then(|k| k.get("order_id")) == Some(&AttributeValue::S(order_id.into()))
    }

    #[test]
    fn a_token_is_live_for_48_hours_and_never_printed() {
        let token = PaymentToken::new("o-1", "tok_visa", 1_000);
        assert!(token.is_live(1_000 + KEPT_FOR_SECONDS - 1));
        assert!(!token.is_live(1_000 + KEPT_FOR_SECONDS));
        let printed = format!("{token:?}");
        assert!(printed.contains("o-1") && !printed.contains("tok_visa"), "{printed}");
    }

    #[test]
    fn the_deposit_is_a_put_of_a_new_row_with_its_expiry() {
        let client = mock_client!(aws_sdk_dynamodb, []);
        let table = PaymentTokensTable::new(client, "tokens");
        let put = table.tx_deposit(&PaymentToken::new("o-1", "tok_visa", 1_000)).put.expect("a put");
        assert_eq!(put.table_name, "tokens");
        assert_eq!(put.condition_expression.as_deref(), Some("attribute_not_exists(order_id)"));
        let row: PaymentToken = serde_dynamo::from_item(put.item).unwrap();
        assert_eq!(row, PaymentToken::new("o-1", "tok_visa", 1_000));
        assert_eq!(row.expires_at, 1_000 + KEPT_FOR_SECONDS);
    }

    #[tokio::test]
    async fn an_expired_token_not_yet_deleted_by_ttl_is_not_read() {
        let stored: std::collections::HashMap<String, AttributeValue> =
            serde_dynamo::to_item(PaymentToken::new("o-1", "tok_visa", 1_000)).unwrap();
        let get = mock!(aws_sdk_dynamodb::Client::get_item)
            .match_requests(|r| r.consistent_read == Some(true) && keyed(r.key(), "o-1"))
            .then_output(move || GetItemOutput::builder().set_item(Some(stored.clone())).build());
        let table = PaymentTokensTable::new(mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&get]), "tokens");
        assert!(table.live("o-1", 1_001).await.unwrap().is_some());
        assert!(table.live("o-1", 1_000 + KEPT_FOR_SECONDS).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn forgetting_deletes_the_row_by_order_id() {
        let delete = mock!(aws_sdk_dynamodb::Client::delete_item)
            .match_requests(|r| r.table_name() == Some("tokens") && keyed(r.key(), "o-1"))
            .then_output(|| DeleteItemOutput::builder().build());
        let table = PaymentTokensTable::new(mock_client!(aws_sdk_dynamodb, [&delete]), "tokens");
        table.forget("o-1").await.unwrap();
        assert_eq!(delete.num_calls(), 1);
    }
}
