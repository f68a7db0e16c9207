use shopsphere_messaging::SqsFunction;
use shopsphere_payment::Payment;
use shopsphere_payment::dynamodb::PaymentsTable;
use shopsphere_payment::gateway::{DynamoDbLedger, SimulatedGateway};
use shopsphere_payment_tokens::PaymentTokensTable;
use shopsphere_runtime::dynamodb::Table;
use shopsphere_runtime::{env_or, env_var};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shopsphere_runtime::init_tracing();
    let config = shopsphere_runtime::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let payments = PaymentsTable::new(dynamodb.clone(), env_var("PAYMENTS_TABLE")?);
    let tokens = PaymentTokensTable::new(dynamodb.clone(), env_var("PAYMENT_TOKENS_TABLE")?);
    let ledger = DynamoDbLedger(Table::new(dynamodb, env_var("PROVIDERS_TABLE")?, "id"));
    let gateway = SimulatedGateway {
        limit: env_or("PAYMENT_LIMIT", 100_000)?,
        flaky_failures: env_or("FLAKY_FAILURES", 2)?,
        ledger,
    };
    let table = payments.0.clone();
    SqsFunction::from_env(&config, Payment { payments, gateway, tokens })?.warming(&table).run().await
}
