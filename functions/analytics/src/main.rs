use shopsphere_analytics::{Analytics, AnalyticsTables};
use shopsphere_messaging::SqsFunction;
use shopsphere_runtime::env_var;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let tables = AnalyticsTables { counters: env_var("ANALYTICS_TABLE")?, archive: env_var("EVENT_ARCHIVE_TABLE")? };
    SqsFunction::from_env(&config, Analytics, tables, &[])?.run().await
}
