use lambda_runtime::{LambdaEvent, service_fn};
use shopsphere_messaging::{SnsPublisher, TopicMap};
use shopsphere_order_outbox::{Outbox, PUBLISHES, SqsReports};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&config), TopicMap::from_env(PUBLISHES)?);
    let reports = SqsReports::from_env(aws_sdk_sqs::Client::new(&config))?;
    publisher.warm_up().await;
    let outbox = Outbox { publisher, reports };
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| async {
        Ok::<_, std::convert::Infallible>(outbox.handle(event.payload).await)
    }))
    .await
}
