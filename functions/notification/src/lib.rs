//! Notification service: renders one email per customer-facing saga event and
//! sends it through a provider port, once: the event's sent-log row is claimed
//! before the provider is called and marked sent after.

pub mod domain;
pub mod dynamodb;
pub mod provider;

pub use domain::{
    Claim, Email, HANDLES, MailProvider, Notification, PUBLISHES, SendStatus, SentEmail, SentLog, render,
};
