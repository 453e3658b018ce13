"""The ASGI application: one endpoint for every service.

A request is authenticated (SigV4), routed to a service by its credential scope (checked
against the service model's signing name), parsed by the service's protocol, validated,
authorized by the engine as the IAM action the operation maps to, handed to the provider,
and the result or error serialized in the protocol's format.
"""

from __future__ import annotations

import gc
import json
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from .. import __version__
from ..catalog.operations import Authorization, resolve, resolve_s3
from ..console.web import PREFIX as CONSOLE_PREFIX
from ..runtime.supervisor import Supervisor
from ..services.authz import AccessControl
from ..services.base import AWSError, Call, Caller
from ..services.credentials import lookup, touch_key
from ..services.ecr import LAYER_URL
from ..services.registry import PROVIDERS
from ..store import Database
from . import protocols, sigv4
from .s3_upload import receive_upload, s3_path, s3_upload
from .validation import validate_params

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("execrole.requests")

# Operations whose provider authorizes itself, because a resource policy (a role trust
# policy) takes part in the decision.
SELF_AUTHORIZING = frozenset({"sts:AssumeRole"})
# Error code for a denial, by protocol (query services say AccessDenied, json ones
# AccessDeniedException).
ACCESS_DENIED = {"query": "AccessDenied", "ec2": "UnauthorizedOperation",
                 "json": "AccessDeniedException", "rest-json": "AccessDeniedException",
                 "rest-xml": "AccessDenied"}
HEALTH_PATH = "/_execrole/health"
# The code of a model-constraint violation, by protocol.
VALIDATION_ERROR = {"query": "ValidationError", "ec2": "InvalidParameterValue",
                    "rest-xml": "InvalidArgument", "ecr": "InvalidParameterException"}


@dataclass
class HttpRequest:
    method: str
    path: str  # decoded path
    raw_path: str  # as sent, percent-encoded
    raw_query: str
    headers: dict[str, str]  # lower-cased names
    body: bytes
    client: str
    secure: bool


class EndpointApp:
    def __init__(self, db: Database, *, default_region: str = "us-east-1",
                 console_remote: bool = False) -> None:
        self.db = db
        self.default_region = default_region
        self.access = AccessControl(db)
        self.providers: dict[str, Any] = {name: factory(db, self.access)
                                          for name, factory in PROVIDERS.items()}
        for provider in self.providers.values():
            attach = getattr(provider, "attach", None)
            if attach is not None:
                attach(self.providers)  # providers that consult others (SageMaker -> ECR)
        self.started = time.time()
        self.jobs: Supervisor | None = None
        from ..console import ConsoleApp

        self.console = ConsoleApp(self, allow_remote=console_remote)

    def run_jobs(self, endpoint: str, jobs_dir: Path, limit: int) -> Supervisor:
        """Run SageMaker jobs as local processes that call back at `endpoint` (execrole
        serve sets this up; without it, jobs are accepted and stay queued)."""
        sagemaker = self.providers["sagemaker"]
        self.jobs = Supervisor(jobs_dir, endpoint=endpoint, limit=limit,
                               apply=sagemaker.runtime_apply)
        sagemaker.runtime = self.jobs
        return self.jobs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        raw_path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        request = HttpRequest(scope["method"], scope["path"], raw_path.split("?", 1)[0],
                              scope.get("query_string", b"").decode("latin-1"), headers,
                              b"", (scope.get("client") or ("127.0.0.1", 0))[0],
                              scope.get("scheme") == "https")
        stored: Any = None
        uploads = self.providers.get("s3") and s3_upload(request)
        if uploads:
            # S3 object bodies go to the blob store as they arrive: never all in memory.
            outcome = await receive_upload(self, request, uploads, receive)
            if isinstance(outcome, tuple):
                await _send(send, *outcome)
                return
            stored = outcome
        else:
            body = bytearray()
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            request.body = bytes(body)
        await _send(send, *self.handle(request, stored=stored))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                s3 = self.providers.get("s3")
                if s3 is not None:
                    # Bodies of uploads that never reached the provider (denied,
                    # interrupted) are reclaimed once they are an hour old.
                    s3.collect_garbage(min_age_s=3600)
                self._settle()
                if self.jobs is not None:
                    self.providers["sagemaker"].recover_jobs()
                    self.providers["sagemaker"].recover_tuning()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.jobs is not None:
                    self.jobs.shutdown()
                self.db.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _settle(self) -> None:
        """Load the large, never-freed data now (the service models, the console's
        templates) and move everything alive to the garbage collector's permanent
        generation: collections then skip it, instead of pausing a request for ~100 ms every
        dozen pages."""
        for name in self.providers:
            protocols.service_model(name)
        self.console.warm()
        gc.collect()
        gc.freeze()
        # A request makes tens of thousands of short-lived objects, freed by reference
        # counting; collecting every 700 allocations only walks them (measured with
        # bench/console.py: ~50 ms pauses every few pages at the default, none at this).
        gc.set_threshold(50_000, 20, 20)

    # --- one request ----------------------------------------------------------------------

    def handle(self, req: HttpRequest, *, stored: Any = None) -> tuple[int, list[tuple[str, str]],
                                                                         Any]:
        """One request: status, headers and a body (bytes, or an iterator of byte chunks for
        S3 object bodies). `stored` is an upload's body, already in the blob store."""
        request_id = str(uuid.uuid4())
        started = time.perf_counter()
        if req.path == HEALTH_PATH:
            body = json.dumps({"status": "ok", "version": __version__,
                               "uptime_s": round(time.time() - self.started, 1),
                               "schema": self.db.schema_version}).encode()
            return 200, [("Content-Type", "application/json")], body
        if req.path == CONSOLE_PREFIX or req.path.startswith(CONSOLE_PREFIX + "/"):
            return self.console.handle(req.method, req.path, req.raw_query, req.headers,
                                       req.body, req.client)
        if req.method == "GET" and req.path.startswith(LAYER_URL) and "ecr" in self.providers:
            layer_query = {k: v[-1] for k, v in parse_qs(req.raw_query).items()}
            answer: tuple[int, list[tuple[str, str]], bytes] = \
                self.providers["ecr"].layer_download(req.path, layer_query)
            return answer
        if req.method == "GET" and req.path.startswith("/_execrole/sagemaker/") \
                and "sagemaker" in self.providers:
            # A presigned notebook URL, redeemed (services/sagemaker/notebooks.py).
            notebook_query = {k: v[-1] for k, v in parse_qs(req.raw_query).items()}
            redeemed: tuple[int, list[tuple[str, str]], bytes] = \
                self.providers["sagemaker"].http_get(req.path, notebook_query)
            return redeemed
        service = "?"
        operation = "?"
        principal = "anonymous"
        model: Any = None
        protocol = "query"
        try:
            signed = sigv4.parse_signature(req.method, req.raw_path, req.raw_query, req.headers)
            if signed is None:
                service = _guess_service(req)
                model = self._model(service)
                protocol = protocols.protocol_name(model)
                if service != "s3":
                    raise AWSError("MissingAuthenticationToken", "Request is missing "
                                   "Authentication Token", 403)
                # S3 takes unsigned requests: anonymous, allowed only by bucket policies.
                caller = Caller("anonymous", "")
                record = None
                region = self.default_region
            else:
                service = _service_for_signing_name(signed.credential.service)
                model = self._model(service)
                protocol = protocols.protocol_name(model)
                record = self.authenticate(signed)
                sigv4.verify(signed, record.secret, req.method, req.raw_path, req.raw_query,
                             req.headers, req.body, datetime.now(UTC), s3=service == "s3",
                             body_sha256=stored.sha256 if stored is not None else None)
                caller = record.caller
                region = signed.credential.region or self.default_region
            principal = caller.arn
            query = parse_qs(req.raw_query, keep_blank_values=True)
            headers_in = req.headers if stored is None else _without_chunking(req.headers)
            path = s3_path(req) if service == "s3" else req.raw_path
            parsed = protocols.parse_request(model, req.method, path, query, headers_in,
                                             req.body)
            operation = parsed.operation
            params = parsed.params
            if stored is not None:
                params["Body"] = stored
            validate_params(model.operation_model(operation).input_shape,
                            {k: v for k, v in params.items() if k != "Body"},
                            code=VALIDATION_ERROR.get(service) or
                            VALIDATION_ERROR.get(protocol, "ValidationException"))
            call = Call(caller, region, request_id, req.client, req.secure,
                        req.headers.get("user-agent", ""))
            if record is not None and record.session_token is None and caller.access_key_id:
                touch_key(self.db, caller.access_key_id, service, region)
            result = self._dispatch(service, operation, call, params, protocol)
            status, headers, body = self._serialize(model, operation, result, request_id,
                                                    req.method)
        except sigv4.AuthError as e:
            if protocol in ("json", "rest-json"):
                e = e.for_json_protocol()
            status, headers, body = self._error(model, e.code, e.message, e.status,
                                                request_id, True)
        except protocols.ProtocolError as e:
            status, headers, body = self._error(model, e.code, e.message, e.status,
                                                request_id, e.sender)
        except AWSError as e:
            status, headers, body = self._error(model, e.code, e.message, e.status,
                                                request_id, e.sender)
        except Exception:
            log.error("internal error in %s.%s\n%s", service, operation, traceback.format_exc())
            status, headers, body = self._error(model, "InternalFailure", "We encountered an "
                                                "internal error. Please try again.", 500,
                                                request_id, False)
        if req.method == "HEAD" and isinstance(body, (bytes, bytearray)):
            body = b""  # HEAD answers carry headers only, errors included
        log.info(json.dumps({"time": round(time.time(), 3), "request_id": request_id,
                             "service": service, "operation": operation,
                             "principal": principal, "status": status,
                             "ms": round((time.perf_counter() - started) * 1000, 2)}))
        return status, headers, body

    def invoke(self, caller: Caller, service: str, operation: str, params: dict[str, Any],
               *, region: str | None = None, source_ip: str = "127.0.0.1") -> dict[str, Any]:
        """One operation as `caller`, without the wire: the same validation, authorization,
        decision log and provider as a signed request (the console acts through it). Raises
        AWSError as the wire would answer it."""
        model = self._model(service)
        protocol = protocols.protocol_name(model)
        validate_params(model.operation_model(operation).input_shape, params,
                        code=VALIDATION_ERROR.get(service) or
                        VALIDATION_ERROR.get(protocol, "ValidationException"))
        call = Call(caller, region or self.default_region, str(uuid.uuid4()), source_ip,
                    False, "execrole-console")
        return self._dispatch(service, operation, call, params, protocol)

    def authenticate(self, signed: sigv4.SignedRequest) -> Any:
        """The key record behind a signature: known key, matching session token, not
        expired (the signature itself is checked by sigv4.verify)."""
        record = lookup(self.db, signed.credential.access_key)
        if record is None:
            raise AWSError("InvalidClientTokenId", "The security token included in the "
                           "request is invalid.", 403)
        if record.session_token is not None:
            if signed.session_token != record.session_token:
                raise AWSError("InvalidClientTokenId", "The security token included in "
                               "the request is invalid.", 403)
            if record.expires is not None and time.time() >= record.expires:
                raise AWSError("ExpiredToken", "The security token included in the "
                               "request is expired", 403)
        return record

    def _serialize(self, model: Any, operation: str, result: dict[str, Any], request_id: str,
                   method: str) -> tuple[int, list[tuple[str, str]], Any]:
        body_range = result.get("Body")
        status_override = result.pop("_status", None)
        if body_range is not None and hasattr(body_range, "sha256"):
            # An S3 object body: headers now, bytes streamed from the blob store.
            result = {k: v for k, v in result.items() if k != "Body"}
            status, headers, _ = protocols.serialize_response(model, operation, result,
                                                              request_id)
            length = body_range.end - body_range.start
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(length)))
            blobs = self.providers["s3"].blobs
            chunks: Any = (iter(()) if method == "HEAD" or length == 0 else
                           blobs.iter_range(body_range.sha256, body_range.start, body_range.end))
            return status_override or status, headers, chunks
        status, headers, body = protocols.serialize_response(model, operation, result,
                                                             request_id)
        if method == "HEAD":
            body = b""
        return status_override or status, headers, body

    def _model(self, service: str) -> Any:
        if service not in self.providers:
            raise AWSError("UnknownService", f"execrole does not serve the {service} service "
                           "yet.", 400)
        return protocols.service_model(service)

    def _dispatch(self, service: str, operation: str, call: Call, params: dict[str, Any],
                  protocol: str) -> dict[str, Any]:
        provider = self.providers[service]
        handler = getattr(provider, operation, None)
        subject = params
        if service == "iam" and "UserName" not in params and call.caller.user_name:
            # Operations on "the calling user" (GetUser, CreateAccessKey, ... without a
            # UserName) are authorized on that user's ARN.
            subject = {**params, "UserName": call.caller.user_name}
        if service == "s3":
            auths = resolve_s3(operation, params)
        else:
            found = resolve(service, operation, subject, account=call.caller.account,
                            region=call.region,
                            path_of=lambda kind, name: self._path(call, kind, name))
            auths = [found] if found is not None else []
        denied_keys: list[dict[str, str]] = []
        for auth in auths:
            if auth.action in SELF_AUTHORIZING:
                continue
            if service == "s3" and operation == "DeleteObjects":
                # A key the caller may not delete is reported in Errors; the others are
                # deleted (S3 API reference, DeleteObjects).
                try:
                    self._authorize(call, service, provider, operation, params, auth, protocol)
                except AWSError as e:
                    if e.code != "AccessDenied":
                        raise
                    key = auth.resource.split("/", 1)[1] if "/" in auth.resource else ""
                    denied_keys.append({"Key": key, "Code": "AccessDenied",
                                        "Message": "Access Denied"})
                continue
            self._authorize(call, service, provider, operation, params, auth, protocol)
        if denied_keys:
            refused = {d["Key"] for d in denied_keys}
            delete = dict(params.get("Delete") or {})
            delete["Objects"] = [o for o in delete.get("Objects") or []
                                 if str(o.get("Key", "")) not in refused]
            params = {**params, "Delete": delete}
            if not delete["Objects"]:
                return {"Errors": denied_keys}
            partial: dict[str, Any] = handler(call, params) if handler else {}
            partial["Errors"] = [*partial.get("Errors", []), *denied_keys]
            return partial
        if service == "s3" and "kms" in self.providers:
            self._s3_kms(call, operation, params)
        if handler is None:
            raise AWSError("NotImplemented" if protocol != "query" else "InvalidAction",
                           f"The operation {operation} is not implemented by execrole yet.",
                           501 if protocol != "query" else 400)
        result: dict[str, Any] = handler(call, params)
        return result

    def _authorize(self, call: Call, service: str, provider: Any, operation: str,
                   params: dict[str, Any], auth: Authorization, protocol: str) -> None:
        context = dict(auth.context)
        context.update(self._resource_tags(call, auth.resource_kind, params))
        resource_policy = None
        resource_account = call.caller.account if service == "iam" else None
        side_of = getattr(provider, "authorization", None)
        side = side_of(call, operation, params, auth.action, auth.resource) if side_of else None
        resource = auth.resource
        if side is not None:
            resource_policy = side.policy
            resource_account = side.account or resource_account
            context.update(side.context or {})
            resource = side.resource or resource
        self.access.require(call, auth.action, resource, context,
                            resource_policy=resource_policy, resource_account=resource_account,
                            error_code=ACCESS_DENIED.get(protocol, "AccessDenied"))

    def _s3_kms(self, call: Call, operation: str, params: dict[str, Any]) -> None:
        """SSE-KMS: S3 uses the caller's KMS permissions — kms:GenerateDataKey to write an
        encrypted object, kms:Decrypt to read one — with kms:ViaService naming S3 (S3 User
        Guide, "Using server-side encryption with AWS KMS keys"; KMS condition keys)."""
        from ..services.s3.core import kms_key_arn

        s3 = self.providers["s3"]
        if operation in ("PutObject", "CreateMultipartUpload", "CopyObject"):
            if params.get("ServerSideEncryption") != "aws:kms":
                return
            action, key = "kms:GenerateDataKey", params.get("SSEKMSKeyId")
        elif operation in ("GetObject", "HeadObject"):
            row = s3._object_row(str(params.get("Bucket", "")), str(params.get("Key", "")))
            attrs = json.loads(row["attrs"]) if row is not None else {}
            if attrs.get("ServerSideEncryption") != "aws:kms":
                return
            action, key = "kms:Decrypt", attrs.get("SSEKMSKeyId")
        else:
            return
        key_arn = kms_key_arn(key, call.caller.account, call.region)
        managed_account = key_arn.split(":")[4]
        if key_arn == kms_key_arn(None, managed_account, call.region):
            # The AWS managed key aws/s3: its key policy lets every principal of its account
            # use it through S3, and no one else (KMS developer guide, "AWS managed keys").
            if managed_account != call.caller.account:
                raise AWSError("AccessDenied", "Access Denied", 403)
            return
        kms = self.providers["kms"]
        try:
            # The key's policy and account, as KMS would use them for a call naming KeyId.
            side = kms.authorization(call, "GenerateDataKey", {"KeyId": key_arn}, action,
                                     key_arn)
        except AWSError as e:
            if e.code != "NotFoundException":
                raise
            if not key:
                return  # the account's AWS managed key aws/s3: its policy lets S3 use it
            raise AWSError("KMS.NotFoundException", f"Invalid keyId {key}", 400) from None
        context = dict((side.context if side else None) or {})
        context["kms:ViaService"] = f"s3.{call.region}.amazonaws.com"
        context["kms:CallerAccount"] = call.caller.account
        self.access.require(call, action, (side.resource if side else None) or key_arn,
                            context, resource_policy=side.policy if side else None,
                            resource_account=side.account if side else None,
                            error_code="AccessDenied")

    def _path(self, call: Call, kind: str, name: str) -> str | None:
        entity = self.db.get_entity(call.caller.account, kind, name)
        return None if entity is None else str(entity.get("Path", "/"))

    def _resource_tags(self, call: Call, kind: str | None,
                       params: dict[str, Any]) -> dict[str, str]:
        """aws:ResourceTag/<key> for IAM users and roles the request names."""
        name_param = {"role": "RoleName", "user": "UserName"}.get(kind or "")
        if not name_param or not params.get(name_param):
            return {}
        entity = self.db.get_entity(call.caller.account, kind or "", params[name_param])
        tags = (entity or {}).get("Tags") or []
        return {f"aws:ResourceTag/{t['Key']}": t["Value"] for t in tags} | \
            {f"iam:ResourceTag/{t['Key']}": t["Value"] for t in tags}

    def _error(self, model: Any, code: str, message: str, status: int, request_id: str,
               sender: bool) -> tuple[int, list[tuple[str, str]], bytes]:
        if model is None:
            model = protocols.service_model("sts")
        return protocols.serialize_error(model, code, message, status, request_id, sender)


# Signing name in the credential scope -> service model name.
SIGNING_NAMES = {"iam": "iam", "sts": "sts", "s3": "s3", "logs": "logs", "ecr": "ecr",
                 "kms": "kms", "ec2": "ec2", "sagemaker": "sagemaker",
                 "monitoring": "cloudwatch"}


def _service_for_signing_name(name: str) -> str:
    service = SIGNING_NAMES.get(name)
    if service is None:
        raise AWSError("UnknownService", f"execrole does not serve the {name} service.", 400)
    return service


def _guess_service(req: HttpRequest) -> str:
    """For unsigned requests: the JSON target prefix, the query Action's service, else S3
    (the one service that serves anonymous requests)."""
    target = req.headers.get("x-amz-target", "")
    if target:
        prefix = target.split(".", 1)[0]
        for name in PROVIDERS:
            if protocols.service_model(name).metadata.get("targetPrefix") == prefix:
                return name
    form = parse_qs(req.body.decode("latin-1", "replace") + "&" + req.raw_query)
    action = (form.get("Action") or [""])[0]
    if not action and not target:
        return "s3"
    for name in ("sts", "ec2"):
        if action in protocols.service_model(name).operation_names:
            return name
    return "iam"


async def _send(send: Send, status: int, headers: list[tuple[str, str]], body: Any) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]})
    if isinstance(body, (bytes, bytearray)):
        await send({"type": "http.response.body", "body": bytes(body)})
        return
    for chunk in body:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _without_chunking(headers: dict[str, str]) -> dict[str, str]:
    """The headers of an upload whose aws-chunked body was already decoded into the blob
    store: the parser must not decode it again. A real Content-Encoding (gzip) is kept."""
    out = {k: v for k, v in headers.items() if k != "x-amz-content-sha256"}
    encodings = [e.strip() for e in headers.get("content-encoding", "").split(",")
                 if e.strip() and e.strip().lower() != "aws-chunked"]
    if encodings:
        out["content-encoding"] = ", ".join(encodings)
    else:
        out.pop("content-encoding", None)
    return out
