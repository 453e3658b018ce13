"""The SageMaker framework images through the endpoint (issue 5): a repository of an AWS
framework registry (SageMaker Python SDK, image_uri_config/sklearn.json: 683313688378 hosts
sagemaker-scikit-learn in us-east-1) answers any tag with execrole's built-in script-mode
process image. Its repository policy lets any principal pull, so a role of another account
pulls with its own identity policy alone (IAM cross-account evaluation: the identity side
must still allow); writes to a registry the caller does not own are refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

from execrole.catalog.framework_images import framework_image_uri, framework_repository

ACCOUNT = "111122223333"
SKLEARN = "683313688378"
REPO = "sagemaker-scikit-learn"
TAG = "1.2-1-cpu-py3"
PULL = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
        "ecr:GetAuthorizationToken"]


def error_of(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(ClientError) as e:
        call()
    return dict(e.value.response["Error"])


@pytest.fixture(scope="module")
def puller(server: Server) -> Any:
    """An ECR client of a role session whose identity policy allows ECR pulls on "*"."""
    iam: Any = server.client("iam")
    iam.create_role(RoleName="trainer", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName="trainer", PolicyName="pull", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": PULL, "Resource": "*"}]}))
    sts: Any = server.client("sts")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/trainer",
                            RoleSessionName="job")["Credentials"]
    return server.client("ecr", creds["AccessKeyId"], creds["SecretAccessKey"],
                         creds["SessionToken"])


def test_table() -> None:
    assert framework_repository(SKLEARN, "us-east-1", REPO)
    assert framework_repository("257758044811", "us-east-2", "sagemaker-xgboost")
    assert framework_repository("763104351884", "eu-west-1", "pytorch-training")
    assert not framework_repository("763104351884", "us-east-1", REPO)
    assert not framework_repository(ACCOUNT, "us-east-1", "pytorch-training")
    assert framework_image_uri(
        "763104351884.dkr.ecr.us-west-2.amazonaws.com/huggingface-pytorch-training:2.1-gpu")
    assert not framework_image_uri(f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/train:v1")


def test_role_pulls_the_builtin_image(server: Server, puller: Any) -> None:
    got = puller.batch_get_image(registryId=SKLEARN, repositoryName=REPO,
                                 imageIds=[{"imageTag": TAG}])
    assert got["failures"] == []
    (image,) = got["images"]
    manifest_text = image["imageManifest"]
    digest = "sha256:" + hashlib.sha256(manifest_text.encode()).hexdigest()
    assert image["imageId"] == {"imageDigest": digest, "imageTag": TAG}
    assert image["registryId"] == SKLEARN and image["repositoryName"] == REPO
    manifest = json.loads(manifest_text)
    (layer,) = manifest["layers"]
    # Any tag, the same image; by digest too.
    other = puller.batch_get_image(registryId=SKLEARN, repositoryName=REPO,
                                   imageIds=[{"imageTag": "0.23-1-cpu-py3"},
                                             {"imageDigest": digest},
                                             {"imageDigest": "sha256:" + "0" * 64}])
    assert [i["imageId"]["imageDigest"] for i in other["images"]] == [digest, digest]
    assert other["failures"][0]["failureCode"] == "ImageNotFound"
    # The config: script mode in /opt/ml/code, the framework named.
    avail = puller.batch_check_layer_availability(
        registryId=SKLEARN, repositoryName=REPO,
        layerDigests=[manifest["config"]["digest"], layer["digest"]])
    assert [x["layerAvailability"] for x in avail["layers"]] == ["AVAILABLE", "AVAILABLE"]
    url = puller.get_download_url_for_layer(registryId=SKLEARN, repositoryName=REPO,
                                            layerDigest=manifest["config"]["digest"])
    config = json.loads(_fetch(server, url["downloadUrl"]))
    assert config["config"]["Entrypoint"] == ["python", "-m", "execrole.runtime.script_mode"]
    assert config["config"]["WorkingDir"] == "/opt/ml/code"
    assert config["config"]["Env"] == [f"SAGEMAKER_FRAMEWORK={REPO}"]
    # The layer: a deterministic tar.gz of an empty directory, addressed by its content.
    url = puller.get_download_url_for_layer(registryId=SKLEARN, repositoryName=REPO,
                                            layerDigest=layer["digest"])
    body = _fetch(server, url["downloadUrl"])
    assert "sha256:" + hashlib.sha256(body).hexdigest() == layer["digest"]
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(body))) as tar:
        assert tar.getnames() == []


def test_reads_with_describe_permissions(server: Server) -> None:
    ecr: Any = server.client("ecr")  # the account's root: its own account allows everything
    repos = ecr.describe_repositories(registryId=SKLEARN, repositoryNames=[REPO])
    assert repos["repositories"][0]["repositoryArn"] == \
        f"arn:aws:ecr:us-east-1:{SKLEARN}:repository/{REPO}"
    detail = ecr.describe_images(registryId=SKLEARN, repositoryName=REPO,
                                 imageIds=[{"imageTag": TAG}])["imageDetails"][0]
    assert detail["imageTags"] == [TAG]
    listed = ecr.list_images(registryId=SKLEARN, repositoryName=REPO)["imageIds"]
    assert listed == [{"imageDigest": detail["imageDigest"]}]


def test_user_without_ecr_permissions_is_denied(server: Server) -> None:
    iam: Any = server.client("iam")
    iam.create_user(UserName="no-ecr")
    key = iam.create_access_key(UserName="no-ecr")["AccessKey"]
    nobody: Any = server.client("ecr", key["AccessKeyId"], key["SecretAccessKey"])
    err = error_of(lambda: nobody.batch_get_image(registryId=SKLEARN, repositoryName=REPO,
                                                  imageIds=[{"imageTag": TAG}]))
    assert err == {"Code": "AccessDeniedException",
                   "Message": f"User: arn:aws:iam::{ACCOUNT}:user/no-ecr is not authorized to "
                              "perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:"
                              f"{SKLEARN}:repository/{REPO} because no identity-based policy "
                              "allows the ecr:BatchGetImage action"}


def test_writes_are_refused(server: Server, puller: Any) -> None:
    ecr: Any = server.client("ecr")  # even the root of the caller's account
    manifest = json.dumps({"schemaVersion": 2, "mediaType":
                           "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": "sha256:" + "1" * 64, "size": 1},
                           "layers": []})
    for client in (ecr, puller):
        err = error_of(lambda c=client: c.put_image(registryId=SKLEARN, repositoryName=REPO,
                                                    imageManifest=manifest, imageTag="mine"))
        assert err["Code"] == "AccessDeniedException"
        assert "ecr:PutImage" in err["Message"]
    err = error_of(lambda: ecr.delete_repository(registryId=SKLEARN, repositoryName=REPO))
    assert err["Code"] == "AccessDeniedException"
    err = error_of(lambda: ecr.set_repository_policy(registryId=SKLEARN, repositoryName=REPO,
                                                     policyText="{}"))
    assert err["Code"] == "AccessDeniedException"
    err = error_of(lambda: ecr.initiate_layer_upload(registryId=SKLEARN, repositoryName=REPO))
    assert err["Code"] == "AccessDeniedException"


def _fetch(server: Server, url: str) -> bytes:
    """A layer URL GetDownloadUrlForLayer gave (a signed path on the endpoint)."""
    with urllib.request.urlopen(server.url + url, timeout=10) as r:
        return bytes(r.read())
