#!/usr/bin/env python3
"""Writes the Lambda event fixtures under events/ (committed; rerun after a contract change).

Each consumer gets SQS batches whose bodies are raw envelopes (SNS raw message
delivery, as deployed) and the same with standard SNS notification bodies;
order-outbox gets a DynamoDB stream batch; order-api gets API Gateway HTTP API
(payload format 2.0) requests. Ids are fixed so the files are stable.
"""
import json
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent
NS = uuid.UUID("5b0f4c1e-8d2a-4f6e-9a51-3e7c2d90a1b4")  # EVENT_ID_NAMESPACE in infra/events
ORDER = "0b7d1a52-3c4e-4f60-8a71-92b3c4d5e6f7"
TIME = "2026-11-28T10:00:00Z"
ACCOUNT = "000000000000"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SERVICE = {"OrderCreated": "order", "PaymentProcessed": "payment", "PaymentFailed": "payment",
           "PaymentRefunded": "payment", "InventoryUpdated": "inventory",
           "InventoryUpdateFailed": "inventory", "OrderShipped": "shipping", "ShippingFailed": "shipping"}
EMAIL = "ada@example.com"
TOTAL = {"amount": 4500, "currency": "EUR"}
LINES = [{"sku": "SKU-MUG", "name": "Mug", "qty": 2, "unit_price": 1250, "line_total": 2500},
         {"sku": "SKU-TEE", "name": "T-shirt", "qty": 1, "unit_price": 2000, "line_total": 2000}]
ITEMS = [{"sku": "SKU-MUG", "qty": 2}, {"sku": "SKU-TEE", "qty": 1}]


def envelope(name, data, causation, correlation="req-fixture-1"):
    event_id = str(uuid.uuid5(NS, f"{causation}/{name}"))
    return {"specversion": "1.0", "id": event_id, "source": f"shopsphere/{SERVICE[name]}",
            "type": f"shopsphere.{SERVICE[name]}.{name}.v1",
            "dataschema": f"urn:shopsphere:schema:{name}:v1", "time": TIME, "subject": ORDER,
            "correlationid": correlation, "causationid": causation, "traceparent": TRACE,
            "data": data}


def saga():
    created = envelope("OrderCreated", {"order_id": ORDER, "customer_id": "cus-ada", "email": EMAIL,
                                        "lines": LINES, "total": TOTAL}, ORDER)
    paid = envelope("PaymentProcessed", {"order_id": ORDER, "payment_id": "pay_fixture", "email": EMAIL,
                                         "amount": TOTAL, "items": ITEMS}, created["id"])
    declined = envelope("PaymentFailed", {"order_id": ORDER, "email": EMAIL, "amount": TOTAL,
                                          "reason": {"code": "card_declined", "message": "the card was declined"}},
                        created["id"])
    updated = envelope("InventoryUpdated", {"order_id": ORDER, "email": EMAIL, "items": ITEMS}, paid["id"])
    short = envelope("InventoryUpdateFailed", {
        "order_id": ORDER, "email": EMAIL, "payment_id": "pay_fixture", "amount": TOTAL,
        "shortfalls": [{"sku": "SKU-MUG", "requested": 2, "available": 0}],
        "reason": {"code": "insufficient_stock", "message": "SKU-MUG: 2 requested, 0 available"}}, paid["id"])
    refunded = envelope("PaymentRefunded", {
        "order_id": ORDER, "payment_id": "pay_fixture", "refund_id": "re_fixture", "email": EMAIL,
        "amount": TOTAL, "reason": {"code": "inventory_unavailable", "message": "stock could not be reserved"}},
        short["id"])
    shipped = envelope("OrderShipped", {"order_id": ORDER, "email": EMAIL, "shipment_id": "shp_fixture",
                                        "carrier": "DemoPost", "tracking_id": "DP000000000042", "items": ITEMS},
                       updated["id"])
    unshipped = envelope("ShippingFailed", {
        "order_id": ORDER, "email": EMAIL, "items": ITEMS,
        "reason": {"code": "shipping_unavailable", "message": "the order could not be shipped"}}, updated["id"])
    return {e["type"].split(".")[2]: e for e in [created, paid, declined, updated, short, refunded, shipped, unshipped]}


def sqs_record(i, queue, body, event_type=None):
    attrs = {}
    if event_type:
        attrs = {"event_type": {"stringValue": event_type, "stringListValues": [], "binaryListValues": [],
                                "dataType": "String"},
                 "correlation_id": {"stringValue": "req-fixture-1", "stringListValues": [],
                                    "binaryListValues": [], "dataType": "String"}}
    return {"messageId": str(uuid.uuid5(NS, f"{queue}/{i}/{body[:40]}")),
            "receiptHandle": f"AQEB{queue}{i}fixture==", "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795860000000",
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795860000100"},
            "messageAttributes": attrs, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:shopsphere-{queue}", "awsRegion": "us-east-1"}


def sns_wrapped(envelope_json, name):
    return json.dumps({"Type": "Notification", "MessageId": str(uuid.uuid5(NS, envelope_json)),
                       "TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:shopsphere-{name}",
                       "Message": envelope_json, "Timestamp": "2026-11-28T10:00:00.000Z",
                       "SignatureVersion": "1", "Signature": "EXAMPLE", "SigningCertURL": "https://example.invalid/cert.pem",
                       "UnsubscribeURL": "https://example.invalid/unsubscribe",
                       "MessageAttributes": {"event_type": {"Type": "String", "Value": name},
                                             "correlation_id": {"Type": "String", "Value": "req-fixture-1"}}})


def sqs_batch(queue, envelopes, wrapped=False):
    records = []
    for i, e in enumerate(envelopes):
        name = e["type"].split(".")[2]
        body = json.dumps(e)
        records.append(sqs_record(i, queue, sns_wrapped(body, name) if wrapped else body,
                                  None if wrapped else name))
    return {"Records": records}


def write(path, value):
    path = ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def http(method, path, body=None, headers=None, path_parameters=None, subject="cus-ada"):
    """An HTTP API request; with a `subject`, as API Gateway passes it once its
    JWT authorizer verified a token for that subject (claims as strings)."""
    hdrs = {"content-type": "application/json", "host": "api.shopsphere.local", "user-agent": "curl/8.0"}
    hdrs.update(headers or {})
    event = {"version": "2.0", "routeKey": f"{method} {path if not path_parameters else '/orders/{id}'}",
             "rawPath": path, "rawQueryString": "", "headers": hdrs,
             "requestContext": {"accountId": ACCOUNT, "apiId": "fixture", "domainName": "api.shopsphere.local",
                                "domainPrefix": "api", "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                                                "sourceIp": "127.0.0.1", "userAgent": "curl/8.0"},
                                "requestId": "fixture-request-1", "routeKey": f"{method} {path}", "stage": "$default",
                                "time": "28/Nov/2026:10:00:00 +0000", "timeEpoch": 1795860000000},
             "isBase64Encoded": False}
    if subject is not None:
        hdrs["authorization"] = "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImZpeHR1cmUifQ.fixture.signature"
        event["requestContext"]["authorizer"] = {"jwt": {"claims": {
            "sub": subject, "iss": "https://issuer.shopsphere.local", "aud": "shopsphere",
            "iat": "1795859700", "exp": "1795863300", "token_use": "id"}, "scopes": []}}
    if body is not None:
        event["body"] = body
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def main():
    s = saga()
    consumers = {
        "payment": ["OrderCreated"],
        "inventory": ["PaymentProcessed"],
        "shipping": ["InventoryUpdated"],
        "notification": ["OrderCreated", "PaymentProcessed", "PaymentFailed", "InventoryUpdateFailed",
                         "PaymentRefunded", "OrderShipped", "ShippingFailed"],
        "order-status": list(s),
        "analytics": list(s),
    }
    for fn, types in consumers.items():
        envs = [s[t] for t in types]
        write(f"{fn}/sqs-raw.json", sqs_batch(fn, envs))
        write(f"{fn}/sqs-sns.json", sqs_batch(fn, envs, wrapped=True))
    write("payment/sqs-inventory-update-failed.json", sqs_batch("payment", [s["InventoryUpdateFailed"]]))
    v2 = dict(s["OrderCreated"], type="shopsphere.order.OrderCreated.v2", id=str(uuid.uuid5(NS, "v2")))
    poison = sqs_batch("payment", [s["OrderCreated"]])
    poison["Records"].append(sqs_record(1, "payment", "this is not JSON"))
    poison["Records"].append(sqs_record(2, "payment", json.dumps(v2), "OrderCreated"))
    write("payment/sqs-poison.json", poison)

    order_row = {"order_id": {"S": ORDER}, "status": {"S": "PENDING"}, "customer_id": {"S": "cus-ada"},
                 "email": {"S": EMAIL},
                 "lines": {"L": [{"M": {k: ({"N": str(v)} if isinstance(v, int) else {"S": v}) for k, v in l.items()}}
                                 for l in LINES]},
                 "total": {"M": {"amount": {"N": "4500"}, "currency": {"S": "EUR"}}},
                 "correlation_id": {"S": "req-fixture-1"},
                 "traceparent": {"S": TRACE}, "created_at": {"S": "2026-11-28T10:00:00+00:00"},
                 "updated_at": {"S": "2026-11-28T10:00:00+00:00"}, "timeline": {"M": {}}, "reasons": {"L": []}}

    def stream_record(name, seq, image):
        return {"eventID": f"fixture-{seq}", "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {"ApproximateCreationDateTime": 1795860000, "Keys": {"order_id": {"S": ORDER}},
                             "NewImage": image, "SequenceNumber": seq, "SizeBytes": 512,
                             "StreamViewType": "NEW_IMAGE"},
                "eventSourceARN": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/shopsphere-orders/stream/2026-11-28T00:00:00.000"}
    paid_entry = {"M": {"event_type": {"S": "PaymentProcessed"}, "time": {"S": "2026-11-28T10:00:00+00:00"}}}
    modified = dict(order_row, status={"S": "PAID"}, timeline={"M": {saga()["PaymentProcessed"]["id"]: paid_entry}})
    write("order-outbox/stream-insert.json",
          {"Records": [stream_record("INSERT", "100000000000000000001", order_row),
                       stream_record("MODIFY", "100000000000000000002", modified)]})
    # A row order-status rebuilt from a replayed event: not a new order.
    rebuilt = dict(order_row, rebuilt_from={"S": "5f0c2a7e-9d1b-4e3a-8c6f-2b4d6e8f0a1c"})
    write("order-outbox/stream-insert-rebuilt.json",
          {"Records": [stream_record("INSERT", "100000000000000000007", rebuilt)]})

    body = json.dumps({"email": EMAIL, "items": ITEMS, "payment_token": "tok_visa"})
    write("order-api/post-order.json", http("POST", "/orders", body, {"idempotency-key": "fixture-key-1"}))
    # What `sam local start-api` passes: it runs no JWT authorizer, so no claims.
    write("order-api/post-order-unauthenticated.json",
          http("POST", "/orders", body, {"idempotency-key": "fixture-key-1"}, subject=None))
    write("order-api/post-order-invalid.json",
          http("POST", "/orders", json.dumps({"email": "nope", "items": [{"sku": "SKU-MUG", "qty": 0}]})))
    write("order-api/post-order-malformed.json", http("POST", "/orders", "{not json"))
    write("order-api/get-order.json", http("GET", f"/orders/{ORDER}", path_parameters={"id": ORDER}))
    write("order-api/get-products.json", http("GET", "/products", subject=None))


if __name__ == "__main__":
    main()
