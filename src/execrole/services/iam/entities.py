"""IAM users, roles and groups: create, read, list, update, delete, tags, group membership.

Messages are IAM's (IAM API reference, Errors sections): NoSuchEntity "The role with name X
cannot be found.", EntityAlreadyExists "Role with name X already exists.", DeleteConflict
"Cannot delete entity, must ... first.", service-linked role protection.
"""

from __future__ import annotations

from typing import Any

from ...policy import PolicyType
from ..base import (
    AWSError,
    Call,
    already_exists,
    delete_conflict,
    iso,
    new_id,
    no_such_entity,
    parse_iso,
    utc_now,
)
from .common import IAMBase, check_path, doc_out, paginate, public

USER_FIELDS = ("Path", "UserName", "UserId", "Arn", "CreateDate", "PermissionsBoundary", "Tags")
ROLE_FIELDS = ("Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument",
               "Description", "MaxSessionDuration", "PermissionsBoundary", "Tags", "RoleLastUsed")
GROUP_FIELDS = ("Path", "GroupName", "GroupId", "Arn", "CreateDate")
# Roles under this path are service-linked: only the service may change or delete them.
SERVICE_LINKED_PATH = "/aws-service-role/"
MAX_TAGS = 50


def _tags(params: dict[str, Any]) -> list[dict[str, str]]:
    tags = list(params.get("Tags") or [])
    keys = [t["Key"] for t in tags]
    if len({k.lower() for k in keys}) != len(keys):
        raise AWSError("InvalidInput", "Duplicate tag keys found. Please note that Tag keys "
                       "are case insensitive.")
    if len(tags) > MAX_TAGS:
        raise AWSError("LimitExceeded", "The number of tags has reached the maximum limit.",
                       409)
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]


def _merge_tags(existing: list[dict[str, str]], new: list[dict[str, str]]) -> list[dict[str, str]]:
    by_key = {t["Key"].lower(): t for t in existing}
    for t in new:
        by_key[t["Key"].lower()] = t
    if len(by_key) > MAX_TAGS:
        raise AWSError("LimitExceeded", "The number of tags has reached the maximum limit.",
                       409)
    return list(by_key.values())


def _boundary(self: IAMBase, account: str, arn: str | None) -> dict[str, str] | None:
    if not arn:
        return None
    self.managed_document(account, arn)  # NoSuchEntity / InvalidInput for a bad ARN
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


class EntityOperations(IAMBase):
    # --- users ------------------------------------------------------------------------

    def CreateUser(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account, name = self.account(call), p["UserName"]
        if self.db.get_entity(account, "user", name):
            raise already_exists(f"User with name {name} already exists.")
        path = check_path(p.get("Path"))
        user = {"UserName": name, "UserId": new_id("user"), "Path": path,
                "Arn": self.arn(account, "user", path, name), "CreateDate": iso(utc_now()),
                "Tags": _tags(p), "InlinePolicies": {}, "AttachedPolicies": [], "Groups": [],
                "PermissionsBoundary": _boundary(self, account, p.get("PermissionsBoundary"))}
        self._put(account, "user", user)
        return {"User": public(user, USER_FIELDS)}

    def GetUser(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p.get("UserName") or call.caller.user_name
        if not name:
            if call.caller.is_root:
                # GetUser without a name, called by the root user, describes the account.
                return {"User": {"UserId": call.caller.account, "Arn": call.caller.arn,
                                 "Path": "/", "UserName": "", "CreateDate": utc_now()}}
            raise AWSError("ValidationError", "Must specify userName when calling with "
                           "non-User credentials")
        return {"User": public(self._get(self.account(call), "user", name), USER_FIELDS)}

    def ListUsers(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        prefix = p.get("PathPrefix") or "/"
        users = [public(u, USER_FIELDS[:5]) for u in
                 self.db.list_entities(self.account(call), "user")
                 if u["Path"].startswith(prefix)]
        return paginate(users, p, "Users", lambda u: u["UserName"].lower())

    def UpdateUser(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        user = self._get(account, "user", p["UserName"])
        if p.get("NewPath"):
            user["Path"] = check_path(p["NewPath"])
        new_name: str | None = p.get("NewUserName")
        renamed = new_name is not None and new_name.lower() != user["UserName"].lower()
        if renamed and new_name and self.db.get_entity(account, "user", new_name):
            raise already_exists(f"User with name {new_name} already exists.")
        with self.db.transaction() as conn:
            if new_name:
                old = user["UserName"]
                self.db.delete_entity(account, "user", old)
                user["UserName"] = new_name
                # Groups and access keys follow the user to its new name.
                for group_name in user["Groups"]:
                    group = self._get(account, "group", group_name)
                    group["Users"] = [new_name if u == old else u for u in group["Users"]]
                    self._put(account, "group", group)
                conn.execute("UPDATE access_keys SET user_name=? WHERE account=? AND "
                             "user_name=?", (new_name, account, old))
            user["Arn"] = self.arn(account, "user", user["Path"], user["UserName"])
            self._put(account, "user", user)
        return {}

    def DeleteUser(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        user = self._get(account, "user", p["UserName"])
        if user["InlinePolicies"]:
            raise delete_conflict("Cannot delete entity, must delete policies first.")
        if user["AttachedPolicies"]:
            raise delete_conflict("Cannot delete entity, must detach all policies first.")
        if user["Groups"]:
            raise delete_conflict("Cannot delete entity, must remove users from group first.")
        if self.db.query("SELECT 1 FROM access_keys WHERE account=? AND user_name=?",
                         (account, user["UserName"])):
            raise delete_conflict("Cannot delete entity, must delete access keys first.")
        self.db.delete_entity(account, "user", user["UserName"])
        return {}

    # --- roles ------------------------------------------------------------------------

    def CreateRole(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account, name = self.account(call), p["RoleName"]
        if self.db.get_entity(account, "role", name):
            raise already_exists(f"Role with name {name} already exists.")
        path = check_path(p.get("Path"))
        self.validate_document(p["AssumeRolePolicyDocument"], PolicyType.TRUST)
        max_session = p.get("MaxSessionDuration") or 3600
        _check_max_session(max_session)
        role = {"RoleName": name, "RoleId": new_id("role"), "Path": path,
                "Arn": self.arn(account, "role", path, name), "CreateDate": iso(utc_now()),
                "AssumeRolePolicyDocument": p["AssumeRolePolicyDocument"],
                "Description": p.get("Description"), "MaxSessionDuration": max_session,
                "Tags": _tags(p), "InlinePolicies": {}, "AttachedPolicies": [],
                "PermissionsBoundary": _boundary(self, account, p.get("PermissionsBoundary")),
                "RoleLastUsed": {}}
        self._put(account, "role", role)
        return {"Role": self._role_out(role, with_last_used=False)}

    def _role_out(self, role: dict[str, Any], *, with_last_used: bool = True) -> dict[str, Any]:
        out = public(role, ROLE_FIELDS)
        out["AssumeRolePolicyDocument"] = doc_out(role["AssumeRolePolicyDocument"])
        if with_last_used:
            last = role.get("RoleLastUsed") or {}
            out["RoleLastUsed"] = ({"LastUsedDate": parse_iso(last["LastUsedDate"]),
                                    "Region": last.get("Region")} if last else {})
        else:
            out.pop("RoleLastUsed", None)
        return out

    def GetRole(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return {"Role": self._role_out(self._get(self.account(call), "role", p["RoleName"]))}

    def ListRoles(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        prefix = p.get("PathPrefix") or "/"
        roles = []
        for role in self.db.list_entities(self.account(call), "role"):
            if role["Path"].startswith(prefix):
                out = self._role_out(role, with_last_used=False)
                out.pop("Tags", None)
                out.pop("PermissionsBoundary", None)
                roles.append(out)
        return paginate(roles, p, "Roles", lambda r: r["RoleName"].lower())

    def UpdateRole(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        role = self._modifiable_role(call, p["RoleName"])
        if "Description" in p:
            role["Description"] = p["Description"]
        if p.get("MaxSessionDuration"):
            _check_max_session(p["MaxSessionDuration"])
            role["MaxSessionDuration"] = p["MaxSessionDuration"]
        self._put(self.account(call), "role", role)
        return {}

    def UpdateRoleDescription(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        role = self._modifiable_role(call, p["RoleName"])
        role["Description"] = p["Description"]
        self._put(self.account(call), "role", role)
        return {"Role": self._role_out(role)}

    def UpdateAssumeRolePolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        role = self._modifiable_role(call, p["RoleName"])
        self.validate_document(p["PolicyDocument"], PolicyType.TRUST)
        role["AssumeRolePolicyDocument"] = p["PolicyDocument"]
        self._put(self.account(call), "role", role)
        return {}

    def DeleteRole(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        role = self._modifiable_role(call, p["RoleName"])
        if role["InlinePolicies"]:
            raise delete_conflict("Cannot delete entity, must delete policies first.")
        if role["AttachedPolicies"]:
            raise delete_conflict("Cannot delete entity, must detach all policies first.")
        self.db.delete_entity(self.account(call), "role", role["RoleName"])
        return {}

    def CreateServiceLinkedRole(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        service = p["AWSServiceName"]
        prefix = service.split(".")[0]
        name = "AWSServiceRoleFor" + prefix[:1].upper() + prefix[1:] + \
            (f"_{p['CustomSuffix']}" if p.get("CustomSuffix") else "")
        account = self.account(call)
        if self.db.get_entity(account, "role", name):
            raise AWSError("InvalidInput", f"Service role name {name} has been taken in this "
                           "account, please try a different suffix.")
        path = f"{SERVICE_LINKED_PATH}{service}/"
        trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
                 f'{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}')
        role = {"RoleName": name, "RoleId": new_id("role"), "Path": path,
                "Arn": self.arn(account, "role", path, name), "CreateDate": iso(utc_now()),
                "AssumeRolePolicyDocument": trust, "Description": p.get("Description"),
                "MaxSessionDuration": 3600, "Tags": [], "InlinePolicies": {},
                "AttachedPolicies": [], "PermissionsBoundary": None, "RoleLastUsed": {}}
        self._put(account, "role", role)
        return {"Role": self._role_out(role, with_last_used=False)}

    # --- groups -----------------------------------------------------------------------

    def CreateGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account, name = self.account(call), p["GroupName"]
        if self.db.get_entity(account, "group", name):
            raise already_exists(f"Group with name {name} already exists.")
        path = check_path(p.get("Path"))
        group = {"GroupName": name, "GroupId": new_id("group"), "Path": path,
                 "Arn": self.arn(account, "group", path, name), "CreateDate": iso(utc_now()),
                 "InlinePolicies": {}, "AttachedPolicies": [], "Users": []}
        self._put(account, "group", group)
        return {"Group": public(group, GROUP_FIELDS)}

    def GetGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        group = self._get(account, "group", p["GroupName"])
        users = [public(self._get(account, "user", u), USER_FIELDS[:5]) for u in group["Users"]]
        page = paginate(users, p, "Users", lambda u: u["UserName"].lower())
        return {"Group": public(group, GROUP_FIELDS), **page}

    def ListGroups(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        prefix = p.get("PathPrefix") or "/"
        groups = [public(g, GROUP_FIELDS) for g in
                  self.db.list_entities(self.account(call), "group")
                  if g["Path"].startswith(prefix)]
        return paginate(groups, p, "Groups", lambda g: g["GroupName"].lower())

    def DeleteGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        group = self._get(account, "group", p["GroupName"])
        if group["Users"]:
            raise delete_conflict("Cannot delete entity, must remove users from group first.")
        if group["InlinePolicies"]:
            raise delete_conflict("Cannot delete entity, must delete policies first.")
        if group["AttachedPolicies"]:
            raise delete_conflict("Cannot delete entity, must detach all policies first.")
        self.db.delete_entity(account, "group", group["GroupName"])
        return {}

    def AddUserToGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        group = self._get(account, "group", p["GroupName"])
        user = self._get(account, "user", p["UserName"])
        if len(user["Groups"]) >= 10 and group["GroupName"] not in user["Groups"]:
            raise AWSError("LimitExceeded", "Cannot exceed quota for GroupsPerUser: 10", 409)
        with self.db.transaction():
            if user["UserName"] not in group["Users"]:
                group["Users"].append(user["UserName"])
                user["Groups"].append(group["GroupName"])
            self._put(account, "group", group)
            self._put(account, "user", user)
        return {}

    def RemoveUserFromGroup(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        group = self._get(account, "group", p["GroupName"])
        user = self._get(account, "user", p["UserName"])
        if user["UserName"] not in group["Users"]:
            raise no_such_entity(f"User {user['UserName']} is not in group "
                                 f"{group['GroupName']}.")
        with self.db.transaction():
            group["Users"].remove(user["UserName"])
            user["Groups"].remove(group["GroupName"])
            self._put(account, "group", group)
            self._put(account, "user", user)
        return {}

    def ListGroupsForUser(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        user = self._get(account, "user", p["UserName"])
        groups = [public(self._get(account, "group", g), GROUP_FIELDS) for g in user["Groups"]]
        return paginate(groups, p, "Groups", lambda g: g["GroupName"].lower())

    # --- tags -------------------------------------------------------------------------

    def _tag(self, call: Call, kind: str, name: str, tags: list[dict[str, str]]) -> None:
        account = self.account(call)
        entity = self._get_taggable(account, kind, name)
        entity["Tags"] = _merge_tags(entity.get("Tags") or [], tags)
        self._put(account, kind, entity)

    def _untag(self, call: Call, kind: str, name: str, keys: list[str]) -> None:
        account = self.account(call)
        entity = self._get_taggable(account, kind, name)
        drop = {k.lower() for k in keys}
        entity["Tags"] = [t for t in entity.get("Tags") or [] if t["Key"].lower() not in drop]
        self._put(account, kind, entity)

    def _get_taggable(self, account: str, kind: str, name: str) -> dict[str, Any]:
        if kind == "policy":
            return self._customer_policy(account, name)
        return self._get(account, kind, name)

    def TagRole(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._tag(call, "role", p["RoleName"], _tags(p))
        return {}

    def UntagRole(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._untag(call, "role", p["RoleName"], p["TagKeys"])
        return {}

    def ListRoleTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        role = self._get(self.account(call), "role", p["RoleName"])
        return paginate(role.get("Tags") or [], p, "Tags", lambda t: t["Key"])

    def TagUser(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._tag(call, "user", p["UserName"], _tags(p))
        return {}

    def UntagUser(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._untag(call, "user", p["UserName"], p["TagKeys"])
        return {}

    def ListUserTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        user = self._get(self.account(call), "user", p["UserName"])
        return paginate(user.get("Tags") or [], p, "Tags", lambda t: t["Key"])

    def TagPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._tag(call, "policy", p["PolicyArn"], _tags(p))
        return {}

    def UntagPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._untag(call, "policy", p["PolicyArn"], p["TagKeys"])
        return {}

    def ListPolicyTags(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        policy = self._customer_policy(self.account(call), p["PolicyArn"])
        return paginate(policy.get("Tags") or [], p, "Tags", lambda t: t["Key"])


def _check_max_session(seconds: int) -> None:
    if not 3600 <= seconds <= 43200:
        raise AWSError("ValidationError", f"1 validation error detected: Value '{seconds}' at "
                       "'maxSessionDuration' failed to satisfy constraint: Member must have "
                       "value " + ("greater than or equal to 3600" if seconds < 3600 else
                                   "less than or equal to 43200"))


