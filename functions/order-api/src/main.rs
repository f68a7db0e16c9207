use lambda_http::{Request, service_fn};
use shopsphere_idempotency::{DynamoDbStore, Idempotency};
use shopsphere_order_api::Api;
use shopsphere_order_api::dynamodb::OrderStore;
use shopsphere_orders::{CatalogTable, OrdersTable};
use shopsphere_payment_tokens::PaymentTokensTable;
use shopsphere_runtime::env_var;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let requests = DynamoDbStore::new(dynamodb.clone(), env_var("IDEMPOTENCY_TABLE")?);
    let orders = OrdersTable::new(dynamodb.clone(), env_var("ORDERS_TABLE")?);
    let tokens = PaymentTokensTable::new(dynamodb.clone(), env_var("PAYMENT_TOKENS_TABLE")?);
    let catalog = CatalogTable::new(dynamodb, env_var("CATALOG_TABLE")?);
    orders.0.warm_up().await;
    let api = Api {
        catalog,
        orders: OrderStore { orders, requests: requests.clone(), tokens },
        idempotency: Idempotency::new(requests),
    };
    lambda_http::run(service_fn(|request: Request| async { Ok::<_, lambda_http::Error>(api.handle(request).await) }))
        .await
}
