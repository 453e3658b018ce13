"""SageMaker models through the endpoint, with the synchronous checks a Create call that
passes a role makes (issue 6, first part). Sources: the seed ("Passing Roles": iam:PassRole
with iam:PassedToService; the trust policy for sagemaker.amazonaws.com; "CreateModel API:
Execution Role Permissions": the ECR pull actions), security-confused-deputy-prevention.md
(aws:SourceAccount / aws:SourceArn), and the SageMaker API reference for the operations."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def error_of(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = e.value.response["Error"]
    return str(err["Code"]), str(err["Message"])


@pytest.fixture(scope="module")
def env(server: Server) -> dict[str, Any]:
    iam: Any = server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    role = iam.create_role(RoleName="ModelRole", Path="/service-role/",
                           AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.attach_role_policy(RoleName="ModelRole",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    untrusted = iam.create_role(RoleName="Ec2Role", AssumeRolePolicyDocument=json.dumps(
        json.loads(json.dumps(TRUST).replace("sagemaker", "ec2"))))["Role"]["Arn"]
    bare = iam.create_role(RoleName="BareRole",
                           AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    return {"account": account, "role": role, "untrusted": untrusted, "bare": bare}


def _model(name: str, role: str, image: str = SKLEARN) -> dict[str, Any]:
    return {"ModelName": name, "ExecutionRoleArn": role,
            "PrimaryContainer": {"Image": image,
                                 "ModelDataUrl": "s3://sagemaker-models/model.tar.gz"}}


def test_create_describe_list_delete(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    arn = sm.create_model(**_model("Churn-Model", env["role"]))["ModelArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{env['account']}:model/churn-model"
    described = sm.describe_model(ModelName="Churn-Model")
    assert described["ExecutionRoleArn"] == env["role"]
    assert described["PrimaryContainer"]["Image"] == SKLEARN
    names = [m["ModelName"] for m in sm.list_models(NameContains="churn")["Models"]]
    assert names == ["Churn-Model"]
    with pytest.raises(ClientError) as e:
        sm.create_model(**_model("Churn-Model", env["role"]))
    assert error_of(e) == ("ValidationException",
                           f'Cannot create already existing model "{arn}".')
    sm.delete_model(ModelName="Churn-Model")
    with pytest.raises(ClientError) as e:
        sm.describe_model(ModelName="Churn-Model")
    assert error_of(e) == ("ValidationException", f'Could not find model "{arn}".')


def test_trust_policy_without_sagemaker(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_model(**_model("m-untrusted", env["untrusted"]))
    assert error_of(e) == ("ValidationException", f"Could not assume role {env['untrusted']}. "
                           "Please ensure that the role exists and allows principal "
                           "'sagemaker.amazonaws.com' to assume the role.")
    missing = env["role"].replace("ModelRole", "NoSuchRole")
    with pytest.raises(ClientError) as e:
        sm.create_model(**_model("m-missing", missing))
    assert "Could not assume role" in error_of(e)[1]


def test_caller_without_passrole(server: Server, env: dict[str, Any]) -> None:
    iam: Any = server.client("iam")
    iam.create_user(UserName="modeler")
    iam.put_user_policy(UserName="modeler", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                                               "Action": "sagemaker:CreateModel",
                                               "Resource": "*"}]}))
    key = iam.create_access_key(UserName="modeler")["AccessKey"]
    sm: Any = server.client("sagemaker", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        sm.create_model(**_model("m-nopass", env["role"]))
    code, message = error_of(e)
    assert code == "AccessDeniedException"
    assert message == (f"User: arn:aws:iam::{env['account']}:user/modeler is not authorized to "
                       f"perform: iam:PassRole on resource: {env['role']} because no "
                       "identity-based policy allows the iam:PassRole action")
    nothing: Any = server.client("sagemaker", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        nothing.list_models()
    assert error_of(e)[0] == "AccessDeniedException"


def test_image_checks_as_the_role(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    account = env["account"]
    own = f"{account}.dkr.ecr.us-east-1.amazonaws.com/no-such-repo:1"
    with pytest.raises(ClientError) as e:
        sm.create_model(**_model("m-norepo", env["role"], own))
    assert error_of(e)[1].startswith("Cannot find repository: no-such-repo in registry ID: "
                                     f"{account}.")
    ecr: Any = server.client("ecr")
    ecr.create_repository(repositoryName="private-serving")
    image = f"{account}.dkr.ecr.us-east-1.amazonaws.com/private-serving:1"
    with pytest.raises(ClientError) as e:
        sm.create_model(**_model("m-bare", env["bare"], image))
    assert error_of(e) == ("ValidationException", (
        f"Access denied for repository: private-serving in registry ID: {account}. Please "
        f"check if your ECR repository and image exist and role {env['bare']} has proper "
        "pull permissions for SageMaker: ecr:BatchCheckLayerAvailability, ecr:BatchGetImage, "
        "ecr:GetDownloadUrlForLayer"))
    assert sm.create_model(**_model("m-ok", env["role"], image))["ModelArn"].endswith("/m-ok")


def test_decisions_are_logged_with_the_models_arn(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    arn = sm.create_model(**_model("logged-model", env["role"]))["ModelArn"]
    db = sqlite3.connect(server.data_dir / "execrole.db")
    rows = db.execute("SELECT principal, action, decision FROM decisions WHERE source=? "
                      "ORDER BY id", (arn,)).fetchall()
    assert ("sagemaker.amazonaws.com", "sts:AssumeRole", "allow") in rows
    assert any(action == "ecr:BatchGetImage" and decision == "allow"
               for _, action, decision in rows)
