"""Properties that must hold for every input (hypothesis).

- The parser answers any JSON (and any text) with a Policy or a PolicyError, nothing else.
- Deny dominance: an applicable Deny anywhere makes the decision explicit_deny
  (reference_policies_evaluation-logic.md, "Deny evaluation").
- Layer intersection: adding a permissions boundary, a session policy or an SCP level never
  turns a denial into an allow (access_policies_boundaries.md, "Evaluating effective
  permissions with boundaries").
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execrole.policy import (
    Authorizer,
    Outcome,
    Policy,
    PolicyError,
    PolicySet,
    PolicyType,
    Request,
    parse_policy,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)

element_names = st.sampled_from(["Version", "Id", "Statement", "Sid", "Effect", "Principal",
                                 "NotPrincipal", "Action", "NotAction", "Resource",
                                 "NotResource", "Condition", "AWS", "Service", "StringEquals",
                                 "StringLike", "ForAllValues:StringLike", "aws:SourceIp"])
policy_like = st.recursive(
    st.sampled_from(["2012-10-17", "2008-10-17", "Allow", "Deny", "*", "s3:GetObject",
                     "arn:aws:s3:::b/*", "arn:aws:iam::111122223333:root", "sts:AssumeRole",
                     "ec2:*", "${aws:username}", "10.0.0.0/8", "true", ""]) | st.integers(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(element_names, children, max_size=5),
    max_leaves=30,
)


def _parse_any(document: Any, ptype: PolicyType) -> None:
    try:
        result = parse_policy(document, ptype)
    except PolicyError as e:
        assert e.code and e.message
    else:
        assert isinstance(result, Policy)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, st.sampled_from(list(PolicyType)))
def test_parser_never_raises_anything_else_on_json(value: Any, ptype: PolicyType) -> None:
    _parse_any(json.dumps(value), ptype)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(policy_like, st.sampled_from(list(PolicyType)))
def test_parser_never_raises_anything_else_on_policy_shapes(value: Any, ptype: PolicyType) -> None:
    _parse_any(json.dumps({"Version": "2012-10-17", "Statement": value}), ptype)
    if isinstance(value, dict):
        _parse_any(json.dumps(value), ptype)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_parser_never_raises_anything_else_on_text(text: str) -> None:
    _parse_any(text, PolicyType.IDENTITY)


# --- generated policies ------------------------------------------------------------------

ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "iam:PassRole",
           "sagemaker:CreateTrainingJob"]
ACTION_PATTERNS = [*ACTIONS, "s3:*", "*", "s3:Get*", "sagemaker:Create*", "iam:Pass?ole"]
RESOURCES = ["arn:aws:s3:::data/train.csv", "arn:aws:s3:::sagemaker-x/a", "arn:aws:s3:::data",
             "arn:aws:iam::111122223333:role/R"]
RESOURCE_PATTERNS = [*RESOURCES, "*", "arn:aws:s3:::*", "arn:aws:s3:::data/*",
                     "arn:aws:s3:::*sagemaker*", "arn:aws:iam::*:role/*"]
CONDITIONS = [
    None,
    {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringLike": {"aws:PrincipalArn": "arn:aws:sts::*"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
]
PRINCIPAL = "arn:aws:sts::111122223333:assumed-role/R/s"


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    st_: dict[str, Any] = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        "Action": draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3)),
        "Resource": draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=3)),
    }
    condition = draw(st.sampled_from(CONDITIONS))
    if condition:
        st_["Condition"] = condition
    return st_


@st.composite
def policies(draw: st.DrawFn, effect: str | None = None) -> Policy:
    body = draw(st.lists(statements(effect), min_size=1, max_size=4))
    return parse_policy({"Version": "2012-10-17", "Statement": body}, PolicyType.IDENTITY)


@st.composite
def requests(draw: st.DrawFn) -> Request:
    context: dict[str, str] = {}
    if draw(st.booleans()):
        context["iam:PassedToService"] = draw(st.sampled_from(["sagemaker.amazonaws.com",
                                                               "glue.amazonaws.com"]))
    if draw(st.booleans()):
        context["aws:SecureTransport"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.booleans()):
        context["aws:SourceIp"] = draw(st.sampled_from(["10.1.2.3", "192.0.2.1"]))
    return Request(PRINCIPAL, draw(st.sampled_from(ACTIONS)), draw(st.sampled_from(RESOURCES)),
                   context=context)


def _deny_everything() -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "*", "Resource": "*"}]}, PolicyType.IDENTITY)


@settings(max_examples=300)
@given(st.lists(policies(), min_size=1, max_size=3), requests(),
       st.sampled_from(["identity", "boundary", "session", "scp"]))
def test_deny_dominance(identity: list[Policy], request: Request, where: str) -> None:
    deny = _deny_everything()
    sets = {
        "identity": PolicySet(identity=[*identity, deny]),
        "boundary": PolicySet(identity=identity, boundary=[deny]),
        "session": PolicySet(identity=identity, session=deny),
        "scp": PolicySet(identity=identity, scp_levels=[[deny]]),
    }
    decision = Authorizer(sets[where]).authorize(request)
    assert decision.outcome is Outcome.EXPLICIT_DENY
    assert decision.message and "with an explicit deny in" in decision.message


@settings(max_examples=300)
@given(st.lists(policies(), min_size=1, max_size=3), policies(), requests(),
       st.sampled_from(["boundary", "session", "scp"]))
def test_layers_only_intersect(identity: list[Policy], extra: Policy, request: Request,
                               layer: str) -> None:
    alone = Authorizer(PolicySet(identity=identity)).authorize(request)
    limited_set = {
        "boundary": PolicySet(identity=identity, boundary=[extra]),
        "session": PolicySet(identity=identity, session=extra),
        "scp": PolicySet(identity=identity, scp_levels=[[extra]]),
    }[layer]
    limited = Authorizer(limited_set).authorize(request)
    if limited.allowed:
        assert alone.allowed
    # The limit allowed on its own too: the intersection is exactly both.
    limit_alone = Authorizer(PolicySet(identity=[extra])).authorize(request)
    if alone.allowed and limit_alone.allowed and limit_alone.outcome is not Outcome.EXPLICIT_DENY:
        assert limited.allowed


@settings(max_examples=200)
@given(st.lists(policies(), min_size=1, max_size=3), requests())
def test_decision_is_deterministic_and_statement_order_free(identity: list[Policy],
                                                            request: Request) -> None:
    forward = Authorizer(PolicySet(identity=identity)).authorize(request)
    backward = Authorizer(PolicySet(identity=list(reversed(identity)))).authorize(request)
    assert forward.outcome is backward.outcome
    assert set(forward.denied_by) == set(backward.denied_by)
