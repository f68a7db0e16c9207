//! Shipping rules over a fake table.

mod support;

use shopsphere_events::{Event, samples};
use shopsphere_messaging::{Outcome, Service};
use shopsphere_runtime::Deadline;
use shopsphere_shipping::ShipmentStatus;
use support::{InMemoryShipments, consumer};

fn updated(order_id: &str) -> shopsphere_events::Envelope {
    let order = samples::order_created(order_id);
    samples::inventory_updated(&samples::payment_processed(&order), &order)
}

#[tokio::test]
async fn an_updated_inventory_ships_the_order_with_a_tracking_id() {
    let shipments = InMemoryShipments::default();
    let c = consumer(&shipments);
    c.handle(updated("o-1"), Deadline::default()).await.unwrap();
    let out = c.publisher.published();
    let Event::OrderShipped(s) = &out[0].data else { panic!("{:?}", out[0].kind()) };
    assert!(s.tracking_id.starts_with("DP") && s.tracking_id.len() == 14, "{}", s.tracking_id);
    assert_eq!(s.items.len(), 2);
    assert_eq!(shipments.0.lock().unwrap()["o-1"].tracking_id, s.tracking_id);
}

#[tokio::test]
async fn shipping_twice_creates_one_shipment_with_the_same_ids() {
    let shipments = InMemoryShipments::default();
    let c = consumer(&shipments);
    let first = updated("o-2");
    let mut other_delivery = first.clone();
    other_delivery.id = uuid::Uuid::new_v4();
    c.handle(first.clone(), Deadline::default()).await.unwrap();
    c.handle(first, Deadline::default()).await.unwrap();
    c.handle(other_delivery, Deadline::default()).await.unwrap();
    assert_eq!(shipments.0.lock().unwrap().len(), 1);
    let tracking: Vec<String> = c
        .publisher
        .published()
        .iter()
        .map(|e| match &e.data {
            Event::OrderShipped(s) => s.tracking_id.clone(),
            other => panic!("{:?}", other.event_type()),
        })
        .collect();
    assert_eq!(tracking.len(), 3);
    assert!(tracking.iter().all(|t| *t == tracking[0]));
    let published = c.publisher.published();
    assert!(published.iter().all(|e| *e == published[0]), "the stored OrderShipped, id and all");
}

#[tokio::test]
async fn a_shipment_whose_retries_are_spent_fails_the_order_with_shipping_failed() {
    let shipments = InMemoryShipments::default();
    let c = consumer(&shipments);
    let event = updated("o-40");
    let outcome = c.service.give_up(&event, "carrier unavailable", Deadline::default()).await.unwrap();
    let Some(Outcome::Applied(events)) = outcome else { panic!("{outcome:?}") };
    let Event::ShippingFailed(f) = &events[0].data else { panic!("{:?}", events[0].kind()) };
    assert_eq!(f.reason.code, "shipping_unavailable");
    assert_eq!(f.items.len(), 2, "what inventory gives back");
    assert_eq!(shipments.0.lock().unwrap()["o-40"].status, ShipmentStatus::Failed);
    // A redelivery answers with the same failure: one outcome per order.
    c.handle(event, Deadline::default()).await.unwrap();
    assert_eq!(c.publisher.published(), events);
}
