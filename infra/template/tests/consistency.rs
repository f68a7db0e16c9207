//! template.yaml against the code, and the checker against broken copies.

use shopsphere_template::check::{Declared, check};
use shopsphere_template::{Template, Value, template_path};

fn declared() -> Vec<Declared> {
    vec![
        Declared { binary: "order-api", handles: &[], publishes: &[] },
        Declared { binary: "order-outbox", handles: &[], publishes: shopsphere_order_outbox::PUBLISHES },
        Declared {
            binary: "order-status",
            handles: shopsphere_order_status::HANDLES,
            publishes: shopsphere_order_status::PUBLISHES,
        },
        Declared {
            binary: "payment",
            handles: shopsphere_payment::domain::HANDLES,
            publishes: shopsphere_payment::domain::PUBLISHES,
        },
        Declared {
            binary: "inventory",
            handles: shopsphere_inventory::domain::HANDLES,
            publishes: shopsphere_inventory::domain::PUBLISHES,
        },
        Declared {
            binary: "shipping",
            handles: shopsphere_shipping::domain::HANDLES,
            publishes: shopsphere_shipping::domain::PUBLISHES,
        },
        Declared {
            binary: "notification",
            handles: shopsphere_notification::domain::HANDLES,
            publishes: shopsphere_notification::domain::PUBLISHES,
        },
        Declared {
            binary: "analytics",
            handles: shopsphere_analytics::HANDLES,
            publishes: shopsphere_analytics::PUBLISHES,
        },
    ]
}

fn template() -> Template {
    Template::load(&template_path()).expect("template.yaml parses")
}

#[test]
fn the_template_matches_what_the_functions_declare() {
    let problems = check(&template(), &declared());
    assert!(problems.is_empty(), "template.yaml is inconsistent:\n{}", problems.join("\n"));
}

fn assert_reports(t: &Template, needle: &str) {
    let problems = check(t, &declared());
    assert!(problems.iter().any(|p| p.contains(needle)), "expected a problem about {needle:?}, got {problems:#?}");
}

#[test]
fn a_removed_subscription_is_reported() {
    let mut t = template();
    assert!(t.resources.remove("ShippingFromInventoryUpdated").is_some());
    assert_reports(&t, "ShippingFunction: queue subscriptions");
}

#[test]
fn an_extra_subscription_is_reported() {
    let mut t = template();
    let mut extra = t.resources["ShippingFromInventoryUpdated"].clone();
    extra.properties["TopicArn"] = serde_yaml_ng::from_str("!Ref OrderCreatedTopic").unwrap();
    t.resources.insert("ShippingFromOrderCreated".into(), extra);
    assert_reports(&t, "ShippingFunction: queue subscriptions");
}

#[test]
fn a_removed_dlq_is_reported() {
    let mut t = template();
    let queue = t.resources.get_mut("InventoryQueue").unwrap();
    queue.properties.as_mapping_mut().unwrap().remove("RedrivePolicy");
    assert_reports(&t, "InventoryQueue: no RedrivePolicy");
}

#[test]
fn a_hard_coded_max_receive_count_is_reported() {
    let mut t = template();
    t.resources.get_mut("PaymentQueue").unwrap().properties["RedrivePolicy"]["maxReceiveCount"] = Value::from(3);
    assert_reports(&t, "PaymentQueue: maxReceiveCount");
}

#[test]
fn a_second_publisher_of_a_topic_is_reported() {
    let mut t = template();
    let statements = role_statements(&mut t, "ShippingFunctionRole");
    let grant = "Effect: Allow\nAction: sns:Publish\nResource: !Ref PaymentProcessedTopic\n";
    statements.push(serde_yaml_ng::from_str(grant).unwrap());
    assert_reports(&t, "topic PaymentProcessed: published by");
    assert_reports(&t, "ShippingFunction: may publish");
}

#[test]
fn a_dlq_without_alarm_is_reported() {
    let mut t = template();
    t.resources.remove("NotificationDLQAlarm");
    assert_reports(&t, "NotificationDLQ: dead-letter queue without an alarm");
}

#[test]
fn an_http_api_route_without_an_authorizer_is_reported() {
    let mut t = template();
    t.resources.get_mut("HttpApi").unwrap().properties["Auth"].as_mapping_mut().unwrap().remove("DefaultAuthorizer");
    assert_reports(&t, "OrderApiFunction.Events.PlaceOrder: an HttpApi route without an authorizer");
    let problems = check(&t, &declared());
    assert!(!problems.iter().any(|p| p.contains("ListProducts")), "Authorizer: NONE is a choice: {problems:?}");
}

#[test]
fn a_wildcard_resource_is_reported() {
    let mut t = template();
    let statements = role_statements(&mut t, "AnalyticsFunctionRole");
    statements.push(serde_yaml_ng::from_str("Effect: Allow\nAction: dynamodb:Scan\nResource: \"*\"\n").unwrap());
    assert_reports(&t, "AnalyticsFunction: Allow [\"dynamodb:Scan\"] on Resource \"*\"");
}

fn role_statements<'a>(t: &'a mut Template, role: &str) -> &'a mut Vec<Value> {
    let role = t.resources.get_mut(role).unwrap();
    role.properties["Policies"][0]["PolicyDocument"]["Statement"].as_sequence_mut().unwrap()
}

#[test]
fn a_function_without_a_role_of_its_own_is_reported() {
    let mut t = template();
    t.resources.get_mut("PaymentFunction").unwrap().properties.as_mapping_mut().unwrap().remove("Role");
    assert_reports(&t, "PaymentFunction: no Role of its own");
}

#[test]
fn policies_beside_a_role_are_reported() {
    let mut t = template();
    let policies = serde_yaml_ng::from_str("- Statement: []").unwrap();
    t.resources.get_mut("PaymentFunction").unwrap().properties["Policies"] = policies;
    assert_reports(&t, "PaymentFunction: Policies beside Role are ignored");
}

#[test]
fn a_function_that_may_not_write_its_log_group_is_reported() {
    let mut t = template();
    role_statements(&mut t, "InventoryFunctionRole").retain(|s| s["Sid"].as_str() != Some("OwnLogGroup"));
    assert_reports(&t, "InventoryFunction: its role may not write to its log group InventoryLogGroup");
}

#[test]
fn a_function_without_its_errors_alarm_is_reported() {
    let mut t = template();
    assert!(t.resources.remove("ShippingErrorsAlarm").is_some());
    assert_reports(&t, "ShippingFunction: no Errors alarm");
}

#[test]
fn a_table_without_a_deletion_policy_is_reported() {
    let mut t = template();
    t.raw["Resources"]["OrdersTable"].as_mapping_mut().unwrap().remove("DeletionPolicy");
    assert_reports(&t, "OrdersTable: no DeletionPolicy");
}

#[test]
fn a_short_visibility_timeout_is_reported() {
    let mut t = template();
    t.resources.get_mut("NotificationQueue").unwrap().properties["VisibilityTimeout"] = Value::from(60);
    assert_reports(&t, "NotificationQueue: visibility 60s < 6 × NotificationFunction's timeout 30s");
}

#[test]
fn an_unencrypted_queue_is_reported() {
    let mut t = template();
    t.resources.get_mut("ShippingDLQ").unwrap().properties.as_mapping_mut().unwrap().remove("SqsManagedSseEnabled");
    assert_reports(&t, "ShippingDLQ: not encrypted");
}

/// A transient failure (a dependency down) is retried with backoff for at
/// least 15 minutes before the step gives up (ADR 0006): the template's
/// default MaxReceiveCount and the functions' backoff base, as deployed.
#[test]
fn the_default_retry_budget_spans_at_least_15_minutes() {
    let t = template();
    let max_receive_count = t.raw["Parameters"]["MaxReceiveCount"]["Default"].as_u64().expect("a default");
    let variables = &t.raw["Globals"]["Function"]["Environment"]["Variables"];
    let base: u64 = variables["RETRY_BACKOFF_BASE_SECONDS"].as_str().expect("a string").parse().expect("seconds");
    let backoff = shopsphere_messaging::Backoff {
        base: std::time::Duration::from_secs(base),
        max: shopsphere_messaging::MAX_BACKOFF,
    };
    let budget = backoff.budget(u32::try_from(max_receive_count).expect("small"));
    assert!(budget >= std::time::Duration::from_secs(15 * 60), "{max_receive_count} receives span {budget:?}");
    eprintln!("{max_receive_count} receives, backoff base {base} s: {budget:?} of retries");
}
