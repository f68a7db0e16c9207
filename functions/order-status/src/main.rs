use shopsphere_messaging::SqsFunction;
use shopsphere_order_status::{EmfMilestones, OrderStatusService};
use shopsphere_orders::OrdersTable;
use shopsphere_runtime::env_var;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let orders = OrdersTable::new(aws_sdk_dynamodb::Client::new(&config), env_var("ORDERS_TABLE")?);
    let table = orders.0.clone();
    let milestones = EmfMilestones::from_env()?;
    SqsFunction::from_env(&config, OrderStatusService { orders, milestones })?.warming(&table).run().await
}
