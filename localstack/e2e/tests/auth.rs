//! The HTTP API's authentication, end to end: the template's JWT authorizer
//! as the engine runs it (the local host's, or MiniStack's API Gateway),
//! trusting the shop's issuer, and order-api taking the customer from the
//! verified token's subject.

use serde_json::{Value, json};
use shopsphere_e2e::{AUDIENCE, CUSTOMER, Shop, order};
use shopsphere_local::jwt::SigningKey;

fn now() -> i64 {
    shopsphere_runtime::now_ms() / 1000
}

/// Claims a token of the shop's issuer would carry, with `overrides`.
fn claims(shop: &Shop, overrides: Value) -> Value {
    let now = now();
    let mut claims =
        json!({"iss": shop.issuer.url, "aud": AUDIENCE, "sub": "cus-mallory", "iat": now - 10, "exp": now + 600});
    for (key, value) in overrides.as_object().expect("an object") {
        claims[key] = value.clone();
    }
    claims
}

fn refused(what: &str, (status, body): (u16, Value)) {
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["message"], "Unauthorized", "{what}: API Gateway's JSON answer: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_orders_without_a_valid_token_are_401_json_and_the_catalog_stays_public() {
    let shop = Shop::start(&[]).await;
    let body = order("tok_visa", &[("SKU-MUG", 1)]);
    refused("no token", shop.place_with(None, &body, None).await);
    refused("not a JWT", shop.place_with(Some("not-a-jwt"), &body, None).await);

    // The issuer's kid and claims, another key's signature.
    let other = SigningKey::generate().expect("a key");
    let good = shop.issuer.key.sign(&claims(&shop, json!({})));
    let foreign = other.sign(&claims(&shop, json!({})));
    let (signed, _) = good.rsplit_once('.').expect("a JWT");
    let (_, signature) = foreign.rsplit_once('.').expect("a JWT");
    refused("wrong signature", shop.place_with(Some(&format!("{signed}.{signature}")), &body, None).await);
    refused("unknown signing key", shop.place_with(Some(&foreign), &body, None).await);

    let expired = shop.issuer.key.sign(&claims(&shop, json!({"iat": now() - 7200, "exp": now() - 3600})));
    refused("expired", shop.place_with(Some(&expired), &body, None).await);
    let elsewhere = shop.issuer.key.sign(&claims(&shop, json!({"aud": "another-app"})));
    refused("wrong audience", shop.place_with(Some(&elsewhere), &body, None).await);
    let other_issuer = shop.issuer.key.sign(&claims(&shop, json!({"iss": "https://issuer.example.com"})));
    refused("wrong issuer", shop.place_with(Some(&other_issuer), &body, None).await);
    refused("GET without a token", shop.get_order_with(None, &uuid::Uuid::new_v4().to_string()).await);
    assert_eq!(shop.stream_inserts().await, 0, "no refused request wrote an order");

    let products = shop.http.get(format!("{}/products", shop.api)).send().await.expect("GET /products");
    assert_eq!(products.status().as_u16(), 200, "GET /products needs no token");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_a_valid_token_places_the_order_for_its_subject_whatever_the_body_says() {
    let shop = Shop::start(&[]).await;
    let mut body = order("tok_visa", &[("SKU-MUG", 1)]);
    body["customer_id"] = "cus-someone-else".into();
    let key = uuid::Uuid::new_v4().to_string();
    let (status, accepted) = shop.place_with(Some(&shop.token("cus-ada")), &body, Some(&key)).await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["order_id"].as_str().expect("order_id");
    let view = shop.order_of("cus-ada", id).await.expect("the subject's order");
    assert_eq!(view["customer_id"], "cus-ada", "{view}");
    assert!(shop.order_of("cus-someone-else", id).await.is_none(), "the body's customer does not own it");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_another_customers_order_is_a_404() {
    let shop = Shop::start(&[]).await;
    let id = shop.place_ok_as("cus-ada", &order("tok_visa", &[("SKU-MUG", 1)])).await;
    let (status, body) = shop.get_order_with(Some(&shop.token("cus-bob")), &id).await;
    assert_eq!(status, 404, "{body}");
    let (_, unknown) = shop.get_order_with(Some(&shop.token("cus-bob")), &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(body, unknown, "the same answer as for no order at all");
    assert!(shop.order_of("cus-ada", &id).await.is_some());
    assert!(shop.order_if_any(&id).await.is_none(), "{CUSTOMER} does not see it either");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_an_idempotency_key_is_scoped_to_its_customer() {
    let shop = Shop::start(&[]).await;
    let body = order("tok_visa", &[("SKU-MUG", 1)]);
    let (ada, bob) = (shop.token("cus-ada"), shop.token("cus-bob"));
    let (status, first) = shop.place_with(Some(&ada), &body, Some("shared-key")).await;
    assert_eq!(status, 202, "{first}");
    let (status, other) = shop.place_with(Some(&bob), &body, Some("shared-key")).await;
    assert_eq!(status, 202, "{other}");
    assert_ne!(first["order_id"], other["order_id"], "two customers, one key: two orders");
    let (status, again) = shop.place_with(Some(&ada), &body, Some("shared-key")).await;
    assert_eq!((status, &again), (202, &first), "the same customer's repeat is its first answer");
    let bobs = other["order_id"].as_str().expect("order_id");
    assert_eq!(shop.order_of("cus-bob", bobs).await.expect("bob's order")["customer_id"], "cus-bob");
    assert_eq!(shop.stream_inserts().await, 2);
}
