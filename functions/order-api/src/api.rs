//! The HTTP API: routing, the three operations, problem responses. Who calls
//! is the subject of the JWT that API Gateway's authorizer verified
//! (`requestContext.authorizer.jwt.claims.sub`); the API checks no token
//! itself, and a request without verified claims is a 401.

use chrono::Utc;
use lambda_http::http::{Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Value, json};
use shopsphere_events::{Money, OrderLine, TraceParent};
use shopsphere_idempotency::{Begin, Idempotency, IdempotencyError, IdempotencyStore};
use shopsphere_orders::{OrderStatus, TimelineEntry};
use shopsphere_runtime::{Deadline, Write};

use crate::domain::{Accepted, Catalog, Customer, Orders, new_order, price};
use crate::request::{FieldError, MAX_BODY_BYTES, validate};

/// The order as `GET /orders/{id}` shows it (no payment token).
#[derive(Debug, Serialize)]
struct OrderBody<'a> {
    order_id: &'a str,
    status: OrderStatus,
    customer_id: &'a str,
    email: &'a str,
    lines: &'a [OrderLine],
    total: Money,
    created_at: &'a str,
    updated_at: &'a str,
    timeline: Vec<TimelineEntry>,
    reasons: &'a [shopsphere_events::Reason],
}

pub struct Api<C, O, S> {
    pub catalog: C,
    pub orders: O,
    pub idempotency: Idempotency<S>,
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(serde_json::to_string(body).expect("response bodies serialize")))
        .expect("status and header are valid")
}

/// An RFC 9457 problem document.
fn problem(status: StatusCode, title: &str, detail: impl Into<String>, errors: &[FieldError]) -> Response<Body> {
    let mut body = json!({"type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail.into()});
    if !errors.is_empty() {
        body["errors"] = json!(errors);
    }
    let mut response = json_response(status, &body);
    response.headers_mut().insert(header::CONTENT_TYPE, "application/problem+json".parse().expect("valid"));
    response
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %e, "{what} failed");
    let mut response =
        problem(StatusCode::SERVICE_UNAVAILABLE, "Service unavailable", format!("{what} failed; retry shortly"), &[]);
    response.headers_mut().insert(header::RETRY_AFTER, "1".parse().expect("valid"));
    response
}

/// The customer the verified token names: its `sub` claim, as API Gateway
/// passes a JWT authorizer's claims.
fn customer(request: &Request) -> Option<Customer> {
    let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref() else { return None };
    let claims = &context.authorizer.as_ref()?.jwt.as_ref()?.claims;
    Customer::from_subject(claims.get("sub")?)
}

fn unauthorized() -> Response<Body> {
    let mut response = problem(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "this operation needs a customer's token (Authorization: Bearer <JWT>) with a subject",
        &[],
    );
    response.headers_mut().insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("valid"));
    response
}

impl<C, O, S> Api<C, O, S>
where
    C: Catalog,
    O: Orders,
    S: IdempotencyStore,
{
    pub async fn handle(&self, request: Request) -> Response<Body> {
        // API Gateway's raw path; a request built elsewhere (tests) has only the URI.
        let path = match request.raw_http_path() {
            "" => request.uri().path(),
            raw => raw,
        };
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        // A named stage may prefix the path: match on its end.
        match (request.method(), segments.as_slice()) {
            (&Method::POST, [.., "orders"]) => match customer(&request) {
                Some(customer) => self.place(&customer, &request).await,
                None => unauthorized(),
            },
            (&Method::GET, [.., "orders", id]) => match customer(&request) {
                Some(customer) => self.get(&customer, id).await,
                None => unauthorized(),
            },
            (&Method::GET, [.., "products"]) => self.products().await,
            (_, [.., "orders"] | [.., "orders", _] | [.., "products"]) => problem(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                format!("{} {path}", request.method()),
                &[],
            ),
            _ => problem(StatusCode::NOT_FOUND, "Not found", format!("no route for {path}"), &[]),
        }
    }

    async fn place(&self, customer: &Customer, request: &Request) -> Response<Body> {
        let body: &[u8] = request.body().as_ref();
        if body.len() > MAX_BODY_BYTES {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Body too large",
                format!("at most {MAX_BODY_BYTES} bytes"),
                &[],
            );
        }
        let json: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                let errors = [FieldError { field: "body".into(), message: format!("is not valid JSON: {e}") }];
                return problem(StatusCode::BAD_REQUEST, "Invalid order", "the body is not JSON", &errors);
            }
        };
        let order = match validate(&json) {
            Ok(order) => order,
            Err(errors) => return problem(StatusCode::BAD_REQUEST, "Invalid order", "see errors", &errors),
        };
        let key = match request.headers().get("idempotency-key").map(|v| v.to_str()) {
            None => None,
            Some(Ok(k)) if (1..=255).contains(&k.len()) => Some(k.to_owned()),
            Some(_) => {
                let errors = [FieldError {
                    field: "Idempotency-Key".into(),
                    message: "must be 1 to 255 visible ASCII characters".into(),
                }];
                return problem(StatusCode::BAD_REQUEST, "Invalid order", "bad header", &errors);
            }
        };
        let skus: Vec<String> = order.items.iter().map(|i| i.sku.clone()).collect();
        let (lines, total) = match self.catalog.products(&skus).await.map(|catalog| price(&order, &catalog)) {
            Ok(Ok(priced)) => priced,
            Ok(Err(errors)) => return problem(StatusCode::BAD_REQUEST, "Invalid order", "see errors", &errors),
            Err(e) => return unavailable("reading the catalog", e),
        };
        let request_id = request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let correlation_id = key
            .clone()
            .unwrap_or_else(|| if request_id.is_empty() { uuid::Uuid::new_v4().to_string() } else { request_id });
        let traceparent = request
            .headers()
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.parse::<TraceParent>().ok())
            .map(|t| t.to_string());
        let now = Utc::now().to_rfc3339();
        let (view, token) = new_order(customer, order, lines, total, correlation_id, traceparent, &now);
        let accepted = Accepted { order_id: view.order_id.clone(), status: "PENDING".into(), total };
        let Some(key) = key else {
            // No key, nothing to repeat: the order row alone.
            return match self.orders.create(&view, &token).await {
                Ok(Write::Done) => self.accepted(&accepted),
                Ok(Write::Refused(_)) => unavailable("saving the order", "its new id was taken"),
                Err(e) => unavailable("saving the order", e),
            };
        };
        let deadline = request.lambda_context_ref().map(Deadline::from).unwrap_or_default();
        let ticket =
            match self.idempotency.begin::<_, Accepted>(&customer.idempotency_record(&key), &json, deadline).await {
                Ok(Begin::Run(ticket)) => ticket,
                Ok(Begin::Done(saved)) => return json_response(StatusCode::ACCEPTED, &saved),
                Err(IdempotencyError::PayloadMismatch { .. }) => {
                    return problem(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Idempotency-Key reused",
                        "this key was used with a different body",
                        &[],
                    );
                }
                Err(IdempotencyError::AlreadyInProgress { .. }) => {
                    let mut r = problem(
                        StatusCode::CONFLICT,
                        "Request in progress",
                        "a request with this key is being processed",
                        &[],
                    );
                    r.headers_mut().insert(header::RETRY_AFTER, "1".parse().expect("valid"));
                    return r;
                }
                Err(e) => return unavailable("the idempotency check", e),
            };
        if let Err(e) = self.orders.create_keyed(&ticket, &view, &token, &accepted).await {
            self.idempotency.release(&ticket).await;
            return unavailable("saving the order", e);
        }
        self.accepted(&accepted)
    }

    fn accepted(&self, accepted: &Accepted) -> Response<Body> {
        tracing::info!(order_id = %accepted.order_id, total = accepted.total.amount, "order accepted");
        json_response(StatusCode::ACCEPTED, accepted)
    }

    async fn get(&self, customer: &Customer, order_id: &str) -> Response<Body> {
        // Order ids are UUIDs: anything else names no order (and may be
        // longer than a key DynamoDB accepts).
        if uuid::Uuid::try_parse(order_id).is_err() {
            return problem(StatusCode::NOT_FOUND, "Order not found", "no such order", &[]);
        }
        match self.orders.get(order_id).await {
            Ok(Some(v)) if customer.owns(&v) => json_response(
                StatusCode::OK,
                &OrderBody {
                    order_id: &v.order_id,
                    status: v.status,
                    customer_id: &v.customer_id,
                    email: &v.email,
                    lines: &v.lines,
                    total: v.total,
                    created_at: &v.created_at,
                    updated_at: &v.updated_at,
                    timeline: v.timeline_entries(),
                    reasons: &v.reasons,
                },
            ),
            // Another customer's order is not found either: nothing tells
            // that an id exists.
            Ok(_) => problem(StatusCode::NOT_FOUND, "Order not found", "no such order", &[]),
            Err(e) => unavailable("reading the order", e),
        }
    }

    async fn products(&self) -> Response<Body> {
        match self.catalog.all().await {
            Ok(products) => json_response(StatusCode::OK, &json!({ "products": products })),
            Err(e) => unavailable("reading the catalog", e),
        }
    }
}
