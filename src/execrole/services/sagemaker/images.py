"""SageMaker images (bring your own image, for Studio): CreateImage, DescribeImage,
ListImages, UpdateImage, DeleteImage; CreateImageVersion, DescribeImageVersion,
ListImageVersions, DeleteImageVersion.

An image passes a role (`RoleArn`, at CreateImage and UpdateImage): the caller needs
iam:PassRole, and SageMaker must be able to assume the role with aws:SourceArn
`arn:aws:sagemaker:<region>:<account>:image-version`, the template
security-confused-deputy-prevention.md ("SageMaker Images") tells trust policies to name
(from the requirement catalog). SageMaker uses that role to read each version's base image
from ECR: a version is created as the image's role session pulling `BaseImage`, and a pull the
role may not make leaves the version `CREATE_FAILED` with the reason, as SageMaker reports a
version it could not create. Versions are numbered 1, 2, ... per image and never reuse a
number; `ClientToken` makes CreateImageVersion idempotent.

Images and versions are `CREATED` within the call (there is nothing to copy). Error texts
for missing or existing images and versions are execrole's (docs/fidelity.md).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..base import AWSError, Call
from .resources import Resources, described, in_use, not_found, pick, resource_arn
from .resources import validation as validation_error
from .service import Base
from .studio import trust_source

IMAGE = "image"
VERSION = "image-version"
IMAGE_SUMMARY = ("CreationTime", "Description", "DisplayName", "FailureReason", "ImageArn",
                 "ImageName", "ImageStatus", "LastModifiedTime")
VERSION_SUMMARY = ("CreationTime", "FailureReason", "ImageArn", "ImageVersionArn",
                   "ImageVersionStatus", "LastModifiedTime", "Version")
VERSION_FIELDS = ("BaseImage", "VendorGuidance", "JobType", "MLFramework", "ProgrammingLang",
                  "Processor", "Horovod", "ReleaseNotes")
# The List calls' SortBy / SortOrder values (upper case here) -> the store's.
SORT_BY = {"CREATION_TIME": "CreationTime", "LAST_MODIFIED_TIME": "LastModifiedTime",
           "IMAGE_NAME": "Name", "VERSION": "Version"}
SORT_ORDER = {"ASCENDING": "Ascending", "DESCENDING": "Descending"}
SORT_KEYS = {"LastModifiedTime": "LastModifiedTime", "Version": "Version"}


def image_missing(arn: str) -> AWSError:
    return not_found(f"Image {arn} does not exist.")


def version_missing(arn: str) -> AWSError:
    return not_found(f"Image version {arn} does not exist.")


def _list_query(p: Mapping[str, Any]) -> dict[str, Any]:
    """A List call's parameters in the store's terms (Name/CreationTime, Descending...)."""
    query = dict(p)
    if p.get("SortBy"):
        query["SortBy"] = SORT_BY.get(str(p["SortBy"]), "CreationTime")
    if p.get("SortOrder"):
        query["SortOrder"] = SORT_ORDER.get(str(p["SortOrder"]), "Descending")
    return query


class Images(Base):
    @property
    def images(self) -> Resources:
        return Resources(self.db, IMAGE)

    @property
    def image_versions(self) -> Resources:
        return Resources(self.db, VERSION)

    def _image(self, call: Call, name: str) -> dict[str, Any]:
        found = self.images.of(call, name)
        if found is None:
            raise image_missing(resource_arn(call, IMAGE, name))
        return found

    def _versions(self, call: Call, name: str) -> list[dict[str, Any]]:
        return [v for v in self.image_versions.all(call.caller.account, call.region)
                if v["_image"] == name.lower()]

    def _version(self, call: Call, name: str, p: Mapping[str, Any]) -> dict[str, Any]:
        """The version a request names by Version or Alias (the latest when neither)."""
        self._image(call, name)
        versions = self._versions(call, name)
        if p.get("Version") is not None:
            chosen = [v for v in versions if v["Version"] == p["Version"]]
            label = str(p["Version"])
        elif p.get("Alias"):
            chosen = [v for v in versions if p["Alias"] in (v.get("_aliases") or [])]
            label = str(p["Alias"])
        else:
            chosen = sorted(versions, key=lambda v: int(v["Version"]))[-1:]
            label = "latest"
        if not chosen:
            raise version_missing(resource_arn(call, VERSION, f"{name}/{label}"))
        return chosen[0]

    def _check_role(self, call: Call, api: str, p: Mapping[str, Any], arn: str) -> None:
        self.checks.run(call, api, p, trust_source(call, api, p, arn), [])

    # --- images ------------------------------------------------------------------------------

    def CreateImage(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ImageName"]
        arn = resource_arn(call, IMAGE, name)
        if self.images.of(call, name) is not None:
            raise in_use(f"Image {arn} already exists.")
        self._check_role(call, "CreateImage", p, arn)
        now = time.time()
        image = pick(p, ("ImageName", "RoleArn", "DisplayName", "Description"))
        image.update(ImageArn=arn, ImageStatus="CREATED", CreationTime=now,
                     LastModifiedTime=now, Tags=list(p.get("Tags") or []), _last_version=0)
        if not self.images.create(call, name, arn, image):
            raise in_use(f"Image {arn} already exists.")
        return {"ImageArn": arn}

    def DescribeImage(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return described(self._image(call, p["ImageName"]))

    def ListImages(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self.images.listing(call, _list_query(p), name_key="ImageName",
                                   list_key="Images", summary=lambda i: pick(i, IMAGE_SUMMARY),
                                   sort_keys=SORT_KEYS)

    def UpdateImage(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        image = self._image(call, p["ImageName"])
        if p.get("RoleArn"):
            self._check_role(call, "UpdateImage", p, image["ImageArn"])

        def change(doc: dict[str, Any]) -> None:
            for key in p.get("DeleteProperties") or []:
                doc.pop(key, None)
            doc.update(pick(p, ("RoleArn", "DisplayName", "Description")))
            doc["LastModifiedTime"] = time.time()

        self.images.update(image["ImageArn"], change)
        return {"ImageArn": image["ImageArn"]}

    def DeleteImage(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        image = self._image(call, p["ImageName"])
        # "Deletes a SageMaker AI image and all versions of the image." (API reference)
        for version in self._versions(call, image["ImageName"]):
            self.image_versions.delete(call, f"{image['ImageName']}/{version['Version']}")
        self.images.delete(call, image["ImageName"])
        return {}

    # --- versions ------------------------------------------------------------------------------

    def CreateImageVersion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ImageName"]
        image = self._image(call, name)
        for existing in self._versions(call, name):
            if existing.get("_client_token") == p["ClientToken"]:
                return {"ImageVersionArn": existing["ImageVersionArn"]}
        numbers: list[int] = []

        def bump(doc: dict[str, Any]) -> None:
            numbers.append(int(doc.get("_last_version") or 0) + 1)
            doc["_last_version"] = numbers[0]

        if self.images.update(image["ImageArn"], bump) is None:
            raise image_missing(image["ImageArn"])
        number = numbers[0]
        arn = resource_arn(call, VERSION, f"{name}/{number}")
        now = time.time()
        version = pick(p, VERSION_FIELDS)
        version.update(ImageArn=image["ImageArn"], ImageVersionArn=arn, Version=number,
                       CreationTime=now, LastModifiedTime=now, _image=name.lower(),
                       _client_token=p["ClientToken"], _aliases=list(p.get("Aliases") or []))
        failure = self._pull_failure(call, image, p["BaseImage"], arn)
        if failure is None:
            version.update(ImageVersionStatus="CREATED", ContainerImage=p["BaseImage"])
        else:
            version.update(ImageVersionStatus="CREATE_FAILED", FailureReason=failure)
        self.image_versions.create(call, f"{name}/{number}", arn, version)
        return {"ImageVersionArn": arn}

    def _pull_failure(self, call: Call, image: Mapping[str, Any], base_image: str,
                      version_arn: str) -> str | None:
        """Why SageMaker, as the image's role, could not read the base image (None: it
        could). Logged in the decision log under the version's ARN."""
        source = trust_source(call, "CreateImage", {"ImageName": image["ImageName"],
                                                    "RoleArn": image["RoleArn"]}, version_arn)
        try:
            role = self.checks.assume(call, image["RoleArn"], source)
            self.checks.pull(call, role, base_image, version_arn)
        except AWSError as e:
            return e.message
        return None

    def DescribeImageVersion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return described(self._version(call, p["ImageName"], p))

    def ListImageVersions(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ImageName"]
        self._image(call, name)
        query = {k: v for k, v in _list_query(p).items() if k != "ImageName"}
        return self.image_versions.listing(
            call, query, name_key="ImageVersionArn", list_key="ImageVersions",
            summary=lambda v: pick(v, VERSION_SUMMARY), sort_keys=SORT_KEYS,
            extra=lambda v: v["_image"] == name.lower())

    def DeleteImageVersion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ImageName"]
        if p.get("Version") is None and not p.get("Alias"):
            raise validation_error("Either Version or Alias must be specified.")
        version = self._version(call, name, p)
        self.image_versions.delete(call, f"{name}/{version['Version']}")
        return {}
