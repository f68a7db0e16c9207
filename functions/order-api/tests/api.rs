//! The HTTP API over fakes.

mod support;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request};
use serde_json::{Value, json};
use support::{InMemoryOrders, api, catalog};

fn post(body: &str, key: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder().method("POST").uri("https://api.example.com/orders");
    if let Some(key) = key {
        builder = builder.header("Idempotency-Key", key);
    }
    builder.body(Body::from(body)).unwrap()
}

fn get(path: &str) -> Request {
    lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("https://api.example.com{path}"))
        .body(Body::Empty)
        .unwrap()
}

fn json_of(response: &lambda_http::Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).unwrap()
}

const GOOD: &str = r#"{"customer_id":"cus-1","email":"ada@example.com","items":[{"sku":"SKU-MUG","qty":2},{"sku":"SKU-TEE","qty":1}],"payment_token":"tok_visa"}"#;

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
    assert_eq!(stored.lines[0].unit_price, 1250);
    assert_eq!(stored.payment_token, "tok_visa");
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
    for f in ["extra", "customer_id", "email", "payment_token", "items[0].qty"] {
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
    let huge = format!(r#"{{"customer_id":"{}"}}"#, "x".repeat(70 * 1024));
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
