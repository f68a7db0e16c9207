//! Orders as the API makes them: lines priced from the catalog (never from
//! the client), totals in checked arithmetic, a new order row PENDING, owned
//! by the customer the caller's token names (never the body).

use std::collections::HashMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shopsphere_events::{Currency, Money, OrderLine};
use shopsphere_idempotency::{CommitError, Ticket};
use shopsphere_orders::{OrderStatus, OrderView, Product};
use shopsphere_payment_tokens::PaymentToken;
use shopsphere_runtime::{TableError, Write, now_ms};

use crate::request::{FieldError, OrderRequest};

/// The catalog, as order-api reads it.
pub trait Catalog: Send + Sync {
    /// The products of `skus` that exist; `skus` holds each sku once.
    fn products(&self, skus: &[String]) -> impl Future<Output = Result<HashMap<String, Product>, TableError>> + Send;
    fn all(&self) -> impl Future<Output = Result<Vec<Product>, TableError>> + Send;
}

/// The orders table, as order-api reads and writes it.
pub trait Orders: Send + Sync {
    fn get(&self, order_id: &str) -> impl Future<Output = Result<Option<OrderView>, TableError>> + Send;
    /// Store a new order that came without an Idempotency-Key, and deposit
    /// its payment token, in one transaction.
    fn create(
        &self,
        order: &OrderView,
        token: &PaymentToken,
    ) -> impl Future<Output = Result<Write<OrderView>, TableError>> + Send;
    /// Store a new order, deposit its payment token and complete the
    /// request's key with `accepted`, in one transaction.
    fn create_keyed(
        &self,
        ticket: &Ticket,
        order: &OrderView,
        token: &PaymentToken,
        accepted: &Accepted,
    ) -> impl Future<Output = Result<(), CommitError>> + Send;
}

/// The caller: the subject (`sub`) of the token the API's JWT authorizer
/// verified. Every order belongs to one; only its customer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer(String);

/// Longest subject taken as a customer id (Cognito's are 36-character UUIDs).
pub const MAX_SUBJECT_CHARS: usize = 255;

impl Customer {
    /// The customer a token subject names; `None` for an empty or oversized one.
    pub fn from_subject(subject: &str) -> Option<Customer> {
        let fits = !subject.trim().is_empty() && subject.chars().count() <= MAX_SUBJECT_CHARS;
        fits.then(|| Customer(subject.to_owned()))
    }

    pub fn id(&self) -> &str {
        &self.0
    }

    /// Whether `order` is this customer's: another customer's order is, to
    /// them, no order at all.
    pub fn owns(&self, order: &OrderView) -> bool {
        order.customer_id == self.0
    }

    /// The record id of this customer's Idempotency-Key `key`: two customers
    /// using one key make two orders. The subject goes in as its SHA-256, so
    /// the prefix is fixed-length (no subject can run into the key) and
    /// holds no customer id in clear.
    pub fn idempotency_record(&self, key: &str) -> String {
        format!("order-api#{}#{key}", hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

/// The 202 answer, also what a repeat with the same Idempotency-Key gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    pub order_id: String,
    pub status: String,
    pub total: Money,
}

/// An order's lines and total, priced from `catalog` (the products of its skus).
pub fn price(
    order: &OrderRequest,
    catalog: &HashMap<String, Product>,
) -> Result<(Vec<OrderLine>, Money), Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut lines = Vec::new();
    let mut currency: Option<Currency> = None;
    for (i, item) in order.items.iter().enumerate() {
        let field = format!("items[{i}].sku");
        let Some(product) = catalog.get(&item.sku) else {
            errors.push(FieldError { field, message: format!("{} is not in the catalog", item.sku) });
            continue;
        };
        let (Ok(product_currency), true) = (product.currency.parse::<Currency>(), product.price >= 0) else {
            errors.push(FieldError { field, message: "has no valid price".into() });
            continue;
        };
        if *currency.get_or_insert(product_currency) != product_currency {
            errors.push(FieldError { field, message: "is priced in another currency".into() });
            continue;
        }
        let Some(line_total) = product.price.checked_mul(i64::from(item.qty)) else {
            errors.push(FieldError {
                field: format!("items[{i}].qty"),
                message: "makes the line total too large".into(),
            });
            continue;
        };
        lines.push(OrderLine {
            sku: product.sku.clone(),
            name: product.name.clone(),
            qty: item.qty,
            unit_price: product.price,
            line_total,
        });
    }
    let total = lines.iter().try_fold(0i64, |sum, l| sum.checked_add(l.line_total));
    match (currency, total) {
        (Some(currency), Some(amount)) if errors.is_empty() => Ok((lines, Money { amount, currency })),
        (_, None) => {
            errors.push(FieldError { field: "items".into(), message: "make the order total too large".into() });
            Err(errors)
        }
        _ => Err(errors),
    }
}

/// The row of a new order (PENDING, nothing applied yet) and its payment
/// token, which is kept apart from the row for payment alone.
pub fn new_order(
    customer: &Customer,
    order: OrderRequest,
    lines: Vec<OrderLine>,
    total: Money,
    correlation_id: String,
    traceparent: Option<String>,
    now: &str,
) -> (OrderView, PaymentToken) {
    let order_id = uuid::Uuid::new_v4().to_string();
    let token = PaymentToken::new(order_id.clone(), order.payment_token, now_ms() / 1000);
    let view = OrderView {
        order_id,
        status: OrderStatus::Pending,
        customer_id: customer.0.clone(),
        email: order.email,
        lines,
        total,
        correlation_id,
        traceparent,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        timeline: Default::default(),
        reasons: vec![],
        rebuilt_from: None,
    };
    (view, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_a_customer_when_present_and_bounded() {
        assert_eq!(Customer::from_subject("cus-ada").map(|c| c.id().to_owned()), Some("cus-ada".into()));
        assert!(Customer::from_subject("").is_none());
        assert!(Customer::from_subject("  ").is_none());
        assert!(Customer::from_subject(&"x".repeat(MAX_SUBJECT_CHARS + 1)).is_none());
    }

    #[test]
    fn idempotency_records_are_per_customer_and_unambiguous() {
        let (ada, bob) = (Customer::from_subject("ada").unwrap(), Customer::from_subject("bob").unwrap());
        assert_ne!(ada.idempotency_record("k1"), bob.idempotency_record("k1"));
        assert_eq!(ada.idempotency_record("k1"), ada.idempotency_record("k1"));
        // A subject ending like a key cannot stand for another's record.
        let (a, ab) = (Customer::from_subject("a").unwrap(), Customer::from_subject("a#b").unwrap());
        assert_ne!(a.idempotency_record("b#k"), ab.idempotency_record("k"));
        assert!(ada.idempotency_record("k1").starts_with("order-api#"), "the role's leading-key condition");
        assert!(!ada.idempotency_record("k1").contains("ada"), "no customer id in clear");
    }
}
