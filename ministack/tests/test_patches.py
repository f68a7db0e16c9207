"""Each of shopsphere_ministack's fixes, shown wrong in MiniStack as shipped
and right once applied. A shipped-behaviour test that starts failing means
upstream fixed it: drop the fix (docs/ministack.md has the upstream notes).

Run with MiniStack's venv: ministack/ms.sh selftest
"""
import json
import re
import unittest
from pathlib import Path
from unittest import mock

from ministack.core import iam_actions
from ministack.services import apigateway as apigw_v2
from ministack.services import lambda_svc
from ministack.services.cloudformation import provisioners

import shopsphere_ministack

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
INVOKE = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:api/invocations"
# What SAM makes of an HttpApi whose function declares two routes.
BODY = {
    "openapi": "3.0.1",
    "info": {"title": "t", "version": "1.0"},
    "paths": {
        "/orders": {"post": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "httpMethod": "POST", "uri": INVOKE, "payloadFormatVersion": "2.0"}}},
        "/orders/{id}": {"get": {"x-amazon-apigateway-integration": {
            "type": "aws_proxy", "httpMethod": "POST", "uri": INVOKE, "payloadFormatVersion": "2.0"}},
            "parameters": [{"name": "id", "in": "path", "required": True}]},
    },
}


def route_keys(api_id):
    return sorted(r["routeKey"] for r in apigw_v2._routes.get(api_id, {}).values())


def create_api(props):
    api_id, _ = provisioners._RESOURCE_HANDLERS["AWS::ApiGatewayV2::Api"]["create"]("HttpApi", props, "s")
    return api_id


class HttpApiRoutesFromBody(unittest.TestCase):
    def test_as_shipped_an_http_api_body_makes_no_route(self):
        self.assertEqual(route_keys(create_api({"Body": BODY})), [])

    def test_fixed_each_operation_of_the_body_is_a_route_to_its_integration(self):
        with mock.patch.dict(provisioners._RESOURCE_HANDLERS["AWS::ApiGatewayV2::Api"]):
            shopsphere_ministack.http_api_routes_from_body()
            api_id = create_api({"Body": BODY})
            self.assertEqual(route_keys(api_id), ["GET /orders/{id}", "POST /orders"])
            integrations = apigw_v2._integrations[api_id]
            for route in apigw_v2._routes[api_id].values():
                integration = integrations[route["target"].removeprefix("integrations/")]
                self.assertEqual((integration["integrationType"], integration["integrationUri"],
                                  integration["payloadFormatVersion"]), ("AWS_PROXY", INVOKE, "2.0"))

    def test_fixed_a_changed_body_replaces_the_routes(self):
        with mock.patch.dict(provisioners._RESOURCE_HANDLERS["AWS::ApiGatewayV2::Api"]):
            shopsphere_ministack.http_api_routes_from_body()
            api_id = create_api({"Body": BODY})
            smaller = {**BODY, "paths": {"/orders": BODY["paths"]["/orders"]}}
            provisioners._RESOURCE_HANDLERS["AWS::ApiGatewayV2::Api"]["update"](
                api_id, {"Body": BODY}, {"Body": smaller}, "s", "HttpApi")
            self.assertEqual(route_keys(api_id), ["POST /orders"])


ISSUER = "http://127.0.0.1:9/issuer"
# What SAM makes of a DefaultAuthorizer (JWT) and a route with Authorizer: NONE.
SECURED_BODY = {
    **BODY,
    "components": {"securitySchemes": {"CustomerJwt": {"type": "oauth2", "x-amazon-apigateway-authorizer": {
        "type": "jwt", "identitySource": "$request.header.Authorization",
        "jwtConfiguration": {"issuer": ISSUER, "audience": ["shopsphere"]}}}}},
    "paths": {
        "/orders": {"post": {**BODY["paths"]["/orders"]["post"], "security": [{"CustomerJwt": []}]}},
        "/products": {"get": {**BODY["paths"]["/orders"]["post"], "security": [{"NONE": []}]}},
    },
}


class HttpApiAuthorizersFromBody(unittest.TestCase):
    def test_fixed_a_jwt_scheme_is_an_authorizer_and_each_route_has_its_own_security(self):
        with mock.patch.dict(provisioners._RESOURCE_HANDLERS["AWS::ApiGatewayV2::Api"]):
            shopsphere_ministack.http_api_routes_from_body()
            api_id = create_api({"Body": SECURED_BODY})
            (authorizer,) = apigw_v2._authorizers[api_id].values()
            self.assertEqual((authorizer["authorizerType"], authorizer["identitySource"], authorizer["jwtConfiguration"]),
                             ("JWT", ["$request.header.Authorization"], {"issuer": ISSUER, "audience": ["shopsphere"]}))
            routes = {r["routeKey"]: r for r in apigw_v2._routes[api_id].values()}
            self.assertEqual((routes["POST /orders"]["authorizationType"], routes["POST /orders"]["authorizerId"]),
                             ("JWT", authorizer["authorizerId"]))
            self.assertEqual(routes["GET /products"]["authorizationType"], "NONE")


def outbox_filter():
    """The outbox's stream filter, as template.yaml declares it."""
    pattern = re.search(r"- Pattern: '(.+)'", TEMPLATE.read_text()).group(1)
    return {"FilterCriteria": {"Filters": [{"Pattern": pattern}]}}


def stream_record(new_image):
    return {"eventName": "INSERT", "eventSource": "aws:dynamodb", "dynamodb": {"NewImage": new_image}}


NEW_ORDER = stream_record({"order_id": {"S": "o-1"}})
REBUILT_ROW = stream_record({"order_id": {"S": "o-2"}, "rebuilt_from": {"S": "archive"}})


class NestedExistsFalse(unittest.TestCase):
    def kept(self):
        return lambda_svc._apply_filter_criteria([NEW_ORDER, REBUILT_ROW], outbox_filter())

    def test_as_shipped_the_outbox_filter_drops_every_new_order(self):
        self.assertEqual(self.kept(), [])

    def test_fixed_the_outbox_filter_keeps_new_orders_and_drops_rebuilt_rows(self):
        with mock.patch.object(lambda_svc, "_match_esm_filter", lambda_svc._match_esm_filter):
            shopsphere_ministack.nested_absent_matches_exists_false()
            self.assertEqual(self.kept(), [NEW_ORDER])
            # Other leaves keep their meaning under an absent parent.
            absent = {"dynamodb": {"NewImage": {"rebuilt_from": {"S": [{"exists": True}]}}}}
            self.assertFalse(lambda_svc._match_esm_filter({"dynamodb": {}}, absent))


class FunctionEndpointWins(unittest.TestCase):
    ARN = {"FunctionName": "f", "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:f"}
    CONFIG = {**ARN, "Environment": {"Variables": {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}}}

    def endpoint(self):
        with mock.patch.dict("os.environ", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4567"}):
            return lambda_svc._provided_worker_env(self.CONFIG, "/var/task", 1)["AWS_ENDPOINT_URL"]

    def test_as_shipped_the_emulator_endpoint_overwrites_the_functions(self):
        self.assertEqual(self.endpoint(), "http://127.0.0.1:4567")

    def test_fixed_the_functions_own_endpoint_is_kept(self):
        with mock.patch.object(lambda_svc, "_provided_worker_env", lambda_svc._provided_worker_env):
            shopsphere_ministack.function_endpoint_wins()
            self.assertEqual(self.endpoint(), "http://127.0.0.1:9")
            without = self.ARN
            with mock.patch.dict("os.environ", {"AWS_ENDPOINT_URL": "http://127.0.0.1:4567"}):
                env = lambda_svc._provided_worker_env(without, "/var/task", 1)
            self.assertEqual(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:4567", "no endpoint of its own: MiniStack's")


class BatchActions(unittest.TestCase):
    def action(self, service, target_or_action):
        if service == "sns":  # query protocol: the Action form field
            body = f"Action={target_or_action}&Version=2010-03-31".encode()
            headers = {"content-type": "application/x-www-form-urlencoded"}
        else:  # SQS speaks JSON: the X-Amz-Target header
            body, headers = b"{}", {"x-amz-target": f"AmazonSQS.{target_or_action}",
                                    "content-type": "application/x-amz-json-1.0"}
        return iam_actions.extract_iam_action(service, "POST", "/", headers, body, {})

    def test_as_shipped_publish_batch_asks_for_an_action_iam_does_not_have(self):
        self.assertEqual(self.action("sns", "PublishBatch"), "sns:PublishBatch")

    def test_fixed_batches_are_authorized_by_their_single_action(self):
        with mock.patch.object(iam_actions, "extract_iam_action", iam_actions.extract_iam_action):
            shopsphere_ministack.batch_actions_authorized_as_their_single_action()
            self.assertEqual(self.action("sns", "PublishBatch"), "sns:Publish")
            self.assertEqual(self.action("sqs", "SendMessageBatch"), "sqs:SendMessage")
            self.assertEqual(self.action("sqs", "DeleteMessageBatch"), "sqs:DeleteMessage")
            self.assertEqual(self.action("sqs", "ChangeMessageVisibilityBatch"), "sqs:ChangeMessageVisibility")
            self.assertEqual(self.action("sns", "Publish"), "sns:Publish")
            self.assertEqual(self.action("sqs", "ReceiveMessage"), "sqs:ReceiveMessage")


class LoopbackSecureTransport(unittest.TestCase):
    """The template's TLS-only statement, as every queue policy has it."""
    TLS_ONLY = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "sqs:*", "Resource": "arn:aws:sqs:us-east-1:000000000000:q"},
        {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "arn:aws:sqs:us-east-1:000000000000:q",
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}

    def decision(self, source_ip):
        from ministack import app
        from ministack.core.iam_evaluator import EvalContext, evaluate_resource_policy
        app.pin_request_origin(source_ip, False)  # plain HTTP
        ctx = EvalContext(principal_arn="arn:aws:iam::000000000000:role/f", principal_type="AssumedRole",
                          principal_account="000000000000", action="sqs:ReceiveMessage",
                          resource_arn="arn:aws:sqs:us-east-1:000000000000:q", region="us-east-1")
        return evaluate_resource_policy(self.TLS_ONLY, ctx, service="sqs").decision

    def test_as_shipped_a_tls_only_queue_refuses_every_local_call(self):
        self.assertEqual(self.decision("127.0.0.1"), "Deny")

    def test_fixed_loopback_counts_as_tls_and_other_plain_http_is_still_refused(self):
        from ministack import app
        with mock.patch.object(app, "pin_request_origin", app.pin_request_origin):
            shopsphere_ministack.loopback_is_secure_transport()
            self.assertEqual(self.decision("127.0.0.1"), "Allow")
            self.assertEqual(self.decision("::1"), "Allow")
            self.assertEqual(self.decision("192.0.2.7"), "Deny")


class MetricMathAlarms(unittest.TestCase):
    PROPS = {"ComparisonOperator": "GreaterThanThreshold", "Threshold": 0, "EvaluationPeriods": 2,
             "Metrics": [{"Id": "placed", "ReturnData": False, "MetricStat": {"Metric": {
                 "Namespace": "ShopSphere", "MetricName": "OrdersPlaced"}, "Period": 900, "Stat": "Sum"}},
                 {"Id": "stuck", "Expression": "IF(FILL(placed, 0) > 0, 1, 0)", "ReturnData": True}]}

    def test_as_shipped_a_metric_math_alarm_fails_the_stack(self):
        with self.assertRaises(ValueError):
            provisioners._cw_metric_alarm_record("stuck", self.PROPS)

    def test_fixed_a_metric_math_alarm_is_created_with_its_queries(self):
        with mock.patch.object(provisioners, "_cw_metric_alarm_record", provisioners._cw_metric_alarm_record):
            shopsphere_ministack.metric_math_alarms_created()
            alarm = provisioners._cw_metric_alarm_record("stuck", self.PROPS)
            self.assertEqual(alarm["Metrics"], self.PROPS["Metrics"])
            self.assertIsNone(alarm["MetricName"])
            self.assertEqual((alarm["EvaluationPeriods"], alarm["Threshold"]), (2, 0.0))
            # A single-metric alarm is built as before.
            plain = provisioners._cw_metric_alarm_record("dlq", {**self.PROPS, "Metrics": None,
                                                                 "MetricName": "M", "Namespace": "N"})
            self.assertEqual(plain["MetricName"], "M")


if __name__ == "__main__":
    unittest.main()
