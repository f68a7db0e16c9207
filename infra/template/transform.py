"""The CloudFormation template SAM deploys for a SAM template: the pinned
aws-sam-translator (the SAM transform CloudFormation runs), offline.

    python transform.py TEMPLATE > processed.json

Functions' local CodeUri become an S3 URI, as `sam package` leaves them; AWS
managed policies are named from the translator's bundled list, so nothing is
asked of IAM. infra/template's least-privilege test runs it with the Python of
.ci/tools.sh's venv (the SAM CLI's, which pins the translator).
"""

import json
import os
import sys

from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

CODE_URI = "s3://shopsphere-artifacts/functions.zip"
# Pseudo parameters the translator resolves where it must (ARNs it builds).
PSEUDO = {"AWS::Region": "us-east-1", "AWS::Partition": "aws", "AWS::AccountId": "123456789012"}


class BundledManagedPolicies:
    def load(self):
        return get_bundled_managed_policy_map(PSEUDO["AWS::Partition"])


def main(path):
    # The translator takes the region from the environment (boto's lookup).
    os.environ.setdefault("AWS_DEFAULT_REGION", PSEUDO["AWS::Region"])
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource.setdefault("Properties", {})["CodeUri"] = CODE_URI
    processed = transform(template, dict(PSEUDO), BundledManagedPolicies())
    json.dump(processed, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: transform.py TEMPLATE")
    main(sys.argv[1])
