//! Payment rules over fakes: charge, decline, refund, never twice.

mod support;

use std::sync::atomic::Ordering;

use shopsphere_events::samples;
use shopsphere_events::{Event, EventType};
use shopsphere_messaging::{HandlerError, Outcome, Service};
use shopsphere_payment::PaymentStatus;
use shopsphere_runtime::Deadline;
use support::{Fakes, consumer, placed};

#[tokio::test]
async fn a_valid_card_is_charged_once_and_payment_processed_carries_the_items() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-1", "tok_visa");
    c.handle(order.clone(), Deadline::default()).await.unwrap();

    let published = c.publisher.published();
    assert_eq!(published.len(), 1);
    let Event::PaymentProcessed(p) = &published[0].data else { panic!("{:?}", published[0].kind()) };
    assert_eq!(p.amount.amount, 4500);
    assert_eq!(p.items.iter().map(|i| (i.sku.as_str(), i.qty)).collect::<Vec<_>>(), [("SKU-MUG", 2), ("SKU-TEE", 1)]);
    assert_eq!(published[0].causationid, order.id.to_string());
    let row = fakes.payments.get_now("o-1").unwrap();
    assert_eq!(row.status, PaymentStatus::Charged);
    assert_eq!(row.charge_key, order.id.to_string(), "the gateway's idempotency key derives from the event");
    assert_eq!(row.charge_events.0, published, "the row keeps what it announced");
    assert_eq!(fakes.ledger.charge_calls(&row.charge_key), 1);
    assert!(!fakes.tokens.on_file("o-1"), "the token is deleted once the charge is decided");
}

#[tokio::test]
async fn an_order_without_a_token_on_file_is_declined_without_asking_the_gateway() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    // Published before tokens left OrderCreated: the field is still in the
    // body, decoded away, and the order's token was never deposited.
    let mut old = serde_json::to_value(samples::order_created("o-30")).unwrap();
    old["data"]["payment_token"] = "tok_visa".into();
    let order = shopsphere_events::decode_sqs_body(&old.to_string()).unwrap();
    c.handle(order, Deadline::default()).await.unwrap();
    let published = c.publisher.published();
    let Event::PaymentFailed(f) = &published[0].data else { panic!("{:?}", published[0].kind()) };
    assert_eq!(f.reason.code, "payment_token_missing");
    assert_eq!(fakes.payments.get_now("o-30").unwrap().status, PaymentStatus::Declined);
    assert_eq!(fakes.ledger.calls(), 0, "no charge without a token");
}

#[tokio::test]
async fn a_declined_card_is_recorded_and_announced_with_its_reason() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    c.handle(placed(&fakes.tokens, "o-2", "tok_decline"), Deadline::default()).await.unwrap();
    let published = c.publisher.published();
    let Event::PaymentFailed(f) = &published[0].data else { panic!() };
    assert_eq!(f.reason.code, "card_declined");
    assert_eq!(fakes.payments.get_now("o-2").unwrap().status, PaymentStatus::Declined);
}

#[tokio::test]
async fn a_duplicate_event_charges_once_and_republishes_the_same_event() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-3", "tok_visa");
    for _ in 0..3 {
        c.handle(order.clone(), Deadline::default()).await.unwrap();
    }
    assert_eq!(fakes.ledger.calls(), 1, "one gateway call");
    let published = c.publisher.published();
    assert_eq!(published.len(), 3, "each repeat re-publishes (a crash may have hit between commit and publish)");
    assert!(published.iter().all(|e| *e == published[0]), "the stored event, id and all");
}

#[tokio::test]
async fn a_second_order_created_for_the_same_order_does_not_charge_again() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let first = placed(&fakes.tokens, "o-4", "tok_visa");
    let mut second = first.clone();
    second.id = uuid::Uuid::new_v4();
    c.handle(first, Deadline::default()).await.unwrap();
    c.handle(second, Deadline::default()).await.unwrap();
    assert_eq!(fakes.ledger.calls(), 1);
    assert!(c.publisher.published().iter().all(|e| e.kind() == EventType::PaymentProcessed));
}

#[tokio::test]
async fn a_stock_failure_is_compensated_by_exactly_one_refund() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-5", "tok_visa");
    c.handle(order.clone(), Deadline::default()).await.unwrap();
    let paid = c.publisher.published()[0].clone();
    let failed = samples::inventory_update_failed(&paid, &order);
    c.handle(failed.clone(), Deadline::default()).await.unwrap();
    c.handle(failed.clone(), Deadline::default()).await.unwrap();

    assert_eq!(fakes.ledger.refund_calls(&failed.id.to_string()), 1);
    let row = fakes.payments.get_now("o-5").unwrap();
    assert_eq!(row.status, PaymentStatus::Refunded);
    let refunds: Vec<_> =
        c.publisher.published().into_iter().filter(|e| e.kind() == EventType::PaymentRefunded).collect();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[0], refunds[1]);
    let Event::PaymentRefunded(r) = &refunds[0].data else { panic!() };
    assert_eq!((r.amount.amount, r.refund_id.as_str()), (4500, row.refund_id.as_deref().unwrap()));
}

#[tokio::test]
async fn a_refunded_order_never_yields_payment_processed_again() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-9", "tok_visa");
    c.handle(order.clone(), Deadline::default()).await.unwrap();
    let paid = c.publisher.published()[0].clone();
    c.handle(samples::inventory_update_failed(&paid, &order), Deadline::default()).await.unwrap();
    let before = c.publisher.published().len();
    c.handle(order, Deadline::default()).await.unwrap();
    assert_eq!(c.publisher.published().len(), before, "a late OrderCreated publishes nothing");
    assert_eq!(fakes.ledger.calls(), 2, "one charge, one refund");
}

#[tokio::test]
async fn a_refund_without_a_payment_is_a_permanent_error() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-6", "tok_visa");
    let failed = samples::inventory_update_failed(&samples::payment_processed(&order), &order);
    let err = c.handle(failed, Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Permanent { ref code, .. } if code == "no_payment"), "{err}");
}

#[tokio::test]
async fn a_gateway_outage_is_transient_and_the_retry_charges_at_once() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-7", "tok_flaky");
    let err = c.handle(order.clone(), Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Transient(_)), "{err}");
    let intent = fakes.payments.get_now("o-7").unwrap();
    assert_eq!((intent.status, intent.lease_until), (PaymentStatus::Charging, 0), "the lease was given back");
    assert!(fakes.tokens.on_file("o-7"), "the retry needs the token");
    c.handle(order, Deadline::default()).await.unwrap();
    assert_eq!(fakes.payments.get_now("o-7").unwrap().status, PaymentStatus::Charged);
    assert!(!fakes.tokens.on_file("o-7"));
}

#[tokio::test]
async fn a_commit_outage_after_the_charge_reconciles_through_the_key_and_charges_once() {
    let fakes = Fakes::default();
    fakes.payments.settle_outages.store(10, Ordering::SeqCst);
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-10", "tok_visa");
    let err = c.handle(order.clone(), Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Transient(_)), "{err}");
    assert_eq!(fakes.payments.get_now("o-10").unwrap().status, PaymentStatus::Charging);

    // The redelivery meets the intent under a live lease: it waits for it.
    fakes.payments.settle_outages.store(0, Ordering::SeqCst);
    let err = c.handle(order.clone(), Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Held { .. }), "{err}");
    // Once the lease ran out, it asks the gateway what the key came to.
    fakes.payments.expire_lease("o-10");
    c.handle(order.clone(), Deadline::default()).await.unwrap();
    assert_eq!(fakes.payments.get_now("o-10").unwrap().status, PaymentStatus::Charged);
    assert_eq!(fakes.ledger.charge_calls(&order.id.to_string()), 1, "no second charge");
    assert_eq!(c.publisher.published()[0].kind(), EventType::PaymentProcessed);
}

#[tokio::test]
async fn an_event_of_another_type_is_a_wiring_error() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let shipped = samples::whole_saga("o-8").into_iter().find(|e| e.kind() == EventType::OrderShipped).unwrap();
    let err = c.handle(shipped, Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Permanent { ref code, .. } if code == "unexpected_event_type"), "{err}");
}

fn last_receive() -> shopsphere_messaging::RecordMeta {
    shopsphere_messaging::RecordMeta { message_id: "m-1".into(), receive_count: 10, replay_id: None }
}

#[tokio::test]
async fn a_charge_whose_retries_are_spent_declines_the_order_with_gateway_unavailable() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    // tok_flaky fails its first attempt; this one is the queue's last chance.
    let order = placed(&fakes.tokens, "o-20", "tok_flaky");
    let err = c.deliver(order.clone(), &last_receive(), true, Deadline::default()).await.unwrap_err();
    assert!(matches!(err, HandlerError::Exhausted(ref why) if why.contains("simulated outage")), "{err}");
    let published = c.publisher.published();
    let Event::PaymentFailed(f) = &published[0].data else { panic!("{:?}", published[0].kind()) };
    assert_eq!(f.reason.code, "gateway_unavailable");
    assert_eq!(fakes.payments.get_now("o-20").unwrap().status, PaymentStatus::Declined);
    assert_eq!(fakes.ledger.charge_calls(&order.id.to_string()), 0, "no money moved");
    assert!(!fakes.tokens.on_file("o-20"), "a declined order's token is deleted");
    // A redrive of the record later answers with the same failure, id and all.
    c.handle(order, Deadline::default()).await.unwrap();
    assert_eq!(c.publisher.published()[1], published[0]);
}

#[tokio::test]
async fn giving_up_keeps_a_charge_the_gateway_made() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-21", "tok_visa");
    // Charged at the gateway, then the table failed every settling write.
    fakes.payments.settle_outages.store(100, Ordering::SeqCst);
    c.handle(order.clone(), Deadline::default()).await.unwrap_err();
    fakes.payments.settle_outages.store(0, Ordering::SeqCst);
    fakes.payments.expire_lease("o-21");
    let outcome = c.service.give_up(&order, "retries spent", Deadline::default()).await.unwrap().unwrap();
    let Outcome::Applied(events) = outcome else { panic!("{outcome:?}") };
    assert_eq!(events[0].kind(), EventType::PaymentProcessed, "the customer paid: the order goes on");
    assert_eq!(fakes.payments.get_now("o-21").unwrap().status, PaymentStatus::Charged);
    assert_eq!(fakes.ledger.charge_calls(&order.id.to_string()), 1);
}

#[tokio::test]
async fn a_shipping_failure_refunds_the_charge_with_its_reason() {
    let fakes = Fakes::default();
    let c = consumer(&fakes);
    let order = placed(&fakes.tokens, "o-22", "tok_visa");
    c.handle(order.clone(), Deadline::default()).await.unwrap();
    let paid = c.publisher.published()[0].clone();
    let failed = samples::shipping_failed(&samples::inventory_updated(&paid, &order), &order);
    c.handle(failed.clone(), Deadline::default()).await.unwrap();
    c.handle(failed.clone(), Deadline::default()).await.unwrap();
    let published = c.publisher.published();
    let Event::PaymentRefunded(r) = &published[1].data else { panic!("{:?}", published[1].kind()) };
    assert_eq!(r.reason.code, "shipping_failed");
    assert_eq!(published[2], published[1], "a repeat re-publishes the refund");
    assert_eq!(fakes.ledger.refund_calls(&failed.id.to_string()), 1);
    assert_eq!(fakes.payments.get_now("o-22").unwrap().status, PaymentStatus::Refunded);
}
