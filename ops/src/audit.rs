//! `shopsphere audit`: what must hold of a stack once its sagas have run,
//! checked from its tables and queues (docs/runbook.md lists the checks).
//! [`audit`] is plain Rust over a [`Snapshot`]; [`Ops::snapshot`] reads one.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_sqs::types::Message;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shopsphere_analytics::ArchivedEvent;
use shopsphere_events::{Envelope, decode_envelope};
use shopsphere_inventory::Reservation;
use shopsphere_inventory::ReservationStatus;
use shopsphere_inventory::dynamodb::StockRow;
use shopsphere_messaging::sqs::DEAD_LETTER_ATTRIBUTES;
use shopsphere_notification::provider::{MailRecord, mail_key};
use shopsphere_notification::{SendStatus, SentEmail, render};
use shopsphere_order_outbox::Skipped;
use shopsphere_orders::{OrderStatus, OrderView};
use shopsphere_payment::gateway::{GatewayRecord, charge_key, refund_key};
use shopsphere_payment::{Charge, PaymentRecord, PaymentStatus};
use shopsphere_runtime::dynamodb::Table;
use shopsphere_shipping::{Shipment, ShipmentStatus};

use crate::Ops;

/// Which invariant a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// An order not final though older than the settling time.
    Stuck,
    /// Stock taken ≠ stock held by reservations.
    Stock,
    Money,
    Shipment,
    Email,
    Archive,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub check: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    pub detail: String,
}

/// A message on a dead-letter queue, with why it is there.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetterEntry {
    pub queue: String,
    pub message_id: String,
    /// The order its event (or skipped outbox row) is about, when it reads as one.
    pub order_id: Option<String>,
    pub event_type: Option<String>,
    /// `error_code`, `error_class`, `error_reason`, `receive_count`... as the consumer attached them.
    pub attributes: BTreeMap<String, String>,
}

/// Everything the checks read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub orders: Vec<OrderView>,
    pub payments: Vec<PaymentRecord>,
    pub stock: Vec<StockRow>,
    pub reservations: Vec<Reservation>,
    pub shipments: Vec<Shipment>,
    pub emails: Vec<SentEmail>,
    /// The simulated gateway's `charge#` and `refund#` records.
    pub gateway: Vec<GatewayRecord>,
    /// The simulated mail provider's `mail#` records.
    pub mail: Vec<MailRecord>,
    pub archive: Vec<ArchivedEvent>,
    pub dead_letters: Vec<DeadLetterEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub orders: usize,
    pub final_orders: usize,
    pub violations: Vec<Violation>,
    pub dead_letters: Vec<DeadLetterEntry>,
}

impl Report {
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} order(s), {} final; {} violation(s); {} dead-lettered message(s)\n",
            self.orders,
            self.final_orders,
            self.violations.len(),
            self.dead_letters.len()
        );
        for v in &self.violations {
            let subject =
                v.order_id.as_deref().map(|o| format!("order {o}")).or(v.sku.as_ref().map(|s| format!("sku {s}")));
            out += &format!(
                "  {:<9} {}: {}\n",
                format!("{:?}", v.check).to_lowercase(),
                subject.unwrap_or_default(),
                v.detail
            );
        }
        for d in &self.dead_letters {
            let attribute = |k: &str| d.attributes.get(k).map_or("-", String::as_str);
            out += &format!(
                "  dlq       {} {} order {} {}: {} ({}, receive {}): {}\n",
                d.queue,
                d.message_id,
                d.order_id.as_deref().unwrap_or("-"),
                d.event_type.as_deref().unwrap_or("-"),
                attribute("error_code"),
                attribute("error_class"),
                attribute("receive_count"),
                attribute("error_reason"),
            );
        }
        out
    }
}

/// What a DLQ message is about: the order and type of its event, or the
/// order of an outbox row it skipped.
pub fn dead_letter_entry(queue: &str, message: &Message) -> DeadLetterEntry {
    let body = message.body().unwrap_or_default();
    let envelope = serde_json::from_str(body).ok().and_then(|v| decode_envelope(v).ok());
    let skipped = serde_json::from_str::<Skipped>(body).ok();
    let attributes = DEAD_LETTER_ATTRIBUTES
        .iter()
        .filter_map(|name| {
            let value = message.message_attributes()?.get(*name)?.string_value()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    DeadLetterEntry {
        queue: queue.to_owned(),
        message_id: message.message_id().unwrap_or_default().to_owned(),
        order_id: envelope.as_ref().map(|e| e.subject.clone()).or(skipped.map(|s| s.order_id)),
        event_type: envelope.map(|e| e.kind().name().to_owned()),
        attributes,
    }
}

/// Every violation in `s`; what changed within `settle` of `now` is in
/// flight and only checked for what may never happen at all.
pub fn audit(s: &Snapshot, now: DateTime<Utc>, settle: Duration) -> Vec<Violation> {
    let cutoff = now - chrono::Duration::from_std(settle).unwrap_or(chrono::Duration::MAX);
    // An unreadable time is old: better a false alarm than a missed one.
    let settled = |time: &str| DateTime::parse_from_rfc3339(time).map_or(true, |t| t < cutoff);
    let mut found = Vec::new();
    let payments: HashMap<&str, &PaymentRecord> = s.payments.iter().map(|p| (p.order_id.as_str(), p)).collect();
    let reservations: HashMap<&str, &Reservation> = s.reservations.iter().map(|r| (r.order_id.as_str(), r)).collect();
    let shipments: HashMap<&str, &Shipment> = s.shipments.iter().map(|x| (x.order_id.as_str(), x)).collect();
    let orders: HashMap<&str, &OrderView> = s.orders.iter().map(|o| (o.order_id.as_str(), o)).collect();

    for o in &s.orders {
        let id = o.order_id.as_str();
        let payment = payments.get(id).map(|p| p.status);
        let reserved = reservations.get(id).is_some_and(|r| r.status == ReservationStatus::Reserved);
        let shipped = shipments.get(id).is_some_and(|x| x.status == ShipmentStatus::Shipped);
        if shipped && payment == Some(PaymentStatus::Refunded) {
            found.push(of_order(Check::Money, id, "shipped and refunded".into()));
        }
        if !settled(&o.updated_at) {
            continue;
        }
        match o.status {
            OrderStatus::Shipped => {
                if payment != Some(PaymentStatus::Charged) {
                    found.push(of_order(Check::Money, id, format!("shipped, but its payment is {payment:?}")));
                }
                if !reserved {
                    found.push(of_order(Check::Stock, id, "shipped without reserved stock".into()));
                }
                if !shipped {
                    found.push(of_order(Check::Shipment, id, "shipped, but no shipment".into()));
                }
            }
            OrderStatus::Refunded | OrderStatus::PaymentFailed => {
                let expected = match o.status {
                    OrderStatus::Refunded => PaymentStatus::Refunded,
                    _ => PaymentStatus::Declined,
                };
                if payment != Some(expected) {
                    found.push(of_order(
                        Check::Money,
                        id,
                        format!("{}, but its payment is {payment:?}", o.status.as_str()),
                    ));
                }
                if reserved {
                    found.push(of_order(
                        Check::Stock,
                        id,
                        format!("{}, but its stock is still reserved", o.status.as_str()),
                    ));
                }
                if shipped {
                    found.push(of_order(Check::Shipment, id, format!("{}, but it has a shipment", o.status.as_str())));
                }
            }
            status => {
                let last = o.timeline_entries().pop();
                let held: Vec<String> = s
                    .dead_letters
                    .iter()
                    .filter(|d| d.order_id.as_deref() == Some(id))
                    .map(|d| {
                        let code = d.attributes.get("error_code").map_or("no reason attached", String::as_str);
                        format!("{} on {} ({code})", d.event_type.as_deref().unwrap_or("a message"), d.queue)
                    })
                    .collect();
                let next = match held.is_empty() {
                    true => "no DLQ holds a message of it (in flight on a consumer queue, or lost)".to_owned(),
                    false => format!("held: {}", held.join("; ")),
                };
                let last =
                    last.map_or("no event".to_owned(), |e| format!("last event {} {}", e.event_type, e.event_id));
                found.push(of_order(
                    Check::Stuck,
                    id,
                    format!("{} since {}; {last}; {next}", status.as_str(), o.updated_at),
                ));
            }
        }
    }
    for p in &s.payments {
        if !orders.contains_key(p.order_id.as_str()) {
            found.push(of_order(
                Check::Money,
                &p.order_id,
                format!("a {:?} payment for an order that does not exist", p.status),
            ));
        }
    }
    for x in &s.shipments {
        if !orders.contains_key(x.order_id.as_str()) {
            found.push(of_order(Check::Shipment, &x.order_id, "a shipment for an order that does not exist".into()));
        }
    }

    // The gateway: what it charged and refunded, against the payment rows.
    let by_charge_key: HashMap<String, &PaymentRecord> =
        s.payments.iter().map(|p| (charge_key(&p.charge_key), p)).collect();
    let by_refund_key: HashMap<String, &PaymentRecord> =
        s.payments.iter().filter_map(|p| Some((refund_key(p.refund_key.as_ref()?), p))).collect();
    let mut charges_per_payment: BTreeMap<&str, usize> = BTreeMap::new();
    let mut refunds_per_refund: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &s.gateway {
        if let Some(Charge::Charged { payment_id }) = &g.charge {
            *charges_per_payment.entry(payment_id).or_default() += 1;
            match by_charge_key.get(&g.id) {
                None => found.push(Violation {
                    check: Check::Money,
                    order_id: None,
                    sku: None,
                    detail: format!("the gateway charged {} ({}) for no payment row", payment_id, g.id),
                }),
                Some(p) if p.status == PaymentStatus::Declined => found.push(of_order(
                    Check::Money,
                    &p.order_id,
                    format!("charged at the gateway ({payment_id}), but DECLINED"),
                )),
                Some(_) => {}
            }
        }
        if let Some(refund_id) = &g.refund_id {
            *refunds_per_refund.entry(refund_id).or_default() += 1;
            let Some(p) = by_refund_key.get(&g.id) else {
                found.push(Violation {
                    check: Check::Money,
                    order_id: None,
                    sku: None,
                    detail: format!("the gateway refunded {refund_id} ({}) for no payment row", g.id),
                });
                continue;
            };
            if !matches!(p.status, PaymentStatus::Refunded | PaymentStatus::Refunding) {
                found.push(of_order(Check::Money, &p.order_id, format!("refunded at the gateway, but {:?}", p.status)));
            }
        }
    }
    for (payment_id, n) in charges_per_payment.into_iter().filter(|(_, n)| *n > 1) {
        found.push(Violation {
            check: Check::Money,
            order_id: None,
            sku: None,
            detail: format!("{payment_id} charged {n} times"),
        });
    }
    for (refund_id, n) in refunds_per_refund.into_iter().filter(|(_, n)| *n > 1) {
        found.push(Violation {
            check: Check::Money,
            order_id: None,
            sku: None,
            detail: format!("{refund_id} refunded {n} times"),
        });
    }
    let gateway_keys: std::collections::HashSet<&str> = s.gateway.iter().map(|g| g.id.as_str()).collect();
    for p in s.payments.iter().filter(|p| p.status == PaymentStatus::Refunded) {
        let key = p.refund_key.as_deref().map(refund_key).unwrap_or_default();
        if !gateway_keys.contains(key.as_str()) {
            found.push(Violation {
                check: Check::Money,
                order_id: Some(p.order_id.clone()),
                sku: None,
                detail: "REFUNDED, but the gateway has no refund".into(),
            });
        }
    }

    // Stock: what left each sku is what the reservations hold.
    let mut held: HashMap<&str, i64> = HashMap::new();
    for r in s.reservations.iter().filter(|r| r.status == ReservationStatus::Reserved) {
        for item in &r.items {
            *held.entry(item.sku.as_str()).or_default() += i64::from(item.qty);
        }
    }
    for row in &s.stock {
        let taken = i64::from(row.received) - i64::from(row.stock);
        let reserved = held.get(row.sku.as_str()).copied().unwrap_or(0);
        if taken != reserved {
            found.push(Violation {
                check: Check::Stock,
                order_id: None,
                sku: Some(row.sku.clone()),
                detail: format!(
                    "received {} − in stock {} = {taken}, but reservations hold {reserved}",
                    row.received, row.stock
                ),
            });
        }
    }

    // The archive: each event once; the emails its customer-facing events send.
    let mut archived: HashMap<&str, usize> = HashMap::new();
    for a in &s.archive {
        *archived.entry(a.event_id.as_str()).or_default() += 1;
    }
    for (event_id, n) in archived.iter().filter(|(_, n)| **n > 1) {
        let order = s.archive.iter().find(|a| a.event_id == *event_id).map(|a| a.order_id.clone());
        found.push(Violation {
            check: Check::Archive,
            order_id: order,
            sku: None,
            detail: format!("event {event_id} archived {n} times"),
        });
    }
    for o in s.orders.iter().filter(|o| settled(&o.updated_at)) {
        for (event_id, happened) in &o.timeline {
            if !archived.contains_key(event_id.as_str()) {
                let detail = format!("{} {event_id} is not in the archive", happened.event_type);
                found.push(Violation { check: Check::Archive, order_id: Some(o.order_id.clone()), sku: None, detail });
            }
        }
    }
    let sent: HashMap<&str, &SentEmail> = s.emails.iter().map(|e| (e.event_id.as_str(), e)).collect();
    let sends: HashMap<&str, u64> = s.mail.iter().map(|m| (m.id.as_str(), m.sends())).collect();
    let mut customer_facing = std::collections::HashSet::new();
    for a in &s.archive {
        let Some(envelope) = serde_json::from_str(&a.envelope).ok().and_then(|v| decode_envelope(v).ok()) else {
            let detail = format!("event {} is archived unreadable", a.event_id);
            found.push(Violation { check: Check::Archive, order_id: Some(a.order_id.clone()), sku: None, detail });
            continue;
        };
        if render(&envelope.data).is_none() || !customer_facing.insert(a.event_id.as_str()) {
            continue;
        }
        email_checks(&envelope, &sent, &sends, settled(&a.time), &mut found);
    }
    for e in s.emails.iter().filter(|e| !customer_facing.contains(e.event_id.as_str())) {
        let detail = format!("an email for {} {}, which is not archived", e.event_type, e.event_id);
        found.push(Violation { check: Check::Email, order_id: Some(e.order_id.clone()), sku: None, detail });
    }
    found.sort_by(|a, b| (a.check, &a.order_id, &a.sku).cmp(&(b.check, &b.order_id, &b.sku)));
    found
}

fn of_order(check: Check, order_id: &str, detail: String) -> Violation {
    Violation { check, order_id: Some(order_id.to_owned()), sku: None, detail }
}

/// One customer-facing event: its sent-log row SENT and one send at the
/// provider (more is a duplicate at any time).
fn email_checks(
    event: &Envelope,
    sent: &HashMap<&str, &SentEmail>,
    sends: &HashMap<&str, u64>,
    settled: bool,
    found: &mut Vec<Violation>,
) {
    let id = event.id.to_string();
    let n = sends.get(mail_key(&id).as_str()).copied().unwrap_or(0);
    let row = sent.get(id.as_str()).map(|e| e.status);
    let kind = event.kind().name();
    let mut violation = |detail: String| {
        found.push(Violation { check: Check::Email, order_id: Some(event.subject.clone()), sku: None, detail })
    };
    if n > 1 {
        violation(format!("the {kind} email ({id}) was sent {n} times"));
    } else if settled && (n != 1 || row != Some(SendStatus::Sent)) {
        violation(format!("the {kind} email ({id}): {n} send(s), sent-log row {row:?}"));
    }
}

impl Ops {
    /// Read every table and dead-letter queue the checks need.
    pub async fn snapshot(&self) -> anyhow::Result<Snapshot> {
        let table = |output: &str, key: &'static str| -> anyhow::Result<Table> {
            Ok(Table::new(self.dynamodb.clone(), self.output(output)?, key))
        };
        let providers: Vec<serde_json::Value> = table("SimulatedProvidersTableName", "id")?.scan().await?;
        let (mut gateway, mut mail) = (Vec::new(), Vec::new());
        for row in providers {
            let id = row["id"].as_str().unwrap_or_default();
            if id.starts_with(&charge_key("")) || id.starts_with(&refund_key("")) {
                gateway.push(serde_json::from_value(row)?);
            } else if id.starts_with(&mail_key("")) {
                mail.push(serde_json::from_value(row)?);
            }
        }
        let mut dead_letters = Vec::new();
        for name in self.dlq_names() {
            let url = self.queue_url(&name)?;
            let (visible, _) = self.depth(&url).await?;
            if visible > 0 {
                let peeked = self.peek(&url, visible as usize).await?;
                dead_letters.extend(peeked.iter().map(|m| dead_letter_entry(&name, m)));
            }
        }
        Ok(Snapshot {
            orders: table("OrdersTableName", "order_id")?.scan().await?,
            payments: table("PaymentsTableName", "order_id")?.scan().await?,
            stock: table("InventoryTableName", "sku")?.scan().await?,
            reservations: table("ReservationsTableName", "order_id")?.scan().await?,
            shipments: table("ShipmentsTableName", "order_id")?.scan().await?,
            emails: table("NotificationsTableName", "event_id")?.scan().await?,
            gateway,
            mail,
            archive: table("EventArchiveTableName", "order_id")?.scan().await?,
            dead_letters,
        })
    }

    pub async fn audit(&self, settle: Duration) -> anyhow::Result<Report> {
        let snapshot = self.snapshot().await?;
        let violations = audit(&snapshot, Utc::now(), settle);
        Ok(Report {
            orders: snapshot.orders.len(),
            final_orders: snapshot.orders.iter().filter(|o| o.status.is_final()).count(),
            violations,
            dead_letters: snapshot.dead_letters,
        })
    }
}
