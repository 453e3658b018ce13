"""S3 through the endpoint with boto3 (managed transfers included) and the AWS CLI
(issue 5, the S3 part). Sources: the S3 API reference (botocore's s3 model) for operations
and errors; the seed ("AmazonSageMakerFullAccess ... buckets or objects with SageMaker ...
in the name", the s3:ExistingObjectTag/SageMaker path); reference_policies_evaluation-logic*
for bucket policies as resource policies, same- and cross-account."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from conftest import Server


def code_of(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def s3(server: Server) -> Any:
    client: Any = server.client("s3")
    client.create_bucket(Bucket="corp-datasets")
    return client


def test_put_get_head_range(s3: Any) -> None:
    s3.put_object(Bucket="corp-datasets", Key="train/a b+c.csv", Body=b"x,y\n1,2\n",
                  ContentType="text/csv", Metadata={"origin": "test"})
    got = s3.get_object(Bucket="corp-datasets", Key="train/a b+c.csv")
    assert got["Body"].read() == b"x,y\n1,2\n"
    assert got["ContentType"] == "text/csv" and got["Metadata"] == {"origin": "test"}
    assert got["ETag"] == '"' + __import__("hashlib").md5(b"x,y\n1,2\n").hexdigest() + '"'
    head = s3.head_object(Bucket="corp-datasets", Key="train/a b+c.csv")
    assert head["ContentLength"] == 8
    part = s3.get_object(Bucket="corp-datasets", Key="train/a b+c.csv", Range="bytes=2-4")
    assert part["Body"].read() == b"y\n1" and part["ContentRange"] == "bytes 2-4/8"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="corp-datasets", Key="missing")
    assert code_of(e) == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-x", Key="k")
    assert code_of(e) == "NoSuchBucket"


def test_list_objects_v2(s3: Any) -> None:
    for key in ("logs/2024/a", "logs/2024/b", "logs/2025/c", "top"):
        s3.put_object(Bucket="corp-datasets", Key=key, Body=b"1")
    out = s3.list_objects_v2(Bucket="corp-datasets", Prefix="logs/", Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["logs/2024/", "logs/2025/"]
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket="corp-datasets", Prefix="logs/", PaginationConfig={"PageSize": 2})
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert keys == ["logs/2024/a", "logs/2024/b", "logs/2025/c"]


def test_managed_transfer_multipart_round_trip(s3: Any, tmp_path: Path) -> None:
    """boto3's managed transfer switches to multipart above 8 MiB (TransferConfig)."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20 * 1024 * 1024 + 123))
    config = TransferConfig(multipart_threshold=8 * 1024 * 1024,
                            multipart_chunksize=8 * 1024 * 1024)
    s3.upload_file(str(src), "corp-datasets", "big/big.bin", Config=config)
    head = s3.head_object(Bucket="corp-datasets", Key="big/big.bin")
    assert head["ContentLength"] == src.stat().st_size
    assert head["ETag"].endswith('-3"')
    dst = tmp_path / "back.bin"
    s3.download_file("corp-datasets", "big/big.bin", str(dst), Config=config)
    assert dst.read_bytes() == src.read_bytes()


def test_copy_tagging_delete(s3: Any) -> None:
    s3.put_object(Bucket="corp-datasets", Key="src.txt", Body=b"hello", Tagging="SageMaker=true")
    s3.copy_object(Bucket="corp-datasets", Key="dst.txt",
                   CopySource={"Bucket": "corp-datasets", "Key": "src.txt"})
    assert s3.get_object(Bucket="corp-datasets", Key="dst.txt")["Body"].read() == b"hello"
    tags = s3.get_object_tagging(Bucket="corp-datasets", Key="src.txt")["TagSet"]
    assert tags == [{"Key": "SageMaker", "Value": "true"}]
    out = s3.delete_objects(Bucket="corp-datasets", Delete={"Objects": [
        {"Key": "dst.txt"}, {"Key": "never-was"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["dst.txt", "never-was"]


def _user(server: Server, name: str, statements: list[dict[str, Any]]) -> tuple[str, str]:
    iam: Any = server.client("iam")
    iam.create_user(UserName=name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_denied_with_the_engines_message(server: Server, s3: Any) -> None:
    key = _user(server, "s3-nobody", [])
    client: Any = server.client("s3", *key)
    with pytest.raises(ClientError) as e:
        client.get_object(Bucket="corp-datasets", Key="top")
    assert code_of(e) == "AccessDenied"
    assert e.value.response["Error"]["Message"].endswith(
        "because no identity-based policy allows the s3:GetObject action")


def test_sagemaker_object_tag_path(server: Server, s3: Any) -> None:
    """AmazonSageMakerFullAccess reads objects tagged SageMaker=true in any bucket (seed)."""
    iam: Any = server.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
        "AWS": f"arn:aws:iam::{_account(server)}:root"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="S3TagRole", AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName="S3TagRole",
                           PolicyArn="arn:aws:iam::aws:policy/AmazonSageMakerFullAccess")
    creds = server.client("sts").assume_role(  # type: ignore[attr-defined]
        RoleArn=f"arn:aws:iam::{_account(server)}:role/S3TagRole",
        RoleSessionName="SageMaker")["Credentials"]
    role_s3: Any = server.client("s3", creds["AccessKeyId"], creds["SecretAccessKey"],
                                 creds["SessionToken"])
    s3.put_object(Bucket="corp-datasets", Key="tagged.csv", Body=b"t", Tagging="SageMaker=true")
    s3.put_object(Bucket="corp-datasets", Key="untagged.csv", Body=b"u")
    assert role_s3.get_object(Bucket="corp-datasets", Key="tagged.csv")["Body"].read() == b"t"
    with pytest.raises(ClientError) as e:
        role_s3.get_object(Bucket="corp-datasets", Key="untagged.csv")
    assert code_of(e) == "AccessDenied"


def _account(server: Server) -> str:
    return str(server.client("sts").get_caller_identity()["Account"])  # type: ignore[attr-defined]


def test_bucket_policy_public_read_and_anonymous(server: Server, s3: Any) -> None:
    s3.create_bucket(Bucket="public-models")
    s3.put_object(Bucket="public-models", Key="model.tar.gz", Body=b"model")
    url = f"{server.url}/public-models/model.tar.gz"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url, timeout=10)
    assert e.value.code == 403
    s3.put_bucket_policy(Bucket="public-models", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                               "Action": "s3:GetObject",
                                               "Resource": "arn:aws:s3:::public-models/*"}]}))
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"model"


def test_cross_account_through_bucket_policy(server: Server, s3: Any) -> None:
    out = subprocess.run([sys.executable, "-m", "execrole", "account", "create", "--id",
                          "777788889999", "--data-dir", str(server.data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    other = json.loads(out.stdout)
    other_s3: Any = server.client("s3", other["AccessKeyId"], other["SecretAccessKey"])
    s3.create_bucket(Bucket="shared-data")
    s3.put_object(Bucket="shared-data", Key="k", Body=b"v")
    with pytest.raises(ClientError):
        other_s3.get_object(Bucket="shared-data", Key="k")
    s3.put_bucket_policy(Bucket="shared-data", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::777788889999:root"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared-data/*"}]}))
    assert other_s3.get_object(Bucket="shared-data", Key="k")["Body"].read() == b"v"


def test_aws_cli_cp_sync_ls(server: Server, s3: Any, tmp_path: Path) -> None:
    exe = shutil.which("aws", path=str(Path(sys.executable).parent))
    assert exe
    src = tmp_path / "dir"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}.txt").write_text(f"file {i}")
    env = server.env()
    sync = subprocess.run([exe, "s3", "sync", str(src), "s3://corp-datasets/synced/"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert sync.returncode == 0, sync.stderr
    ls = subprocess.run([exe, "s3", "ls", "s3://corp-datasets/synced/"], env=env,
                        capture_output=True, text=True, timeout=60)
    assert ls.returncode == 0 and "f2.txt" in ls.stdout
    dst = tmp_path / "f0.txt"
    cp = subprocess.run([exe, "s3", "cp", "s3://corp-datasets/synced/f0.txt", str(dst)],
                        env=env, capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert dst.read_text() == "file 0"


def test_restart_keeps_objects(server: Server, s3: Any) -> None:
    server.restart()
    client: Any = server.client("s3")
    assert client.get_object(Bucket="corp-datasets", Key="top")["Body"].read() == b"1"


def test_sse_kms_uses_the_callers_kms_permissions(server: Server, s3: Any) -> None:
    """SSE-KMS: writing needs kms:GenerateDataKey and reading kms:Decrypt on the key, as the
    caller, through S3 (S3 User Guide, "Using server-side encryption with AWS KMS keys")."""
    kms: Any = server.client("kms")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    s3_only = _user(server, "s3-writer", [{"Effect": "Allow", "Action": ["s3:PutObject",
                                                                         "s3:GetObject"],
                                           "Resource": "arn:aws:s3:::corp-datasets/*"}])
    client: Any = server.client("s3", *s3_only)
    with pytest.raises(ClientError) as e:
        client.put_object(Bucket="corp-datasets", Key="secret.csv", Body=b"s",
                          ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    assert code_of(e) == "AccessDenied"
    assert "kms:GenerateDataKey" in e.value.response["Error"]["Message"]
    both = _user(server, "kms-writer", [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": "arn:aws:s3:::corp-datasets/*"},
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
         "Resource": key_arn,
         "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}}])
    writer: Any = server.client("s3", *both)
    out = writer.put_object(Bucket="corp-datasets", Key="secret.csv", Body=b"s",
                            ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
    assert out["ServerSideEncryption"] == "aws:kms" and out["SSEKMSKeyId"] == key_arn
    assert writer.get_object(Bucket="corp-datasets", Key="secret.csv")["Body"].read() == b"s"
    with pytest.raises(ClientError) as e:
        client.get_object(Bucket="corp-datasets", Key="secret.csv")
    assert "kms:Decrypt" in e.value.response["Error"]["Message"]


def test_sse_kms_with_the_aws_managed_key(server: Server, s3: Any) -> None:
    """SSE-KMS without a key ID uses the account's AWS managed key aws/s3, whose key policy
    lets every principal of the account use it through S3: S3 permissions alone write and
    read the object (KMS developer guide, "AWS managed keys"; the SageMaker SDK uploads its
    source archives this way)."""
    key = _user(server, "s3-managed-key", [{"Effect": "Allow", "Action": ["s3:PutObject",
                                                                          "s3:GetObject"],
                                            "Resource": "arn:aws:s3:::corp-datasets/*"}])
    client: Any = server.client("s3", *key)
    out = client.put_object(Bucket="corp-datasets", Key="managed.csv", Body=b"m",
                            ServerSideEncryption="aws:kms")
    assert out["ServerSideEncryption"] == "aws:kms"
    assert out["SSEKMSKeyId"].startswith("arn:aws:kms:us-east-1:111122223333:key/")
    got = client.get_object(Bucket="corp-datasets", Key="managed.csv")
    assert got["Body"].read() == b"m" and got["SSEKMSKeyId"] == out["SSEKMSKeyId"]


def test_delete_objects_reports_denied_keys(server: Server, s3: Any) -> None:
    """DeleteObjects deletes what the caller may delete and lists the rest in Errors with
    AccessDenied (S3 API reference, DeleteObjects: Errors)."""
    s3.put_object(Bucket="corp-datasets", Key="scratch/a", Body=b"a")
    s3.put_object(Bucket="corp-datasets", Key="keep/b", Body=b"b")
    key = _user(server, "s3-cleaner", [{"Effect": "Allow", "Action": "s3:DeleteObject",
                                        "Resource": "arn:aws:s3:::corp-datasets/scratch/*"}])
    cleaner: Any = server.client("s3", *key)
    out = cleaner.delete_objects(Bucket="corp-datasets", Delete={"Objects": [
        {"Key": "scratch/a"}, {"Key": "keep/b"}]})
    assert [d["Key"] for d in out["Deleted"]] == ["scratch/a"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("keep/b", "AccessDenied")]
    assert s3.get_object(Bucket="corp-datasets", Key="keep/b")["Body"].read() == b"b"


def test_virtual_hosted_style(server: Server, s3: Any) -> None:
    """Virtual-hosted-style requests name the bucket in the Host header (S3 User Guide,
    "Virtual hosting of buckets"); signed by botocore for bucket.localhost and sent to the
    endpoint's address with that Host."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    s3.put_object(Bucket="corp-datasets", Key="vhost/key.txt", Body=b"virtual")
    host = f"corp-datasets.localhost:{server.port}"
    request = AWSRequest(method="GET", url=f"http://{host}/vhost/key.txt")
    request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    S3SigV4Auth(Credentials(server.key, server.secret), "s3", "us-east-1").add_auth(request)
    sent = urllib.request.Request(f"{server.url}/vhost/key.txt", method="GET",
                                  headers={**dict(request.headers.items()), "Host": host})
    with urllib.request.urlopen(sent, timeout=10) as r:
        assert r.read() == b"virtual"
