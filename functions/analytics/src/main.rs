use shopsphere_analytics::Analytics;
use shopsphere_analytics::dynamodb::ArchiveTable;
use shopsphere_messaging::SqsFunction;
use shopsphere_runtime::env_var;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let archive = ArchiveTable::new(aws_sdk_dynamodb::Client::new(&config), env_var("EVENT_ARCHIVE_TABLE")?);
    let table = archive.0.clone();
    SqsFunction::from_env(&config, Analytics { archive })?.warming(&table).run().await
}
