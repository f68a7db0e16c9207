//! The wiring rules template.yaml must keep: subscriptions equal what each
//! consumer declares, one publisher per topic, a DLQ with the MaxReceiveCount
//! parameter and an alarm for every queue, one role of its own per function,
//! a log group and error/throttle alarms per function, encryption at rest, an
//! explicit deletion policy on every table and key, an authorizer (or an
//! explicit `NONE`) on every HTTP API route. What is deployed (the
//! processed template) is checked by [`crate::least_privilege`].

use std::collections::{BTreeMap, BTreeSet};

use shopsphere_events::EventType;

use crate::{Template, Value, getatt_target, one_or_many, ref_target};

/// What a function's crate declares about its events.
#[derive(Debug, Clone, Copy)]
pub struct Declared {
    /// The binary (template: `Metadata.BuildProperties.Binary`).
    pub binary: &'static str,
    pub handles: &'static [EventType],
    pub publishes: &'static [EventType],
}

const FUNCTION: &str = "AWS::Serverless::Function";
const QUEUE: &str = "AWS::SQS::Queue";

fn topic_type(logical_id: &str) -> Option<EventType> {
    EventType::ALL.into_iter().find(|t| logical_id == format!("{}Topic", t.name()))
}

fn strs(v: &Value) -> Vec<&str> {
    one_or_many(v).into_iter().filter_map(Value::as_str).collect()
}

/// The role resource a function runs as (`Role: !GetAtt X.Arn`).
fn role<'a>(t: &'a Template, function: &crate::Resource) -> Option<(&'a str, &'a crate::Resource)> {
    let (id, _) = function.prop("Role").and_then(getatt_target)?;
    t.resources.get_key_value(id).map(|(id, r)| (id.as_str(), r))
}

/// Every statement of a function's role's inline policies.
fn statements<'a>(t: &'a Template, function: &crate::Resource) -> Vec<&'a Value> {
    let Some((_, role)) = role(t, function) else { return vec![] };
    role.prop("Policies")
        .map(one_or_many)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.get("PolicyDocument")?.get("Statement"))
        .flat_map(one_or_many)
        .collect()
}

/// Whether an alarm watches `metric` of `function` and notifies the AlarmTopic.
fn function_alarmed(t: &Template, function: &str, metric: &str) -> bool {
    t.of_kind("AWS::CloudWatch::Alarm").any(|(_, a)| {
        a.prop("MetricName").and_then(Value::as_str) == Some(metric)
            && a.prop("Dimensions")
                .map(one_or_many)
                .unwrap_or_default()
                .iter()
                .any(|d| d.get("Value").and_then(ref_target) == Some(function))
    })
}

/// The queues a function's SQS event sources read.
fn sqs_sources(function: &crate::Resource) -> Vec<&str> {
    let Some(Value::Mapping(events)) = function.prop("Events") else { return vec![] };
    events
        .values()
        .filter(|e| e.get("Type").and_then(Value::as_str) == Some("SQS"))
        .filter_map(|e| getatt_target(e.get("Properties")?.get("Queue")?).map(|(q, _)| q))
        .collect()
}

fn binary(function: &crate::Resource) -> Option<&str> {
    function.metadata.get("BuildProperties")?.get("Binary")?.as_str()
}

fn timeout(t: &Template, function: &crate::Resource) -> u64 {
    let global = t.raw.get("Globals").and_then(|g| g.get("Function")).and_then(|f| f.get("Timeout"));
    function.prop("Timeout").or(global).and_then(Value::as_u64).unwrap_or(3)
}

/// Event types whose topics feed `queue` (by its SNS subscriptions).
pub fn subscribed_types(t: &Template, queue: &str) -> BTreeSet<EventType> {
    t.of_kind("AWS::SNS::Subscription")
        .filter(|(_, s)| s.prop("Endpoint").and_then(getatt_target) == Some((queue, "Arn")))
        .filter_map(|(_, s)| topic_type(ref_target(s.prop("TopicArn")?)?))
        .collect()
}

/// Check every rule; the list of violations is empty when the template is consistent.
pub fn check(t: &Template, declared: &[Declared]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut publishers: BTreeMap<EventType, Vec<String>> = BTreeMap::new();
    let mut roles: BTreeMap<String, String> = BTreeMap::new();
    let mut consumer_queues = Vec::new();

    for t_type in EventType::ALL {
        if !t.resources.contains_key(&format!("{}Topic", t_type.name())) {
            problems.push(format!("no topic {}Topic for event type {t_type}", t_type.name()));
        }
    }
    let functions: Vec<(&str, &crate::Resource)> = t.of_kind(FUNCTION).collect();
    for d in declared {
        if !functions.iter().any(|(_, f)| binary(f) == Some(d.binary)) {
            problems.push(format!("no function builds binary {}", d.binary));
        }
    }
    for (id, f) in &functions {
        let Some(d) = binary(f).and_then(|b| declared.iter().find(|d| d.binary == b)) else {
            problems.push(format!("{id}: binary {:?} declares no event types in code", binary(f)));
            continue;
        };
        // Subscriptions equal declared handles.
        let queues = sqs_sources(f);
        let subscribed: BTreeSet<EventType> = queues.iter().flat_map(|q| subscribed_types(t, q)).collect();
        let handles: BTreeSet<EventType> = d.handles.iter().copied().collect();
        if subscribed != handles {
            problems
                .push(format!("{id}: queue subscriptions {subscribed:?} differ from the handled types {handles:?}"));
        }
        for q in &queues {
            consumer_queues.push((q.to_string(), id.to_string(), timeout(t, f)));
        }
        // Its own role, its own log group, its alarms.
        match role(t, f) {
            Some((role_id, role)) if role.kind == "AWS::IAM::Role" => {
                if let Some(other) = roles.insert(role_id.to_owned(), id.to_string()) {
                    problems.push(format!("{id} shares its role with {other}"));
                }
            }
            _ => problems.push(format!("{id}: no Role of its own in the template (SAM would attach managed policies)")),
        }
        if f.prop("Policies").is_some() {
            problems.push(format!("{id}: Policies beside Role are ignored by SAM: put the statements in its role"));
        }
        match f.prop("LoggingConfig").and_then(|l| l.get("LogGroup")).and_then(ref_target) {
            Some(group) => match t.resources.get(group) {
                Some(g) if g.kind == "AWS::Logs::LogGroup" && g.prop("RetentionInDays").is_some() => {
                    if !statements(t, f).iter().any(|s| {
                        s.get("Resource").and_then(getatt_target) == Some((group, "Arn"))
                            && s.get("Action").map(strs).unwrap_or_default().contains(&"logs:PutLogEvents")
                    }) {
                        problems.push(format!("{id}: its role may not write to its log group {group}"));
                    }
                }
                _ => problems.push(format!("{id}: LoggingConfig.LogGroup {group} is not a log group with retention")),
            },
            None => problems.push(format!("{id}: no LoggingConfig.LogGroup")),
        }
        for metric in ["Errors", "Throttles"] {
            if !function_alarmed(t, id, metric) {
                problems.push(format!("{id}: no {metric} alarm"));
            }
        }
        // Publishing rights equal declared publishes.
        let mut published = BTreeSet::new();
        for s in statements(t, f) {
            let actions = s.get("Action").map(strs).unwrap_or_default();
            let resources: Vec<&Value> = s.get("Resource").map(one_or_many).unwrap_or_default();
            if actions.contains(&"sns:Publish") {
                for r in &resources {
                    match ref_target(r).and_then(topic_type) {
                        Some(t_type) => {
                            published.insert(t_type);
                            publishers.entry(t_type).or_default().push(id.to_string());
                        }
                        None => problems.push(format!("{id}: may publish to a resource that is not an event topic")),
                    }
                }
            }
            if let Some(wildcard) = crate::least_privilege::wildcard_grant(s) {
                problems.push(format!("{id}: {wildcard}"));
            }
        }
        let publishes: BTreeSet<EventType> = d.publishes.iter().copied().collect();
        if published != publishes {
            problems.push(format!("{id}: may publish {published:?} but its crate publishes {publishes:?}"));
        }
    }
    for t_type in EventType::ALL {
        match publishers.get(&t_type).map(Vec::as_slice) {
            Some([_]) => {}
            None | Some([]) => problems.push(format!("topic {t_type}: no function may publish it")),
            Some(many) => problems.push(format!("topic {t_type}: published by {many:?}, must be exactly one")),
        }
    }
    // Queues: a DLQ with the parameter, visibility ≥ 6 × timeout, topics-only policy.
    let mut dlqs = BTreeSet::new();
    for (q, function, timeout) in &consumer_queues {
        let Some(queue) = t.resources.get(q.as_str()) else {
            problems.push(format!("{function}: reads {q}, which is not in the template"));
            continue;
        };
        let redrive = queue.prop("RedrivePolicy");
        match redrive.and_then(|r| r.get("deadLetterTargetArn")).and_then(getatt_target) {
            Some((dlq, "Arn")) => {
                dlqs.insert(dlq.to_owned());
            }
            _ => problems.push(format!("{q}: no RedrivePolicy to a DLQ")),
        }
        if redrive.and_then(|r| r.get("maxReceiveCount")).and_then(ref_target) != Some("MaxReceiveCount") {
            problems.push(format!("{q}: maxReceiveCount is not the MaxReceiveCount parameter"));
        }
        let visibility = queue.prop("VisibilityTimeout").and_then(Value::as_u64).unwrap_or(30);
        if visibility < 6 * timeout {
            problems.push(format!("{q}: visibility {visibility}s < 6 × {function}'s timeout {timeout}s"));
        }
        let allowed: BTreeSet<EventType> = t
            .of_kind("AWS::SQS::QueuePolicy")
            .filter(|(_, p)| {
                p.prop("Queues").map(one_or_many).unwrap_or_default().iter().any(|v| ref_target(v) == Some(q))
            })
            .flat_map(|(_, p)| {
                p.prop("PolicyDocument").and_then(|d| d.get("Statement")).map(one_or_many).unwrap_or_default()
            })
            .filter_map(|s| s.get("Condition")?.get("ArnEquals")?.get("aws:SourceArn"))
            .flat_map(one_or_many)
            .filter_map(|v| topic_type(ref_target(v)?))
            .collect();
        if allowed != subscribed_types(t, q) {
            problems
                .push(format!("{q}: queue policy allows {allowed:?}, subscriptions are {:?}", subscribed_types(t, q)));
        }
    }
    // Other dead-letter targets: subscription redrives, stream failure destinations.
    for r in t.resources.values() {
        let targets = [
            r.prop("RedrivePolicy").and_then(|p| p.get("deadLetterTargetArn")),
            r.prop("Events").and_then(Value::as_mapping).and_then(|events| {
                events
                    .values()
                    .find_map(|e| e.get("Properties")?.get("DestinationConfig")?.get("OnFailure")?.get("Destination"))
            }),
        ];
        dlqs.extend(targets.into_iter().flatten().filter_map(getatt_target).map(|(q, _)| q.to_owned()));
    }
    for dlq in &dlqs {
        let alarmed = t.of_kind("AWS::CloudWatch::Alarm").any(|(_, a)| {
            a.prop("MetricName").and_then(Value::as_str) == Some("ApproximateNumberOfMessagesVisible")
                && a.prop("Dimensions")
                    .map(one_or_many)
                    .unwrap_or_default()
                    .iter()
                    .any(|d| d.get("Value").and_then(getatt_target) == Some((dlq.as_str(), "QueueName")))
        });
        if !alarmed {
            problems.push(format!("{dlq}: dead-letter queue without an alarm"));
        }
    }
    // Every alarm notifies the AlarmTopic.
    for (id, a) in t.of_kind("AWS::CloudWatch::Alarm") {
        let actions = a.prop("AlarmActions").map(one_or_many).unwrap_or_default();
        if !actions.iter().any(|v| ref_target(v) == Some("AlarmTopic")) {
            problems.push(format!("{id}: does not notify the AlarmTopic"));
        }
    }
    // Data kept or not, said of each table and key.
    for (id, r) in &t.resources {
        if matches!(r.kind.as_str(), "AWS::DynamoDB::Table" | "AWS::KMS::Key") {
            let raw = &t.raw["Resources"][id.as_str()];
            for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
                if raw.get(policy).and_then(Value::as_str).is_none() {
                    problems.push(format!("{id}: no {policy}"));
                }
            }
        }
    }
    // Encryption at rest.
    for (id, r) in &t.resources {
        let encrypted = match r.kind.as_str() {
            QUEUE => {
                r.prop("SqsManagedSseEnabled").and_then(Value::as_bool) == Some(true)
                    || r.prop("KmsMasterKeyId").is_some()
            }
            "AWS::SNS::Topic" => r.prop("KmsMasterKeyId").is_some(),
            "AWS::DynamoDB::Table" => {
                r.prop("SSESpecification").and_then(|s| s.get("SSEEnabled")).and_then(Value::as_bool) == Some(true)
            }
            _ => true,
        };
        if !encrypted {
            problems.push(format!("{id}: not encrypted at rest"));
        }
    }
    problems.extend(open_routes(t));
    problems
}

/// HTTP API routes that no authorizer guards and that do not say they are
/// public (`Auth: Authorizer: NONE`): `sam deploy --guided` stops at each.
fn open_routes(t: &Template) -> Vec<String> {
    let mut open = Vec::new();
    for (id, f) in t.of_kind(FUNCTION) {
        let Some(Value::Mapping(events)) = f.prop("Events") else { continue };
        for (name, event) in events {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = event.get("Properties");
            let own = props.and_then(|p| p.get("Auth")).and_then(|a| a.get("Authorizer"));
            let api = props.and_then(|p| p.get("ApiId")).and_then(ref_target).and_then(|a| t.resources.get(a));
            let default = api.and_then(|a| a.prop("Auth")).and_then(|a| a.get("DefaultAuthorizer"));
            if own.or(default).is_none() {
                let name = name.as_str().unwrap_or_default();
                open.push(format!("{id}.Events.{name}: an HttpApi route without an authorizer (or Authorizer: NONE)"));
            }
        }
    }
    open
}
