"""SageMaker Studio domains and user profiles: CreateDomain, DescribeDomain, ListDomains,
UpdateDomain, DeleteDomain; CreateUserProfile, DescribeUserProfile, ListUserProfiles,
UpdateUserProfile, DeleteUserProfile.

Roles: a domain passes `DefaultUserSettings.ExecutionRole` (and
`DefaultSpaceSettings.ExecutionRole`); a user profile may pass its own
`UserSettings.ExecutionRole`, else its users work as the domain's default role (the SageMaker
Python SDK's get_execution_role reads the profile's role and falls back to the domain's; a
profile's description does not copy the domain's role in). Every role passed, at creation or
by an update, gets the synchronous checks (checks.py): iam:PassRole, then SageMaker assuming
it. For Studio, SageMaker assumes roles with aws:SourceArn
`arn:aws:sagemaker:<region>:<account>:*`, the template security-confused-deputy-prevention.md
("SageMaker Studio") tells trust policies to name; that value comes from the requirement
catalog.

There is no EFS and no IAM Identity Center here: a domain is InService at once, without a
HomeEfsFileSystemId; user profiles get HomeEfsFileSystemUid 200001, 200002, ... per domain.
Error texts for missing or busy domains and profiles are execrole's (docs/fidelity.md).
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Mapping
from typing import Any

from ...catalog import sagemaker as catalog
from ..base import AWSError, Call
from .resources import Resources, described, in_use, not_found, pick, resource_arn
from .service import Base

DOMAIN = "domain"
PROFILE = "user-profile"
_ID_ALPHABET = string.ascii_lowercase + string.digits
FIRST_UID = 200001  # Studio's first home-directory UID in a domain's EFS volume

DOMAIN_FIELDS = ("DomainName", "AuthMode", "DefaultUserSettings", "DomainSettings",
                 "SubnetIds", "VpcId", "AppNetworkAccessType", "HomeEfsFileSystemKmsKeyId",
                 "KmsKeyId", "AppSecurityGroupManagement", "TagPropagation",
                 "DefaultSpaceSettings")
DOMAIN_DEFAULTS: dict[str, Any] = {"AppNetworkAccessType": "PublicInternetOnly",
                                   "TagPropagation": "DISABLED"}
# UpdateDomain: members replaced as given; the settings structures merge member by member.
DOMAIN_UPDATES = ("SubnetIds", "AppNetworkAccessType", "AppSecurityGroupManagement",
                  "TagPropagation", "VpcId")
DOMAIN_SUMMARY = ("DomainArn", "DomainId", "DomainName", "Status", "CreationTime",
                  "LastModifiedTime", "Url")
PROFILE_FIELDS = ("DomainId", "UserProfileName", "SingleSignOnUserIdentifier",
                  "SingleSignOnUserValue", "UserSettings")
PROFILE_SUMMARY = ("DomainId", "UserProfileName", "Status", "CreationTime",
                   "LastModifiedTime")
# ListUserProfiles' SortBy values -> the stored key.
PROFILE_SORT = {"CreationTime": "CreationTime", "LastModifiedTime": "LastModifiedTime"}


def trust_source(call: Call, api: str, params: Mapping[str, Any], fallback: str) -> str:
    """The aws:SourceArn SageMaker assumes a role with for `api`, from the requirement
    catalog (Studio and Images use a documented template, not the resource's ARN)."""
    for req in catalog.requirements(api, dict(params), account=call.caller.account,
                                    region=call.region):
        if req.who == catalog.TRUST and isinstance(req.context.get("aws:SourceArn"), str):
            return str(req.context["aws:SourceArn"])
    return fallback


def domain_missing(arn: str) -> AWSError:
    return not_found(f"Domain {arn} does not exist.")


def profile_missing(arn: str) -> AWSError:
    return not_found(f"User profile {arn} does not exist.")


def _merge(current: Mapping[str, Any] | None, update: Mapping[str, Any]) -> dict[str, Any]:
    """A settings structure after an update: the members given replace the stored ones."""
    return {**(current or {}), **update}


class Studio(Base):
    @property
    def domains(self) -> Resources:
        return Resources(self.db, DOMAIN)

    @property
    def profiles(self) -> Resources:
        return Resources(self.db, PROFILE)

    def _domain(self, call: Call, domain_id: str) -> dict[str, Any]:
        found = self.domains.of(call, domain_id)
        if found is None:
            raise domain_missing(resource_arn(call, DOMAIN, domain_id))
        return found

    def _profile(self, call: Call, domain_id: str, name: str) -> dict[str, Any]:
        found = self.profiles.of(call, f"{domain_id}/{name}")
        if found is None:
            raise profile_missing(resource_arn(call, PROFILE, f"{domain_id}/{name}"))
        return found

    def _check_roles(self, call: Call, api: str, request: Mapping[str, Any],
                     arn: str) -> None:
        if catalog.role_arns_of(api, dict(request)):
            self.checks.run(call, api, request, trust_source(call, api, request, arn), [])

    # --- domains -----------------------------------------------------------------------------

    def CreateDomain(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        while True:
            domain_id = "d-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))
            if self.domains.of(call, domain_id) is None:
                break
        arn = resource_arn(call, DOMAIN, domain_id)
        self._check_roles(call, "CreateDomain", p, arn)
        url = f"https://{domain_id}.studio.{call.region}.sagemaker.aws"
        now = time.time()
        domain = {**DOMAIN_DEFAULTS, **pick(p, DOMAIN_FIELDS)}
        domain.update(DomainId=domain_id, DomainArn=arn, Status="InService", Url=url,
                      CreationTime=now, LastModifiedTime=now, Tags=list(p.get("Tags") or []),
                      _next_uid=FIRST_UID)
        self.domains.create(call, domain_id, arn, domain)
        return {"DomainArn": arn, "DomainId": domain_id, "Url": url}

    def DescribeDomain(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return described(self._domain(call, p["DomainId"]))

    def ListDomains(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return self.domains.listing(call, pick(p, ("NextToken", "MaxResults")),
                                    name_key="DomainName", list_key="Domains",
                                    summary=lambda d: pick(d, DOMAIN_SUMMARY))

    def UpdateDomain(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        domain = self._domain(call, p["DomainId"])
        roles = {key: {"ExecutionRole": p[key]["ExecutionRole"]}
                 for key in ("DefaultUserSettings", "DefaultSpaceSettings")
                 if (p.get(key) or {}).get("ExecutionRole")}
        if roles:
            # A role passed by an update is checked as CreateDomain checks it.
            self._check_roles(call, "CreateDomain", {
                "DomainName": domain["DomainName"], "AuthMode": domain["AuthMode"],
                "DefaultUserSettings": {}, **roles}, domain["DomainArn"])

        def change(doc: dict[str, Any]) -> None:
            doc.update(pick(p, DOMAIN_UPDATES))
            for key in ("DefaultUserSettings", "DefaultSpaceSettings"):
                if p.get(key):
                    doc[key] = _merge(doc.get(key), p[key])
            if p.get("DomainSettingsForUpdate"):
                doc["DomainSettings"] = _merge(doc.get("DomainSettings"),
                                               p["DomainSettingsForUpdate"])
            doc["LastModifiedTime"] = time.time()

        self.domains.update(domain["DomainArn"], change)
        return {"DomainArn": domain["DomainArn"]}

    def DeleteDomain(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        domain = self._domain(call, p["DomainId"])
        members = [u for u in self.profiles.all(call.caller.account, call.region)
                   if u["DomainId"] == domain["DomainId"]]
        if members:
            raise in_use(f"Domain {domain['DomainArn']} has {len(members)} user profile(s); "
                         "delete them before deleting the domain.")
        self.domains.delete(call, domain["DomainId"])
        return {}

    # --- user profiles -------------------------------------------------------------------------

    def CreateUserProfile(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        domain = self._domain(call, p["DomainId"])
        key = f"{domain['DomainId']}/{p['UserProfileName']}"
        arn = resource_arn(call, PROFILE, key)
        if self.profiles.of(call, key) is not None:
            raise in_use(f"User profile {arn} already exists.")
        # Only a role of the profile's own is passed; without one the domain's default
        # applies, which was checked when the domain got it.
        self._check_roles(call, "CreateUserProfile", p, arn)
        uid: list[int] = []

        def next_uid(doc: dict[str, Any]) -> None:
            uid.append(int(doc.get("_next_uid") or FIRST_UID))
            doc["_next_uid"] = uid[0] + 1

        self.domains.update(domain["DomainArn"], next_uid)
        now = time.time()
        profile = pick(p, PROFILE_FIELDS)
        profile.update(DomainId=domain["DomainId"], UserProfileArn=arn, Status="InService",
                       HomeEfsFileSystemUid=str(uid[0] if uid else FIRST_UID),
                       CreationTime=now, LastModifiedTime=now,
                       Tags=list(p.get("Tags") or []))
        if not self.profiles.create(call, key, arn, profile):
            raise in_use(f"User profile {arn} already exists.")
        return {"UserProfileArn": arn}

    def DescribeUserProfile(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return described(self._profile(call, p["DomainId"], p["UserProfileName"]))

    def ListUserProfiles(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        domain_id = p.get("DomainIdEquals")
        query = {**pick(p, ("NextToken", "MaxResults", "SortOrder", "SortBy")),
                 "NameContains": p.get("UserProfileNameContains")}
        return self.profiles.listing(
            call, query, name_key="UserProfileName", list_key="UserProfiles",
            summary=lambda u: pick(u, PROFILE_SUMMARY), sort_keys=PROFILE_SORT,
            extra=lambda u: not domain_id or u["DomainId"] == domain_id)

    def UpdateUserProfile(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        profile = self._profile(call, p["DomainId"], p["UserProfileName"])
        settings = p.get("UserSettings") or {}
        if settings.get("ExecutionRole"):
            self._check_roles(call, "CreateUserProfile", {
                "DomainId": profile["DomainId"], "UserProfileName": profile["UserProfileName"],
                "UserSettings": {"ExecutionRole": settings["ExecutionRole"]}},
                profile["UserProfileArn"])

        def change(doc: dict[str, Any]) -> None:
            if settings:
                doc["UserSettings"] = _merge(doc.get("UserSettings"), settings)
            doc["LastModifiedTime"] = time.time()

        self.profiles.update(profile["UserProfileArn"], change)
        return {"UserProfileArn": profile["UserProfileArn"]}

    def DeleteUserProfile(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        profile = self._profile(call, p["DomainId"], p["UserProfileName"])
        self.profiles.delete(call, f"{profile['DomainId']}/{profile['UserProfileName']}")
        return {}
