"""Reading a boto3-shaped SageMaker request: field paths, S3 locations, ECR image URIs, KMS
key references. Small pure functions; what they mean for permissions is in `data.py`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

# --- field paths -----------------------------------------------------------------------------
# A path pattern names request fields the way the SageMaker API reference does, with `[]` for
# "every element of this list": "InputDataConfig[].DataSource.S3DataSource.S3Uri". Concrete
# paths use botocore's notation: "InputDataConfig[0].DataSource.S3DataSource.S3Uri".


@dataclass(frozen=True)
class Found:
    path: str  # concrete path, botocore notation
    value: Any
    parent: Mapping[str, Any]  # the structure holding the field (for sibling fields)


def find(request: Mapping[str, Any], pattern: str) -> Iterator[Found]:
    """Every value at `pattern` in `request` that is present and not None, in request order."""
    yield from _find(request, pattern.split("."), "")


def _find(node: Mapping[str, Any], parts: list[str], prefix: str) -> Iterator[Found]:
    head, rest = parts[0], parts[1:]
    many = head.endswith("[]")
    name = head[:-2] if many else head
    if not isinstance(node, Mapping) or node.get(name) is None:
        return
    value = node[name]
    here = f"{prefix}.{name}" if prefix else name
    items: list[tuple[str, Any]]
    if many:
        if not isinstance(value, list):
            return
        items = [(f"{here}[{i}]", v) for i, v in enumerate(value) if v is not None]
    else:
        items = [(here, value)]
    for path, item in items:
        if rest:
            if isinstance(item, Mapping):
                yield from _find(item, rest, path)
        else:
            yield Found(path, item, node)


def first(request: Mapping[str, Any], pattern: str) -> Found | None:
    return next(find(request, pattern), None)


def pattern_of(path: str) -> str:
    """The pattern a concrete path matches: indexes become `[]`."""
    return re.sub(r"\[\d+\]", "[]", path)


# --- partitions ------------------------------------------------------------------------------


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-iso-"):
        return "aws-iso"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    return "aws"


# --- S3 ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str  # "" for the whole bucket

    @property
    def folder(self) -> str:
        """The key as a folder prefix: "" or ending in "/"."""
        return self.key if not self.key or self.key.endswith("/") else self.key + "/"


_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/?(?P<key>.*)$")
# https forms the SageMaker API accepts for S3 locations (ModelDataUrl and the like):
# virtual-hosted style and path style, with or without a Region in the host name.
_S3_VIRTUAL = re.compile(
    r"^https://(?P<bucket>[^/]+?)\.s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?"
    r"/?(?P<key>.*)$")
_S3_PATH = re.compile(
    r"^https://s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?/(?P<bucket>[^/]+)"
    r"/?(?P<key>.*)$")


def parse_s3(uri: str) -> S3Location | None:
    for regex in (_S3_URI, _S3_VIRTUAL, _S3_PATH):
        m = regex.match(uri)
        if m and m["bucket"]:
            return S3Location(m["bucket"], m["key"])
    return None


S3_IN_TEXT = re.compile(r"s3://[^\s\"'<>\\]+")


# --- ECR -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EcrImage:
    account: str
    region: str
    partition: str
    repository: str


_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com"
    r"(?P<cn>\.cn)?/(?P<repo>[a-z0-9._/-]+?)(?::[\w.-]+)?(?:@[A-Za-z0-9]+:[0-9a-fA-F]+)?$")


def parse_ecr_image(uri: str) -> EcrImage | None:
    """An Amazon ECR image URI (`ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO[:TAG|@DIGEST]`);
    None for images elsewhere (a private registry reached through a VPC, for instance)."""
    m = _ECR_IMAGE.match(uri)
    if m is None:
        return None
    partition = "aws-cn" if m["cn"] else partition_of(m["region"])
    return EcrImage(m["account"], m["region"], partition, m["repo"])


# --- KMS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KmsKey:
    arn: str  # the key's ARN, or `...:key/*` when an alias could not be resolved
    alias_arn: str | None  # the alias the request named, as an ARN
    resolved: bool


_KMS_ARN = re.compile(r"^arn:(?P<partition>[\w-]+):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
                      r"(?P<kind>key|alias)/(?P<name>.+)$")


_KEY_ID = re.compile(r"^[A-Za-z0-9-]+$")  # a key id (a UUID, or mrk-... for multi-Region keys)


def resolve_kms(ref: str, *, region: str, account: str,
                aliases: Mapping[str, str] | None = None) -> KmsKey | None:
    """A key id, key ARN, alias name (`alias/x`) or alias ARN, as the key ARN KMS authorizes.

    KMS authorizes a request that names an alias against the key the alias points to; `aliases`
    maps alias names or alias ARNs to key ids or key ARNs. An alias it does not resolve becomes
    `arn:...:key/*` (any key of that account)."""
    ref = ref.strip()
    if not ref:
        return None
    partition = partition_of(region)
    m = _KMS_ARN.match(ref)
    if m:
        partition, region, account = m["partition"], m["region"], m["account"]
        if m["kind"] == "key":
            return KmsKey(ref, None, True)
        alias_name = "alias/" + m["name"]
    elif ref.startswith("alias/"):
        alias_name = ref
    elif ref.startswith("arn:") or not _KEY_ID.match(ref):
        return None
    else:
        return KmsKey(f"arn:{partition}:kms:{region}:{account}:key/{ref}", None, True)
    alias_arn = f"arn:{partition}:kms:{region}:{account}:{alias_name}"
    target = None
    if aliases:
        target = aliases.get(alias_arn) or aliases.get(alias_name)
    if target:
        key = resolve_kms(target, region=region, account=account)
        if key is not None and key.resolved and key.alias_arn is None:
            return KmsKey(key.arn, alias_arn, True)
    return KmsKey(f"arn:{partition}:kms:{region}:{account}:key/*", alias_arn, False)


# --- CodeCommit --------------------------------------------------------------------------------

_CODECOMMIT_URL = re.compile(
    r"^(?:https|ssh)://git-codecommit(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/v1/repos/(?P<repo>[\w.-]+)/?$")


def parse_codecommit(url: str) -> tuple[str, str] | None:
    """(region, repository) of a CodeCommit clone URL."""
    m = _CODECOMMIT_URL.match(url)
    return (m["region"], m["repo"]) if m else None


# --- SageMaker ARNs ----------------------------------------------------------------------------

_WORKTEAM = re.compile(r"^arn:[\w-]+:sagemaker:[a-z0-9-]+:\d{12}:workteam/(?P<type>[\w-]+)/")


def workteam_type(arn: str) -> str | None:
    """`public-crowd`, `private-crowd` or `vendor-crowd`, from the work team's ARN
    (security_iam_id-based-policy-examples.md, "Restrict Access to Workforce Types for Ground
    Truth Labeling Jobs and Amazon A2I Human Review Workflows")."""
    m = _WORKTEAM.match(arn)
    if m and m["type"] in ("public-crowd", "private-crowd", "vendor-crowd"):
        return m["type"]
    return None
