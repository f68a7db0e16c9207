"""LocalStack providers for host mode (no Docker, no Java).

LocalStack's stock DynamoDB provider downloads Java and DynamoDB Local at first
use, which these machines cannot fetch. These providers route DynamoDB and
DynamoDB Streams to the moto backend LocalStack already bundles, and keep S3
object storage under FILESYSTEM_ROOT instead of /tmp/localstack-s3-storage;
CloudFormation runs one SAM transform at a time. Selected with PROVIDER_OVERRIDE_<API>=<name> (see localstack/ls.sh).
"""
import copy
import threading

from localstack.services.plugins import Service, aws_provider

# moto's DynamoDB backend is not thread-safe: under concurrent requests a
# TransactWriteItems failed with "dictionary changed size during iteration"
# after applying part of the transaction, and a concurrent GetItem saw the row
# missing. The gateway serves requests on many threads, so every DynamoDB and
# DynamoDB Streams operation (they share one backend) runs under this lock.
_MOTO_DYNAMODB_LOCK = threading.RLock()


def _serialized_moto_dispatcher(provider):
    from localstack.services.moto import MotoFallbackDispatcher

    def serialized(handler):
        def call(context, request):
            with _MOTO_DYNAMODB_LOCK:
                return handler(context, request)

        return call

    return {op: serialized(h) for op, h in MotoFallbackDispatcher(provider).items()}


def _transact_write_items(backend, transact_items):
    """TransactWriteItems that checks every condition before it writes.

    moto's own deep-copies each table the transaction names (all its items and
    its whole stream) to be able to roll back: its cost grows with the data,
    and a demo of 50 orders ended with each transaction copying thousands of
    items. Keys in a transaction are unique, so checking all conditions first
    and then writing is the same all-or-nothing; a write that still fails
    (an invalid update expression) is undone from copies of the touched items.
    """
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    ops, seen = [], set()
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise TransactionCanceledException([("ValidationException", f"unsupported operation {op_type}", None)])
        table = backend.get_table(op["TableName"])
        if op_type == "Put":
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        identity = (op["TableName"], str(key))
        if identity in seen:
            raise MultipleTransactionsException()
        seen.add(identity)
        ops.append((op_type, op, table, key))

    errors, failed = [], False
    for op_type, op, table, key in ops:
        current = backend.get_item(op["TableName"], key)
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            old = current.to_json()["Attributes"] if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
            errors.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
            failed = True
        else:
            errors.append((None, None, None))
    if failed:
        raise TransactionCanceledException(errors)

    undo = []
    streams = {id(t): (t, len(t.stream_shard.items)) for _, _, t, _ in ops if t.stream_shard is not None}
    try:
        for op_type, op, table, key in ops:
            hash_value, range_value = backend.get_keys_value(table, key)
            undo.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                backend.put_item(op["TableName"], op["Item"])
            elif op_type == "Delete":
                backend.delete_item(op["TableName"], key)
            elif op_type == "Update":
                backend.update_item(op["TableName"], key, op["UpdateExpression"], names, values)
    except Exception as e:
        for table, hash_value, range_value, item in reversed(undo):
            slot = table.items[hash_value] if range_value is not None else table.items
            slot_key = range_value if range_value is not None else hash_value
            if item is None:
                slot.pop(slot_key, None)
            else:
                slot[slot_key] = item
        for table, length in streams.values():
            del table.stream_shard.items[length:]
        errors = [(None, None, None)] * len(ops)
        errors[len(undo) - 1] = (type(e).__name__, str(e), None)
        raise TransactionCanceledException(errors) from e


def _moto_only(api_cls):
    # Every generated API method raises NotImplementedError, so the fallback
    # dispatcher forwards each operation to moto.
    provider = type(f"Moto{api_cls.__name__}", (api_cls,), {})()
    return Service.for_provider(provider, dispatch_table_factory=_serialized_moto_dispatcher)


def _with_linear_transactions():
    from moto.dynamodb.models import DynamoDBBackend

    DynamoDBBackend.transact_write_items = _transact_write_items


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    from localstack.aws.api.dynamodb import DynamodbApi

    _with_linear_transactions()
    return _moto_only(DynamodbApi)


@aws_provider(api="dynamodbstreams", name="moto")
def dynamodbstreams_moto():
    from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi

    return _moto_only(DynamodbstreamsApi)


@aws_provider(api="s3", name="hostdir")
def s3_hostdir():
    import os

    from localstack import config
    from localstack.services.s3.provider import S3Provider
    from localstack.services.s3.storage.ephemeral import EphemeralS3ObjectStore

    root = os.path.join(config.dirs.tmp, "s3-storage")
    os.makedirs(root, exist_ok=True)
    return Service.for_provider(S3Provider(storage_backend=EphemeralS3ObjectStore(root)))


# LocalStack runs the SAM transform with AWS_DEFAULT_REGION put into
# os.environ for its duration (samtranslator asks boto3 for the region) and
# pops it afterwards. Two stacks created at once race on that variable: the
# transform still running finds no region and its stack fails with "AWS Region
# cannot be found" (seen with three end-to-end stacks created together). One
# SAM transform at a time, in both engines' entry points.
_SAM_TRANSFORM_LOCK = threading.Lock()


def _one_transform_at_a_time(transform):
    import functools

    @functools.wraps(transform)
    def serialized(*args, **kwargs):
        with _SAM_TRANSFORM_LOCK:
            return transform(*args, **kwargs)

    return serialized


def serialize_sam_transforms():
    """Wrap both engines' SAM transform in the lock (once)."""
    from localstack.services.cloudformation.engine import transformers
    from localstack.services.cloudformation.engine.v2.change_set_model_transform import ChangeSetModelTransform

    if hasattr(transformers.apply_serverless_transformation, "__wrapped__"):
        return
    transformers.apply_serverless_transformation = _one_transform_at_a_time(
        transformers.apply_serverless_transformation
    )
    ChangeSetModelTransform._apply_global_serverless_transformation = staticmethod(
        _one_transform_at_a_time(ChangeSetModelTransform._apply_global_serverless_transformation)
    )


@aws_provider(api="cloudformation", name="serialized_sam")
def cloudformation_serialized_sam():
    from localstack.services.cloudformation.v2.provider import CloudformationProviderV2

    serialize_sam_transforms()
    return Service.for_provider(CloudformationProviderV2())
