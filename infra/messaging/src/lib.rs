//! Messaging for ShopSphere functions (docs/architecture.md): the [`Publisher`]
//! port with its SNS adapter, the SQS [`BatchProcessor`] that reports partial
//! batch failures and dead-letters permanent ones with their reason, and the
//! [`Consumer`] loop whose services make each effect once.

pub mod batch;
pub mod consumer;
pub mod lambda;
pub mod publisher;
pub mod sqs;
pub mod testing;

pub use batch::{
    Backoff, BatchProcessor, DeadLetter, HandlerError, InMemoryQueue, MAX_BACKOFF, ProcessorConfig, QueueOps,
    RETRIES_EXHAUSTED, RecordMeta,
};
pub use consumer::{Consumer, Outcome, REPEAT_RECOGNISED, Service, StoredEvents};
pub use lambda::SqsFunction;
pub use publisher::{InMemoryPublisher, PublishError, Publisher, RejectedEntry, SnsPublisher, TopicMap, Unpublished};
pub use sqs::SqsQueue;
