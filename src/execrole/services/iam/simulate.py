"""GetAccountAuthorizationDetails, and the policy simulator answered by the engine.

SimulatePrincipalPolicy / SimulateCustomPolicy (IAM API reference): one EvaluationResult per
action and resource, with EvalDecision (allowed | explicitDeny | implicitDeny),
MatchedStatements, MissingContextValues and PermissionsBoundaryDecisionDetail.
"""

from __future__ import annotations

import json
from typing import Any

from ...catalog import managed
from ...policy import (
    Authorizer,
    Decision,
    Layer,
    Outcome,
    Policy,
    PolicyError,
    PolicySet,
    PolicyType,
    Request,
    parse_policy,
)
from ..authz import PolicyStore
from ..base import AWSError, Call, Caller, invalid_input, parse_iso
from .common import IAMBase, doc_out, paginate, public
from .entities import GROUP_FIELDS, ROLE_FIELDS, USER_FIELDS

EVAL = {Outcome.ALLOW: "allowed", Outcome.EXPLICIT_DENY: "explicitDeny",
        Outcome.IMPLICIT_DENY: "implicitDeny"}
SOURCE_TYPE = {Layer.IDENTITY: "IAM Policy", Layer.RESOURCE: "Resource Policy",
               Layer.PERMISSIONS_BOUNDARY: "IAM Policy", Layer.SESSION: "IAM Policy",
               Layer.SCP: "Organizations", Layer.RCP: "Organizations"}
CONTEXT_TYPES = {"string", "stringList", "numeric", "numericList", "boolean", "booleanList",
                 "ip", "ipList", "binary", "binaryList", "date", "dateList"}


class SimulateOperations(IAMBase):
    def GetAccountAuthorizationDetails(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        account = self.account(call)
        wanted = set(p.get("Filter") or ["User", "Role", "Group", "LocalManagedPolicy",
                                          "AWSManagedPolicy"])
        out: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [],
                               "RoleDetailList": [], "Policies": []}
        attached: set[str] = set()

        def attached_list(entity: dict[str, Any]) -> list[dict[str, str]]:
            items = []
            for arn in entity.get("AttachedPolicies", []):
                attached.add(arn)
                items.append({"PolicyName": self.managed_document(account, arn)[0],
                              "PolicyArn": arn})
            return items

        def inline(entity: dict[str, Any]) -> list[dict[str, str]]:
            return [{"PolicyName": n, "PolicyDocument": doc_out(d)}
                    for n, d in sorted(entity.get("InlinePolicies", {}).items())]

        for user in self.db.list_entities(account, "user"):
            detail = public(user, USER_FIELDS)
            detail.update(UserPolicyList=inline(user), GroupList=list(user["Groups"]),
                          AttachedManagedPolicies=attached_list(user))
            if "User" in wanted:
                out["UserDetailList"].append(detail)
        for group in self.db.list_entities(account, "group"):
            detail = public(group, GROUP_FIELDS)
            detail.update(GroupPolicyList=inline(group),
                          AttachedManagedPolicies=attached_list(group))
            if "Group" in wanted:
                out["GroupDetailList"].append(detail)
        for role in self.db.list_entities(account, "role"):
            detail = public(role, ROLE_FIELDS)
            detail.pop("RoleLastUsed", None)
            detail.update(AssumeRolePolicyDocument=doc_out(role["AssumeRolePolicyDocument"]),
                          InstanceProfileList=[], RolePolicyList=inline(role),
                          AttachedManagedPolicies=attached_list(role))
            if "Role" in wanted:
                out["RoleDetailList"].append(detail)
        if "LocalManagedPolicy" in wanted:
            for policy in self.db.list_entities(account, "policy"):
                out["Policies"].append(_policy_detail(policy))
        if "AWSManagedPolicy" in wanted:
            for arn in sorted(a for a in attached if a.startswith(managed.ARN_PREFIX)):
                found = managed.lookup(arn)
                if found is None:
                    continue
                date = found.update_date[:19] + "Z"
                out["Policies"].append(_policy_detail({
                    "PolicyName": found.name, "PolicyId": "ANPA" + found.name.upper()[:17],
                    "Arn": found.arn, "Path": found.path, "DefaultVersionId": found.version_id,
                    "AttachmentCount": 1, "PermissionsBoundaryUsageCount": 0,
                    "IsAttachable": True, "CreateDate": date, "UpdateDate": date,
                    "Versions": [{"VersionId": found.version_id, "IsDefaultVersion": True,
                                  "Document": json.dumps(found.document), "CreateDate": date}]}))
        out["IsTruncated"] = False
        return out

    # --- the simulator ------------------------------------------------------------------

    def SimulatePrincipalPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        source = p["PolicySourceArn"]
        account = source.split(":")[4] if source.count(":") >= 5 else ""
        if account != self.account(call):
            raise invalid_input(f"Invalid Entity Arn: {source} does not clearly define entity "
                                "type and name.")
        resource_part = source.split(":", 5)[5]
        kind, _, rest = resource_part.partition("/")
        name = rest.rsplit("/", 1)[-1]
        if kind == "user":
            entity = self._get(account, "user", name)
            caller = Caller(entity["Arn"], account, user_name=entity["UserName"],
                            user_id=entity["UserId"])
        elif kind == "role":
            entity = self._get(account, "role", name)
            caller = Caller(entity["Arn"], account, role_name=entity["RoleName"],
                            user_id=entity["RoleId"])
        elif kind == "group":
            entity = self._get(account, "group", name)
            caller = Caller(entity["Arn"], account)
        else:
            raise invalid_input(f"Invalid Entity Arn: {source} does not clearly define entity "
                                "type and name.")
        store = PolicyStore(self.db)
        base = store.policy_set(caller)
        identity = list(base.identity)
        if kind == "group":
            identity = store._entity_policies(account, entity, entity["GroupName"])
        identity += _inputs(p.get("PolicyInputList"), PolicyType.IDENTITY, "PolicyInputList")
        boundary = base.boundary
        if p.get("PermissionsBoundaryPolicyInputList"):
            boundary = _inputs(p["PermissionsBoundaryPolicyInputList"], PolicyType.BOUNDARY,
                               "PermissionsBoundaryPolicyInputList")
        principal = p.get("CallerArn") or caller.arn
        return self._simulate(call, p, PolicySet(identity=identity, boundary=boundary),
                              principal)

    def SimulateCustomPolicy(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        identity = _inputs(p["PolicyInputList"], PolicyType.IDENTITY, "PolicyInputList")
        boundary = (_inputs(p["PermissionsBoundaryPolicyInputList"], PolicyType.BOUNDARY,
                            "PermissionsBoundaryPolicyInputList")
                    if p.get("PermissionsBoundaryPolicyInputList") else None)
        principal = p.get("CallerArn") or f"arn:aws:iam::{self.account(call)}:user/simulated"
        return self._simulate(call, p, PolicySet(identity=identity, boundary=boundary),
                              principal)

    def _simulate(self, call: Call, p: dict[str, Any], policies: PolicySet,
                  principal: str) -> dict[str, Any]:
        resource_policy = None
        if p.get("ResourcePolicy"):
            resource_policy = _inputs([p["ResourcePolicy"]], PolicyType.RESOURCE,
                                      "ResourcePolicy")[0]
        policies = PolicySet(identity=policies.identity, boundary=policies.boundary,
                             resource=resource_policy)
        authorizer = Authorizer(policies)
        context = _context(p.get("ContextEntries") or [])
        results = []
        owner = p.get("ResourceOwner")
        owner_account = None
        if owner:
            parts = owner.split(":")
            if len(parts) != 6 or parts[2] != "iam" or parts[5] != "root":
                raise invalid_input(f"Invalid ResourceOwner: {owner} is not an account ARN "
                                    "(arn:aws:iam::AWS-account-ID:root).")
            owner_account = parts[4]
        for action in p["ActionNames"]:
            for resource in p.get("ResourceArns") or ["*"]:
                request = Request(principal, action, resource, owner_account, context,
                                  time=call.time.timestamp())
                decision = authorizer.authorize(request)
                results.append(_result(action, resource, decision, policies, request))
        return paginate(results, p, "EvaluationResults",
                        lambda r: f"{r['EvalActionName']}\x00{r['EvalResourceName']}")


def _policy_detail(policy: dict[str, Any]) -> dict[str, Any]:
    detail = public(policy, ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId",
                              "AttachmentCount", "PermissionsBoundaryUsageCount",
                              "IsAttachable", "Description", "CreateDate", "UpdateDate"))
    detail["PolicyVersionList"] = [
        {"Document": doc_out(v["Document"]), "VersionId": v["VersionId"],
         "IsDefaultVersion": v["IsDefaultVersion"], "CreateDate": parse_iso(v["CreateDate"])}
        for v in policy["Versions"]]
    return detail


def _inputs(documents: list[str] | None, ptype: PolicyType, field: str) -> list[Policy]:
    out = []
    for i, document in enumerate(documents or []):
        try:
            out.append(parse_policy(document, ptype, name=f"{field}.{i + 1}", managed=False))
        except PolicyError as e:
            raise AWSError("MalformedPolicyDocument", e.message) from None
    return out


def _context(entries: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        if not entry.get("ContextKeyName"):
            raise invalid_input("ContextKeyName is required in each ContextEntry.")
        kind = entry.get("ContextKeyType", "string")
        if kind not in CONTEXT_TYPES:
            raise invalid_input(f"Invalid ContextKeyType: {kind}")
        values = list(entry.get("ContextKeyValues") or [])
        out[entry["ContextKeyName"]] = values if kind.endswith("List") else \
            (values[0] if values else "")
    return out


def _result(action: str, resource: str, decision: Decision, policies: PolicySet,
            request: Request) -> dict[str, Any]:
    matched = [{"SourcePolicyId": m.policy, "SourcePolicyType": SOURCE_TYPE[m.layer],
                "StartPosition": {"Line": 1, "Column": 1},
                "EndPosition": {"Line": 1, "Column": 1}} for m in decision.matched]
    result: dict[str, Any] = {
        "EvalActionName": action, "EvalResourceName": resource,
        "EvalDecision": EVAL[decision.outcome], "MatchedStatements": matched,
        "MissingContextValues": _missing(policies, request),
    }
    if policies.boundary is not None:
        result["PermissionsBoundaryDecisionDetail"] = {
            "AllowedByPermissionsBoundary": Layer.PERMISSIONS_BOUNDARY not in decision.denied_by}
    return result


def _missing(policies: PolicySet, request: Request) -> list[str]:
    """Condition keys the applicable statements read that the request does not carry."""
    from ...policy.wildcard import glob_match

    missing: set[str] = set()
    docs = [*policies.identity, *(policies.boundary or ())]
    if policies.resource is not None:
        docs.append(policies.resource)
    for doc in docs:
        for st in doc.statements:
            patterns = st.actions if st.actions is not None else None
            if patterns is not None and not any(
                    glob_match(a, request.action, ignore_case=True) for a in patterns):
                continue
            for condition in st.conditions:
                if condition.operator == "Null" or condition.operator.endswith("IfExists"):
                    continue
                if request.values(condition.key.lower()) is None:
                    missing.add(condition.key)
    return sorted(missing)
