//! Helpers for tests against LocalStack: clients, throw-away resources with
//! unique names, and the part of Lambda's SQS event source mapping the tests
//! play by hand (receive → SqsEvent → delete what succeeded).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};

/// Where LocalStack listens unless `AWS_ENDPOINT_URL` says otherwise.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";
pub const REGION: &str = "us-east-1";

/// Clients for one test, all pointed at LocalStack.
#[derive(Clone)]
pub struct Emulator {
    pub config: SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| DEFAULT_ENDPOINT.to_owned())
}

/// Connect, or fail with how to start the emulator (never a silent skip).
pub async fn emulator() -> Emulator {
    let endpoint = endpoint();
    let credentials = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "localstack");
    let config = shopsphere_runtime::config_loader()
        .endpoint_url(&endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(credentials)
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    // Generous: the first request to a fresh emulator loads the service provider.
    let probe = tokio::time::timeout(Duration::from_secs(30), sqs.list_queues().send()).await;
    if !matches!(probe, Ok(Ok(_))) {
        panic!(
            "LocalStack is not reachable at {endpoint} ({probe:?}).\n\
             Start it with `make localstack-up` (or run `make test`, which starts and stops it)."
        );
    }
    Emulator { dynamodb: aws_sdk_dynamodb::Client::new(&config), sns: aws_sdk_sns::Client::new(&config), sqs, config }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

impl Emulator {
    /// A table with a single string partition key, on demand.
    pub async fn create_table(&self, prefix: &str, key: &str) -> String {
        let name = unique(prefix);
        self.dynamodb
            .create_table()
            .table_name(&name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(KeySchemaElement::builder().attribute_name(key).key_type(KeyType::Hash).build().unwrap())
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create table");
        name
    }

    pub async fn create_queue(&self, prefix: &str, attributes: HashMap<QueueAttributeName, String>) -> Queue {
        let name = unique(prefix);
        let url = self
            .sqs
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attributes))
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url");
        let arn = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("queue attributes")
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .expect("queue arn");
        Queue { url, arn }
    }

    /// A queue whose messages move to a fresh DLQ after `max_receive_count` receives.
    pub async fn create_queue_with_dlq(&self, prefix: &str, max_receive_count: u32, visibility: u32) -> (Queue, Queue) {
        let dlq = self.create_queue(&format!("{prefix}-dlq"), HashMap::new()).await;
        let redrive = serde_json::json!({"deadLetterTargetArn": dlq.arn, "maxReceiveCount": max_receive_count});
        let queue = self
            .create_queue(
                prefix,
                HashMap::from([
                    (QueueAttributeName::RedrivePolicy, redrive.to_string()),
                    (QueueAttributeName::VisibilityTimeout, visibility.to_string()),
                ]),
            )
            .await;
        (queue, dlq)
    }

    pub async fn create_topic(&self, prefix: &str) -> String {
        let name = unique(prefix);
        self.sns.create_topic().name(name).send().await.expect("create topic").topic_arn.expect("topic arn")
    }

    /// Subscribe the queue to the topic, with the queue policy AWS requires
    /// for SNS to deliver (an emulator that enforces IAM, as MiniStack does,
    /// drops the messages otherwise). A queue takes one topic this way.
    pub async fn subscribe(&self, topic_arn: &str, queue: &Queue, raw: bool) {
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue.arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }],
        });
        self.sqs
            .set_queue_attributes()
            .queue_url(&queue.url)
            .attributes(QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .expect("the queue policy");
        self.sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(&queue.arn)
            .attributes("RawMessageDelivery", raw.to_string())
            .send()
            .await
            .expect("subscribe");
    }

    /// Receive until `count` messages arrived (deleting none) or `timeout` passed.
    pub async fn receive(&self, queue: &Queue, count: usize, timeout: Duration) -> Vec<Message> {
        let start = Instant::now();
        let mut got = Vec::new();
        while got.len() < count && start.elapsed() < timeout {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&queue.url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .visibility_timeout(30)
                .send()
                .await
                .expect("receive");
            got.extend(out.messages.unwrap_or_default());
        }
        got
    }

    /// [`Emulator::receive`], then every message made visible again at once:
    /// a look that leaves the queue as it was.
    pub async fn peek(&self, queue: &Queue, count: usize, timeout: Duration) -> Vec<Message> {
        let got = self.receive(queue, count, timeout).await;
        for handle in got.iter().filter_map(|m| m.receipt_handle()) {
            self.sqs
                .change_message_visibility()
                .queue_url(&queue.url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .expect("make visible again");
        }
        got
    }

    /// One poll of the queue, the way Lambda's event source mapping does it.
    pub async fn receive_batch(&self, queue: &Queue, max: i32) -> Vec<Message> {
        self.sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(max)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive")
            .messages
            .unwrap_or_default()
    }

    /// Delete every received message not listed in the batch response, as Lambda does.
    pub async fn ack_successes(&self, queue: &Queue, received: &[Message], response: &SqsBatchResponse) {
        for m in received {
            let id = m.message_id().unwrap_or_default();
            if !response.batch_item_failures.iter().any(|f| f.item_identifier == id) {
                self.sqs
                    .delete_message()
                    .queue_url(&queue.url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Queue {
    pub url: String,
    pub arn: String,
}

/// The Lambda SQS event for messages received from `queue`, as the local
/// host's event source mapping builds it.
pub fn sqs_event(queue: &Queue, messages: &[Message]) -> SqsEvent {
    shopsphere_local::sqs::lambda_event(&queue.arn, REGION, messages)
}

/// A message attribute's string value.
pub fn attribute(m: &Message, name: &str) -> Option<String> {
    m.message_attributes()?.get(name)?.string_value().map(str::to_owned)
}
