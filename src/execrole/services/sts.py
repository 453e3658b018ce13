"""The STS provider: GetCallerIdentity, AssumeRole, GetSessionToken.

Sources: id_credentials_temp_control-access_assumerole.md (who may assume a role: the
caller's identity policies and the role's trust policy, evaluated by the engine),
id_roles_terms-and-concepts.md (role chaining: at most one hour), id_session-tags.md
(session tags need sts:TagSession), reference_iam-quotas.md (session name, durations,
packed policy size), and the STS API reference for parameters and errors.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from ..policy import PolicyError, PolicyType, parse_policy
from ..store import Database
from .authz import AccessControl
from .base import AWSError, Call, iso
from .credentials import assumed_role_data, create_session

_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)$")
CHAINING_LIMIT = 3600  # seconds: role chaining caps sessions at one hour
PACKED_POLICY_LIMIT = 2048  # non-whitespace characters, inline session policy


class STSService:
    name = "sts"

    def __init__(self, db: Database, access: AccessControl) -> None:
        self.db = db
        self.access = access

    def GetCallerIdentity(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        caller = call.caller
        if caller.session and caller.session.get("kind") == "assumed-role":
            user_id = f"{caller.session['role_id']}:{caller.session['session_name']}"
        else:
            user_id = caller.user_id or caller.account
        return {"UserId": user_id, "Account": caller.account, "Arn": caller.arn}

    def AssumeRole(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        caller = call.caller
        role_arn, session_name = p["RoleArn"], p["RoleSessionName"]
        if not _SESSION_NAME.match(session_name):
            raise AWSError("ValidationError", "1 validation error detected: Value "
                           f"'{session_name}' at 'roleSessionName' failed to satisfy "
                           "constraint: Member must satisfy regular expression pattern: "
                           "[\\w+=,.@-]*")
        m = _ROLE_ARN.match(role_arn)
        role = None
        if m:
            role = self.db.get_entity(m.group(1), "role", m.group(2))
            if role is not None and role["Arn"] != role_arn:
                role = None
        context: dict[str, Any] = {"sts:RoleSessionName": session_name}
        if p.get("ExternalId"):
            context["sts:ExternalId"] = p["ExternalId"]
        if p.get("SourceIdentity"):
            context["sts:SourceIdentity"] = p["SourceIdentity"]
        tags = {t["Key"]: t["Value"] for t in p.get("Tags") or []}
        for key, value in tags.items():
            context[f"aws:RequestTag/{key}"] = value
        if tags:
            context["aws:TagKeys"] = list(tags)
        if p.get("TransitiveTagKeys"):
            context["sts:TransitiveTagKeys"] = list(p["TransitiveTagKeys"])
        trust = None
        if role is not None:
            trust = parse_policy(role["AssumeRolePolicyDocument"], PolicyType.TRUST,
                                 name=f"{role['RoleName']} trust policy", managed=False)
        else:
            # No such role: nothing can allow it, and AWS answers with the same AccessDenied.
            trust = parse_policy({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "no-such-role.execrole.invalid"},
                 "Action": "sts:AssumeRole"}]},
                PolicyType.TRUST, name="(no such role)", managed=False)
        account = m.group(1) if m else None
        self.access.require(call, "sts:AssumeRole", role_arn, context, resource_policy=trust,
                            resource_account=account)
        if tags:
            self.access.require(call, "sts:TagSession", role_arn, context,
                                resource_policy=trust, resource_account=account)
        if p.get("SourceIdentity"):
            self.access.require(call, "sts:SetSourceIdentity", role_arn, context,
                                resource_policy=trust, resource_account=account)
        assert role is not None and account is not None
        duration = p.get("DurationSeconds") or 3600
        chained = bool(caller.session and caller.session.get("kind") == "assumed-role")
        if chained and duration > CHAINING_LIMIT:
            raise AWSError("ValidationError", "The requested DurationSeconds exceeds the 1 hour "
                           "session limit for roles assumed by role chaining.")
        if duration > role["MaxSessionDuration"]:
            raise AWSError("ValidationError", "The requested DurationSeconds exceeds the "
                           "MaxSessionDuration set for this role.")
        session_policies = self._session_policies(p)
        # Transitive session tags carry over when chaining (id_session-tags.md).
        carried = {}
        if chained and caller.session:
            transitive = set(caller.session.get("transitive", []))
            carried = {k: v for k, v in (caller.session.get("tags") or {}).items()
                       if k in transitive}
        issued = iso(datetime.now(UTC))
        data = assumed_role_data(
            role, session_name, session_policies=session_policies, tags={**carried, **tags},
            transitive=sorted(set(p.get("TransitiveTagKeys") or []) | set(carried)),
            source_identity=p.get("SourceIdentity")
            or (caller.session or {}).get("source_identity"),
            chained=chained, issued=issued)
        session_name_arn = data["arn"]
        credentials = create_session(self.db, account, data, duration)
        role.setdefault("RoleLastUsed", {})
        role["RoleLastUsed"] = {"LastUsedDate": issued, "Region": call.region}
        self.db.put_entity(account, "role", role["RoleName"], role)
        out: dict[str, Any] = {
            "Credentials": _credentials_out(credentials),
            "AssumedRoleUser": {"AssumedRoleId": data["user_id"], "Arn": session_name_arn},
        }
        if session_policies is not None:
            out["PackedPolicySize"] = min(100, _packed_percent(p))
        if data["source_identity"]:
            out["SourceIdentity"] = data["source_identity"]
        return out

    def _session_policies(self, p: dict[str, Any]) -> dict[str, Any] | None:
        inline = p.get("Policy")
        arns = [x["arn"] for x in p.get("PolicyArns") or []]
        if inline is None and not arns:
            return None
        if inline is not None:
            try:
                parse_policy(inline, PolicyType.SESSION, managed=False)
            except PolicyError as e:
                if e.code == "PackedPolicyTooLarge":
                    raise AWSError("PackedPolicyTooLarge", "Packed policy consumes "
                                   f"{_packed_percent(p)}% of allotted space, please use "
                                   "smaller policy.") from None
                raise AWSError("MalformedPolicyDocument", e.message) from None
        if len(arns) > 10:
            raise AWSError("ValidationError", "1 validation error detected: Value at "
                           "'policyArns' failed to satisfy constraint: Member must have "
                           "length less than or equal to 10")
        return {"inline": inline, "arns": arns}

    def GetSessionToken(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        caller = call.caller
        if caller.session:
            raise AWSError("AccessDenied", "Cannot call GetSessionToken with session "
                           "credentials", 403)
        limit = 3600 if caller.is_root else 129600
        duration = p.get("DurationSeconds") or (3600 if caller.is_root else 43200)
        if not 900 <= duration <= limit:
            raise AWSError("ValidationError", "1 validation error detected: Value "
                           f"'{duration}' at 'durationSeconds' failed to satisfy constraint: "
                           "Member must have value " +
                           ("greater than or equal to 900" if duration < 900 else
                            f"less than or equal to {limit}"))
        data = {"kind": "session-token", "arn": caller.arn, "user_name": caller.user_name,
                "user_id": caller.user_id, "issued": iso(datetime.now(UTC))}
        credentials = create_session(self.db, caller.account, data, duration)
        return {"Credentials": _credentials_out(credentials)}


def _credentials_out(c: dict[str, Any]) -> dict[str, Any]:
    return {"AccessKeyId": c["AccessKeyId"], "SecretAccessKey": c["SecretAccessKey"],
            "SessionToken": c["SessionToken"],
            "Expiration": datetime.fromtimestamp(int(c["Expiration"]), UTC)}


def _packed_percent(p: dict[str, Any]) -> int:
    size = len("".join((p.get("Policy") or "").split()))
    size += 100 * len(p.get("PolicyArns") or [])
    return max(1, round(100 * size / PACKED_POLICY_LIMIT))


__all__ = ["STSService"]
