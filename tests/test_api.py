"""The public library API of execrole.policy: values in, decisions out."""

from __future__ import annotations

import json

from execrole.policy import (
    Authorizer,
    CachedAuthorizer,
    Layer,
    Outcome,
    PolicySet,
    PolicyType,
    Request,
    parse_policy,
)

ROLE_SESSION = "arn:aws:sts::111122223333:assumed-role/Exec/SageMaker"


def _policy(*statements: dict[str, object]) -> object:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)},
                        PolicyType.IDENTITY, name="p")


def test_context_keys_are_case_insensitive_and_values_normalized() -> None:
    # reference_policies_elements_condition.md: condition key names are not case-sensitive.
    request = Request(ROLE_SESSION, "iam:PassRole", "*",
                      context={"IAM:PassedToService": "sagemaker.amazonaws.com",
                               "aws:MultiFactorAuthPresent": True, "s3:max-keys": 10})
    assert request.context == {"iam:passedtoservice": ("sagemaker.amazonaws.com",),
                               "aws:multifactorauthpresent": ("true",),
                               "s3:max-keys": ("10",)}


def test_decision_values_and_dict() -> None:
    policy = _policy({"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject",
                      "Resource": "arn:aws:s3:::data/*"})
    authorizer = Authorizer(PolicySet(identity=[policy]))  # type: ignore[list-item]
    allowed = authorizer.authorize(Request(ROLE_SESSION, "S3:getobject", "arn:aws:s3:::data/a"))
    assert allowed.allowed and allowed.outcome is Outcome.ALLOW
    assert [(m.layer, m.policy, m.statement, m.sid) for m in allowed.matched] == [
        (Layer.IDENTITY, "p", 0, "Read")]
    denied = authorizer.authorize(Request(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::other/a"))
    as_dict = denied.to_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["decision"] == "implicit_deny" and as_dict["denied_by"] == ["identity"]


def test_boundary_denial_names_the_boundary() -> None:
    # access_policies_boundaries.md: identity ∩ boundary; troubleshoot_access-denied.md wording.
    identity = _policy({"Effect": "Allow", "Action": "*", "Resource": "*"})
    boundary = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}, PolicyType.BOUNDARY)
    authorizer = Authorizer(PolicySet(identity=[identity], boundary=[boundary]))  # type: ignore[list-item]
    decision = authorizer.authorize(Request(ROLE_SESSION, "sagemaker:CreateTrainingJob",
                                            "arn:aws:sagemaker:us-east-1:111122223333:training-job/j"))
    assert decision.denied_by == (Layer.PERMISSIONS_BOUNDARY,)
    assert decision.message is not None
    assert decision.message.endswith(
        "because no permissions boundary allows the sagemaker:CreateTrainingJob action")


def test_cache_never_serves_clock_dependent_policies() -> None:
    timed = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                     "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}})
    plain = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    assert not CachedAuthorizer(Authorizer(PolicySet(identity=[timed]))).enabled  # type: ignore[list-item]
    cached = CachedAuthorizer(Authorizer(PolicySet(identity=[plain])))  # type: ignore[list-item]
    request = Request(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::b/k")
    assert cached.enabled and cached.authorize(request) is cached.authorize(request)


def test_current_time_is_derived_from_the_request_time() -> None:
    # reference_policies_condition-keys.md, aws:CurrentTime / aws:EpochTime: always present.
    timed = _policy({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                     "Condition": {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
                                   "NumericGreaterThan": {"aws:EpochTime": "1000"}}})
    authorizer = Authorizer(PolicySet(identity=[timed]))  # type: ignore[list-item]
    before = Request(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::b/k", time=1_800_000_000)
    after = Request(ROLE_SESSION, "s3:GetObject", "arn:aws:s3:::b/k", time=1_900_000_000)
    assert authorizer.authorize(before).allowed
    assert not authorizer.authorize(after).allowed
