//! `shopsphere-local invoke`: the Docker-free `sam local invoke`, on the real
//! payment binary against the template deployed to LocalStack.

use std::path::Path;
use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use shopsphere_localstack_tests::{emulator, unique};

const ORDER: &str = "0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7";

#[tokio::test]
async fn invoking_payment_with_an_order_created_fixture_prints_its_batch_response_and_charges() {
    let emu = emulator().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin_dir = root.join("target/release");
    assert!(bin_dir.join("payment").exists(), "build the functions first: cargo build --release --workspace --bins");
    let stage = unique("i").replace('-', "")[..12].to_owned();
    let output = Command::new(env!("CARGO_BIN_EXE_shopsphere-local"))
        .current_dir(&root)
        .args(["invoke", "PaymentFunction", "-e", "events/payment/sqs-raw.json"])
        .args(["--stack", &format!("shopsphere-{stage}"), "--stage", &stage])
        .arg("--bin-dir")
        .arg(&bin_dir)
        .args(["--endpoint", &shopsphere_localstack_tests::endpoint()])
        .output()
        .expect("run shopsphere-local");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    let response: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the batch response JSON");
    assert_eq!(response, serde_json::json!({"batchItemFailures": []}));

    let row = emu
        .dynamodb
        .get_item()
        .table_name(format!("shopsphere-{stage}-payments"))
        .key("order_id", AttributeValue::S(ORDER.into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the payment row");
    assert_eq!(row["status"], AttributeValue::S("CHARGED".into()));
}
