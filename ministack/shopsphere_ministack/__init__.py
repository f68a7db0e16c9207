"""ShopSphere's fixes to MiniStack, applied in the emulator's own process
before it serves (``python -m shopsphere_ministack``). Each fixes one place
where MiniStack and AWS disagree on what template.yaml relies on; each has a
test in ministack/tests that fails on MiniStack as shipped, and an upstream
note in docs/ministack.md. The template is never bent to the emulator.

- ``http_api_routes_from_body``: an ``AWS::ApiGatewayV2::Api`` with an OpenAPI
  ``Body`` (what SAM's ``AWS::Serverless::HttpApi`` becomes) gets the routes,
  integrations and JWT authorizers the Body declares, each route with the
  authorizer its ``security`` names. MiniStack imports a Body for REST APIs
  only, so every route of the HTTP API answered 404.
- ``nested_absent_matches_exists_false``: an event source mapping filter
  ``{"a": {"b": [{"exists": false}]}}`` matches a record without ``a``, as on
  AWS. MiniStack rejected the record as soon as the parent key was absent, so
  the outbox's "not a rebuilt row" filter dropped every new order.
- ``function_endpoint_wins``: a ``provided.*`` function whose Environment sets
  ``AWS_ENDPOINT_URL`` keeps it, as on AWS, where Lambda never sets one and
  the SDK reads the function's own. MiniStack wrote its endpoint over it, so
  the template's ``EndpointUrl`` (the tests' fault-injecting proxy) was lost.
- ``batch_actions_authorized_as_their_single_action``: with IAM enforced,
  SNS ``PublishBatch`` is authorized by ``sns:Publish`` and SQS's
  ``SendMessageBatch``, ``DeleteMessageBatch`` and
  ``ChangeMessageVisibilityBatch`` by their single-message actions, as AWS
  documents (no IAM action of their own exists). MiniStack asked for
  ``sns:PublishBatch``, so every batch a consumer published was refused.
- ``loopback_is_secure_transport``: a request that reached MiniStack from
  loopback counts as TLS (``aws:SecureTransport`` true). MiniStack serves
  plain HTTP on 127.0.0.1, where AWS's endpoints are reached over TLS by
  every SDK; the template's queue policies deny non-TLS access, as they must
  on AWS, so every SQS call was refused. A request from anywhere else is
  still judged by its scheme.
- ``metric_math_alarms_created``: an ``AWS::CloudWatch::Alarm`` with
  ``Metrics`` (metric math: the template's StuckOrdersAlarm) is created, as
  CloudFormation does. MiniStack's provisioner refused it, failing the whole
  stack. The alarm is kept with its queries; MiniStack evaluates only
  single-metric alarms, so it stays INSUFFICIENT_DATA, which nothing relies on.
"""
import ipaddress

from ministack.core import iam_actions
from ministack.services import lambda_svc
from ministack.services.cloudformation import provisioners

# OpenAPI's operation keys, and the API Gateway extension for "any method".
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch"}
_ANY_METHOD = "x-amazon-apigateway-any-method"
_INTEGRATION = "x-amazon-apigateway-integration"
_AUTHORIZER = "x-amazon-apigateway-authorizer"


def _authorizers_of_body(body):
    """(scheme name, authorizer properties) for each JWT authorizer of an
    OpenAPI Body (``components.securitySchemes``), as API Gateway imports it."""
    schemes = (body.get("components") or {}).get("securitySchemes") or {}
    for name, scheme in schemes.items():
        authorizer = (scheme or {}).get(_AUTHORIZER) or {}
        if str(authorizer.get("type", "")).lower() != "jwt":
            continue
        jwt = authorizer.get("jwtConfiguration") or {}
        source = authorizer.get("identitySource", "$request.header.Authorization")
        yield name, {
            "AuthorizerType": "JWT",
            "Name": name,
            "IdentitySource": source if isinstance(source, list) else [source],
            "JwtConfiguration": {"Issuer": jwt.get("issuer", ""), "Audience": jwt.get("audience", [])},
        }


def _route_auth(requirements, authorizer_ids):
    """A route's authorization from its OpenAPI ``security``: the first
    requirement naming an imported authorizer (SAM writes ``NONE`` for an
    open route), with its scopes."""
    for requirement in requirements or []:
        for name, scopes in (requirement or {}).items():
            if name in authorizer_ids:
                return {"AuthorizationType": "JWT", "AuthorizerId": authorizer_ids[name],
                        "AuthorizationScopes": list(scopes or [])}
    return {"AuthorizationType": "NONE"}


def _routes_of_body(body):
    """(route key, integration properties, security requirements) for each
    operation of an OpenAPI Body that names an integration, as API Gateway's
    import makes them."""
    for path, operations in (body.get("paths") or {}).items():
        for key, operation in (operations or {}).items():
            if key not in _METHODS and key != _ANY_METHOD:
                continue
            integration = (operation or {}).get(_INTEGRATION)
            if not integration:
                continue
            method = "ANY" if key == _ANY_METHOD else key.upper()
            route_key = "$default" if path == "$default" else f"{method} {path}"
            yield route_key, {
                "IntegrationType": str(integration.get("type", "aws_proxy")).upper(),
                "IntegrationUri": integration.get("uri", ""),
                "IntegrationMethod": integration.get("httpMethod", "POST"),
                "PayloadFormatVersion": integration.get("payloadFormatVersion", "2.0"),
                "TimeoutInMillis": integration.get("timeoutInMillis", 30000),
            }, operation.get("security", body.get("security"))


def _import_body(api_id, props, stack_name, logical_id):
    body = props.get("Body")
    if not isinstance(body, dict):
        return
    authorizer_ids = {
        name: provisioners._apigw_v2_authorizer_create(logical_id, {"ApiId": api_id, **authorizer}, stack_name)[0]
        for name, authorizer in _authorizers_of_body(body)
    }
    for route_key, integration, security in _routes_of_body(body):
        integration_id, _ = provisioners._apigw_v2_integration_create(
            logical_id, {"ApiId": api_id, **integration}, stack_name)
        provisioners._apigw_v2_route_create(
            logical_id, {"ApiId": api_id, "RouteKey": route_key, "Target": f"integrations/{integration_id}",
                         **_route_auth(security, authorizer_ids)},
            stack_name)


def http_api_routes_from_body():
    handlers = provisioners._RESOURCE_HANDLERS["AWS::ApiGatewayV2::Api"]
    create, update = handlers["create"], handlers["update"]

    def create_with_body(logical_id, props, stack_name):
        api_id, attributes = create(logical_id, props, stack_name)
        _import_body(api_id, props, stack_name, logical_id)
        return api_id, attributes

    def update_with_body(physical_id, old_props, new_props, stack_name, logical_id=None):
        api_id, attributes = update(physical_id, old_props, new_props, stack_name, logical_id)
        if new_props.get("Body") != old_props.get("Body"):
            # A Body replaces the API's definition: its routes, integrations and authorizers.
            provisioners._apigw_v2._routes[api_id] = {}
            provisioners._apigw_v2._integrations[api_id] = {}
            provisioners._apigw_v2._authorizers[api_id] = {}
            _import_body(api_id, new_props, stack_name, logical_id or physical_id)
        return api_id, attributes

    handlers["create"], handlers["update"] = create_with_body, update_with_body


def nested_absent_matches_exists_false():
    match = lambda_svc._match_esm_filter

    def match_absent_parent_as_empty(record, pattern):
        if isinstance(record, dict) and isinstance(pattern, dict):
            # A nested pattern whose parent is absent is matched against an
            # empty object: only `exists: false` leaves can then match.
            record = {**record, **{key: {} for key, nested in pattern.items()
                                   if isinstance(nested, dict) and not isinstance(record.get(key), dict)}}
        return match(record, pattern)

    lambda_svc._match_esm_filter = match_absent_parent_as_empty


def function_endpoint_wins():
    worker_env = lambda_svc._provided_worker_env

    def worker_env_keeping_the_functions_endpoint(config, code_dir, port):
        env = worker_env(config, code_dir, port)
        own = lambda_svc._runtime_env_vars(config).get("AWS_ENDPOINT_URL")
        if own:
            env["AWS_ENDPOINT_URL"] = own
        return env

    lambda_svc._provided_worker_env = worker_env_keeping_the_functions_endpoint


# The batch APIs AWS authorizes with their single-message action.
_BATCH_ACTIONS = {
    "sns:PublishBatch": "sns:Publish",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def batch_actions_authorized_as_their_single_action():
    extract = iam_actions.extract_iam_action

    def extract_as_authorized(service, method, path, headers, body, query_params):
        action = extract(service, method, path, headers, body, query_params)
        return _BATCH_ACTIONS.get(action, action)

    iam_actions.extract_iam_action = extract_as_authorized


def loopback_is_secure_transport():
    from ministack import app

    pin = app.pin_request_origin

    def pin_loopback_as_secure(source_ip, secure_transport):
        try:
            loopback = ipaddress.ip_address(source_ip).is_loopback
        except ValueError:
            loopback = False
        pin(source_ip, secure_transport or loopback)

    app.pin_request_origin = pin_loopback_as_secure


def metric_math_alarms_created():
    record = provisioners._cw_metric_alarm_record

    def record_with_metric_math(name, props):
        if not props.get("Metrics"):
            return record(name, props)
        # A single-metric record with a stand-in metric, then the queries in its place.
        single = {key: value for key, value in props.items() if key != "Metrics"}
        alarm = record(name, {**single, "MetricName": "-", "Namespace": "-"})
        alarm.update({"MetricName": None, "Namespace": None, "Metrics": props["Metrics"]})
        return alarm

    provisioners._cw_metric_alarm_record = record_with_metric_math


def apply():
    http_api_routes_from_body()
    nested_absent_matches_exists_false()
    function_endpoint_wins()
    batch_actions_authorized_as_their_single_action()
    loopback_is_secure_transport()
    metric_math_alarms_created()
