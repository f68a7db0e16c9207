use shopsphere_analytics::{Analytics, AnalyticsTables};
use shopsphere_messaging::SqsFunction;
use shopsphere_runtime::dynamodb::Table;
use shopsphere_runtime::env_var;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let archive = Table::new(aws_sdk_dynamodb::Client::new(&config), env_var("EVENT_ARCHIVE_TABLE")?, "order_id");
    let tables = AnalyticsTables { counters: env_var("ANALYTICS_TABLE")?, archive };
    SqsFunction::from_env(&config, Analytics, tables, shopsphere_analytics::PUBLISHES)?.run().await
}
