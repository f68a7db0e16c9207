//! The eight event types of the saga and their v1 payloads.
//!
//! Events tell the whole story: every payload carries what any consumer needs
//! (customer email, lines, amounts, reasons), so no consumer calls back. No
//! secret: the payment token stays in the payment-tokens table.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Major version every type is currently published at (part of the type name).
pub const CURRENT_MAJOR_VERSION: u32 = 1;

/// Most lines (distinct skus) an order may have: inventory takes an order's
/// stock in one TransactWriteItems, whose 100 actions are its reservation row
/// and one stock update per sku.
pub const MAX_ORDER_LINES: usize = 99;

/// Which event; one SNS topic and one JSON Schema per variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    OrderCreated,
    PaymentProcessed,
    PaymentFailed,
    PaymentRefunded,
    InventoryUpdated,
    InventoryUpdateFailed,
    OrderShipped,
    ShippingFailed,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::OrderCreated,
        EventType::PaymentProcessed,
        EventType::PaymentFailed,
        EventType::PaymentRefunded,
        EventType::InventoryUpdated,
        EventType::InventoryUpdateFailed,
        EventType::OrderShipped,
        EventType::ShippingFailed,
    ];

    /// Short name: the SNS `event_type` message attribute and the topic's name.
    pub const fn name(self) -> &'static str {
        match self {
            EventType::OrderCreated => "OrderCreated",
            EventType::PaymentProcessed => "PaymentProcessed",
            EventType::PaymentFailed => "PaymentFailed",
            EventType::PaymentRefunded => "PaymentRefunded",
            EventType::InventoryUpdated => "InventoryUpdated",
            EventType::InventoryUpdateFailed => "InventoryUpdateFailed",
            EventType::OrderShipped => "OrderShipped",
            EventType::ShippingFailed => "ShippingFailed",
        }
    }

    /// The single service allowed to publish this type.
    pub const fn service(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order",
            EventType::PaymentProcessed | EventType::PaymentFailed | EventType::PaymentRefunded => "payment",
            EventType::InventoryUpdated | EventType::InventoryUpdateFailed => "inventory",
            EventType::OrderShipped | EventType::ShippingFailed => "shipping",
        }
    }

    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// CloudEvents `type`, e.g. `shopsphere.payment.PaymentProcessed.v1`.
    pub fn cloudevents_type(self) -> String {
        format!("shopsphere.{}.{}.v{}", self.service(), self.name(), CURRENT_MAJOR_VERSION)
    }

    /// CloudEvents `source`, e.g. `shopsphere/payment`.
    pub fn source(self) -> String {
        format!("shopsphere/{}", self.service())
    }

    /// CloudEvents `dataschema`: also the `$id` of the committed schema file.
    pub fn dataschema(self) -> String {
        format!("urn:shopsphere:schema:{}:v{}", self.name(), CURRENT_MAJOR_VERSION)
    }

    /// File name of the committed schema under `infra/events/schemas/`.
    pub fn schema_file_name(self) -> String {
        format!("{}.v{}.schema.json", self.name(), CURRENT_MAJOR_VERSION)
    }

    /// Environment variable that holds this type's topic ARN, e.g. `ORDER_CREATED_TOPIC_ARN`.
    pub fn topic_env_var(self) -> String {
        let mut var = String::new();
        for (i, c) in self.name().chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                var.push('_');
            }
            var.push(c.to_ascii_uppercase());
        }
        var + "_TOPIC_ARN"
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A money amount: integer minor units (cents) of an ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    /// Amount in minor units (e.g. cents); never a float.
    pub amount: i64,
    pub currency: Currency,
}

/// ISO 4217 currency code (validated on the way in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl JsonSchema for Currency {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Currency".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "ISO 4217 currency code: three upper-case letters.",
            "type": "string",
            "pattern": "^[A-Z]{3}$"
        })
    }
}

impl Currency {
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        code.as_str().parse()
    }
}

impl std::str::FromStr for Currency {
    type Err = String;
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Currency([a, b, c])),
            _ => Err(format!("currency must be three upper-case letters, got {code:?}")),
        }
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One priced order line, prices from the catalog at order time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderLine {
    pub sku: String,
    pub name: String,
    #[schemars(range(min = 1))]
    pub qty: u32,
    /// Unit price in minor units of the order's currency.
    pub unit_price: i64,
    /// qty × unit_price, in minor units.
    pub line_total: i64,
}

/// A quantity of one sku (what stock moves by).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkuQty {
    pub sku: String,
    #[schemars(range(min = 1))]
    pub qty: u32,
}

/// Why something failed: a stable machine code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Reason {
    /// Stable, snake_case, e.g. `card_declined`, `insufficient_stock`.
    pub code: String,
    pub message: String,
}

/// A sku the inventory could not cover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StockShortfall {
    pub sku: String,
    pub requested: u32,
    pub available: u32,
}

/// An order was accepted by the Order service (published by order-outbox).
/// It carries no payment token: payment reads the order's token from the
/// payment-tokens table, where order-api deposited it with the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderCreated {
    pub order_id: String,
    pub customer_id: String,
    pub email: String,
    /// At most `MAX_ORDER_LINES` (99), one per sku.
    #[schemars(length(min = 1, max = 99))]
    pub lines: Vec<OrderLine>,
    pub total: Money,
}

/// The customer was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentProcessed {
    pub order_id: String,
    pub payment_id: String,
    pub email: String,
    pub amount: Money,
    /// What inventory must deduct.
    pub items: Vec<SkuQty>,
}

/// The charge was refused; the order ends here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentFailed {
    pub order_id: String,
    pub email: String,
    pub amount: Money,
    pub reason: Reason,
}

/// A charge was refunded (compensation for a failed stock update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentRefunded {
    pub order_id: String,
    pub payment_id: String,
    pub refund_id: String,
    pub email: String,
    pub amount: Money,
    pub reason: Reason,
}

/// Stock for every line was deducted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryUpdated {
    pub order_id: String,
    pub email: String,
    pub items: Vec<SkuQty>,
}

/// Stock could not be deducted; nothing was. Carries what a refund needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryUpdateFailed {
    pub order_id: String,
    pub email: String,
    pub payment_id: String,
    pub amount: Money,
    pub shortfalls: Vec<StockShortfall>,
    pub reason: Reason,
}

/// The order left the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderShipped {
    pub order_id: String,
    pub email: String,
    pub shipment_id: String,
    pub carrier: String,
    pub tracking_id: String,
    pub items: Vec<SkuQty>,
}

/// The order could not be shipped (its step gave up): it is to be refunded
/// and its stock returned. Carries what both need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShippingFailed {
    pub order_id: String,
    pub email: String,
    /// The stock to return.
    pub items: Vec<SkuQty>,
    pub reason: Reason,
}

/// A decoded payload, one variant per type. Serialized as the bare payload:
/// the envelope's `type` says which it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Event {
    OrderCreated(OrderCreated),
    PaymentProcessed(PaymentProcessed),
    PaymentFailed(PaymentFailed),
    PaymentRefunded(PaymentRefunded),
    InventoryUpdated(InventoryUpdated),
    InventoryUpdateFailed(InventoryUpdateFailed),
    OrderShipped(OrderShipped),
    ShippingFailed(ShippingFailed),
}

/// A typed payload that knows its event type.
pub trait Payload: Serialize + serde::de::DeserializeOwned + JsonSchema + Into<Event> {
    const TYPE: EventType;
    /// The order this event is about (the envelope's `subject`).
    fn order_id(&self) -> &str;
}

macro_rules! payloads {
    ($($name:ident),* $(,)?) => {
        $(
            impl Payload for $name {
                const TYPE: EventType = EventType::$name;
                fn order_id(&self) -> &str {
                    &self.order_id
                }
            }
            impl From<$name> for Event {
                fn from(payload: $name) -> Event {
                    Event::$name(payload)
                }
            }
        )*

        impl Event {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(Event::$name(_) => EventType::$name,)*
                }
            }

            pub fn order_id(&self) -> &str {
                match self {
                    $(Event::$name(p) => &p.order_id,)*
                }
            }

            /// Deserialize `data` as the payload of `event_type`.
            pub fn from_data<'de, D: serde::Deserializer<'de>>(event_type: EventType, data: D) -> Result<Event, D::Error> {
                match event_type {
                    $(EventType::$name => $name::deserialize(data).map(Event::$name),)*
                }
            }
        }

        /// JSON Schema of the full envelope of each type, as committed under `schemas/`.
        pub fn envelope_schema(event_type: EventType) -> serde_json::Value {
            match event_type {
                $(EventType::$name => crate::envelope::envelope_schema_for::<$name>(),)*
            }
        }
    };
}

payloads!(
    OrderCreated,
    PaymentProcessed,
    PaymentFailed,
    PaymentRefunded,
    InventoryUpdated,
    InventoryUpdateFailed,
    OrderShipped,
    ShippingFailed,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_types_carry_service_and_version() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_name(t.name()), Some(t));
            assert!(t.cloudevents_type().starts_with(&format!("shopsphere.{}.", t.service())));
            assert!(t.cloudevents_type().ends_with(".v1"));
        }
        assert_eq!(EventType::from_name("OrderCancelled"), None);
    }

    #[test]
    fn topic_env_vars_are_screaming_snake_case() {
        assert_eq!(EventType::OrderCreated.topic_env_var(), "ORDER_CREATED_TOPIC_ARN");
        assert_eq!(EventType::InventoryUpdateFailed.topic_env_var(), "INVENTORY_UPDATE_FAILED_TOPIC_ARN");
    }

    #[test]
    fn currency_accepts_only_three_upper_case_letters() {
        assert_eq!("EUR".parse::<Currency>().unwrap().as_str(), "EUR");
        for bad in ["eur", "EU", "EURO", "E1R", ""] {
            assert!(bad.parse::<Currency>().is_err(), "{bad} accepted");
        }
        let parsed: Result<Money, _> = serde_json::from_str(r#"{"amount":1,"currency":"usd"}"#);
        assert!(parsed.is_err());
    }

    #[test]
    fn each_service_publishes_only_its_own_types() {
        let payment: Vec<_> = EventType::ALL.into_iter().filter(|t| t.service() == "payment").collect();
        assert_eq!(payment, [EventType::PaymentProcessed, EventType::PaymentFailed, EventType::PaymentRefunded]);
    }
}
