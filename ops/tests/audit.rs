//! The audit's checks over hand-made snapshots: a saga that ran clean has no
//! violation, and each way it can go wrong is named with its order.

use std::time::Duration;

use chrono::{DateTime, Utc};
use shopsphere_analytics::ArchivedEvent;
use shopsphere_events::{Envelope, Event, samples};
use shopsphere_inventory::dynamodb::StockRow;
use shopsphere_inventory::{Reservation, ReservationStatus};
use shopsphere_messaging::StoredEvents;
use shopsphere_notification::provider::{MailRecord, mail_key};
use shopsphere_notification::{SendStatus, SentEmail, render};
use shopsphere_ops::audit::{Check, DeadLetterEntry, Snapshot, Violation, audit};
use shopsphere_orders::OrderView;
use shopsphere_payment::gateway::{GatewayRecord, charge_key};
use shopsphere_payment::{Charge, PaymentRecord, PaymentStatus};
use shopsphere_shipping::Shipment;

/// Long after the samples' time (2026-11-28T10:00Z): everything has settled.
fn later() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z").unwrap().with_timezone(&Utc)
}

const SETTLE: Duration = Duration::from_secs(300);

/// Order `id` shipped, every row as its services leave it: 2 mugs and a tee
/// taken from a stock of 10 each.
fn shipped(id: &str) -> Snapshot {
    let created = samples::order_created(id);
    let paid = samples::payment_processed(&created);
    let updated = samples::inventory_updated(&paid, &created);
    let shipped = samples::order_shipped(&updated, &created);
    let events = [created.clone(), paid.clone(), updated.clone(), shipped.clone()];
    let mut order = OrderView::from_event(&created);
    for e in &events[1..] {
        order.apply(e);
    }
    let Event::OrderCreated(o) = &created.data else { unreachable!() };
    let payment_id = format!("pay-{id}");
    let payment = PaymentRecord {
        order_id: id.into(),
        status: PaymentStatus::Charged,
        amount: o.total,
        email: o.email.clone(),
        items: vec![],
        charge_key: created.id.to_string(),
        lease_until: 0,
        payment_id: Some(payment_id.clone()),
        reason: None,
        refund_key: None,
        refund_id: None,
        charge_events: StoredEvents(vec![paid.clone()]),
        refund_events: StoredEvents::default(),
    };
    let Event::InventoryUpdated(u) = &updated.data else { unreachable!() };
    let reservation = Reservation {
        order_id: id.into(),
        status: ReservationStatus::Reserved,
        items: u.items.clone(),
        events: StoredEvents(vec![updated.clone()]),
        created_at: "2026-11-28T10:00:00Z".into(),
    };
    let facing: Vec<&Envelope> = events.iter().filter(|e| render(&e.data).is_some()).collect();
    Snapshot {
        orders: vec![order],
        payments: vec![payment],
        stock: vec![
            StockRow { sku: "SKU-MUG".into(), stock: 8, received: 10 },
            StockRow { sku: "SKU-TEE".into(), stock: 9, received: 10 },
        ],
        reservations: vec![reservation],
        shipments: vec![Shipment::for_order(&updated, u)],
        emails: facing.iter().map(|e| sent(e)).collect(),
        gateway: vec![GatewayRecord {
            id: charge_key(&created.id.to_string()),
            call_ids: ["call-1".to_owned()].into(),
            charge: Some(Charge::Charged { payment_id }),
            refund_id: None,
        }],
        mail: facing
            .iter()
            .map(|e| MailRecord { id: mail_key(&e.id.to_string()), send_ids: ["send-1".to_owned()].into() })
            .collect(),
        archive: events.iter().map(ArchivedEvent::of).collect(),
        dead_letters: vec![],
    }
}

fn sent(event: &Envelope) -> SentEmail {
    let email = render(&event.data).unwrap();
    SentEmail {
        event_id: event.id.to_string(),
        order_id: event.subject.clone(),
        event_type: event.kind().name().into(),
        to: email.to,
        subject: email.subject,
        status: SendStatus::Sent,
        lease_until: 0,
        provider_message_id: Some("msg-1".into()),
        sent_at: None,
    }
}

fn checks(violations: &[Violation]) -> Vec<Check> {
    violations.iter().map(|v| v.check).collect()
}

#[test]
fn a_saga_that_ran_to_shipped_has_no_violation() {
    let violations = audit(&shipped("o-1"), later(), SETTLE);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn a_second_charge_or_email_is_a_violation_even_while_the_order_is_in_flight() {
    let mut s = shipped("o-2");
    s.mail[0].send_ids.insert("send-2".into());
    let mut second = s.gateway[0].clone();
    second.id = charge_key("another-key");
    s.gateway.push(second);
    // Just now: in flight, yet these may never happen at all.
    let now = DateTime::parse_from_rfc3339("2026-11-28T10:00:01Z").unwrap().with_timezone(&Utc);
    let violations = audit(&s, now, SETTLE);
    assert_eq!(checks(&violations), [Check::Money, Check::Money, Check::Email], "{violations:#?}");
    assert!(violations.iter().any(|v| v.detail.contains("charged 2 times")), "{violations:#?}");
    assert!(violations.iter().any(|v| v.detail.contains("sent 2 times")), "{violations:#?}");
}

#[test]
fn stock_that_left_without_a_reservation_is_named_by_sku() {
    let mut s = shipped("o-3");
    s.stock[1].stock = 7;
    let violations = audit(&s, later(), SETTLE);
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert_eq!((violations[0].check, violations[0].sku.as_deref()), (Check::Stock, Some("SKU-TEE")));
}

#[test]
fn an_old_order_short_of_final_is_stuck_and_names_the_dlq_message_that_holds_it() {
    let mut s = shipped("o-4");
    // Shipping never happened: its InventoryUpdated sits on the shipping DLQ.
    s.orders[0] = {
        let created = samples::order_created("o-4");
        let mut order = OrderView::from_event(&created);
        order.apply(&samples::payment_processed(&created));
        order
    };
    s.shipments.clear();
    s.dead_letters.push(DeadLetterEntry {
        queue: "ShippingDLQ".into(),
        message_id: "m-1".into(),
        order_id: Some("o-4".into()),
        event_type: Some("InventoryUpdated".into()),
        attributes: [("error_code".to_owned(), "retries_exhausted".to_owned())].into(),
    });
    let violations = audit(&s, later(), SETTLE);
    let stuck: Vec<&Violation> = violations.iter().filter(|v| v.check == Check::Stuck).collect();
    assert_eq!(stuck.len(), 1, "{violations:#?}");
    assert_eq!(stuck[0].order_id.as_deref(), Some("o-4"));
    assert!(
        stuck[0].detail.contains("PAID") && stuck[0].detail.contains("ShippingDLQ (retries_exhausted)"),
        "{}",
        stuck[0].detail
    );
    // The archive has events the view lacks: it is the view's timeline that must be archived.
    assert!(violations.iter().all(|v| v.check != Check::Archive), "{violations:#?}");
}

#[test]
fn a_refunded_order_that_shipped_is_a_violation() {
    let mut s = shipped("o-5");
    s.payments[0].status = PaymentStatus::Refunded;
    let violations = audit(&s, later(), SETTLE);
    assert!(violations.iter().any(|v| v.detail == "shipped and refunded"), "{violations:#?}");
}

#[test]
fn a_customer_facing_event_without_its_email_is_a_violation_once_settled() {
    let mut s = shipped("o-6");
    s.emails.pop();
    s.mail.pop();
    assert_eq!(checks(&audit(&s, later(), SETTLE)), [Check::Email]);
    let just_now = DateTime::parse_from_rfc3339("2026-11-28T10:00:01Z").unwrap().with_timezone(&Utc);
    assert!(audit(&s, just_now, SETTLE).is_empty(), "in flight: the email may still come");
}
