//! Messaging for ShopSphere functions (DESIGN.md §4, §5): the [`Publisher`]
//! port with its SNS adapter, and the SQS [`BatchProcessor`] that reports
//! partial batch failures and dead-letters permanent ones with their reason.

pub mod batch;
pub mod consumer;
pub mod lambda;
pub mod publisher;
pub mod sqs;
pub mod testing;

pub use batch::{
    Backoff, BatchProcessor, DeadLetter, HandlerError, InMemoryQueue, ProcessorConfig, QueueOps, RecordMeta,
};
pub use consumer::{
    ApplyEffect, Consumer, Decision, DynamoDbSink, EffectSink, Emitted, InMemorySink, Service, TransactWrites,
};
pub use lambda::SqsFunction;
pub use publisher::{InMemoryPublisher, PublishError, Publisher, RejectedEntry, SnsPublisher, TopicMap};
pub use sqs::SqsQueue;
