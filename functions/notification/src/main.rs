use std::time::Duration;

use shopsphere_messaging::SqsFunction;
use shopsphere_notification::Notification;
use shopsphere_notification::dynamodb::NotificationsTable;
use shopsphere_notification::provider::SlowMailServer;
use shopsphere_runtime::dynamodb::Table;
use shopsphere_runtime::{env_or, env_var};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let delay = Duration::from_millis(env_or("NOTIFICATION_DELAY_MS", 3000)?);
    let mail = SlowMailServer { delay, ledger: Table::new(dynamodb.clone(), env_var("PROVIDERS_TABLE")?, "id") };
    let sent_log = NotificationsTable::new(dynamodb, env_var("NOTIFICATIONS_TABLE")?);
    let table = sent_log.0.clone();
    SqsFunction::from_env(&config, Notification { mail, sent_log })?.warming(&table).run().await
}
