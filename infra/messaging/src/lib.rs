//! Messaging for ShopSphere functions (DESIGN.md §4, §5): the [`Publisher`]
//! port with its SNS adapter, and the SQS [`BatchProcessor`] that reports
//! partial batch failures and dead-letters permanent ones with their reason.

pub mod batch;
pub mod publisher;
pub mod sqs;

pub use batch::{Backoff, BatchProcessor, DeadLetter, HandlerError, ProcessorConfig, QueueOps, RecordMeta};
pub use publisher::{PublishError, Publisher, RejectedEntry, SnsPublisher, TopicMap};
pub use sqs::SqsQueue;
