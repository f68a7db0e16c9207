//! The committed JSON Schemas under `infra/events/schemas/`, generated from the types.
//!
//! Regenerate with `make schemas` (runs the `schemas_match_the_types` test with
//! `UPDATE_SCHEMAS=1`); the same test fails when a committed file drifts.

use std::path::PathBuf;

use crate::catalog::{EventType, envelope_schema};

/// Where the committed schema files live.
pub fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// The schema file's exact expected text (pretty JSON, trailing newline).
pub fn rendered_schema(event_type: EventType) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(envelope_schema(event_type))).expect("schema serializes");
    text.push('\n');
    text
}

/// `docs/events.md`: the event catalog as a table, rendered from the schemas.
pub fn catalog_markdown() -> String {
    let mut text = String::from(
        "# Event catalog\n\n\
         Generated from `infra/events/schemas/` by `make schemas`; do not edit by hand.\n\
         Every event travels in the envelope of [ADR 0001](adr/0001-event-envelope.md);\n\
         one SNS topic per type (`<stack>-<Type>`, e.g. `shopsphere-dev-OrderCreated`). Payload fields marked * are required.\n\n\
         | event | CloudEvents `type` | `source` | payload (`data`) | what it means | schema |\n\
         |---|---|---|---|---|---|\n",
    );
    for t in EventType::ALL {
        let schema = envelope_schema(t);
        let payload = &schema["$defs"][t.name()];
        let required: Vec<&str> =
            payload["required"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
        let mut fields: Vec<String> = payload["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| if required.contains(&name.as_str()) { format!("{name}*") } else { name.clone() })
            .collect();
        fields.sort();
        text.push_str(&format!(
            "| {} | `{}` | `{}` | {} | {} | [{}](../infra/events/schemas/{}) |\n",
            t.name(),
            t.cloudevents_type(),
            t.source(),
            fields.join(", "),
            // A doc comment of several lines is one table cell.
            payload["description"].as_str().unwrap_or_default().replace('\n', " "),
            t.schema_file_name(),
            t.schema_file_name(),
        ));
    }
    text.push_str(PERSONAL_DATA);
    text
}

/// The part of `docs/events.md` the schemas cannot say: what personal data
/// events carry, and how the payment token left them.
const PERSONAL_DATA: &str = "
## Personal data in events

Every payload carries the customer's `email` (the notification service mails
it; no consumer calls back for it); OrderCreated also carries `customer_id`.
No event carries a street address or a payment token. What events reach is
kept as long as its queue (4 days), its DLQ (14 days) or the event archive
(kept with the data, for replay) keeps it; only the functions subscribed to a
type and the operators' CLI read them. [docs/security.md](security.md#personal-data-and-tokens)
says where each item lives and for how long.

## The payment token left OrderCreated

OrderCreated v1 carried `payment_token`; only payment read it. order-api now
deposits the token in the payment-tokens table, in the transaction that writes
the order, and payment takes it from there (and deletes it once the charge is
decided), so the other consumers of OrderCreated, the archive and the DLQs
never see it. The field was removed without a new major version: removing a
field is compatible once no consumer reads it, and consumers ignore unknown
fields, so an OrderCreated published before (redelivered from a DLQ,
replayed from the archive) still decodes everywhere, its token unread. Its
order is then either charged already (payment repeats the outcome it
stored) or has no token on file: payment declines it with
`payment_token_missing`, so the order ends PAYMENT_FAILED and the customer
is told. Old events kept with a token are masked where they are printed or
replayed (`shopsphere_events::redact`: `shopsphere dlq show`, archive reads).
";

/// The committed catalog page.
pub fn catalog_doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/events.md")
}

/// Keys in sorted order at every level, whether or not serde_json's
/// `preserve_order` feature is on in this build (feature unification varies).
fn sorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_match_the_types() {
        let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
        let mut drifted = Vec::new();
        for t in EventType::ALL {
            let path = schema_dir().join(t.schema_file_name());
            let expected = rendered_schema(t);
            if update {
                std::fs::write(&path, &expected).expect("write schema");
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(expected.as_str()) {
                drifted.push(path.display().to_string());
            }
        }
        assert!(drifted.is_empty(), "schemas drifted from the Rust types (run `make schemas`): {drifted:?}");
        let files = std::fs::read_dir(schema_dir()).unwrap().count();
        assert_eq!(files, EventType::ALL.len(), "a schema file without an event type in the catalog");
        let catalog = catalog_markdown();
        if update {
            std::fs::write(catalog_doc_path(), &catalog).expect("write docs/events.md");
        } else {
            let committed = std::fs::read_to_string(catalog_doc_path()).unwrap_or_default();
            assert_eq!(committed, catalog, "docs/events.md drifted from the schemas (run `make schemas`)");
        }
    }

    #[test]
    fn schemas_pin_the_type_and_require_the_payload_fields() {
        let schema = envelope_schema(EventType::OrderCreated);
        assert_eq!(schema["$id"], "urn:shopsphere:schema:OrderCreated:v1");
        assert_eq!(schema["properties"]["type"]["const"], "shopsphere.order.OrderCreated.v1");
        let required = schema["required"].as_array().unwrap();
        for field in crate::decode::REQUIRED_FIELDS {
            assert!(required.iter().any(|r| r == field), "{field} not required");
        }
        let text = schema.to_string();
        assert!(text.contains("\"email\"") && text.contains("\"unit_price\""), "{text}");
    }
}
