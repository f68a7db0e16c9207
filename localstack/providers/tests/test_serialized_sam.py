"""LocalStack's SAM transform puts AWS_DEFAULT_REGION into os.environ while it
runs and pops it after; a second transform that started meanwhile then reads
no region ("AWS Region cannot be found"). Shown here with a stand-in for
samtranslator that takes 0.3 s and asks boto3 for the region at its end, the
second transform starting 0.1 s after the first: it fails in LocalStack as
shipped and passes with shopsphere_ls_providers.serialize_sam_transforms().

Run with LocalStack's venv: .localstack/venv/bin/python -m unittest discover -s localstack/providers/tests
"""
import os
import threading
import time
import unittest
from unittest import mock

import boto3

from localstack.services.cloudformation.engine.v2 import change_set_model_transform as v2


def stand_in_transform(template, parameters, loader):
    time.sleep(0.3)
    if boto3.session.Session().region_name is None:
        raise RuntimeError("AWS Region cannot be found")
    return template


def two_transforms_at_once():
    """The errors of two transforms, the second started 0.1 s after the first."""
    errors = []

    def one():
        try:
            v2.ChangeSetModelTransform._apply_global_serverless_transformation("us-east-1", {}, {})
        except Exception as e:  # noqa: BLE001 - the test reports whatever failed
            errors.append(str(e))

    first = threading.Thread(target=one)
    first.start()
    time.sleep(0.1)
    second = threading.Thread(target=one)
    second.start()
    first.join()
    second.join()
    return errors


@mock.patch.object(v2, "create_policy_loader", lambda: None)
@mock.patch.object(v2, "transform_sam", stand_in_transform)
class SamTransformsAtOnce(unittest.TestCase):
    def setUp(self):
        os.environ.pop("AWS_DEFAULT_REGION", None)
        os.environ.pop("AWS_REGION", None)

    def test_1_as_shipped_the_second_loses_its_region(self):
        self.assertTrue(any("Region cannot be found" in e for e in two_transforms_at_once()))

    def test_2_one_at_a_time_both_find_it(self):
        from shopsphere_ls_providers import serialize_sam_transforms

        serialize_sam_transforms()
        self.assertEqual(two_transforms_at_once(), [])


if __name__ == "__main__":
    unittest.main()
