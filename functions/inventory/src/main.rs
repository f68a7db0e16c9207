use shopsphere_inventory::dynamodb::InventoryTable;
use shopsphere_inventory::{Inventory, PUBLISHES};
use shopsphere_messaging::SqsFunction;
use shopsphere_runtime::env_var;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let stock = InventoryTable::new(aws_sdk_dynamodb::Client::new(&config), env_var("INVENTORY_TABLE")?);
    SqsFunction::from_env(&config, Inventory { stock: stock.clone() }, stock, PUBLISHES)?.run().await
}
