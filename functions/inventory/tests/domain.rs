//! Stock rules over a fake table.

mod support;

use shopsphere_events::{Event, EventType, SkuQty, samples};
use shopsphere_inventory::ReservationStatus;
use shopsphere_inventory::domain::merged;
use shopsphere_messaging::{Outcome, Service};
use shopsphere_runtime::Deadline;
use support::{InMemoryStock, consumer};

fn paid(order_id: &str) -> shopsphere_events::Envelope {
    samples::payment_processed(&samples::order_created(order_id))
}

#[tokio::test]
async fn enough_stock_deducts_every_line_and_announces_it() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 5), ("SKU-TEE", 1)]);
    let c = consumer(&stock);
    c.handle(paid("o-1"), Deadline::default()).await.unwrap();
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (3, 0));
    let out = c.publisher.published();
    let Event::InventoryUpdated(u) = &out[0].data else { panic!("{:?}", out[0].kind()) };
    assert_eq!(u.items.len(), 2);
    let reservation = stock.reservation("o-1").unwrap();
    assert_eq!(reservation.status, ReservationStatus::Reserved);
    assert_eq!(reservation.events.0, out, "the reservation keeps what it announced");
}

#[tokio::test]
async fn a_short_sku_deducts_nothing_and_names_the_shortfall() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 1), ("SKU-TEE", 9)]);
    let c = consumer(&stock);
    c.handle(paid("o-2"), Deadline::default()).await.unwrap();
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (1, 9), "all or nothing");
    let out = c.publisher.published();
    let Event::InventoryUpdateFailed(f) = &out[0].data else { panic!("{:?}", out[0].kind()) };
    assert_eq!(f.shortfalls.len(), 1);
    assert_eq!((f.shortfalls[0].sku.as_str(), f.shortfalls[0].requested, f.shortfalls[0].available), ("SKU-MUG", 2, 1));
    assert_eq!(f.payment_id, "pay-o-2", "carries what the refund needs");
    assert_eq!(f.amount.amount, 4500);
    assert_eq!(stock.reservation("o-2").unwrap().status, ReservationStatus::Rejected);
}

#[tokio::test]
async fn an_unknown_sku_counts_as_zero_stock() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 10)]);
    let c = consumer(&stock);
    c.handle(paid("o-3"), Deadline::default()).await.unwrap();
    assert_eq!(c.publisher.published()[0].kind(), EventType::InventoryUpdateFailed);
    assert_eq!(stock.level("SKU-MUG"), 10);
}

#[tokio::test]
async fn a_redelivered_payment_deducts_once() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 5), ("SKU-TEE", 5)]);
    let c = consumer(&stock);
    let event = paid("o-4");
    for _ in 0..3 {
        c.handle(event.clone(), Deadline::default()).await.unwrap();
    }
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (3, 4));
    let published = c.publisher.published();
    assert_eq!(published.len(), 3);
    assert!(published.iter().all(|e| *e == published[0]), "the stored event, byte for byte");
}

#[tokio::test]
async fn a_rejected_order_stays_rejected_when_the_stock_comes_back() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 0), ("SKU-TEE", 5)]);
    let c = consumer(&stock);
    let event = paid("o-5");
    c.handle(event.clone(), Deadline::default()).await.unwrap();
    stock.set("SKU-MUG", 50);
    c.handle(event, Deadline::default()).await.unwrap();
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (50, 5), "refunded orders never take stock later");
    let kinds: Vec<EventType> = c.publisher.published().iter().map(|e| e.kind()).collect();
    assert_eq!(kinds, [EventType::InventoryUpdateFailed, EventType::InventoryUpdateFailed]);
}

#[test]
fn lines_of_one_sku_are_merged() {
    let items =
        [SkuQty { sku: "A".into(), qty: 1 }, SkuQty { sku: "B".into(), qty: 2 }, SkuQty { sku: "A".into(), qty: 3 }];
    assert_eq!(merged(&items), [SkuQty { sku: "A".into(), qty: 4 }, SkuQty { sku: "B".into(), qty: 2 }]);
}

fn shipping_failed(order_id: &str) -> shopsphere_events::Envelope {
    let order = samples::order_created(order_id);
    samples::shipping_failed(&samples::inventory_updated(&samples::payment_processed(&order), &order), &order)
}

#[tokio::test]
async fn an_order_that_could_not_ship_gets_its_stock_back_once() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 5), ("SKU-TEE", 1)]);
    let c = consumer(&stock);
    c.handle(paid("o-30"), Deadline::default()).await.unwrap();
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (3, 0));
    for _ in 0..2 {
        c.handle(shipping_failed("o-30"), Deadline::default()).await.unwrap();
    }
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (5, 1), "given back once");
    assert_eq!(stock.reservation("o-30").unwrap().status, ReservationStatus::Released);
}

#[tokio::test]
async fn a_reservation_whose_retries_are_spent_is_rejected_so_the_payment_is_refunded() {
    let stock = InMemoryStock::with(&[("SKU-MUG", 5), ("SKU-TEE", 1)]);
    let c = consumer(&stock);
    let outcome = c.service.give_up(&paid("o-31"), "table unavailable", Deadline::default()).await.unwrap();
    let Some(Outcome::Applied(events)) = outcome else { panic!("{outcome:?}") };
    let Event::InventoryUpdateFailed(f) = &events[0].data else { panic!("{:?}", events[0].kind()) };
    assert_eq!(f.reason.code, "inventory_unavailable");
    assert_eq!((stock.level("SKU-MUG"), stock.level("SKU-TEE")), (5, 1), "nothing taken");
    assert_eq!(stock.reservation("o-31").unwrap().status, ReservationStatus::Rejected);
    // Already reserved: giving up answers with the reservation's own event.
    c.handle(paid("o-32"), Deadline::default()).await.unwrap();
    let outcome = c.service.give_up(&paid("o-32"), "late", Deadline::default()).await.unwrap();
    let Some(Outcome::Repeat(events)) = outcome else { panic!("{outcome:?}") };
    assert_eq!(events[0].kind(), EventType::InventoryUpdated);
}
