//! Shipping rules over a fake table.

mod support;

use shopsphere_events::{Event, samples};
use shopsphere_runtime::Deadline;
use support::{InMemoryShipments, consumer};

fn updated(order_id: &str) -> shopsphere_events::Envelope {
    let order = samples::order_created(order_id, "tok_visa");
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
