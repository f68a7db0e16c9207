//! Validation of `POST /orders` bodies: every field error at once.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};
pub use shopsphere_events::MAX_ORDER_LINES as MAX_LINES;

pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_QTY: u64 = 1000;
/// `customer_id` is known and ignored: the customer is the token's subject,
/// never what the body says (older clients still send it).
const KNOWN_FIELDS: [&str; 4] = ["customer_id", "email", "items", "payment_token"];

/// One thing wrong with the request, by JSON path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError { field: field.into(), message: message.into() }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedLine {
    pub sku: String,
    pub qty: u32,
}

/// A well-formed order request (skus not yet checked against the catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub email: String,
    pub items: Vec<RequestedLine>,
    pub payment_token: String,
}

/// Plausible address: one `@`, no spaces, a dot in the domain, sane length.
pub fn is_sane_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn text(obj: &Map<String, Value>, field: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    match obj.get(field) {
        None | Some(Value::Null) => errors.push(error(field, "is required")),
        Some(Value::String(s)) if s.trim().is_empty() => errors.push(error(field, "must not be empty")),
        Some(Value::String(s)) if s.chars().count() > max => {
            errors.push(error(field, format!("must be at most {max} characters")))
        }
        Some(Value::String(s)) => return s.clone(),
        Some(_) => errors.push(error(field, "must be a string")),
    }
    String::new()
}

/// Check the shape of a request body; `Err` lists every problem found.
pub fn validate(body: &Value) -> Result<OrderRequest, Vec<FieldError>> {
    let Value::Object(obj) = body else { return Err(vec![error("body", "must be a JSON object")]) };
    let mut errors: Vec<FieldError> = obj
        .keys()
        .filter(|k| !KNOWN_FIELDS.contains(&k.as_str()))
        .map(|k| error(k.as_str(), "is not a known field"))
        .collect();
    let email = text(obj, "email", 254, &mut errors);
    if !email.is_empty() && !is_sane_email(&email) {
        errors.push(error("email", "is not a valid email address"));
    }
    let payment_token = text(obj, "payment_token", 256, &mut errors);
    let mut items = Vec::new();
    match obj.get("items") {
        None | Some(Value::Null) => errors.push(error("items", "is required")),
        Some(Value::Array(lines)) if lines.is_empty() || lines.len() > MAX_LINES => {
            errors.push(error("items", format!("must have 1 to {MAX_LINES} lines, has {}", lines.len())))
        }
        Some(Value::Array(lines)) => {
            let mut first_line_of: HashMap<String, usize> = HashMap::new();
            for (i, line) in lines.iter().enumerate() {
                let at = |f: &str| format!("items[{i}].{f}");
                let Value::Object(line) = line else {
                    errors.push(error(format!("items[{i}]"), "must be an object"));
                    continue;
                };
                for k in line.keys().filter(|k| !["sku", "qty"].contains(&k.as_str())) {
                    errors.push(error(at(k), "is not a known field"));
                }
                let sku = match line.get("sku") {
                    Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 64 => s.clone(),
                    Some(Value::String(_)) => {
                        errors.push(error(at("sku"), "must be 1 to 64 characters"));
                        continue;
                    }
                    None | Some(Value::Null) => {
                        errors.push(error(at("sku"), "is required"));
                        continue;
                    }
                    Some(_) => {
                        errors.push(error(at("sku"), "must be a string"));
                        continue;
                    }
                };
                if let Some(first) = first_line_of.get(&sku) {
                    errors.push(error(
                        at("sku"),
                        format!("{sku} is listed twice (also items[{first}]): one line per sku"),
                    ));
                    continue;
                }
                first_line_of.insert(sku.clone(), i);
                match line.get("qty").and_then(Value::as_u64) {
                    Some(qty) if (1..=MAX_QTY).contains(&qty) => {
                        items.push(RequestedLine { sku, qty: u32::try_from(qty).unwrap_or(u32::MAX) })
                    }
                    _ => errors.push(error(at("qty"), format!("must be an integer from 1 to {MAX_QTY}"))),
                }
            }
        }
        Some(_) => errors.push(error("items", "must be an array")),
    }
    if errors.is_empty() { Ok(OrderRequest { email, items, payment_token }) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_good_request_passes() {
        let body = json!({"customer_id": "c1", "email": "ada@example.com", "items": [{"sku": "SKU-MUG", "qty": 2}], "payment_token": "tok_visa"});
        let req = validate(&body).unwrap();
        assert_eq!(req.items, [RequestedLine { sku: "SKU-MUG".into(), qty: 2 }]);
    }

    #[test]
    fn every_error_is_listed_with_its_path() {
        let body = json!({"email": "not-an-email", "items": [{"sku": "", "qty": 0}, {"qty": 1001}, 7], "coupon": "X", "payment_token": 5});
        let fields: Vec<String> = validate(&body).unwrap_err().into_iter().map(|e| e.field).collect();
        for f in ["coupon", "email", "payment_token", "items[0].sku", "items[1].sku", "items[2]"] {
            assert!(fields.contains(&f.to_owned()), "{f} not in {fields:?}");
        }
    }

    #[test]
    fn a_body_customer_id_is_neither_required_nor_checked() {
        let items = json!([{"sku": "SKU-MUG", "qty": 1}]);
        let without = json!({"email": "a@b.co", "items": items, "payment_token": "t"});
        let with_any = json!({"customer_id": 42, "email": "a@b.co", "items": items, "payment_token": "t"});
        assert_eq!(validate(&without).unwrap(), validate(&with_any).unwrap());
    }

    #[test]
    fn a_sku_listed_twice_is_named_at_its_second_line() {
        let body = json!({"customer_id": "c", "email": "a@b.co", "payment_token": "t",
            "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}, {"sku": "A", "qty": 2}]});
        let errors = validate(&body).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "items[2].sku");
        assert!(errors[0].message.contains("items[0]"), "{}", errors[0].message);
    }

    #[test]
    fn line_counts_and_quantities_are_bounded() {
        let lines: Vec<Value> = (0..=MAX_LINES).map(|i| json!({"sku": format!("S{i}"), "qty": 1})).collect();
        let body = json!({"customer_id": "c", "email": "a@b.co", "items": lines, "payment_token": "t"});
        assert_eq!(validate(&body).unwrap_err()[0].field, "items");
        let body =
            json!({"customer_id": "c", "email": "a@b.co", "items": [{"sku": "A", "qty": 1000}], "payment_token": "t"});
        assert!(validate(&body).is_ok());
        let body =
            json!({"customer_id": "c", "email": "a@b.co", "items": [{"sku": "A", "qty": 2.5}], "payment_token": "t"});
        assert_eq!(validate(&body).unwrap_err()[0].field, "items[0].qty");
    }

    #[test]
    fn email_sanity() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_sane_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@b.co.", "a@.b.co"] {
            assert!(!is_sane_email(bad), "{bad}");
        }
    }
}
