//! Decoding an SQS record body into a typed event.
//!
//! Two body forms arrive: the envelope itself (SNS raw message delivery on) and
//! a standard SNS notification whose `Message` is the envelope (raw delivery
//! off). Every failure here is permanent: the same bytes will never decode.

use serde_json::Value;

use crate::ErrorClass;
use crate::catalog::{CURRENT_MAJOR_VERSION, Event, EventType};
use crate::envelope::{Envelope, SPEC_VERSION};

/// Envelope fields that must be present (CloudEvents required + ours).
pub const REQUIRED_FIELDS: [&str; 11] = [
    "specversion",
    "id",
    "source",
    "type",
    "dataschema",
    "time",
    "subject",
    "correlationid",
    "causationid",
    "traceparent",
    "data",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not JSON: {0}")]
    NotJson(String),
    #[error("SNS notification Message is not JSON: {0}")]
    SnsMessageNotJson(String),
    #[error("not an event envelope: {0}")]
    NotAnEnvelope(String),
    #[error("missing required envelope field `{0}`")]
    MissingField(&'static str),
    #[error("envelope field `{field}` is invalid: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("unsupported major version v{version} of {event_type} (this consumer reads v{supported})")]
    UnsupportedVersion { event_type: String, version: u32, supported: u32 },
    #[error("{event_type} payload is invalid at `{path}`: {reason}")]
    InvalidData { event_type: EventType, path: String, reason: String },
}

impl DecodeError {
    /// Stable machine code, sent along as the DLQ `error_code` attribute.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::NotJson(_) | DecodeError::SnsMessageNotJson(_) => "not_json",
            DecodeError::NotAnEnvelope(_) => "not_an_envelope",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::InvalidField { .. } => "invalid_field",
            DecodeError::UnknownType(_) => "unknown_type",
            DecodeError::UnsupportedVersion { .. } => "unsupported_version",
            DecodeError::InvalidData { .. } => "invalid_data",
        }
    }

    /// Always permanent: redelivering the same bytes cannot help.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Permanent
    }
}

/// Decode an SQS message body (raw envelope or SNS notification wrapper).
pub fn decode_sqs_body(body: &str) -> Result<Envelope, DecodeError> {
    let value: Value = serde_json::from_str(body).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    match sns_message(&value) {
        Some(message) => {
            let inner = serde_json::from_str(message).map_err(|e| DecodeError::SnsMessageNotJson(e.to_string()))?;
            decode_envelope(inner)
        }
        None => decode_envelope(value),
    }
}

/// The `Message` of a standard SNS notification, if `value` is one.
fn sns_message(value: &Value) -> Option<&str> {
    let obj = value.as_object()?;
    if obj.get("Type")?.as_str()? == "Notification" && obj.contains_key("TopicArn") {
        obj.get("Message")?.as_str()
    } else {
        None
    }
}

/// Decode a parsed envelope. Unknown fields are tolerated.
pub fn decode_envelope(value: Value) -> Result<Envelope, DecodeError> {
    let Value::Object(obj) = &value else {
        return Err(DecodeError::NotAnEnvelope(format!("expected a JSON object, got {}", kind_of(&value))));
    };
    if let Some(missing) = REQUIRED_FIELDS.into_iter().find(|f| obj.get(*f).is_none_or(Value::is_null)) {
        return Err(DecodeError::MissingField(missing));
    }
    let spec = obj["specversion"].as_str();
    if spec != Some(SPEC_VERSION) {
        return Err(invalid("specversion", format!("expected \"{SPEC_VERSION}\", got {}", obj["specversion"])));
    }
    let type_name = obj["type"].as_str().ok_or_else(|| invalid("type", "must be a string".into()))?;
    let event_type = parse_type(type_name)?;

    let raw: Envelope<Value> =
        serde_path_to_error::deserialize(value).map_err(|e| invalid(&e.path().to_string(), e.inner().to_string()))?;
    raw.try_map_data(|data| decode_data(event_type, data))
}

/// `shopsphere.<service>.<Name>.v<major>` → the catalog type, if we read that version.
fn parse_type(type_name: &str) -> Result<EventType, DecodeError> {
    let unknown = || DecodeError::UnknownType(type_name.to_owned());
    let (prefix, version) = type_name.rsplit_once(".v").ok_or_else(unknown)?;
    let version: u32 = version.parse().map_err(|_| unknown())?;
    let event_type = prefix
        .rsplit_once('.')
        .and_then(|(_, name)| EventType::from_name(name))
        .filter(|t| format!("shopsphere.{}.{}", t.service(), t.name()) == prefix)
        .ok_or_else(unknown)?;
    if version != CURRENT_MAJOR_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            event_type: event_type.name().to_owned(),
            version,
            supported: CURRENT_MAJOR_VERSION,
        });
    }
    Ok(event_type)
}

fn decode_data(event_type: EventType, data: Value) -> Result<Event, DecodeError> {
    // Deserialize through a path tracker so the error names the offending field.
    let mut track = serde_path_to_error::Track::new();
    Event::from_data(event_type, serde_path_to_error::Deserializer::new(data, &mut track)).map_err(|e| {
        DecodeError::InvalidData {
            event_type,
            path: format!("data{}", display_path(&track.path())),
            reason: e.to_string(),
        }
    })
}

fn display_path(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." { String::new() } else { format!(".{p}") }
}

fn invalid(field: &str, reason: String) -> DecodeError {
    DecodeError::InvalidField { field: field.to_owned(), reason }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
