//! The CloudEvents 1.0 (structured mode) envelope and how events derive from one another.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::{Event, EventType, Payload};
use crate::trace::TraceParent;

pub const SPEC_VERSION: &str = "1.0";

/// Namespace of derived event ids (UUIDv5); fixed forever, or re-published
/// events would change id and slip past consumers' idempotency.
pub const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5b0f_4c1e_8d2a_4f6e_9a51_3e7c_2d90_a1b4);

/// Deterministic id of the event of `event_type` caused by `causation_id`:
/// publishing it again (after a crash or a redelivery) yields the same id.
pub fn derived_event_id(causation_id: &str, event_type: EventType) -> Uuid {
    Uuid::new_v5(&EVENT_ID_NAMESPACE, format!("{causation_id}/{}", event_type.name()).as_bytes())
}

/// One event on the wire. `D` is the payload: [`Event`] once decoded, a
/// concrete payload type for schema generation, or `serde_json::Value` raw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope<D = Event> {
    /// Always "1.0".
    pub specversion: String,
    /// Event id; derived events use [`derived_event_id`].
    pub id: Uuid,
    /// Producing service, e.g. `shopsphere/payment`.
    pub source: String,
    /// e.g. `shopsphere.payment.PaymentProcessed.v1` (major version in the name).
    #[serde(rename = "type")]
    pub event_type: String,
    /// URI of the payload's JSON Schema.
    pub dataschema: String,
    /// When the fact happened (RFC 3339).
    pub time: DateTime<Utc>,
    /// The order id.
    pub subject: String,
    /// Id of the originating request; the same across the whole saga.
    pub correlationid: String,
    /// Id of the event (or request) that caused this one.
    pub causationid: String,
    /// W3C trace context of the producing invocation.
    pub traceparent: String,
    pub data: D,
}

impl Envelope<Event> {
    /// The first event of a saga, caused by a request (or a stored row) rather than an event.
    pub fn root<P: Payload>(payload: P, cause: RootCause, time: DateTime<Utc>) -> Self {
        let traceparent = cause.traceparent.unwrap_or_else(TraceParent::new_root);
        Self::build(
            payload,
            derived_event_id(&cause.causation_id, P::TYPE),
            cause.correlation_id,
            cause.causation_id,
            traceparent,
            time,
        )
    }

    /// An event caused by `parent`: same correlation and trace, causation = parent's id,
    /// deterministic id.
    pub fn derive<P: Payload, D>(parent: &Envelope<D>, payload: P, time: DateTime<Utc>) -> Self {
        let id = derived_event_id(&parent.id.to_string(), P::TYPE);
        let trace = parent.traceparent.parse::<TraceParent>().unwrap_or_else(|_| TraceParent::new_root()).child(id);
        Self::build(payload, id, parent.correlationid.clone(), parent.id.to_string(), trace, time)
    }

    fn build<P: Payload>(
        payload: P,
        id: Uuid,
        correlation_id: String,
        causation_id: String,
        trace: TraceParent,
        time: DateTime<Utc>,
    ) -> Self {
        Envelope {
            specversion: SPEC_VERSION.to_owned(),
            id,
            source: P::TYPE.source(),
            event_type: P::TYPE.cloudevents_type(),
            dataschema: P::TYPE.dataschema(),
            time,
            subject: payload.order_id().to_owned(),
            correlationid: correlation_id,
            causationid: causation_id,
            traceparent: trace.to_string(),
            data: payload.into(),
        }
    }

    /// The catalog type of the payload.
    pub fn kind(&self) -> EventType {
        self.data.event_type()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an envelope always serializes")
    }
}

impl<D> Envelope<D> {
    /// The same envelope around another form of its payload.
    pub fn try_map_data<T, E>(self, f: impl FnOnce(D) -> Result<T, E>) -> Result<Envelope<T>, E> {
        Ok(Envelope {
            specversion: self.specversion,
            id: self.id,
            source: self.source,
            event_type: self.event_type,
            dataschema: self.dataschema,
            time: self.time,
            subject: self.subject,
            correlationid: self.correlationid,
            causationid: self.causationid,
            traceparent: self.traceparent,
            data: f(self.data)?,
        })
    }
}

/// What starts a saga: the request's correlation id, the id of what caused
/// the root event (e.g. the order id for the outbox) and the caller's trace.
#[derive(Debug, Clone)]
pub struct RootCause {
    pub correlation_id: String,
    pub causation_id: String,
    pub traceparent: Option<TraceParent>,
}

/// JSON Schema of `Envelope<P>` with the type-specific constants pinned.
pub(crate) fn envelope_schema_for<P: Payload>() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Envelope<P>).to_value();
    let event_type = P::TYPE;
    schema["$id"] = event_type.dataschema().into();
    schema["title"] = format!("{} v1", event_type.name()).into();
    schema["description"] = format!(
        "CloudEvents 1.0 envelope of {}, published by the {} service.",
        event_type.name(),
        event_type.service()
    )
    .into();
    let props = &mut schema["properties"];
    props["specversion"]["const"] = SPEC_VERSION.into();
    props["type"]["const"] = event_type.cloudevents_type().into();
    props["source"]["const"] = event_type.source().into();
    props["dataschema"]["const"] = event_type.dataschema().into();
    schema
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{InventoryUpdated, SkuQty};

    fn parent() -> Envelope {
        Envelope::root(
            InventoryUpdated {
                order_id: "o-1".into(),
                email: "a@example.com".into(),
                items: vec![SkuQty { sku: "SKU-1".into(), qty: 2 }],
            },
            RootCause {
                correlation_id: "req-1".into(),
                causation_id: "o-1".into(),
                traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap()),
            },
            Utc::now(),
        )
    }

    #[test]
    fn derived_ids_are_deterministic_and_type_specific() {
        let a = derived_event_id("e-1", EventType::PaymentProcessed);
        assert_eq!(a, derived_event_id("e-1", EventType::PaymentProcessed));
        assert_ne!(a, derived_event_id("e-1", EventType::PaymentFailed));
        assert_ne!(a, derived_event_id("e-2", EventType::PaymentProcessed));
        assert_eq!(a.get_version_num(), 5);
    }

    #[test]
    fn derive_propagates_correlation_causation_and_trace() {
        let parent = parent();
        let payload = crate::catalog::OrderShipped {
            order_id: "o-1".into(),
            email: "a@example.com".into(),
            shipment_id: "s-1".into(),
            carrier: "demo".into(),
            tracking_id: "T1".into(),
            items: vec![],
        };
        let child = Envelope::derive(&parent, payload.clone(), Utc::now());
        assert_eq!(child.correlationid, "req-1");
        assert_eq!(child.causationid, parent.id.to_string());
        assert_eq!(child.id, derived_event_id(&parent.id.to_string(), EventType::OrderShipped));
        assert_eq!(child.subject, "o-1");
        assert_eq!(child.source, "shopsphere/shipping");
        assert_eq!(child.event_type, "shopsphere.shipping.OrderShipped.v1");
        let (p, c): (TraceParent, TraceParent) =
            (parent.traceparent.parse().unwrap(), child.traceparent.parse().unwrap());
        assert_eq!(p.trace_id(), c.trace_id());
        assert_ne!(p.parent_id(), c.parent_id());
        // Re-deriving (a redelivery) gives the same id and trace.
        let again = Envelope::derive(&parent, payload, Utc::now());
        assert_eq!((again.id, &again.traceparent), (child.id, &child.traceparent));
    }

    #[test]
    fn root_id_derives_from_its_cause() {
        let a = parent();
        let b = parent();
        assert_eq!(a.id, b.id);
        assert_eq!(a.id, derived_event_id("o-1", EventType::InventoryUpdated));
    }

    #[test]
    fn a_malformed_parent_trace_starts_a_new_trace() {
        let mut parent = parent();
        parent.traceparent = "garbage".into();
        let child = Envelope::derive(
            &parent,
            InventoryUpdated { order_id: "o-1".into(), email: "e@x.io".into(), items: vec![] },
            Utc::now(),
        );
        assert!(child.traceparent.parse::<TraceParent>().is_ok());
    }
}
