//! The status view over a fake orders table.

mod support;

use shopsphere_events::samples;
use shopsphere_order_status::domain::Milestone;
use shopsphere_orders::OrderStatus;
use shopsphere_runtime::Deadline;
use support::{InMemoryMilestones, InMemoryOrders, consumer, counting_consumer};

#[tokio::test]
async fn an_order_is_counted_placed_once_and_finalised_once_however_its_events_come() {
    let orders = InMemoryOrders::default();
    let milestones = InMemoryMilestones::default();
    let c = counting_consumer(&orders, &milestones);
    let shipped = samples::whole_saga("o-m1");
    // In order with repeats, then an order whose events come shipped first.
    for i in [0, 0, 1, 3, 6, 6] {
        c.handle(shipped[i].clone(), Deadline::default()).await.unwrap();
    }
    let late = samples::whole_saga("o-m2");
    for i in [6, 3, 1, 0] {
        c.handle(late[i].clone(), Deadline::default()).await.unwrap();
    }
    let counted = milestones.0.lock().unwrap().clone();
    let count = |m| counted.iter().filter(|c| **c == m).count();
    assert_eq!((count(Milestone::Placed), count(Milestone::Finalised)), (2, 2), "{counted:?}");
}

#[tokio::test]
async fn an_order_still_under_way_is_placed_and_not_finalised() {
    let orders = InMemoryOrders::default();
    let milestones = InMemoryMilestones::default();
    let c = counting_consumer(&orders, &milestones);
    let saga = samples::whole_saga("o-m3");
    for i in [0, 1, 3] {
        c.handle(saga[i].clone(), Deadline::default()).await.unwrap();
    }
    assert_eq!(*milestones.0.lock().unwrap(), vec![Milestone::Placed]);
}

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
