//! Fakes of the catalog and orders tables (API tests only), as strict as
//! DynamoDB where it matters: a read that names a key twice is refused.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use shopsphere_idempotency::{CommitError, Idempotency, IdempotencyStore, InMemoryStore, StoreError, Ticket};
use shopsphere_order_api::{Accepted, Api, Catalog, Orders};
use shopsphere_orders::{OrderView, Product};
use shopsphere_payment_tokens::PaymentToken;
use shopsphere_runtime::{TableError, Write};

pub struct FakeCatalog(pub Vec<Product>);

impl Catalog for &FakeCatalog {
    async fn products(&self, skus: &[String]) -> Result<HashMap<String, Product>, TableError> {
        let mut unique = skus.to_vec();
        unique.sort();
        unique.dedup();
        if unique.len() != skus.len() {
            // BatchGetItem: "Provided list of item keys contains duplicates".
            return Err(TableError::corrupt("catalog", "ValidationException: duplicate keys"));
        }
        Ok(self.0.iter().filter(|p| skus.contains(&p.sku)).map(|p| (p.sku.clone(), p.clone())).collect())
    }

    async fn all(&self) -> Result<Vec<Product>, TableError> {
        Ok(self.0.clone())
    }
}

pub fn product(sku: &str, name: &str, price: i64) -> Product {
    Product { sku: sku.into(), name: name.into(), price, currency: "EUR".into() }
}

pub fn catalog() -> FakeCatalog {
    FakeCatalog(vec![product("SKU-MUG", "Mug", 1250), product("SKU-TEE", "T-shirt", 2000)])
}

/// Order rows, and the request records and payment tokens they commit with.
#[derive(Default)]
pub struct InMemoryOrders {
    pub rows: Mutex<HashMap<String, OrderView>>,
    pub requests: Arc<InMemoryStore>,
    pub tokens: Mutex<HashMap<String, PaymentToken>>,
}

impl InMemoryOrders {
    pub fn count(&self) -> usize {
        self.rows.lock().unwrap().len()
    }

    pub fn row(&self, id: &str) -> OrderView {
        self.rows.lock().unwrap()[id].clone()
    }

    pub fn token(&self, id: &str) -> Option<PaymentToken> {
        self.tokens.lock().unwrap().get(id).cloned()
    }
}

impl Orders for &InMemoryOrders {
    async fn get(&self, order_id: &str) -> Result<Option<OrderView>, TableError> {
        Ok(self.rows.lock().unwrap().get(order_id).cloned())
    }

    async fn create(&self, order: &OrderView, token: &PaymentToken) -> Result<Write<OrderView>, TableError> {
        let mut rows = self.rows.lock().unwrap();
        if let Some(existing) = rows.get(&order.order_id) {
            return Ok(Write::Refused(Some(existing.clone())));
        }
        rows.insert(order.order_id.clone(), order.clone());
        self.tokens.lock().unwrap().insert(order.order_id.clone(), token.clone());
        Ok(Write::Done)
    }

    async fn create_keyed(
        &self,
        ticket: &Ticket,
        order: &OrderView,
        token: &PaymentToken,
        accepted: &Accepted,
    ) -> Result<(), CommitError> {
        let completed = ticket
            .completed_record(accepted)
            .map_err(|e| StoreError::Corrupt { key: ticket.key.clone(), reason: e.to_string() })?;
        if self.rows.lock().unwrap().contains_key(&order.order_id) {
            return Err(CommitError::BusinessCondition(vec![0]));
        }
        self.requests.complete(&completed, ticket.owner_token).await?;
        self.rows.lock().unwrap().insert(order.order_id.clone(), order.clone());
        self.tokens.lock().unwrap().insert(order.order_id.clone(), token.clone());
        Ok(())
    }
}

pub type TestApi<'a> = Api<&'a FakeCatalog, &'a InMemoryOrders, Arc<InMemoryStore>>;

pub fn api<'a>(catalog: &'a FakeCatalog, orders: &'a InMemoryOrders) -> TestApi<'a> {
    Api { catalog, orders, idempotency: Idempotency::new(orders.requests.clone()) }
}

/// `request` as API Gateway passes it once its JWT authorizer has verified a
/// token whose subject is `subject`.
pub fn as_customer(request: Request, subject: &str) -> Request {
    let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
    jwt.claims = [("sub", subject), ("iss", "https://issuer.example.com"), ("aud", "shopsphere")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    jwt.scopes = Some(vec![]);
    let mut authorizer = ApiGatewayRequestAuthorizer::default();
    authorizer.jwt = Some(jwt);
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.authorizer = Some(authorizer);
    request.with_request_context(RequestContext::ApiGatewayV2(context))
}
