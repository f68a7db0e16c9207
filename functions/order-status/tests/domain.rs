//! The status view over a fake orders table.

mod support;

use shopsphere_events::samples;
use shopsphere_orders::OrderStatus;
use shopsphere_runtime::Deadline;
use support::{InMemoryOrders, consumer};

#[tokio::test]
async fn the_happy_path_reaches_shipped() {
    let orders = InMemoryOrders::default();
    let c = consumer(&orders);
    let saga = samples::whole_saga("o-1");
    for i in [0, 1, 3, 6] {
        c.handle(saga[i].clone(), Deadline::default()).await.unwrap();
    }
    let view = orders.view("o-1");
    assert_eq!(view.status, OrderStatus::Shipped);
    assert_eq!(view.timeline.len(), 4);
    assert!(view.rebuilt_from.is_some(), "no order-api row here: rebuilt from the first event");
}

#[tokio::test]
async fn redelivered_and_late_events_appear_once_and_never_move_back() {
    let orders = InMemoryOrders::default();
    let c = consumer(&orders);
    let saga = samples::whole_saga("o-2");
    for i in [6, 3, 0, 1, 1, 6, 3] {
        c.handle(saga[i].clone(), Deadline::default()).await.unwrap();
    }
    let view = orders.view("o-2");
    assert_eq!(view.status, OrderStatus::Shipped);
    assert_eq!(view.timeline.len(), 4);
}

#[tokio::test]
async fn declined_and_refunded_orders_end_in_their_failure_states() {
    let orders = InMemoryOrders::default();
    let c = consumer(&orders);
    let declined = samples::whole_saga("o-3");
    for i in [0, 2] {
        c.handle(declined[i].clone(), Deadline::default()).await.unwrap();
    }
    let refunded = samples::whole_saga("o-4");
    for i in [0, 1, 4, 5] {
        c.handle(refunded[i].clone(), Deadline::default()).await.unwrap();
    }
    assert_eq!(orders.view("o-3").status, OrderStatus::PaymentFailed);
    assert_eq!(orders.view("o-4").status, OrderStatus::Refunded);
    assert_eq!(orders.view("o-4").reasons.len(), 2);
}

#[tokio::test]
async fn a_late_event_joins_the_timeline_without_moving_the_status_back() {
    let orders = InMemoryOrders::default();
    let c = consumer(&orders);
    let saga = samples::whole_saga("o-5");
    for i in [0, 1, 3, 6, 1] {
        c.handle(saga[i].clone(), Deadline::default()).await.unwrap();
    }
    let mut late = saga[3].clone();
    late.id = uuid::Uuid::new_v4();
    c.handle(late, Deadline::default()).await.unwrap();
    let view = orders.view("o-5");
    assert_eq!(view.status, OrderStatus::Shipped);
    assert_eq!(view.timeline.len(), 5);
}
