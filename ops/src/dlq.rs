//! Dead-letter queues: what is in them, why, and moving it back.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use chrono::{DateTime, Utc};
use shopsphere_messaging::sqs::{DEAD_LETTER_ATTRIBUTES, PERMANENT};

use crate::Ops;

/// One dead-letter queue's state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DlqState {
    pub name: String,
    pub url: String,
    pub visible: u64,
    pub in_flight: u64,
    /// Age of the oldest message among those peeked (at most 10).
    pub oldest_age: Option<Duration>,
}

impl Ops {
    /// The stack's dead-letter targets: every `<X>DLQ`, the subscription DLQ
    /// and the outbox's on-failure queue, by output name.
    pub fn dlq_names(&self) -> Vec<String> {
        self.outputs
            .keys()
            .filter_map(|k| k.strip_suffix("Url"))
            .filter(|k| k.ends_with("DLQ") || k.ends_with("FailureQueue"))
            .map(str::to_owned)
            .collect()
    }

    pub async fn depth(&self, url: &str) -> anyhow::Result<(u64, u64)> {
        shopsphere_messaging::sqs::queue_depth(&self.sqs, url).await.map_err(|e| anyhow::anyhow!("reading {url}: {e}"))
    }

    pub async fn dlq_list(&self) -> anyhow::Result<Vec<DlqState>> {
        let mut states = Vec::new();
        for name in self.dlq_names() {
            let url = self.queue_url(&name)?;
            let (visible, in_flight) = self.depth(&url).await?;
            let oldest_age = if visible > 0 {
                let peeked = self.peek(&url, 10).await?;
                peeked.iter().filter_map(sent_at).min().map(|t| (Utc::now() - t).to_std().unwrap_or_default())
            } else {
                None
            };
            states.push(DlqState { name, url, visible, in_flight, oldest_age });
        }
        Ok(states)
    }

    /// Up to `n` messages, left in the queue: received with a short
    /// visibility, then made visible again at once.
    pub async fn peek(&self, url: &str, n: usize) -> anyhow::Result<Vec<Message>> {
        let mut seen: Vec<Message> = Vec::new();
        while seen.len() < n {
            let out = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages((n - seen.len()).min(10) as i32)
                .visibility_timeout(30)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await?;
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            seen.extend(batch);
        }
        for m in &seen {
            if let Some(handle) = m.receipt_handle() {
                self.sqs
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await?;
            }
        }
        Ok(seen)
    }

    async fn arn(&self, url: &str) -> anyhow::Result<String> {
        self.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .with_context(|| format!("{url} has no ARN"))
    }

    /// Where a DLQ's messages go back to, (name, URL): `--to`, else the queue
    /// it serves (`PaymentDLQ` → `PaymentQueue`).
    pub fn redrive_target(&self, dlq: &str, to: Option<&str>) -> anyhow::Result<(String, String)> {
        let name = match to {
            Some(queue) => queue.to_owned(),
            None => {
                let source = dlq
                    .strip_suffix("DLQ")
                    .filter(|s| !s.is_empty() && *s != "Subscription")
                    .with_context(|| format!("{dlq} serves no single queue: name one with --to"))?;
                format!("{source}Queue")
            }
        };
        let url = self.queue_url(&name)?;
        Ok((name, url))
    }

    /// Move the messages of `dlq` back to `target`. Unless `force`, a message
    /// dead-lettered for a permanent reason (`error_class=permanent`: it would
    /// fail the same way again, e.g. a replay a consumer does not take) stays,
    /// so it is moved by hand: receive → send → delete (a message is deleted
    /// only once its copy was sent: a crash may duplicate, never lose, and the
    /// consumers' guards absorb the duplicate), at most as many as the DLQ held
    /// at the start (a consumer that dead-letters again does not make it loop).
    /// `force` moves all, by SQS's own move task where the service has it.
    pub async fn redrive(&self, dlq_url: &str, target_url: &str, force: bool) -> anyhow::Result<Redriven> {
        if force {
            let (source_arn, target_arn) = (self.arn(dlq_url).await?, self.arn(target_url).await?);
            let task =
                self.sqs.start_message_move_task().source_arn(&source_arn).destination_arn(&target_arn).send().await;
            match task {
                Ok(_) => {
                    self.wait_for_move(&source_arn).await?;
                    return Ok(Redriven { by_task: true, ..Redriven::default() });
                }
                Err(e) => eprintln!(
                    "StartMessageMoveTask unavailable ({}); moving message by message",
                    shopsphere_runtime::error_chain(&e)
                ),
            }
        }
        self.move_by_hand(dlq_url, target_url, force).await
    }
    async fn wait_for_move(&self, source_arn: &str) -> anyhow::Result<()> {
        for _ in 0..600 {
            let tasks = self.sqs.list_message_move_tasks().source_arn(source_arn).send().await?;
            let latest = tasks.results().first();
            match latest.and_then(|t| t.status()) {
                Some("COMPLETED") => return Ok(()),
                Some("FAILED") | Some("CANCELLED") => {
                    anyhow::bail!(
                        "move task ended {:?}: {:?}",
                        latest.and_then(|t| t.status()),
                        latest.and_then(|t| t.failure_reason())
                    )
                }
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        anyhow::bail!("the move task did not finish in 5 minutes; see `aws sqs list-message-move-tasks`")
    }

    async fn move_by_hand(&self, dlq_url: &str, target_url: &str, force: bool) -> anyhow::Result<Redriven> {
        let (at_start, _) = self.depth(dlq_url).await?;
        let mut done = Redriven::default();
        let mut kept = Vec::new();
        while done.moved + done.kept < at_start as usize {
            let out = self
                .sqs
                .receive_message()
                .queue_url(dlq_url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await?;
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                break;
            }
            for message in batch {
                let attributes = message.message_attributes().cloned().unwrap_or_default();
                let permanent = attributes.get("error_class").and_then(|a| a.string_value()) == Some(PERMANENT);
                if permanent && !force {
                    done.kept += 1;
                    kept.extend(message.receipt_handle().map(str::to_owned));
                    continue;
                }
                let carried: HashMap<_, _> =
                    attributes.into_iter().filter(|(k, _)| !DEAD_LETTER_ATTRIBUTES.contains(&k.as_str())).collect();
                self.sqs
                    .send_message()
                    .queue_url(target_url)
                    .message_body(message.body().unwrap_or_default())
                    .set_message_attributes(Some(carried))
                    .send()
                    .await
                    .context("sending a copy back (the original stays in the DLQ)")?;
                self.sqs
                    .delete_message()
                    .queue_url(dlq_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .context("deleting a moved message (its copy was sent: it may be processed twice, idempotently)")?;
                done.moved += 1;
            }
        }
        // What stays is visible again at once, for `dlq show`.
        for handle in kept {
            self.sqs
                .change_message_visibility()
                .queue_url(dlq_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await?;
        }
        Ok(done)
    }
}

/// What a redrive did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redriven {
    /// SQS's move task moved everything (it says no count).
    pub by_task: bool,
    pub moved: usize,
    /// Left in the DLQ: dead-lettered for a permanent reason.
    pub kept: usize,
}

pub fn sent_at(message: &Message) -> Option<DateTime<Utc>> {
    let millis: i64 = message.attributes()?.get(&MessageSystemAttributeName::SentTimestamp)?.parse().ok()?;
    DateTime::from_timestamp_millis(millis)
}

/// A message as `dlq show` prints it, secrets masked (an event published
/// before OrderCreated lost its payment token still carries one).
pub fn describe(message: &Message) -> String {
    let mut text = format!(
        "message {}  received {} time(s)  sent {}\n",
        message.message_id().unwrap_or("?"),
        message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .map_or("?", String::as_str),
        sent_at(message).map_or_else(|| "?".to_owned(), |t| t.to_rfc3339()),
    );
    let mut attributes: Vec<_> = message.message_attributes().into_iter().flatten().collect();
    attributes.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in attributes {
        text.push_str(&format!("  {name}: {}\n", value.string_value().unwrap_or("(binary)")));
    }
    text.push_str(&format!("  body: {}\n", shopsphere_events::redact_text(message.body().unwrap_or_default())));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_masks_the_payment_token_of_an_old_order_created_and_keeps_the_rest() {
        let mut old = serde_json::to_value(shopsphere_events::samples::order_created("o-1")).unwrap();
        old["data"]["payment_token"] = "tok_visa".into();
        let message = Message::builder().message_id("m-1").body(old.to_string()).build();
        let shown = describe(&message);
        assert!(!shown.contains("tok_visa"), "{shown}");
        assert!(shown.contains("\"order_id\":\"o-1\"") && shown.contains("[redacted]"), "{shown}");
    }
}
