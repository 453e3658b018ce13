"""The ECR provider: repositories, repository policies, authorization tokens, and images that
are pushed and pulled through ECR's own API (layer uploads, PutImage, BatchGetImage,
GetDownloadUrlForLayer).

There is no Docker here: an image is whatever manifest the client pushes, and execrole's own
"process image" (`execrole image push`) is a Docker v2 manifest whose config holds the
entrypoint and whose one layer is a tar.gz of a directory. Image digests are the sha256 of the
manifest bytes as pushed; layer bodies live in a content-addressed blob store of their own
(S3's store reclaims blobs it does not know, so the two are kept apart).

Every operation on a repository is authorized with the repository policy as the resource-based
policy, on the repository's ARN in the registry's (owner's) account, so a `registryId` naming
another account is a cross-account request: both the repository policy and the caller's own
account must allow it. GetAuthorizationToken is authorized on "*".

Sources: the ECR API reference (botocore's ecr model: operations, members, defaults of
maxResults, enum values, "You can only get URLs for image layers that are referenced in an
image", BatchDeleteImage removing a tag or, by digest, the image with all its tags, 12-hour
authorization tokens); the ECR user guide (repository policies, tag immutability); ECR's
error messages as recorded in public reports and in moto's AWS-derived tests:
RepositoryNotFoundException, RepositoryAlreadyExistsException, RepositoryNotEmptyException,
RepositoryPolicyNotFoundException, ImageNotFoundException ("The image with imageId
{imageDigest:'null', imageTag:'x'} does not exist within ..."), ImageAlreadyExistsException,
ImageTagAlreadyExistsException ("... cannot be overwritten because the repository is
immutable."), "Invalid parameter at 'repositoryName' failed to satisfy constraint: ...",
"Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy
provided'", "image manifest mediatype not provided in manifest or parameter", and the batch
failure reasons ("Requested image not found", "Invalid request parameters: both tag and
digest cannot be null", "Could not find layer"). The messages of the layer-upload errors,
LayersNotFoundException, ReferencedImagesNotFoundException, ImageDigestDoesNotMatchException
and the tag errors are not recorded anywhere public: they are execrole's wording.

The SageMaker framework images (issue 5): a repository of an AWS framework registry
(`catalog.framework_images`: 763104351884's pytorch-training, 683313688378's
sagemaker-scikit-learn, ...) holds one built-in process image, answered for any tag, whose
entrypoint is execrole's script-mode runner. Its repository policy lets any principal pull
(`"Principal": "*"`), so a cross-account pull needs only the caller's own identity policy;
nothing else is allowed there (the caller does not own the registry), so writes are refused
with AccessDeniedException. Allowing DescribeRepositories/DescribeImages/ListImages to "*" as
well is execrole's assumption (AWS does not publish these repositories' policies).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import io
import json
import re
import secrets
import sqlite3
import tarfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..catalog.framework_images import framework_repository
from ..policy import Policy, PolicyError, PolicyType, parse_policy
from ..policy.parse import NO_SIZE_LIMIT
from ..store import Database
from ..store.blobs import BlobNotFoundError, BlobStore, release_unreferenced
from .authz import AccessControl
from .base import AWSError, Call

if TYPE_CHECKING:  # registry.py imports this module; ResourceSide is imported when used
    from pathlib import Path

    from .registry import ResourceSide

Row = sqlite3.Row

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = frozenset({MANIFEST_V2, OCI_MANIFEST})
INDEX_MANIFESTS = frozenset({MANIFEST_LIST, OCI_INDEX})
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

TOKEN_SECONDS = 12 * 3600  # GetAuthorizationToken: "valid for 12 hours"
PART_SIZE = 10_485_760  # what InitiateLayerUpload suggests; a part may hold up to 20 MiB
DEFAULT_PAGE = 100  # maxResults when absent (DescribeRepositories, ListImages, DescribeImages)
MAX_TAGS = 50
MUTABILITY = ("MUTABLE", "IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION", "MUTABLE_WITH_EXCLUSION")
LAYER_URL = "/_execrole/ecr/layers/"
LAYER_URL_SECONDS = 3600  # like the pre-signed S3 URL real ECR answers, it expires

# Repository names (API reference, CreateRepository repositoryName; the pattern ECR quotes).
NAME_PATTERN = "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
_NAME = re.compile(NAME_PATTERN)
_DIGEST = re.compile(r"[a-zA-Z0-9_+.-]+:[a-fA-F0-9]+")
_SHA256 = re.compile(r"sha256:([a-f0-9]{64})")
_ARN = re.compile(r"arn:aws:ecr:([a-z0-9-]+):(\d{12}):repository/(.+)")


# --- errors (codes and messages as ECR returns them) ---------------------------------------

def _error(code: str, message: str) -> AWSError:
    return AWSError(code, message, 400)


def invalid(message: str) -> AWSError:
    return _error("InvalidParameterException", message)


def invalid_at(member: str, constraint: str) -> AWSError:
    return invalid(f"Invalid parameter at '{member}' failed to satisfy constraint: "
                   f"'{constraint}'")


def repository_not_found(name: str, registry: str) -> AWSError:
    return _error("RepositoryNotFoundException", f"The repository with name '{name}' does not "
                  f"exist in the registry with id '{registry}'")


def policy_not_found(name: str, registry: str) -> AWSError:
    return _error("RepositoryPolicyNotFoundException", "Repository policy does not exist for "
                  f"the repository with name '{name}' in the registry with id '{registry}'")


def _image_id_text(image_id: Mapping[str, Any]) -> str:
    return (f"{{imageDigest:'{image_id.get('imageDigest') or 'null'}', "
            f"imageTag:'{image_id.get('imageTag') or 'null'}'}}")


def image_not_found(image_id: Mapping[str, Any], name: str, registry: str) -> AWSError:
    return _error("ImageNotFoundException", f"The image with imageId {_image_id_text(image_id)} "
                  f"does not exist within the repository with name '{name}' in the registry "
                  f"with id '{registry}'")


def layers_not_found(digests: Iterable[str], name: str, registry: str) -> AWSError:
    shown = ", ".join(digests)
    return _error("LayersNotFoundException", f"Layers with digests [{shown}] do not exist in "
                  f"the repository with name '{name}' in the registry with id '{registry}'")


def upload_not_found(upload_id: str, name: str, registry: str) -> AWSError:
    return _error("UploadNotFoundException", f"Upload with id '{upload_id}' does not exist in "
                  f"the repository with name '{name}' in the registry with id '{registry}'")


# --- small helpers ---------------------------------------------------------------------------

def repository_arn(region: str, registry: str, name: str) -> str:
    return f"arn:aws:ecr:{region}:{registry}:repository/{name}"


def registry_host(registry: str, region: str) -> str:
    return f"{registry}.dkr.ecr.{region}.amazonaws.com"


def _stamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@lru_cache(maxsize=1024)
def _stored_policy(text: str) -> Policy:
    """A repository policy ECR already accepted, parsed once per distinct text."""
    return parse_policy(text, PolicyType.RESOURCE, name="repository policy",
                        size_limit=NO_SIZE_LIMIT)


def _check_name(name: str) -> None:
    if len(name) < 2:
        raise invalid_at("repositoryName", "must have length greater than or equal to 2")
    if len(name) > 256:
        raise invalid_at("repositoryName", "must have length less than or equal to 256")
    if not _NAME.fullmatch(name):
        raise invalid_at("repositoryName", f"must satisfy regular expression '{NAME_PATTERN}'")


def _check_tags(tags: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for tag in tags:
        key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
        if not 1 <= len(key) <= 128 or len(value) > 256:
            raise _error("InvalidTagParameterException", "Tag keys have 1 to 128 characters "
                         "and tag values at most 256.")
        if key.lower().startswith("aws:"):
            raise _error("InvalidTagParameterException",
                         "Tag keys beginning with aws: are reserved for AWS use.")
        out.append({"Key": key, "Value": value})
    return out


def _merge_tags(current: list[dict[str, str]],
                given: list[dict[str, str]]) -> list[dict[str, str]]:
    merged = {t["Key"]: t["Value"] for t in current}
    for tag in given:
        merged[tag["Key"]] = tag["Value"]
    if len(merged) > MAX_TAGS:
        raise _error("TooManyTagsException",
                     f"A repository can have at most {MAX_TAGS} tags.")
    return [{"Key": k, "Value": v} for k, v in merged.items()]


def _wildcard(pattern: str, tag: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, tag) is not None


def _immutable(repo: Row, tag: str) -> bool:
    """Whether a tag of this repository may not move (ECR user guide, "Image tag
    mutability": exclusion filters flip the repository's setting for matching tags)."""
    mode = repo["tag_mutability"]
    excluded = any(_wildcard(str(f.get("filter", "")), tag)
                   for f in json.loads(repo["mutability_filters"]))
    if mode == "IMMUTABLE":
        return True
    if mode == "IMMUTABLE_WITH_EXCLUSION":
        return not excluded
    if mode == "MUTABLE_WITH_EXCLUSION":
        return excluded
    return False


def _page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def _page(items: list[Any], p: Mapping[str, Any]) -> tuple[list[Any], str | None]:
    limit = int(p.get("maxResults") or DEFAULT_PAGE)
    offset = 0
    token = p.get("nextToken")
    if token:
        try:
            offset = int(json.loads(base64.urlsafe_b64decode(str(token).encode()))["o"])
        except (ValueError, KeyError, TypeError):
            raise invalid_at("nextToken", "Invalid NextToken") from None
    page = items[offset:offset + limit]
    return page, (_page_token(offset + limit) if offset + limit < len(items) else None)


def _paged(name: str, entries: list[Any], token: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {name: entries}
    if token is not None:
        out["nextToken"] = token
    return out


def _tag_status(p: Mapping[str, Any]) -> str:
    return str((p.get("filter") or {}).get("tagStatus") or "ANY")


def _repository_out(repo: Row) -> dict[str, Any]:
    account, region, name = repo["account"], repo["region"], repo["name"]
    out: dict[str, Any] = {
        "repositoryArn": repository_arn(region, account, name), "registryId": account,
        "repositoryName": name, "repositoryUri": f"{registry_host(account, region)}/{name}",
        "createdAt": _stamp(repo["created"]), "imageTagMutability": repo["tag_mutability"],
        "imageScanningConfiguration": {"scanOnPush": bool(repo["scan_on_push"])},
        "encryptionConfiguration": json.loads(repo["encryption"])}
    filters = json.loads(repo["mutability_filters"])
    if filters:
        out["imageTagMutabilityExclusionFilters"] = filters
    return out


def _parse_manifest(text: str, media_type_param: str | None) -> tuple[dict[str, Any], str]:
    """The manifest as JSON and its media type (from the manifest, else the parameter)."""
    try:
        manifest = json.loads(text)
    except ValueError:
        raise invalid_at("ImageManifest", "Invalid JSON syntax") from None
    if not isinstance(manifest, dict):
        raise invalid_at("ImageManifest", "Invalid JSON syntax")
    media_type = manifest.get("mediaType") or media_type_param
    if not media_type:
        raise invalid("image manifest mediatype not provided in manifest or parameter")
    if media_type_param and manifest.get("mediaType") \
            and manifest["mediaType"] != media_type_param:
        raise invalid_at("imageManifestMediaType",
                         "must match the mediaType of the image manifest")
    if media_type not in IMAGE_MANIFESTS | INDEX_MANIFESTS:
        raise invalid_at("imageManifestMediaType", f"Unsupported media type '{media_type}'")
    if manifest.get("schemaVersion") != 2:
        raise invalid_at("ImageManifest", "schemaVersion must be 2")
    return manifest, str(media_type)


def _descriptors(manifest: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    found = manifest.get(key)
    if found is None:
        return []
    if not isinstance(found, list) or not all(isinstance(d, dict) and isinstance(
            d.get("digest"), str) for d in found):
        raise invalid_at("ImageManifest", f"Invalid {key}")
    return list(found)


# --- the SageMaker framework images ----------------------------------------------------------

FRAMEWORK_ENTRYPOINT = ("python", "-m", "execrole.runtime.script_mode")
FRAMEWORK_WORKDIR = "/opt/ml/code"
FRAMEWORK_PULLS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                   "ecr:BatchCheckLayerAvailability")
FRAMEWORK_READS = ("ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:ListImages")
FRAMEWORK_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Sid": "FrameworkPull", "Effect": "Allow", "Principal": "*",
     "Action": list(FRAMEWORK_PULLS)},
    {"Sid": "FrameworkDescribe", "Effect": "Allow", "Principal": "*",
     "Action": list(FRAMEWORK_READS)}]})
FRAMEWORK_CREATED = 1543622400.0  # 2018-12-01: a fixed creation time (execrole's)
PROCESS_LABEL = "dev.execrole.image"  # as `execrole image push` labels its images


@dataclass(frozen=True)
class BuiltinImage:
    """The built-in process image of one framework repository: config, one layer (a tar.gz
    of an empty directory) and the manifest, all deterministic."""

    config: bytes
    layer: bytes
    manifest: str

    @property
    def digest(self) -> str:
        return _sha256_digest(self.manifest.encode())

    @property
    def config_digest(self) -> str:
        return _sha256_digest(self.config)

    @property
    def layer_digest(self) -> str:
        return _sha256_digest(self.layer)

    def blobs(self) -> dict[str, bytes]:
        """The blobs a pull fetches, by digest."""
        return {self.config_digest: self.config, self.layer_digest: self.layer}


def _empty_layer() -> tuple[bytes, str]:
    """A tar.gz of an empty directory, reproducibly (gzip mtime 0): bytes and diff id."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.GNU_FORMAT):
        pass
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(plain.getvalue())
    return out.getvalue(), _sha256_digest(plain.getvalue())


@lru_cache(maxsize=64)
def framework_image(repository: str) -> BuiltinImage:
    """The built-in script-mode image served for every tag of a framework repository."""
    layer, diff_id = _empty_layer()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": list(FRAMEWORK_ENTRYPOINT),
                   "Env": [f"SAGEMAKER_FRAMEWORK={repository}"],
                   "WorkingDir": FRAMEWORK_WORKDIR, "Labels": {PROCESS_LABEL: "framework"}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}},
        sort_keys=True, separators=(",", ":")).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_V2,
        "config": {"mediaType": DOCKER_CONFIG, "size": len(config),
                   "digest": _sha256_digest(config)},
        "layers": [{"mediaType": DOCKER_LAYER, "size": len(layer),
                    "digest": _sha256_digest(layer)}]}, indent=3)
    return BuiltinImage(config, layer, manifest)


def _framework_repository_out(registry: str, region: str, name: str) -> dict[str, Any]:
    return {"repositoryArn": repository_arn(region, registry, name), "registryId": registry,
            "repositoryName": name, "repositoryUri": f"{registry_host(registry, region)}/{name}",
            "createdAt": _stamp(FRAMEWORK_CREATED), "imageTagMutability": "MUTABLE",
            "imageScanningConfiguration": {"scanOnPush": False},
            "encryptionConfiguration": {"encryptionType": "AES256"}}


def _check_image_id(image_id: Mapping[str, Any]) -> dict[str, Any] | None:
    """BatchGetImage's failure for an imageId that names nothing, else None."""
    shown = {k: v for k, v in image_id.items() if k in ("imageDigest", "imageTag")}
    if not image_id.get("imageDigest") and not image_id.get("imageTag"):
        return {"imageId": shown, "failureCode": "MissingDigestAndTag",
                "failureReason": "Invalid request parameters: both tag and digest cannot be "
                                 "null"}
    if image_id.get("imageDigest") and not _DIGEST.fullmatch(str(image_id["imageDigest"])):
        return {"imageId": shown, "failureCode": "InvalidImageDigest",
                "failureReason": "Invalid request parameters: image digest should satisfy "
                                 "the regex '[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+'"}
    return None


class ECRService:
    name = "ecr"

    def __init__(self, db: Database, blobs: BlobStore,
                 access: AccessControl | None = None) -> None:
        self.db = db
        self.blobs = blobs
        self.access = access
        self._url_key = secrets.token_bytes(32)  # signs layer URLs for this server's life

    def _layer_url(self, sha: str) -> str:
        expires = int(time.time()) + LAYER_URL_SECONDS
        signature = hmac.new(self._url_key, f"{sha}:{expires}".encode(),
                             hashlib.sha256).hexdigest()
        return f"{LAYER_URL}{sha}?X-Expires={expires}&X-Signature={signature}"

    def layer_download(self, path: str, query: Mapping[str, str]
                       ) -> tuple[int, list[tuple[str, str]], bytes]:
        """GET of a URL GetDownloadUrlForLayer gave: the layer's body while the signature
        holds (S3's AccessDenied text for a bad or expired one, as a pre-signed URL gets)."""
        sha = path[len(LAYER_URL):]
        try:
            expires = int(query.get("X-Expires", ""))
        except ValueError:
            expires = 0
        expected = hmac.new(self._url_key, f"{sha}:{expires}".encode(),
                            hashlib.sha256).hexdigest()
        if expires < time.time() or not hmac.compare_digest(
                expected, query.get("X-Signature", "")):
            return 403, [("Content-Type", "application/xml")], (
                b"<Error><Code>AccessDenied</Code><Message>Request has expired or the "
                b"signature does not match</Message></Error>")
        try:
            with self.blobs.open(sha) as f:
                body = f.read()
        except (BlobNotFoundError, ValueError):
            return 404, [("Content-Type", "application/xml")], (
                b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
                b"</Message></Error>")
        return 200, [("Content-Type", "application/octet-stream")], body

    # --- finding repositories ---------------------------------------------------------------

    @staticmethod
    def _registry(call: Call, p: Mapping[str, Any]) -> str:
        return str(p.get("registryId") or call.caller.account)

    def _repo_row(self, registry: str, region: str, name: str) -> Row | None:
        return self.db.one("SELECT * FROM ecr_repositories WHERE account=? AND region=? AND "
                           "name=?", (registry, region, name))

    def _repo(self, call: Call, p: Mapping[str, Any], name: str | None = None) -> Row:
        registry = self._registry(call, p)
        name = str(name if name is not None else p["repositoryName"])
        if framework_repository(registry, call.region, name):
            raise self._refused(call, registry, call.region, name)
        row = self._repo_row(registry, call.region, name)
        if row is None:
            raise repository_not_found(name, registry)
        return row

    @staticmethod
    def _key(repo: Row) -> tuple[str, str, str]:
        return repo["account"], repo["region"], repo["name"]

    def _arn_repo(self, call: Call, arn: Any) -> Row:
        """The repository a resourceArn names (TagResource, UntagResource,
        ListTagsForResource)."""
        m = _ARN.fullmatch(str(arn or ""))
        if not m:
            raise invalid_at("resourceArn", "Invalid ARN")
        region, registry, name = m.groups()
        if framework_repository(registry, region, name):
            raise self._refused(call, registry, region, name)
        row = self._repo_row(registry, region, name)
        if row is None:
            raise repository_not_found(name, registry)
        return row

    # --- framework repositories (AWS's registries) --------------------------------------------

    def _framework(self, call: Call, p: Mapping[str, Any]) -> tuple[str, str] | None:
        """(registry, repository) when the request names a framework repository."""
        registry = self._registry(call, p)
        name = str(p.get("repositoryName") or "")
        return (registry, name) if framework_repository(registry, call.region, name) else None

    @staticmethod
    def _refused(call: Call, registry: str, region: str, name: str) -> AWSError:
        """Anything but a pull or a read in a registry AWS owns (the endpoint's authorization
        already refuses these through the repository policy; this is the provider's own
        guard, for callers it does not authorize)."""
        return AWSError("AccessDeniedException", f"User: {call.caller.arn} is not authorized "
                        f"to perform this operation on resource: "
                        f"{repository_arn(region, registry, name)} because the registry "
                        f"{registry} is owned by AWS and its repository policy allows only "
                        "pulls", 403)

    @staticmethod
    def _framework_images(p: Mapping[str, Any], registry: str, name: str) -> dict[str, Any]:
        """BatchGetImage, answered by the built-in image for any tag."""
        image = framework_image(name)
        images: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for image_id in p["imageIds"]:
            failure = _check_image_id(image_id)
            if failure is None and image_id.get("imageDigest") not in (None, image.digest):
                failure = {"imageId": {k: v for k, v in image_id.items()
                                       if k in ("imageDigest", "imageTag")},
                           "failureCode": "ImageNotFound",
                           "failureReason": "Requested image not found"}
            if failure is not None:
                failures.append(failure)
                continue
            shown = {"imageDigest": image.digest}
            if image_id.get("imageTag"):
                shown["imageTag"] = str(image_id["imageTag"])
            images.append({"registryId": registry, "repositoryName": name, "imageId": shown,
                           "imageManifest": image.manifest,
                           "imageManifestMediaType": MANIFEST_V2})
        return {"images": images, "failures": failures}

    @staticmethod
    def _framework_detail(registry: str, name: str, tag: str | None) -> dict[str, Any]:
        image = framework_image(name)
        out: dict[str, Any] = {
            "registryId": registry, "repositoryName": name, "imageDigest": image.digest,
            "imageSizeInBytes": len(image.layer), "imagePushedAt": _stamp(FRAMEWORK_CREATED),
            "imageManifestMediaType": MANIFEST_V2, "artifactMediaType": DOCKER_CONFIG,
            "imageStatus": "ACTIVE"}
        if tag:
            out["imageTags"] = [tag]
        return out

    def _framework_describe(self, p: Mapping[str, Any], registry: str,
                            name: str) -> dict[str, Any]:
        image = framework_image(name)
        given = p.get("imageIds") or []
        if not given:
            return {"imageDetails": [self._framework_detail(registry, name, None)]}
        details: list[dict[str, Any]] = []
        for image_id in given:
            failure = _check_image_id(image_id)
            if failure is not None:
                raise invalid(failure["failureReason"])
            if image_id.get("imageDigest") not in (None, image.digest):
                raise image_not_found(image_id, name, registry)
            details.append(self._framework_detail(registry, name, image_id.get("imageTag")))
        return {"imageDetails": details}

    def _framework_blob(self, name: str, digest: str) -> str | None:
        """The blob store's address of a blob of the built-in image (stored on first use),
        or None when the image has no such blob."""
        data = framework_image(name).blobs().get(digest)
        if data is None:
            return None
        return self.blobs.put(data).sha256

    # --- authorization -----------------------------------------------------------------------

    def authorization(self, call: Call, operation: str, params: dict[str, Any], action: str,
                      resource: str) -> ResourceSide | None:
        """The repository policy, the registry (owner's) account, the repository's ARN in
        that account, and aws:ResourceTag / ecr:ResourceTag keys from its tags. None for
        GetAuthorizationToken (authorized on "*" by identity policies)."""
        from .registry import ResourceSide

        if operation == "GetAuthorizationToken":
            return None
        context: dict[str, Any] = {}
        if operation in ("TagResource", "UntagResource", "ListTagsForResource"):
            m = _ARN.fullmatch(str(params.get("resourceArn") or ""))
            if not m:
                raise invalid_at("resourceArn", "Invalid ARN")
            region, registry, name = m.groups()
            if operation == "UntagResource":
                context["aws:TagKeys"] = [str(k) for k in params.get("tagKeys") or []]
        else:
            region, registry = call.region, self._registry(call, params)
            if operation == "DescribeRepositories":
                names = params.get("repositoryNames") or []
                if not names:
                    return ResourceSide(account=registry,
                                        resource=repository_arn(region, registry, "*"))
                name = str(names[0])
            else:
                name = str(params.get("repositoryName") or "")
        return self._side(region, registry, name, context)

    def repository_exists(self, registry: str, region: str, name: str) -> bool:
        """For other providers (SageMaker's image check)."""
        return framework_repository(registry, region, name) or \
            self._repo_row(registry, region, name) is not None

    def _side(self, region: str, registry: str, name: str,
              context: dict[str, Any]) -> ResourceSide:
        from .registry import ResourceSide

        if framework_repository(registry, region, name):
            return ResourceSide(policy=_stored_policy(FRAMEWORK_POLICY), account=registry,
                                context=context, resource=repository_arn(region, registry, name))
        row = self._repo_row(registry, region, name)
        policy = None
        if row is not None:
            for tag in json.loads(row["tags"]):
                context[f"aws:ResourceTag/{tag['Key']}"] = tag["Value"]
                context[f"ecr:ResourceTag/{tag['Key']}"] = tag["Value"]
            if row["policy"]:
                try:
                    policy = _stored_policy(row["policy"])
                except PolicyError:
                    raise AWSError("ServerException", "The repository policy stored for "
                                   f"{name} cannot be read.", 500, sender=False) from None
        return ResourceSide(policy=policy, account=registry, context=context,
                            resource=repository_arn(region, registry, name))

    def _require(self, call: Call, action: str, registry: str, name: str) -> None:
        """An authorization the endpoint could not make itself (the second and later
        repositories of one DescribeRepositories)."""
        if self.access is None:
            return
        side = self._side(call.region, registry, name, {})
        self.access.require(call, action, side.resource or "*", side.context or {},
                            resource_policy=side.policy, resource_account=registry,
                            error_code="AccessDeniedException")

    # --- repositories -------------------------------------------------------------------------

    def CreateRepository(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        registry = self._registry(call, p)
        name = str(p["repositoryName"])
        _check_name(name)
        if framework_repository(registry, call.region, name):
            raise self._refused(call, registry, call.region, name)
        mutability = str(p.get("imageTagMutability") or "MUTABLE")
        if mutability not in MUTABILITY:
            raise invalid_at("imageTagMutability",
                             f"Member must satisfy enum value set: [{', '.join(MUTABILITY)}]")
        filters = list(p.get("imageTagMutabilityExclusionFilters") or [])
        if filters and not mutability.endswith("_WITH_EXCLUSION"):
            raise invalid("imageTagMutabilityExclusionFilters can only be used with "
                          "IMMUTABLE_WITH_EXCLUSION or MUTABLE_WITH_EXCLUSION.")
        if mutability.endswith("_WITH_EXCLUSION") and not filters:
            raise invalid(f"imageTagMutabilityExclusionFilters are required with "
                          f"{mutability}.")
        tags = _merge_tags([], _check_tags(p.get("tags") or []))
        encryption = dict(p.get("encryptionConfiguration") or {"encryptionType": "AES256"})
        if encryption.get("encryptionType") not in ("AES256", "KMS", "KMS_DSSE"):
            raise invalid_at("encryptionConfiguration.encryptionType",
                             "Member must satisfy enum value set: [AES256, KMS, KMS_DSSE]")
        if encryption["encryptionType"] == "AES256":
            if encryption.get("kmsKey"):
                raise invalid("kmsKey can only be specified with encryptionType KMS.")
        elif not encryption.get("kmsKey"):
            # The account's AWS managed key aws/ecr (an id derived from account and Region).
            key_id = uuid.uuid5(uuid.NAMESPACE_URL, f"execrole:aws/ecr:{registry}:{call.region}")
            encryption["kmsKey"] = f"arn:aws:kms:{call.region}:{registry}:key/{key_id}"
        scan = bool((p.get("imageScanningConfiguration") or {}).get("scanOnPush"))
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM ecr_repositories WHERE account=? AND region=? AND "
                            "name=?", (registry, call.region, name)).fetchone():
                raise _error("RepositoryAlreadyExistsException", f"The repository with name "
                             f"'{name}' already exists in the registry with id '{registry}'")
            conn.execute(
                "INSERT INTO ecr_repositories(account, region, name, created, tag_mutability, "
                "mutability_filters, scan_on_push, encryption, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (registry, call.region, name, round(time.time(), 3), mutability,
                 json.dumps(filters), int(scan), json.dumps(encryption), json.dumps(tags)))
        return {"repository": _repository_out(self._repo(call, p, name))}

    def DescribeRepositories(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        registry = self._registry(call, p)
        names = [str(n) for n in p.get("repositoryNames") or []]
        if names:
            if p.get("maxResults") is not None or p.get("nextToken"):
                raise invalid("maxResults and nextToken cannot be used with repositoryNames.")
            for name in dict.fromkeys(names[1:]):
                if name != names[0]:
                    self._require(call, "ecr:DescribeRepositories", registry, name)
            return {"repositories": [
                _framework_repository_out(registry, call.region, name)
                if framework_repository(registry, call.region, name)
                else _repository_out(self._repo(call, p, name))
                for name in dict.fromkeys(names)]}
        rows = self.db.query("SELECT * FROM ecr_repositories WHERE account=? AND region=? "
                             "ORDER BY name", (registry, call.region))
        page, token = _page(rows, p)
        return _paged("repositories", [_repository_out(r) for r in page], token)

    def DeleteRepository(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(call, p)
        key = self._key(repo)
        out = _repository_out(repo)
        dropped: list[tuple[str, float]] = []
        with self.db.transaction() as conn:
            images = conn.execute("SELECT COUNT(*) AS n FROM ecr_images WHERE account=? AND "
                                  "region=? AND repository=?", key).fetchone()["n"]
            if images and not p.get("force"):
                raise _error("RepositoryNotEmptyException", f"The repository with name "
                             f"'{key[2]}' in registry with id '{key[0]}' cannot be deleted "
                             "because it still contains images")
            for row in conn.execute("SELECT blob, created FROM ecr_layers WHERE account=? AND "
                                    "region=? AND repository=?", key):
                dropped.append((row["blob"], row["created"]))
            uploads = [r["upload_id"] for r in conn.execute(
                "SELECT upload_id FROM ecr_uploads WHERE account=? AND region=? AND "
                "repository=?", key)]
            for upload_id in uploads:
                for row in conn.execute("SELECT blob, stored FROM ecr_upload_parts WHERE "
                                        "upload_id=?", (upload_id,)):
                    dropped.append((row["blob"], row["stored"]))
                conn.execute("DELETE FROM ecr_upload_parts WHERE upload_id=?", (upload_id,))
            for table in ("ecr_image_tags", "ecr_image_layers", "ecr_images", "ecr_layers",
                          "ecr_uploads"):
                conn.execute(f"DELETE FROM {table} WHERE account=? AND region=? AND "
                             "repository=?", key)
            conn.execute("DELETE FROM ecr_repositories WHERE account=? AND region=? AND "
                         "name=?", key)
        self._release(dropped)
        return {"repository": out}

    # --- repository policies ------------------------------------------------------------------

    def SetRepositoryPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(call, p)
        text = str(p["policyText"])
        try:
            parse_policy(text, PolicyType.RESOURCE, name="repository policy",
                         size_limit=NO_SIZE_LIMIT)
        except PolicyError:
            raise invalid_at("PolicyText", "Invalid repository policy provided") from None
        self.db.execute("UPDATE ecr_repositories SET policy=? WHERE account=? AND region=? AND "
                        "name=?", (text, *self._key(repo)))
        return {"registryId": repo["account"], "repositoryName": repo["name"],
                "policyText": text}

    def GetRepositoryPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(call, p)
        if not repo["policy"]:
            raise policy_not_found(repo["name"], repo["account"])
        return {"registryId": repo["account"], "repositoryName": repo["name"],
                "policyText": repo["policy"]}

    def DeleteRepositoryPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(call, p)
        if not repo["policy"]:
            raise policy_not_found(repo["name"], repo["account"])
        self.db.execute("UPDATE ecr_repositories SET policy=NULL WHERE account=? AND region=? "
                        "AND name=?", self._key(repo))
        return {"registryId": repo["account"], "repositoryName": repo["name"],
                "policyText": repo["policy"]}

    # --- tags -----------------------------------------------------------------------------------

    def TagResource(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._arn_repo(call, p.get("resourceArn"))
        tags = _merge_tags(json.loads(repo["tags"]), _check_tags(p.get("tags") or []))
        self.db.execute("UPDATE ecr_repositories SET tags=? WHERE account=? AND region=? AND "
                        "name=?", (json.dumps(tags), *self._key(repo)))
        return {}

    def UntagResource(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._arn_repo(call, p.get("resourceArn"))
        drop = {str(k) for k in p.get("tagKeys") or []}
        tags = [t for t in json.loads(repo["tags"]) if t["Key"] not in drop]
        self.db.execute("UPDATE ecr_repositories SET tags=? WHERE account=? AND region=? AND "
                        "name=?", (json.dumps(tags), *self._key(repo)))
        return {}

    def ListTagsForResource(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._arn_repo(call, p.get("resourceArn"))
        return {"tags": json.loads(repo["tags"])}

    # --- authorization tokens -------------------------------------------------------------------

    def GetAuthorizationToken(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """One token per registry asked for (the caller's own by default): base64 of
        "AWS:<password>", valid for 12 hours, for `docker login` to the proxy endpoint. The
        password is recorded with the caller, so a registry front can act as that caller."""
        registries = [str(r) for r in p.get("registryIds") or []] or [call.caller.account]
        now = time.time()
        expires = now + TOKEN_SECONDS
        out: list[dict[str, Any]] = []
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ecr_tokens WHERE expires < ?", (now,))
            for registry in registries:
                password = secrets.token_urlsafe(96)
                conn.execute("INSERT INTO ecr_tokens(token, account, principal, access_key_id, "
                             "expires) VALUES (?, ?, ?, ?, ?)",
                             (password, call.caller.account, call.caller.arn,
                              call.caller.access_key_id, expires))
                out.append({
                    "authorizationToken": base64.b64encode(f"AWS:{password}".encode()).decode(),
                    "expiresAt": _stamp(round(expires)),
                    "proxyEndpoint": f"https://{registry_host(registry, call.region)}"})
        return {"authorizationData": out}

    # --- images: reading -------------------------------------------------------------------------

    def _images(self, repo: Row) -> list[Row]:
        return self.db.query("SELECT * FROM ecr_images WHERE account=? AND region=? AND "
                             "repository=? ORDER BY pushed, digest", self._key(repo))

    def _tags_by_digest(self, repo: Row) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in self.db.query("SELECT tag, digest FROM ecr_image_tags WHERE account=? AND "
                                 "region=? AND repository=? ORDER BY added, tag",
                                 self._key(repo)):
            out.setdefault(row["digest"], []).append(row["tag"])
        return out

    def _lookup(self, repo: Row, image_id: Mapping[str, Any]) -> tuple[Row | None,
                                                                        dict[str, Any] | None]:
        """The image an imageId names, or a failure in BatchGetImage's shape."""
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        shown = {k: v for k, v in image_id.items() if k in ("imageDigest", "imageTag")}
        failure = _check_image_id(image_id)
        if failure is not None:
            return None, failure
        key = self._key(repo)
        if tag:
            row = self.db.one("SELECT digest FROM ecr_image_tags WHERE account=? AND region=? "
                              "AND repository=? AND tag=?", (*key, tag))
            if row is None:
                return None, {"imageId": shown, "failureCode": "ImageNotFound",
                              "failureReason": "Requested image not found"}
            if digest and row["digest"] != digest:
                return None, {"imageId": shown, "failureCode": "ImageTagDoesNotMatchDigest",
                              "failureReason": "Invalid request parameters: given tag does "
                                               "not map to the given digest"}
            digest = row["digest"]
        image = self.db.one("SELECT * FROM ecr_images WHERE account=? AND region=? AND "
                            "repository=? AND digest=?", (*key, digest))
        if image is None:
            return None, {"imageId": shown, "failureCode": "ImageNotFound",
                          "failureReason": "Requested image not found"}
        return image, None

    def ListImages(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        if (fw := self._framework(call, p)) is not None:
            # The built-in image answers any tag; listed by its digest alone.
            listed = [] if _tag_status(p) == "TAGGED" else [
                {"imageDigest": framework_image(fw[1]).digest}]
            return {"imageIds": listed}
        repo = self._repo(call, p)
        status = _tag_status(p)
        tags = self._tags_by_digest(repo)
        ids: list[dict[str, str]] = []
        for image in self._images(repo):
            names = tags.get(image["digest"], [])
            if names and status in ("TAGGED", "ANY"):
                ids += [{"imageDigest": image["digest"], "imageTag": t} for t in names]
            elif not names and status in ("UNTAGGED", "ANY"):
                ids.append({"imageDigest": image["digest"]})
        page, token = _page(ids, p)
        return _paged("imageIds", page, token)

    def DescribeImages(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        if (fw := self._framework(call, p)) is not None:
            return self._framework_describe(p, *fw)
        repo = self._repo(call, p)
        tags = self._tags_by_digest(repo)
        given = p.get("imageIds") or []
        if given:
            if p.get("maxResults") is not None or p.get("nextToken"):
                raise invalid("maxResults and nextToken cannot be used with imageIds.")
            found: dict[str, Row] = {}
            for image_id in given:
                image, failure = self._lookup(repo, image_id)
                if image is None:
                    assert failure is not None
                    if failure["failureCode"] == "ImageNotFound":
                        raise image_not_found(image_id, repo["name"], repo["account"])
                    raise invalid(failure["failureReason"])
                found.setdefault(image["digest"], image)
            return {"imageDetails": [self._detail(repo, i, tags) for i in found.values()]}
        status = _tag_status(p)
        images = [i for i in self._images(repo)
                  if status == "ANY" or (status == "TAGGED") == bool(tags.get(i["digest"]))]
        page, token = _page(images, p)
        return _paged("imageDetails", [self._detail(repo, i, tags) for i in page], token)

    @staticmethod
    def _detail(repo: Row, image: Row, tags: Mapping[str, list[str]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "registryId": repo["account"], "repositoryName": repo["name"],
            "imageDigest": image["digest"], "imageSizeInBytes": image["size"],
            "imagePushedAt": _stamp(image["pushed"]),
            "imageManifestMediaType": image["media_type"], "imageStatus": "ACTIVE"}
        if tags.get(image["digest"]):
            out["imageTags"] = list(tags[image["digest"]])
        if image["artifact_media_type"]:
            out["artifactMediaType"] = image["artifact_media_type"]
        if image["last_pull"] is not None:
            out["lastRecordedPullTime"] = _stamp(image["last_pull"])
        return out

    def BatchGetImage(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        if (fw := self._framework(call, p)) is not None:
            return self._framework_images(p, *fw)
        repo = self._repo(call, p)
        images: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        pulled: set[str] = set()
        for image_id in p["imageIds"]:
            image, failure = self._lookup(repo, image_id)
            if image is None:
                assert failure is not None
                failures.append(failure)
                continue
            shown: dict[str, str] = {"imageDigest": image["digest"]}
            if image_id.get("imageTag"):
                shown["imageTag"] = str(image_id["imageTag"])
            images.append({"registryId": repo["account"], "repositoryName": repo["name"],
                           "imageId": shown, "imageManifest": image["manifest"],
                           "imageManifestMediaType": image["media_type"]})
            pulled.add(image["digest"])
        if pulled:
            with self.db.transaction() as conn:
                for digest in pulled:
                    conn.execute("UPDATE ecr_images SET last_pull=? WHERE account=? AND "
                                 "region=? AND repository=? AND digest=?",
                                 (round(time.time(), 3), *self._key(repo), digest))
        return {"images": images, "failures": failures}

    def BatchCheckLayerAvailability(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        fw = self._framework(call, p)
        repo = self._repo(call, p) if fw is None else None
        layers: list[dict[str, Any]] = []
        failures: list[dict[str, Any]] = []
        for digest in p["layerDigests"]:
            if not _DIGEST.fullmatch(str(digest)):
                failures.append({"layerDigest": digest, "failureCode": "InvalidLayerDigest",
                                 "failureReason": "Invalid layer digest"})
                continue
            if fw is not None:
                image = framework_image(fw[1])
                blob = image.blobs().get(str(digest))
                if blob is None:
                    failures.append({"layerDigest": digest, "failureCode":
                                     "MissingLayerDigest", "failureReason":
                                     "Could not find layer"})
                else:
                    layers.append({"layerDigest": digest, "layerAvailability": "AVAILABLE",
                                   "layerSize": len(blob), "mediaType":
                                   DOCKER_LAYER if digest == image.layer_digest
                                   else DOCKER_CONFIG})
                continue
            assert repo is not None
            row = self.db.one("SELECT * FROM ecr_layers WHERE account=? AND region=? AND "
                              "repository=? AND digest=?", (*self._key(repo), digest))
            if row is None:
                failures.append({"layerDigest": digest, "failureCode": "MissingLayerDigest",
                                 "failureReason": "Could not find layer"})
                continue
            layer: dict[str, Any] = {"layerDigest": digest, "layerAvailability": "AVAILABLE",
                                     "layerSize": row["size"]}
            if row["media_type"]:
                layer["mediaType"] = row["media_type"]
            layers.append(layer)
        return {"layers": layers, "failures": failures}

    def GetDownloadUrlForLayer(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """A path on the endpoint (real ECR answers a pre-signed S3 URL). Only layers that an
        image references have one (API reference, GetDownloadUrlForLayer)."""
        digest = str(p["layerDigest"])
        if (fw := self._framework(call, p)) is not None:
            sha = self._framework_blob(fw[1], digest)
            if sha is None:
                raise layers_not_found([digest], fw[1], fw[0])
            return {"downloadUrl": self._layer_url(sha), "layerDigest": digest}
        repo = self._repo(call, p)
        row = self._referenced_layer(repo, digest)
        if row is None:
            raise layers_not_found([digest], repo["name"], repo["account"])
        return {"downloadUrl": self._layer_url(row["blob"]), "layerDigest": digest}

    def _referenced_layer(self, repo: Row, digest: str) -> Row | None:
        key = self._key(repo)
        return self.db.one(
            "SELECT l.* FROM ecr_layers l WHERE l.account=? AND l.region=? AND l.repository=? "
            "AND l.digest=? AND EXISTS (SELECT 1 FROM ecr_image_layers r WHERE r.account=? "
            "AND r.region=? AND r.repository=? AND r.layer_digest=?)",
            (*key, digest, *key, digest))

    def layer_path(self, registry: str, region: str, repository: str, digest: str) -> Path:
        """Where the body of an image's layer is stored (for the runtime, which pulls
        images as the execution role: authorize GetDownloadUrlForLayer first)."""
        if framework_repository(registry, region, repository):
            sha = self._framework_blob(repository, digest)
            if sha is None:
                raise layers_not_found([digest], repository, registry)
            return self.blobs.path(sha)
        row = self.db.one("SELECT blob FROM ecr_layers WHERE account=? AND region=? AND "
                          "repository=? AND digest=?", (registry, region, repository, digest))
        if row is None:
            raise layers_not_found([digest], repository, registry)
        return self.blobs.path(row["blob"])

    # --- images: writing -------------------------------------------------------------------------

    def PutImage(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(call, p)
        key = self._key(repo)
        text = str(p["imageManifest"])
        manifest, media_type = _parse_manifest(text, p.get("imageManifestMediaType"))
        digest = _sha256_digest(text.encode())
        if p.get("imageDigest") and p["imageDigest"] != digest:
            raise _error("ImageDigestDoesNotMatchException", f"The image digest "
                         f"'{p['imageDigest']}' does not match the digest of the image "
                         f"manifest, '{digest}'")
        tag = p.get("imageTag")
        with self.db.transaction() as conn:
            blobs: list[tuple[str, str | None]] = []
            size = 0
            artifact: str | None = None
            if media_type in IMAGE_MANIFESTS:
                config = manifest.get("config")
                if not isinstance(config, dict) or not isinstance(config.get("digest"), str):
                    raise invalid_at("ImageManifest", "Invalid config")
                artifact = config.get("mediaType")
                blobs.append((config["digest"], artifact))
                layers = _descriptors(manifest, "layers")
                blobs += [(d["digest"], d.get("mediaType")) for d in layers]
                stored = {r["digest"]: r for r in conn.execute(
                    "SELECT digest, size FROM ecr_layers WHERE account=? AND region=? AND "
                    "repository=?", key)}
                missing = [d for d, _ in blobs if d not in stored]
                if missing:
                    raise _error("LayersNotFoundException", f"Layers with digests "
                                 f"[{', '.join(dict.fromkeys(missing))}] required for pushing "
                                 f"image into repository with name '{key[2]}' in the registry "
                                 f"with id '{key[0]}' do not exist")
                size = sum(stored[d["digest"]]["size"] for d in layers)
            else:
                refs = [d["digest"] for d in _descriptors(manifest, "manifests")]
                have = {r["digest"] for r in conn.execute(
                    "SELECT digest FROM ecr_images WHERE account=? AND region=? AND "
                    "repository=?", key)}
                absent = [d for d in refs if d not in have]
                if absent:
                    raise _error("ReferencedImagesNotFoundException", "Manifest references "
                                 f"images that do not exist in the repository: "
                                 f"[{', '.join(absent)}]")
            exists = conn.execute("SELECT 1 FROM ecr_images WHERE account=? AND region=? AND "
                                  "repository=? AND digest=?", (*key, digest)).fetchone()
            current = None
            if tag:
                current = conn.execute("SELECT digest FROM ecr_image_tags WHERE account=? AND "
                                       "region=? AND repository=? AND tag=?",
                                       (*key, tag)).fetchone()
            if exists and (not tag or (current is not None and current["digest"] == digest)):
                raise _error("ImageAlreadyExistsException", f"Image with digest '{digest}' "
                             f"and tag '{tag or 'null'}' already exists in the repository "
                             f"with name '{key[2]}' in registry with id '{key[0]}'")
            if tag and current is not None and _immutable(repo, str(tag)):
                raise _error("ImageTagAlreadyExistsException", f"The image tag '{tag}' "
                             f"already exists in the '{key[2]}' repository and cannot be "
                             "overwritten because the repository is immutable.")
            now = round(time.time(), 3)
            if not exists:
                conn.execute(
                    "INSERT INTO ecr_images(account, region, repository, digest, manifest, "
                    "media_type, artifact_media_type, size, pushed) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*key, digest, text, media_type, artifact, size, now))
                for blob_digest, blob_type in blobs:
                    conn.execute("INSERT OR IGNORE INTO ecr_image_layers(account, region, "
                                 "repository, image_digest, layer_digest) "
                                 "VALUES (?, ?, ?, ?, ?)", (*key, digest, blob_digest))
                    if blob_type:
                        conn.execute("UPDATE ecr_layers SET media_type=? WHERE account=? AND "
                                     "region=? AND repository=? AND digest=? AND "
                                     "media_type IS NULL", (blob_type, *key, blob_digest))
            if tag:
                conn.execute("INSERT OR REPLACE INTO ecr_image_tags(account, region, "
                             "repository, tag, digest, added) VALUES (?, ?, ?, ?, ?, ?)",
                             (*key, tag, digest, now))
                # An image the tag moved away from stays in the repository, untagged.
        image_id: dict[str, str] = {"imageDigest": digest}
        if tag:
            image_id["imageTag"] = str(tag)
        return {"image": {"registryId": key[0], "repositoryName": key[2], "imageId": image_id,
                          "imageManifest": text, "imageManifestMediaType": media_type}}

    def BatchDeleteImage(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """By tag: the tag goes, and the image with it when that was its last tag. By digest:
        the image and all its tags (API reference, BatchDeleteImage)."""
        repo = self._repo(call, p)
        key = self._key(repo)
        deleted: list[dict[str, str]] = []
        failures: list[dict[str, Any]] = []
        with self.db.transaction() as conn:
            for image_id in p["imageIds"]:
                image, failure = self._lookup(repo, image_id)
                if image is None:
                    assert failure is not None
                    failures.append(failure)
                    continue
                digest = image["digest"]
                tags = [r["tag"] for r in conn.execute(
                    "SELECT tag FROM ecr_image_tags WHERE account=? AND region=? AND "
                    "repository=? AND digest=? ORDER BY added, tag", (*key, digest))]
                if image_id.get("imageTag") and not image_id.get("imageDigest"):
                    tag = str(image_id["imageTag"])
                    conn.execute("DELETE FROM ecr_image_tags WHERE account=? AND region=? AND "
                                 "repository=? AND tag=?", (*key, tag))
                    deleted.append({"imageDigest": digest, "imageTag": tag})
                    if len(tags) > 1:
                        continue
                else:
                    deleted += ([{"imageDigest": digest, "imageTag": t} for t in tags]
                                or [{"imageDigest": digest}])
                for table in ("ecr_image_tags", "ecr_image_layers"):
                    column = "digest" if table == "ecr_image_tags" else "image_digest"
                    conn.execute(f"DELETE FROM {table} WHERE account=? AND region=? AND "
                                 f"repository=? AND {column}=?", (*key, digest))
                conn.execute("DELETE FROM ecr_images WHERE account=? AND region=? AND "
                             "repository=? AND digest=?", (*key, digest))
        return {"imageIds": deleted, "failures": failures}

    # --- layer uploads -------------------------------------------------------------------------

    def InitiateLayerUpload(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(call, p)
        upload_id = str(uuid.uuid4())
        self.db.execute("INSERT INTO ecr_uploads(upload_id, account, region, repository, "
                        "initiated) VALUES (?, ?, ?, ?, ?)",
                        (upload_id, *self._key(repo), round(time.time(), 3)))
        return {"uploadId": upload_id, "partSize": PART_SIZE}

    def _upload(self, repo: Row, upload_id: str) -> Row:
        row = self.db.one("SELECT * FROM ecr_uploads WHERE upload_id=? AND account=? AND "
                          "region=? AND repository=?", (upload_id, *self._key(repo)))
        if row is None:
            raise upload_not_found(upload_id, repo["name"], repo["account"])
        return row

    def UploadLayerPart(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        """Parts arrive in order: each starts at the next byte expected and its last byte
        matches its length."""
        repo = self._repo(call, p)
        upload = self._upload(repo, str(p["uploadId"]))
        data = bytes(p["layerPartBlob"])
        first, last = int(p["partFirstByte"]), int(p["partLastByte"])
        received = int(upload["received"])
        if first != received or last != first + len(data) - 1 or not data:
            raise _error("InvalidLayerPartException", f"The layer part from byte {first} to "
                         f"{last} ({len(data)} bytes) does not continue the upload "
                         f"'{upload['upload_id']}', which has received {received} bytes.")
        blob = self.blobs.put(data)
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO ecr_upload_parts(upload_id, first_byte, blob, size, "
                         "stored) VALUES (?, ?, ?, ?, ?)",
                         (upload["upload_id"], first, blob.sha256, blob.size, time.time()))
            conn.execute("UPDATE ecr_uploads SET received=? WHERE upload_id=?",
                         (last + 1, upload["upload_id"]))
        return {"registryId": repo["account"], "repositoryName": repo["name"],
                "uploadId": upload["upload_id"], "lastByteReceived": last}

    def CompleteLayerUpload(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        repo = self._repo(call, p)
        key = self._key(repo)
        upload = self._upload(repo, str(p["uploadId"]))
        upload_id = upload["upload_id"]
        parts = self.db.query("SELECT blob, stored FROM ecr_upload_parts WHERE upload_id=? "
                              "ORDER BY first_byte", (upload_id,))
        if not parts:
            raise _error("EmptyUploadException", f"The upload '{upload_id}' has no layer "
                         "parts.")
        digests = [str(d) for d in p["layerDigests"]]
        try:
            blob = self.blobs.concat([r["blob"] for r in parts])
        except BlobNotFoundError:
            raise AWSError("ServerException", f"A part of upload '{upload_id}' is missing "
                           "from the blob store.", 500, sender=False) from None
        digest = "sha256:" + blob.sha256
        if digests[0] != digest:
            self._release([(blob.sha256, time.time())])
            raise _error("InvalidLayerException", f"The layer digest '{digests[0]}' does not "
                         f"match the digest of the uploaded content, '{digest}'.")
        now = time.time()
        dropped = [(r["blob"], r["stored"]) for r in parts]
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM ecr_upload_parts WHERE upload_id=?", (upload_id,))
            conn.execute("DELETE FROM ecr_uploads WHERE upload_id=?", (upload_id,))
            exists = conn.execute("SELECT 1 FROM ecr_layers WHERE account=? AND region=? AND "
                                  "repository=? AND digest=?", (*key, digest)).fetchone()
            if not exists:
                conn.execute("INSERT INTO ecr_layers(account, region, repository, digest, "
                             "blob, size, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (*key, digest, blob.sha256, blob.size, now))
        self._release(dropped)
        if exists:
            raise _error("LayerAlreadyExistsException", f"The layer '{digest}' already exists "
                         f"in the repository with name '{key[2]}' in the registry with id "
                         f"'{key[0]}'")
        return {"registryId": key[0], "repositoryName": key[2], "uploadId": upload_id,
                "layerDigest": digest}

    # --- blob reclamation ------------------------------------------------------------------------

    def _release(self, dropped: Iterable[tuple[str, float]]) -> None:
        """Delete the layers that lost their last reference (store/blobs.py)."""
        release_unreferenced(self.blobs, self.db, dropped,
                             "SELECT 1 FROM ecr_layers WHERE blob=? UNION ALL "
                             "SELECT 1 FROM ecr_upload_parts WHERE blob=? LIMIT 1")

    def referenced_blobs(self) -> set[str]:
        rows = self.db.query("SELECT blob FROM ecr_layers UNION SELECT blob FROM "
                             "ecr_upload_parts")
        return {r["blob"] for r in rows}

    def collect_garbage(self, min_age_s: float = 3600.0) -> list[str]:
        """Remove blobs of this store nothing refers to (bodies of interrupted uploads)."""
        return self.blobs.gc(self.referenced_blobs(), min_age_s=min_age_s)
