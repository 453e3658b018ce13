"""SageMaker notebook instances: Create, Describe, List, Stop, Start, Update, Delete and
CreatePresignedNotebookInstanceUrl, and the endpoint route a presigned URL is redeemed at.

Status: there is no instance to boot, so the transitions SageMaker reports while it works
(`Pending` after Create and Start, `Stopping` after Stop, `Updating` after Update) complete
within the call: a notebook is `InService` as soon as CreateNotebookInstance returns, and
`Stopped` as soon as StopNotebookInstance returns. The waiters (`notebook_instance_in_service`,
`notebook_instance_stopped`) therefore succeed on their first poll, and which transitions are
allowed from which status is exactly SageMaker's (Stop from InService; Start, Update and
Delete from Stopped or Failed).

Running code as the notebook (`execrole notebook run`): CreatePresignedNotebookInstanceUrl
returns an AuthorizedUrl `<endpoint>/_execrole/sagemaker/notebook/<name>?authToken=<token>`,
served by `http_get` (the endpoint is the URL `execrole serve` runs at; a provider without a
server answers AWS's shape, `https://<name>.notebook.<region>.sagemaker.aws?authToken=...`).
A token is random, single-use and valid for five minutes (API reference,
CreatePresignedNotebookInstanceUrl: "valid only for 5 minutes"); only its SHA-256 is stored,
in the notebook's document. Redeeming it makes SageMaker assume the notebook's role (the trust
policy is decided again, with aws:SourceArn the notebook's ARN) and answers with temporary
credentials of the role session `SageMaker`, the region and the notebook's resource metadata
(what /opt/ml/metadata/resource-metadata.json holds on an instance). The session's calls are
logged under the notebook's ARN.

Messages: "RecordNotFound" for a notebook that does not exist, "Cannot create a duplicate
Notebook Instance (<arn>)" and the "Status (<s>) not in ([...]). Unable to transition to
(<t>) for Notebook Instance (<arn>)." family follow what users and other emulators report
(see docs/fidelity.md for the ones that are execrole's guesses).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from ...runtime.supervisor import StartFailure
from ..base import AWSError, Call, Caller, iso
from .jobs import Jobs
from .resources import Resources, described, pick, resource_arn, validation

KIND = "notebook-instance"
ROUTE = "/_execrole/sagemaker/notebook/"
TOKEN_TTL_S = 300  # a presigned notebook URL is valid for 5 minutes (API reference)
DEFAULT_SESSION_S = 43200  # SessionExpirationDurationInSeconds: "The default is 12 hours."

# Defaults the API reference (botocore's sagemaker model) gives for CreateNotebookInstance.
DEFAULTS: dict[str, Any] = {
    "DirectInternetAccess": "Enabled", "VolumeSizeInGB": 5, "RootAccess": "Enabled",
    "PlatformIdentifier": "notebook-al2023-v1", "IpAddressType": "ipv4",
}
CREATE_FIELDS = ("NotebookInstanceName", "InstanceType", "SubnetId", "RoleArn", "KmsKeyId",
                 "DirectInternetAccess", "VolumeSizeInGB", "AcceleratorTypes",
                 "DefaultCodeRepository", "AdditionalCodeRepositories", "RootAccess",
                 "PlatformIdentifier", "IpAddressType", "InstanceMetadataServiceConfiguration")
# UpdateNotebookInstance: the fields it sets, and the Disassociate* flags that clear one.
UPDATE_FIELDS = ("InstanceType", "RoleArn", "VolumeSizeInGB", "AcceleratorTypes",
                 "DefaultCodeRepository", "AdditionalCodeRepositories", "RootAccess",
                 "PlatformIdentifier", "IpAddressType", "InstanceMetadataServiceConfiguration")
DISASSOCIATE = {"DisassociateLifecycleConfig": "NotebookInstanceLifecycleConfigName",
                "DisassociateAcceleratorTypes": "AcceleratorTypes",
                "DisassociateDefaultCodeRepository": "DefaultCodeRepository",
                "DisassociateAdditionalCodeRepositories": "AdditionalCodeRepositories"}
# Which statuses each operation may start from, and the status it passes through.
STOPPED = ("Stopped", "Failed")
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "Stop": (("InService",), "Stopping"),
    "Start": (STOPPED, "Pending"),
    "Update": (STOPPED, "Updating"),
    "Delete": (STOPPED, "Deleting"),
}
SUMMARY = ("NotebookInstanceName", "NotebookInstanceArn", "NotebookInstanceStatus", "Url",
           "InstanceType", "CreationTime", "LastModifiedTime",
           "NotebookInstanceLifecycleConfigName", "DefaultCodeRepository",
           "AdditionalCodeRepositories")
PRESIGNED = "_presigned"  # hidden key: outstanding presigned-URL tokens (hashes)

HttpAnswer = tuple[int, list[tuple[str, str]], bytes]


def record_not_found() -> AWSError:
    return validation("RecordNotFound")


def require_status(notebook: Mapping[str, Any], operation: str) -> None:
    """SageMaker's error when the notebook's status does not allow the operation."""
    allowed, passing = TRANSITIONS[operation]
    status = notebook["NotebookInstanceStatus"]
    if status not in allowed:
        raise validation(f"Status ({status}) not in ([{', '.join(allowed)}]). Unable to "
                         f"transition to ({passing}) for Notebook Instance "
                         f"({notebook['NotebookInstanceArn']}).")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _json(status: int, body: Mapping[str, Any]) -> HttpAnswer:
    return status, [("Content-Type", "application/json")], json.dumps(body).encode()


def _http_error(status: int, code: str, message: str) -> HttpAnswer:
    return _json(status, {"Error": {"Code": code, "Message": message}})


class Notebooks(Jobs):
    """Mixed into the provider. A Jobs mixin for its role_session: a notebook's session is
    the one SageMaker opens for a job, trust checked again, named `SageMaker`."""

    @property
    def notebooks(self) -> Resources:
        return Resources(self.db, KIND)

    def _notebook(self, call: Call, name: str) -> dict[str, Any]:
        found = self.notebooks.of(call, name)
        if found is None:
            raise record_not_found()
        return found

    def _move(self, call: Call, name: str, operation: str, status: str,
              change: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Check the transition against the stored status and apply it atomically."""
        arn = self._notebook(call, name)["NotebookInstanceArn"]

        def apply(doc: dict[str, Any]) -> None:
            require_status(doc, operation)
            if change is not None:
                change(doc)
            doc["NotebookInstanceStatus"] = status
            doc["LastModifiedTime"] = time.time()

        updated = self.notebooks.update(arn, apply)
        if updated is None:
            raise record_not_found()
        return updated

    # --- the API ---------------------------------------------------------------------------

    def CreateNotebookInstance(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["NotebookInstanceName"]
        arn = resource_arn(call, KIND, name)
        if self.notebooks.of(call, name) is not None:
            raise validation(f"Cannot create a duplicate Notebook Instance ({arn})")
        self.checks.run(call, "CreateNotebookInstance", p, arn, [])
        now = time.time()
        notebook = {**DEFAULTS, **pick(p, CREATE_FIELDS)}
        if p.get("SecurityGroupIds"):
            notebook["SecurityGroups"] = list(p["SecurityGroupIds"])
        if p.get("LifecycleConfigName"):
            notebook["NotebookInstanceLifecycleConfigName"] = p["LifecycleConfigName"]
        notebook.update(
            NotebookInstanceArn=arn, NotebookInstanceStatus="InService",
            Url=f"{name.lower()}.notebook.{call.region}.sagemaker.aws",
            CreationTime=now, LastModifiedTime=now, Tags=list(p.get("Tags") or []))
        if not self.notebooks.create(call, name, arn, notebook):
            raise validation(f"Cannot create a duplicate Notebook Instance ({arn})")
        return {"NotebookInstanceArn": arn}

    def DescribeNotebookInstance(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        return described(self._notebook(call, p["NotebookInstanceName"]))

    def ListNotebookInstances(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        def extra(nb: dict[str, Any]) -> bool:
            config = p.get("NotebookInstanceLifecycleConfigNameContains")
            if config and config.lower() not in \
                    str(nb.get("NotebookInstanceLifecycleConfigName", "")).lower():
                return False
            repo = p.get("DefaultCodeRepositoryContains")
            if repo and repo.lower() not in str(nb.get("DefaultCodeRepository", "")).lower():
                return False
            additional = p.get("AdditionalCodeRepositoryEquals")
            return not additional or additional in (nb.get("AdditionalCodeRepositories") or [])

        return self.notebooks.listing(
            call, p, name_key="NotebookInstanceName", list_key="NotebookInstances",
            summary=lambda nb: pick(nb, SUMMARY), status_key="NotebookInstanceStatus",
            extra=extra)

    def StopNotebookInstance(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._move(call, p["NotebookInstanceName"], "Stop", "Stopped")
        return {}

    def StartNotebookInstance(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        self._move(call, p["NotebookInstanceName"], "Start", "InService")
        return {}

    def UpdateNotebookInstance(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["NotebookInstanceName"]
        current = self._notebook(call, name)
        require_status(current, "Update")  # before a role is passed for nothing
        if p.get("RoleArn"):
            # A new role is passed: PassRole and SageMaker's assume, as at creation.
            request = {"NotebookInstanceName": current["NotebookInstanceName"],
                       "InstanceType": p.get("InstanceType") or current["InstanceType"],
                       "RoleArn": p["RoleArn"]}
            self.checks.run(call, "CreateNotebookInstance", request,
                            current["NotebookInstanceArn"], [])

        def change(doc: dict[str, Any]) -> None:
            doc.update(pick(p, UPDATE_FIELDS))
            if p.get("LifecycleConfigName"):
                doc["NotebookInstanceLifecycleConfigName"] = p["LifecycleConfigName"]
            for flag, key in DISASSOCIATE.items():
                if p.get(flag):
                    doc.pop(key, None)

        # An update leaves the instance stopped; Start brings it back with the new settings.
        self._move(call, name, "Update", "Stopped", change)
        return {}

    def DeleteNotebookInstance(self, call: Call, p: dict[str, Any]) -> dict[str, Any]:
        name = p["NotebookInstanceName"]
        notebook = self._notebook(call, name)
        require_status(notebook, "Delete")
        if not self.notebooks.delete(call, name):
            raise record_not_found()
        return {}

    def CreatePresignedNotebookInstanceUrl(self, call: Call,
                                           p: dict[str, Any]) -> dict[str, Any]:
        name = p["NotebookInstanceName"]
        notebook = self._notebook(call, name)
        token = secrets.token_urlsafe(32)
        now = time.time()
        grant = {"hash": _hash(token), "expires": now + TOKEN_TTL_S,
                 "session_s": int(p.get("SessionExpirationDurationInSeconds")
                                  or DEFAULT_SESSION_S)}

        def add(doc: dict[str, Any]) -> None:
            live = [g for g in doc.get(PRESIGNED) or [] if g["expires"] > now]
            doc[PRESIGNED] = [*live, grant]

        if self.notebooks.update(notebook["NotebookInstanceArn"], add) is None:
            raise record_not_found()
        endpoint = getattr(self.runtime, "endpoint", None)
        if endpoint:
            url = f"{endpoint}{ROUTE}{quote(name, safe='')}?authToken={token}"
        else:  # no server around this provider: AWS's own shape
            url = f"https://{notebook['Url']}?authToken={token}"
        return {"AuthorizedUrl": url}

    # --- the presigned URL, redeemed on the endpoint -------------------------------------

    def http_get(self, path: str, query: Mapping[str, str]) -> HttpAnswer:
        """GET /_execrole/sagemaker/notebook/<name>?authToken=<token>: the notebook role's
        session for whoever holds a fresh token. Answers JSON; errors as
        {"Error": {"Code", "Message"}}."""
        if not path.startswith(ROUTE) or "/" in path[len(ROUTE):]:
            return _http_error(404, "NotFound", f"No such execrole route: {path}")
        name = path[len(ROUTE):]
        token = query.get("authToken") or ""
        redeemed = self._redeem(name, token)
        if redeemed is None:
            return _http_error(403, "InvalidAuthToken", "The authToken is invalid, expired "
                               "or already used: call CreatePresignedNotebookInstanceUrl for "
                               "a new URL (it is valid for 5 minutes, once).")
        notebook, session_s = redeemed
        status = notebook["NotebookInstanceStatus"]
        if status != "InService":
            return _http_error(409, "NotInService", f"Notebook instance {name} is {status}; "
                               "start it (StartNotebookInstance) to run code in it.")
        arn = notebook["NotebookInstanceArn"]
        region, account = arn.split(":")[3], arn.split(":")[4]
        # SageMaker assumes the role for the notebook: the trust policy is decided again
        # (the role may have changed since creation), with the notebook's account and ARN.
        owner = Call(Caller(f"arn:aws:iam::{account}:root", account), region,
                     str(uuid.uuid4()))
        try:
            credentials = self.role_session(owner, notebook["RoleArn"], arn, session_s)
        except StartFailure as e:
            code, _, message = e.reason.partition(": ")
            return _http_error(403, code, message)
        expires = datetime.fromtimestamp(time.time() + session_s, UTC)
        return _json(200, {
            "Credentials": {**credentials, "Expiration": iso(expires)},
            "Region": region,
            "ResourceMetadata": {"ResourceArn": arn,
                                 "ResourceName": notebook["NotebookInstanceName"],
                                 "ExecutionRoleArn": notebook["RoleArn"]},
        })

    def _redeem(self, name: str, token: str) -> tuple[dict[str, Any], int] | None:
        """The notebook whose outstanding grant the token is, with the grant used up, and
        the session length the grant asked for."""
        if not token:
            return None
        for notebook in self.notebooks.all():
            if notebook["NotebookInstanceName"].lower() == name.lower():
                used = self._use_grant(notebook["NotebookInstanceArn"], _hash(token))
                if used is not None:
                    return used
        return None

    def _use_grant(self, arn: str, digest: str) -> tuple[dict[str, Any], int] | None:
        now = time.time()
        found: list[dict[str, Any]] = []

        def use(doc: dict[str, Any]) -> None:
            # Inside the store's transaction: a token is honoured once, even when two
            # requests race for it. Expired grants are dropped on the way.
            grants = list(doc.get(PRESIGNED) or [])
            found.extend(g for g in grants
                         if hmac.compare_digest(g["hash"], digest) and g["expires"] > now)
            doc[PRESIGNED] = [g for g in grants if g["expires"] > now and g["hash"] != digest]

        updated = self.notebooks.update(arn, use)
        if updated is None or not found:
            return None
        return updated, int(found[0]["session_s"])
