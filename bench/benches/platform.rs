//! Platform micro-benchmarks: decoding an event from an SQS body (raw and
//! SNS-wrapped), and the batch processor's own cost per record.

use std::hint::black_box;

use aws_lambda_events::sqs::SqsEvent;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shopsphere_events::{decode_sqs_body, samples};
use shopsphere_messaging::testing::fixture;
use shopsphere_messaging::{BatchProcessor, InMemoryPublisher, InMemoryQueue, ProcessorConfig};
use shopsphere_runtime::Deadline;

fn body(fixture_name: &str) -> String {
    let event: SqsEvent = fixture(fixture_name);
    event.records[0].body.clone().expect("a body")
}

fn envelope_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope_decode");
    group.throughput(Throughput::Elements(1));
    for (name, fixture_name) in [("raw", "inventory/sqs-raw.json"), ("sns_wrapped", "inventory/sqs-sns.json")] {
        let body = body(fixture_name);
        group.bench_function(name, |b| b.iter(|| decode_sqs_body(black_box(&body)).expect("decodes")));
    }
    group.finish();
}

fn batch_processor(c: &mut Criterion) {
    let mut event: SqsEvent = fixture("inventory/sqs-sns.json");
    let record = event.records[0].clone();
    // Ten different events (the same one ten times would be handled once).
    event.records = (0..10)
        .map(|i| {
            let mut r = record.clone();
            r.message_id = Some(format!("m-{i}"));
            let order = samples::order_created(&format!("o-{i}"));
            r.body = Some(samples::payment_processed(&order).to_json());
            r
        })
        .collect();
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let processor = BatchProcessor::new(InMemoryQueue::default(), ProcessorConfig::default());
    let publisher = InMemoryPublisher::default();
    let mut group = c.benchmark_group("batch_processor");
    group.throughput(Throughput::Elements(10));
    group.bench_function("noop_handler_10_records", |b| {
        b.iter(|| {
            runtime.block_on(processor.process(
                black_box(event.clone()),
                Deadline::default(),
                &publisher,
                |_, _| async { Ok(vec![]) },
            ))
        })
    });
    group.finish();
}

criterion_group!(benches, envelope_decode, batch_processor);
criterion_main!(benches);
