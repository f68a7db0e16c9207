//! Secrets out of stored and printed events: what the event archive keeps
//! and what operators' tools print goes through here.
//!
//! Current payloads carry no secret (the payment token stays in the
//! payment-tokens table); events published before OrderCreated lost its
//! `payment_token` still carry one, wherever they were kept (DLQs, archive
//! rows written before): those fields are masked, whatever their depth.

use serde_json::Value;

/// Fields whose values are secrets, at any depth of an event or message body.
pub const SECRET_FIELDS: [&str; 1] = ["payment_token"];

/// What a secret's value is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Mask every [`SECRET_FIELDS`] value in `value`, and in any JSON text a
/// string of it holds (an SNS notification's `Message` is the envelope as a
/// string). Returns whether anything was masked.
pub fn redact_value(value: &mut Value) -> bool {
    match value {
        Value::Object(fields) => {
            let mut masked = false;
            for (name, field) in fields.iter_mut() {
                if SECRET_FIELDS.contains(&name.as_str()) {
                    masked |= *field != Value::String(REDACTED.into());
                    *field = Value::String(REDACTED.into());
                } else {
                    masked |= redact_value(field);
                }
            }
            masked
        }
        Value::Array(items) => items.iter_mut().fold(false, |masked, item| redact_value(item) | masked),
        Value::String(text) => match redacted(text) {
            Some(redacted) => {
                *text = redacted;
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// `text` with its secrets masked: a JSON body field by field (re-serialized
/// only when something was masked, so a clean body is left byte for byte);
/// text that is not JSON but names a secret field, whole (a truncated or
/// mangled old event cannot be masked field by field).
pub fn redact_text(text: &str) -> String {
    redacted(text).unwrap_or_else(|| text.to_owned())
}

/// The masked form of `text`, if it holds a secret.
fn redacted(text: &str) -> Option<String> {
    if !SECRET_FIELDS.iter().any(|field| text.contains(field)) {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(mut value) => redact_value(&mut value).then(|| value.to_string()),
        Err(_) => Some(format!("{REDACTED} ({} bytes, not JSON, naming a secret field)", text.len())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// An OrderCreated as published before the token left it.
    fn old_order_created() -> Value {
        let mut value = serde_json::to_value(crate::samples::order_created("o-1")).unwrap();
        value["data"]["payment_token"] = json!("tok_visa");
        value
    }

    #[test]
    fn a_payment_token_in_a_raw_envelope_is_masked_and_the_rest_kept() {
        let old = old_order_created();
        let shown = redact_text(&old.to_string());
        assert!(!shown.contains("tok_visa"), "{shown}");
        let shown: Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(shown["data"]["payment_token"], REDACTED);
        assert_eq!(shown["data"]["email"], old["data"]["email"]);
        assert_eq!(shown["id"], old["id"]);
    }

    #[test]
    fn a_payment_token_inside_an_sns_notification_message_is_masked() {
        let body = json!({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:0:t",
                          "Message": old_order_created().to_string()})
        .to_string();
        let shown = redact_text(&body);
        assert!(!shown.contains("tok_visa"), "{shown}");
        let inner: Value =
            serde_json::from_str(serde_json::from_str::<Value>(&shown).unwrap()["Message"].as_str().unwrap()).unwrap();
        assert_eq!(inner["data"]["payment_token"], REDACTED);
        assert_eq!(inner["data"]["order_id"], "o-1");
    }

    #[test]
    fn a_body_without_secrets_or_not_json_is_left_byte_for_byte() {
        let current = crate::samples::order_created("o-2").to_json();
        assert_eq!(redact_text(&current), current);
        assert_eq!(redact_text("this is not JSON"), "this is not JSON");
    }

    #[test]
    fn text_that_is_not_json_but_names_a_secret_field_is_masked_whole() {
        let old = old_order_created().to_string();
        let truncated = &old[..old.find("tok_visa").unwrap() + "tok_visa".len()];
        let shown = redact_text(truncated);
        assert!(!shown.contains("tok_visa") && shown.starts_with(REDACTED), "{shown}");
    }

    #[test]
    fn secrets_are_masked_at_any_depth_and_in_arrays() {
        let mut value = json!({"a": [{"payment_token": "tok_1"}, {"b": {"payment_token": 7}}]});
        assert!(redact_value(&mut value));
        assert_eq!(value, json!({"a": [{"payment_token": REDACTED}, {"b": {"payment_token": REDACTED}}]}));
        assert!(!redact_value(&mut value), "masking again changes nothing");
    }
}
