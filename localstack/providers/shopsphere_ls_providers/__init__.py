"""LocalStack providers for host mode (no Docker, no Java).

LocalStack's stock DynamoDB provider downloads Java and DynamoDB Local at first
use, which these machines cannot fetch. These providers route DynamoDB and
DynamoDB Streams to the moto backend LocalStack already bundles, and keep S3
object storage under FILESYSTEM_ROOT instead of /tmp/localstack-s3-storage.
Selected with PROVIDER_OVERRIDE_<API>=<name> (see localstack/ls.sh).
"""
from localstack.services.plugins import Service, aws_provider


def _moto_only(api_cls):
    # Every generated API method raises NotImplementedError, so the
    # MotoFallbackDispatcher forwards each operation to moto.
    from localstack.services.moto import MotoFallbackDispatcher

    provider = type(f"Moto{api_cls.__name__}", (api_cls,), {})()
    return Service.for_provider(provider, dispatch_table_factory=MotoFallbackDispatcher)


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():
    from localstack.aws.api.dynamodb import DynamodbApi

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
