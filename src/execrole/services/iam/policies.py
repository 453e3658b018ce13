"""Managed policies (customer and AWS), their versions, inline policies, attachments and
permissions boundaries, for users, roles and groups alike.

Messages are IAM's (IAM API reference; access_policies_managed-versioning.md for the
five-version limit and the default version rules).
"""

from __future__ import annotations

import json
from typing import Any

from ...catalog import managed
from ...policy import PolicyType
from ..base import (
    Call,
    already_exists,
    delete_conflict,
    iso,
    limit_exceeded,
    new_id,
    no_such_entity,
    parse_iso,
    utc_now,
)
from .common import IAMBase, check_path, doc_out, paginate, public

POLICY_FIELDS = ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId",
                 "AttachmentCount", "PermissionsBoundaryUsageCount", "IsAttachable",
                 "Description", "CreateDate", "UpdateDate", "Tags")
MAX_VERSIONS = 5
MAX_ATTACHED = 10  # managed policies per user or role (reference_iam-quotas.md default)
# Operation name parts per entity kind: PutRolePolicy, ListAttachedUserPolicies, ...
KINDS = {"User": ("user", "UserName"), "Role": ("role", "RoleName"),
         "Group": ("group", "GroupName")}
# Inline policies, summed per entity (reference_iam-quotas.md, IAM and STS character limits).
INLINE_LIMITS = {"user": 2048, "role": 10240, "group": 5120}


class PolicyOperations(IAMBase):
    # --- customer managed policies -----------------------------------------------------

    def CreatePolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account, name = self.account(call), p["PolicyName"]
        if self.db.get_entity(account, "policy", name):
            raise already_exists(f"A policy called {name} already exists. Duplicate names are "
                                 "not allowed.")
        path = check_path(p.get("Path"))
        self.validate_document(p["PolicyDocument"], PolicyType.IDENTITY, managed_policy=True)
        now = iso(utc_now())
        policy = {"PolicyName": name, "PolicyId": new_id("policy"), "Path": path,
                  "Arn": self.arn(account, "policy", path, name), "DefaultVersionId": "v1",
                  "AttachmentCount": 0, "PermissionsBoundaryUsageCount": 0,
                  "IsAttachable": True, "Description": p.get("Description"),
                  "CreateDate": now, "UpdateDate": now, "Tags": list(p.get("Tags") or []),
                  "NextVersion": 2,
                  "Versions": [{"VersionId": "v1", "Document": p["PolicyDocument"],
                                "IsDefaultVersion": True, "CreateDate": now}]}
        self._put(account, "policy", policy)
        out = public(policy, POLICY_FIELDS)
        out.pop("Description", None)
        return {"Policy": out}

    def _policy_any(self, call: Call, arn: str) -> dict[str, Any]:
        """A customer policy record, or an AWS managed policy shaped like one."""
        if arn.startswith(managed.ARN_PREFIX):
            found = managed.lookup(arn)
            if found is None:
                raise no_such_entity(f"Policy {arn} was not found.")
            return {"PolicyName": found.name, "PolicyId": "ANPA" + found.name.upper()[:17],
                    "Arn": found.arn, "Path": found.path, "DefaultVersionId": found.version_id,
                    "AttachmentCount": self._attachment_count(call, found.arn),
                    "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
                    "CreateDate": found.update_date[:19] + "Z",
                    "UpdateDate": found.update_date[:19] + "Z",
                    "Versions": [{"VersionId": found.version_id, "IsDefaultVersion": True,
                                  "Document": json.dumps(found.document),
                                  "CreateDate": found.update_date[:19] + "Z"}]}
        record: dict[str, Any] = self._customer_policy(self.account(call), arn)
        return record

    def _attachment_count(self, call: Call, arn: str) -> int:
        account = self.account(call)
        return sum(arn in e.get("AttachedPolicies", [])
                   for kind in ("user", "role", "group")
                   for e in self.db.list_entities(account, kind))

    def GetPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return {"Policy": public(self._policy_any(call, p["PolicyArn"]), POLICY_FIELDS)}

    def ListPolicies(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        scope = p.get("Scope") or "All"
        prefix = p.get("PathPrefix") or "/"
        only_attached = bool(p.get("OnlyAttached"))
        account = self.account(call)
        items: list[dict[str, Any]] = []
        attached: set[str] = set()
        for kind in ("user", "role", "group"):
            for entity in self.db.list_entities(account, kind):
                attached.update(entity.get("AttachedPolicies", []))
        if scope in ("All", "Local"):
            items += [public(pol, (*POLICY_FIELDS[:-2], "CreateDate", "UpdateDate")) for pol in
                      self.db.list_entities(account, "policy")]
        if scope in ("All", "AWS"):
            for name in managed.names():
                found = managed.lookup(name)
                if found is None:
                    continue
                if only_attached and found.arn not in attached:
                    continue
                date = parse_iso(found.update_date[:19] + "Z")
                items.append({"PolicyName": name, "PolicyId": "ANPA" + name.upper()[:17],
                              "Arn": found.arn, "Path": found.path,
                              "DefaultVersionId": found.version_id,
                              "AttachmentCount": int(found.arn in attached),
                              "PermissionsBoundaryUsageCount": 0, "IsAttachable": True,
                              "CreateDate": date, "UpdateDate": date})
        items = [i for i in items if i["Path"].startswith(prefix)
                 and (not only_attached or i["Arn"] in attached)]
        for item in items:
            item.pop("Tags", None)
        return paginate(items, p, "Policies", lambda i: i["PolicyName"].lower() + i["Arn"])

    def DeletePolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        policy = self._customer_policy(account, p["PolicyArn"])
        if self._attachment_count(call, policy["Arn"]):
            raise delete_conflict("Cannot delete a policy attached to entities.")
        if len(policy["Versions"]) > 1:
            raise delete_conflict("This policy has more than one version. Before you delete a "
                                  "policy, you must delete the policy's versions. The default "
                                  "version is deleted with the policy.")
        self.db.delete_entity(account, "policy", policy["PolicyName"])
        return {}

    def CreatePolicyVersion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        policy = self._customer_policy(account, p["PolicyArn"])
        if len(policy["Versions"]) >= MAX_VERSIONS:
            raise limit_exceeded("A managed policy can have up to 5 versions. Before you "
                                 "create a new version, you must delete an existing version.")
        self.validate_document(p["PolicyDocument"], PolicyType.IDENTITY, managed_policy=True)
        version_id = f"v{policy['NextVersion']}"
        policy["NextVersion"] += 1
        now = iso(utc_now())
        make_default = bool(p.get("SetAsDefault"))
        if make_default:
            for v in policy["Versions"]:
                v["IsDefaultVersion"] = False
            policy["DefaultVersionId"] = version_id
        version = {"VersionId": version_id, "Document": p["PolicyDocument"],
                   "IsDefaultVersion": make_default, "CreateDate": now}
        policy["Versions"].append(version)
        policy["UpdateDate"] = now
        self._put(account, "policy", policy)
        return {"PolicyVersion": {"VersionId": version_id, "IsDefaultVersion": make_default,
                                  "CreateDate": parse_iso(now)}}

    def _version(self, policy: dict[str, Any], version_id: str) -> dict[str, Any]:
        for v in policy["Versions"]:
            if v["VersionId"] == version_id:
                found: dict[str, Any] = v
                return found
        raise no_such_entity(f"Policy {policy['Arn']} version {version_id} does not exist or "
                             "is not attachable.")

    def GetPolicyVersion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        policy = self._policy_any(call, p["PolicyArn"])
        v = self._version(policy, p["VersionId"])
        return {"PolicyVersion": {"Document": doc_out(v["Document"]),
                                  "VersionId": v["VersionId"],
                                  "IsDefaultVersion": v["IsDefaultVersion"],
                                  "CreateDate": parse_iso(v["CreateDate"])}}

    def ListPolicyVersions(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        policy = self._policy_any(call, p["PolicyArn"])
        versions = [{"VersionId": v["VersionId"], "IsDefaultVersion": v["IsDefaultVersion"],
                     "CreateDate": parse_iso(v["CreateDate"])} for v in policy["Versions"]]
        return paginate(versions[::-1], p, "Versions",
                        lambda v: f"{10**6 - int(v['VersionId'][1:]):07d}")

    def DeletePolicyVersion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        policy = self._customer_policy(account, p["PolicyArn"])
        v = self._version(policy, p["VersionId"])
        if v["IsDefaultVersion"]:
            raise delete_conflict("Cannot delete the default version of a policy.")
        policy["Versions"].remove(v)
        self._put(account, "policy", policy)
        return {}

    def SetDefaultPolicyVersion(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        policy = self._customer_policy(account, p["PolicyArn"])
        target = self._version(policy, p["VersionId"])
        for v in policy["Versions"]:
            v["IsDefaultVersion"] = v is target
        policy["DefaultVersionId"] = target["VersionId"]
        self._put(account, "policy", policy)
        return {}

    def ListEntitiesForPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        arn = p["PolicyArn"]
        self._policy_any(call, arn)
        account = self.account(call)
        out: dict[str, Any] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": []}
        for kind, key, name_field, id_field in (("group", "PolicyGroups", "GroupName", "GroupId"),
                                                ("user", "PolicyUsers", "UserName", "UserId"),
                                                ("role", "PolicyRoles", "RoleName", "RoleId")):
            for entity in self.db.list_entities(account, kind):
                if arn in entity.get("AttachedPolicies", []):
                    out[key].append({name_field: entity[name_field],
                                     id_field: entity[id_field]})
        out["IsTruncated"] = False
        return out

    # --- inline and attached policies, boundaries (users, roles, groups) ---------------

    def _inline_put(self, call: Call, kind: str, name: str, policy_name: str,
                    document: str) -> None:
        account = self.account(call)
        entity = self._get(account, kind, name)
        if kind == "role":
            self._modifiable_role(call, name)
        self.validate_document(document, PolicyType.IDENTITY, name=name)
        total = sum(_size(d) for n, d in entity["InlinePolicies"].items() if n != policy_name)
        limit = INLINE_LIMITS[kind]
        if total + _size(document) > limit:
            raise limit_exceeded(f"Maximum policy size of {limit} bytes exceeded for {kind} "
                                 f"{entity[KINDS[kind.capitalize()][1]]}")
        entity["InlinePolicies"][policy_name] = document
        self._put(account, kind, entity)

    def _inline_get(self, call: Call, kind: str, name: str, policy_name: str) -> dict[str, Any]:
        entity = self._get(self.account(call), kind, name)
        document = entity["InlinePolicies"].get(policy_name)
        if document is None:
            raise no_such_entity(f"The {kind} policy with name {policy_name} cannot be found.")
        name_field = KINDS[kind.capitalize()][1]
        return {name_field: entity[name_field], "PolicyName": policy_name,
                "PolicyDocument": doc_out(document)}

    def _inline_delete(self, call: Call, kind: str, name: str, policy_name: str) -> None:
        account = self.account(call)
        entity = self._get(account, kind, name)
        if policy_name not in entity["InlinePolicies"]:
            raise no_such_entity(f"The {kind} policy with name {policy_name} cannot be found.")
        del entity["InlinePolicies"][policy_name]
        self._put(account, kind, entity)

    def _inline_list(self, call: Call, kind: str, name: str, p: dict[str, Any]) -> dict[str, Any]:
        entity = self._get(self.account(call), kind, name)
        names = [{"n": n} for n in sorted(entity["InlinePolicies"])]
        page = paginate(names, p, "PolicyNames", lambda x: x["n"])
        page["PolicyNames"] = [x["n"] for x in page["PolicyNames"]]
        return page

    def _attach(self, call: Call, kind: str, name: str, arn: str) -> None:
        account = self.account(call)
        entity = self._get(account, kind, name)
        if kind == "role":
            self._modifiable_role(call, name)
        self.managed_document(account, arn)
        if arn not in entity["AttachedPolicies"]:
            if len(entity["AttachedPolicies"]) >= MAX_ATTACHED:
                raise limit_exceeded(f"Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED}"
                                     if kind == "role" else
                                     f"Cannot exceed quota for PoliciesPer"
                                     f"{kind.capitalize()}: {MAX_ATTACHED}")
            entity["AttachedPolicies"].append(arn)
        with self.db.transaction():
            self._put(account, kind, entity)
            self._count_attachment(account, arn, +1)

    def _detach(self, call: Call, kind: str, name: str, arn: str) -> None:
        account = self.account(call)
        entity = self._get(account, kind, name)
        if arn not in entity["AttachedPolicies"]:
            raise no_such_entity(f"Policy {arn} was not found.")
        entity["AttachedPolicies"].remove(arn)
        with self.db.transaction():
            self._put(account, kind, entity)
            self._count_attachment(account, arn, -1)

    def _count_attachment(self, account: str, arn: str, delta: int) -> None:
        name = arn.rsplit("/", 1)[-1]
        policy = self.db.get_entity(account, "policy", name)
        if policy is not None and policy["Arn"] == arn:
            policy["AttachmentCount"] = max(0, policy["AttachmentCount"] + delta)
            self._put(account, "policy", policy)

    def _attached_list(self, call: Call, kind: str, name: str,
                       p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        entity = self._get(account, kind, name)
        prefix = p.get("PathPrefix") or "/"
        items = []
        for arn in entity["AttachedPolicies"]:
            policy_name, _ = self.managed_document(account, arn)
            path = "/" + arn.split(":policy/", 1)[1].rpartition("/")[0]
            path = path if path.endswith("/") else path + "/"
            if path.startswith(prefix):
                items.append({"PolicyName": policy_name, "PolicyArn": arn})
        return paginate(items, p, "AttachedPolicies", lambda i: i["PolicyName"].lower())

    def _boundary_put(self, call: Call, kind: str, name: str, arn: str) -> None:
        account = self.account(call)
        entity = self._get(account, kind, name)
        if kind == "role":
            self._modifiable_role(call, name)
        self.managed_document(account, arn)
        entity["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy",
                                         "PermissionsBoundaryArn": arn}
        self._put(account, kind, entity)

    def _boundary_delete(self, call: Call, kind: str, name: str) -> None:
        account = self.account(call)
        entity = self._get(account, kind, name)
        if kind == "role":
            self._modifiable_role(call, name)
        entity["PermissionsBoundary"] = None
        self._put(account, kind, entity)


def _size(document: str) -> int:
    return len("".join(document.split()))


def _bind() -> None:
    """Put<Kind>Policy, Get..., Delete..., List<Kind>Policies, Attach<Kind>Policy, Detach...,
    ListAttached<Kind>Policies and Put/Delete<Kind>PermissionsBoundary for each kind: the
    same operation on a different entity, so generated from one table."""

    def make(kind: str, name_field: str) -> dict[str, Any]:
        def put(self: PolicyOperations, call: Call, p: dict[str, Any]) -> dict[str, Any]:
            self._inline_put(call, kind, p[name_field], p["PolicyName"], p["PolicyDocument"])
            return {}

        def get(self: PolicyOperations, call: Call, p: dict[str, Any]) -> dict[str, Any]:
            return self._inline_get(call, kind, p[name_field], p["PolicyName"])

        def delete(self: PolicyOperations, call: Call, p: dict[str, Any]) -> dict[str, Any]:
            self._inline_delete(call, kind, p[name_field], p["PolicyName"])
            return {}

        def list_(self: PolicyOperations, call: Call, p: dict[str, Any]) -> dict[str, Any]:
            return self._inline_list(call, kind, p[name_field], p)

        def attach(self: PolicyOperations, call: Call, p: dict[str, Any]) -> dict[str, Any]:
            self._attach(call, kind, p[name_field], p["PolicyArn"])
            return {}

        def detach(self: PolicyOperations, call: Call, p: dict[str, Any]) -> dict[str, Any]:
            self._detach(call, kind, p[name_field], p["PolicyArn"])
            return {}

        def attached(self: PolicyOperations, call: Call, p: dict[str, Any]) -> dict[str, Any]:
            return self._attached_list(call, kind, p[name_field], p)

        def boundary_put(self: PolicyOperations, call: Call,
                         p: dict[str, Any]) -> dict[str, Any]:
            self._boundary_put(call, kind, p[name_field], p["PermissionsBoundary"])
            return {}

        def boundary_delete(self: PolicyOperations, call: Call,
                            p: dict[str, Any]) -> dict[str, Any]:
            self._boundary_delete(call, kind, p[name_field])
            return {}

        return {"Put{}Policy": put, "Get{}Policy": get, "Delete{}Policy": delete,
                "List{}Policies": list_, "Attach{}Policy": attach, "Detach{}Policy": detach,
                "ListAttached{}Policies": attached,
                "Put{}PermissionsBoundary": boundary_put,
                "Delete{}PermissionsBoundary": boundary_delete}

    for title, (kind, name_field) in KINDS.items():
        for template, fn in make(kind, name_field).items():
            if kind == "group" and "PermissionsBoundary" in template:
                continue  # groups have no permissions boundary
            setattr(PolicyOperations, template.format(title), fn)


_bind()


__all__ = ["PolicyOperations"]
