use shopsphere_messaging::SqsFunction;
use shopsphere_runtime::env_var;
use shopsphere_shipping::Shipping;
use shopsphere_shipping::dynamodb::ShipmentsTable;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let shipments = ShipmentsTable::new(aws_sdk_dynamodb::Client::new(&config), env_var("SHIPMENTS_TABLE")?);
    let table = shipments.0.clone();
    SqsFunction::from_env(&config, Shipping { shipments })?.warming(&table).run().await
}
