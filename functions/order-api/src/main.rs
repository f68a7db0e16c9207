use lambda_http::{Request, service_fn};
use shopsphere_idempotency::{DynamoDbStore, Idempotency};
use shopsphere_messaging::DynamoDbSink;
use shopsphere_order_api::Api;
use shopsphere_orders::{CatalogTable, OrdersTable};
use shopsphere_runtime::env_var;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let orders = OrdersTable::new(dynamodb.clone(), env_var("ORDERS_TABLE")?);
    let store = DynamoDbStore::new(dynamodb.clone(), env_var("IDEMPOTENCY_TABLE")?);
    let api = Api {
        catalog: CatalogTable::new(dynamodb, env_var("CATALOG_TABLE")?),
        orders: orders.clone(),
        sink: DynamoDbSink::new(store.clone(), orders),
        idempotency: Idempotency::new(store),
    };
    lambda_http::run(service_fn(|request: Request| async { Ok::<_, lambda_http::Error>(api.handle(request).await) }))
        .await
}
