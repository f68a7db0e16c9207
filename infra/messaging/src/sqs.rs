//! SQS adapter of [`QueueOps`]: DLQ hand-off with reason attributes, retry delays.

use std::time::Duration;

use aws_lambda_events::sqs::SqsMessage;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::MessageAttributeValue;
use shopsphere_events::ErrorClass;
use shopsphere_runtime::{BoxError, ConfigError, env_var};

use crate::batch::{DeadLetter, QueueOps, REPLAY_ID};

/// Longest reason kept in the `error_reason` attribute.
pub const MAX_REASON_CHARS: usize = 4096;
/// Attributes of the original message carried over to the DLQ copy (and
/// back by a redrive): a replay stays a replay.
const CARRIED_ATTRIBUTES: [&str; 3] = ["event_type", "correlation_id", REPLAY_ID];
/// SQS rejects empty bodies; an empty poison message is kept as this text.
pub const EMPTY_BODY_MARKER: &str = "(empty body)";

/// The function's own queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: String,
}

impl SqsQueue {
    pub fn new(client: Client, queue_url: impl Into<String>, dlq_url: impl Into<String>) -> Self {
        SqsQueue { client, queue_url: queue_url.into(), dlq_url: dlq_url.into() }
    }

    /// Open the connection to SQS at init (GetQueueAttributes of the DLQ), so
    /// the first dead letter or retry delay pays no handshake; a failure is only logged.
    pub async fn warm_up(&self) {
        let arn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
        if let Err(e) = self.client.get_queue_attributes().queue_url(&self.dlq_url).attribute_names(arn).send().await {
            tracing::warn!(queue = %self.dlq_url, error = %shopsphere_runtime::error_chain(&e), "warm-up request failed");
        }
    }

    /// From `QUEUE_URL` and `DLQ_URL`.
    pub fn from_env(client: Client) -> Result<Self, ConfigError> {
        Ok(Self::new(client, env_var("QUEUE_URL")?, env_var("DLQ_URL")?))
    }
}

fn string_attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("data type is set")
}

fn truncated(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A queue's (visible, in flight) message counts: approximate, as SQS keeps them.
pub async fn queue_depth(client: &Client, url: &str) -> Result<(u64, u64), BoxError> {
    use aws_sdk_sqs::types::QueueAttributeName::{ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible};
    let attributes = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(ApproximateNumberOfMessages)
        .attribute_names(ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?
        .attributes
        .unwrap_or_default();
    let count = |name| attributes.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((count(ApproximateNumberOfMessages), count(ApproximateNumberOfMessagesNotVisible)))
}

/// What the dead-lettered copy's attributes say (besides the carried ones):
/// why, how bad, from where, when. A redrive drops them again.
pub const DEAD_LETTER_ATTRIBUTES: [&str; 7] = [
    "error_code",
    "error_class",
    "error_reason",
    "failed_at",
    "source_queue_arn",
    "original_message_id",
    "receive_count",
];

/// `error_class` of a record dead-lettered for a permanent reason: it will
/// fail the same way again, so `shopsphere dlq redrive` leaves it unless
/// forced. The other class, `transient`, marks a record whose retries were
/// spent: a redrive may succeed.
pub const PERMANENT: &str = "permanent";
pub const TRANSIENT: &str = "transient";

/// The message attributes of a dead-lettered copy: why, from where, when.
pub fn dead_letter_attributes(letter: &DeadLetter<'_>) -> Vec<(String, MessageAttributeValue)> {
    let message = letter.message;
    let [code, class, reason, failed_at, source, original, receive_count] = DEAD_LETTER_ATTRIBUTES;
    let mut attrs = vec![
        (code.to_owned(), string_attribute(letter.code)),
        (
            class.to_owned(),
            string_attribute(match letter.class {
                ErrorClass::Permanent => PERMANENT,
                ErrorClass::Transient => TRANSIENT,
            }),
        ),
        (reason.to_owned(), string_attribute(&truncated(letter.reason, MAX_REASON_CHARS))),
        (failed_at.to_owned(), string_attribute(&chrono::Utc::now().to_rfc3339())),
    ];
    let mut optional = |name: &str, value: Option<&str>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            attrs.push((name.to_owned(), string_attribute(v)));
        }
    };
    optional(source, message.event_source_arn.as_deref());
    optional(original, message.message_id.as_deref());
    optional(receive_count, message.attributes.get("ApproximateReceiveCount").map(String::as_str));
    for name in CARRIED_ATTRIBUTES {
        optional(name, message.message_attributes.get(name).and_then(|a| a.string_value.as_deref()));
    }
    attrs
}

impl QueueOps for SqsQueue {
    async fn dead_letter(&self, letter: DeadLetter<'_>) -> Result<(), BoxError> {
        let body = letter.message.body.as_deref().filter(|b| !b.is_empty()).unwrap_or(EMPTY_BODY_MARKER);
        self.client
            .send_message()
            .queue_url(&self.dlq_url)
            .message_body(body)
            .set_message_attributes(Some(dead_letter_attributes(&letter).into_iter().collect()))
            .send()
            .await?;
        Ok(())
    }

    async fn delay_retry(&self, message: &SqsMessage, delay: Duration) -> Result<(), BoxError> {
        let receipt = message.receipt_handle.as_deref().ok_or("record has no receipt handle")?;
        // SQS caps visibility at 12 hours.
        let seconds = i32::try_from(delay.as_secs().min(43_200)).unwrap_or(43_200);
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(seconds)
            .send()
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_truncated_on_a_char_boundary() {
        assert_eq!(truncated("héllo", 2), "hé…");
        assert_eq!(truncated("hé", 2), "hé");
    }
}
