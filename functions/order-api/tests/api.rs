//! The HTTP API over fakes.

mod support;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use support::{InMemoryOrders, api, as_customer, catalog};

const CUSTOMER: &str = "cus-1";

/// POST /orders with no verified token.
fn anonymous_post(body: &str, key: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder().method("POST").uri("https://api.example.com/orders");
    if let Some(key) = key {
        builder = builder.header("Idempotency-Key", key);
    }
    builder.body(Body::from(body)).unwrap()
}

fn anonymous_get(path: &str) -> Request {
    lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("https://api.example.com{path}"))
        .body(Body::Empty)
        .unwrap()
}

fn post_as(subject: &str, body: &str, key: Option<&str>) -> Request {
    as_customer(anonymous_post(body, key), subject)
}

fn post(body: &str, key: Option<&str>) -> Request {
    post_as(CUSTOMER, body, key)
}

fn get_as(subject: &str, path: &str) -> Request {
    as_customer(anonymous_get(path), subject)
}

fn get(path: &str) -> Request {
    get_as(CUSTOMER, path)
}

fn json_of(response: &lambda_http::Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap()
}

const GOOD: &str = r#"{"email":"ada@example.com","items":[{"sku":"SKU-MUG","qty":2},{"sku":"SKU-TEE","qty":1}],"payment_token":"tok_visa"}"#;

#[tokio::test]
async fn a_valid_order_is_accepted_priced_from_the_catalog_and_stored_pending() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let response = api.handle(post(GOOD, None)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body = json_of(&response);
    assert_eq!(body["status"], "PENDING");
    assert_eq!(body["total"], json!({"amount": 4500, "currency": "EUR"}));
    let id = body["order_id"].as_str().unwrap();
    let stored = orders.row(id);
    assert_eq!(stored.customer_id, CUSTOMER, "the token's subject");
    assert_eq!(stored.lines[0].unit_price, 1250);
    let token = orders.token(id).expect("the token deposited with the order");
    assert_eq!((token.order_id.as_str(), token.token.as_str()), (id, "tok_visa"));
    assert!(!serde_json::to_string(&stored).unwrap().contains("tok_visa"), "the order row holds no token");
    assert!(stored.timeline.is_empty(), "nothing applied yet");

    let fetched = api.handle(get(&format!("/orders/{id}"))).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    let view = json_of(&fetched);
    assert_eq!(view["status"], "PENDING");
    assert!(view.get("payment_token").is_none(), "the token is never returned");
}

#[tokio::test]
async fn the_same_key_and_body_answer_the_same_202_with_one_order() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let first = json_of(&api.handle(post(GOOD, Some("key-1"))).await);
    let again = api.handle(post(GOOD, Some("key-1"))).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(json_of(&again), first);
    assert_eq!(orders.count(), 1);

    let other_body = GOOD.replace("\"qty\":2", "\"qty\":3");
    let conflict = api.handle(post(&other_body, Some("key-1"))).await;
    assert_eq!(conflict.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(&conflict)["title"], "Idempotency-Key reused");
    assert_eq!(orders.count(), 1);
}

#[tokio::test]
async fn bad_input_is_a_400_listing_every_field_error() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let response = api.handle(post(r#"{"email":"nope","items":[{"sku":"SKU-MUG","qty":0}],"extra":1}"#, None)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let fields: Vec<String> = json_of(&response)["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect();
    for f in ["extra", "email", "payment_token", "items[0].qty"] {
        assert!(fields.contains(&f.to_owned()), "{f} missing from {fields:?}");
    }
    assert_eq!(orders.count(), 0);
}

#[tokio::test]
async fn an_unknown_sku_is_a_400_naming_the_line() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let body = GOOD.replace("SKU-TEE", "SKU-NOPE");
    let response = api.handle(post(&body, None)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&response)["errors"][0]["field"], "items[1].sku");
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_4xx_json() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let response = api.handle(post("{not json", None)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&response)["errors"][0]["field"], "body");
    let huge = format!(r#"{{"email":"{}"}}"#, "x".repeat(70 * 1024));
    assert_eq!(api.handle(post(&huge, None)).await.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_orders_and_routes_are_404_and_products_list_the_catalog() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    assert_eq!(api.handle(get("/orders/nope")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.handle(get("/nothing")).await.status(), StatusCode::NOT_FOUND);
    let products = json_of(&api.handle(get("/products")).await);
    assert_eq!(products["products"][0], json!({"sku": "SKU-MUG", "name": "Mug", "price": 1250, "currency": "EUR"}));
    let delete =
        lambda_http::http::Request::builder().method("DELETE").uri("https://x/orders").body(Body::Empty).unwrap();
    assert_eq!(api.handle(delete).await.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_sku_listed_twice_is_a_400_not_a_duplicate_key_read() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let body = r#"{"customer_id":"c","email":"a@b.co","payment_token":"tok_visa","items":[{"sku":"SKU-MUG","qty":1},{"sku":"SKU-MUG","qty":2}]}"#;
    let response = api.handle(post(body, Some("dup"))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&response)["errors"][0]["field"], "items[1].sku");
    assert_eq!(orders.count(), 0);
}

#[tokio::test]
async fn more_lines_than_one_reservation_takes_are_a_400() {
    let skus: Vec<String> = (0..=shopsphere_events::MAX_ORDER_LINES).map(|i| format!("SKU-{i}")).collect();
    let catalog = support::FakeCatalog(skus.iter().map(|s| support::product(s, s, 100)).collect());
    let orders = InMemoryOrders::default();
    let api = api(&catalog, &orders);
    let items: Vec<Value> = skus.iter().map(|s| json!({"sku": s, "qty": 1})).collect();
    let body = json!({"customer_id": "c", "email": "a@b.co", "payment_token": "tok_visa", "items": items});
    let response = api.handle(post(&body.to_string(), None)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&response)["errors"][0]["field"], "items");
    let fits = json!({"customer_id": "c", "email": "a@b.co", "payment_token": "tok_visa", "items": items[1..]});
    assert_eq!(api.handle(post(&fits.to_string(), None)).await.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_total_past_the_integer_range_is_a_400() {
    let catalog = support::FakeCatalog(vec![support::product("SKU-GOLD", "Gold", i64::MAX / 2)]);
    let orders = InMemoryOrders::default();
    let api = api(&catalog, &orders);
    let body =
        r#"{"customer_id":"c","email":"a@b.co","payment_token":"tok_visa","items":[{"sku":"SKU-GOLD","qty":3}]}"#;
    let response = api.handle(post(body, None)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&response)["errors"][0]["field"], "items[0].qty");
}

#[tokio::test]
async fn an_order_id_longer_than_a_key_is_a_404_without_a_read() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let response = api.handle(get(&format!("/orders/{}", "x".repeat(3000)))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn without_verified_claims_orders_are_a_401_json_and_products_stay_public() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let placed = api.handle(anonymous_post(GOOD, Some("key-1"))).await;
    assert_eq!(placed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(placed.headers()["content-type"], "application/problem+json");
    assert_eq!(placed.headers()["www-authenticate"], "Bearer");
    assert_eq!(json_of(&placed)["status"], 401);
    assert_eq!(orders.count(), 0);
    let fetched = api.handle(anonymous_get("/orders/0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7")).await;
    assert_eq!(fetched.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(api.handle(anonymous_get("/products")).await.status(), StatusCode::OK);
    let empty_subject = api.handle(post_as("", GOOD, None)).await;
    assert_eq!(empty_subject.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_order_belongs_to_the_tokens_subject_whatever_the_body_says() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let body = GOOD.replace(r#"{"email""#, r#"{"customer_id":"cus-someone-else","email""#);
    let response = api.handle(post_as("cus-ada", &body, None)).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED, "a body customer_id is ignored, not an error");
    let id = json_of(&response)["order_id"].as_str().unwrap().to_owned();
    assert_eq!(orders.row(&id).customer_id, "cus-ada");
    let view = json_of(&api.handle(get_as("cus-ada", &format!("/orders/{id}"))).await);
    assert_eq!(view["customer_id"], "cus-ada");
}

#[tokio::test]
async fn another_customers_order_is_a_404_like_no_order() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let id = json_of(&api.handle(post_as("cus-ada", GOOD, None)).await)["order_id"].as_str().unwrap().to_owned();
    let theirs = api.handle(get_as("cus-bob", &format!("/orders/{id}"))).await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let unknown = api.handle(get_as("cus-bob", "/orders/0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7")).await;
    assert_eq!(theirs.headers()["content-type"], "application/problem+json");
    assert_eq!(json_of(&theirs), json_of(&unknown), "nothing tells that the id exists");
    assert_eq!(api.handle(get_as("cus-ada", &format!("/orders/{id}"))).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_idempotency_key_is_scoped_to_its_customer() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let ada = json_of(&api.handle(post_as("cus-ada", GOOD, Some("shared-key"))).await);
    let bob = api.handle(post_as("cus-bob", GOOD, Some("shared-key"))).await;
    assert_eq!(bob.status(), StatusCode::ACCEPTED);
    let bob = json_of(&bob);
    assert_ne!(ada["order_id"], bob["order_id"], "two customers, two orders");
    assert_eq!(orders.count(), 2);
    let ada_again = json_of(&api.handle(post_as("cus-ada", GOOD, Some("shared-key"))).await);
    assert_eq!(ada_again, ada, "the same customer's repeat is the first answer");
    assert_eq!(orders.count(), 2);
}
