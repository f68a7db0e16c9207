use shopsphere_inventory::Inventory;
use shopsphere_inventory::dynamodb::InventoryStore;
use shopsphere_messaging::SqsFunction;
use shopsphere_runtime::env_var;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let stock = InventoryStore::new(dynamodb, env_var("INVENTORY_TABLE")?, env_var("RESERVATIONS_TABLE")?);
    let table = stock.reservations.clone();
    SqsFunction::from_env(&config, Inventory { stock })?.warming(&table).run().await
}
