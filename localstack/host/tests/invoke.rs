//! `shopsphere-local invoke`: the Docker-free `sam local invoke`, on the real
//! payment binary against the template deployed to LocalStack.

use std::path::Path;
use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use shopsphere_localstack_tests::{emulator, unique};
use shopsphere_payment_tokens::{PaymentToken, PaymentTokensTable};

const ORDER: &str = "0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7";

/// `shopsphere-local` against this test's stack.
fn host(root: &Path, stack: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shopsphere-local"));
    command.current_dir(root).args(["--stack", stack]).args(["--endpoint", &shopsphere_localstack_tests::endpoint()]);
    command
}

fn stdout_of(mut command: Command) -> String {
    let output = command.output().expect("run shopsphere-local");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test]
async fn invoking_payment_with_an_order_created_fixture_prints_its_batch_response_and_charges() {
    let emu = emulator().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin_dir = root.join("target/release");
    assert!(bin_dir.join("payment").exists(), "build the functions first: cargo build --release --workspace --bins");
    let stage = unique("i").replace('-', "")[..12].to_owned();
    let stack = format!("shopsphere-{stage}");

    // The fixture's order as order-api leaves it: its token on file for payment.
    let mut deploy = host(&root, &stack);
    deploy.arg("deploy");
    let outputs = stdout_of(deploy);
    let tokens_table = outputs
        .lines()
        .find_map(|line| line.strip_prefix("PaymentTokensTableName\t"))
        .expect("the stack's PaymentTokensTableName output");
    let deposit = PaymentToken::new(ORDER, "tok_visa", shopsphere_runtime::now_ms() / 1000);
    PaymentTokensTable::new(emu.dynamodb.clone(), tokens_table).0.put(&deposit).await.expect("deposit the token");

    let mut invoke = host(&root, &stack);
    invoke.args(["invoke", "PaymentFunction", "-e", "events/payment/sqs-raw.json"]).arg("--bin-dir").arg(&bin_dir);
    let stdout = stdout_of(invoke);
    let response: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the batch response JSON");
    assert_eq!(response, serde_json::json!({"batchItemFailures": []}));

    let row = emu
        .dynamodb
        .get_item()
        .table_name(format!("{stack}-payments"))
        .key("order_id", AttributeValue::S(ORDER.into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the payment row");
    assert_eq!(row["status"], AttributeValue::S("CHARGED".into()));
}
