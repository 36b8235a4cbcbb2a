"""The install template a service-managed StackSet can deploy (docs/organization.md).

A StackSet with service-managed permissions cannot use macros, and the AWS::Serverless transform
is one: it is given template.yaml already transformed. This expands `sam package`'s output with
the SAM translator SAM CLI ships (run it with .tools/sam/bin/python, as `make stackset-template`
does), then makes what the translator wrote in one Region hold in every Region:

- every function's and layer's code bucket becomes ``<prefix>-${AWS::Region}``: Lambda reads code
  only from a bucket in the function's own Region, so the artifacts live in one bucket per Region,
  named alike but for the Region (examples/organization/artifacts.yaml);
- ARNs written with the partition the translator ran in (``arn:aws:iam::aws:policy/...``) take
  ``${AWS::Partition}``.

It refuses code outside a bucket named ``<prefix>-<region>``, and a result that still names a
Region or an account, or still needs a transform. It prints the S3 keys every Region's bucket
must hold.

    .tools/sam/bin/python scripts/stackset_template.py packaged.yaml \\
        --code-bucket-prefix jobjanitor-artifacts-111122223333 --output install.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

REGION = r"[a-z]{2}(?:-[a-z]+)+-\d"
PARTITION_ARN = re.compile(r"^arn:aws(?:-[a-z]+)*:")
ACCOUNT_ID = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
CODE = {"AWS::Lambda::Function": "Code", "AWS::Lambda::LayerVersion": "Content"}


class Refused(Exception):
    """The template cannot be made Region-independent; the message says why."""


class NoManagedPolicyNames:
    """The translator asks IAM for AWS managed policies only when a function's Policies name one
    by name. template.yaml gives statements and ARNs, so this is never called: if it is, the
    template changed, and an offline expansion would guess."""

    def load(self) -> dict[str, str]:
        raise Refused("a function's Policies names a managed policy by name: give its ARN instead")


def packaged_region(packaged_text: str, prefix: str) -> str:
    """The Region whose bucket sam package wrote to: the translator needs one (for the partition)."""
    regions = set(re.findall(rf"s3://{re.escape(prefix)}-({REGION})/", packaged_text))
    if len(regions) != 1:
        raise Refused(
            f"expected the code in one bucket named {prefix}-<region>, found {sorted(regions) or 'none'}: "
            f"package with --s3-bucket {prefix}-<region>"
        )
    return regions.pop()


def expand(packaged_text: str, region: str) -> dict[str, Any]:
    from samtranslator.translator.transform import transform  # noqa: PLC0415 (only in SAM CLI's environment)
    from samtranslator.yaml_helper import yaml_parse  # noqa: PLC0415

    os.environ["AWS_DEFAULT_REGION"] = region  # the translator's pseudo parameters; nothing is called
    expanded: dict[str, Any] = transform(yaml_parse(packaged_text), {}, NoManagedPolicyNames())
    return expanded


def regional_code(template: dict[str, Any], prefix: str) -> list[str]:
    """Points every function and layer at ``<prefix>-${AWS::Region}``; returns the S3 keys."""
    bucket = re.compile(rf"^{re.escape(prefix)}-{REGION}$")
    keys = []
    for name, resource in template["Resources"].items():
        field = CODE.get(resource["Type"])
        if field is None:
            continue
        location = resource["Properties"].get(field, {})
        if not isinstance(location.get("S3Bucket"), str) or not isinstance(location.get("S3Key"), str):
            raise Refused(f"{name}: {field} is not an S3 location (run sam package first): {location!r}")
        if not bucket.match(location["S3Bucket"]):
            raise Refused(
                f"{name}: code is in s3://{location['S3Bucket']}, not in a bucket named {prefix}-<region>: "
                f"package with --s3-bucket {prefix}-<region>"
            )
        location["S3Bucket"] = {"Fn::Sub": f"{prefix}-${{AWS::Region}}"}
        keys.append(location["S3Key"])
    if not keys:
        raise Refused("no Lambda function or layer found: is this jobjanitor's packaged template?")
    return sorted(set(keys))


def any_partition(node: Any) -> Any:
    """Literal partition ARNs become ``arn:${AWS::Partition}:...`` (inside Fn::Sub, or wrapped in one)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Sub"}:
            body = node["Fn::Sub"]
            if isinstance(body, str):
                return {"Fn::Sub": PARTITION_ARN.sub("arn:${AWS::Partition}:", body)}
            return {"Fn::Sub": [PARTITION_ARN.sub("arn:${AWS::Partition}:", body[0]), any_partition(body[1])]}
        return {key: any_partition(value) for key, value in node.items()}
    if isinstance(node, list):
        return [any_partition(item) for item in node]
    if isinstance(node, str) and PARTITION_ARN.match(node):
        return {"Fn::Sub": PARTITION_ARN.sub("arn:${AWS::Partition}:", node.replace("${", "${!"))}
    return node


def check_portable(template: dict[str, Any], prefix: str) -> None:
    if "Transform" in template:
        raise Refused(f"still needs a transform: {template['Transform']!r}")
    left = [n for n, r in template["Resources"].items() if r["Type"].startswith("AWS::Serverless::")]
    if left:
        raise Refused(f"still has SAM resources: {', '.join(left)}")
    # The code buckets' name is the administrator's (often with the account id in it: bucket names are global).
    text = json.dumps(template).replace(f"{prefix}-${{AWS::Region}}", "<code bucket>")
    for what, pattern in (
        ("a Region", re.compile(rf"(?<![a-z-]){REGION}(?![0-9])")),
        ("an account id", ACCOUNT_ID),
        ("a partition", re.compile(r"arn:aws(?:-[a-z]+)*:")),
    ):
        found = pattern.search(text)
        if found:
            raise Refused(f"names {what} ({found.group(0)}): it would not hold in every Region and account")


def stackset_template(packaged_text: str, prefix: str) -> tuple[dict[str, Any], list[str]]:
    template = expand(packaged_text, packaged_region(packaged_text, prefix))
    # sam publish's metadata (its license and readme, uploaded by sam package): nothing an install uses.
    template.get("Metadata", {}).pop("AWS::ServerlessRepo::Application", None)
    keys = regional_code(template, prefix)
    template = any_partition(template)
    check_portable(template, prefix)
    return template, keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("packaged", type=Path, help="sam package's output template")
    parser.add_argument("--code-bucket-prefix", required=True, help="the buckets are <prefix>-<region>")
    parser.add_argument("--output", type=Path, required=True, help="where to write the install template (JSON)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,40}", args.code_bucket_prefix):
        parser.error(f"--code-bucket-prefix: not the start of a bucket name: {args.code_bucket_prefix!r}")
    try:
        template, keys = stackset_template(args.packaged.read_text(encoding="utf-8"), args.code_bucket_prefix)
    except Refused as error:
        print(f"stackset_template: {args.packaged}: {error}", file=sys.stderr)
        return 1
    args.output.write_text(json.dumps(template, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: code from {args.code_bucket_prefix}-${{AWS::Region}}; every Region's bucket needs:")
    for key in keys:
        print(f"  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
