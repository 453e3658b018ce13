"""SageMaker images and image versions through the endpoint (issue 6).

Sources: the seed ("Passing Roles": CreateImage and UpdateImage pass a role; "CreateImage and
UpdateImage APIs: Execution Role Permissions": the role reads the versions' base images from
ECR), security-confused-deputy-prevention.md ("SageMaker Images": trust policies name
aws:SourceArn `arn:<partition>:sagemaker:<region>:<account>:image-version`, never the ARN of
one image), and the SageMaker API reference in botocore's model (DeleteImage "Deletes a
SageMaker AI image and all versions of the image"; version numbers; ClientToken).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
    "Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
FULL_ACCESS = "arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def error_of(e: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = e.value.response["Error"]
    return str(err["Code"]), str(err["Message"])


def _trust_with_source(arn: str, operator: str = "ArnLike") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole", "Condition": {operator: {"aws:SourceArn": arn}}}]}


@pytest.fixture(scope="module")
def env(server: Server) -> dict[str, Any]:
    iam: Any = server.client("iam")
    account = server.client("sts").get_caller_identity()["Account"]  # type: ignore[attr-defined]
    template = f"arn:aws:sagemaker:us-east-1:{account}:image-version"
    pinned = f"arn:aws:sagemaker:us-east-1:{account}:image/pinned-image"
    trusts = {"ImageRole": TRUST, "TemplateTrustRole": _trust_with_source(template),
              "PinnedTrustRole": _trust_with_source(pinned, "ArnEquals"),
              "BareImageRole": TRUST,
              "LambdaRole": json.loads(json.dumps(TRUST).replace("sagemaker", "lambda"))}
    arns = {}
    for name, trust in trusts.items():
        arns[name] = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
            trust))["Role"]["Arn"]
        if name not in ("BareImageRole", "LambdaRole"):
            iam.attach_role_policy(RoleName=name, PolicyArn=FULL_ACCESS)
    server.client("ecr").create_repository(  # type: ignore[attr-defined]
        repositoryName="byoi-kernel")
    return {"account": account, **arns,
            "private": f"{account}.dkr.ecr.us-east-1.amazonaws.com/byoi-kernel:1"}


def test_image_create_describe_list_update_delete(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    arn = sm.create_image(ImageName="team-kernel", RoleArn=env["ImageRole"],
                          DisplayName="Team kernel", Description="pandas and friends",
                          Tags=[{"Key": "team", "Value": "ml"}])["ImageArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{env['account']}:image/team-kernel"
    d = sm.describe_image(ImageName="team-kernel")
    assert (d["ImageName"], d["ImageStatus"], d["RoleArn"], d["DisplayName"],
            d["Description"]) == ("team-kernel", "CREATED", env["ImageRole"], "Team kernel",
                                  "pandas and friends")
    sm.create_image(ImageName="other-kernel", RoleArn=env["ImageRole"])
    names = [i["ImageName"] for i in sm.list_images(
        NameContains="KERNEL", SortBy="IMAGE_NAME", SortOrder="ASCENDING")["Images"]]
    assert names == ["other-kernel", "team-kernel"]
    with pytest.raises(ClientError) as e:
        sm.create_image(ImageName="team-kernel", RoleArn=env["ImageRole"])
    assert error_of(e) == ("ResourceInUse", f"Image {arn} already exists.")
    # UpdateImage passes the role again: the same checks as CreateImage.
    with pytest.raises(ClientError) as e:
        sm.update_image(ImageName="team-kernel", RoleArn=env["LambdaRole"])
    assert error_of(e)[1].startswith(f"Could not assume role {env['LambdaRole']}.")
    assert sm.update_image(ImageName="team-kernel", RoleArn=env["TemplateTrustRole"],
                           DeleteProperties=["Description"])["ImageArn"] == arn
    d = sm.describe_image(ImageName="team-kernel")
    assert d["RoleArn"] == env["TemplateTrustRole"] and "Description" not in d
    assert d["LastModifiedTime"] >= d["CreationTime"]
    for name in ("team-kernel", "other-kernel"):
        sm.delete_image(ImageName=name)
    with pytest.raises(ClientError) as e:
        sm.describe_image(ImageName="team-kernel")
    assert error_of(e) == ("ResourceNotFound", f"Image {arn} does not exist.")


def test_create_image_checks_passrole_and_trust(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_image(ImageName="lambda-image", RoleArn=env["LambdaRole"])
    assert error_of(e) == ("ValidationException", f"Could not assume role {env['LambdaRole']}. "
                           "Please ensure that the role exists and allows principal "
                           "'sagemaker.amazonaws.com' to assume the role.")
    # The page's template trusts SageMaker for every image; a trust policy pinned to one
    # image's ARN never matches, because SageMaker sends the template, not the image's ARN.
    sm.create_image(ImageName="template-image", RoleArn=env["TemplateTrustRole"])
    with pytest.raises(ClientError) as e:
        sm.create_image(ImageName="pinned-image", RoleArn=env["PinnedTrustRole"])
    assert error_of(e)[1].startswith(f"Could not assume role {env['PinnedTrustRole']}.")
    iam: Any = server.client("iam")
    iam.create_user(UserName="image-admin")
    iam.put_user_policy(UserName="image-admin", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
            "sagemaker:CreateImage", "sagemaker:UpdateImage"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="image-admin")["AccessKey"]
    admin: Any = server.client("sagemaker", key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        admin.create_image(ImageName="nopass-image", RoleArn=env["ImageRole"])
    assert error_of(e) == ("AccessDeniedException", (
        f"User: arn:aws:iam::{env['account']}:user/image-admin is not authorized to perform: "
        f"iam:PassRole on resource: {env['ImageRole']} because no identity-based policy "
        "allows the iam:PassRole action"))
    with pytest.raises(ClientError) as e:
        admin.update_image(ImageName="template-image", RoleArn=env["ImageRole"])
    assert error_of(e)[0] == "AccessDeniedException"
    # Without a role, UpdateImage passes none.
    admin.update_image(ImageName="template-image", DisplayName="Template")


def test_versions(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    image_arn = sm.create_image(ImageName="versioned", RoleArn=env["ImageRole"])["ImageArn"]
    v1 = sm.create_image_version(ImageName="versioned", BaseImage=SKLEARN, ClientToken="t-1",
                                 Aliases=["stable"])["ImageVersionArn"]
    assert v1 == f"arn:aws:sagemaker:us-east-1:{env['account']}:image-version/versioned/1"
    # The same ClientToken is the same request: no second version.
    assert sm.create_image_version(ImageName="versioned", BaseImage=SKLEARN,
                                   ClientToken="t-1")["ImageVersionArn"] == v1
    v2 = sm.create_image_version(ImageName="versioned", BaseImage=SKLEARN,
                                 ClientToken="t-2", MLFramework="sklearn 1.2")
    assert v2["ImageVersionArn"].endswith("/versioned/2")
    latest = sm.describe_image_version(ImageName="versioned")
    assert (latest["Version"], latest["ImageVersionStatus"], latest["BaseImage"],
            latest["ContainerImage"], latest["ImageArn"], latest["MLFramework"]) == \
        (2, "CREATED", SKLEARN, SKLEARN, image_arn, "sklearn 1.2")
    assert sm.describe_image_version(ImageName="versioned", Alias="stable")["Version"] == 1
    assert sm.describe_image_version(ImageName="versioned", Version=1)["ImageVersionArn"] == v1
    listed = sm.list_image_versions(ImageName="versioned", SortBy="VERSION",
                                    SortOrder="ASCENDING")["ImageVersions"]
    assert [(v["Version"], v["ImageVersionStatus"]) for v in listed] == \
        [(1, "CREATED"), (2, "CREATED")]
    sm.delete_image_version(ImageName="versioned", Version=1)
    with pytest.raises(ClientError) as e:
        sm.describe_image_version(ImageName="versioned", Version=1)
    assert error_of(e) == ("ResourceNotFound", f"Image version {v1} does not exist.")
    # Numbers are never reused.
    assert sm.create_image_version(ImageName="versioned", BaseImage=SKLEARN,
                                   ClientToken="t-3")["ImageVersionArn"].endswith("/3")
    sm.delete_image(ImageName="versioned")
    with pytest.raises(ClientError) as e:
        sm.list_image_versions(ImageName="versioned")
    assert error_of(e) == ("ResourceNotFound", f"Image {image_arn} does not exist.")
    sm.create_image(ImageName="versioned", RoleArn=env["ImageRole"])
    assert sm.list_image_versions(ImageName="versioned")["ImageVersions"] == []
    with pytest.raises(ClientError) as e:
        sm.create_image_version(ImageName="no-such-image", BaseImage=SKLEARN, ClientToken="x")
    assert error_of(e)[0] == "ResourceNotFound"


def test_version_pulls_the_base_image_as_the_role(server: Server, env: dict[str, Any]) -> None:
    sm: Any = server.client("sagemaker")
    sm.create_image(ImageName="bare-kernel", RoleArn=env["BareImageRole"])
    arn = sm.create_image_version(ImageName="bare-kernel", BaseImage=env["private"],
                                  ClientToken="bare-1")["ImageVersionArn"]
    v = sm.describe_image_version(ImageName="bare-kernel", Version=1)
    assert v["ImageVersionArn"] == arn
    assert v["ImageVersionStatus"] == "CREATE_FAILED"
    assert v["FailureReason"] == (
        f"Access denied for repository: byoi-kernel in registry ID: {env['account']}. Please "
        f"check if your ECR repository and image exist and role {env['BareImageRole']} has "
        "proper pull permissions for SageMaker: ecr:BatchCheckLayerAvailability, "
        "ecr:BatchGetImage, ecr:GetDownloadUrlForLayer")
    assert "ContainerImage" not in v
    # The same image with a role that may pull (AmazonSageMakerFullAccess) succeeds.
    sm.update_image(ImageName="bare-kernel", RoleArn=env["ImageRole"])
    sm.create_image_version(ImageName="bare-kernel", BaseImage=env["private"],
                            ClientToken="bare-2")
    assert sm.describe_image_version(ImageName="bare-kernel")["ImageVersionStatus"] == \
        "CREATED"
