"""ECR through the endpoint with boto3, and process images pushed with `execrole image push`
(issue 5, the ECR part).

Sources: the ECR API reference (botocore's ecr model): CreateRepository, DescribeRepositories
(maxResults/nextToken paging), DeleteRepository (force), Set/Get/DeleteRepositoryPolicy,
GetAuthorizationToken ("valid for 12 hours", base64 of "AWS:<password>"), ListImages
(tagStatus), DescribeImages, BatchGetImage, BatchCheckLayerAvailability,
GetDownloadUrlForLayer ("You can only get URLs for image layers that are referenced in an
image"), BatchDeleteImage ("When you remove the last tag from an image, the image is
deleted"), PutImage, Initiate/UploadLayerPart/CompleteLayerUpload, tags; ECR's error messages
as AWS returns them (public reports and moto's AWS-derived tests): "The repository with name
'x' does not exist in the registry with id '...'", "... already exists in the registry with
id ...", RepositoryNotEmptyException, "Repository policy does not exist for the repository
with name ...", "The image with imageId {imageDigest:'null', imageTag:'x'} does not exist
within ...", "image manifest mediatype not provided in manifest or parameter", "... cannot be
overwritten because the repository is immutable.", the batch failures ("Requested image not
found", "Could not find layer"); the ECR user guide for repository policies (resource-based
policies: cross-account pulls need the repository policy and the puller's own identity
policy); the engine's AccessDenied messages (troubleshoot_access-denied.md).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Server

from execrole.cli.image import build_process_image

ACCOUNT = "111122223333"
OTHER = "444455556666"
HOST = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def error_of(call: Callable[[], Any]) -> dict[str, str]:
    with pytest.raises(ClientError) as e:
        call()
    return dict(e.value.response["Error"])


def allow(*actions: str, resource: str = "*") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": list(actions), "Resource": resource}]}


def execrole(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "execrole", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def new_user(server: Server, iam: Any, name: str,
             policy: dict[str, Any] | None = None) -> tuple[str, str]:
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="ecr", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def ecr(server: Server) -> Any:
    return server.client("ecr")


@pytest.fixture(scope="module")
def iam(server: Server) -> Any:
    return server.client("iam")


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("program")
    (root / "train.py").write_text("print('training')\n")
    (root / "lib").mkdir()
    (root / "lib" / "util.py").write_text("X = 1\n")
    return root


@pytest.fixture(scope="module")
def pushed(server: Server, ecr: Any, program: Path) -> dict[str, str]:
    """`execrole image push` of the program to repository "train" (local mode: the data
    directory's root key), and the digest a local build of the same content gives."""
    ecr.create_repository(repositoryName="train")
    result = execrole(server.env(), "image", "push", f"{HOST}/train:v1", "--dir", str(program),
                      "--entrypoint", "python train.py --epochs 2", "--data-dir",
                      str(server.data_dir), "--endpoint", server.url)
    assert result.returncode == 0, result.stderr
    with build_process_image(program, ["python", "train.py", "--epochs", "2"]) as image:
        expected = {"digest": image.digest, "manifest": image.manifest,
                    "layer": image.layer_digest, "config": image.config_digest,
                    "config_json": image.config.decode()}
    assert result.stdout.strip() == f"{HOST}/train:v1@{expected['digest']}"
    return expected


def test_create_describe_delete_repository(ecr: Any) -> None:
    """CreateRepository's result and defaults; DescribeRepositories by name, all, and in
    pages; DeleteRepository; their errors (API reference; recorded messages)."""
    repo = ecr.create_repository(repositoryName="team/featurizer", imageTagMutability="IMMUTABLE",
                                 tags=[{"Key": "team", "Value": "ml"}])["repository"]
    assert {k: v for k, v in repo.items() if k != "createdAt"} == {
        "repositoryArn": f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/team/featurizer",
        "registryId": ACCOUNT, "repositoryName": "team/featurizer",
        "repositoryUri": f"{HOST}/team/featurizer", "imageTagMutability": "IMMUTABLE",
        "imageScanningConfiguration": {"scanOnPush": False},
        "encryptionConfiguration": {"encryptionType": "AES256"}}
    assert abs(repo["createdAt"] - datetime.now(UTC)) < timedelta(minutes=1)
    assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [
        {"Key": "team", "Value": "ml"}]
    assert error_of(lambda: ecr.create_repository(repositoryName="team/featurizer")) == {
        "Code": "RepositoryAlreadyExistsException",
        "Message": "The repository with name 'team/featurizer' already exists in the registry "
                   f"with id '{ACCOUNT}'"}
    for name in ("paging-a", "paging-b"):
        ecr.create_repository(repositoryName=name)
    described = ecr.describe_repositories(repositoryNames=["team/featurizer"])["repositories"]
    assert described == [repo]
    first = ecr.describe_repositories(maxResults=1)
    assert len(first["repositories"]) == 1 and first["nextToken"]
    names = [r["repositoryName"] for page in ecr.get_paginator("describe_repositories")
             .paginate(PaginationConfig={"PageSize": 1}) for r in page["repositories"]]
    assert {"team/featurizer", "paging-a", "paging-b"} <= set(names)
    assert len(names) == len(set(names))
    missing = {"Code": "RepositoryNotFoundException",
               "Message": f"The repository with name 'nope' does not exist in the registry "
                          f"with id '{ACCOUNT}'"}
    assert error_of(lambda: ecr.describe_repositories(repositoryNames=["nope"])) == missing
    assert error_of(lambda: ecr.delete_repository(repositoryName="nope")) == missing
    deleted = ecr.delete_repository(repositoryName="paging-a")["repository"]
    assert deleted["repositoryName"] == "paging-a"
    assert error_of(lambda: ecr.describe_repositories(repositoryNames=["paging-a"]))["Code"] \
        == "RepositoryNotFoundException"
    ecr.untag_resource(resourceArn=repo["repositoryArn"], tagKeys=["team"])
    ecr.tag_resource(resourceArn=repo["repositoryArn"], tags=[{"Key": "stage", "Value": "dev"}])
    assert ecr.list_tags_for_resource(resourceArn=repo["repositoryArn"])["tags"] == [
        {"Key": "stage", "Value": "dev"}]


def test_repository_policy(ecr: Any) -> None:
    """Set/Get/DeleteRepositoryPolicy: a resource policy (Resource may be omitted), the
    recorded InvalidParameterException and RepositoryPolicyNotFoundException messages."""
    ecr.create_repository(repositoryName="policied")
    absent = {"Code": "RepositoryPolicyNotFoundException",
              "Message": "Repository policy does not exist for the repository with name "
                         f"'policied' in the registry with id '{ACCOUNT}'"}
    assert error_of(lambda: ecr.get_repository_policy(repositoryName="policied")) == absent
    assert error_of(lambda: ecr.set_repository_policy(
        repositoryName="policied", policyText='{"Statement": "nope"}')) == {
        "Code": "InvalidParameterException",
        "Message": "Invalid parameter at 'PolicyText' failed to satisfy constraint: "
                   "'Invalid repository policy provided'"}
    text = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "pull", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]}]})
    assert ecr.set_repository_policy(repositoryName="policied", policyText=text)[
        "policyText"] == text
    assert ecr.get_repository_policy(repositoryName="policied") | {"ResponseMetadata": {}} == {
        "registryId": ACCOUNT, "repositoryName": "policied", "policyText": text,
        "ResponseMetadata": {}}
    assert ecr.delete_repository_policy(repositoryName="policied")["policyText"] == text
    assert error_of(lambda: ecr.delete_repository_policy(repositoryName="policied")) == absent


def test_get_authorization_token(ecr: Any) -> None:
    """base64 of "AWS:<password>", valid for 12 hours, for the registry's proxy endpoint."""
    data = ecr.get_authorization_token()["authorizationData"]
    assert len(data) == 1
    user, _, password = base64.b64decode(data[0]["authorizationToken"]).decode().partition(":")
    assert user == "AWS" and len(password) > 32
    assert data[0]["proxyEndpoint"] == f"https://{HOST}"
    left = data[0]["expiresAt"] - datetime.now(UTC)
    assert timedelta(hours=11, minutes=59) < left <= timedelta(hours=12, seconds=1)


def test_pushed_process_image(server: Server, ecr: Any, pushed: dict[str, str]) -> None:
    """The CLI's push is ECR's: the image lists, describes and pulls with the digest of its
    manifest; its config holds the entrypoint; its blobs are available and downloadable."""
    assert ecr.list_images(repositoryName="train")["imageIds"] == [
        {"imageDigest": pushed["digest"], "imageTag": "v1"}]
    detail = ecr.describe_images(repositoryName="train")["imageDetails"][0]
    assert detail["imageDigest"] == pushed["digest"] and detail["imageTags"] == ["v1"]
    assert detail["imageManifestMediaType"] == MANIFEST_V2
    assert detail["artifactMediaType"] == "application/vnd.docker.container.image.v1+json"
    got = ecr.batch_get_image(repositoryName="train", imageIds=[{"imageTag": "v1"}])
    assert got["failures"] == []
    image = got["images"][0]
    assert image["imageId"] == {"imageDigest": pushed["digest"], "imageTag": "v1"}
    assert "sha256:" + hashlib.sha256(image["imageManifest"].encode()).hexdigest() == \
        pushed["digest"]
    manifest = json.loads(image["imageManifest"])
    assert manifest["config"]["digest"] == pushed["config"]
    assert [layer["digest"] for layer in manifest["layers"]] == [pushed["layer"]]
    assert detail["imageSizeInBytes"] == manifest["layers"][0]["size"]
    config = json.loads(pushed["config_json"])["config"]
    assert config["Entrypoint"] == ["python", "train.py", "--epochs", "2"]
    assert config["WorkingDir"] == "/" and config["Env"] == []
    by_digest = ecr.batch_get_image(repositoryName="train",
                                    imageIds=[{"imageDigest": pushed["digest"]}])
    assert by_digest["images"][0]["imageId"] == {"imageDigest": pushed["digest"]}
    layers = ecr.batch_check_layer_availability(
        repositoryName="train", layerDigests=[pushed["layer"], pushed["config"],
                                              "sha256:" + "0" * 64])
    assert [(x["layerDigest"], x["layerAvailability"]) for x in layers["layers"]] == [
        (pushed["layer"], "AVAILABLE"), (pushed["config"], "AVAILABLE")]
    assert layers["failures"] == [{"layerDigest": "sha256:" + "0" * 64,
                                   "failureCode": "MissingLayerDigest",
                                   "failureReason": "Could not find layer"}]
    url = ecr.get_download_url_for_layer(repositoryName="train", layerDigest=pushed["layer"])
    # A signed, expiring path on the endpoint (real ECR answers a pre-signed S3 URL); the
    # body is the layer, and a tampered signature is refused like a bad pre-signed URL.
    assert url["downloadUrl"].startswith("/_execrole/ecr/layers/"
                                         + pushed["layer"].split(":")[1] + "?X-Expires=")
    with urllib.request.urlopen(server.url + url["downloadUrl"], timeout=10) as r:
        assert "sha256:" + hashlib.sha256(r.read()).hexdigest() == pushed["layer"]
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(server.url + url["downloadUrl"][:-4] + "0000", timeout=10)
    assert denied.value.code == 403
    # The last pull is recorded.
    assert "lastRecordedPullTime" in ecr.describe_images(
        repositoryName="train")["imageDetails"][0]


def test_push_again_and_ls(server: Server, ecr: Any, program: Path,
                           pushed: dict[str, str]) -> None:
    """Pushing the same content under another tag uploads nothing new and gives the same
    digest; `execrole image ls` shows both tags."""
    result = execrole(server.env(), "image", "push", f"{HOST}/train:latest", "--dir",
                      str(program), "--entrypoint", "python train.py --epochs 2",
                      "--data-dir", str(server.data_dir), "--endpoint", server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{HOST}/train:latest@{pushed['digest']}"
    ids = ecr.list_images(repositoryName="train", filter={"tagStatus": "TAGGED"})["imageIds"]
    assert sorted(i["imageTag"] for i in ids) == ["latest", "v1"]
    assert {i["imageDigest"] for i in ids} == {pushed["digest"]}
    listed = execrole(server.env(), "image", "ls", "train", "--json", "--data-dir",
                      str(server.data_dir), "--endpoint", server.url)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["repositoryUri"], r["imageDigest"], sorted(r["imageTags"])) for r in rows] == [
        (f"{HOST}/train", pushed["digest"], ["latest", "v1"])]


def test_image_errors(ecr: Any, pushed: dict[str, str]) -> None:
    """PutImage, DescribeImages, BatchGetImage, GetDownloadUrlForLayer and DeleteRepository
    errors, with ECR's messages."""
    ecr.create_repository(repositoryName="fixed", imageTagMutability="IMMUTABLE")
    manifest = pushed["manifest"]
    # The layers must be in the repository: they were pushed to "train", not "fixed".
    err = error_of(lambda: ecr.put_image(repositoryName="fixed", imageManifest=manifest,
                                         imageTag="v1"))
    assert err["Code"] == "LayersNotFoundException"
    no_type = json.dumps({k: v for k, v in json.loads(manifest).items() if k != "mediaType"})
    assert error_of(lambda: ecr.put_image(repositoryName="train", imageManifest=no_type)) == {
        "Code": "InvalidParameterException",
        "Message": "image manifest mediatype not provided in manifest or parameter"}
    # The same image under the same tag already exists.
    err = error_of(lambda: ecr.put_image(repositoryName="train", imageManifest=manifest,
                                         imageTag="v1"))
    assert err == {"Code": "ImageAlreadyExistsException",
                   "Message": f"Image with digest '{pushed['digest']}' and tag 'v1' already "
                              f"exists in the repository with name 'train' in registry with id "
                              f"'{ACCOUNT}'"}
    assert error_of(lambda: ecr.describe_images(repositoryName="train",
                                                imageIds=[{"imageTag": "v9"}])) == {
        "Code": "ImageNotFoundException",
        "Message": "The image with imageId {imageDigest:'null', imageTag:'v9'} does not exist "
                   f"within the repository with name 'train' in the registry with id "
                   f"'{ACCOUNT}'"}
    got = ecr.batch_get_image(repositoryName="train", imageIds=[{"imageTag": "v9"}])
    assert got["images"] == [] and got["failures"] == [{
        "imageId": {"imageTag": "v9"}, "failureCode": "ImageNotFound",
        "failureReason": "Requested image not found"}]
    assert error_of(lambda: ecr.get_download_url_for_layer(
        repositoryName="train", layerDigest="sha256:" + "1" * 64))["Code"] == \
        "LayersNotFoundException"
    assert error_of(lambda: ecr.delete_repository(repositoryName="train")) == {
        "Code": "RepositoryNotEmptyException",
        "Message": f"The repository with name 'train' in registry with id '{ACCOUNT}' cannot "
                   "be deleted because it still contains images"}


def _push_blob(ecr: Any, repository: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    upload = ecr.initiate_layer_upload(repositoryName=repository)["uploadId"]
    half = len(data) // 2
    ecr.upload_layer_part(repositoryName=repository, uploadId=upload, partFirstByte=0,
                          partLastByte=half - 1, layerPartBlob=data[:half])
    out = ecr.upload_layer_part(repositoryName=repository, uploadId=upload,
                                partFirstByte=half, partLastByte=len(data) - 1,
                                layerPartBlob=data[half:])
    assert out["lastByteReceived"] == len(data) - 1
    done = ecr.complete_layer_upload(repositoryName=repository, uploadId=upload,
                                     layerDigests=[digest])
    assert done["layerDigest"] == digest
    return digest


def _manifest(config: str, layer: str, size: int) -> str:
    return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_V2,
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                  "size": 2, "digest": config},
                       "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff."
                                   "tar.gzip", "size": size, "digest": layer}]})


def test_layer_upload_put_image_and_delete(ecr: Any) -> None:
    """Layers uploaded in parts, PutImage with tags, tag immutability, and BatchDeleteImage
    (a tag goes; the last tag takes the image; a digest takes the image and its tags)."""
    ecr.create_repository(repositoryName="parts", imageTagMutability="IMMUTABLE")
    config = _push_blob(ecr, "parts", b"{}")
    layer_a = _push_blob(ecr, "parts", b"layer A contents" * 100)
    layer_b = _push_blob(ecr, "parts", b"layer B contents" * 100)
    upload = ecr.initiate_layer_upload(repositoryName="parts")["uploadId"]
    assert error_of(lambda: ecr.upload_layer_part(
        repositoryName="parts", uploadId=upload, partFirstByte=5, partLastByte=6,
        layerPartBlob=b"xx"))["Code"] == "InvalidLayerPartException"
    first = _manifest(config, layer_a, 1600)
    second = _manifest(config, layer_b, 1600)
    a = ecr.put_image(repositoryName="parts", imageManifest=first, imageTag="a")["image"]
    assert a["imageId"] == {"imageDigest": "sha256:" + hashlib.sha256(first.encode())
                            .hexdigest(), "imageTag": "a"}
    ecr.put_image(repositoryName="parts", imageManifest=first, imageTag="a2")
    assert error_of(lambda: ecr.put_image(repositoryName="parts", imageManifest=second,
                                          imageTag="a")) == {
        "Code": "ImageTagAlreadyExistsException",
        "Message": "The image tag 'a' already exists in the 'parts' repository and cannot be "
                   "overwritten because the repository is immutable."}
    b = ecr.put_image(repositoryName="parts", imageManifest=second)["image"]
    assert ecr.list_images(repositoryName="parts", filter={"tagStatus": "UNTAGGED"})[
        "imageIds"] == [{"imageDigest": b["imageId"]["imageDigest"]}]
    out = ecr.batch_delete_image(repositoryName="parts", imageIds=[{"imageTag": "a"}])
    assert out["imageIds"] == [{"imageDigest": a["imageId"]["imageDigest"], "imageTag": "a"}]
    assert len(ecr.describe_images(repositoryName="parts")["imageDetails"]) == 2
    out = ecr.batch_delete_image(repositoryName="parts", imageIds=[
        {"imageTag": "a2"}, {"imageDigest": b["imageId"]["imageDigest"]}, {"imageTag": "zz"}])
    assert out["imageIds"] == [
        {"imageDigest": a["imageId"]["imageDigest"], "imageTag": "a2"},
        {"imageDigest": b["imageId"]["imageDigest"]}]
    assert out["failures"] == [{"imageId": {"imageTag": "zz"}, "failureCode": "ImageNotFound",
                                "failureReason": "Requested image not found"}]
    assert ecr.describe_images(repositoryName="parts")["imageDetails"] == []
    ecr.put_image(repositoryName="parts", imageManifest=first, imageTag="again")
    deleted = ecr.delete_repository(repositoryName="parts", force=True)["repository"]
    assert deleted["repositoryName"] == "parts"


def test_permissions(server: Server, iam: Any, ecr: Any, pushed: dict[str, str],
                     program: Path) -> None:
    """A user without ECR permissions is denied with the engine's message, on the repository
    ARN (repository/* when DescribeRepositories names none); resource tags take part; a
    user allowed to push pushes with the CLI as itself, one who is not gets the error."""
    key, secret = new_user(server, iam, "no-ecr")
    nobody: Any = server.client("ecr", key, secret)
    err = error_of(nobody.describe_repositories)
    assert err == {"Code": "AccessDeniedException",
                   "Message": f"User: arn:aws:iam::{ACCOUNT}:user/no-ecr is not authorized to "
                              "perform: ecr:DescribeRepositories on resource: arn:aws:ecr:"
                              f"us-east-1:{ACCOUNT}:repository/* because no identity-based "
                              "policy allows the ecr:DescribeRepositories action"}
    err = error_of(lambda: nobody.batch_get_image(repositoryName="train",
                                                  imageIds=[{"imageTag": "v1"}]))
    assert err["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/no-ecr is not authorized to perform: "
        f"ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:{ACCOUNT}:repository/train "
        "because no identity-based policy allows the ecr:BatchGetImage action")
    assert error_of(nobody.get_authorization_token)["Code"] == "AccessDeniedException"
    env = server.env() | {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    denied = execrole(env, "image", "push", f"{HOST}/train:v2", "--dir", str(program),
                      "--entrypoint", "python train.py", "--aws")
    assert denied.returncode == 1
    assert "AccessDeniedException" in denied.stderr and "user/no-ecr" in denied.stderr
    # Tags on the repository are aws:ResourceTag keys.
    ecr.tag_resource(resourceArn=f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/train",
                     tags=[{"Key": "team", "Value": "ml"}])
    tagged = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "ecr:*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/team": "ml"}}}]}
    key, secret = new_user(server, iam, "ml-pusher", tagged)
    pusher: Any = server.client("ecr", key, secret)
    assert pusher.list_images(repositoryName="train")["imageIds"]
    assert error_of(lambda: pusher.list_images(repositoryName="policied"))["Code"] == \
        "AccessDeniedException"
    env = server.env() | {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    result = execrole(env, "image", "push", f"{HOST}/train:v2", "--dir", str(program),
                      "--entrypoint", "python train.py", "--aws")
    assert result.returncode == 0, result.stderr
    digest = result.stdout.strip().rpartition("@")[2]
    assert pusher.describe_images(repositoryName="train", imageIds=[{"imageTag": "v2"}])[
        "imageDetails"][0]["imageDigest"] == digest != pushed["digest"]


@pytest.fixture(scope="module")
def partner(server: Server) -> tuple[Any, Any]:
    """Account 444455556666's root IAM client and an ECR client of its user allowed to pull
    from any repository by its own identity policy."""
    created = execrole(server.env(), "account", "create", "--id", OTHER, "--data-dir",
                       str(server.data_dir))
    assert created.returncode == 0, created.stderr
    info = json.loads(created.stdout)
    other_iam: Any = server.client("iam", info["AccessKeyId"], info["SecretAccessKey"])
    key, secret = new_user(server, other_iam, "puller", allow(
        "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability",
        "ecr:GetAuthorizationToken"))
    return other_iam, server.client("ecr", key, secret)


def test_cross_account_pull(server: Server, ecr: Any, pushed: dict[str, str],
                            partner: tuple[Any, Any]) -> None:
    """A pull from another account needs the repository policy to allow that account and
    the puller's own identity policy to allow the pull (ECR user guide, repository policy
    examples; IAM policy evaluation across accounts)."""
    other_iam, puller = partner
    pull = {"registryId": ACCOUNT, "repositoryName": "train", "imageIds": [{"imageTag": "v1"}]}
    err = error_of(lambda: puller.batch_get_image(**pull))
    assert err == {"Code": "AccessDeniedException",
                   "Message": f"User: arn:aws:iam::{OTHER}:user/puller is not authorized to "
                              "perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:"
                              f"{ACCOUNT}:repository/train because no resource-based policy "
                              "allows the ecr:BatchGetImage action"}
    ecr.set_repository_policy(repositoryName="train", policyText=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "PartnerPull", "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
            "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                       "ecr:BatchCheckLayerAvailability"]}]}))
    got = puller.batch_get_image(**pull)
    assert got["images"][0]["imageId"]["imageDigest"] == pushed["digest"]
    assert got["images"][0]["registryId"] == ACCOUNT
    url = puller.get_download_url_for_layer(registryId=ACCOUNT, repositoryName="train",
                                            layerDigest=pushed["layer"])
    assert url["layerDigest"] == pushed["layer"]
    # Not allowed by the repository policy: DescribeImages.
    assert error_of(lambda: puller.describe_images(registryId=ACCOUNT,
                                                   repositoryName="train"))["Code"] == \
        "AccessDeniedException"
    # The other account's user without an identity policy: its own account does not allow.
    key, secret = new_user(server, other_iam, "outsider")
    outsider: Any = server.client("ecr", key, secret)
    err = error_of(lambda: outsider.batch_get_image(**pull))
    assert err["Message"].endswith("because no identity-based policy allows the "
                                   "ecr:BatchGetImage action")
    # Without the repository policy, denied again.
    ecr.delete_repository_policy(repositoryName="train")
    assert error_of(lambda: puller.batch_get_image(**pull))["Code"] == "AccessDeniedException"


def test_restart_keeps_repositories_and_images(server: Server, pushed: dict[str, str]) -> None:
    server.restart()
    ecr: Any = server.client("ecr")
    assert ecr.describe_repositories(repositoryNames=["train"])["repositories"][0][
        "repositoryUri"] == f"{HOST}/train"
    got = ecr.batch_get_image(repositoryName="train", imageIds=[{"imageTag": "v1"}])
    assert got["images"][0]["imageManifest"] == pushed["manifest"]
    layers = ecr.batch_check_layer_availability(repositoryName="train",
                                                layerDigests=[pushed["layer"]])["layers"]
    assert layers[0]["layerAvailability"] == "AVAILABLE"
    blob = server.data_dir / "ecr-layers" / "objects" / pushed["layer"][7:9] / \
        pushed["layer"][9:]
    assert blob.is_file()
    # The stored layer is the directory's tar.gz: it still has the program in it.
    with gzip.open(blob) as gz, tarfile.open(fileobj=gz) as tar:
        assert sorted(tar.getnames()) == ["lib", "lib/util.py", "train.py"]
