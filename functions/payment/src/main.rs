use shopsphere_messaging::SqsFunction;
use shopsphere_payment::dynamodb::PaymentsTable;
use shopsphere_payment::gateway::SimulatedGateway;
use shopsphere_payment::{PUBLISHES, Payment};
use shopsphere_runtime::{env_or, env_var};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let payments = PaymentsTable::new(aws_sdk_dynamodb::Client::new(&config), env_var("PAYMENTS_TABLE")?);
    let gateway = SimulatedGateway::new(env_or("PAYMENT_LIMIT", 100_000)?, env_or("FLAKY_FAILURES", 2)?);
    let service = Payment { payments: payments.clone(), gateway };
    SqsFunction::from_env(&config, service, payments, PUBLISHES)?.run().await
}
