//! The stream filters template.yaml declares, on the committed stream fixtures.

use std::path::Path;

use shopsphere_local::stack::{self, EventSource};
use shopsphere_local::stream::matches;
use shopsphere_template::{Template, template_path};

fn outbox_filters() -> Vec<serde_json::Value> {
    let template = Template::load(&template_path()).expect("template.yaml");
    let spec = stack::function(&template, "OrderOutboxFunction").expect("the outbox function");
    let streams: Vec<_> =
        spec.events.into_iter().filter_map(|e| if let EventSource::Stream(s) = e { Some(s) } else { None }).collect();
    assert_eq!(streams.len(), 1, "the outbox reads one stream");
    streams.into_iter().next().unwrap().filters
}

fn records(fixture: &str) -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events").join(fixture);
    let event: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("fixture")).expect("JSON");
    event["Records"].as_array().expect("Records").clone()
}

fn passes(filters: &[serde_json::Value], record: &serde_json::Value) -> bool {
    filters.iter().any(|f| matches(f, record))
}

#[test]
fn the_outbox_sees_new_orders_only() {
    let filters = outbox_filters();
    let names: Vec<(String, bool)> = records("order-outbox/stream-insert.json")
        .iter()
        .map(|r| (r["eventName"].as_str().unwrap().to_owned(), passes(&filters, r)))
        .collect();
    assert_eq!(names, [("INSERT".to_owned(), true), ("MODIFY".to_owned(), false)]);
    let rebuilt = records("order-outbox/stream-insert-rebuilt.json");
    assert!(!passes(&filters, &rebuilt[0]), "a row rebuilt by a replay is not a new order");
}
