"""AutoML jobs through the endpoint: authorized like SageMaker authorizes them, then refused
(execrole does not run Autopilot; docs/fidelity.md). Sources: botocore's sagemaker model
(CreateAutoMLJob, CreateAutoMLJobV2: "RoleArn: The ARN of the role that is used to access the
data"; DescribeAutoMLJob, ListAutoMLJobs), the seed ("Passing Roles": iam:PassRole with
iam:PassedToService; the trust policy for sagemaker.amazonaws.com) and SageMaker's
ResourceNotFound text for an unknown AutoML job as users report it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
DATA = "s3://sagemaker-automl-e2e/train/"
REFUSAL = "execrole does not run AutoML jobs:"


def error_of(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = e.value.response["Error"]
    return str(err["Code"]), str(err["Message"])


@pytest.fixture(scope="module")
def env(server: Server) -> dict[str, Any]:
    iam: Any = server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    role = iam.create_role(RoleName="AutopilotRole",
                           AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    iam.attach_role_policy(RoleName="AutopilotRole",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    untrusted = iam.create_role(RoleName="AutopilotEc2Role", AssumeRolePolicyDocument=json.dumps(
        json.loads(json.dumps(TRUST).replace("sagemaker", "ec2"))))["Role"]["Arn"]
    iam.create_user(UserName="automl-user")
    iam.put_user_policy(UserName="automl-user", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Resource": "*",
            "Action": ["sagemaker:CreateAutoMLJob", "sagemaker:CreateAutoMLJobV2"]}]}))
    key = iam.create_access_key(UserName="automl-user")["AccessKey"]
    return {"account": account, "role": role, "untrusted": untrusted,
            "user": (key["AccessKeyId"], key["SecretAccessKey"])}


def v1(name: str, role: str) -> dict[str, Any]:
    return {"AutoMLJobName": name, "RoleArn": role,
            "InputDataConfig": [{"DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": DATA}}, "TargetAttributeName": "y"}],
            "OutputDataConfig": {"S3OutputPath": "s3://sagemaker-automl-e2e/out"}}


def v2(name: str, role: str) -> dict[str, Any]:
    return {"AutoMLJobName": name, "RoleArn": role,
            "AutoMLJobInputDataConfig": [{"ChannelType": "training", "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": DATA}}}],
            "OutputDataConfig": {"S3OutputPath": "s3://sagemaker-automl-e2e/out"},
            "AutoMLProblemTypeConfig": {"TabularJobConfig": {"TargetAttributeName": "y"}}}


def test_caller_without_passrole_is_denied(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker", *env["user"])
    for create, request in ((sm.create_auto_ml_job, v1("automl-nopass", env["role"])),
                            (sm.create_auto_ml_job_v2, v2("automl-nopass2", env["role"]))):
        with pytest.raises(ClientError) as e:
            create(**request)
        assert error_of(e) == ("AccessDeniedException", (
            f"User: arn:aws:iam::{env['account']}:user/automl-user is not authorized to "
            f"perform: iam:PassRole on resource: {env['role']} because no identity-based "
            "policy allows the iam:PassRole action"))


def test_role_without_trust_fails_as_on_aws(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_auto_ml_job_v2(**v2("automl-untrusted", env["untrusted"]))
    assert error_of(e) == ("ValidationException", f"Could not assume role {env['untrusted']}. "
                           "Please ensure that the role exists and allows principal "
                           "'sagemaker.amazonaws.com' to assume the role.")


def test_good_request_is_refused_clearly(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    for create, request in ((sm.create_auto_ml_job, v1("automl-ok", env["role"])),
                            (sm.create_auto_ml_job_v2, v2("automl-ok2", env["role"]))):
        with pytest.raises(ClientError) as e:
            create(**request)
        code, message = error_of(e)
        assert code == "ValidationException" and message.startswith(REFUSAL)
    assert sm.list_auto_ml_jobs()["AutoMLJobSummaries"] == []
    for call in (sm.describe_auto_ml_job, sm.describe_auto_ml_job_v2, sm.stop_auto_ml_job,
                 sm.list_candidates_for_auto_ml_job):
        with pytest.raises(ClientError) as e:
            call(AutoMLJobName="automl-ok")
        assert error_of(e) == ("ResourceNotFound",
                               "Amazon SageMaker can't find an AutoML job called automl-ok.")
