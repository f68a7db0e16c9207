//! What SAM deploys (the processed template, through the pinned SAM
//! translator) grants no more than the functions need, and the check fails
//! on a template that does.

use shopsphere_template::least_privilege::{check, processed};
use shopsphere_template::{Template, template_path};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn deployed() -> Template {
    processed(&template_path()).unwrap_or_else(|e| panic!("the SAM translator on template.yaml: {e}"))
}

#[test]
fn what_template_yaml_deploys_has_no_wildcard_grant_and_no_managed_policy() {
    let problems = check(&deployed());
    assert!(problems.is_empty(), "template.yaml, processed, is not least privilege:\n{}", problems.join("\n"));
}

#[test]
fn every_function_runs_as_its_own_role_as_deployed() {
    let t = deployed();
    let functions: Vec<_> = t.of_kind("AWS::Lambda::Function").collect();
    let source = Template::load(&template_path()).expect("template.yaml parses");
    assert_eq!(functions.len(), source.of_kind("AWS::Serverless::Function").count(), "a function per SAM function");
    for (id, f) in functions {
        let role = f.prop("Role").and_then(shopsphere_template::getatt_target).map(|(r, _)| r);
        assert_eq!(role, Some(format!("{id}Role").as_str()), "{id}");
    }
}

#[test]
fn a_wildcard_statement_and_sams_managed_policies_are_reported() {
    let problems = check(&processed(&fixture("wildcard.yaml")).expect("the SAM translator on the fixture"));
    let reported = |needle: &str| problems.iter().any(|p| p.contains(needle));
    assert!(reported("ScanFunctionRole: Allow [\"dynamodb:Scan\"] on Resource \"*\""), "{problems:#?}");
    assert!(
        reported(
            "ScanFunctionRole: managed policy arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole"
        ),
        "{problems:#?}"
    );
    assert!(
        reported("ScanFunctionRole: managed policy arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"),
        "{problems:#?}"
    );
    assert!(reported("WorkQueue: no queue policy denies access without TLS"), "{problems:#?}");
}

#[test]
fn a_key_policy_service_statement_without_its_conditions_is_reported() {
    let mut t = deployed();
    let key = t.resources.get_mut("EventsKey").unwrap();
    let statement = key.properties["KeyPolicy"]["Statement"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["Sid"].as_str() == Some("CloudWatchAlarmsPublish"))
        .expect("the alarms' statement");
    statement.as_mapping_mut().unwrap().remove("Condition");
    let problems = check(&t);
    assert!(problems.iter().any(|p| p.contains("EventsKey: CloudWatchAlarmsPublish")), "{problems:#?}");
}

#[test]
fn a_queue_without_its_tls_only_policy_is_reported() {
    let mut t = deployed();
    assert!(t.resources.remove("PaymentDLQPolicy").is_some());
    let problems = check(&t);
    assert!(problems.iter().any(|p| p.contains("PaymentDLQ: no queue policy denies")), "{problems:#?}");
}
