//! Orders as the API makes them: lines priced from the catalog (never from
//! the client), totals in checked arithmetic, a new order row PENDING.

use std::collections::HashMap;
use std::future::Future;

use serde::{Deserialize, Serialize};
use shopsphere_events::{Currency, Money, OrderLine};
use shopsphere_idempotency::{CommitError, Ticket};
use shopsphere_orders::{OrderStatus, OrderView, Product};
use shopsphere_runtime::{TableError, Write};

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
    /// Store a new order that came without an Idempotency-Key.
    fn create(&self, order: &OrderView) -> impl Future<Output = Result<Write<OrderView>, TableError>> + Send;
    /// Store a new order and complete the request's key with `accepted`, in one transaction.
    fn create_keyed(
        &self,
        ticket: &Ticket,
        order: &OrderView,
        accepted: &Accepted,
    ) -> impl Future<Output = Result<(), CommitError>> + Send;
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

/// The row of a new order: PENDING, nothing applied yet.
pub fn new_order(
    order: OrderRequest,
    lines: Vec<OrderLine>,
    total: Money,
    correlation_id: String,
    traceparent: Option<String>,
    now: &str,
) -> OrderView {
    OrderView {
        order_id: uuid::Uuid::new_v4().to_string(),
        status: OrderStatus::Pending,
        customer_id: order.customer_id,
        email: order.email,
        lines,
        total,
        payment_token: order.payment_token,
        correlation_id,
        traceparent,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        timeline: Default::default(),
        reasons: vec![],
        rebuilt_from: None,
    }
}
