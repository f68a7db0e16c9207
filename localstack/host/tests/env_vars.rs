//! The `sam local --env-vars` file `shopsphere-local env-vars` prints, from
//! template.yaml and a stack's physical ids (no emulator needed).

use std::collections::HashMap;

use shopsphere_local::stack::{self, ENDPOINT_VARIABLE, Stack};
use shopsphere_template::{Template, template_path};

/// The template deployed with its defaults and `NotificationDelayMs=0`;
/// each resource's physical id is `physical-<logical id>`.
fn stack(template: &Template, text: &str) -> Stack {
    let physical = template.resources.keys().map(|id| (id.clone(), format!("physical-{id}"))).collect();
    let mut parameters = stack::defaults(text).expect("parameter defaults");
    parameters.insert("NotificationDelayMs".into(), "0".into());
    Stack { name: "shopsphere-test".into(), parameters, physical, outputs: HashMap::new() }
}

#[test]
fn every_function_gets_its_resolved_variables_and_the_endpoint_for_containers() {
    let text = std::fs::read_to_string(template_path()).expect("template.yaml");
    let template = Template::parse(&text).expect("a template");
    let functions = stack::functions(&template).expect("functions");
    let file = stack::sam_env_vars(&functions, &stack(&template, &text), "http://172.17.0.1:4566").expect("resolvable");

    assert_eq!(file["Parameters"][ENDPOINT_VARIABLE], "http://172.17.0.1:4566");
    assert_eq!(file.as_object().expect("an object").len(), functions.len() + 1, "Parameters and each function");
    for function in &functions {
        let variables = file[&function.logical_id].as_object().expect("the function's variables");
        // The template's own entry is an `Fn::If` on EndpointUrl, for AWS; the
        // file's Parameters value is the one that applies.
        assert!(!variables.contains_key(ENDPOINT_VARIABLE), "{}", function.logical_id);
        assert_eq!(variables["RETRY_BACKOFF_BASE_SECONDS"], "2", "{}: Globals apply", function.logical_id);
    }
    assert_eq!(file["OrderApiFunction"]["IDEMPOTENCY_TABLE"], "physical-IdempotencyTable");
    let payment = &file["PaymentFunction"];
    assert_eq!(payment["PAYMENTS_TABLE"], "physical-PaymentsTable");
    assert_eq!(payment["DLQ_URL"], "physical-PaymentDLQ");
    assert_eq!(file["NotificationFunction"]["NOTIFICATION_DELAY_MS"], "0", "parameters resolve to the stack's values");
}
