//! Notification service (DESIGN.md §1): renders one email per saga event,
//! sends it through a provider port and records it in the notifications table
//! in the same transaction as the idempotency completion.

pub mod domain;
pub mod dynamodb;
pub mod provider;

pub use domain::{Email, MailProvider, Notification, SentEmail, render};
