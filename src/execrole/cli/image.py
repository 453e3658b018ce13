"""`execrole image push|ls`: process images in ECR, pushed and listed through the ECR API.

There is no Docker here, so an image is a *process image*: a directory's files as one tar.gz
layer and an image config holding the entrypoint, under a Docker v2 manifest. The layer is
built deterministically (sorted entries, zero times and owners), so the same directory and
entrypoint always give the same digest. Pushing is what a Docker client does against ECR's
API, as the caller: BatchCheckLayerAvailability, then InitiateLayerUpload / UploadLayerPart /
CompleteLayerUpload for each missing blob (the config and the layer), then PutImage with the
manifest and tag.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shlex
import stat
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .. import config
from ..clients import endpoint_client
from .common import connection_args

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MAX_PART = 20_971_520  # UploadLayerPart: a part holds at most 20 MiB
PROCESS_LABEL = "dev.execrole.image"

_URI = re.compile(r"(?P<registry>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
                  r"(?P<repository>[^:@]+)(?::(?P<tag>[^@/]+))?(?:@(?P<digest>.+))?")


@dataclass(frozen=True)
class ImageRef:
    registry: str
    region: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def host(self) -> str:
        return f"{self.registry}.dkr.ecr.{self.region}.amazonaws.com"


def parse_uri(uri: str) -> ImageRef:
    m = _URI.fullmatch(uri.strip())
    if not m:
        raise ValueError(f"not an ECR image URI: {uri!r} (expected "
                         "ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY[:TAG])")
    return ImageRef(m["registry"], m["region"], m["repository"], m["tag"], m["digest"])


# --- building a process image ----------------------------------------------------------------

class _Digesting(io.RawIOBase):
    """A write-only stream that hashes what passes through it on the way to `target`."""

    def __init__(self, target: IO[bytes] | io.BufferedIOBase) -> None:
        super().__init__()
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha256.update(view)
        self.target.write(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size


@dataclass(frozen=True)
class ProcessImage:
    """A built image: the layer (a tar.gz file), the config and the manifest."""

    layer_path: Path
    layer_digest: str
    layer_size: int
    diff_id: str  # sha256 of the uncompressed tar
    config: bytes
    manifest: str

    @property
    def config_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.config).hexdigest()

    @property
    def digest(self) -> str:
        """The image digest: sha256 of the manifest bytes (what ECR reports)."""
        return "sha256:" + hashlib.sha256(self.manifest.encode()).hexdigest()


def _entries(root: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(current)
        for name in dirs:
            yield base / name
        for name in sorted(files):
            yield base / name


def _tar_info(path: Path, root: Path) -> tarfile.TarInfo:
    st = path.lstat()
    info = tarfile.TarInfo(path.relative_to(root).as_posix())
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(path)
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    else:
        info.size = st.st_size
    return info


def _write_layer(root: Path, out: IO[bytes]) -> tuple[str, int, str]:
    """The directory as a reproducible tar.gz: (digest, size, diff id)."""
    compressed = _Digesting(out)
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, mtime=0) as gz:
        plain = _Digesting(gz)
        with tarfile.open(fileobj=plain, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for path in _entries(root):
                info = _tar_info(path, root)
                if info.isreg():
                    with path.open("rb") as f:
                        tar.addfile(info, f)
                elif info.isdir() or info.issym():
                    tar.addfile(info)
    return ("sha256:" + compressed.sha256.hexdigest(), compressed.size,
            "sha256:" + plain.sha256.hexdigest())


@contextmanager
def build_process_image(directory: Path, entrypoint: list[str], *, workdir: str = "/",
                        env: list[str] | None = None) -> Iterator[ProcessImage]:
    """Build the image in a temporary directory; the layer file lives while in the block."""
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory")
    if not entrypoint:
        raise ValueError("the entrypoint is empty")
    with tempfile.TemporaryDirectory(prefix="execrole-image-") as temp:
        layer_path = Path(temp) / "layer.tar.gz"
        with layer_path.open("wb") as f:
            digest, size, diff_id = _write_layer(directory, f)
        image_config = {
            "architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": entrypoint, "Env": list(env or []),
                       "WorkingDir": workdir, "Labels": {PROCESS_LABEL: "process"}},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]}}
        config_bytes = json.dumps(image_config, sort_keys=True, separators=(",", ":")).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST_V2,
            "config": {"mediaType": DOCKER_CONFIG, "size": len(config_bytes),
                       "digest": "sha256:" + hashlib.sha256(config_bytes).hexdigest()},
            "layers": [{"mediaType": DOCKER_LAYER, "size": size, "digest": digest}]},
            indent=3)
        yield ProcessImage(layer_path, digest, size, diff_id, config_bytes, manifest)


# --- talking to ECR ----------------------------------------------------------------------------

def ecr_client(region: str | None, endpoint: str | None, profile: str | None, use_aws: bool,
               data_dir: Path | None) -> Any:
    return endpoint_client("ecr", region=region, endpoint=endpoint, profile=profile,
                           use_aws=use_aws, data_dir=data_dir)


def _code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _upload_blob(client: Any, ref: ImageRef, digest: str, stream: IO[bytes]) -> None:
    from botocore.exceptions import ClientError

    where = {"registryId": ref.registry, "repositoryName": ref.repository}
    started = client.initiate_layer_upload(**where)
    upload_id = started["uploadId"]
    part = min(int(started.get("partSize") or MAX_PART), MAX_PART) or MAX_PART
    offset = 0
    while True:
        chunk = stream.read(part)
        if not chunk:
            break
        client.upload_layer_part(**where, uploadId=upload_id, partFirstByte=offset,
                                 partLastByte=offset + len(chunk) - 1, layerPartBlob=chunk)
        offset += len(chunk)
    try:
        client.complete_layer_upload(**where, uploadId=upload_id, layerDigests=[digest])
    except ClientError as e:
        if _code(e) != "LayerAlreadyExistsException":
            raise


def push_image(client: Any, ref: ImageRef, image: ProcessImage) -> str:
    """Push a built image as a Docker client does; return the image digest ECR reports."""
    from botocore.exceptions import ClientError

    where = {"registryId": ref.registry, "repositoryName": ref.repository}
    wanted = [image.config_digest, image.layer_digest]
    check = client.batch_check_layer_availability(**where, layerDigests=wanted)
    present = {layer["layerDigest"] for layer in check.get("layers", [])
               if layer.get("layerAvailability") == "AVAILABLE"}
    if image.config_digest not in present:
        _upload_blob(client, ref, image.config_digest, io.BytesIO(image.config))
    if image.layer_digest not in present:
        with image.layer_path.open("rb") as f:
            _upload_blob(client, ref, image.layer_digest, f)
    try:
        out = client.put_image(**where, imageManifest=image.manifest,
                               imageManifestMediaType=MANIFEST_V2,
                               imageTag=ref.tag or "latest")
    except ClientError as e:
        if _code(e) != "ImageAlreadyExistsException":  # the same image, already so tagged
            raise
        return image.digest
    return str(out["image"]["imageId"]["imageDigest"])


# --- the commands ------------------------------------------------------------------------------

def register(commands: Any) -> None:
    i = commands.add_parser(
        "image", help="push and list process images in ECR",
        description="Process images: a directory and an entrypoint stored in ECR as an "
        "image's layer and config, pushed and listed through the ECR API as the caller.")
    sub = i.add_subparsers(dest="image_command", metavar="SUBCOMMAND")
    p = sub.add_parser(
        "push", help="push a directory and an entrypoint as an image",
        description="Build a process image from DIR (one tar.gz layer) and the entrypoint "
        "(the image config), upload what the repository lacks, put the manifest with the tag "
        "(default latest) and print the image URI with its digest. The repository must "
        "exist (aws ecr create-repository).",
        epilog="example: execrole image push 111122223333.dkr.ecr.us-east-1.amazonaws.com/"
        "train:v1 --dir ./src --entrypoint \"python train.py\"")
    p.add_argument("uri", help="ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY[:TAG]")
    p.add_argument("--dir", required=True, type=Path, help="the files of the image")
    p.add_argument("--entrypoint", required=True,
                   help="the command the image runs, as a shell would split it")
    p.add_argument("--workdir", default="/", help="working directory in the image "
                   "(default /, where DIR's files are)")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="environment of the entrypoint (repeatable)")
    connection_args(p)
    p.set_defaults(handler=cmd_push)

    ls = sub.add_parser(
        "ls", help="list images", description="List the images of one repository, or of "
        "every repository of the registry.",
        epilog="example: execrole image ls train")
    ls.add_argument("repository", nargs="?",
                    help="repository name or URI (default: every repository)")
    ls.add_argument("--registry-id", help="the registry's account (default: the caller's)")
    ls.add_argument("--region", default=None, help="Region (default: the URI's, else "
                    f"{config.DEFAULT_REGION} or boto3's with --aws)")
    ls.add_argument("--json", action="store_true", help="one JSON object per image")
    connection_args(ls)
    ls.set_defaults(handler=cmd_ls)
    i.set_defaults(handler=lambda _args: (i.print_help(), 2)[1])


def _fail(error: Exception) -> int:
    response = getattr(error, "response", None)
    if response:
        err = response.get("Error", {})
        print(f"execrole: {err.get('Code')}: {err.get('Message')}", file=sys.stderr)
    else:
        print(f"execrole: {error}", file=sys.stderr)
    return 1


def cmd_push(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        ref = parse_uri(args.uri)
        if ref.digest:
            raise ValueError("push a tag, not a digest: the digest comes from the content")
        entrypoint = shlex.split(args.entrypoint)
        client = ecr_client(ref.region, args.endpoint, args.profile, args.aws, args.data_dir)
        with build_process_image(args.dir, entrypoint, workdir=args.workdir,
                                 env=args.env) as image:
            digest = push_image(client, ref, image)
    except (ValueError, RuntimeError, OSError, ClientError, BotoCoreError) as e:
        return _fail(e)
    print(f"{ref.host}/{ref.repository}:{ref.tag or 'latest'}@{digest}")
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    region, registry, name = args.region, args.registry_id, args.repository
    try:
        if name and ".dkr.ecr." in name:
            ref = parse_uri(name)
            region, registry, name = region or ref.region, registry or ref.registry, \
                ref.repository
        client = ecr_client(region, args.endpoint, args.profile, args.aws, args.data_dir)
        scope = {"registryId": registry} if registry else {}
        if name:
            repositories = client.describe_repositories(
                **scope, repositoryNames=[name])["repositories"]
        else:
            repositories = [r for page in client.get_paginator("describe_repositories")
                            .paginate(**scope) for r in page["repositories"]]
        rows: list[dict[str, Any]] = []
        for repo in repositories:
            for page in client.get_paginator("describe_images").paginate(
                    registryId=repo["registryId"], repositoryName=repo["repositoryName"]):
                for image in page["imageDetails"]:
                    rows.append({"repositoryUri": repo["repositoryUri"],
                                 "imageDigest": image["imageDigest"],
                                 "imageTags": image.get("imageTags", []),
                                 "imageSizeInBytes": image.get("imageSizeInBytes", 0),
                                 "imagePushedAt": image["imagePushedAt"].isoformat()})
    except (ValueError, RuntimeError, ClientError, BotoCoreError) as e:
        return _fail(e)
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    table = [("REPOSITORY", "TAG", "DIGEST", "SIZE", "PUSHED")]
    for row in rows:
        for tag in row["imageTags"] or ["<none>"]:
            table.append((row["repositoryUri"], tag, row["imageDigest"],
                          str(row["imageSizeInBytes"]), row["imagePushedAt"]))
    widths = [max(len(r[c]) for r in table) for c in range(4)]
    for r in table:
        print("  ".join(v.ljust(w) for v, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    return 0
