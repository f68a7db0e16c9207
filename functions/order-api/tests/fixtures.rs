//! The API on committed API Gateway (HTTP API, payload 2.0) fixtures.

mod support;

use lambda_http::http::StatusCode;
use lambda_http::request::from_str;
use shopsphere_messaging::testing::fixture_path;
use support::{InMemoryOrders, api, catalog};

fn request(name: &str) -> lambda_http::Request {
    from_str(&std::fs::read_to_string(fixture_path(name)).unwrap()).unwrap()
}

#[tokio::test]
async fn the_fixtures_get_their_status_codes() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let accepted = api.handle(request("order-api/post-order.json")).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let again = api.handle(request("order-api/post-order.json")).await;
    assert_eq!(again.body().as_ref(), accepted.body().as_ref(), "same Idempotency-Key, same answer");
    assert_eq!(api.handle(request("order-api/post-order-invalid.json")).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(api.handle(request("order-api/post-order-malformed.json")).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(api.handle(request("order-api/get-order.json")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(api.handle(request("order-api/get-products.json")).await.status(), StatusCode::OK);
    let anonymous = api.handle(request("order-api/post-order-unauthenticated.json")).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "no authorizer claims");
}

#[tokio::test]
async fn the_order_is_the_subjects_of_the_fixtures_claims() {
    let (catalog, orders) = (catalog(), InMemoryOrders::default());
    let api = api(&catalog, &orders);
    let accepted = api.handle(request("order-api/post-order.json")).await;
    let body: serde_json::Value = serde_json::from_slice(accepted.body().as_ref()).unwrap();
    assert_eq!(orders.row(body["order_id"].as_str().unwrap()).customer_id, "cus-ada");
}
