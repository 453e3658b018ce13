"""The SageMaker control plane in-process against hypothesis-made requests: any JSON body
for any served operation gets an AWS error or an answer, never a 500 or a traceback, and what
is stored survives (the standards' "Bad input gets AWS's error").

Bodies are drawn from botocore's sagemaker model: the operation's top-level members with
values that are arbitrary JSON, or members of the right shape with a random member mutated."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execrole.services.credentials import create_account
from execrole.store import Database
from execrole.wire.app import EndpointApp, HttpRequest

MODEL = botocore.session.get_session().get_service_model("sagemaker")
SERVED = sorted(op for op in MODEL.operation_names
                if op.startswith(("Create", "Describe", "List", "Stop", "Delete", "Update",
                                  "Start", "AddTags"))
                and any(op.endswith(kind) for kind in (
                    "TrainingJob", "TrainingJobs", "ProcessingJob", "ProcessingJobs",
                    "HyperParameterTuningJob", "HyperParameterTuningJobs", "Model", "Models",
                    "NotebookInstance", "NotebookInstances", "Domain", "Domains",
                    "UserProfile", "UserProfiles", "Image", "Images", "ImageVersion",
                    "ImageVersions", "AutoMLJob", "AutoMLJobV2", "AutoMLJobs", "Tags")))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                    max_leaves=8)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> tuple[EndpointApp, str, str]:
    db = Database(Path(tmp_path_factory.mktemp("db")) / "execrole.db")
    key, secret = create_account(db, "111122223333")
    return EndpointApp(db), key, secret


def _signed(key: str, secret: str, operation: str, body: bytes) -> HttpRequest:
    request = AWSRequest(method="POST", url="http://127.0.0.1/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"SageMaker.{operation}"})
    SigV4Auth(Credentials(key, secret), "sagemaker", "us-east-1").add_auth(request)
    sent = {k.lower(): v for k, v in request.headers.items()}
    sent["host"] = "127.0.0.1"
    return HttpRequest("POST", "/", "/", "", sent, body, "127.0.0.1", False)


@st.composite
def requests(draw: Any) -> tuple[str, bytes]:
    operation = draw(st.sampled_from([op for op in SERVED if op not in NOT_SERVED]))
    members = list(MODEL.operation_model(operation).input_shape.members)
    body = draw(st.dictionaries(st.sampled_from(members) if members else st.text(max_size=5),
                                JSON, max_size=6))
    raw = draw(st.sampled_from(["json", "bytes"]))
    if raw == "bytes":
        return operation, draw(st.binary(max_size=200))
    return operation, json.dumps(body).encode()


# Not served (UnknownOperationException): a warm pool's or Debugger's settings, an image
# version's aliases and guidance.
NOT_SERVED = ["UpdateImageVersion", "UpdateTrainingJob"]


def test_the_fuzzed_operations_are_served(app: Any) -> None:
    endpoint = app[0]
    missing = [op for op in SERVED if not hasattr(endpoint.providers["sagemaker"], op)]
    assert missing == NOT_SERVED


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_any_body_gets_an_aws_answer(app: Any, request: tuple[str, bytes]) -> None:
    endpoint, key, secret = app
    operation, body = request
    status, _, out = endpoint.handle(_signed(key, secret, operation, body))
    assert status < 500, (operation, body, out)
    assert b"Traceback" not in out
    if status >= 400:
        assert json.loads(out)["__type"], out


def test_stored_resources_survive_the_fuzzing(app: Any) -> None:
    """A model made before more garbage is still described the same afterwards."""
    endpoint, key, secret = app
    endpoint.providers["sagemaker"].checks.run = lambda *a, **k: None  # no role in this store
    body = json.dumps({"ModelName": "kept", "ExecutionRoleArn":
                       "arn:aws:iam::111122223333:role/R", "PrimaryContainer": {
                           "Image": "111122223333.dkr.ecr.us-east-1.amazonaws.com/x:1"}})
    status, _, out = endpoint.handle(_signed(key, secret, "CreateModel", body.encode()))
    assert status == 200, out
    for garbage in (b"{", b"[]", b'{"ModelName": 5}', b'{"ModelName": "kept"}'):
        endpoint.handle(_signed(key, secret, "CreateModel", garbage))
        endpoint.handle(_signed(key, secret, "DeleteModel", garbage[:3]))
    status, _, out = endpoint.handle(_signed(key, secret, "DescribeModel",
                                             b'{"ModelName": "kept"}'))
    assert status == 200 and json.loads(out)["ModelName"] == "kept"
