"""What a job moves, as its role session: S3 inputs down, S3 outputs up, the image pulled
from ECR, and the network interfaces of a VPC job. Each denial becomes the FailureReason
SageMaker reports (texts users have reported; docs/fidelity.md):

- `ClientError: Data download failed:ListObjectsV2 failed for s3://<bucket>/<prefix> (...)`
- `ClientError: Data download failed:Unable to download object s3://<bucket>/<key> (...)`
- `ClientError: Artifact upload failed:Unable to upload to s3://<bucket>/<key> (...)`
"""

from __future__ import annotations

import io
import json
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .cwlogs import LogStream
from .jobrun import JobContext, JobFailure, error_text

DOWNLOAD = "ClientError: Data download failed:"
UPLOAD = "ClientError: Artifact upload failed:"


def split_s3(uri: str) -> tuple[str, str]:
    rest = uri.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def _keys(ctx: JobContext, bucket: str, prefix: str, what: str) -> Iterator[str]:
    s3 = ctx.client("s3")
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield str(obj["Key"])
    except (ClientError, BotoCoreError) as e:
        raise JobFailure(f"{what}ListObjectsV2 failed for s3://{bucket}/{prefix} "
                         f"({error_text(e)})") from None


def download_object(ctx: JobContext, bucket: str, key: str, dest: Path,
                    what: str = DOWNLOAD) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        body = ctx.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
        with open(dest, "wb") as f:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                f.write(chunk)
    except (ClientError, BotoCoreError) as e:
        raise JobFailure(f"{what}Unable to download object s3://{bucket}/{key} "
                         f"({error_text(e)})") from None


def download(ctx: JobContext, source: dict[str, Any], dest: Path,
             what: str = DOWNLOAD) -> int:
    """One S3 data source (S3Prefix or ManifestFile) into `dest`; the number of objects.
    An S3Prefix's objects keep their path below the prefix's last '/' (how SageMaker lays
    out a channel)."""
    dest.mkdir(parents=True, exist_ok=True)
    bucket, prefix = split_s3(str(source["S3Uri"]))
    kind = source.get("S3DataType", "S3Prefix")
    if kind == "ManifestFile":
        return _download_manifest(ctx, bucket, prefix, dest, what)
    base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    count = 0
    for key in _keys(ctx, bucket, prefix, what):
        if key.endswith("/"):
            continue
        download_object(ctx, bucket, key, dest / key[len(base):], what)
        count += 1
    return count


def _download_manifest(ctx: JobContext, bucket: str, key: str, dest: Path, what: str) -> int:
    """A manifest: `[{"prefix": "s3://b/p/"}, "rel/key1", ...]` (CreateTrainingJob,
    S3DataSource.S3DataType = ManifestFile)."""
    try:
        body = ctx.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as e:
        raise JobFailure(f"{what}Unable to download object s3://{bucket}/{key} "
                         f"({error_text(e)})") from None
    try:
        entries = json.loads(body)
        mbucket, mprefix = split_s3(entries[0]["prefix"])
        relative = [str(e) for e in entries[1:]]
    except (ValueError, KeyError, IndexError, TypeError):
        raise JobFailure(f"ClientError: The manifest file s3://{bucket}/{key} is not a valid "
                         "manifest: a JSON array of {\"prefix\": ...} and relative keys."
                         ) from None
    for rel in relative:
        download_object(ctx, mbucket, mprefix + rel, dest / rel, what)
    return len(relative)


def upload_file(ctx: JobContext, path: Path, uri: str, kms_key: str | None,
                what: str = UPLOAD) -> None:
    bucket, key = split_s3(uri)
    extra: dict[str, Any] = {}
    if kms_key:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key}
    try:
        with open(path, "rb") as f:
            ctx.client("s3").put_object(Bucket=bucket, Key=key, Body=f, **extra)
    except (ClientError, BotoCoreError) as e:
        raise JobFailure(f"{what}Unable to upload to s3://{bucket}/{key} ({error_text(e)})"
                         ) from None


def upload_tree(ctx: JobContext, root: Path, uri: str, kms_key: str | None,
                what: str = UPLOAD) -> int:
    """Every file below `root` to `uri`/<relative path>; the number of files."""
    count = 0
    base = uri.rstrip("/")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        upload_file(ctx, path, f"{base}/{path.relative_to(root).as_posix()}", kms_key, what)
        count += 1
    return count


def pack(root: Path, target: Path) -> Path:
    """`root`'s content as a tar.gz (model.tar.gz, output.tar.gz)."""
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            tar.add(path, arcname=path.name)
    return target


# --- the image ---------------------------------------------------------------------------

def pull_image(ctx: JobContext, uri: str, dest: Path) -> dict[str, Any]:
    """Pull `uri` from ECR as the role (BatchGetImage, GetDownloadUrlForLayer, the layer
    bodies), unpack its layers into `dest`; the image config's "config" object."""
    from ..cli.image import parse_uri

    ref = parse_uri(uri)
    ecr = ctx.client("ecr")
    image_id = {"imageDigest": ref.digest} if ref.digest else {"imageTag": ref.tag or "latest"}
    denied = (f"ClientError: Unable to pull the image {uri} as the execution role "
              f"{ctx.spec['role_arn']}")
    try:
        got = ecr.batch_get_image(registryId=ref.registry, repositoryName=ref.repository,
                                  imageIds=[image_id])
        if not got.get("images"):
            raise JobFailure(f"ClientError: Requested image {uri} not found.")
        manifest = json.loads(got["images"][0]["imageManifest"])
        config = json.loads(_blob(ctx, ref, manifest["config"]["digest"]))
        for layer in manifest.get("layers", []):
            with tarfile.open(fileobj=io.BytesIO(_blob(ctx, ref, layer["digest"])),
                              mode="r:*") as tar:
                tar.extractall(dest, filter="data")
    except (ClientError, BotoCoreError) as e:
        raise JobFailure(f"{denied} ({error_text(e)})") from None
    return dict(config.get("config") or {})


def _blob(ctx: JobContext, ref: Any, digest: str) -> bytes:
    url = ctx.client("ecr").get_download_url_for_layer(
        registryId=ref.registry, repositoryName=ref.repository, layerDigest=digest
    )["downloadUrl"]
    if url.startswith("/"):
        url = ctx.spec["endpoint"].rstrip("/") + url
    with urllib.request.urlopen(url, timeout=60) as r:
        return bytes(r.read())


# --- the network ---------------------------------------------------------------------------

def create_interfaces(ctx: JobContext, vpc: dict[str, Any]) -> list[str]:
    """One ENI in the job's first subnet with its security groups, as SageMaker attaches to a
    VPC job's instance (train-vpc.md); deleted when the job ends."""
    ec2 = ctx.client("ec2")
    try:
        eni = ec2.create_network_interface(
            SubnetId=vpc["Subnets"][0], Groups=list(vpc.get("SecurityGroupIds") or []),
            Description=f"SageMaker {ctx.name}")["NetworkInterface"]["NetworkInterfaceId"]
    except (ClientError, BotoCoreError) as e:
        raise JobFailure(f"ClientError: Failed to create a network interface in subnet "
                         f"{vpc['Subnets'][0]} as the execution role ({error_text(e)})"
                         ) from None
    ctx.cleanups.append(lambda: ec2.delete_network_interface(NetworkInterfaceId=eni))
    return [eni]


# --- the volume key ------------------------------------------------------------------------

# What the instance's storage volume does with a customer key (EBS's grant operations).
VOLUME_GRANT_OPERATIONS = ["Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
                           "ReEncryptTo", "DescribeKey"]


def grant_volume_key(ctx: JobContext, key: str) -> None:
    """A grant on `ResourceConfig.VolumeKmsKeyId` for the job's volume, made as the role
    (the seed: the role needs kms:CreateGrant on it), retired by the role when the job ends
    (a grant's retiring principal may retire it without a policy allowing kms:RetireGrant)."""
    kms = ctx.client("kms")
    role = ctx.spec["role_arn"]
    try:
        grant = kms.create_grant(KeyId=key, GranteePrincipal=role, RetiringPrincipal=role,
                                 Operations=VOLUME_GRANT_OPERATIONS,
                                 Name=f"sagemaker-{ctx.name}"[:256])
    except (ClientError, BotoCoreError) as e:
        raise JobFailure(f"ClientError: Unable to use the KMS key {key} to encrypt the job's "
                         f"storage volume as the execution role ({error_text(e)})") from None
    ctx.cleanups.append(lambda: kms.retire_grant(KeyId=key, GrantId=grant["GrantId"]))


def start_instance(ctx: JobContext, stream: LogStream, vpc: dict[str, Any] | None,
                   volume_key: str | None) -> None:
    """What SageMaker does before it reads any data, in its order: the network interface of
    a VPC job, the grant on the volume key, the log stream."""
    if vpc:
        create_interfaces(ctx, vpc)
    if volume_key:
        grant_volume_key(ctx, volume_key)
    stream.open()
    ctx.cleanups.append(stream.close)
