use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use shopsphere_events::*;

fn order_created() -> Envelope {
    Envelope::root(
        OrderCreated {
            order_id: "ord-1".into(),
            customer_id: "cus-1".into(),
            email: "ada@example.com".into(),
            lines: vec![OrderLine {
                sku: "SKU-MUG".into(),
                name: "Mug".into(),
                qty: 2,
                unit_price: 1250,
                line_total: 2500,
            }],
            total: Money { amount: 2500, currency: "EUR".parse().unwrap() },
        },
        RootCause { correlation_id: "req-1".into(), causation_id: "ord-1".into(), traceparent: None },
        Utc.with_ymd_and_hms(2026, 11, 28, 10, 0, 0).unwrap(),
    )
}

fn sns_wrapped(message: &str) -> String {
    json!({
        "Type": "Notification",
        "MessageId": "5b1c9a8e-0000-4000-8000-000000000001",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:OrderCreated",
        "Message": message,
        "Timestamp": "2026-11-28T10:00:00.000Z",
        "SignatureVersion": "1",
        "MessageAttributes": {"event_type": {"Type": "String", "Value": "OrderCreated"}}
    })
    .to_string()
}

fn with(mut v: Value, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
    f(v.as_object_mut().unwrap());
    v.to_string()
}

fn as_value(e: &Envelope) -> Value {
    serde_json::to_value(e).unwrap()
}

#[test]
fn raw_body_decodes_to_the_typed_event() {
    let event = order_created();
    let decoded = decode_sqs_body(&event.to_json()).unwrap();
    assert_eq!(decoded, event);
    assert_eq!(decoded.kind(), EventType::OrderCreated);
    let Event::OrderCreated(payload) = &decoded.data else { panic!("wrong variant") };
    assert_eq!(payload.email, "ada@example.com");
}

#[test]
fn sns_notification_body_decodes_through_the_wrapper() {
    let event = order_created();
    assert_eq!(decode_sqs_body(&sns_wrapped(&event.to_json())).unwrap(), event);
}

#[test]
fn unknown_fields_are_tolerated_at_every_level() {
    let body = with(as_value(&order_created()), |o| {
        o.insert("futurefield".into(), json!(1));
        o.get_mut("data").unwrap()["gift_wrap"] = json!(true);
    });
    assert!(decode_sqs_body(&body).is_ok());
}

#[test]
fn not_json_is_named() {
    let err = decode_sqs_body("hello {").unwrap_err();
    assert!(matches!(err, DecodeError::NotJson(_)), "{err}");
    assert_eq!(err.code(), "not_json");
    assert_eq!(err.class(), ErrorClass::Permanent);
    let err = decode_sqs_body(&sns_wrapped("not json")).unwrap_err();
    assert!(matches!(err, DecodeError::SnsMessageNotJson(_)), "{err}");
}

#[test]
fn non_object_json_is_not_an_envelope() {
    for body in ["[]", "42", "\"x\"", "null"] {
        assert!(matches!(decode_sqs_body(body), Err(DecodeError::NotAnEnvelope(_))), "{body}");
    }
}

#[test]
fn every_missing_required_field_is_named() {
    for field in shopsphere_events::decode::REQUIRED_FIELDS {
        let body = with(as_value(&order_created()), |o| {
            o.remove(field);
        });
        assert_eq!(decode_sqs_body(&body), Err(DecodeError::MissingField(field)), "{field}");
        let body = with(as_value(&order_created()), |o| {
            o.insert(field.into(), Value::Null);
        });
        assert_eq!(decode_sqs_body(&body), Err(DecodeError::MissingField(field)), "{field} null");
    }
}

#[test]
fn unknown_type_and_unsupported_version_are_distinguished() {
    let retyped = |t: &str| {
        with(as_value(&order_created()), |o| {
            o.insert("type".into(), json!(t));
        })
    };
    for unknown in ["shopsphere.order.OrderCancelled.v1", "shopsphere.payment.OrderCreated.v1", "OrderCreated", "x.v1"]
    {
        assert_eq!(decode_sqs_body(&retyped(unknown)), Err(DecodeError::UnknownType(unknown.into())));
    }
    let err = decode_sqs_body(&retyped("shopsphere.order.OrderCreated.v2")).unwrap_err();
    assert_eq!(err, DecodeError::UnsupportedVersion { event_type: "OrderCreated".into(), version: 2, supported: 1 });
    assert_eq!(err.code(), "unsupported_version");
}

#[test]
fn payload_errors_name_the_path() {
    let body = with(as_value(&order_created()), |o| {
        o.get_mut("data").unwrap().as_object_mut().unwrap().remove("email");
    });
    let err = decode_sqs_body(&body).unwrap_err();
    assert!(
        matches!(&err, DecodeError::InvalidData { event_type: EventType::OrderCreated, reason, .. } if reason.contains("missing field `email`")),
        "{err}"
    );

    let body = with(as_value(&order_created()), |o| {
        o.get_mut("data").unwrap()["lines"][0]["qty"] = json!("two");
    });
    match decode_sqs_body(&body).unwrap_err() {
        DecodeError::InvalidData { path, .. } => assert_eq!(path, "data.lines[0].qty"),
        other => panic!("{other}"),
    }
}

#[test]
fn malformed_envelope_fields_are_invalid_fields() {
    let cases = [("id", json!("not-a-uuid")), ("time", json!("yesterday")), ("specversion", json!("0.3"))];
    for (field, value) in cases {
        let body = with(as_value(&order_created()), |o| {
            o.insert(field.into(), value);
        });
        match decode_sqs_body(&body).unwrap_err() {
            DecodeError::InvalidField { field: f, .. } => assert_eq!(f, field),
            other => panic!("{field}: {other}"),
        }
    }
}

fn arb_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9@._ -]{0,24}"
}

fn arb_money() -> impl Strategy<Value = Money> {
    (any::<i64>(), "[A-Z]{3}").prop_map(|(amount, c)| Money { amount, currency: c.parse().unwrap() })
}

fn arb_items() -> impl Strategy<Value = Vec<SkuQty>> {
    prop::collection::vec((arb_text(), 1u32..1000).prop_map(|(sku, qty)| SkuQty { sku, qty }), 0..5)
}

fn arb_reason() -> impl Strategy<Value = Reason> {
    (arb_text(), arb_text()).prop_map(|(code, message)| Reason { code, message })
}

fn arb_event() -> impl Strategy<Value = Event> {
    let line = (arb_text(), arb_text(), 1u32..1000, any::<i64>(), any::<i64>())
        .prop_map(|(sku, name, qty, unit_price, line_total)| OrderLine { sku, name, qty, unit_price, line_total });
    prop_oneof![
        (arb_text(), arb_text(), arb_text(), prop::collection::vec(line, 1..4), arb_money()).prop_map(
            |(order_id, customer_id, email, lines, total)| OrderCreated { order_id, customer_id, email, lines, total }
                .into()
        ),
        (arb_text(), arb_text(), arb_text(), arb_money(), arb_items()).prop_map(
            |(order_id, payment_id, email, amount, items)| {
                PaymentProcessed { order_id, payment_id, email, amount, items }.into()
            }
        ),
        (arb_text(), arb_text(), arb_money(), arb_reason())
            .prop_map(|(order_id, email, amount, reason)| PaymentFailed { order_id, email, amount, reason }.into()),
        (arb_text(), arb_text(), arb_text(), arb_text(), arb_money(), arb_reason()).prop_map(
            |(order_id, payment_id, refund_id, email, amount, reason)| {
                PaymentRefunded { order_id, payment_id, refund_id, email, amount, reason }.into()
            }
        ),
        (arb_text(), arb_text(), arb_items()).prop_map(|(order_id, email, items)| InventoryUpdated {
            order_id,
            email,
            items
        }
        .into()),
        (arb_text(), arb_text(), arb_text(), arb_money(), arb_reason(), arb_items()).prop_map(
            |(order_id, email, payment_id, amount, reason, items)| {
                let shortfalls = items
                    .into_iter()
                    .map(|i| StockShortfall { sku: i.sku, requested: i.qty, available: i.qty / 2 })
                    .collect();
                InventoryUpdateFailed { order_id, email, payment_id, amount, shortfalls, reason }.into()
            }
        ),
        (arb_text(), arb_text(), arb_text(), arb_text(), arb_text(), arb_items()).prop_map(
            |(order_id, email, shipment_id, carrier, tracking_id, items)| {
                OrderShipped { order_id, email, shipment_id, carrier, tracking_id, items }.into()
            }
        ),
    ]
}

fn envelope_of(event: Event, correlation: String, secs: i64) -> Envelope {
    let t = event.event_type();
    Envelope {
        specversion: "1.0".into(),
        id: derived_event_id(&correlation, t),
        source: t.source(),
        event_type: t.cloudevents_type(),
        dataschema: t.dataschema(),
        time: Utc.timestamp_opt(secs, 0).unwrap(),
        subject: event.order_id().to_owned(),
        correlationid: correlation.clone(),
        causationid: correlation,
        traceparent: TraceParent::new_root().to_string(),
        data: event,
    }
}

proptest! {
    #[test]
    fn any_envelope_round_trips_in_both_body_forms(event in arb_event(), corr in arb_text(), secs in 0i64..4_000_000_000) {
        let envelope = envelope_of(event, corr, secs);
        let body = envelope.to_json();
        prop_assert_eq!(&decode_sqs_body(&body).unwrap(), &envelope);
        prop_assert_eq!(&decode_sqs_body(&sns_wrapped(&body)).unwrap(), &envelope);
    }

    #[test]
    fn no_byte_string_makes_the_decoder_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_sqs_body(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn no_mutation_of_a_valid_body_makes_the_decoder_panic(
        event in arb_event(), cut in 0usize..2048, junk in "\\PC{0,8}", wrap in any::<bool>()
    ) {
        let body = envelope_of(event, "c".into(), 0).to_json();
        let cut = body.char_indices().map(|(i, _)| i).take_while(|i| *i <= cut).last().unwrap_or(0);
        let mutated = format!("{}{}{}", &body[..cut], junk, &body[cut..]);
        let mutated = if wrap { sns_wrapped(&mutated) } else { mutated };
        let _ = decode_sqs_body(&mutated);
    }

    #[test]
    fn any_json_value_in_any_field_is_an_error_not_a_panic(
        field in prop::sample::select(shopsphere_events::decode::REQUIRED_FIELDS.to_vec()),
        value in prop_oneof![Just(json!(null)), any::<i64>().prop_map(|n| json!(n)), "\\PC{0,12}".prop_map(|s| json!(s)), Just(json!([])), Just(json!({}))]
    ) {
        let body = with(as_value(&order_created()), |o| { o.insert(field.into(), value); });
        let _ = decode_sqs_body(&body);
    }
}

#[test]
fn an_order_created_published_with_a_payment_token_still_decodes_and_drops_it() {
    // Events from before OrderCreated lost its payment_token, redelivered
    // from a DLQ or replayed from the archive: the field is unknown now.
    let current = order_created();
    let mut old: Value = serde_json::from_str(&current.to_json()).unwrap();
    old["data"]["payment_token"] = json!("tok_visa");
    let decoded = decode_sqs_body(&old.to_string()).expect("an old OrderCreated decodes");
    assert_eq!(decoded, current);
    assert!(!decoded.to_json().contains("tok_visa"), "re-serialized, it carries no token");
}
