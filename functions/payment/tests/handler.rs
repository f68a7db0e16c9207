//! The payment handler on committed Lambda fixtures (Context::default()).

mod support;

use shopsphere_messaging::testing::run_sqs_fixture;
use shopsphere_payment::PaymentStatus;
use support::{Fakes, consumer};

const ORDER: &str = "0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7";

#[tokio::test]
async fn raw_and_sns_wrapped_batches_charge_once() {
    let fakes = Fakes::default();
    let (payments, ledger) = (&fakes.payments, &fakes.ledger);
    fakes.tokens.deposit(ORDER, "tok_visa");
    let c = consumer(&fakes);
    for fixture in ["payment/sqs-raw.json", "payment/sqs-sns.json"] {
        let (response, queue) = run_sqs_fixture(&c, fixture, 10).await;
        assert!(response.batch_item_failures.is_empty(), "{fixture}: {:?}", response.batch_item_failures);
        assert!(queue.dead_letters().is_empty());
    }
    assert_eq!(payments.get_now(ORDER).unwrap().status, PaymentStatus::Charged);
    assert_eq!(ledger.calls(), 1, "the SNS copy is the same event");

    let (response, _) = run_sqs_fixture(&c, "payment/sqs-inventory-update-failed.json", 10).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(payments.get_now(ORDER).unwrap().status, PaymentStatus::Refunded);
    assert!(!fakes.tokens.on_file(ORDER), "the token went with the charge");
}

#[tokio::test]
async fn poison_records_go_to_the_dlq_with_their_reason_and_siblings_succeed() {
    let fakes = Fakes::default();
    let payments = &fakes.payments;
    fakes.tokens.deposit(ORDER, "tok_visa");
    let c = consumer(&fakes);
    let (response, queue) = run_sqs_fixture(&c, "payment/sqs-poison.json", 10).await;
    assert!(response.batch_item_failures.is_empty(), "poison is dead-lettered, not retried");
    let mut codes: Vec<String> = queue.dead_letters().into_iter().map(|(_, code, _)| code).collect();
    codes.sort();
    assert_eq!(codes, ["not_json", "unsupported_version"]);
    assert_eq!(payments.get_now(ORDER).unwrap().status, PaymentStatus::Charged, "the valid sibling was handled");
}
