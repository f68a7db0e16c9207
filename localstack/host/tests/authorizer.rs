//! The HTTP API's JWT authorizer as the host reads it from template.yaml and
//! resolves it against a stack's parameters (no emulator needed).

use std::collections::HashMap;

use shopsphere_local::stack::{self, EventSource, Route, Stack};
use shopsphere_template::{Template, template_path};

fn routes() -> HashMap<String, Route> {
    let template = Template::load(&template_path()).expect("template.yaml");
    let api = stack::function(&template, "OrderApiFunction").expect("the API function");
    api.events
        .into_iter()
        .filter_map(|e| match e {
            EventSource::Http(route) => Some((format!("{} {}", route.method, route.path), route)),
            _ => None,
        })
        .collect()
}

fn stack_with(parameters: &[(&str, &str)]) -> Stack {
    Stack {
        name: "test".into(),
        parameters: parameters.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        physical: HashMap::new(),
        outputs: HashMap::new(),
    }
}

#[test]
fn the_order_routes_need_the_jwt_authorizer_and_the_catalog_is_open() {
    let routes = routes();
    for key in ["POST /orders", "GET /orders/{id}"] {
        let authorizer = routes[key].authorizer.as_ref().unwrap_or_else(|| panic!("{key} is open"));
        assert_eq!(authorizer.identity_source, "$request.header.Authorization");
    }
    assert!(routes["GET /products"].authorizer.is_none(), "Authorizer: NONE");
}

#[test]
fn a_stack_given_an_issuer_resolves_it_and_its_audience() {
    let spec = routes()["POST /orders"].authorizer.clone().expect("an authorizer");
    let local = stack_with(&[
        ("DeployFunctions", "false"),
        ("AuthIssuer", "http://127.0.0.1:3001"),
        ("AuthAudience", "shopsphere-local"),
    ]);
    assert_eq!(local.resolve_if(&spec.conditions, &spec.issuer).unwrap(), "http://127.0.0.1:3001");
    let audience: Vec<String> = spec.audience.iter().map(|a| local.resolve_if(&spec.conditions, a).unwrap()).collect();
    assert_eq!(audience, ["shopsphere-local"]);
}

#[test]
fn without_an_issuer_the_authorizer_is_the_user_pools_which_the_host_cannot_resolve() {
    let spec = routes()["POST /orders"].authorizer.clone().expect("an authorizer");
    // Functions on and no issuer: the template's own Cognito user pool, which
    // is not in this stack (LocalStack's community edition has no Cognito).
    let pooled = stack_with(&[("DeployFunctions", "true"), ("AuthIssuer", ""), ("AuthAudience", "")]);
    assert!(pooled.resolve_if(&spec.conditions, &spec.issuer).is_err());
    // Functions off and no issuer: no pool either, and an empty issuer.
    let off = stack_with(&[("DeployFunctions", "false"), ("AuthIssuer", ""), ("AuthAudience", "")]);
    assert_eq!(off.resolve_if(&spec.conditions, &spec.issuer).unwrap(), "");
}
